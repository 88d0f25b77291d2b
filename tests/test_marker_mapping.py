"""Automatic marker mapping (odahgen.skeleton.mapping) and the vertical axis, end to end.

TRC files are written with the naming conventions labs use (Gait2354, Plug-in Gait, CMU /
MoSh, OpenCap ``_study``), from markers moved by FK of the built-in model (scaled by 1.06)
along the procedural walk: landmarks where the convention's role puts them on the model, the
convention's technical markers (wands, thigh/shank clusters, head band) as points rigidly
attached to their segment. Millimetres, 2 mm noise, some Z up and walking along another
heading. ``odahgen ik`` (in process) must find the expected mapping, fit the markers to
<= 2 cm RMS and give back the generating joint angles.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from odahgen.errors import OdahgenError
from odahgen.io.mocap import MarkerData, detect_up_axis, to_y_up, write_trc
from odahgen.testing.conventions import CASES, CMU, GAIT2354, OPENCAP, PIG
from odahgen.testing.conventions import convention_markers as _markers
from odahgen.skeleton.mapping import (ALIASES, CONVENTIONS, ROLES, builtin_marker, detect_convention, label_role,
                                      map_markers)
from odahgen.skeleton.markers import MARKER_NAMES
from odahgen.skeleton.names import COORDINATE_NAMES

FRAMES = 150  # 2.5 s of the procedural walk at 60 fps
SCALE = 1.06
#: coordinates that the markers of every convention here determine (the pelvis orientation
#: is left out: it depends on the heading the data are turned to)
WELL_DETERMINED = ["hip_flexion_r", "hip_flexion_l", "hip_adduction_r", "hip_adduction_l", "knee_angle_r",
                   "knee_angle_l", "ankle_angle_r", "ankle_angle_l", "lumbar_extension", "lumbar_bending"]


@pytest.fixture(scope="module")
def walk():
    """(scaled built-in tree, generating angles (FRAMES, 39) rad)."""
    from odahgen.motion import get_source
    from odahgen.skeleton import load_tree
    from odahgen.skeleton.scale import scaled_tree

    tree = load_tree("builtin")
    st = scaled_tree(tree, np.full((len(tree.body_names), 3), SCALE))
    return st, get_source("procedural").load("walk_normal").coordinates[:FRAMES]


def _run(tmp_path, data: MarkerData, name: str, **kw):
    from odahgen.cli.skeleton import run_ik_command

    trc = write_trc(tmp_path / f"{name}.trc", data, units="mm")
    logs: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = run_ik_command(str(trc), str(tmp_path / name), workers=1, log=logs.append, **kw)
    import h5py

    with h5py.File(tmp_path / name / "kinematics.h5") as h:
        angles = h["angles"][()]
    return s, angles, logs, [str(w.message) for w in caught]


def _angle_errors(angles, truth) -> dict[str, float]:
    return {n: float(np.degrees(np.abs(angles[:, COORDINATE_NAMES.index(n)] - truth[:, COORDINATE_NAMES.index(n)])).mean())
            for n in WELL_DETERMINED}


# ------------------------------------------------------------------------------------------ names
@pytest.mark.parametrize("label", ["R.ASIS", "r_asis", "RASIS", "R ASIS", "RightASIS", "Right_ASIS", "ASIS_R", "asis.r",
                                   "RASI", "r.ASIS_study", "Subject01:RASI", "RFWT", "R-ASIS", "right asis"])
def test_labels_are_case_separator_and_side_insensitive(label):
    assert label_role(label) == ("ASIS", "r"), label
    left = label.replace("R", "L").replace("r", "l").replace("Light", "Left").replace("light", "left")
    assert label_role(left) == ("ASIS", "l"), left


@pytest.mark.parametrize("label,role", [("V.Sacral", ("SACRUM", "")), ("S2", ("SACRUM", "")), ("SACR", ("SACRUM", "")),
                                        ("C7_study", ("C7", "")), ("Top.Head", ("HEADTOP", "")), ("T10", ("T10", "")),
                                        ("STRN", ("STRN", "")), ("ARIEL", ("HEADTOP", "")), ("LKNI", ("MED_KNEE", "l")),
                                        ("r_mknee_study", ("MED_KNEE", "r")), ("R.Ankle.Med", ("MED_ANKLE", "r")),
                                        ("L_5meta_study", ("MT5", "l")), ("RTHI", None), ("R.Thigh.Front", None),
                                        ("r_sh2_study", None), ("Clavicle_R", None), ("Knee", None)])
def test_roles_of_common_labels(label, role):
    assert label_role(label) == role


def test_role_table_is_consistent_with_the_builtin_marker_set():
    for role, r in ROLES.items():
        for side in (("r", "l") if r.sided else ("",)):
            m = builtin_marker(role, side)
            assert m is None or m in MARKER_NAMES, (role, m)
            for f in r.fallback:
                assert f in ROLES
    # the built-in names read as themselves
    mm = map_markers(list(MARKER_NAMES), list(MARKER_NAMES))
    assert mm.convention == "odahgen" and mm.model == {n: n for n in MARKER_NAMES} and not mm.clusters
    assert set(ALIASES) == set(CONVENTIONS)


@pytest.mark.parametrize("conv", list(CASES))
def test_conventions_are_detected_and_mapped(conv):
    spec = CASES[conv][0]
    mm = map_markers(list(spec), list(MARKER_NAMES))
    assert mm.convention == conv, (conv, mm.counts)
    expected = {lb: src for lb, src in spec.items() if isinstance(src, str)}
    assert mm.model == expected
    assert set(mm.clusters) == {lb for lb, src in spec.items() if not isinstance(src, str)}
    assert detect_convention(list(spec))[0] == conv


def test_same_name_read_in_the_data_convention():
    """Plug-in Gait's LTOE is the forefoot marker, not odahgen's toe tip of the same name; with
    LMT1 in the data (CMU) the 1st metatarsal head is LMT1's and the toe marker is a cluster."""
    pig = map_markers(["LASI", "RASI", "LKNE", "LANK", "LHEE", "LTOE", "RTOE"], list(MARKER_NAMES))
    assert pig.model["LTOE"] == "LMT1" and pig.how["LTOE"] == "stand-in"
    cmu = map_markers(["LFWT", "RFWT", "LKNE", "LANK", "LHEE", "LTOE", "LMT1"], list(MARKER_NAMES))
    assert cmu.model["LMT1"] == "LMT1" and "LTOE" in cmu.clusters
    own = map_markers(["RLFC", "RLMAL", "RCAL", "RTOE", "RMT1"], list(MARKER_NAMES))
    assert own.model["RTOE"] == "RTOE" and own.how["RTOE"] == "name"


def test_map_overrides_single_labels_and_unknown_targets_warn():
    labels = ["R.ASIS", "L.ASIS", "V.Sacral", "R.Knee.Lat", "Mystery", "R.Heel"]
    mm = map_markers(labels, list(MARKER_NAMES), {"Mystery": "RTTB", "R.Heel": "-", "R.Knee.Lat": "cluster"})
    assert mm.model["Mystery"] == "RTTB" and mm.how["Mystery"] == "map"
    assert mm.ignored == ["R.Heel"] and "R.Knee.Lat" in mm.clusters and mm.model["R.ASIS"] == "RASI"
    with pytest.warns(UserWarning, match="no marker 'NOPE'"):
        mm = map_markers(labels, list(MARKER_NAMES), {"R.ASIS": "NOPE"})
    assert mm.model["R.ASIS"] == "RASI"


def test_markers_without_samples_are_dropped_by_match_markers():
    from odahgen.skeleton import load_tree
    from odahgen.skeleton.ik import match_markers

    tree = load_tree("builtin")
    pos = np.ones((4, 4, 3))
    pos[:, 3] = np.nan
    with pytest.warns(UserWarning, match="no valid sample: R.Knee.Lat"):
        sub, idx = match_markers(tree, MarkerData(["R.ASIS", "L.ASIS", "V.Sacral", "R.Knee.Lat"], pos, 60.0))
    assert sub.names == ["RASI", "LASI", "SACR"] and [tree.marker_names[i] for i in idx] == sub.names
    with pytest.raises(OdahgenError, match="only 2 of 3"), pytest.warns(UserWarning, match="lacks: Foo"):
        match_markers(tree, MarkerData(["R.ASIS", "L.ASIS", "Foo"], np.ones((2, 3, 3)), 60.0))


# ------------------------------------------------------------------------------------------ up axis
@pytest.mark.parametrize("up", ["y", "z", "-z", "x"])
def test_up_axis_detected_from_landmark_roles(walk, up):
    from odahgen.skeleton.mapping import orient_markers, role_levels

    tree, angles = walk
    d = _markers(tree, angles[:30], PIG, up=up, yaw=1.0)
    got, reason, sure = detect_up_axis(d, role_levels(d.names))
    assert (got, sure) == (up, True) and "head above pelvis" in reason
    back, _st, got2, _r = orient_markers(d, "auto")
    assert got2 == up
    np.testing.assert_allclose(back.positions, _markers(tree, angles[:30], PIG, yaw=1.0).positions, atol=1e-9)


def test_up_axis_without_landmarks_falls_back():
    rng = np.random.default_rng(1)
    d = MarkerData(["a", "b", "c"], rng.normal(0, 0.3, (20, 3, 3)), 60.0)
    assert detect_up_axis(d, {}, default="z")[::2] == ("z", False)
    tall = np.zeros((5, 4, 3))
    tall[:, :, 2] = [0.05, 0.5, 1.0, 1.7]  # a column of markers 1.65 m tall along Z, floor at 0
    tall[:, :, 0] = [0.0, 0.1, 0.0, 0.05]
    assert detect_up_axis(MarkerData(list("abcd"), tall, 60.0))[::2] == ("z", True)
    with pytest.raises(OdahgenError, match="vertical axis"):
        to_y_up(d, "up")


# ------------------------------------------------------------------------------------------ end to end
@pytest.mark.parametrize("conv", list(CASES))
def test_ik_on_each_convention(tmp_path, walk, conv):
    tree, angles = walk
    spec, up, yaw = CASES[conv]
    s, ik_angles, logs, warns = _run(tmp_path, _markers(tree, angles, spec, up=up, yaw=yaw), conv)
    mp = s["marker_mapping"]
    assert mp["convention"] == conv
    assert mp["matched"] == {lb: src for lb, src in spec.items() if isinstance(src, str)}
    clusters = {lb: src[0] for lb, src in spec.items() if not isinstance(src, str)}
    assert mp["clusters"] == clusters  # each on the segment it was attached to
    assert s["up"] == up and (up == "y" or "head above pelvis" in s["up_reason"])
    assert any(ln.startswith("marker mapping (") for ln in logs) and any(ln.startswith("vertical axis: ") for ln in logs)
    assert s["marker_rms_mean_m"] <= 0.02, s["marker_rms_mean_m"]
    err = _angle_errors(ik_angles, angles)
    assert max(err.values()) < 3.0, err
    saved = json.loads((tmp_path / conv / "summary.json").read_text())
    assert saved["marker_mapping"] == mp and saved["up"] == up
    assert not [w for w in warns if "no valid sample" in w]
    heads = {"gait2354": {"HEADTOP"}, "pig": {"LFHD", "RFHD", "LBHD", "RBHD"},  # model names
             "cmu": {"HEADTOP", "LFHD", "RFHD", "LBHD", "RBHD"}, "opencap": set()}[conv]
    assert set(saved["head_markers"]) == heads, saved["head_markers"]  # reported apart, low weight
    assert (saved["head_max_m"] is None) == (not heads)


def test_arbitrary_cluster_names_are_placed_on_their_segments(tmp_path, walk):
    tree, angles = walk
    spec = dict(GAIT2354)
    extra = {"blob_7": ("femur_r", (0.05, -0.18, 0.06)), "Trk-A": ("femur_r", (-0.02, -0.3, 0.07)),
             "zz99": ("tibia_r", (0.03, -0.25, 0.05)), "shin.thing": ("tibia_l", (0.04, -0.15, -0.05)),
             "QQ": ("femur_l", (0.06, -0.2, -0.06))}
    s, ik_angles, _logs, warns = _run(tmp_path, _markers(tree, angles, {**spec, **extra}, up="z", yaw=-0.5), "clusters")
    assert not [w for w in warns if "ignoring" in w], warns
    cl = s["marker_mapping"]["clusters"]
    assert {k: cl[k] for k in extra} == {k: v[0] for k, v in extra.items()}
    assert s["marker_rms_mean_m"] <= 0.02 and s["up"] == "z"
    assert max(_angle_errors(ik_angles, angles).values()) < 3.0
    import h5py

    with h5py.File(tmp_path / "clusters" / "kinematics.h5") as h:
        names = [n.decode() if isinstance(n, bytes) else n for n in h["marker_errors"].attrs["names"]]
        err = h["marker_errors"][()]
    for k in extra:  # a rigid cluster placed from the data is followed to a few mm
        assert np.nanmean(err[:, names.index(k)]) < 0.006, (k, np.nanmean(err[:, names.index(k)]))


def test_scaling_says_labels_without_a_landmark_become_clusters(walk):
    """Scaling uses landmarks only; it warns once that the other labels go to IK as clusters
    (it used to say they were ignored, twice)."""
    from odahgen.skeleton import load_tree
    from odahgen.skeleton.scale import scale_subject

    tree, angles = walk
    data = _markers(tree, angles[:20], {**dict(GAIT2354), "blob_7": ("femur_r", (0.05, -0.18, 0.06))}, up="y")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scale_subject(load_tree("builtin"), data)
    said = [str(w.message) for w in caught if "R.Thigh.Upper" in str(w.message)]  # a thigh wand
    assert len(said) == 1 and "17 markers without one are placed as clusters for IK" in said[0], said


def test_marker_missing_in_every_frame_is_dropped(tmp_path, walk):
    tree, angles = walk
    d = _markers(tree, angles, OPENCAP)
    for lb in ("r_mknee_study", "L_thigh2_study"):  # a landmark and a cluster, never seen
        d.positions[:, d.names.index(lb)] = np.nan
    s, ik_angles, _logs, warns = _run(tmp_path, d, "missing")
    mp = s["marker_mapping"]
    assert set(mp["dropped"]) == {"r_mknee_study", "L_thigh2_study"}
    assert "r_mknee_study" not in mp["matched"] and "L_thigh2_study" not in mp["clusters"]
    assert "r_mknee_study" not in s["markers_used"] and "RMFC" not in s["markers_used"]
    assert any("r_mknee_study" in w and "no valid sample" in w for w in warns)
    assert s["marker_rms_mean_m"] <= 0.02 and max(_angle_errors(ik_angles, angles).values()) < 3.0


def test_map_file_overrides_entries(tmp_path, walk):
    tree, angles = walk
    spec = dict(PIG)
    spec["KneeThing"] = "RMFC"  # a name no convention knows, at the right medial epicondyle
    mp = tmp_path / "map.txt"
    mp.write_text("# label model_marker\nKneeThing RMFC\nRBAK -\nLTHI cluster\n")
    s, ik_angles, logs, _w = _run(tmp_path, _markers(tree, angles, spec, up="z"), "mapped", map_path=str(mp))
    m = s["marker_mapping"]
    assert m["matched"]["KneeThing"] == "RMFC" and m["how"]["KneeThing"] == "map"
    assert m["ignored"] == ["RBAK"] and "RBAK" not in s["markers_used"] and m["clusters"]["LTHI"] == "femur_l"
    assert m["matched"]["LKNE"] == "LLFC" and m["how"]["LKNE"] == "role"  # the rest stays automatic
    assert any("KneeThing=RMFC (map)" in ln for ln in logs)
    assert s["marker_rms_mean_m"] <= 0.02 and max(_angle_errors(ik_angles, angles).values()) < 3.0


def test_up_option_and_the_command_line(tmp_path, walk, capsys):
    from odahgen.cli import main

    tree, angles = walk
    trc = write_trc(tmp_path / "pig.trc", _markers(tree, angles[:60], PIG, up="z"), units="mm")
    assert main(["ik", str(trc), "-o", str(tmp_path / "out"), "--up", "z", "--workers", "1"]) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["up"] == "z" and s["up_reason"] == "given" and s["marker_rms_mean_m"] <= 0.02
    err = capsys.readouterr().err
    assert "vertical axis: Z" in err and "marker mapping (Vicon Plug-in Gait names)" in err


def test_run_ik_and_the_trc_motion_source_map_and_orient(tmp_path, walk):
    """The pipeline's way in: the TRC source turns the file Y up, run_ik maps the labels."""
    from odahgen.motion import get_source
    from odahgen.skeleton.ik import run_ik
    from odahgen.skeleton.model import build_default_model

    tree, angles = walk
    trc = write_trc(tmp_path / "walk.trc", _markers(tree, angles[:90], CMU, up="z", yaw=0.4), units="mm")
    m = get_source("trc", path=trc).load("walk")
    assert m.meta["up"] == "z" and m.marker_names == tuple(CMU)
    truth = _markers(tree, angles[:90], CMU, yaw=0.4)
    np.testing.assert_allclose(m.markers, truth.positions, atol=2e-6)  # written in mm, 6 decimals
    model = build_default_model(tmp_path / "builtin.osim")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_ik(model, MarkerData(list(m.marker_names), m.markers, m.fps), workers=1)
    assert res.info["marker_mapping"]["convention"] == "cmu" and res.info["up"] == "y"
    assert res.info["marker_mapping"]["clusters"]["LSHN"] == "tibia_l"
    assert float(np.mean(res.marker_rms)) < 0.02  # the unscaled model on a 1.06 subject


def test_clusters_seen_in_a_few_frames_are_placed_others_dropped(walk):
    from odahgen.skeleton.ik import landmark_poses
    from odahgen.skeleton.mapping import prepare_markers

    tree, angles = walk
    spec = {**PIG, "brief": ("tibia_r", (0.03, -0.25, 0.05)), "ghost": ("femur_l", (0.05, -0.2, -0.06))}
    d = _markers(tree, angles, spec, noise_m=0.0)
    d.positions[:, d.names.index("brief")][np.r_[:101, 103:FRAMES]] = np.nan  # seen in frames 101-102 only
    d.positions[:, d.names.index("ghost")][1:] = np.nan  # seen in frame 0 only, when the landmarks are not
    d.positions[0, [d.names.index(n) for n in d.names if n != "ghost"]] = np.nan
    with pytest.warns(UserWarning, match="dropping 1 clusters never seen with 3 matched markers: ghost"):
        t, out, mm, classes = prepare_markers(tree, d, landmark_poses)
    assert mm.cluster_body["brief"] == "tibia_r" and "ghost" not in mm.cluster_body
    assert "brief" in t.marker_names and "ghost" not in t.marker_names and "ghost" not in out.names
    k = t.marker_names.index("brief")
    np.testing.assert_allclose(t.marker_loc[k], (0.03, -0.25, 0.05), atol=2e-3)  # the scaled tree's frame
    assert classes["brief"] == "cluster"
