"""``odahgen preview``: one trial at low resolution to check a motion and its scene.

MOTION is ``SOURCE:MOTION`` (``procedural:jump``), a motion id of the config's source, or a
motion file (``.trc``, ``.mot``, ``.c3d``, ``.bvh``, AMASS ``.npz``); see
:mod:`odahgen.jobs.preview`.
"""

from __future__ import annotations

from odahgen.errors import OdahgenError
from odahgen.jobs.preview import run_preview


def register(subparsers) -> None:
    p = subparsers.add_parser("preview", help="render one trial at low resolution to check a motion/scene",
                              description=__doc__.split("\n\n")[0].replace("``", ""))
    p.add_argument("motion", metavar="MOTION",
                   help="SOURCE:MOTION, a motion id of the config's source, or a motion file")
    p.add_argument("--config", default="demo", help="config name or TOML path (default: demo)")
    p.add_argument("-o", "--out", default="preview", help="output folder (default: ./preview)")
    p.add_argument("--fast", action="store_true", help="pyrender mesh + markers + joints, no Blender")
    p.add_argument("--step", type=int, default=4, help="render every Nth frame (default 4)")
    p.add_argument("--seconds", type=float, default=1.0, help="clip length (default 1 s)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    from odahgen.config import load_config

    if args.step < 1 or args.seconds <= 0:
        raise OdahgenError("--step must be >= 1 and --seconds > 0")
    cfg = load_config(args.config, args.set)
    print(f"preview {args.motion}: {'pyrender' if args.fast else cfg.render.engine} ...", flush=True)
    res = run_preview(args.motion, cfg, args.out, fast=args.fast, step=args.step, seconds=args.seconds)
    print(f"wrote {res['video']} and {res['contact_sheet']} ({res['frames']} frames, {res['seconds']} s)")
    return 0
