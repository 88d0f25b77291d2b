"""Validation of trials and datasets: schema, internal consistency, QA.

Per trial (``validate_trial``):

- schema (:func:`odahgen.gt.schema.check_schema`);
- no NaN/inf in the ground-truth arrays;
- every camera: ``R`` a rotation, ``K`` upper-triangular with K[2] = (0, 0, 1), and the 2D
  keypoints equal the projection of the 3D keypoints with K, R, t within ``tol_px`` (0.5 px)
  wherever the point is in front of the camera; visible keypoints must be in front; the same
  for the schema 1.1 2D markers and COCO keypoints when present;
- videos: every camera has one, the file exists and its decoded frame count equals T;
- forward kinematics (via :mod:`odahgen.gt.fk`): the scaled model driven by the stored joint
  angles reproduces the stored 3D keypoints within ``tol_fk_m`` (1 mm); skipped with a
  warning when the trial has no model file or the skeleton's FK is not importable;
- QA gates recomputed from the data with the given thresholds.

Per dataset (``validate_dataset``): every trial, plus index and splits consistency (every
trial indexed, no subject in two splits, no QA-failing trial in a split). What a trial's
check found is kept in ``DATASET/.validate-cache.json`` with the size and mtime of the files
it may read (the trial folder's and ``render/``'s) and the settings it ran with; the next
validate checks again only the trials whose files changed (a stat per file otherwise).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.io import atomic_write_text
from odahgen.gt import fk as fk_adapter
from odahgen.gt.dataset import TRIAL_FILE, check_dataset, scan_trials
from odahgen.gt.qa import QAResult, nonfinite_arrays, qa_trial
from odahgen.gt.schema import TrialGT, check_schema, load_trial, project_points

TOL_PX = 0.5
MAX_LISTED = 20  # trial folders without a trial file named one per line
TOL_FK_M = 0.001


@dataclass
class TrialCheck:
    """Outcome for one trial: ``problems`` fail it; ``warnings`` are checks not run."""

    trial: str
    path: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    qa: QAResult | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class DatasetCheck:
    dataset: Path
    trials: list[TrialCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(t.ok for t in self.trials)

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": str(self.dataset),
            "ok": self.ok,
            "problems": self.problems,
            "warnings": self.warnings,
            "trials": [
                {"trial": t.trial, "ok": t.ok, "problems": t.problems, "warnings": t.warnings,
                 "metrics": {k: (v if np.isfinite(v) else None) for k, v in t.metrics.items()}}
                for t in self.trials
            ],
        }


def check_cameras(gt: TrialGT, tol_px: float = TOL_PX) -> tuple[list[str], dict[str, float]]:
    """Camera sanity and 2D = projection(3D) within ``tol_px``. Returns (problems, metrics
    ``reproj_max_px_<view>``)."""
    problems: list[str] = []
    metrics: dict[str, float] = {}
    for view, cam in gt.cameras.items():
        K, R = np.asarray(cam.K, float), np.asarray(cam.R, float)
        if not (np.all(np.isfinite(K)) and np.all(np.isfinite(R)) and np.all(np.isfinite(cam.t))):
            problems.append(f"camera {view}: non-finite K, R or t")
            continue
        if np.abs(R @ R.T - np.eye(3)).max() > 1e-6 or np.linalg.det(R) < 0:
            problems.append(f"camera {view}: R is not a rotation matrix")
        if np.abs(K[2] - [0, 0, 1]).max() > 1e-9 or abs(K[1, 0]) + abs(K[2, 0]) + abs(K[2, 1]) > 0 or K[0, 0] <= 0 or K[1, 1] <= 0:
            problems.append(f"camera {view}: K is not an upper-triangular intrinsic matrix with K[2] = (0, 0, 1)")
        px, depth = project_points(K, R, cam.t, gt.keypoints_3d, cam.distortion)
        kp2d = np.asarray(cam.keypoints_2d, float)
        vis = np.asarray(cam.visibility, bool)
        behind = vis & ~(depth > 0)
        if behind.any():
            problems.append(f"camera {view}: {int(behind.sum())} visible keypoints are behind the camera")
        check = (depth > 0) & np.isfinite(kp2d).all(axis=-1) & np.isfinite(px).all(axis=-1)
        if not check.any():
            metrics[f"reproj_max_px_{view}"] = float("nan")
            continue
        err = np.linalg.norm(px - kp2d, axis=-1)
        err = np.where(check, err, 0.0)
        worst = float(err.max())
        metrics[f"reproj_max_px_{view}"] = worst
        if worst > tol_px:
            t_idx, k_idx = np.unravel_index(int(np.argmax(err)), err.shape)
            n_bad = int((err > tol_px).sum())
            problems.append(
                f"camera {view}: 2D keypoints differ from the projection of the 3D keypoints by up to "
                f"{worst:.2f} px > {tol_px} px ({n_bad} points; worst {gt.keypoint_names[k_idx]} at frame {t_idx})"
            )
        problems += _dense_reprojection(gt, view, tol_px)
    return problems, metrics


def _dense_reprojection(gt: TrialGT, view: str, tol_px: float) -> list[str]:
    """Schema 1.1: the 2D markers / COCO keypoints of a view equal the projection of their
    3D points within ``tol_px`` (points in front of the camera)."""
    cam = gt.cameras[view]
    problems = []
    for what, pts, px2 in (("markers", gt.markers.positions if gt.markers else None, cam.markers_2d),
                           ("COCO keypoints", gt.coco.positions if gt.coco else None, cam.coco_2d)):
        if pts is None or px2 is None or np.shape(px2)[:2] != np.shape(pts)[:2]:
            continue  # absent (schema 1.0) or mis-shaped (the schema check reports it)
        px, depth = cam.project(pts)
        ok = (depth > 0) & np.isfinite(px).all(-1) & np.isfinite(px2).all(-1)
        err = np.where(ok, np.linalg.norm(np.nan_to_num(px - px2), axis=-1), 0.0)
        if err.size and err.max() > tol_px:
            problems.append(f"camera {view}: 2D {what} differ from the projection of their 3D points by up to "
                            f"{err.max():.2f} px > {tol_px} px ({int((err > tol_px).sum())} points)")
    return problems


def count_video_frames(path: str | Path) -> int:
    """Number of decodable frames of a video (decodes it with imageio-ffmpeg)."""
    import imageio_ffmpeg

    try:
        n, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    except Exception as err:
        raise OdahgenError(f"{path}: cannot read video ({' '.join(str(err).split())[:200]})") from None
    return int(n)


def check_videos(gt: TrialGT, trial_dir: Path) -> list[str]:
    """Every camera has a video whose decoded frame count equals T."""
    problems: list[str] = []
    T = gt.n_frames
    for view in gt.cameras:
        if view not in gt.videos:
            problems.append(f"camera {view} has no video entry")
    for view, vid in gt.videos.items():
        path = trial_dir / vid.path
        if not vid.path or not path.is_file():
            problems.append(f"video {view}: missing file {path}")
            continue
        if vid.n_frames != T:
            problems.append(f"video {view}: /videos n_frames {vid.n_frames} != T {T}")
        try:
            n = count_video_frames(path)
        except OdahgenError as err:
            problems.append(f"video {view}: {err}")
            continue
        if n != T:
            problems.append(f"video {view}: {path.name} has {n} frames, ground truth has T = {T}")
    return problems


def check_fk(gt: TrialGT, trial_dir: Path, tol_m: float = TOL_FK_M) -> tuple[list[str], list[str], float]:
    """Angles -> FK -> keypoints within ``tol_m``. Returns (problems, warnings, max error m)."""
    if not gt.model_file:
        return [], ["FK check skipped: the trial names no model file (/kinematics model_file)"], float("nan")
    model = trial_dir / gt.model_file
    if not model.is_file():
        return [f"model file {model} is missing"], [], float("nan")
    try:
        kp = fk_adapter.fk_keypoints(model, gt.joint_angles)
    except fk_adapter.FKUnavailable as err:
        return [], [f"FK check skipped: {err}"], float("nan")
    if kp.shape != np.shape(gt.keypoints_3d):
        return [f"FK returned keypoints of shape {kp.shape}, expected {np.shape(gt.keypoints_3d)}"], [], float("nan")
    err = np.linalg.norm(kp - gt.keypoints_3d, axis=-1)
    worst = float(np.nanmax(err)) if err.size else 0.0
    if not worst <= tol_m:
        t_idx, k_idx = np.unravel_index(int(np.nanargmax(err)), err.shape)
        return [f"FK of the joint angles misses the stored keypoints by {worst * 1000:.2f} mm > "
                f"{tol_m * 1000:.1f} mm (worst {gt.keypoint_names[k_idx]} at frame {t_idx})"], [], worst
    return [], [], worst


def validate_trial(h5_path: str | Path, qa_config, fk: bool = True, videos: bool = True) -> TrialCheck:
    """Validate one trial file (see the module docstring). ``qa_config``: a QAConfig."""
    h5_path = Path(h5_path)
    trial_dir = h5_path.parent
    result = TrialCheck(trial=trial_dir.name, path=h5_path)
    schema_problems = check_schema(h5_path)
    result.problems += [f"schema: {p}" for p in schema_problems]
    try:
        gt = load_trial(h5_path)
    except OdahgenError as err:
        if not schema_problems:
            result.problems.append(str(err))
        return result
    except Exception as err:  # a file broken in a way the schema check could not name
        result.problems.append(f"unreadable: {type(err).__name__}: {err}")
        return result
    result.trial = gt.meta.trial or result.trial
    bad = nonfinite_arrays(gt)
    if bad:
        result.problems.append(f"NaN/inf in {', '.join(bad)}")
    cam_problems, cam_metrics = check_cameras(gt)
    result.problems += cam_problems
    result.metrics.update(cam_metrics)
    if videos:
        result.problems += check_videos(gt, trial_dir)
    if fk:
        p, w, worst = check_fk(gt, trial_dir)
        result.problems += p
        result.warnings += w
        result.metrics["fk_max_m"] = worst
    qa = qa_trial(gt, qa_config)
    result.qa = qa
    result.metrics.update(qa.metrics)
    result.problems += [f"QA: {r}" for r in qa.reasons]
    if gt.qa is not None and gt.qa.passed != qa.passed:
        result.warnings.append(f"stored QA result (passed={gt.qa.passed}) differs from the recomputed one")
    return result


def check_index_and_splits(dataset: Path, checks: list[TrialCheck]) -> list[str]:
    """Index lists exactly the trials on disk; splits keep subjects apart and hold only
    trials that pass."""
    import csv

    problems: list[str] = []
    on_disk = {c.path.parent.name for c in checks}
    index_csv = dataset / "index.csv"
    if not index_csv.is_file() or not (dataset / "index.parquet").is_file():
        problems.append("missing index.csv / index.parquet (run `odahgen validate --finalize`)")
        rows = []
    else:
        with open(index_csv, newline="") as fh:
            rows = list(csv.DictReader(fh))
        indexed = {Path(r["path"]).parent.name for r in rows}
        if indexed != on_disk:
            missing = sorted(on_disk - indexed)[:5]
            extra = sorted(indexed - on_disk)[:5]
            problems.append(f"index.csv out of date (not indexed: {missing}, no such trial: {extra})")
    splits_path = dataset / "splits.json"
    if not splits_path.is_file():
        problems.append("missing splits.json (run `odahgen validate --finalize`)")
        return problems
    splits = json.loads(splits_path.read_text())
    seen: dict[str, str] = {}
    for split, subjects in splits.get("subjects", {}).items():
        for s in subjects:
            if s in seen and seen[s] != split:
                problems.append(f"splits.json: subject {s} is in both {seen[s]} and {split}")
            seen[s] = split
    ok_trials = {c.trial for c in checks if c.ok}
    subject_of = {r["trial"]: r["subject"] for r in rows}
    for split, trials in splits.get("trials", {}).items():
        for t in trials:
            if t not in ok_trials:
                problems.append(f"splits.json: trial {t} in {split} does not pass validation")
            subj = subject_of.get(t)
            if subj is not None and seen.get(subj) != split:
                problems.append(f"splits.json: trial {t} in {split} but its subject {subj} is in {seen.get(subj)}")
    return problems


CACHE_FILE = ".validate-cache.json"


def _trial_signature(trial_dir: Path) -> list:
    """[[name, size, mtime_ns], ...] of the files a trial's check may read: every file of the
    trial folder and of its ``render/`` folder (hidden ones left out)."""
    out = []
    for sub in ("", "render"):
        try:
            with os.scandir(trial_dir / sub if sub else trial_dir) as it:
                entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_file():
                    st = e.stat()
                    out.append([f"{sub}/{e.name}" if sub else e.name, st.st_size, st.st_mtime_ns])
            except OSError:
                continue
    return out


def _check_to_json(t: TrialCheck) -> dict:
    qa = None if t.qa is None else {"passed": t.qa.passed, "reasons": t.qa.reasons,
                                    "metrics": t.qa.metrics, "skipped": t.qa.skipped}
    return {"trial": t.trial, "problems": t.problems, "warnings": t.warnings,
            "metrics": t.metrics, "qa": qa}


def _check_from_json(data: dict, path: Path) -> TrialCheck:
    qa = data.get("qa")
    return TrialCheck(trial=data["trial"], path=path, problems=list(data["problems"]),
                      warnings=list(data["warnings"]), metrics=dict(data["metrics"]),
                      qa=None if qa is None else QAResult(bool(qa["passed"]), list(qa["reasons"]),
                                                          dict(qa["metrics"]), list(qa["skipped"])))


SETTLE_NS = 2_000_000_000  # files changed this shortly before their check are checked again


def _settled(sig: list, checked_at) -> bool:
    """Every file of ``sig`` was last changed well before the check recorded at
    ``checked_at`` (ns), so a later change cannot have kept its mtime (coarse clocks)."""
    if not isinstance(checked_at, int):
        return False
    return all(m is None or m < checked_at - SETTLE_NS for _, _, m in sig)


def _cache_key(qa_config, fk: bool, videos: bool) -> str:
    from odahgen import __version__

    dump = qa_config.model_dump(mode="json") if hasattr(qa_config, "model_dump") else repr(qa_config)
    return json.dumps([1, __version__, dump, fk, videos], sort_keys=True)


def validate_dataset(
    dataset: str | Path,
    qa_config,
    fk: bool = True,
    videos: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
    check_files: bool = True,
    cache: bool = True,
) -> DatasetCheck:
    """Validate every trial of a dataset and its index/splits (``check_files``). With
    ``cache``, a trial whose files and the settings are as when it was last checked is not
    checked again (``DATASET/.validate-cache.json``; deleting it is always safe)."""
    dataset = check_dataset(dataset)
    result = DatasetCheck(dataset=dataset)
    files, stray = scan_trials(dataset)
    for name in stray[:MAX_LISTED]:
        result.problems.append(f"trials/{name} has no {TRIAL_FILE}")
    if len(stray) > MAX_LISTED:  # a dataset still running: one line, not one per trial
        result.problems.append(f"... and {len(stray) - MAX_LISTED:,} more trial folders have no "
                               f"{TRIAL_FILE} ({len(stray):,} in all: not finished, or failed)")
    if not files:
        result.problems.append("no trials")
    key = _cache_key(qa_config, fk, videos)
    old: dict = {}
    if cache:
        try:
            data = json.loads((dataset / CACHE_FILE).read_text(encoding="utf-8"))
            old = data["trials"] if isinstance(data, dict) and data.get("key") == key else {}
        except (OSError, ValueError, KeyError, TypeError):
            old = {}
    new: dict = {}
    for i, path in enumerate(files):
        if progress:
            progress(i, len(files), path.parent.name)
        name = path.parent.name
        sig = _trial_signature(path.parent) if cache else None
        hit = old.get(name)
        check = None
        if isinstance(hit, dict) and hit.get("sig") == sig and _settled(sig, hit.get("at")):
            try:
                check = _check_from_json(hit["check"], path)
            except (KeyError, TypeError, ValueError):
                check = None
        if check is not None:
            new[name] = hit
        else:
            check = validate_trial(path, qa_config, fk=fk, videos=videos)
            if cache:
                new[name] = {"sig": sig, "check": _check_to_json(check), "at": time.time_ns()}
        result.trials.append(check)
    if progress:
        progress(len(files), len(files), "")
    if cache and new != old:
        try:
            atomic_write_text(dataset / CACHE_FILE, json.dumps({"key": key, "trials": new}), fsync=False)
        except OSError:  # a dataset the user may read but not write: no cache, same result
            pass
    if check_files and files:
        result.problems += check_index_and_splits(dataset, result.trials)
    return result


def format_report(check: DatasetCheck) -> str:
    """Human-readable report: one line per problem, then a summary line."""
    lines = []
    for p in check.problems:
        lines.append(f"FAIL dataset: {p}")
    for t in check.trials:
        for p in t.problems:
            lines.append(f"FAIL {t.trial}: {p}")
    warn_counts: dict[str, int] = {}
    for t in check.trials:
        for w in t.warnings:
            warn_counts[w] = warn_counts.get(w, 0) + 1
    for w, n in sorted(warn_counts.items()):
        lines.append(f"WARN {n} trial(s): {w}")
    for w in check.warnings:
        lines.append(f"WARN dataset: {w}")
    n_ok = sum(t.ok for t in check.trials)
    status = "OK" if check.ok else "FAILED"
    lines.append(f"{status}: {n_ok}/{len(check.trials)} trials valid, {len(check.problems)} dataset problem(s)")
    return "\n".join(lines)
