"""Body models (anny default, smplx), virtual markers, the learned joint regressor, fitting.

Public API: :func:`odahgen.body.base.load_body_model` / :class:`~odahgen.body.base.BodyModel`,
:mod:`odahgen.body.markers` (``load_layout``, ``markers_from_vertices``, ``build_layout``,
``render_layout``), :mod:`odahgen.body.regressor` (``load_regressor``, ``fit_regressor``,
``train``), :func:`odahgen.body.fit.fit_sequence`, :mod:`odahgen.body.variants`.
See docs/body.md.
"""
