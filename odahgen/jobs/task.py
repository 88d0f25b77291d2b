"""One array task of a farm executor: run a slice of a trial list in this process.

``python -m odahgen.jobs.task DATASET --list FILE --index I --per-task K [--stages a,b]``
runs trials ``I*K .. I*K+K-1`` of FILE. It exits 0 when the trials ran, whatever their
outcome (failures are recorded in the dataset), so a failed trial never blocks the next
phase's dependency; it exits non-zero only when it could not run at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from odahgen.errors import OdahgenError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m odahgen.jobs.task")
    p.add_argument("dataset")
    p.add_argument("--list", required=True, help="file with one trial id per line")
    p.add_argument("--index", type=int, required=True, help="array task index")
    p.add_argument("--per-task", type=int, default=1)
    p.add_argument("--stages", default="", help="comma-separated stages (default: all)")
    p.add_argument("--verify", action="store_true", help="hash every recorded output")
    args = p.parse_args(argv)
    try:
        from odahgen.jobs.local import run_one

        trials = [t for t in Path(args.list).read_text().splitlines() if t]
        chunk = trials[args.index * args.per_task:(args.index + 1) * args.per_task]
        if not chunk:
            raise OdahgenError(f"{args.list}: no trials for task index {args.index}")
        only = [s for s in args.stages.split(",") if s] or None
        for trial in chunk:
            out = run_one(args.dataset, trial, only, verify=args.verify)
            print(f"{trial}: {out['state']} {out['stage']} {out['error']}".rstrip(), flush=True)
        return 0
    except (OdahgenError, OSError) as err:
        print(f"odahgen task: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
