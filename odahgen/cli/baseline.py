"""``odahgen baseline DATASET``: a classic markerless pipeline (2D detector, triangulation,
IK) run on a generated dataset and scored against its ground truth."""

from __future__ import annotations

import argparse
import math

from odahgen.errors import OdahgenError


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text}: must be a fraction between 0 and 1")
    return value


def register(subparsers) -> None:
    from odahgen.cli import workers_option

    p = subparsers.add_parser(
        "baseline",
        help="run a 2D detector + triangulation + IK baseline on a dataset and score it",
        description=(
            "Run an off-the-shelf 2D pose detector trained on real photographs (default BlazePose) on every "
            "frame of each trial's videos, triangulate the joints with the trial's own cameras (confidence-"
            "weighted DLT, Butterworth 6 Hz), solve `odahgen ik` on them, and score the result with the "
            "metrics of `odahgen eval` (joint-angle MAE, PA-MPJPE, PA-MPJVE) plus 2D detection rate, pixel "
            "error and PCK@0.1 torso per view. Writes OUT/baseline.json (shown by `odahgen report` when OUT "
            "is DATASET/baseline), OUT/predictions/<trial>.npz and OUT/trials/<trial>/."
        ),
    )
    p.add_argument("dataset", metavar="DATASET", help="dataset folder (with trials/<trial>/trial.h5)")
    p.add_argument("-o", "--output", metavar="OUT", help="output folder (default DATASET/baseline)")
    p.add_argument("--views", metavar="V1,V2", help="views to use, comma-separated (default: all of the trial's)")
    p.add_argument("--detector", metavar="NAME",
                   help="2D detector (default: config baseline.detector, blazepose); 'gt' uses the ground-truth 2D "
                        "keypoints instead: the ceiling of the triangulation + IK half")
    p.add_argument("--trials", metavar="T1,T2", help="only these trials (comma-separated ids)")
    p.add_argument("--min-detection-rate", type=_fraction, metavar="F",
                   help="QA gate: flag trials whose person is found in fewer frames of a view (default: config "
                        "baseline.min_detection_rate, 0 = off)")
    p.add_argument("--model", choices=["detections", "trial"], default="detections",
                   help="IK model: the built-in model scaled from the detections (default, as on real video) or "
                        "each trial's own scaled.osim (ground-truth anthropometry: separates scaling errors)")
    p.add_argument("--workers", type=workers_option, default=0, help="IK processes per trial (0 = one per core)")
    p.add_argument("--config", metavar="CONFIG.toml", help="config to read [baseline] from (default: the dataset's)")
    p.set_defaults(func=cmd_baseline)


def _fmt(value, digits: int = 1, scale: float = 1.0) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value * scale:.{digits}f}"


def format_summary(doc: dict) -> str:
    """Plain-text table of the dataset scores beside the paper's real-data numbers."""
    d = doc["dataset"]
    model = "" if doc["settings"].get("model", "detections") == "detections" else ", the trials' own models"
    lines = [f"baseline ({doc['detector']}{model}): {d['trials_scored']} of {d['trials']} trials scored, "
             f"{d.get('frames', 0)} frames, {_fmt(d.get('seconds'))} s"]
    lines.append(f"  joint-angle MAE  {_fmt(d.get('angle_mae_deg'), 2)} deg   (real video, ODAH paper Table 1: "
                 + ", ".join(f"{k} {v:.2f}" for k, v in doc["reference"]["angle_mae_deg"].items()) + " deg)")
    lines.append(f"  PA-MPJPE         {_fmt(d.get('pa_mpjpe_mm'))} mm")
    lines.append(f"  PA-MPJVE         {_fmt(d.get('pa_mpjve_mm_s'))} mm/s")
    lines.append(f"  triangulated joints vs GT keypoints  {_fmt(d.get('triangulated_error_mm'))} mm")
    subsets = d.get("angle_mae_deg_per_subset", {})
    if subsets:
        lines.append("  MAE per subset (deg): " + ", ".join(f"{g} {_fmt(v, 2)}" for g, v in subsets.items()))
    groups = d.get("angle_mae_deg_per_group", {})
    if groups:
        lines.append("  MAE per group (deg): " + ", ".join(f"{g} {_fmt(v)}" for g, v in groups.items()))
    for view, s in d.get("views", {}).items():
        lines.append(f"  {view:6s} detection {_fmt(s['detection_rate'], 1, 100)}%  2D error {_fmt(s['error_px'])} px  "
                     f"PCK@0.1 torso {_fmt(s['pck'], 1, 100)}%")
    if d.get("render_flagged"):
        lines.append(f"  QA gate: {len(d['render_flagged'])} trials flagged as render problems: "
                     + ", ".join(d["render_flagged"]))
    for trial, err in d.get("failed", {}).items():
        lines.append(f"  failed: {trial}: {err}")
    return "\n".join(lines)


def cmd_baseline(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from odahgen.baseline import BaselineSettings, run_baseline
    from odahgen.gt.dataset import check_dataset, load_dataset_config

    dataset = check_dataset(args.dataset)
    cfg = load_dataset_config(dataset, args.config)[0].baseline
    settings = BaselineSettings(
        detector=args.detector or cfg.detector,
        views=[v for v in (args.views or "").split(",") if v],
        min_confidence=cfg.min_confidence,
        cutoff_hz=cfg.cutoff_hz,
        min_detection_rate=cfg.min_detection_rate if args.min_detection_rate is None else args.min_detection_rate,
        ik_workers=args.workers,
        model=args.model,
    )
    trials = [t for t in (args.trials or "").split(",") if t] or None
    if args.views is not None and len(settings.views) < 2:
        raise OdahgenError(f"--views {args.views!r}: give two views or more, comma-separated")
    console = Console(stderr=True)
    with Progress(TextColumn("[bold]baseline[/bold] {task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task("", total=None)

        def progress(i: int, n: int, name: str) -> None:
            bar.update(task, completed=i, total=n)

        def log(msg: str) -> None:
            bar.update(task, description=msg)

        doc = run_baseline(dataset, args.output, settings, trials=trials, progress=progress, log=log)
    print(format_summary(doc))
    out = args.output or str(dataset / "baseline")
    print(f"scores: {out}/baseline.json")
    return 0
