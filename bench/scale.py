"""Benchmark: `odahgen status`, `validate` and `report` on a dataset of 100,000 planned trials
(issue 17 target: each < 5 s, as a new process, start-up included).

The dataset is bench/yield_status.py's (BENCH_TRIALS planned: 75 % finished with a qa.json,
5 % failed, 2 % running, the rest not started) plus FINISHED (default 40) trials that have
a real trial.h5 and videos (odahgen.testing's synthetic trials, 64 frames), as a farm run
in progress looks. Each command runs REPEATS times (default 3); the medians are printed
with the baseline of the same run: `python -c 'import odahgen.cli'` (start-up and imports
alone).

Run: `.venv/bin/python bench/scale.py [FOLDER]` (FOLDER keeps the dataset between runs;
default a temporary folder, removed afterwards). The machine may be shared: medians.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import yield_status  # noqa: E402

FINISHED = int(os.environ.get("FINISHED", 40))
REPEATS = int(os.environ.get("REPEATS", 3))
TARGET_S = 5.0


def add_real_trials(ds: Path, n: int) -> None:
    """``n`` synthetic finished trials with trial.h5 and videos (ids s0001_walk_b0 ...)."""
    from odahgen.testing.gt import make_dataset

    subjects = tuple(f"s{i:04d}" for i in range(n))
    t0 = time.perf_counter()
    make_dataset(ds, subjects=subjects, motions=("walk",), n_frames=64)
    print(f"{n} trials with trial.h5 + videos made in {time.perf_counter() - t0:.1f} s")


def timed_cmd(args: list[str]) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    return time.perf_counter() - t0, proc.returncode, (proc.stdout + proc.stderr)[-600:]


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="odahgen-scale-"))
    ds = root / "big"
    exe = str(Path(sys.executable).with_name("odahgen"))
    try:
        if not (ds / "dataset.json").exists():
            yield_status.make_dataset(ds)
            add_real_trials(ds, FINISHED)
        commands = {
            "baseline: python -c 'import odahgen.cli'": [sys.executable, "-c", "import odahgen.cli"],
            "odahgen status": [exe, "status", str(ds), "--failures", "3"],
            "odahgen validate": [exe, "validate", str(ds)],
            "odahgen report": [exe, "report", str(ds), "-o", str(root / "report.html")],
        }
        results = {}
        for _ in range(REPEATS):
            for label, args in commands.items():
                results.setdefault(label, []).append(timed_cmd(args))
        base = statistics.median(t for t, _, _ in results[next(iter(commands))])
        for label, runs in results.items():
            med = statistics.median(t for t, _, _ in runs)
            ok = "" if label.startswith("baseline") else (
                f"  target < {TARGET_S:g} s: {'ok' if med < TARGET_S else 'MISSED'}")
            print(f"{label:45s} median {med:6.2f} s of {[round(t, 2) for t, _, _ in runs]} "
                  f"(x{med / base:.1f} the baseline; exit {runs[-1][1]}){ok}")
            if runs[-1][1] not in (0, 1):
                print("   ", " ".join(runs[-1][2].split())[-300:])
    finally:
        if len(sys.argv) <= 1:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
