"""AMASS -> body mesh -> virtual markers -> OpenSim scaling + IK keeps the joint angles.

AMASS-format files are written by the test from known Rajagopal coordinates (procedural
motions, exact rotation round trip); the markers come from anny (default, no licensed files)
or from SMPL-X (a generated SMPL-X-structured model file); IK must give back the angles.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from odahgen.motion import get_source
from odahgen.motion import kinematics as K
from odahgen.motion import retarget as RT
from odahgen.motion.amass import write_amass
from odahgen.motion.procedural import generate


def _ik_on_body(body, shape, m):
    """Scale the built-in skeleton to ``body``'s rest-pose markers, then IK of motion ``m``."""
    from odahgen.body.markers import load_layout, markers_from_vertices
    from odahgen.io.mocap import MarkerData
    from odahgen.skeleton.fk import load_tree
    from odahgen.skeleton.ik import run_ik_tree
    from odahgen.skeleton.scale import scale_subject

    names = list(m.marker_names)
    with torch.no_grad():
        rest = body.forward(shape, torch.zeros(1, body.pose_dim), torch.zeros(1, 3))[0].numpy()
    st = markers_from_vertices(rest[None], load_layout(body), names).astype(np.float64)
    static = MarkerData(names=names, positions=np.repeat(st, 10, 0), fps=60.0, times=np.arange(10) / 60.0)
    tree, _ = scale_subject(load_tree("builtin"), static, source="test body", measurements=False)
    return run_ik_tree(tree, MarkerData(names=names, positions=m.markers, fps=m.fps, times=m.times),
                       register=False, workers=1)


def _errors_deg(ik, truth, names):
    return {n: np.degrees(np.abs(ik.angles[:, K.CI[n]] - truth[:, K.CI[n]])) for n in names}


LEG = ("hip_flexion_r", "hip_flexion_l", "knee_angle_r", "knee_angle_l")


def test_amass_markers_anny_ik_preserves_angles(tmp_path):
    from odahgen.body import load_body_model

    truth = generate("walk_normal", seed=1, seconds=2.0, fps=30.0).coordinates
    poses, trans = RT.coordinates_to_smpl(truth, 52)  # SMPL-H layout
    write_amass(tmp_path / "walk.npz", poses, trans, fps=30.0, gender="male")
    m = get_source("amass", path=tmp_path).load("walk")  # default: markers on anny
    assert m.kind == "markers" and m.meta["body_model"] == "anny" and m.markers.shape[:2] == (61, 76)
    feet = [i for i, n in enumerate(m.marker_names) if n in ("RCAL", "LCAL", "RTOE", "LTOE")]
    assert len(feet) == 4 and 0.0 < m.markers[:, feet, 1].min() < 0.06  # grounded
    body = load_body_model("anny")
    shape = body.default_shape().clone()
    shape[0] = 1.0  # male, as anny_pose_from_smpl sets it
    ik = _ik_on_body(body, shape[None], m)
    assert float(np.sqrt(np.mean(ik.marker_rms ** 2))) < 0.02
    err = _errors_deg(ik, truth, LEG + ("ankle_angle_r", "ankle_angle_l", "elbow_flex_r", "arm_flex_r"))
    for n, e in err.items():  # measured: hip <= 4.0, knee <= 2.1, ankle <= 2.3, arm <= 2.3 deg
        assert e.max() < 6.0 and np.sqrt(np.mean(e ** 2)) < 4.0, (n, e.max())
    # the motion is there, not a constant pose: knee excursion ~70 deg recovered
    k = ik.angles[:, K.CI["knee_angle_r"]]
    assert np.degrees(np.ptp(k)) > 60


@pytest.mark.slow
def test_amass_markers_smplx_model_file(tmp_path):
    from odahgen.body import load_body_model
    from odahgen.testing.body import write_synthetic_smplx

    write_synthetic_smplx(str(tmp_path / "models"), "female")
    truth = generate("squat", seed=1, seconds=2.0, fps=30.0).coordinates
    poses, trans = RT.coordinates_to_smpl(truth, 55)  # SMPL-X layout
    write_amass(tmp_path / "squat.npz", poses, trans, fps=30.0, gender="female", layout="smplx")
    m = get_source("amass", path=tmp_path / "squat.npz", model_dir=tmp_path / "models").load("squat")
    assert m.meta["body_model"] == "smplx" and m.kind == "markers"
    body = load_body_model("smplx", model_dir=str(tmp_path / "models"), gender="female")
    ik = _ik_on_body(body, body.default_shape()[None], m)
    # The generated stand-in is not SMPL-X's T-pose (its arms hang down, its knees are bent
    # ~4 deg at rest), so only the lower limbs are compared, with a rest-pose allowance.
    for n, e in _errors_deg(ik, truth, LEG).items():  # measured: max 7.5 deg (hip), 6.1 (knee)
        assert e.max() < 9.0, (n, e.max())
    assert np.degrees(np.ptp(ik.angles[:, K.CI["knee_angle_r"]])) > 55


@pytest.mark.parametrize("body_name", ["anny", "smplx"])
def test_amass_markers_fast_points_equal_full_mesh(tmp_path, body_name):
    """The default fast route (only the marker and sole points, float64 chunks, straight from
    the rotation matrices) gives the markers of the fully posed mesh within 1e-5 m."""
    from odahgen.motion import body_markers as BM
    from odahgen.motion.amass import read_amass

    model_dir = None
    if body_name == "smplx":
        from odahgen.testing.body import write_synthetic_smplx

        model_dir = str(tmp_path / "models")
        write_synthetic_smplx(model_dir, "male")
    truth = generate("jog", seed=3, seconds=1.5, fps=40.0).coordinates
    poses, trans = RT.coordinates_to_smpl(truth, 52 if body_name == "anny" else 55)
    rng = np.random.default_rng(0)
    poses[:, 3:66] += rng.normal(0.0, 0.15, (len(poses), 63))  # every joint, away from the procedural pattern
    layout = "smplh" if body_name == "anny" else "smplx"
    d = read_amass(write_amass(tmp_path / "m.npz", poses, trans, fps=40.0, gender="male", layout=layout))
    chunk = BM.CHUNK
    try:
        BM.CHUNK = 16  # several chunks, the last one partial
        n_fast, fast, info_fast = BM.amass_markers(d, body_name, model_dir)
    finally:
        BM.CHUNK = chunk
    n_mesh, mesh, info_mesh = BM.amass_markers(d, body_name, model_dir, method="mesh")
    assert n_fast == n_mesh and fast.shape == mesh.shape == (len(poses), len(n_fast), 3)
    assert np.abs(fast - mesh).max() < 1e-5
    assert abs(info_fast["ground_shift_m"] - info_mesh["ground_shift_m"]) < 1e-5
    assert np.ptp(fast[:, :, 1], axis=0).max() > 0.05  # it moves


def test_bony_landmarks_ride_their_bone_through_a_deep_squat(tmp_path):
    """Bony landmarks move rigidly with one bone of their own segment: through a deep squat
    (hip flexion ~90 deg, knees ~125 deg) the distances between the pelvis landmarks and
    between the femoral epicondyles and the hip/knee landmarks of the thigh stay those of the
    rest pose (skinned, anny's ASIS vertex slid 2-3 cm); the hip, knee and ankle centres ride
    the bone above their joint (skinned, the hip-to-knee distance changed 2.4 cm); torso
    landmarks, clusters and the arm's joint centres stay skinned."""
    from odahgen.body import load_body_model, load_layout, rigid_marker_bones
    from odahgen.motion import body_markers as BM
    from odahgen.motion.amass import read_amass
    from odahgen.testing import amass as GA

    body = load_body_model("anny")
    layout = load_layout(body)
    names = list(layout["markers"])
    rigid = dict(zip(names, rigid_marker_bones(body, layout, names), strict=True))
    bone = {n: body.bone_names[b] if b >= 0 else None for n, b in rigid.items()}
    assert bone["RASI"] in body.segment_bones["pelvis"] and bone["LPSI"] in body.segment_bones["pelvis"]
    assert bone["RLEL"] in body.segment_bones["humerus_r"] and bone["RLMAL"] in body.segment_bones["tibia_r"]
    assert bone["RACR"] is None and bone["STRN"] is None  # torso landmarks stay skinned
    assert bone["RTH1"] is None and bone["REJC"] is None  # a cluster, an arm joint centre
    assert bone["RHJC"] in body.segment_bones["pelvis"] and bone["RKJC"] in body.segment_bones["femur_r"]
    assert bone["RAJC"] in body.segment_bones["tibia_r"]

    d = read_amass(GA.write_action(tmp_path / "squat.npz", "deep_squat", "smplh", seconds=3.0))
    mk_names, mk, _ = BM.amass_markers(d, "anny")
    ix = {n: i for i, n in enumerate(mk_names)}

    def spread_mm(a, b):
        dist = np.linalg.norm(mk[:, ix[a]] - mk[:, ix[b]], axis=1)
        return 1000 * float(np.ptp(dist))

    for a, b in [("RASI", "LASI"), ("RASI", "LPSI"), ("LASI", "SACR"), ("RPSI", "LPSI")]:
        assert spread_mm(a, b) < 0.5, (a, b, spread_mm(a, b))
    assert spread_mm("RLMAL", "RMMAL") < 0.5 and spread_mm("RLEL", "RMEL") < 0.5
    assert spread_mm("RLFC", "RGTR") < 0.5  # both on the thigh's bones (twist bones turn together)
    assert spread_mm("RHJC", "RASI") < 0.5 and spread_mm("RKJC", "RLFC") < 0.5 and spread_mm("RAJC", "RLMAL") < 0.5
