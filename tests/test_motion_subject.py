"""Procedural motions on subject-scaled skeletons: the pelvis is placed again from the
subject's own feet (odahgen.motion.placement.replant, called by the skeleton stage), so FK of
the scaled model keeps the planted feet fixed with the thresholds of
tests/test_motion.py::test_procedural_feet_planted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from odahgen.motion import kinematics as K
from odahgen.motion.footslip import point_slip
from odahgen.motion.placement import replant
from odahgen.motion.procedural import MOTIONS, generate
from odahgen.skeleton.names import BODY_NAMES, COORDINATE_NAMES

#: segment -> scale factors (x, y, z): clearly non-uniform between segments and axes
#: (short thigh, long shank, wide pelvis, long narrow foot), left = right
SCALES = {"pelvis": (1.0, 0.95, 1.1), "femur": (0.95, 0.9, 0.95), "patella": (0.95, 0.9, 0.95),
          "tibia": (1.05, 1.1, 1.0), "talus": (1.05, 1.1, 1.0), "calcn": (1.1, 0.95, 1.05),
          "toes": (1.1, 0.95, 1.05)}


def _fk_soles(tree, geom, coords):
    """(T, 6, 3) heel/ball/toe points of both feet from the FK of the scaled model."""
    from odahgen.skeleton.fk import fk_tree

    X = fk_tree(tree, coords).body_transforms
    pts = []
    for s in "rl":
        for body, off in geom.contacts[s]:
            Xb = X[:, BODY_NAMES.index(f"{body}_{s}")]
            pts.append(Xb[:, :3, 3] + Xb[:, :3, :3] @ off)
    return np.stack(pts, axis=1)


def _check_planted(pts, fps, flight, what):
    r = point_slip(pts, fps, near=0.01, contact=0.005)
    assert r["near_floor_speed_p95"] < 0.05, (what, r)
    assert r["contact_drift_max"] < 0.01, (what, r)
    assert r["min_height"] > -0.004, (what, r)
    if not flight:  # always at least one foot on the floor
        assert pts[:, :, 1].min(axis=1).max() < 0.005, what
    return r


@pytest.fixture(scope="module")
def scaled_model(tmp_path_factory):
    from odahgen.skeleton.fk import load_tree, segment_scales
    from odahgen.skeleton.scale import ScaleResult, write_scaled_model

    gen = load_tree("builtin")
    s = np.ones((len(gen.body_names), 3))
    for b, n in enumerate(gen.body_names):
        s[b] = SCALES.get(n[:-2] if n.endswith(("_r", "_l")) else n, (1.0, 1.0, 1.0))
    res = ScaleResult(s, gen.marker_loc * s[gen.marker_body], np.arange(1), 70.0, 1.7, 0.0)
    path = write_scaled_model("builtin", tmp_path_factory.mktemp("model") / "subject.osim", gen, res)
    return load_tree(path), segment_scales(path)


def test_leg_geometry_matches_scaled_model_fk(scaled_model):
    """The motion kinematics scaled by segment_scales put the sole points where FK of the
    OpenSim-scaled model does (within 1.5 mm; the generic geometry is off by centimetres)."""
    tree, scales = scaled_model
    m = generate("jog", seed=1, seconds=1.0)
    geom = K.leg_geometry(scales)
    ref = _fk_soles(tree, geom, m.coordinates)
    q = K.coordinates_dict(m.coordinates)
    for geo, lo, hi in ((geom, 0.0, 0.0015), (K.GENERIC, 0.02, 1.0)):
        mine = np.concatenate([K.foot_points(q, "r", geom=geo), K.foot_points(q, "l", geom=geo)], axis=1)
        err = np.abs(mine + m.coordinates[:, None, 3:6] - ref).max()
        assert lo <= err < hi, err


@pytest.mark.parametrize("mid", ["walk_normal", "run", "squat", "side_step"])
def test_replant_keeps_scaled_feet_planted(scaled_model, mid):
    tree, scales = scaled_model
    m = generate(mid, seed=3, seconds=3.0)
    flight = mid == "run"
    # what the pipeline did before: the generic pelvis path times the mean leg scale skates
    leg = float(np.mean(scales[[BODY_NAMES.index(b) for b in ("femur_r", "tibia_r", "femur_l", "tibia_l")], 1]))
    old = m.coordinates.copy()
    old[:, 3:6] *= leg
    with pytest.raises(AssertionError):
        _check_planted(_fk_soles(tree, K.leg_geometry(scales), old), m.fps, flight, mid)
    new = replant(m.coordinates, m.fps, m.contact, m.meta["contact_mode"], m.meta["flight_velocity"], scales)
    _check_planted(_fk_soles(tree, K.leg_geometry(scales), new), m.fps, flight, mid)
    # only the pelvis translation and small leg corrections change; the rest is the motion's
    legs = [i for i, n in enumerate(COORDINATE_NAMES) if n.startswith(("hip_", "knee_", "ankle_"))]
    rest = [i for i in range(len(COORDINATE_NAMES)) if i not in legs and i not in (3, 4, 5)]
    np.testing.assert_allclose(new[:, rest], m.coordinates[:, rest], atol=1e-9)
    assert np.degrees(np.percentile(np.abs(new[:, legs] - m.coordinates[:, legs]), 90)) < 8.0


@pytest.mark.parametrize("mid", sorted(MOTIONS))
def test_replant_reproduces_generator(mid):
    """replant on the generic model (scales None) with the motion's own placement options
    (meta["placement"]: jog's bounce, run's swing clearance, ...) gives back the generator's
    result: pelvis translation within 1 mm, every angle within 0.6 deg (measured, seed 0, 2 s:
    <= 0.63 mm (turn_walk), <= 0.56 deg (run, jump_vertical 0.55))."""
    m = generate(mid, seed=0, seconds=2.0)
    new = replant(m.coordinates, m.fps, m.contact, m.meta["contact_mode"], m.meta["flight_velocity"], None,
                  m.meta.get("placement"))
    assert np.abs(new[:, 3:6] - m.coordinates[:, 3:6]).max() < 1e-3, mid
    rot = [i for i in range(len(COORDINATE_NAMES)) if i not in (3, 4, 5)]
    assert np.degrees(np.abs(new[:, rot] - m.coordinates[:, rot]).max()) < 0.6, mid


@pytest.mark.parametrize("mid", ["jog", "run"])
def test_replant_keeps_jog_bounce_on_subject(scaled_model, mid):
    """The jog's and run's velocity-continuous vertical pelvis path (bounce) survives replant
    on the non-uniformly scaled subject (the bound of
    tests/test_motion.py::test_jog_pelvis_vertical_velocity_continuous), feet still planted."""
    tree, scales = scaled_model
    for seed in (0, 3):
        m = generate(mid, seed=seed, seconds=3.0)
        assert m.meta["placement"]["bounce"] is True
        new = replant(m.coordinates, m.fps, m.contact, m.meta["contact_mode"], m.meta["flight_velocity"], scales,
                      m.meta["placement"])
        dv = np.abs(np.diff(new[:, K.CI["pelvis_ty"]], 2)) * m.fps
        assert dv.max() < 0.5, (seed, float(dv.max()))
        _check_planted(_fk_soles(tree, K.leg_geometry(scales), new), m.fps, True, (mid, seed))
        # without the placement (a motion.npz written before it was carried) the old path:
        # planted too, but the vertical velocity jumps at touch-down and take-off
        old = replant(m.coordinates, m.fps, m.contact, m.meta["contact_mode"], m.meta["flight_velocity"], scales)
        _check_planted(_fk_soles(tree, K.leg_geometry(scales), old), m.fps, True, (mid, "old", seed))


def test_skeleton_stage_plants_feet_of_the_subject(tmp_path):
    """The pipeline (motion -> skeleton stages, demo subject from the anny body) writes angles
    whose FK on the trial's scaled.osim keeps the planted feet fixed."""
    from odahgen.config import load_config
    from odahgen.jobs.graph import run_trial
    from odahgen.jobs.pipeline import pipeline_stages
    from odahgen.jobs.plan import expand, plan
    from odahgen.skeleton.fk import load_tree, segment_scales

    cfg = load_config("demo", ["dataset.subjects=1", "motion.clip_seconds=1.5"])
    ds = tmp_path / "ds"
    specs = plan(cfg, ds, specs=expand(cfg, ["walk_normal", "jog"]))
    for spec in specs:
        out = run_trial(ds, spec, cfg, pipeline_stages(cfg), only={"motion", "skeleton"})
        assert out.ran == ["motion", "skeleton"], out
        trial = ds / "trials" / spec.trial
        motion = np.load(trial / "motion.npz")
        assert motion["contact"].shape == (len(motion["times"]), 2)
        placement = json.loads(str(motion["placement"]))  # the generator's placement options
        assert placement["bounce"] is (spec.motion == "jog"), placement
        scales = segment_scales(trial / "scaled.osim")
        femur, tibia = scales[BODY_NAMES.index("femur_r"), 1], scales[BODY_NAMES.index("tibia_r"), 1]
        assert abs(femur / tibia - 1.0) > 0.05, scales  # the subject's segments scale differently
        angles = np.load(trial / "skeleton.npz")["angles"]
        pts = _fk_soles(load_tree(trial / "scaled.osim"), K.leg_geometry(scales), angles)
        _check_planted(pts, float(motion["fps"]), spec.motion == "jog", spec.trial)
        if spec.motion == "jog":  # the bounce is kept on the subject
            dv = np.abs(np.diff(angles[:, K.CI["pelvis_ty"]], 2)) * float(motion["fps"])
            assert dv.max() < 0.5, float(dv.max())
