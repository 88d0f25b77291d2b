"""Commands of the ground-truth stage: ``inspect``, ``validate``, ``report``,
``export odah`` and ``eval``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np

from odahgen.errors import OdahgenError


def _progress(label: str):
    """A progress callback printing ``label i/n name`` on stderr (only when it is a tty)."""
    if not sys.stderr.isatty():
        return None

    def show(i: int, n: int, name: str) -> None:
        end = "\n" if i >= n else ""
        print(f"\r{label} {i}/{n} {name[:40]:40s}", end=end, file=sys.stderr, flush=True)

    return show


# --------------------------------------------------------------------------- inspect


def _describe(path: Path) -> dict:
    from odahgen.gt.schema import _open, check_schema, damaged_file_error

    out: dict = {"file": str(path), "attrs": {}, "datasets": {}, "groups": {}}
    try:
        _visit(_open(path), out)
    except OdahgenError:
        raise
    except Exception as err:  # h5py on a truncated or overwritten file
        raise damaged_file_error(path, err) from None
    out["schema_problems"] = check_schema(path)
    return out


def _visit(f: h5py.File, out: dict) -> None:
    with f:
        out["attrs"] = {k: _jsonable(v) for k, v in f.attrs.items()}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                info = {"shape": list(obj.shape), "dtype": str(obj.dtype)}
                if "unit" in obj.attrs:
                    info["unit"] = _jsonable(obj.attrs["unit"])
                if obj.compression:
                    info["compression"] = obj.compression
                out["datasets"][name] = info
            elif len(obj.attrs):
                out["groups"][name] = {k: _jsonable(v) for k, v in obj.attrs.items()}

        f.visititems(visit)


def _jsonable(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def cmd_inspect(args) -> int:
    path = Path(args.trial)
    info = _describe(path)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0 if not info["schema_problems"] else 1
    print(f"{path}  (schema {info['attrs'].get('schema', '?')} {info['attrs'].get('schema_version', '?')})")
    for group, attrs in sorted(info["groups"].items()):
        print(f"/{group}")
        for k, v in sorted(attrs.items()):
            text = str(v)
            print(f"    @{k} = {text if len(text) <= 100 else text[:97] + '...'}")
    print("datasets:")
    for name, d in sorted(info["datasets"].items()):
        unit = f"  [{d['unit']}]" if "unit" in d else ""
        print(f"  /{name:42s} {str(tuple(d['shape'])):16s} {d['dtype']:8s}{unit}")
    if info["schema_problems"]:
        for p in info["schema_problems"]:
            print(f"schema problem: {p}")
        return 1
    print("schema: OK")
    return 0


# --------------------------------------------------------------------------- validate


def cmd_validate(args) -> int:
    from odahgen.gt.dataset import finalize_dataset, load_dataset_config
    from odahgen.gt.schema import QARecord, write_qa
    from odahgen.gt.validate import DatasetCheck, format_report, validate_dataset, validate_trial

    target = Path(args.dataset)
    if target.is_file():
        from odahgen.config.models import Config

        config = Config() if args.config is None else load_dataset_config(target.parent, args.config)[0]
        check = DatasetCheck(dataset=target.parent)
        check.trials.append(validate_trial(target, config.qa, fk=not args.no_fk, videos=not args.no_videos))
    else:
        config, _source = load_dataset_config(target, args.config)
        check = validate_dataset(target, config.qa, fk=not args.no_fk, videos=not args.no_videos,
                                 progress=_progress("validate"), check_files=not args.finalize)
        if args.finalize:
            for t in check.trials:
                if t.qa is None:
                    continue
                reasons = [p[4:] if p.startswith("QA: ") else p for p in t.problems]
                write_qa(t.path, QARecord(passed=t.ok, reasons=reasons, metrics=t.qa.metrics))
            finalize_dataset(target, config)
            from odahgen.gt.validate import check_index_and_splits

            check.problems += check_index_and_splits(check.dataset, check.trials)
    if args.strict:
        for t in check.trials:
            t.problems += [f"(strict) {w}" for w in t.warnings]
    print(format_report(check))
    if args.json:
        from odahgen.io import atomic_write_json

        atomic_write_json(args.json, check.to_json())
    return 0 if check.ok else 1


# --------------------------------------------------------------------------- report


def cmd_report(args) -> int:
    from odahgen.gt.report import build_report

    out = build_report(args.dataset, args.output, samples=args.samples, progress=_progress("report"))
    print(f"report: {out}")
    return 0


# --------------------------------------------------------------------------- export


def cmd_export_odah(args) -> int:
    from odahgen.gt.export_odah import export_odah

    manifest = export_odah(args.dataset, args.output, generic_model=args.generic_model,
                           include_failed=args.include_failed, progress=_progress("export"))
    print(f"exported {len(manifest['trials'])} trials to {args.output} ({len(manifest['skipped'])} skipped)")
    for s in manifest["skipped"]:
        print(f"  skipped {s['trial']}: {s['reason']}")
    for w in manifest["warnings"]:
        print(f"  warning: {w}")
    return 0


# --------------------------------------------------------------------------- eval


def cmd_eval(args) -> int:
    from odahgen.gt.evaluate import evaluate, format_table, to_csv, to_json_safe
    from odahgen.io import atomic_write_json, atomic_write_text

    trials = None
    if args.split:
        splits_path = Path(args.gt) / "splits.json"
        if not splits_path.is_file():
            raise OdahgenError(f"{splits_path}: no splits file for --split {args.split}")
        splits = json.loads(splits_path.read_text())
        if args.split not in splits.get("trials", {}):
            raise OdahgenError(f"{splits_path}: no split {args.split!r} (has {sorted(splits.get('trials', {}))})")
        trials = set(splits["trials"][args.split])
    result = evaluate(args.pred, args.gt, generic_model=args.generic_model, trials=trials)
    print(format_table(result))
    if args.json:
        atomic_write_json(args.json, to_json_safe(result))
    if args.csv:
        atomic_write_text(args.csv, to_csv(result))
    return 0


# --------------------------------------------------------------------------- register


def register(subparsers) -> None:
    """Add ``inspect``, ``validate``, ``report``, ``export`` and ``eval``."""
    p = subparsers.add_parser("inspect", help="show the contents of one ground-truth TRIAL.h5",
                              description="Print the schema version, metadata, every dataset with shape, dtype "
                                          "and unit, and schema problems of one trial file.")
    p.add_argument("trial", metavar="TRIAL.h5")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_inspect)

    p = subparsers.add_parser("validate", help="check a dataset: schema, consistency, videos, QA",
                              description="Validate every trial of DATASET (or one TRIAL.h5): schema, NaNs, "
                                          "2D = projection of 3D within 0.5 px, video frame counts = T, angles -> "
                                          "FK -> keypoints within 1 mm, QA gates; plus index and splits. "
                                          "Exit 0 only when all hold.")
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--config", help="dataset config (default: DATASET/config.toml, else the defaults)")
    p.add_argument("--finalize", action="store_true",
                   help="store the QA outcome in each trial and (re)write index.csv/.parquet, splits.json, README.md")
    p.add_argument("--no-fk", action="store_true", help="skip the forward-kinematics check")
    p.add_argument("--no-videos", action="store_true", help="skip decoding videos")
    p.add_argument("--strict", action="store_true", help="checks that were skipped count as failures")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    p.set_defaults(func=cmd_validate)

    p = subparsers.add_parser("report", help="write an HTML report with plots for a dataset",
                              description="Joint-angle distributions, motion and shape coverage, QA histograms "
                                          "and sample frames with 2D keypoints, in one self-contained HTML file.")
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("-o", "--output", help="HTML file (default DATASET/report.html)")
    p.add_argument("--samples", type=int, default=3, help="trials shown as sample frames (default 3)")
    p.set_defaults(func=cmd_report)

    p = subparsers.add_parser("export", help="export a dataset to another layout (odah, coco, pose2sim, opencap)",
                              description="Export a dataset to the layout of other tools.")
    sub = p.add_subparsers(dest="format", metavar="FORMAT")
    sub.required = True
    q = sub.add_parser("odah", help="the layout the ODAH paper's training code reads",
                       description="Write video/<S>/<bmi>/<S>_<A>_{front,side}.mp4 + _camera_info.npy and "
                                   "opensim_data/{generic.osim,<S>/<S>.osim,<S>/ik/<S>_<A>_rad.mot}. "
                                   "'_' in subject and motion ids becomes '-'.")
    q.add_argument("dataset", metavar="DATASET")
    q.add_argument("-o", "--output", required=True, metavar="DIR")
    q.add_argument("--generic-model", help="the unscaled .osim written as generic.osim")
    q.add_argument("--include-failed", action="store_true", help="also export trials that fail QA")
    q.set_defaults(func=cmd_export_odah)
    from odahgen.cli.export import register_formats

    register_formats(sub)

    p = subparsers.add_parser("eval", help="score predictions: joint-angle MAE, PA-MPJPE, PA-MPJVE",
                              description="PRED: a folder of <trial>.npz/.h5 (joint_angles (T,39) rad, optional "
                                          "segment_scales (22,3), optional keypoints_3d (T,44,3) m) or one file; "
                                          "GT: a dataset folder or one trial.h5. Prints per-trial and dataset metrics. "
                                          "NaN marks a missing value: it is left out of the metrics and counted as "
                                          "missing (per coordinate and keypoint in --json, totals in --csv); an "
                                          "array that is all NaN, or any inf, is an error.")
    p.add_argument("pred", metavar="PRED")
    p.add_argument("gt", metavar="GT")
    p.add_argument("--split", help="only the trials of this split (from GT/splits.json)")
    p.add_argument("--generic-model", help="generic .osim for FK from predicted angles + scales")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--csv", metavar="FILE", help="also write the results as CSV")
    p.set_defaults(func=cmd_eval)


def main(argv: list[str] | None = None) -> int:
    """Run only the gt commands (tests use it; the real entry point is odahgen.cli.main)."""
    parser = argparse.ArgumentParser(prog="odahgen")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except OdahgenError as err:
        print(f"odahgen {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
