"""AMASS as users have it: generated SMPL-H and SMPL-X files (odahgen.testing.amass) of seven
actions go through the ``amass`` source (anny retarget, no SMPL files; SMPL-X with a generated
stand-in model; the embedded lab markers), bad files are refused naming file and key, and the
files run through the pipeline's motion + skeleton stages.

The IK quality targets of issue 13 (mean marker RMS <= 2 cm, max <= 8 cm, <= 5 % of frames
flagged) are in ``test_stage_quality_targets``, marked xfail(strict=False) until the skeleton
side (arm ranges, head markers, scaling to the AMASS body) lands.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from odahgen.errors import OdahgenError
from odahgen.motion import get_source, prepare
from odahgen.motion import kinematics as K
from odahgen.motion.amass import read_amass
from odahgen.testing import amass as GA

ODD_FPS = 120.00004577  # as AMASS's mocap_framerate often is


@pytest.fixture(scope="module")
def smplh_dir(tmp_path_factory):
    """Every action as a SMPL-H file; gender as str, bytes and a (1,) array in turn; odd rates."""
    d = tmp_path_factory.mktemp("smplh")
    forms = ("str", "bytes", "array")
    for i, a in enumerate(GA.ACTIONS):
        GA.write_action(d / f"{a}.npz", a, "smplh", fps=ODD_FPS if i % 2 else 120.0,
                        gender=("male", "female")[i % 2], gender_as=forms[i % 3])
    return d


# ---------------------------------------------------------------------------- the generator

@pytest.mark.parametrize("action", GA.ACTIONS)
def test_generated_actions_are_plausible(action):
    s = GA.action_sequence(action)
    T = len(s["poses"])
    assert s["fps"] == 120.0 and 2.0 <= (T - 1) / 120.0 <= 4.0
    assert s["poses"].shape == (T, 66) and s["trans"].shape == (T, 3)
    again = GA.action_sequence(action)
    assert np.array_equal(s["poses"], again["poses"]) and np.array_equal(s["trans"], again["trans"])
    P = s["joints"]
    foot = np.minimum(P[:, [7, 8], 2] - GA.ANKLE_HEIGHT, P[:, [10, 11], 2] - GA.BALL_HEIGHT)
    assert foot.min() > -1e-6  # never below the floor (Z up)
    assert foot.min(axis=1).max() < (0.08 if action == "jumping_jacks" else 1e-6)  # on it, or hopping
    # smooth: joint angular speeds (local rotations) within what people do
    R = K.rotvec_to_matrix(s["poses"].reshape(T, 22, 3))
    step = np.linalg.norm(K.matrix_to_rotvec(np.swapaxes(R[:-1], -1, -2) @ R[1:]), axis=-1)
    speed = np.degrees(step).max(axis=0) * 120.0
    assert speed.max() < 900.0, dict(zip(GA.SMPL_JOINTS, speed.round()))
    accel = np.degrees(np.abs(np.diff(step, axis=0))).max() * 120.0 ** 2
    assert accel < 20000.0, accel  # deg/s^2: no kinks
    # the pelvis stays where it should (standing actions) and upright
    assert np.ptp(P[:, 0, :2], axis=0).max() < 0.35
    up = K.rotvec_to_matrix(s["poses"][:, :3]) @ np.array([0.0, 1.0, 0.0])
    assert up[:, 2].min() > np.cos(np.radians(25))


def test_generated_action_ranges():
    """Each action does what its name says (SMPL local rotations, degrees)."""
    def angle(action, joint):
        s = GA.action_sequence(action)
        rv = s["poses"].reshape(len(s["poses"]), 22, 3)[:, GA.JI[joint]]
        return np.degrees(np.linalg.norm(rv, axis=-1)), s

    # arms overhead: the hand above the head
    s = GA.action_sequence("arms_overhead")
    assert (s["joints"][:, [20, 21], 2].min(axis=1) - s["joints"][:, 15, 2]).max() > 0.3
    # a deep squat: knees ~120 deg, pelvis 45 cm lower
    knee, s = angle("deep_squat", "left_knee")
    assert 110 < knee.max() < 130 and np.ptp(s["joints"][:, 0, 2]) > 0.4
    # head turns: +-65 deg of neck + head yaw
    s = GA.action_sequence("head_turns_nods")
    Rn, Rh = K.rotvec_to_matrix(s["poses"][:, 36:39]), K.rotvec_to_matrix(s["poses"][:, 45:48])
    fwd = (Rn @ Rh)[..., 2]  # the face's forward in the trunk's frame
    assert np.degrees(np.ptp(np.arctan2(fwd[:, 0], fwd[:, 2]))) > 120
    # the fast turn: 180-360 deg of heading within ~1 s
    s = GA.action_sequence("fast_turn")
    f = K.rotvec_to_matrix(s["poses"][:, :3]) @ np.array([0.0, 0.0, 1.0])
    yaw = np.degrees(np.unwrap(np.arctan2(f[:, 1], f[:, 0])))
    moving = np.flatnonzero(np.abs(np.diff(yaw)) * 120 > 10.0)
    assert 180 <= abs(yaw[-1] - yaw[0]) <= 360 and 0.7 < (moving[-1] - moving[0]) / 120.0 < 1.2
    # throwing: the right hand is fast (m/s), jumping jacks hop
    s = GA.action_sequence("throw")
    assert np.linalg.norm(np.diff(s["joints"][:, 21], axis=0), axis=1).max() * 120 > 8.0
    s = GA.action_sequence("jumping_jacks")
    assert np.ptp(s["trans"][:, 2]) > 0.05


# ---------------------------------------------------------------------------- loading

@pytest.mark.parametrize("action", GA.ACTIONS)
def test_smplh_files_load_through_amass_source(smplh_dir, action):
    i = GA.ACTIONS.index(action)
    src = get_source("amass", path=smplh_dir)
    assert src.list_motions() == sorted(GA.ACTIONS)
    m = src.load(action)
    T = len(GA.action_sequence(action)["poses"])
    assert m.kind == "markers" and m.markers.shape == (T, 76, 3) and np.isfinite(m.markers).all()
    assert m.meta["body_model"] == "anny" and m.meta["layout"] == "smplh" and m.meta["markers"] == "mesh"
    assert m.sex == ("male", "female")[i % 2] and m.fps == (ODD_FPS if i % 2 else 120.0)
    assert len(m.meta["static_markers"]) == 76 and len(m.meta["betas"]) == 16
    n = {k: j for j, k in enumerate(m.marker_names)}
    # grounded (Y up) and turned to face +X at t = 0, wherever the file's subject faced
    feet = m.markers[:, [n["RCAL"], n["LCAL"], n["RTOE"], n["LTOE"]], 1]
    assert -0.005 < np.quantile(feet.min(axis=1), 0.02) < 0.06
    fwd = m.markers[0, [n["RASI"], n["LASI"]]].mean(0) - m.markers[0, [n["RPSI"], n["LPSI"]]].mean(0)
    assert np.degrees(abs(np.arctan2(fwd[2], fwd[0]))) < 15
    right = m.markers[0, n["RASI"]] - m.markers[0, n["LASI"]]
    assert right[2] > 0.15  # the subject's right is +Z (OpenSim)
    # resampled to the output rate like any source (odd rates included)
    clip = prepare(m, fps=60.0, clip_seconds=None, min_frames=64)[0]
    assert clip.fps == 60.0 and np.allclose(np.diff(clip.times), 1 / 60.0)
    assert clip.n_frames == int(np.floor(m.duration * 60.0 + 1e-9)) + 1


def test_gender_forms_and_frame_rate_keys(tmp_path):
    for form in ("str", "bytes", "array"):
        p = GA.write_action(tmp_path / f"g_{form}.npz", "deep_squat", "smplh", gender="female",
                            gender_as=form, fps=ODD_FPS, seconds=2.0)
        d = read_amass(p)
        assert d["gender"] == "female" and d["fps"] == ODD_FPS and d["layout"] == "smplh"
    raw = dict(np.load(tmp_path / "g_bytes.npz"))
    assert raw["gender"].dtype.kind == "S" and raw["gender"].ndim == 0
    p = GA.write_action(tmp_path / "x.npz", "deep_squat", "smplx", gender="male", seconds=2.0)
    raw = dict(np.load(p))
    assert "mocap_frame_rate" in raw and "mocap_framerate" not in raw
    assert read_amass(p)["fps"] == 120.0 and read_amass(p)["layout"] == "smplx"


def test_smplx_keys_give_the_smplh_motion(tmp_path):
    """A SMPL-X file (poses (T, 165) and the split keys) and one with only the split keys
    (root_orient, pose_body, pose_hand, pose_jaw, pose_eye) load as the same motion as the
    SMPL-H file of the same action (the 22 body joints drive the body)."""
    h = GA.write_action(tmp_path / "h" / "throw.npz", "throw", "smplh")
    x = GA.write_action(tmp_path / "x" / "throw.npz", "throw", "smplx")
    s = GA.write_action(tmp_path / "s" / "throw.npz", "throw", "smplx", split_only=True, gender_as="bytes")
    assert "poses" not in np.load(s).files
    dh, dx, ds = read_amass(h), read_amass(x), read_amass(s)
    assert dx["poses"].shape[1] == ds["poses"].shape[1] == 165 and ds["pose_key"] == "root_orient + pose_body"
    np.testing.assert_array_equal(dx["poses"], ds["poses"])
    np.testing.assert_array_equal(dh["poses"][:, :66], dx["poses"][:, :66])
    ms = [get_source("amass", path=p).load("throw") for p in (h, x, s)]
    assert ms[1].meta["layout"] == ms[2].meta["layout"] == "smplx"
    for m in ms[1:]:
        np.testing.assert_allclose(m.markers, ms[0].markers, atol=1e-9)
    for output in ("coordinates", "body_params"):
        a = get_source("amass", path=h, output=output).load("throw")
        b = get_source("amass", path=f"{s}?output={output}").load("throw")
        if output == "coordinates":
            np.testing.assert_allclose(a.coordinates, b.coordinates, atol=1e-9)
        else:
            np.testing.assert_allclose(a.body_params["poses"][:, :66], b.body_params["poses"][:, :66])


def test_smplx_model_files_keep_the_subjects_betas(tmp_path):
    """With the user's SMPL-X files the body is SMPL-X with the file's own betas (here the
    stand-in model's stature direction: +2 betas[0] = +8 % size); a gender whose model file
    is missing falls back to the neutral model; model_dir can ride on the path."""
    from odahgen.testing.body import write_synthetic_smplx

    models = tmp_path / "models"
    write_synthetic_smplx(str(models), "neutral")
    betas = np.zeros(16)
    betas[0] = 2.0
    GA.write_action(tmp_path / "a" / "squat.npz", "deep_squat", "smplx", gender="male", seconds=2.0)
    GA.write_action(tmp_path / "b" / "squat.npz", "deep_squat", "smplx", gender="male", seconds=2.0, betas=betas)
    m0 = get_source("amass", path=tmp_path / "a", model_dir=models).load("squat")
    m1 = get_source("amass", path=f"{tmp_path / 'b'}?model_dir={models}").load("squat")
    for m in (m0, m1):
        assert m.meta["body_model"] == "smplx" and m.meta["body_gender"] == "neutral" and m.sex == "male"
        assert m.meta["betas_used"] == 10
    assert m1.meta["body_shape"][0] == 2.0 and m0.meta["body_shape"][0] == 0.0
    n = {k: j for j, k in enumerate(m0.marker_names)}
    h0, h1 = (np.ptp(np.asarray(m.meta["static_markers"])[:, 1]) for m in (m0, m1))
    assert 1.06 < h1 / h0 < 1.10, (h0, h1)  # the subject's own size
    span = [np.linalg.norm(m.markers[0, n["HEADTOP"]] - m.markers[0, n["RCAL"]]) for m in (m0, m1)]
    assert span[1] > 1.05 * span[0]


# ---------------------------------------------------------------------------- lab markers

@pytest.fixture(scope="module")
def lab_file(tmp_path_factory):
    """A SMPL-H throw with its lab markers embedded (model labels, marker_data/marker_labels)."""
    d = tmp_path_factory.mktemp("lab")
    p = GA.write_action(d / "throw.npz", "throw", "smplh", fps=ODD_FPS)
    labels, mk = GA.lab_markers_for(p, "model", gaps=2)
    GA.write_action(p, "throw", "smplh", fps=ODD_FPS, lab_markers=(labels, mk),
                    marker_keys=("marker_data", "marker_labels"))
    return p, labels, mk


def test_lab_markers_option(lab_file):
    p, labels, mk = lab_file
    lab = get_source("amass", path=f"{p}?markers=lab").load("throw")
    same = get_source("amass", path=p, markers="lab").load("throw")
    np.testing.assert_array_equal(np.nan_to_num(lab.markers, nan=7.0), np.nan_to_num(same.markers, nan=7.0))
    assert lab.kind == "markers" and list(lab.marker_names) == labels and lab.fps == ODD_FPS
    assert lab.meta["markers"] == "lab" and lab.meta["lab_marker_key"] == "marker_data"
    assert lab.meta["facing_from"] == "root_orient" and lab.meta["lab_marker_units"] == "m"
    assert not any(n.endswith("JC") for n in lab.marker_names)  # no joint centres in a lab
    assert np.isnan(lab.markers).any(axis=2).sum() == 10  # the two 5-frame gaps kept as gaps
    # the same place as the mesh's virtual markers (both grounded by the floor, faced forward)
    mesh = get_source("amass", path=p).load("throw")
    idx = [mesh.marker_names.index(n) for n in lab.marker_names]
    diff = np.linalg.norm(lab.markers - mesh.markers[:, idx], axis=2)
    assert np.nanmax(diff) < 0.02 and np.nanmedian(diff) < 0.008, (np.nanmax(diff), np.nanmedian(diff))
    # the pipeline's preparation fills the short gaps and resamples
    clip = prepare(lab, fps=60.0, clip_seconds=None, min_frames=64)[0]
    assert clip.fps == 60.0 and np.isfinite(clip.markers).all()


def test_lab_markers_variants(tmp_path, lab_file):
    """mm units, Vicon 'Subject:' prefixes, labels/markers keys, a file without poses (heading
    from the pelvis markers), lab-style (MoSh/CMU) labels."""
    p, labels, mk = lab_file
    ref = get_source("amass", path=p, markers="lab").load("throw")
    raw = dict(np.load(p))
    mm = {k: v for k, v in raw.items() if k not in ("marker_data", "marker_labels")}
    mm["markers"] = np.nan_to_num(raw["marker_data"] * 1000.0, nan=0.0)  # zeros = gaps, as in C3D
    mm["labels"] = np.array([f"Sub01:{n}".encode() for n in labels])
    np.savez(tmp_path / "mm.npz", **mm)
    m = get_source("amass", path=tmp_path / "mm.npz", markers="lab").load("mm")
    assert m.meta["lab_marker_units"] == "mm" and list(m.marker_names) == labels
    np.testing.assert_allclose(m.markers, ref.markers, atol=1e-9)
    only = {k: v for k, v in mm.items() if k not in ("poses", "trans", "dmpls")}
    np.savez(tmp_path / "only.npz", **only)
    m = get_source("amass", path=tmp_path / "only.npz", markers="lab").load("only")
    assert m.meta["facing_from"] == "pelvis markers"
    n = {k: j for j, k in enumerate(m.marker_names)}
    fwd = m.markers[0, [n["RASI"], n["LASI"]]].mean(0) - m.markers[0, [n["RPSI"], n["LPSI"]]].mean(0)
    assert abs(fwd[2]) < 1e-9 and fwd[0] > 0
    np.testing.assert_allclose(np.nanmax(m.markers[..., 1]), np.nanmax(ref.markers[..., 1]), atol=1e-9)
    with pytest.raises(OdahgenError, match=r"only\.npz: missing 'poses'"):
        get_source("amass", path=tmp_path / "only.npz").load("only")
    names, world = GA.lab_markers_for(p, "mosh", gaps=0)
    assert "LFWT" in names and "RKNE" in names and "RHJC" not in names
    GA.write_action(tmp_path / "mosh.npz", "throw", "smplh", lab_markers=(names, world))
    m = get_source("amass", path=tmp_path / "mosh.npz", markers="lab").load("mosh")
    assert list(m.marker_names) == names and np.isfinite(m.markers).all()


# ---------------------------------------------------------------------------- bad files

def _base(tmp_path):
    p = GA.write_action(tmp_path / "base.npz", "deep_squat", "smplx", seconds=2.0)
    return dict(np.load(p))


def _edit(d, drop=(), **set_):
    out = {k: v for k, v in d.items() if k not in drop}
    out.update(set_)
    return out


BAD = {
    "no_poses": (lambda d: _edit(d, drop=("poses", "root_orient")), "missing 'poses'"),
    "wide_poses": (lambda d: _edit(d, poses=np.zeros((len(d["trans"]), 150))), "'poses' has 150 columns"),
    "flat_poses": (lambda d: _edit(d, poses=np.zeros(165)), "'poses' has shape (165,)"),
    "text_poses": (lambda d: _edit(d, poses=np.array(["a", "b"])), "'poses' must be numbers"),
    "nan_poses": (lambda d: _edit(d, poses=np.where(np.arange(165) == 4, np.nan, d["poses"])), "'poses' contains NaN"),
    "short_trans": (lambda d: _edit(d, trans=d["trans"][:-3]), "'trans' has"),
    "no_trans": (lambda d: _edit(d, drop=("trans",)), "missing 'trans'"),
    "no_rate": (lambda d: _edit(d, drop=("mocap_frame_rate",)), "missing frame rate"),
    "zero_rate": (lambda d: _edit(d, mocap_frame_rate=np.array(0.0)), "'mocap_frame_rate' must be a positive"),
    "array_rate": (lambda d: _edit(d, mocap_frame_rate=np.array([120.0, 60.0])), "'mocap_frame_rate' must be one number"),
    "robot": (lambda d: _edit(d, gender=np.array(b"robot")), "'gender' is 'robot'"),
    "gender_num": (lambda d: _edit(d, gender=np.array(1)), "'gender' must be one string"),
    "bad_betas": (lambda d: _edit(d, betas=np.full(16, np.inf)), "'betas' contains NaN"),
    "smt_mismatch": (lambda d: _edit(d, surface_model_type=np.array("smplh")), "'surface_model_type' says smplh"),
    "smt_unknown": (lambda d: _edit(d, surface_model_type=np.array("mano")), "unknown 'surface_model_type'"),
    "split_body": (lambda d: _edit(d, drop=("poses",), pose_body=np.zeros((len(d["trans"]), 60))), "'pose_body' has shape"),
    "split_frames": (lambda d: _edit(d, drop=("poses",), pose_jaw=np.zeros((5, 3))), "'pose_jaw' has 5 frames"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_are_refused_naming_file_and_key(tmp_path, case):
    make, words = BAD[case]
    path = tmp_path / f"{case}.npz"
    np.savez(path, **make(_base(tmp_path)))
    with pytest.raises(OdahgenError) as err:
        get_source("amass", path=tmp_path).load(case)
    msg = str(err.value)
    assert msg.startswith(str(path)) and words in msg and "\n" not in msg, msg


BAD_LAB = {
    "no_markers": ({}, "no embedded lab markers"),
    "no_labels": ({"markers": "ok"}, "'markers' has no labels"),
    "frames": ({"markers": "short", "labels": "ok"}, "'markers' has 10 frames but poses has"),
    "count": ({"markers": "ok", "labels": "few"}, "'labels' has shape (3,)"),
    "dup": ({"markers": "ok", "labels": "dup"}, "'labels' has duplicate labels: A"),
    "flat": ({"markers": "flat", "labels": "ok"}, "'markers' has shape"),
    "empty": ({"markers": "nan", "labels": "ok"}, "no valid marker position"),
}


@pytest.mark.parametrize("case", sorted(BAD_LAB))
def test_bad_lab_markers_are_refused(tmp_path, case):
    d = _base(tmp_path)
    T = len(d["trans"])
    parts, words = BAD_LAB[case]
    mk = {"ok": np.ones((T, 4, 3)), "short": np.ones((10, 4, 3)), "flat": np.ones((T, 12)),
          "nan": np.full((T, 4, 3), np.nan)}
    lab = {"ok": np.array(["A", "B", "C", "D"]), "few": np.array(["A", "B", "C"]),
           "dup": np.array(["A", "A", "C", "D"])}
    extra = {}
    if "markers" in parts:
        extra["markers"] = mk[parts["markers"]]
    if "labels" in parts:
        extra["labels"] = lab[parts["labels"]]
    path = tmp_path / f"{case}.npz"
    np.savez(path, **d, **extra)
    with pytest.raises(OdahgenError) as err:
        get_source("amass", path=path, markers="lab").load(case)
    msg = str(err.value)
    assert msg.startswith(str(path)) and words in msg and "\n" not in msg, msg
    get_source("amass", path=path).load(case)  # the mesh route ignores the embedded markers


def test_source_options_on_the_path(tmp_path, smplh_dir):
    with pytest.raises(OdahgenError, match="markers must be 'mesh'"):
        get_source("amass", path=f"{smplh_dir}?markers=labs")
    with pytest.raises(OdahgenError, match="unknown option.*marker"):
        get_source("amass", path=f"{smplh_dir}?marker=lab")
    with pytest.raises(OdahgenError, match="markers='lab' needs output='markers'"):
        get_source("amass", path=smplh_dir, markers="lab", output="coordinates")
    with pytest.raises(OdahgenError, match="also given directly"):
        get_source("amass", path=f"{smplh_dir}?markers=lab", markers="mesh")
    with pytest.raises(OdahgenError, match="face_forward must be true or false"):
        get_source("amass", path=f"{smplh_dir}?face_forward=maybe")
    with pytest.raises(OdahgenError, match="no such folder"):
        get_source("amass", path=f"{smplh_dir}?model_dir={tmp_path / 'nope'}")
    src = get_source("amass", path=f"{smplh_dir}?face_forward=false&output=coordinates")
    assert src.face_forward is False and src.output == "coordinates"
    assert src.path == smplh_dir
    q = tmp_path / "odd?name.npz"  # a file whose name has '?' is taken as it is
    GA.write_action(q, "deep_squat", "smplh", seconds=2.0)
    assert get_source("amass", path=str(q)).list_motions() == ["odd_name"]


# ---------------------------------------------------------------------------- the stages

@pytest.fixture(scope="module")
def stage_figures(smplh_dir, tmp_path_factory):
    """Every action through the demo config's motion + skeleton stages (one subject)."""
    figs = GA.stage_figures(smplh_dir, work=tmp_path_factory.mktemp("stages"))
    table = ["action            frames  IK RMS mean (cm)  max (cm)  flagged (%)  at a bound (> 5 % of frames)"]
    for a, f in figs.items():
        table.append(f"{a:16s}  {f['frames']:6d}  {f['rms_mean_cm']:16.2f}  {f['max_cm']:8.1f}  "
                     f"{f['flagged_pct']:11.0f}  {', '.join(sorted(f['at_bound'])) or '-'}")
    print("\n" + "\n".join(table))
    out = os.environ.get("ODAHGEN_AMASS_FIGURES")  # e.g. to record the table of a run
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            json.dump({a: {k: v for k, v in f.items() if k != "trial"} for a, f in figs.items()}, fh, indent=1)
    return figs


def test_actions_run_through_motion_and_skeleton_stages(stage_figures, smplh_dir):
    from odahgen.skeleton.names import COORDINATE_NAMES

    assert sorted(stage_figures) == sorted(GA.ACTIONS)
    for a, f in stage_figures.items():
        assert f["ran"] == ["motion", "skeleton"], (a, f)
        motion = np.load(os.path.join(f["trial"], "motion.npz"))
        sk = np.load(os.path.join(f["trial"], "skeleton.npz"))
        T = len(motion["times"])
        assert str(motion["kind"]) == "markers" and float(motion["fps"]) == 60.0
        assert motion["markers"].shape == (T, 76, 3) and np.isfinite(motion["markers"]).all()
        assert abs(T - 1 - 60.0 * (GA.SECONDS[a])) <= 1  # the whole file, resampled from ~120 Hz
        assert sk["angles"].shape == (T, len(COORDINATE_NAMES)) and np.isfinite(sk["angles"]).all()
        assert np.isfinite(sk["ik_rms"]).all() and f["rms_mean_cm"] < 10.0 and f["max_cm"] < 50.0, (a, f)
    # the motion is in the angles: the squat bends the knees, the turn turns the pelvis
    sq = np.load(os.path.join(stage_figures["deep_squat"]["trial"], "skeleton.npz"))["angles"]
    assert np.degrees(np.ptp(sq[:, COORDINATE_NAMES.index("knee_angle_r")])) > 80
    tu = np.load(os.path.join(stage_figures["fast_turn"]["trial"], "skeleton.npz"))["angles"]
    assert np.degrees(np.ptp(np.unwrap(tu[:, COORDINATE_NAMES.index("pelvis_rotation")]))) > 250


#: issue 13's per-trial targets for the label quality
TARGET_RMS_CM, TARGET_MAX_CM, TARGET_FLAGGED_PCT = 2.0, 8.0, 5.0


#: actions that still miss a target, and why (measured; see bench/yield.py). None since the
#: shoulder girdle (the deep squat's C7), the leg joint centres on their bones (its ASIS).
KNOWN_MISSES: dict[str, str] = {}


@pytest.mark.parametrize("action", [
    pytest.param(a, marks=pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[a])) if a in KNOWN_MISSES
    else a for a in GA.ACTIONS])
def test_stage_quality_targets(stage_figures, action):
    f = stage_figures[action]
    assert f["rms_mean_cm"] <= TARGET_RMS_CM and f["max_cm"] <= TARGET_MAX_CM \
        and f["flagged_pct"] <= TARGET_FLAGGED_PCT, (action, f)
