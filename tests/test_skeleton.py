"""Tests of odahgen.skeleton: model build, TRC/MOT IO, FK, IK round trips, real lab data."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from odahgen.errors import OdahgenError
from odahgen.skeleton.names import BODY_NAMES, COORDINATE_NAMES, JOINT_NAMES

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
RAJ = SHARED / "opensim" / "Rajagopal2016.osim"
RAJ_MARKERS = SHARED / "opensim" / "Rajagopal2016_markerset_walk.xml"
STATIC = SHARED / "mocap" / "rajagopal_static_walk.trc"
WALK = SHARED / "mocap" / "rajagopal_walk.trc"
needs_shared = pytest.mark.skipif(not RAJ.exists() or not WALK.exists(), reason="../shared reference data absent")

# lab labels of the Rajagopal walking data -> odahgen's built-in marker names
LAB_MAP = {
    "R.ASIS": "RASI", "L.ASIS": "LASI", "R.PSIS": "RPSI", "L.PSIS": "LPSI", "S2": "SACR",
    "R.Shoulder": "RACR", "L.Shoulder": "LACR", "R.Elbow": "RLEL", "L.Elbow": "LLEL",
    "R.MElbow": "RMEL", "L.MElbow": "LMEL", "R.Wrist": "RRSP", "L.Wrist": "LRSP",
    "R.Knee": "RLFC", "L.Knee": "LLFC", "R.MKnee": "RMFC", "L.MKnee": "LMFC",
    "R.Ankle": "RLMAL", "L.Ankle": "LLMAL", "R.MAnkle": "RMMAL", "L.MAnkle": "LMMAL",
    "R.Heel": "RCAL", "L.Heel": "LCAL", "R.MT5": "RMT5", "L.MT5": "LMT5", "R.Toe": "RMT1", "L.Toe": "LMT1",
    "R.TH1": "RTH1", "R.TH2": "RTH2", "R.TH3": "RTH3", "L.TH1": "LTH1", "L.TH2": "LTH2", "L.TH3": "LTH3",
    "R.SH1": "RTB1", "R.SH2": "RTB2", "R.SH3": "RTB3", "L.SH1": "LTB1", "L.SH2": "LTB2", "L.SH3": "LTB3",
    "R_HJC": "RHJC", "L_HJC": "LHJC",
}


@pytest.fixture(scope="module")
def builtin_tree(tmp_path_factory):
    from odahgen.skeleton.kinematics import extract_tree
    from odahgen.skeleton.model import build_default_model, load_model

    p = build_default_model(tmp_path_factory.mktemp("model") / "builtin.osim")
    return extract_tree(load_model(p)), p


def _trajectory(tree, T, seed, amp=0.35):
    rng = np.random.default_rng(seed)
    cols = tree.free_coords()
    q = np.tile(tree.coord_default, (T, 1))
    tt = np.linspace(0, 1, T)
    for c in cols:
        lo, hi = tree.coord_range[c]
        if tree.coord_rotational[c]:
            lo, hi = max(lo, -1.0), min(hi, 1.0)
        else:
            lo, hi = -0.5, 1.0
        base = rng.uniform(lo + 0.2 * (hi - lo), hi - 0.2 * (hi - lo))
        q[:, c] = np.clip(base + amp * np.sin(2 * np.pi * tt + rng.uniform(0, 6)), *tree.coord_range[c]) if tree.coord_clamped[c] else base + amp * np.sin(2 * np.pi * tt + c)
    return tree.apply_couplers(q)


# ----------------------------------------------------------------------------- model
def test_built_model_has_rajagopal_names_and_markers(builtin_tree):
    from odahgen.skeleton.markers import MARKER_NAMES

    tree, path = builtin_tree
    assert tree.body_names == list(BODY_NAMES)
    assert tree.joint_names == list(JOINT_NAMES)
    assert sorted(tree.coord_names) == sorted(COORDINATE_NAMES)
    assert tree.marker_names == list(MARKER_NAMES)
    text = path.read_text()
    assert "ForceSet" not in text or "<Millard" not in text  # no muscles
    for b in BODY_NAMES:
        assert f'<Mesh name="{b}_geom_1">' in text
    assert "CoordinateCouplerConstraint" in text
    assert not tree.coord_clamped[tree.coord_names.index("pelvis_tx")]


@needs_shared
def test_built_model_matches_rajagopal2016(builtin_tree):
    from odahgen.skeleton.kinematics import extract_tree
    from odahgen.skeleton.model import load_model

    tree, _ = builtin_tree
    ref = extract_tree(load_model(RAJ))
    assert ref.body_names == tree.body_names and ref.joint_names == tree.joint_names
    assert ref.coord_names == tree.coord_names
    assert np.abs(ref.X_PF[:, :3, 3] - tree.X_PF[:, :3, 3]).max() < 1e-3  # joint offsets within 1 mm
    assert np.abs(ref.X_BM[:, :3, 3] - tree.X_BM[:, :3, 3]).max() < 1e-3
    assert np.abs(ref.X_PF[:, :3, :3] - tree.X_PF[:, :3, :3]).max() < 1e-6
    q = _trajectory(tree, 5, 3)
    _, p1, j1 = ref.forward(q)
    _, p2, j2 = tree.forward(q)
    assert np.abs(j1 - j2).max() < 1e-6


def test_fast_kinematics_match_opensim(builtin_tree):
    from odahgen.skeleton.model import load_model

    tree, path = builtin_tree
    model = load_model(path)
    q = _trajectory(tree, 3, 7)[1]
    s = model.initSystem()
    cs = model.getCoordinateSet()
    for i, n in enumerate(tree.coord_names):
        cs.get(n).setValue(s, float(q[i]), False)
    model.realizePosition(s)
    R, p, _ = tree.forward(q[None])
    mk = tree.markers(R, p)[0]
    ms = model.getMarkerSet()
    osim_mk = np.array([[ms.get(k).getLocationInGround(s).get(i) for i in range(3)] for k in range(ms.getSize())])
    assert np.abs(osim_mk - mk).max() < 1e-5


def test_fk_shapes_and_scales(builtin_tree):
    from odahgen.skeleton.fk import forward_kinematics, segment_scales

    _, path = builtin_tree
    r = forward_kinematics(path, np.zeros((4, 39)))
    assert r.keypoints.shape == (4, 44, 3) and r.body_transforms.shape == (4, 22, 4, 4)
    assert np.allclose(r.keypoints[:, 0], 0.0)  # ground_pelvis joint centre at the origin
    assert np.allclose(segment_scales(path), 1.0)


# ----------------------------------------------------------------------------- IO
def test_trc_round_trip_and_tolerance(tmp_path):
    from odahgen.io.mocap import MarkerData, read_trc, write_trc

    rng = np.random.default_rng(0)
    pos = rng.uniform(-1, 1.5, (6, 3, 3))
    pos[2, 1] = np.nan
    d = MarkerData(["A", "B", "C"], pos, 100.0)
    p = write_trc(tmp_path / "a.trc", d)
    e = read_trc(p)
    assert e.names == ["A", "B", "C"] and e.fps == 100.0
    assert np.isnan(e.positions[2, 1]).all()
    assert np.nanmax(np.abs(e.positions - pos)) < 1e-6
    # spaces instead of tabs, comma decimals, no units -> detected as mm
    lines = p.read_text().splitlines()
    lines[2] = "100 100 6 3  100 1 6".replace("  ", " ")
    lines[1] = "DataRate CameraRate NumFrames NumMarkers OrigDataRate OrigDataStartFrame OrigNumFrames"
    lines = lines[:5] + [ln.replace(".", ",") for ln in lines[5:]]
    (tmp_path / "b.trc").write_text("\n".join(lines))
    f = read_trc(tmp_path / "b.trc")
    assert np.nanmax(np.abs(f.positions - pos)) < 1e-6
    with pytest.raises(OdahgenError, match="absurd"):  # explicit override wins, and is absurd here
        read_trc(tmp_path / "b.trc", units="m")


def test_mot_round_trip(tmp_path):
    from odahgen.io.mocap import read_table, write_mot

    vals = np.arange(12.0).reshape(4, 3) / 7
    write_mot(tmp_path / "x.mot", ["a", "b", "c"], np.arange(4) / 60, vals, in_degrees=False)
    t = read_table(tmp_path / "x.mot")
    assert t.names == ["a", "b", "c"] and not t.in_degrees
    assert np.allclose(t.values, vals, atol=1e-8)
    assert "version=1" in (tmp_path / "x.mot").read_text()


@pytest.mark.parametrize(
    "content,needle",
    [
        ("", "empty"),
        ("hello\nworld\n1\n2\n3\n", "malformed"),
        ("PathFileType\t4\nDataRate\tNumMarkers\tUnits\n100\t1\tfurlongs\nFrame#\tTime\tA\n\tX1\tY1\tZ1\n\n1\t0\t1\t2\t3\n", "units"),
        ("PathFileType\t4\nDataRate\tNumMarkers\tUnits\n100\t2\tmm\nFrame#\tTime\tA\t\t\tB\n\tX1\tY1\tZ1\tX2\tY2\tZ2\n\n1\t0\t100\t200\t300\t\t\t\n2\t0.01\t100\t200\t300\tNaN\tNaN\tNaN\n", "no valid sample"),
        ("PathFileType\t4\nDataRate\tNumMarkers\tUnits\n100\t1\tm\nFrame#\tTime\tA\n\tX1\tY1\tZ1\n\n1\t0\t1000\t2000\t3000\n", "absurd"),
    ],
)
def test_bad_trc_is_one_line_error_naming_the_file(tmp_path, content, needle):
    from odahgen.io.mocap import read_trc

    p = tmp_path / "bad.trc"
    p.write_text(content)
    with pytest.raises(OdahgenError) as ei:
        read_trc(p)
    msg = str(ei.value)
    assert "bad.trc" in msg and needle in msg and "\n" not in msg


def test_cli_bad_input_writes_nothing(tmp_path, capsys):
    from odahgen.cli import main

    bad = tmp_path / "bad.trc"
    bad.write_text("not a trc\n")
    out = tmp_path / "out"
    assert main(["ik", str(bad), "-o", str(out)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.trc" in err[0]
    assert not out.exists() or not any(out.iterdir())


def test_unknown_markers_are_warned_and_no_overlap_is_an_error(builtin_tree):
    from odahgen.skeleton.ik import match_markers
    from odahgen.io.mocap import MarkerData

    tree, _ = builtin_tree
    d = MarkerData(["RASI", "LASI", "RPSI", "Bogus"], np.ones((2, 4, 3)), 60.0)
    with pytest.warns(UserWarning, match="Bogus"):
        sub, idx = match_markers(tree, d)
    assert sub.names == ["RASI", "LASI", "RPSI"]
    with pytest.raises(OdahgenError, match="match"):
        match_markers(tree, MarkerData(["X", "Y", "Z"], np.ones((2, 3, 3)), 60.0))


# ----------------------------------------------------------------------------- IK
def test_ik_round_trip_exact(builtin_tree):
    from odahgen.skeleton.ik import run_ik_tree
    from odahgen.io.mocap import MarkerData

    tree, _ = builtin_tree
    q = _trajectory(tree, 30, 1)
    R, p, _ = tree.forward(q)
    data = MarkerData(tree.marker_names, tree.markers(R, p), 60.0)
    res = run_ik_tree(tree, data, register=False, workers=1)
    cols = tree.free_coords()
    rot = cols[tree.coord_rotational[cols]]
    d = np.degrees(res.coords[:, rot] - q[:, rot])
    assert np.sqrt(np.mean(d**2)) < 0.5
    assert res.marker_rms.mean() < 1e-3
    assert res.angles.shape == (30, 39) and not res.flagged.any()
    i, j = COORDINATE_NAMES.index("knee_angle_r_beta"), COORDINATE_NAMES.index("knee_angle_r")
    assert np.allclose(res.angles[:, i], res.angles[:, j])


def test_ik_round_trip_with_noise(builtin_tree):
    from odahgen.skeleton.ik import run_ik_tree
    from odahgen.io.mocap import MarkerData

    tree, _ = builtin_tree
    q = _trajectory(tree, 30, 2)
    R, p, _ = tree.forward(q)
    mk = tree.markers(R, p) + np.random.default_rng(5).normal(0, 0.005, (30, len(tree.marker_names), 3))
    res = run_ik_tree(tree, MarkerData(tree.marker_names, mk, 60.0), register=False, workers=1)
    cols = tree.free_coords()
    rot = cols[tree.coord_rotational[cols]]
    d = np.degrees(res.coords[:, rot] - q[:, rot])
    assert np.sqrt(np.mean(d**2)) < 3.0


def test_ik_parallel_chunks_equal_serial(builtin_tree):
    from odahgen.skeleton.ik import solve_all

    tree, _ = builtin_tree
    q = _trajectory(tree, 40, 4)
    R, p, _ = tree.forward(q)
    Y = tree.markers(R, p)
    idx = np.arange(len(tree.marker_names))
    w = np.ones(len(idx))
    # 4-frame chunks in 2 processes (coarse frames 0, 8, ..., 39 split too) versus one chunk:
    # frames are solved independently and the continuity passes run over the whole sequence
    qa, _ = solve_all(tree, Y, idx, w, workers=2, chunk=4, min_parallel=1)
    qb, _ = solve_all(tree, Y, idx, w, workers=1, chunk=100)
    assert np.abs(qa - qb).max() < 1e-4
    assert np.abs(qa - q).max() < 2e-3 and np.abs(qb - q).max() < 2e-3


def test_solve_frames_window_gives_each_frame_its_own_solution(builtin_tree, monkeypatch):
    """Long inputs stream through a window of CACHE_BLOCK frames (slow frames share model
    evaluations with new ones): every frame ends where it ends when solved alone."""
    from odahgen.skeleton import ik, lm

    tree, _ = builtin_tree
    q = _trajectory(tree, 40, 6, amp=0.6)
    R, p, _ = tree.forward(q)
    Y = tree.markers(R, p) + np.random.default_rng(3).normal(0, 0.004, (40, len(tree.marker_names), 3))
    idx = np.arange(len(tree.marker_names))
    w = np.linspace(0.5, 2.0, len(idx))
    q0 = np.tile(tree.coord_default, (40, 1))
    whole, cw = ik.solve_frames(tree, Y, idx, w, q0, iters=30, reg=1e-5)
    monkeypatch.setattr(lm, "CACHE_BLOCK", 6)  # 40 frames through a window of 6
    windowed, cwin = ik.solve_frames(tree, Y, idx, w, q0, iters=30, reg=1e-5)
    alone = [ik.solve_frames(tree, Y[t:t + 1], idx, w, q0[t:t + 1], iters=30, reg=1e-5)[0] for t in (0, 17, 39)]
    assert np.abs(windowed - whole).max() < 1e-9 and np.abs(cwin - cw).max() < 1e-12
    assert np.abs(np.concatenate(alone) - whole[[0, 17, 39]]).max() < 1e-9
    short, _ = ik.solve_frames(tree, Y, idx, w, q0, iters=2)  # the iteration cap holds per frame
    assert np.abs(short - whole).max() > 1e-4


def test_numpy_temporaries_stay_on_the_heap_unless_the_user_set_malloc():
    import subprocess
    import sys

    code = "from odahgen.io.heap import keep_temporaries_on_heap as k; print(k(), k())"
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    glibc = __import__("platform").libc_ver()[0] == "glibc"
    assert out.stdout.split() == ([str(glibc)] * 2)
    env["MALLOC_TRIM_THRESHOLD_"] = "131072"  # the user's own setting wins: left alone
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_static_window_selection():
    from odahgen.skeleton.scale import select_static_window
    from odahgen.io.mocap import MarkerData

    T = 100
    pos = np.zeros((T, 2, 3))
    pos[:, :, 0] = np.sin(np.arange(T) / 3.0)[:, None]
    pos[60:80] = pos[60]  # still between frames 60 and 80
    w = select_static_window(MarkerData(["a", "b"], pos, 40.0), seconds=0.25)
    assert 60 <= w[0] and w[-1] <= 80


# ----------------------------------------------------------------------------- real data
@needs_shared
def test_real_lab_data_rajagopal2016(tmp_path):
    from odahgen.cli.skeleton import run_ik_command

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = run_ik_command(str(WALK), str(tmp_path), static=str(STATIC), model=str(RAJ), markers_xml=str(RAJ_MARKERS),
                           workers=1, log=lambda m: None)
    assert s["marker_rms_mean_m"] < 0.02
    assert json.loads((tmp_path / "summary.json").read_text())["frames"] == 238
    import h5py

    with h5py.File(tmp_path / "kinematics.h5") as h:
        assert h["angles"].shape == (238, 39) and h["keypoints"].shape == (238, 44, 3)
        assert h["segment_scales"].shape == (22, 3)
    assert (tmp_path / "scaled.osim").exists() and (tmp_path / "ik.mot").exists()


@needs_shared
def test_real_lab_data_builtin_model_with_map(tmp_path):
    from odahgen.cli.skeleton import run_ik_command

    mp = tmp_path / "map.txt"
    mp.write_text("".join(f"{k} {v}\n" for k, v in LAB_MAP.items()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = run_ik_command(str(WALK), str(tmp_path / "out"), static=str(STATIC), map_path=str(mp), workers=1, log=lambda m: None)
    assert s["marker_rms_mean_m"] < 0.02


# ----------------------------------------------------------------------------- scaling
_TRUE_FACTORS = {"pelvis": 1.05, "femur": 1.12, "patella": 1.12, "tibia": 0.92, "talus": 0.92, "calcn": 1.04,
                 "toes": 1.04, "torso": 1.08, "humerus": 0.95, "ulna": 1.1, "radius": 1.1, "hand": 1.1}


def _static_of(tree, factors, override=None):
    from odahgen.skeleton.scale import scaled_tree
    from odahgen.io.mocap import MarkerData

    f = dict(factors, **(override or {}))
    s = np.array([[f.get(b, f.get(b[:-2], 1.0))] * 3 for b in tree.body_names])
    t = scaled_tree(tree, s)
    q = np.tile(tree.coord_default, (40, 1))
    q[:, tree.coord_names.index("pelvis_tx")] = 0.3
    q[:, tree.coord_names.index("pelvis_ty")] = 0.95 * f["femur"]
    q[:, tree.coord_names.index("knee_angle_r")] = 0.05
    q = tree.apply_couplers(q)
    R, p, _ = t.forward(q)
    return MarkerData(list(tree.marker_names), t.markers(R, p), 100.0), s


def test_measurement_scaling_recovers_segment_factors(builtin_tree):
    from odahgen.skeleton.scale import scale_subject

    tree, _ = builtin_tree
    static, s_true = _static_of(tree, _TRUE_FACTORS)
    t, res = scale_subject(tree, static)
    assert np.abs(res.scales - s_true).max() < 0.02
    for seg in ("pelvis", "thigh_r", "thigh_l", "shank_r", "foot_l", "upper_arm_r", "forearm_l", "torso"):
        assert res.segments[seg]["method"] == "measurement" and res.segments[seg]["pairs"], seg
    # thigh measured on a femur-only pair (greater trochanter / hip centre to lateral epicondyle)
    assert {"RLFC"} <= {m for pr in res.segments["thigh_r"]["pairs"] for m in pr[:2]}
    assert abs(res.segments["shank_r"]["factor"] - 0.92) < 0.01
    assert res.rms_m < 0.005


def test_measurement_scaling_per_axis_pelvis(builtin_tree):
    """Pelvis deeper (x 1.10) and narrower (z 0.92) than the model: ASIS-ASIS measures the width,
    ASIS-PSIS mostly the depth, so both axes are recovered; a thigh measured along its length
    stays uniform."""
    from odahgen.io.mocap import MarkerData
    from odahgen.skeleton.scale import scale_subject, scaled_tree

    tree, _ = builtin_tree
    s_true = np.ones((len(tree.body_names), 3))
    s_true[tree.body_names.index("pelvis")] = (1.10, 1.0, 0.92)
    q = np.tile(tree.coord_default, (30, 1))
    q[:, tree.coord_names.index("pelvis_ty")] = 0.95
    t = scaled_tree(tree, s_true)
    R, p, _ = t.forward(tree.apply_couplers(q))
    _t, res = scale_subject(tree, MarkerData(list(tree.marker_names), t.markers(R, p), 100.0))
    pel = res.scales[tree.body_names.index("pelvis")]
    assert abs(pel[0] - 1.10) < 0.02 and abs(pel[2] - 0.92) < 0.02, pel
    fem = res.scales[tree.body_names.index("femur_r")]
    assert np.ptp(fem) < 1e-9 and abs(fem[0] - 1.0) < 0.02


def test_measurement_scaling_lab_names():
    from odahgen.skeleton.scale import landmark_role

    assert landmark_role("R.ASIS") == ("ASIS", "r") and landmark_role("LASI") == ("ASIS", "l")
    assert landmark_role("L.Knee") == ("LFC", "l") and landmark_role("RLMAL") == ("LMAL", "r")
    assert landmark_role("R.Shoulder") == ("ACR", "r") and landmark_role("C7") == ("C7", "")
    assert landmark_role("S2") is None and landmark_role("R.TH1") is None


def test_implausible_scale_names_the_segment(builtin_tree):
    from odahgen.skeleton.scale import scale_subject

    tree, _ = builtin_tree
    static, _ = _static_of(tree, _TRUE_FACTORS, {"tibia_r": 2.6, "talus_r": 2.6})
    with pytest.raises(OdahgenError, match="shank_r"):
        scale_subject(tree, static, source="bad_static.trc")
    static, _ = _static_of(tree, _TRUE_FACTORS, {"humerus_l": 0.4})
    with pytest.raises(OdahgenError, match="upper_arm_l"):
        scale_subject(tree, static)


def test_subject_mass_and_height_given_or_estimated(builtin_tree):
    from odahgen.skeleton.scale import scale_subject

    tree, _ = builtin_tree
    static, _ = _static_of(tree, _TRUE_FACTORS)
    _, given = scale_subject(tree, static, mass_kg=71.5, height_m=1.82)
    assert given.mass_kg == 71.5 and given.height_m == 1.82
    _, est = scale_subject(tree, static)
    assert 1.5 < est.height_m < 2.1
    assert abs(est.mass_kg - 22.0 * est.height_m**2) < 1e-6
    with pytest.raises(OdahgenError, match="mass"):
        scale_subject(tree, static, mass_kg=5000.0)


def test_scaled_model_written_per_subject(builtin_tree, tmp_path):
    from odahgen.skeleton.fk import load_tree, segment_scales
    from odahgen.skeleton.scale import scale_subject, write_scaled_model

    tree, path = builtin_tree
    static, s_true = _static_of(tree, _TRUE_FACTORS)
    # a marker placed 1 cm off on the subject: placement on the static pose moves it
    static.positions[:, tree.marker_names.index("RTH1"), 0] += 0.01
    t, res = scale_subject(tree, static, mass_kg=80.0)
    out = write_scaled_model(path, tmp_path / "subj01" / "scaled.osim", t, res, name="subj01")
    order = [tree.body_names.index(b) for b in BODY_NAMES]
    assert np.allclose(segment_scales(out), res.scales[order], atol=1e-9)
    back = load_tree(out)
    assert np.abs(back.marker_loc - t.marker_loc).max() < 1e-9
    k = tree.marker_names.index("RTH1")
    assert np.linalg.norm(t.marker_loc[k] - tree.marker_loc[k] * res.scales[tree.marker_body[k]]) > 0.005
    assert "subj01" in out.read_text()[:2000]


def test_marker_class_table_before_heuristic():
    from odahgen.skeleton.markers import guess_marker_class

    assert guess_marker_class("S2") == "bony"  # sacrum, not a cluster despite the digit
    for n in ("R.ASIS", "L.MT5", "C7", "T10", "LKNE", "R.Heel", "R.Shoulder"):
        assert guess_marker_class(n) == "bony", n
    for n in ("R.TH1", "L.SH3", "RTHI", "LTIB", "R.Biceps"):
        assert guess_marker_class(n) == "cluster", n
    assert guess_marker_class("R_HJC") == "joint_centre"
