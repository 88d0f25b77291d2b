"""Body models (anny default, smplx), virtual markers, the learned joint regressor, fitting.

The front other packages import from (see docs/body.md):

- :func:`load_body_model` (kept per process: the same arguments return the same, shared,
  read-only model; :func:`clear_body_model_cache`), :class:`BodyModel`,
  :func:`resolve_smplx_file`;
- marker layouts: :func:`load_layout`, :func:`layout_path`, :func:`marker_points`,
  :func:`markers_from_vertices` (``(T, V, 3)`` m -> ``(T, M, 3)`` m), :func:`rigid_marker_bones`
  (the bone each bony landmark moves rigidly with), :func:`build_layout`,
  :func:`refine_layout`, :func:`render_layout`;
- the joint regressor: :class:`Regressor`, :func:`load_regressor`, :func:`regressor_path`,
  :func:`train_regressor`;
- fitting: :func:`fit_sequence`, :class:`FitOptions`, :class:`FitResult`;
- subjects: :func:`subject_shape`, :func:`subject_shape_base`, :func:`variant_shape`,
  :func:`body_stats`; :func:`static_trial` (a subject's rest-pose markers, to scale a skeleton).

Modules, each importing only those listed before it (and errors, io, config, skeleton):
``base`` (the BodyModel interface, LBS), ``anny_model`` / ``smplx_model`` (the two models),
``models`` (the factory and its cache), ``sampling`` (random poses and shapes), ``sparse``
(non-negative vertex combinations), ``markers`` (layouts), ``regressor`` (the joint
regressor), ``fit`` (fitting a sequence), ``training`` (training the regressor), ``variants``
(subjects and BMI variants), ``static`` (static trials).
"""

from odahgen.body.base import BodyModel
from odahgen.body.fit import FitOptions, FitResult, fit_sequence
from odahgen.body.markers import (
    build_layout,
    layout_path,
    load_layout,
    marker_points,
    markers_from_vertices,
    refine_layout,
    render_layout,
    rigid_marker_bones,
)
from odahgen.body.models import clear_body_model_cache, load_body_model
from odahgen.body.regressor import Regressor, load_regressor, regressor_path
from odahgen.body.smplx_model import resolve_smplx_file
from odahgen.body.static import static_trial
from odahgen.body.training import train_regressor
from odahgen.body.variants import body_stats, subject_shape, subject_shape_base, variant_shape

__all__ = [
    "BodyModel", "FitOptions", "FitResult", "Regressor", "body_stats", "build_layout",
    "clear_body_model_cache", "fit_sequence", "layout_path", "load_body_model", "load_layout",
    "load_regressor", "marker_points", "markers_from_vertices", "refine_layout", "regressor_path",
    "render_layout", "resolve_smplx_file", "rigid_marker_bones", "static_trial", "subject_shape", "subject_shape_base",
    "train_regressor", "variant_shape",
]
