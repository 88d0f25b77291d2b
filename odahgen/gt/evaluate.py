"""``odahgen eval PRED GT``: joint-angle MAE (deg), PA-MPJPE (mm), PA-MPJVE (mm/s).

GT is a dataset folder (its ``trials/*/trial.h5``) or one ``trial.h5``. PRED is a folder of
per-trial prediction files named ``<trial>.npz`` / ``<trial>.h5`` (or ``<trial>/trial.h5``)
/ ``<trial>.mot``, or one file when GT is one trial. A prediction file holds any of:

- ``joint_angles`` (T,39) rad (m for pelvis_tx/ty/tz), Rajagopal coordinate order;
- ``segment_scales`` (22,3): with the angles, the keypoints come from FK of the generic
  model scaled by them (via :mod:`odahgen.gt.fk`);
- ``keypoints_3d`` (T,44,3) m, odahgen keypoint order (used directly when present).

An odahgen ``trial.h5`` also works as a prediction, and so does an OpenSim ``.mot`` / ``.sto``
of joint angles (what Pose2Sim's and OpenCap's inverse kinematics write): its columns are
matched to the 39 coordinates by name (degrees when ``inDegrees=yes``), one row per GT
frame; a coordinate it lacks is missing (NaN). Per dataset, each metric is the mean
over all evaluated frames (frame-weighted over trials, each trial weighted by the frames it
was scored on).

Missing predictions: NaN marks a value the predictor did not give (an occluded joint, a
lost frame). NaN joint-angle values are left out of the angle MAE; a predicted keypoint
with a NaN coordinate is left out of its frame's Procrustes alignment and of the means, and
a frame with fewer than 3 keypoints present is not scored; keypoints computed by FK from
angles are missing in every frame with a NaN angle. Each trial reports what was missing
(``missing``: counts per array, per coordinate and per keypoint; a note in the table; two
columns in the CSV). A prediction array that is entirely NaN, any infinite value, and NaN
segment scales are errors naming the file and the array: there is nothing honest to score.
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
from odahgen.gt.metrics import (
    MIN_ALIGN_KEYPOINTS,
    angle_errors_deg,
    nanmean,
    pa_errors_m,
    pa_velocity_errors_m_s,
)
from odahgen.gt.schema import SCHEMA_NAME, load_trial

METRICS = ("angle_mae_deg", "pa_mpjpe_mm", "pa_mpjve_mm_s")
MISSING_ARRAYS = ("joint_angles", "keypoints_3d")
#: CSV columns after the metrics: how many values of each array were NaN (missing).
MISSING_COLUMNS = ("joint_angles_missing", "keypoints_3d_missing")


@dataclass
class Prediction:
    joint_angles: np.ndarray | None = None
    segment_scales: np.ndarray | None = None
    keypoints_3d: np.ndarray | None = None


@dataclass
class TrialScore:
    """``values``: metric -> float (NaN = not computed); ``weights``: metric -> frames it was
    scored on (for the dataset mean); ``missing``: array -> what was NaN (empty = nothing)."""

    trial: str
    n_frames: int
    values: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    missing: dict[str, dict[str, Any]] = field(default_factory=dict)


def load_prediction(path: str | Path) -> Prediction:
    """Read a prediction file (.npz, .h5 with plain datasets, or an odahgen trial.h5)."""
    path = Path(path)
    if not path.is_file():
        raise OdahgenError(f"{path}: no such prediction file")
    if path.suffix.lower() in (".mot", ".sto"):
        return _check_values(path, Prediction(joint_angles=_mot_angles(path)))
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        else:
            with h5py.File(path, "r") as f:
                if f.attrs.get("schema") in (SCHEMA_NAME, SCHEMA_NAME.encode()):
                    gt = load_trial(path)
                    return _check_values(path, Prediction(gt.joint_angles, gt.segment_scales, gt.keypoints_3d))
                data = {k: f[k][()] for k in ("joint_angles", "segment_scales", "keypoints_3d") if k in f}
    except OdahgenError:
        raise
    except Exception as err:
        raise OdahgenError(f"{path}: cannot read prediction ({type(err).__name__}: {err})") from None
    pred = Prediction(data.get("joint_angles"), data.get("segment_scales"), data.get("keypoints_3d"))
    if pred.joint_angles is None and pred.keypoints_3d is None:
        raise OdahgenError(f"{path}: prediction has neither joint_angles nor keypoints_3d")
    return _check_values(path, pred)


def _mot_angles(path: Path) -> np.ndarray:
    """(T, 39) rad (m for translations) from an OpenSim .mot/.sto, columns by coordinate name;
    NaN for coordinates the file lacks."""
    from odahgen.io.mocap import read_table
    from odahgen.skeleton.names import COORDINATE_NAMES, TRANSLATIONAL_COORDINATES

    table = read_table(path)
    out = np.full((len(table.times), len(COORDINATE_NAMES)), np.nan)
    found = 0
    for i, name in enumerate(COORDINATE_NAMES):
        if name in table.names:
            col = table.values[:, table.names.index(name)]
            rotational = name not in TRANSLATIONAL_COORDINATES
            out[:, i] = np.radians(col) if rotational and table.in_degrees else col
            found += 1
    if not found:
        raise OdahgenError(f"{path}: no column named like a Rajagopal coordinate (e.g. hip_flexion_r)")
    return out


def _check_values(path: Path, pred: Prediction) -> Prediction:
    """Refuse what cannot be scored honestly: non-numeric arrays, infinite values, an array
    that is entirely NaN, NaN segment scales. Partial NaN stays (scored as missing)."""
    for name in ("joint_angles", "segment_scales", "keypoints_3d"):
        arr = getattr(pred, name)
        if arr is None:
            continue
        try:
            arr = np.asarray(arr, float)
        except (TypeError, ValueError):
            raise OdahgenError(f"{path}: {name} is not a numeric array") from None
        setattr(pred, name, arr)
        inf = np.isinf(arr)
        if inf.any():
            where = np.argwhere(inf)[0]
            raise OdahgenError(f"{path}: {name} has {int(inf.sum())} infinite values (first at index "
                               f"{tuple(int(i) for i in where)}); give NaN where a value is missing")
        nan = np.isnan(arr)
        if arr.size and nan.all():
            raise OdahgenError(f"{path}: {name} is all NaN: nothing to score (leave the array out, or give "
                               "NaN only where a value is missing)")
        if name == "segment_scales" and nan.any():
            raise OdahgenError(f"{path}: segment_scales has {int(nan.sum())} NaN values; scales must be complete")
    return pred


def score_trial(pred: Prediction, gt, pred_path: Path | str = "", generic_model=None) -> TrialScore:
    """Metrics of one trial. ``gt`` is a TrialGT. Shape mismatches raise OdahgenError. NaN
    in the prediction is left out and counted in ``TrialScore.missing`` (module docstring)."""
    T = gt.n_frames
    score = TrialScore(trial=gt.meta.trial, n_frames=T)
    name = Path(pred_path).name if pred_path else "the prediction"
    ang = None
    if pred.joint_angles is not None:
        ang = np.asarray(pred.joint_angles, float)
        if ang.shape != np.shape(gt.joint_angles):
            raise OdahgenError(f"{pred_path}: joint_angles shape {ang.shape}, ground truth {np.shape(gt.joint_angles)}")
        errors = angle_errors_deg(ang, gt.joint_angles)  # (T, 36)
        present = np.isfinite(errors)
        score.values["angle_mae_deg"] = nanmean(errors)
        score.weights["angle_mae_deg"] = T * present.mean() if errors.size else 0.0
        if not present.all():
            coords = [c for c, r in zip(gt.coordinate_names, gt.rotational) if r]
            per = (~present).sum(axis=0)
            score.missing["joint_angles"] = {
                "values": int((~present).sum()), "of": int(present.size),
                "per_coordinate": {c: int(n) for c, n in zip(coords, per) if n}}
            score.notes.append(f"{score.trial}: {100 * (~present).mean():.1f}% of the joint-angle values are NaN "
                               f"in {name}: left out, counted as missing")
    else:
        score.values["angle_mae_deg"] = float("nan")
    kp = None
    if pred.keypoints_3d is not None:
        kp = np.asarray(pred.keypoints_3d, float)
    elif ang is not None and pred.segment_scales is not None:
        lost = ~np.isfinite(ang).all(axis=1)  # frames FK cannot pose
        try:
            kp = fk_adapter.fk_keypoints_from_scales(np.where(np.isfinite(ang), ang, 0.0), pred.segment_scales,
                                                     generic_model)
            kp = np.asarray(kp, float).copy()
            if kp.ndim == 3 and kp.shape[0] == T:
                kp[lost] = np.nan
        except fk_adapter.FKUnavailable as err:
            score.notes.append(f"no keypoint metrics: {err}")
    else:
        score.notes.append("no keypoint metrics: prediction has angles but no segment_scales or keypoints_3d")
    if kp is not None:
        if kp.shape != np.shape(gt.keypoints_3d):
            raise OdahgenError(f"{pred_path}: keypoints_3d shape {kp.shape}, ground truth {np.shape(gt.keypoints_3d)}")
        _score_keypoints(score, kp, gt, name, from_fk=pred.keypoints_3d is None)
    else:
        score.values["pa_mpjpe_mm"] = float("nan")
        score.values["pa_mpjve_mm_s"] = float("nan")
    return score


def _score_keypoints(score: TrialScore, kp: np.ndarray, gt, name: str, from_fk: bool) -> None:
    T = score.n_frames
    errors = pa_errors_m(kp, gt.keypoints_3d)  # (T, 44), NaN = missing or frame not aligned
    score.values["pa_mpjpe_mm"] = nanmean(errors) * 1000.0
    score.weights["pa_mpjpe_mm"] = T * np.isfinite(errors).mean() if errors.size else 0.0
    if T >= 2:
        verr = pa_velocity_errors_m_s(kp, gt.keypoints_3d, gt.meta.fps)
        score.values["pa_mpjve_mm_s"] = nanmean(verr) * 1000.0
        score.weights["pa_mpjve_mm_s"] = T * np.isfinite(verr).mean() if verr.size else 0.0
    else:
        score.values["pa_mpjve_mm_s"] = float("nan")
    present = np.isfinite(kp).all(axis=-1)
    if present.all():
        return
    per = (~present).sum(axis=0)
    unscored = int((present.sum(axis=1) < MIN_ALIGN_KEYPOINTS).sum())
    score.missing["keypoints_3d"] = {
        "values": int((~present).sum()), "of": int(present.size), "frames_unscored": unscored,
        "per_keypoint": {k: int(n) for k, n in zip(gt.keypoint_names, per) if n}}
    what = "FK of the frames with NaN joint angles" if from_fk else f"NaN in {name}"
    score.notes.append(f"{score.trial}: {100 * (~present).mean():.1f}% of the keypoints are missing ({what}): "
                       "left out, counted as missing"
                       + (f"; {unscored} frames with < {MIN_ALIGN_KEYPOINTS} keypoints not scored" if unscored else ""))


def _find_prediction(pred_dir: Path, trial: str) -> Path | None:
    for cand in (pred_dir / f"{trial}.npz", pred_dir / f"{trial}.h5", pred_dir / trial / TRIAL_FILE,
                 pred_dir / "trials" / trial / TRIAL_FILE, pred_dir / f"{trial}.mot"):
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
        vals = [(s.values[m], s.weights.get(m, s.n_frames)) for s in scores if np.isfinite(s.values.get(m, np.nan))]
        w = sum(n for _, n in vals)
        dataset[m] = float(sum(v * n for v, n in vals) / w) if w else float("nan")
    dataset["trials"] = len(scores)
    dataset["frames"] = sum(s.n_frames for s in scores)
    return {
        "trials": [{"trial": s.trial, "n_frames": s.n_frames, **s.values, "missing": s.missing, "notes": s.notes}
                   for s in scores],
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
    w.writerow(["trial", "n_frames", *METRICS, *MISSING_COLUMNS])
    for t in result["trials"]:
        missing = t.get("missing", {})
        w.writerow([t["trial"], t["n_frames"], *[t[m] for m in METRICS],
                    *[missing.get(a, {}).get("values", 0) for a in MISSING_ARRAYS]])
    d = result["dataset"]
    w.writerow(["__dataset__", d["frames"], *[d[m] for m in METRICS],
                *[sum(t.get("missing", {}).get(a, {}).get("values", 0) for t in result["trials"])
                  for a in MISSING_ARRAYS]])
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
