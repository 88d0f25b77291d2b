"""The Rajagopal numbers have one source: skeleton/_rajagopal_data.py, which
tools/gen_rajagopal_data.py regenerates from ../shared/data/opensim/Rajagopal2016.osim, and
whose joint functions odahgen.skeleton.rajagopal evaluates as OpenSim does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from odahgen.skeleton import rajagopal as RJ

ROOT = Path(__file__).resolve().parents[1]
RAJ = ROOT / ".." / "shared" / "data" / "opensim" / "Rajagopal2016.osim"
TOOL = ROOT / "tools" / "gen_rajagopal_data.py"
COMMITTED = ROOT / "odahgen" / "skeleton" / "_rajagopal_data.py"


@pytest.mark.skipif(not RAJ.exists(), reason="../shared/data/opensim/Rajagopal2016.osim (the generator's input) "
                                               "is absent on this machine")
def test_generator_reproduces_committed_data(tmp_path):
    out = tmp_path / "_rajagopal_data.py"
    r = subprocess.run([sys.executable, str(TOOL), "--osim", str(RAJ), "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8"), (
        "skeleton/_rajagopal_data.py differs from what tools/gen_rajagopal_data.py makes of "
        "Rajagopal2016.osim: re-run the tool (or fix it) instead of editing the file")


def test_generator_refuses_a_missing_model(tmp_path):
    r = subprocess.run([sys.executable, str(TOOL), "--osim", str(tmp_path / "none.osim"), "-o",
                        str(tmp_path / "x.py")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "none.osim" in r.stderr and not (tmp_path / "x.py").exists()


def test_simm_spline_matches_opensim():
    osim = pytest.importorskip("opensim")
    splines = [ta["function"] for j in RJ.JOINTS for ta in (j["spatial_transform"] or [])
               if ta["function"][0] == "spline"]
    assert len(splines) == 14  # walker knee: 2 rotations + 2 translations, patella: 3, per side
    x = np.concatenate([np.linspace(-0.5, 2.6, 301), splines[0][1]])  # knots and beyond the ends
    v = osim.Vector(1, 0.0)
    for _, xs, ys in splines:
        sp = osim.SimmSpline()
        for a, b in zip(xs, ys):
            sp.addPoint(a, b)
        ref = []
        for xi in x:
            v.set(0, float(xi))
            ref.append(sp.calcValue(v))
        np.testing.assert_allclose(RJ.simm_spline(xs, ys)(x), ref, rtol=0, atol=1e-14)


def test_joint_transform_matches_the_built_model(tmp_path):
    pytest.importorskip("opensim")
    from odahgen.skeleton.model import build_default_model, load_model

    model = load_model(build_default_model(tmp_path / "builtin.osim"))
    s = model.initSystem()
    bodies = model.getBodySet()
    angles = np.array([0.0, 0.3, 0.9, 1.4, 2.0])
    for joint, parent, child, coord in (("walker_knee_r", "femur_r", "tibia_r", "knee_angle_r"),
                                        ("walker_knee_l", "femur_l", "tibia_l", "knee_angle_l"),
                                        ("patellofemoral_r", "femur_r", "patella_r", "knee_angle_r_beta")):
        R, p = RJ.joint_transform(joint, {coord: angles})
        for i, a in enumerate(angles):
            for c in ("knee_angle_r", "knee_angle_l", "knee_angle_r_beta", "knee_angle_l_beta"):
                model.getCoordinateSet().get(c).setValue(s, float(a), False)
            model.realizePosition(s)
            X = bodies.get(child).findTransformBetween(s, bodies.get(parent))  # child in parent
            Ro = np.array([[X.R().get(r, k) for k in range(3)] for r in range(3)])
            po = np.array([X.p().get(k) for k in range(3)])
            np.testing.assert_allclose(R[i], Ro, atol=1e-12, err_msg=f"{joint} at {a}")
            np.testing.assert_allclose(p[i], po, atol=1e-12, err_msg=f"{joint} at {a}")


def test_motion_kinematics_take_the_skeleton_numbers():
    """odahgen.motion.kinematics re-types nothing: its ranges, offsets and mass are the data's."""
    from odahgen.motion import kinematics as K

    assert K.COORDINATE_RANGES["hip_flexion_l"] == RJ.COORDINATE["hip_flexion_l"]["range"]
    assert K.COORDINATE_RANGES["knee_angle_r_beta"] == RJ.COORDINATE["knee_angle_r"]["range"]
    assert K.ANKLE["l"] == (RJ.JOINT["ankle_l"]["parent_translation"], RJ.JOINT["ankle_l"]["parent_orientation"])
    assert K.JOINT_AXES["hip_l"][1] == ("hip_adduction_l", (-1.0, 0.0, 0.0))
    assert K.MODEL_MASS_KG == 75.337 and K.DEFAULT_PELVIS_HEIGHT == 0.94
    R, p = RJ.joint_transform("walker_knee_r", {"knee_angle_r": K.KNEE_TABLE[:, 0]})
    np.testing.assert_allclose(K.KNEE_TABLE[:, 1:4], p, atol=5e-7)
    Rk, pk = K.knee_transform("r", K.KNEE_TABLE[:, 0])
    np.testing.assert_allclose(Rk, R, atol=2e-6)
