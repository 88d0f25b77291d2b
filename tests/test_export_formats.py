"""Exports to other tools (issue 16): COCO keypoints (pycocotools loads them; every labelled
keypoint lies in its box; a hand behind the torso in the side view gets v = 1), Pose2Sim
(Calib.toml round trip: triangulating the GT 2D keypoints with the exported calibration
gives the GT 3D keypoints), OpenCap (its triangulation and frame rotation replayed on the
exported session give the GT), bad input."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from odahgen.errors import OdahgenError


@pytest.fixture(scope="module")
def coco_export(clean_dataset, tmp_path_factory):
    from odahgen.export import export_coco

    out = tmp_path_factory.mktemp("coco")
    return out, export_coco(clean_dataset, out, every=4)


def test_coco_export_loads_in_pycocotools_and_keypoints_lie_in_their_box(clean_dataset, coco_export):
    from pycocotools.coco import COCO

    from odahgen.gt import load_trial

    out, manifest = coco_export
    splits = json.loads((clean_dataset / "splits.json").read_text())["trials"]
    n_checked = 0
    for split, trials in splits.items():
        coco = COCO(str(out / "annotations" / f"person_keypoints_{split}.json"))
        cat = coco.loadCats(coco.getCatIds())[0]
        assert len(cat["keypoints"]) == 52 and cat["keypoints"][17] == "sternum" and cat["skeleton"]
        anns = coco.loadAnns(coco.getAnnIds())
        # 64 frames every 4th -> 16 per view, two views per trial
        assert len(coco.getImgIds()) == len(anns) == 16 * 2 * len(trials)
        for ann in anns:
            img = coco.loadImgs(ann["image_id"])[0]
            assert (out / "images" / img["file_name"]).is_file()
            k = np.asarray(ann["keypoints"], float).reshape(-1, 3)
            x, y, w, h = ann["bbox"]
            inside = (k[:, 0] >= x - 1e-6) & (k[:, 0] <= x + w + 1e-6) & (k[:, 1] >= y - 1e-6) & (k[:, 1] <= y + h + 1e-6)
            assert np.all(inside | (k[:, 2] == 0))
            assert set(np.unique(k[:, 2])) <= {0, 1, 2} and ann["num_keypoints"] == int((k[:, 2] > 0).sum())
            # the GT 2D point where labelled
            gt = load_trial(clean_dataset / "trials" / img["trial"] / "trial.h5")
            cam = gt.cameras[img["view"]]
            nose = cam.coco_2d[img["frame_number"], 0]
            if k[0, 2] > 0:
                assert np.allclose(k[0, :2], nose, atol=0.006)
            n_checked += 1
    assert n_checked > 0
    # the synthetic markers map by name; the spine markers odahgen lacks are never labelled
    names = [kp["name"] for kp in manifest["keypoints"]]
    assert manifest["keypoints"][names.index("sternum")]["source"] == "marker:STRN"
    assert all(set(v) >= {"L2", "T11", "T6"} for v in manifest["missing_keypoints"].values())
    from PIL import Image

    img = Image.open(next((out / "images").rglob("*.jpg")))
    assert img.size == (128, 96)
    assert "swap='right_eye'" in (out / "mmpose_metainfo.py").read_text()


def _box(lo, hi):
    """(8, 3) vertices and (12, 3) faces (wound outwards, as body meshes are: the depth
    pass culls back faces) of an axis-aligned box."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    v = np.array([[lo[0] if i & 1 == 0 else hi[0], lo[1] if i & 2 == 0 else hi[1],
                   lo[2] if i & 4 == 0 else hi[2]] for i in range(8)])
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    return v, f[:, ::-1].copy()


def test_a_hand_behind_the_torso_in_the_side_view_gets_v1(tmp_path):
    """The gt stage's path (build_trial_gt with the rasterised depth test) on a box torso and
    two box hands: from the side (camera at +Z, the subject's right) the left hand is behind
    the torso -> v = 1; from the front both hands are visible -> v = 2."""
    from odahgen.body.coco import COCO_NAMES
    from odahgen.export import export_coco
    from odahgen.gt import QARecord, TrialMeta, build_trial_gt, write_trial
    from odahgen.gt.schema import CocoKeypoints
    from odahgen.render.visibility import keypoint_visibility, person_masks
    from odahgen.scene.cameras import camera_dict, intrinsics, look_at
    from odahgen.testing.gt import write_trial_videos

    T, W, H = 2, 160, 128
    lw, rw = np.array([0.0, 1.0, -0.35]), np.array([0.0, 1.0, 0.35])
    parts = [_box((-0.15, 0.7, -0.2), (0.15, 1.3, 0.2)), _box(lw - 0.04, lw + 0.04), _box(rw - 0.04, rw + 0.04)]
    meshes = [(np.repeat(v[None], T, 0), f) for v, f in parts]
    cams = {}
    for name, pos in (("front", (3.0, 1.0, 0.0)), ("side", (0.0, 1.0, 3.0))):
        R, t = look_at(np.array(pos), np.array([0.0, 1.0, 0.0]))
        cams[name] = camera_dict(intrinsics(33.0, 36.0, W, H), R, t, W, H, 33.0, 36.0, "HORIZONTAL", name=name)
    coco = np.tile([0.0, 1.0, 0.0], (T, len(COCO_NAMES), 1))
    coco[:, COCO_NAMES.index("left_wrist")] = lw
    coco[:, COCO_NAMES.index("right_wrist")] = rw
    markers = np.tile([-0.15, 1.2, 0.0], (T, 1, 1))  # on the back
    skeleton = dict(angles=np.zeros((T, 39)), keypoints=np.tile([0.0, 1.0, 0.0], (T, 44, 1)), markers=markers,
                    marker_names=np.array(["STRN"]), ik_rms=np.zeros(T), ik_max=np.zeros(T),
                    flagged=np.zeros(T, bool), segment_scales=np.ones((22, 3)),
                    coordinate_ranges=np.tile([-3.0, 3.0], (39, 1)))
    fitted = dict(shape=np.zeros(6), pose=np.zeros((T, 6)), trans=np.zeros((T, 3)),
                  joint_err_mm=np.zeros(T), marker_err_mm=np.zeros(T))
    render = {"videos": {v: f"render/{v}.mp4" for v in cams}, "frames": {v: T for v in cams},
              "masks": {v: f"render/masks_{v}.npz" for v in cams}}
    meta = TrialMeta(trial="occl", subject="s01", motion="reach", fps=60.0)
    gt = build_trial_gt(meta, skeleton, fitted, "anny", {"cameras": list(cams.values())}, render,
                        visibility=lambda cam, pts, tol: keypoint_visibility(meshes, pts, cam, tol_m=tol),
                        masks=lambda name: person_masks(meshes, cams[name[len("masks_"):-len(".npz")]]),
                        video_fps=60.0, coco=CocoKeypoints(list(COCO_NAMES), coco, "boxes"))
    gt.qa = QARecord(passed=True)
    side, front = gt.cameras["side"], gt.cameras["front"]
    i_l, i_r = COCO_NAMES.index("left_wrist"), COCO_NAMES.index("right_wrist")
    assert not side.coco_visibility[:, i_l].any() and side.coco_visibility[:, i_r].all()
    assert front.coco_visibility[:, i_l].all() and front.coco_visibility[:, i_r].all()
    assert np.isfinite(side.bbox).all() and (side.bbox[:, 2:] > 0).all()

    ds = tmp_path / "ds"
    write_trial(ds / "trials" / "occl" / "trial.h5", gt)
    write_trial_videos(ds / "trials" / "occl", gt)
    (ds / "splits.json").write_text(json.dumps({"trials": {"train": ["occl"]}}))
    export_coco(ds, tmp_path / "coco")
    data = json.loads((tmp_path / "coco" / "annotations" / "person_keypoints_train.json").read_text())
    names = data["categories"][0]["keypoints"]
    for ann in data["annotations"]:
        view = next(i["view"] for i in data["images"] if i["id"] == ann["image_id"])
        v = np.asarray(ann["keypoints"]).reshape(-1, 3)[:, 2]
        assert v[names.index("left_wrist")] == (1 if view == "side" else 2)
        assert v[names.index("right_wrist")] == 2
        if view == "front":  # the "sternum" sits on the back here: hidden from the front
            assert v[names.index("sternum")] == 1


def test_pose2sim_calibration_round_trip(clean_dataset, tmp_path):
    from odahgen.export import export_pose2sim
    from odahgen.export.pose2sim import pose2sim_to_opensim, read_calib, triangulate
    from odahgen.gt import load_trial
    from odahgen.io.mocap import read_mot, read_trc

    out = tmp_path / "p2s"
    manifest = export_pose2sim(clean_dataset, out)
    assert manifest["trials"]
    for trial, info in manifest["trials"].items():
        gt = load_trial(clean_dataset / "trials" / trial / "trial.h5")
        root = out / trial
        raw = tomllib.loads((root / "calibration" / "Calib.toml").read_text())
        assert set(raw) == {"cam01_front", "cam02_side", "metadata"}
        for name, sec in raw.items():
            if name != "metadata":
                assert sec["name"] == name and sec["size"] == [128.0, 96.0] and sec["fisheye"] is False
                assert len(sec["rotation"]) == 3 and len(sec["translation"]) == 3 and len(sec["distortions"]) == 4
                assert (root / "videos" / f"{name}.mp4").is_file()
        cal = read_calib(root / "calibration" / "Calib.toml")
        names = sorted(cal)
        views = [info["cameras"][n] for n in names]
        for pts2d, pts3d in (([gt.cameras[v].keypoints_2d for v in views], gt.keypoints_3d),
                             ([gt.cameras[v].coco_2d for v in views], gt.coco.positions)):
            X = pose2sim_to_opensim(triangulate([cal[n] for n in names], pts2d))
            assert np.nanmax(np.linalg.norm(X - pts3d, axis=-1)) < 1e-6
        # the world of the calibration is Z up: OpenSim's Y (up) is its Z
        mk = read_trc(root / "gt" / f"{trial}_markers.trc", units="m")
        assert mk.names == list(gt.markers.names) and np.allclose(mk.positions, gt.markers.positions, atol=1e-6)
        cols, _, vals = read_mot(root / "gt" / f"{trial}.mot")
        i = cols.index("hip_flexion_r")
        assert np.allclose(np.radians(vals[:, i]), gt.joint_angles[:, i], atol=1e-8)
        # a Pose2Sim-style IK .mot scores with odahgen eval (columns by name, degrees)
        from odahgen.gt.evaluate import evaluate
        from odahgen.io.mocap import write_mot

        pred = tmp_path / "pred"
        keep = [c for c in cols if c != "lumbar_bending"]
        write_mot(pred / f"{trial}.mot", keep, np.arange(len(vals)) / 60.0 + 5.0,
                  vals[:, [cols.index(c) for c in keep]] + 1.0, in_degrees=True)
        res = evaluate(pred, clean_dataset / "trials" / trial / "trial.h5")
        assert abs(res["dataset"]["angle_mae_deg"] - 1.0) < 1e-6
        assert res["trials"][0]["missing"]["joint_angles"]


def test_opencap_session_replays_to_the_ground_truth(clean_dataset, tmp_path):
    """OpenCap's steps as its code reads: triangulate with the pickles (mm), metres, then for
    a back-wall board not upside down (first camera's rotation[1, 1] > 0) rotate 90 deg about
    y and 180 deg about z (scipy from_euler) -> the GT keypoints in OpenSim's frame."""
    import yaml
    from scipy.spatial.transform import Rotation

    from odahgen.export import export_opencap
    from odahgen.export.pose2sim import triangulate
    from odahgen.gt import load_trial

    out = tmp_path / "opencap"
    manifest = export_opencap(clean_dataset, out)
    for trial, info in manifest["trials"].items():
        gt = load_trial(clean_dataset / "trials" / trial / "trial.h5")
        meta = yaml.safe_load((out / trial / "sessionMetadata.yaml").read_text())
        assert meta["checkerBoard"]["placement"] == "backWall" and set(meta["iphoneModel"]) == set(info["cameras"])
        assert 1.5 < meta["height_m"] < 2.2 and meta["mass_kg"] > 30
        cams, pts = [], []
        for cam, view in sorted(info["cameras"].items()):
            d = pickle.loads((out / trial / "Videos" / cam / "cameraIntrinsicsExtrinsics.pickle").read_bytes())
            assert d["imageSize"].ravel().tolist() == [96.0, 128.0] and d["distortion"].shape == (1, 5)
            assert d["translation"].shape == (3, 1) and np.allclose(
                Rotation.from_rotvec(d["rotation_EulerAngles"].ravel()).as_matrix(), d["rotation"])
            if cam == "Cam0":
                assert d["rotation"][1, 1] > 0  # OpenCap's "checkerboard upside down" test says no
            cams.append({"K": d["intrinsicMat"], "R": d["rotation"], "t": d["translation"].ravel()})
            pts.append(gt.cameras[view].keypoints_2d)
            assert (out / trial / "Videos" / cam / "InputMedia" / trial / f"{trial}.mp4").is_file()
        X = triangulate(cams, pts) / 1000.0
        for axis, angle in (("y", 90), ("z", 180)):
            X = Rotation.from_euler(axis, angle, degrees=True).apply(X.reshape(-1, 3)).reshape(X.shape)
        assert np.abs(X - gt.keypoints_3d).max() < 1e-6
        assert (out / trial / "OpenSimData" / "Kinematics" / f"{trial}.mot").is_file()


def test_bad_input_is_one_line_and_writes_nothing(dataset, tmp_path):
    (dataset / "splits.json").unlink()
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "odahgen.cli", "export", "coco", str(dataset), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "splits.json" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()
    # a damaged trial file: the error names it, before any image is written
    from odahgen.export import export_coco

    (dataset / "splits.json").write_text(json.dumps({"trials": {"train": ["s01_walk_b0"]}}))
    h5 = dataset / "trials" / "s01_walk_b0" / "trial.h5"
    h5.write_bytes(h5.read_bytes()[:2000])
    with pytest.raises(OdahgenError, match="s01_walk_b0"):
        export_coco(dataset, out)
    assert not out.exists()
    with pytest.raises(OdahgenError, match="marker set"):
        from odahgen.export.common import keypoint_spec

        keypoint_spec(None, "some")
