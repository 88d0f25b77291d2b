"""``odahgen export coco|pose2sim|opencap``: the formats of :mod:`odahgen.export`, added to
the ``export`` group that :mod:`odahgen.cli.gt` creates (next to ``export odah``)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be 1 or more")
    return value


@contextlib.contextmanager
def _progress(label: str):
    """A rich progress bar on stderr (only on a terminal); yields ``show(i, n, name)``."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=None)
        yield lambda i, n, name: bar.update(task, completed=i, total=n, description=name)


def _size(path: Path) -> str:
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return f"{total / 1e6:.1f} MB"


def cmd_export_coco(args) -> int:
    from odahgen.export import export_coco

    with _progress("export coco") as show:
        m = export_coco(args.dataset, args.output, every=args.every, markers=args.markers,
                        image_format=args.image_format, progress=show)
    for split, info in m["splits"].items():
        print(f"{split}: {info['images']} images, {info['annotations']} annotations "
              f"-> {args.output}/annotations/person_keypoints_{split}.json")
    lacking = sorted({n for names in m["missing_keypoints"].values() for n in names})
    print(f"{len(m['keypoints'])} keypoints per person"
          + (f"; not on this marker set (always v=0): {', '.join(lacking)}" if lacking else "")
          + f"; {_size(Path(args.output))} in {args.output}")
    return 0


def _export_per_trial(args, export, label: str, what: str, note: str = "") -> int:
    """Run a per-trial exporter (``export(dataset, out, include_failed=, progress=)``) and print
    how many ``what`` it wrote, the size, and each skipped trial with its reason."""
    with _progress(label) as show:
        m = export(args.dataset, args.output, include_failed=args.include_failed, progress=show)
    print(f"exported {len(m['trials'])} {what} to {args.output} ({len(m['skipped'])} skipped; "
          f"{_size(Path(args.output))}{note})")
    for s in m["skipped"]:
        print(f"  skipped {s['trial']}: {s['reason']}")
    return 0


def cmd_export_pose2sim(args) -> int:
    from odahgen.export import export_pose2sim

    return _export_per_trial(args, export_pose2sim, "export pose2sim", "Pose2Sim projects")


def cmd_export_opencap(args) -> int:
    from odahgen.export import export_opencap

    return _export_per_trial(args, export_opencap, "export opencap", "OpenCap sessions",
                             "; extrinsics in a back-wall board frame, see docs/export.md")


def register_formats(sub) -> None:
    """Add ``coco``, ``pose2sim`` and ``opencap`` to the ``export`` sub-parsers ``sub``."""
    q = sub.add_parser("coco", help="frames + COCO keypoint JSON per split (COCO-17 + anatomical markers)",
                       description="Write images/<trial>/<view>_<frame>.jpg (every N-th frame), "
                                   "annotations/person_keypoints_<split>.json (COCO keypoints, v = 0 outside the "
                                   "image, 1 occluded, 2 visible) and mmpose_metainfo.py. Needs splits.json "
                                   "(odahgen validate DATASET --finalize).")
    q.add_argument("dataset", metavar="DATASET")
    q.add_argument("-o", "--output", required=True, metavar="DIR")
    q.add_argument("--every", type=_positive, default=1, metavar="N", help="keep every N-th frame (default 1)")
    q.add_argument("--markers", choices=("opencap", "all"), default="opencap",
                   help="opencap: SynthPose's 35 anatomical markers (52 keypoints); all: every GT marker")
    q.add_argument("--image-format", choices=("jpg", "png"), default="jpg", help="frame files (default jpg)")
    q.set_defaults(func=cmd_export_coco)

    q = sub.add_parser("pose2sim", help="one Pose2Sim project per trial (Calib.toml, videos, GT TRC/MOT)",
                       description="Write <trial>/calibration/Calib.toml, <trial>/videos/camNN_<view>.mp4 and "
                                   "<trial>/gt/ (markers and COCO keypoints as TRC in OpenSim's frame, joint "
                                   "angles as .mot) for every trial that passes QA.")
    q.add_argument("dataset", metavar="DATASET")
    q.add_argument("-o", "--output", required=True, metavar="DIR")
    q.add_argument("--include-failed", action="store_true", help="also export trials that fail QA")
    q.set_defaults(func=cmd_export_pose2sim)

    q = sub.add_parser("opencap", help="one OpenCap session folder per trial (camera pickles, videos, GT MOT)",
                       description="Write <trial>/Videos/Cam<i>/cameraIntrinsicsExtrinsics.pickle and "
                                   "InputMedia/<trial>/<trial>.mp4, OpenSimData/Kinematics/<trial>.mot, "
                                   "MarkerData/<trial>.trc and sessionMetadata.yaml for every trial that passes QA.")
    q.add_argument("dataset", metavar="DATASET")
    q.add_argument("-o", "--output", required=True, metavar="DIR")
    q.add_argument("--include-failed", action="store_true", help="also export trials that fail QA")
    q.set_defaults(func=cmd_export_opencap)
