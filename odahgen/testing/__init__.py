"""Test fixtures: generated stand-ins for real data, for tests, benchmarks and docs examples.

Nothing in the runtime package (the stages, jobs, the CLI) imports this package; it sits on
top of the layers and may import any of them.

- :mod:`odahgen.testing.gt`: small self-consistent synthetic trials and datasets (stick-figure
  keypoints, exact projections, tiny MP4s) that the validator passes.
- :mod:`odahgen.testing.body`: a generated SMPL-X-structured model file
  (:func:`~odahgen.testing.body.write_synthetic_smplx`) standing in for the licensed files.
- :mod:`odahgen.testing.scene`: a posed anny sequence straight from the ``anny`` package
  (:func:`~odahgen.testing.scene.demo_sequence`), no fitting.

Import the submodule you need; this front imports nothing heavy.
"""
