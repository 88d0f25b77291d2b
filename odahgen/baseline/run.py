"""``odahgen baseline``: a classic markerless pipeline run on a generated dataset, scored
against its exact ground truth.

Per trial: a 2D detector on every frame of each view's video -> confidence-weighted DLT
with the trial's own cameras -> Butterworth low-pass -> a TRC of the 20 joints ->
``odahgen ik`` (the real command, in a subprocess: scaling the built-in model from the
detections, then IK) -> the metrics of ``odahgen eval`` and the 2D scores.

Output folder (default ``DATASET/baseline``)::

    baseline.json                    dataset and per-trial scores (what `odahgen report` shows)
    predictions/<trial>.npz          joint_angles, keypoints_3d, segment_scales (`odahgen eval` reads it)
    trials/<trial>/detections_<view>.npz, joints.trc, ik/ (scaled.osim, ik.mot, kinematics.h5, summary.json)
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from odahgen.baseline.detector import Detections2D, Detector, get_detector, video_frames
from odahgen.baseline.joints import JOINT_KEYPOINT, JOINT_MARKER, JOINTS, SCORED_JOINTS
from odahgen.baseline.score import (
    COORDINATE_GROUPS,
    COORDINATE_SUBSETS,
    PAPER_TABLE1_MAE_DEG,
    Pool,
    dataset_2d,
    dataset_3d_breakdown,
    score_2d,
    score_3d,
)
from odahgen.baseline.triangulate import butterworth, projection_matrix, reprojection_errors, triangulate_dlt
from odahgen.errors import OdahgenError
from odahgen.gt.dataset import check_dataset, trial_files
from odahgen.gt.evaluate import METRICS, Prediction, evaluate, to_json_safe
from odahgen.gt.schema import TrialGT, load_trial
from odahgen.io import atomic_write_json, save_arrays
from odahgen.scene.cameras import undistort_pixels
from odahgen.io.atomic import check_output_dir
from odahgen.io.mocap import MarkerData, write_trc

RESULT_FILE = "baseline.json"
MODEL_FROM_DETECTIONS, MODEL_FROM_TRIAL = "detections", "trial"
DEFAULT_OUT = "baseline"  # below the dataset folder; `odahgen report` looks there


@dataclass
class BaselineSettings:
    """``views``: views to use (empty: all the trial has); ``min_confidence``: a view's joint
    below it is left out of the triangulation; ``cutoff_hz``: low-pass cut-off (0 = none);
    ``min_detection_rate``: the QA gate, a trial whose detector finds the person in fewer
    frames of a view is flagged as a render problem (0 = gate off); ``ik_workers``: IK
    processes (0 = one per core); ``model``: :data:`MODEL_FROM_DETECTIONS` (the built-in
    model scaled from the triangulated joints, as on real video) or :data:`MODEL_FROM_TRIAL`
    (the trial's own ``scaled.osim``, unscaled: ground-truth anthropometry, for analysis)."""

    detector: str = "blazepose"
    views: list[str] = field(default_factory=list)
    min_confidence: float = 0.05
    cutoff_hz: float = 6.0
    min_detection_rate: float = 0.0
    ik_workers: int = 0
    model: str = "detections"


def _views(gt: TrialGT, path: Path, wanted: list[str]) -> list[str]:
    views = list(wanted) or [v for v in gt.cameras if v in gt.videos]
    for v in views:
        if v not in gt.cameras or v not in gt.videos:
            raise OdahgenError(f"{path}: no view {v!r} (camera and video; the trial has "
                               f"{', '.join(sorted(set(gt.cameras) & set(gt.videos))) or 'none'})")
    if len(views) < 2:
        raise OdahgenError(f"{path}: triangulation needs two views or more, got {len(views)} ({', '.join(views)})")
    return views


def detect_view(detector: Detector, video: Path, n_frames: int) -> Detections2D:
    """Detections of one video, cut or padded (no detection) to ``n_frames``."""
    det = detector.detect(video_frames(video))
    T, J = det.n_frames, len(JOINTS)
    if T == n_frames:
        return det
    if T == 0:
        raise OdahgenError(f"{video}: no frame could be read")
    pad = max(0, n_frames - T)
    return Detections2D(
        np.concatenate([det.keypoints[:n_frames], np.full((pad, J, 2), np.nan)]),
        np.concatenate([det.confidence[:n_frames], np.zeros((pad, J))]),
        np.concatenate([det.detected[:n_frames], np.zeros(pad, bool)]),
    )


#: ``--detector gt``: the trial's own ground-truth 2D keypoints as detections (every frame,
#: confidence 1; the hand points, which have no keypoint, missing): the ceiling of the
#: triangulation + IK half of the pipeline, without a detector's error.
GT_DETECTOR = "gt"


def gt_detections(gt: TrialGT, view: str) -> Detections2D:
    """Detections (T, J, 2) px from the ground-truth keypoints of ``view``."""
    cam = gt.cameras[view]
    names = list(gt.keypoint_names)
    T, J = gt.n_frames, len(JOINTS)
    kps = np.full((T, J, 2), np.nan)
    conf = np.zeros((T, J))
    for k, j in enumerate(JOINTS):
        if j in JOINT_KEYPOINT:
            kps[:, k] = cam.keypoints_2d[:, names.index(JOINT_KEYPOINT[j])]
            conf[:, k] = np.isfinite(kps[:, k]).all(axis=-1)
    return Detections2D(kps, conf, np.ones(T, bool))


def run_ik(trc: Path, outdir: Path, workers: int = 0, model: Path | None = None) -> dict[str, np.ndarray]:
    """``odahgen ik TRC -o OUTDIR --up y`` in a subprocess (with ``model``: ``--model MODEL
    --no-scale``); returns kinematics.h5's arrays (``angles`` (T, 39) rad, ``keypoints``
    (T, 44, 3) m, ``segment_scales`` (22, 3))."""
    import h5py

    cmd = [sys.executable, "-m", "odahgen.cli", "ik", str(trc), "-o", str(outdir), "--up", "y",
           "--workers", str(workers)]
    if model is not None:
        cmd += ["--model", str(model), "--no-scale"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        raise OdahgenError(f"{trc}: odahgen ik failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
    with h5py.File(outdir / "kinematics.h5", "r") as h:
        return {k: h[k][()] for k in ("angles", "keypoints", "segment_scales")}


def run_trial(h5: Path, out: Path, detector: Detector | None, settings: BaselineSettings,
              pool: Pool | None = None, log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """The whole baseline on one trial; writes ``out/trials/<trial>/`` and
    ``out/predictions/<trial>.npz``; returns the trial's scores (JSON-ready). ``detector``
    None: the ground-truth 2D keypoints stand in for detections (:data:`GT_DETECTOR`)."""
    t0 = time.perf_counter()
    gt = load_trial(h5)
    trial = gt.meta.trial
    views = _views(gt, h5, settings.views)
    model = None
    if settings.model == MODEL_FROM_TRIAL:
        model = h5.parent / (gt.model_file or "scaled.osim")
        if not model.is_file():
            raise OdahgenError(f"{h5}: no scaled model {model.name} in the trial folder (--model trial needs it)")
    elif settings.model != MODEL_FROM_DETECTIONS:
        raise OdahgenError(f"unknown model choice {settings.model!r} (detections or trial)")
    tdir = out / "trials" / trial
    tdir.mkdir(parents=True, exist_ok=True)
    T = gt.n_frames
    dets: dict[str, Detections2D] = {}
    for v in views:
        log(f"{trial}: detecting ({v})")
        if detector is None:
            dets[v] = gt_detections(gt, v)
        else:
            dets[v] = detect_view(detector, h5.parent / gt.videos[v].path, T)
        dets[v].save(tdir / f"detections_{v}.npz")
    t_det = time.perf_counter() - t0
    rates = {v: dets[v].detection_rate for v in views}
    result: dict[str, Any] = {"trial": trial, "n_frames": T, "motion": gt.meta.motion, "views": {},
                              "detection_rate": rates}
    flagged = [v for v in views if rates[v] < settings.min_detection_rate]
    result["render_flag"] = bool(flagged)
    if flagged:
        result["render_flag_reason"] = "; ".join(
            f"person detected in {100 * rates[v]:.0f}% of the {v} frames (< {100 * settings.min_detection_rate:.0f}%)"
            for v in flagged)
    for v in views:
        result["views"][v] = score_2d(dets[v], gt.cameras[v], gt.keypoint_names, v, pool)
    # triangulation and filtering
    P = np.stack([projection_matrix(gt.cameras[v].K, gt.cameras[v].R, gt.cameras[v].t) for v in views])
    # detections are in the rendered (possibly lens-distorted) image; the DLT is pinhole
    pts = np.stack([undistort_pixels(gt.cameras[v].K, gt.cameras[v].distortion, dets[v].keypoints) for v in views])
    conf = np.stack([dets[v].confidence for v in views])
    raw = triangulate_dlt(pts, conf, P, settings.min_confidence)  # (T, J, 3)
    reproj = reprojection_errors(raw, pts, P)
    result["reprojection_error_px"] = float(np.nanmean(reproj)) if np.isfinite(reproj).any() else float("nan")
    fps = gt.meta.fps
    joints3d = butterworth(raw, fps, settings.cutoff_hz) if settings.cutoff_hz > 0 else raw
    result["triangulated_fraction"] = float(np.isfinite(raw).all(axis=-1).mean())
    if not np.isfinite(joints3d).any():
        result.update(status="failed", error="no joint was triangulated (the person not found in two views)")
        return result
    trc = tdir / "joints.trc"
    write_trc(trc, MarkerData([JOINT_MARKER[j] for j in JOINTS], joints3d, fps))
    log(f"{trial}: scaling and IK")
    t1 = time.perf_counter()
    try:
        kin = run_ik(trc, tdir / "ik", settings.ik_workers, model)
    except OdahgenError as err:
        result.update(status="failed", error=str(err))
        return result
    t_ik = time.perf_counter() - t1
    if kin["angles"].shape != np.shape(gt.joint_angles):
        raise OdahgenError(f"{tdir / 'ik' / 'kinematics.h5'}: angles {kin['angles'].shape}, "
                           f"ground truth {np.shape(gt.joint_angles)}")
    pred = Prediction(kin["angles"], kin["segment_scales"], kin["keypoints"])
    save_arrays(out / "predictions" / f"{trial}.npz",
                {"joint_angles": kin["angles"], "keypoints_3d": kin["keypoints"],
                 "segment_scales": kin["segment_scales"]})
    result.update(score_3d(pred, gt, joints3d, pool))
    result["status"] = "ok"
    result["seconds"] = {"detect": round(t_det, 2), "ik": round(t_ik, 2),
                         "total": round(time.perf_counter() - t0, 2)}
    return result


def run_baseline(dataset: str | Path, out: str | Path | None = None, settings: BaselineSettings | None = None,
                 trials: list[str] | None = None,
                 progress: Callable[[int, int, str], None] | None = None,
                 log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Run the baseline on every trial of ``dataset`` (or ``trials``); writes
    ``OUT/baseline.json`` (``OUT`` default ``DATASET/baseline``) and returns its content."""
    t0 = time.perf_counter()
    dataset = check_dataset(dataset)
    settings = settings or BaselineSettings()
    out = check_output_dir(Path(out) if out else dataset / DEFAULT_OUT)
    files = trial_files(dataset)
    if trials:
        unknown = sorted(set(trials) - {f.parent.name for f in files})
        if unknown:
            raise OdahgenError(f"{dataset}: no trial {unknown[0]!r} (trials/<trial>/trial.h5)")
        files = [f for f in files if f.parent.name in set(trials)]
    if not files:
        raise OdahgenError(f"{dataset}: no trials/<trial>/trial.h5 to run the baseline on")
    detector = None if settings.detector == GT_DETECTOR else get_detector(settings.detector)
    out.mkdir(parents=True, exist_ok=True)
    pool = Pool()
    results, views_seen = [], []
    for i, h5 in enumerate(files):
        if progress:
            progress(i, len(files), h5.parent.name)
        res = run_trial(h5, out, detector, settings, pool, log)
        results.append(res)
        views_seen += [v for v in res["views"] if v not in views_seen]
    if progress:
        progress(len(files), len(files), "")
    ok = [r["trial"] for r in results if r.get("status") == "ok"]
    summary: dict[str, Any] = {}
    if ok:
        ev = evaluate(out / "predictions", dataset, trials=set(ok))  # the `odahgen eval` numbers
        summary.update({m: ev["dataset"][m] for m in METRICS})
        summary["frames"] = ev["dataset"]["frames"]
        names = list(next(iter(r for r in results if r.get("status") == "ok"))["angle_mae_deg_per_coordinate"])
        summary.update(dataset_3d_breakdown(pool, names))
    summary["trials"] = len(results)
    summary["trials_scored"] = len(ok)
    summary["views"] = dataset_2d(pool, views_seen)
    summary["render_flagged"] = [r["trial"] for r in results if r.get("render_flag")]
    summary["failed"] = {r["trial"]: r.get("error", "") for r in results if r.get("status") != "ok"}
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    doc = {
        "detector": settings.detector,
        "settings": {"views": settings.views, "min_confidence": settings.min_confidence,
                     "cutoff_hz": settings.cutoff_hz, "filter": "Butterworth order 4, zero-phase",
                     "min_detection_rate": settings.min_detection_rate,
                     "model": settings.model,
                     "model_note": ("the built-in model scaled from the triangulated joints (odahgen ik)"
                                    if settings.model == MODEL_FROM_DETECTIONS else
                                    "each trial's own scaled.osim, not scaled again (ground-truth anthropometry)")},
        "joints": {j: {"marker": JOINT_MARKER[j], "keypoint": JOINT_KEYPOINT.get(j)} for j in JOINTS},
        "order": {"joints": list(SCORED_JOINTS), "groups": list(COORDINATE_GROUPS),
                  "subsets": list(COORDINATE_SUBSETS)},  # the JSON's keys are sorted
        "reference": {"source": "ODAH paper (Lin et al., CVPRW 2024), Table 1, real video",
                      "angle_mae_deg": PAPER_TABLE1_MAE_DEG},
        "dataset": summary,
        "trials": results,
    }
    doc = to_json_safe(doc)
    atomic_write_json(out / RESULT_FILE, doc)
    return doc
