"""The markerless baseline (``odahgen baseline``): triangulation, filtering, scoring, the
detector interface, the report section, and end to end on a rendered demo-sized trial."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from odahgen.baseline import (
    JOINT_KEYPOINT,
    JOINTS,
    SCORED_JOINTS,
    Detections2D,
    butterworth,
    get_detector,
    projection_matrix,
    register_detector,
    triangulate_dlt,
)
from odahgen.baseline.score import Pool, score_2d, score_3d
from odahgen.errors import OdahgenError
from odahgen.gt import load_trial
from odahgen.gt.evaluate import Prediction


def _cameras(gt, views=None):
    views = views or list(gt.cameras)
    P = np.stack([projection_matrix(gt.cameras[v].K, gt.cameras[v].R, gt.cameras[v].t) for v in views])
    pts = np.stack([gt.cameras[v].keypoints_2d for v in views])
    return P, pts


def _first_trial(dataset):
    return load_trial(sorted((dataset / "trials").glob("*/trial.h5"))[0])


# ----------------------------------------------------------------------------- triangulation


def test_triangulating_gt_keypoints_with_the_stored_cameras_returns_gt_3d(clean_dataset):
    gt = _first_trial(clean_dataset)
    P, pts = _cameras(gt)
    X = triangulate_dlt(pts, np.ones(pts.shape[:-1]), P)  # (T, 44, 3)
    err = np.linalg.norm(X - gt.keypoints_3d, axis=-1)
    assert X.shape == gt.keypoints_3d.shape and np.isfinite(err).all()
    assert err.max() < 1e-3  # < 1 mm


def test_detections_in_a_distorted_image_are_undistorted_before_the_dlt(dataset, tmp_path):
    """With a lens on (scene.cameras.lens_distortion), the detections are in the distorted
    image; the baseline undistorts them before its pinhole DLT. GT keypoints projected through a
    strong barrel lens (this trial's image is 128 x 96, its keypoints within 0.23 of the focal
    length from the centre) as the 'detections': the triangulated joints are the GT joints."""
    from odahgen.baseline.run import BaselineSettings, run_trial
    from odahgen.gt.schema import write_trial
    from odahgen.scene.cameras import undistort_pixels

    h5 = sorted((dataset / "trials").glob("*/trial.h5"))[0]
    gt = load_trial(h5)
    lens = np.array([-1.5, 0.8, 0.002, -0.002, 0.0])
    for cam in gt.cameras.values():
        cam.distortion = lens
        cam.keypoints_2d = cam.project(gt.keypoints_3d)[0]
    write_trial(h5, gt)
    P, pts = _cameras(gt)
    off = np.nanmax(np.abs(pts - np.stack([undistort_pixels(c.K, lens, c.keypoints_2d) for c in gt.cameras.values()])))
    assert off > 1.0  # the lens moves the keypoints by pixels
    res = run_trial(h5, tmp_path / "out", None, BaselineSettings(detector="gt", ik_workers=1, cutoff_hz=0.0))
    assert res["reprojection_error_px"] < 0.05, res["reprojection_error_px"]
    from odahgen.baseline import JOINT_MARKER
    from odahgen.io.mocap import read_trc

    with pytest.warns(UserWarning):  # the joints without a GT keypoint are all NaN
        trc = read_trc(tmp_path / "out" / "trials" / gt.meta.trial / "joints.trc", strict=False)
    names = list(gt.keypoint_names)
    err = [np.nanmax(np.linalg.norm(trc.positions[:, trc.names.index(JOINT_MARKER[j])] - gt.keypoints_3d[:, names.index(k)], axis=-1))
           for j, k in JOINT_KEYPOINT.items() if j in JOINT_MARKER]
    assert 1000 * np.max(err) < 1.0  # measured 1e-6 mm; 50 mm when the detections are not undistorted


def test_triangulation_weights_and_missing_views(clean_dataset):
    gt = _first_trial(clean_dataset)
    P, pts = _cameras(gt)
    conf = np.ones(pts.shape[:-1])
    noisy = pts.copy()
    noisy[1] += 5.0  # the second view off by 5 px
    conf_low = conf.copy()
    conf_low[1] = 0.1  # ... and trusted less: the result is nearer the first view's ray
    d_equal = np.linalg.norm(triangulate_dlt(noisy, conf, P, 0.05) - gt.keypoints_3d, axis=-1)
    d_weighted = np.linalg.norm(triangulate_dlt(noisy, conf_low, P, 0.05) - gt.keypoints_3d, axis=-1)
    assert np.median(d_weighted) < np.median(d_equal)
    # a joint below the confidence threshold in one of two views, or missing, is not triangulated
    conf_low[1, :, 0] = 0.01
    noisy[0, :, 1] = np.nan
    X = triangulate_dlt(noisy, conf_low, P, min_confidence=0.05)
    assert np.isnan(X[:, 0]).all() and np.isnan(X[:, 1]).all() and np.isfinite(X[:, 2:]).all()


def test_butterworth_low_pass_fills_short_gaps_only():
    fps, T = 60.0, 240
    t = np.arange(T) / fps
    clean = np.sin(2 * np.pi * 1.0 * t)
    x = clean + 0.05 * np.sin(2 * np.pi * 25.0 * t)  # 25 Hz ripple, far above the 6 Hz cut-off
    x[50:55] = np.nan  # a 5-frame gap: filled
    x[120:150] = np.nan  # a 30-frame gap: stays missing
    y = butterworth(x[:, None, None], fps)[:, 0, 0]
    assert np.isnan(y[120:150]).all() and np.isfinite(y[:120]).all() and np.isfinite(y[150:]).all()
    inner = np.r_[20:45, 60:100, 170:220]  # away from the ends of each stretch and the filled gap
    assert np.abs(y[inner] - clean[inner]).max() < 0.01
    assert np.abs(x[inner] - clean[inner]).max() > 0.04
    # a stretch too short for the filter is kept as it is; a cut-off above Nyquist leaves the data
    short = np.array([0.0, 1.0, 0.0, 1.0])
    assert np.allclose(butterworth(short, fps), short)
    assert np.allclose(butterworth(clean, fps, cutoff_hz=40.0), clean)


# ----------------------------------------------------------------------------- scores


def _gt_detections(gt, view):
    names = list(gt.keypoint_names)
    kps = np.full((gt.n_frames, len(JOINTS), 2), np.nan)
    for k, j in enumerate(JOINTS):
        if j in JOINT_KEYPOINT:
            kps[:, k] = gt.cameras[view].keypoints_2d[:, names.index(JOINT_KEYPOINT[j])]
    return Detections2D(kps, np.ones(kps.shape[:2]), np.ones(gt.n_frames, bool))


def test_scores_of_the_ground_truth_against_itself_are_zero(clean_dataset):
    gt = _first_trial(clean_dataset)
    names = list(gt.keypoint_names)
    joints = gt.keypoints_3d[:, [names.index(JOINT_KEYPOINT.get(j, "pelvis_com")) for j in JOINTS]]
    pool = Pool()
    s = score_3d(Prediction(gt.joint_angles, gt.segment_scales, gt.keypoints_3d), gt, joints, pool)
    assert s["angle_mae_deg"] == 0 and s["pa_mpjpe_mm"] < 1e-6 and s["pa_mpjve_mm_s"] < 1e-6
    assert set(s["angle_mae_deg_per_coordinate"].values()) == {0.0}
    assert max(s["angle_mae_deg_per_group"].values()) == 0
    assert s["triangulated_error_mm"] == 0 and set(s["triangulated_error_mm_per_joint"]) == set(SCORED_JOINTS)
    for view in gt.cameras:
        s2 = score_2d(_gt_detections(gt, view), gt.cameras[view], gt.keypoint_names, view, pool)
        assert s2["detection_rate"] == 1 and s2["error_px"] == 0 and s2["pck"] == 1
    # a frame without a detection is a miss in PCK and left out of the pixel error
    det = _gt_detections(gt, "front")
    det.keypoints[:16] = np.nan
    det.detected[:16] = False
    s2 = score_2d(det, gt.cameras["front"], gt.keypoint_names)
    assert s2["detection_rate"] == pytest.approx(1 - 16 / gt.n_frames) and s2["error_px"] == 0
    assert s2["pck"] < 1


def test_detector_registry_and_plugins(monkeypatch):
    import odahgen.baseline.detector as detector_module

    monkeypatch.setattr(detector_module, "_REGISTRY", dict(detector_module._REGISTRY))  # left as it was
    with pytest.raises(OdahgenError, match="unknown detector 'nope'.*blazepose"):
        get_detector("nope")

    class Still:
        name = "still"

        def detect(self, frames):
            n = sum(1 for _ in frames)
            return Detections2D(np.zeros((n, len(JOINTS), 2)), np.ones((n, len(JOINTS))), np.ones(n, bool))

    register_detector("still", Still)
    det = get_detector("still").detect(np.zeros((5, 8, 8, 3), np.uint8))
    assert det.n_frames == 5 and det.detection_rate == 1.0

    class EntryPoint:  # what an installed package declares under "odahgen.detectors"
        def __init__(self, value, obj):
            self.value, self._obj = value, obj

        def load(self):
            if isinstance(self._obj, Exception):
                raise self._obj
            return self._obj

    plugins = {"still2": EntryPoint("pkg:Still", Still), "broken": EntryPoint("pkg:Gone", ImportError("no pkg"))}
    monkeypatch.setattr(detector_module, "_plugins", lambda: plugins)
    assert {"blazepose", "still2", "broken"} <= set(detector_module.detector_names())
    assert get_detector("still2").name == "still"
    with pytest.raises(OdahgenError, match="detector 'broken' .pkg:Gone.: cannot load: ImportError: no pkg"):
        get_detector("broken")


def test_bad_input_is_a_one_line_error(tmp_path, clean_dataset):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "odahgen.cli", "baseline", *map(str, args)],
                              capture_output=True, text=True, timeout=120)

    proc = run(tmp_path / "nothing")
    assert proc.returncode != 0 and "no such dataset folder" in proc.stderr and len(proc.stderr.splitlines()) == 1
    proc = run(clean_dataset, "--views", "front")
    assert proc.returncode != 0 and "two views or more" in proc.stderr
    proc = run(clean_dataset, "--views", "front,top", "-o", tmp_path / "out")
    assert proc.returncode != 0 and "no view 'top'" in proc.stderr and "trial.h5" in proc.stderr
    proc = run(clean_dataset, "--detector", "nope", "-o", tmp_path / "out")
    assert proc.returncode != 0 and "unknown detector 'nope'" in proc.stderr
    proc = run(clean_dataset, "--min-detection-rate", "2")
    assert proc.returncode == 2 and "between 0 and 1" in proc.stderr


def test_report_shows_the_baseline_section_when_its_scores_exist(dataset):
    from odahgen.gt.report import build_report

    html = build_report(dataset).read_text()
    assert "Markerless baseline" not in html
    doc = {"detector": "blazepose", "reference": {"source": "ODAH paper (Lin et al., CVPRW 2024), Table 1",
                                                  "angle_mae_deg": {"Pose2Sim": 10.48, "OpenCap": 11.14}},
           "order": {"joints": ["r_knee", "l_knee"], "groups": ["hip", "knee"]},
           "dataset": {"trials": 2, "trials_scored": 2, "frames": 128, "angle_mae_deg": 14.2, "pa_mpjpe_mm": 40.1,
                       "pa_mpjve_mm_s": 300.0, "triangulated_error_mm": 35.0,
                       "angle_mae_deg_per_group": {"knee": 9.0, "hip": 12.0},
                       "views": {"front": {"detection_rate": 0.5, "error_px": 3.0, "pck": 0.7,
                                           "pck_per_joint": {"l_knee": 0.8, "r_knee": 0.6}}},
                       "render_flagged": ["s01_walk"]},
           "trials": [{"trial": "s01_walk", "render_flag_reason": "person detected in 50% of the front frames"}]}
    (dataset / "baseline").mkdir()
    (dataset / "baseline" / "baseline.json").write_text(json.dumps(doc))
    html = build_report(dataset).read_text()
    assert "Markerless baseline" in html and "Pose2Sim 10.48, OpenCap 11.14" in html and "14.20" in html
    assert "person detected in 50% of the front frames" in html


# ----------------------------------------------------------------------------- rendered


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, blender_python):
    """One demo-sized trial (walk, 72 frames, 240 x 160, Workbench) through the real pipeline."""
    out = tmp_path_factory.mktemp("baseline") / "demo"
    cmd = [sys.executable, "-m", "odahgen.cli", "demo", "-o", str(out), "--set", "dataset.subjects=1",
           "--set", "motion.motions=['walk_normal']"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return out


def _baseline(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "odahgen.cli", "baseline", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.blender
def test_blazepose_finds_the_rendered_person_near_the_gt_keypoints(rendered):
    from odahgen.baseline.run import detect_view

    gt = _first_trial(rendered)
    h5 = sorted((rendered / "trials").glob("*/trial.h5"))[0]
    detector = get_detector("blazepose")
    for view, cam in gt.cameras.items():
        det = detect_view(detector, h5.parent / gt.videos[view].path, gt.n_frames)
        assert det.detection_rate > 0.9, view
        s = score_2d(det, cam, gt.keypoint_names, view)
        # at 240 x 160 the torso is ~30 px tall: joints land within a few pixels of the keypoints
        assert s["error_px"] < 6.0 and s["pck"] > 0.3, (view, s["error_px"], s["pck"])
        for j in ("r_knee", "l_knee", "r_shoulder", "l_shoulder"):
            assert s["error_px_per_joint"][j] < 6.0, (view, j, s["error_px_per_joint"][j])


@pytest.mark.slow
@pytest.mark.blender
def test_baseline_end_to_end_on_a_rendered_trial(rendered, tmp_path):
    proc = _baseline(rendered)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "joint-angle MAE" in proc.stdout and "Pose2Sim 10.48" in proc.stdout
    doc = json.loads((rendered / "baseline" / "baseline.json").read_text())
    d = doc["dataset"]
    assert d["trials_scored"] == 1 and not d["failed"] and not d["render_flagged"]
    for key in ("angle_mae_deg", "pa_mpjpe_mm", "pa_mpjve_mm_s", "triangulated_error_mm"):
        assert np.isfinite(d[key]), key
    assert 2.0 < d["angle_mae_deg"] < 40.0 and 5.0 < d["pa_mpjpe_mm"] < 120.0
    assert d["triangulated_error_mm"] < 120.0
    for view in ("front", "side"):
        assert d["views"][view]["detection_rate"] > 0.9 and d["views"][view]["pck"] > 0.3
    # the predictions are what `odahgen eval` scores, with the same numbers
    ev = subprocess.run([sys.executable, "-m", "odahgen.cli", "eval", str(rendered / "baseline" / "predictions"),
                         str(rendered), "--json", str(tmp_path / "eval.json")], capture_output=True, text=True)
    assert ev.returncode == 0, ev.stderr
    assert json.loads((tmp_path / "eval.json").read_text())["dataset"]["angle_mae_deg"] == pytest.approx(
        d["angle_mae_deg"])
    # the report shows it
    from odahgen.gt.report import build_report

    assert "Markerless baseline" in build_report(rendered, tmp_path / "r.html").read_text()
    # the ground-truth 2D keypoints as detections: the ceiling of triangulation + IK
    proc = _baseline(rendered, "--detector", "gt", "-o", tmp_path / "gt")
    assert proc.returncode == 0, proc.stderr[-2000:]
    g = json.loads((tmp_path / "gt" / "baseline.json").read_text())["dataset"]
    assert g["triangulated_error_mm"] < 5.0 and g["views"]["front"]["pck"] == 1.0
    assert g["angle_mae_deg"] < d["angle_mae_deg"] and g["pa_mpjpe_mm"] < 30.0
    lower = [g["angle_mae_deg_per_group"][k] for k in ("hip", "knee", "pelvis", "lumbar")]
    assert max(lower) < 8.0, g["angle_mae_deg_per_group"]
    # ... with the trial's own scaled model (no scaling from the detections)
    proc = _baseline(rendered, "--detector", "gt", "--model", "trial", "-o", tmp_path / "gt_trial")
    assert proc.returncode == 0, proc.stderr[-2000:]
    t = json.loads((tmp_path / "gt_trial" / "baseline.json").read_text())
    assert t["settings"]["model"] == "trial" and np.isfinite(t["dataset"]["angle_mae_deg"])


@pytest.mark.slow
@pytest.mark.blender
def test_detector_qa_gate_flags_trials_where_the_person_is_lost(rendered, tmp_path, monkeypatch):
    """A plugged-in detector that loses the person in two frames of three: the gate flags it."""
    import odahgen.baseline.detector as detector_module
    from odahgen.baseline import BaselineSettings, run_baseline
    from odahgen.baseline.detector import BlazePoseDetector

    monkeypatch.setattr(detector_module, "_REGISTRY", dict(detector_module._REGISTRY))
    class Flaky(BlazePoseDetector):
        name = "flaky"

        def detect(self, frames):
            det = super().detect(frames)
            lost = np.arange(det.n_frames) % 3 != 0
            det.keypoints[lost] = np.nan
            det.confidence[lost] = 0.0
            det.detected[lost] = False
            return det

    register_detector("flaky", Flaky)
    settings = BaselineSettings(detector="flaky", min_detection_rate=0.5)
    doc = run_baseline(rendered, tmp_path / "flaky", settings)
    t = doc["trials"][0]
    assert t["render_flag"] and "person detected in 33% of the front frames" in t["render_flag_reason"]
    assert doc["dataset"]["render_flagged"] == [t["trial"]]
    # the gaps of 2 frames are filled before filtering: the trial is still scored
    assert t["status"] == "ok" and np.isfinite(t["angle_mae_deg"])
