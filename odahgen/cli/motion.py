"""``odahgen motion list [SOURCE] [--path P]`` and ``odahgen motion show SOURCE:MOTION``."""

from __future__ import annotations

import argparse
import json

from odahgen.errors import OdahgenError


def register(subparsers) -> None:
    p = subparsers.add_parser("motion", help="list and inspect motion sources",
                              description="List motion sources and their motions, or show one motion.")
    sub = p.add_subparsers(dest="motion_command", metavar="ACTION")
    pl = sub.add_parser("list", help="list sources, or the motions of one source")
    pl.add_argument("source", nargs="?", help="source name (omit to list the sources)")
    pl.add_argument("--path", default=None, help="data file or folder for file sources")
    pl.set_defaults(func=_list)
    ps = sub.add_parser("show", help="load one motion and print its summary")
    ps.add_argument("ref", metavar="SOURCE:MOTION")
    ps.add_argument("--path", default=None, help="data file or folder for file sources")
    ps.add_argument("--seed", type=int, default=0)
    ps.add_argument("--json", action="store_true", help="print JSON")
    ps.set_defaults(func=_show)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _options(args) -> dict:
    return {"path": args.path} if args.path else {}


def _list(args: argparse.Namespace) -> int:
    from odahgen.motion import registry  # noqa: PLC0415

    if not args.source:
        problems = registry.source_problems()
        for name in registry.available_sources():
            try:
                desc = registry.get_source_class(name).description
            except OdahgenError as err:
                desc = f"ERROR: {err}"
            print(f"{name:12s} {registry.source_origin(name):28s} {desc}")
        for name, msg in problems.items():
            print(f"problem: {name}: {msg}")
        return 0
    src = registry.get_source(args.source, **_options(args))
    for mid in src.list_motions():
        print(mid)
    return 0


def _show(args: argparse.Namespace) -> int:
    from odahgen.motion import registry  # noqa: PLC0415

    source, motion = registry.parse_motion_ref(args.ref)
    src = registry.get_source(source, **_options(args))
    m = src.load(motion, seed=args.seed)
    info = m.summary()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        for k, v in info.items():
            if k == "markers":
                v = f"{len(v)}: {', '.join(v[:8])}{' ...' if len(v) > 8 else ''}"
            print(f"{k:24s} {v}")
    return 0
