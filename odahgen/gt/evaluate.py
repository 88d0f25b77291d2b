"""``odahgen eval PRED GT``: joint-angle MAE (deg), PA-MPJPE (mm), PA-MPJVE (mm/s).

GT is a dataset folder (its ``trials/*/trial.h5``) or one ``trial.h5``. PRED is a folder of
per-trial prediction files named ``<trial>.npz`` / ``<trial>.h5`` (or ``<trial>/trial.h5``),
or one file when GT is one trial. A prediction file holds any of:

- ``joint_angles`` (T,39) rad (m for pelvis_tx/ty/tz), Rajagopal coordinate order;
- ``segment_scales`` (22,3): with the angles, the keypoints come from FK of the generic
  model scaled by them (via :mod:`odahgen.gt.fk`);
- ``keypoints_3d`` (T,44,3) m, odahgen keypoint order (used directly when present).

An odahgen ``trial.h5`` also works as a prediction. Per dataset, each metric is the mean
over all evaluated frames (frame-weighted over trials).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from odahgen.errors import OdahgenError
from odahgen.gt import fk as fk_adapter
from odahgen.gt.dataset import TRIAL_FILE, trial_files
from odahgen.gt.metrics import angle_errors_deg, pa_mpjpe_mm, pa_mpjve_mm_s
from odahgen.gt.schema import SCHEMA_NAME, load_trial

METRICS = ("angle_mae_deg", "pa_mpjpe_mm", "pa_mpjve_mm_s")


@dataclass
class Prediction:
    joint_angles: np.ndarray | None = None
    segment_scales: np.ndarray | None = None
    keypoints_3d: np.ndarray | None = None


@dataclass
class TrialScore:
    trial: str
    n_frames: int
    values: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def load_prediction(path: str | Path) -> Prediction:
    """Read a prediction file (.npz, .h5 with plain datasets, or an odahgen trial.h5)."""
    path = Path(path)
    if not path.is_file():
        raise OdahgenError(f"{path}: no such prediction file")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        else:
            with h5py.File(path, "r") as f:
                if f.attrs.get("schema") in (SCHEMA_NAME, SCHEMA_NAME.encode()):
                    gt = load_trial(path)
                    return Prediction(gt.joint_angles, gt.segment_scales, gt.keypoints_3d)
                data = {k: f[k][()] for k in ("joint_angles", "segment_scales", "keypoints_3d") if k in f}
    except OdahgenError:
        raise
    except Exception as err:
        raise OdahgenError(f"{path}: cannot read prediction ({type(err).__name__}: {err})") from None
    pred = Prediction(data.get("joint_angles"), data.get("segment_scales"), data.get("keypoints_3d"))
    if pred.joint_angles is None and pred.keypoints_3d is None:
        raise OdahgenError(f"{path}: prediction has neither joint_angles nor keypoints_3d")
    return pred


def score_trial(pred: Prediction, gt, pred_path: Path | str = "", generic_model=None) -> TrialScore:
    """Metrics of one trial. ``gt`` is a TrialGT. Shape mismatches raise OdahgenError."""
    T = gt.n_frames
    score = TrialScore(trial=gt.meta.trial, n_frames=T)
    if pred.joint_angles is not None:
        ang = np.asarray(pred.joint_angles, float)
        if ang.shape != np.shape(gt.joint_angles):
            raise OdahgenError(f"{pred_path}: joint_angles shape {ang.shape}, ground truth {np.shape(gt.joint_angles)}")
        score.values["angle_mae_deg"] = float(np.mean(angle_errors_deg(ang, gt.joint_angles)))
    else:
        score.values["angle_mae_deg"] = float("nan")
    kp = None
    if pred.keypoints_3d is not None:
        kp = np.asarray(pred.keypoints_3d, float)
    elif pred.joint_angles is not None and pred.segment_scales is not None:
        try:
            kp = fk_adapter.fk_keypoints_from_scales(pred.joint_angles, pred.segment_scales, generic_model)
        except fk_adapter.FKUnavailable as err:
            score.notes.append(f"no keypoint metrics: {err}")
    else:
        score.notes.append("no keypoint metrics: prediction has angles but no segment_scales or keypoints_3d")
    if kp is not None:
        if kp.shape != np.shape(gt.keypoints_3d):
            raise OdahgenError(f"{pred_path}: keypoints_3d shape {kp.shape}, ground truth {np.shape(gt.keypoints_3d)}")
        score.values["pa_mpjpe_mm"] = pa_mpjpe_mm(kp, gt.keypoints_3d)
        score.values["pa_mpjve_mm_s"] = pa_mpjve_mm_s(kp, gt.keypoints_3d, gt.meta.fps)
    else:
        score.values["pa_mpjpe_mm"] = float("nan")
        score.values["pa_mpjve_mm_s"] = float("nan")
    return score


def _find_prediction(pred_dir: Path, trial: str) -> Path | None:
    for cand in (pred_dir / f"{trial}.npz", pred_dir / f"{trial}.h5", pred_dir / trial / TRIAL_FILE,
                 pred_dir / "trials" / trial / TRIAL_FILE):
        if cand.is_file():
            return cand
    return None


def evaluate(pred: str | Path, gt: str | Path, generic_model=None, trials: set[str] | None = None) -> dict[str, Any]:
    """Score predictions against ground truth. Returns ``{"trials": [...], "dataset": {...},
    "missing": [...]}`` where dataset metrics are frame-weighted means over trials."""
    pred, gt = Path(pred), Path(gt)
    if gt.is_file():
        gt_files = [gt]
    elif gt.is_dir():
        gt_files = trial_files(gt)
        if not gt_files:
            raise OdahgenError(f"{gt}: no trials/<trial>/{TRIAL_FILE} in this folder")
    else:
        raise OdahgenError(f"{gt}: no such ground-truth file or dataset")
    scores: list[TrialScore] = []
    missing: list[str] = []
    for path in gt_files:
        g = load_trial(path)
        if trials is not None and g.meta.trial not in trials:
            continue
        if pred.is_file():
            if len(gt_files) != 1:
                raise OdahgenError(f"{pred}: one prediction file given for a dataset; give a folder of <trial>.npz")
            pfile = pred
        elif pred.is_dir():
            pfile = _find_prediction(pred, g.meta.trial)
        else:
            raise OdahgenError(f"{pred}: no such prediction file or folder")
        if pfile is None:
            missing.append(g.meta.trial)
            continue
        scores.append(score_trial(load_prediction(pfile), g, pfile, generic_model))
    if not scores:
        raise OdahgenError(f"{pred}: no prediction matches a ground-truth trial ({len(missing)} trials without one)")
    dataset: dict[str, float] = {}
    for m in METRICS:
        vals = [(s.values[m], s.n_frames) for s in scores if np.isfinite(s.values.get(m, np.nan))]
        w = sum(n for _, n in vals)
        dataset[m] = float(sum(v * n for v, n in vals) / w) if w else float("nan")
    dataset["trials"] = len(scores)
    dataset["frames"] = sum(s.n_frames for s in scores)
    return {
        "trials": [{"trial": s.trial, "n_frames": s.n_frames, **s.values, "notes": s.notes} for s in scores],
        "dataset": dataset,
        "missing": missing,
    }


def format_table(result: dict[str, Any]) -> str:
    """Plain-text table: one row per trial, then the dataset row."""
    head = f"{'trial':30s} {'frames':>7s} {'MAE deg':>9s} {'PA-MPJPE mm':>12s} {'PA-MPJVE mm/s':>14s}"
    lines = [head, "-" * len(head)]

    def row(name, n, vals):
        cells = [f"{vals.get(m, float('nan')):.3f}" if np.isfinite(vals.get(m, float("nan"))) else "-" for m in METRICS]
        return f"{name:30s} {n:7d} {cells[0]:>9s} {cells[1]:>12s} {cells[2]:>14s}"

    for t in result["trials"]:
        lines.append(row(t["trial"], t["n_frames"], t))
    lines.append("-" * len(head))
    d = result["dataset"]
    lines.append(row(f"dataset ({d['trials']} trials)", d["frames"], d))
    notes = sorted({n for t in result["trials"] for n in t["notes"]})
    lines += [f"note: {n}" for n in notes]
    if result["missing"]:
        lines.append(f"note: {len(result['missing'])} ground-truth trials have no prediction")
    return "\n".join(lines)


def to_csv(result: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["trial", "n_frames", *METRICS])
    for t in result["trials"]:
        w.writerow([t["trial"], t["n_frames"], *[t[m] for m in METRICS]])
    d = result["dataset"]
    w.writerow(["__dataset__", d["frames"], *[d[m] for m in METRICS]])
    return buf.getvalue()


def to_json_safe(result: dict[str, Any]) -> dict[str, Any]:
    def clean(x):
        if isinstance(x, float) and not np.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    return clean(json.loads(json.dumps(result, default=float)))
