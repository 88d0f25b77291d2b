"""Benchmark of `odahgen status` with its QA yield section at farm scale.

Plans BENCH_TRIALS (default 100,000) trials, then gives them what a farm run leaves:
75 % finished (a qa.json each: about 60 % of those pass, the others fail one or two gates
with the texts qa_trial writes), 5 % failed at a stage (failure.json), 2 % running, the rest
not started. Times: the counts alone (what status read before the yield section), the yield
reading every qa.json / failure.json (no cache), the yield again from the cache, and the
whole `odahgen status` command (a new process) with the cache.

Run: `.venv/bin/python bench/yield_status.py [FOLDER]` (FOLDER keeps the dataset; default a
temporary folder, removed afterwards).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from odahgen.config import load_config
from odahgen.jobs.graph import SEP, STATE_DIR, TRIALS_DIR
from odahgen.jobs.plan import expand, plan
from odahgen.jobs.status import CACHE_FILE, dataset_status, qa_yield

N_TRIALS = int(os.environ.get("BENCH_TRIALS", 100_000))

REASONS = [
    lambda r: f"IK marker RMS {r.uniform(2, 5):.2f} cm > 2.00 cm",
    lambda r: f"IK max marker error {r.uniform(8, 30):.2f} cm > 8.00 cm",
    lambda r: f"{r.uniform(5, 100):.1f}% of frames flagged (bony landmark off) > 5.0%",
    lambda r: f"joint limits exceeded by > 0.05 rad in {r.randint(1, 600)} frames (arm_flex_r)",
    lambda r: f"clip too short: {r.randint(10, 63)} frames < 64",
    lambda r: f"only {r.uniform(50, 89):.1f}% of visible keypoints inside the person mask in view front (< 90%)",
]
ERRORS = [
    "Blender exited with code -9 after {n} s (out of memory?)",
    "{trial}/motion.npz: damaged file (truncated at {n} bytes)",
    "IK did not converge in frame {n}",
]


def make_dataset(ds: Path) -> None:
    cfg = load_config("demo", [f"dataset.subjects={N_TRIALS // 5}",
                               "dataset.shape_variants=[-1.0, -0.5, 0.0, 0.5, 1.0]"])
    specs = expand(cfg, ["walk"])
    t0 = time.perf_counter()
    plan(cfg, ds, specs=specs)
    rng = random.Random(0)
    state = ds / STATE_DIR
    state.mkdir(exist_ok=True)
    for s in specs:
        kind = rng.choices(["done", "failed", "running", "none"], [75, 5, 2, 18])[0]
        if kind == "none":
            continue
        folder = ds / TRIALS_DIR / s.trial
        folder.mkdir(parents=True, exist_ok=True)
        if kind == "done":
            reasons = [] if rng.random() < 0.6 else [f(rng) for f in rng.sample(REASONS, rng.choice([1, 1, 2]))]
            (folder / "qa.json").write_text(json.dumps({
                "passed": not reasons, "reasons": reasons,
                "metrics": {"ik_rms_mean_m": rng.uniform(0.005, 0.05), "n_frames": 600.0}}))
            (state / f"{s.trial}{SEP}qa{SEP}done").touch()
        elif kind == "failed":
            stage = rng.choice(["motion", "skeleton", "render"])
            error = rng.choice(ERRORS).format(n=rng.randint(1, 9999), trial=folder)
            (folder / "failure.json").write_text(json.dumps({"trial": s.trial, "stage": stage,
                                                             "error": error}))
            (state / f"{s.trial}{SEP}{stage}{SEP}failed").touch()
        else:
            (state / f"{s.trial}{SEP}render{SEP}running").touch()
    print(f"dataset: {len(specs)} trials made in {time.perf_counter() - t0:.1f} s")


def evict(ds: Path) -> int:
    """Drop the trial files' data from the page cache (as after a reboot or on another node)."""
    n = 0
    for name in ("qa.json", "failure.json"):
        for path in (ds / TRIALS_DIR).glob(f"*/{name}"):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                n += 1
            finally:
                os.close(fd)
    return n


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"{label}: {time.perf_counter() - t0:.2f} s")
    return out


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="odahgen-yield-"))
    ds = root / "big"
    try:
        if not (ds / "dataset.json").exists():
            make_dataset(ds)
        (ds / CACHE_FILE).unlink(missing_ok=True)
        st = timed("counts only (status before the yield section)", lambda: dataset_status(ds))
        evicted = evict(ds)
        timed(f"yield, no cache, {evicted} trial files not in memory (posix_fadvise DONTNEED)",
              lambda: qa_yield(ds, st, cache=False))
        y = timed("yield, no cache (reads every qa.json / failure.json)", lambda: qa_yield(ds, st, cache=False))
        timed("yield, first run (reads them all, writes the cache)", lambda: qa_yield(ds, st))
        os.utime(ds / STATE_DIR)  # a state change now: the cache is checked file by file
        y2 = timed("yield while a run works on the dataset (cache, one stat per trial file)",
                   lambda: qa_yield(ds, st))
        time.sleep(2.1)
        qa_yield(ds, st)  # rewrites the cache well after the last state change
        y3 = timed("yield of a quiet dataset (cache only, no trial file looked at)", lambda: qa_yield(ds, st))
        assert y2.to_dict() == y.to_dict() == y3.to_dict()
        print(f"cache file: {(ds / CACHE_FILE).stat().st_size / 1e6:.1f} MB")
        for args in (["--no-yield"], [], ["--json"]):
            t0 = time.perf_counter()
            run = subprocess.run([str(Path(sys.executable).with_name("odahgen")), "status", str(ds),
                                  "--failures", "3", *args], capture_output=True, text=True)
            t_cli = time.perf_counter() - t0
            print(f"`odahgen status {' '.join(args)}` (a new process): {t_cli:.2f} s "
                  f"(target < 5 s: {'ok' if t_cli < 5 else 'MISSED'}); exit {run.returncode}")
        print(run.stdout[:1500])
        os.utime(ds / STATE_DIR)
        t0 = time.perf_counter()
        run = subprocess.run([str(Path(sys.executable).with_name("odahgen")), "status", str(ds),
                              "--failures", "3"], capture_output=True, text=True)
        print(f"`odahgen status` during a run (a new process): {time.perf_counter() - t0:.2f} s")
        print(run.stdout[-4000:], run.stderr[-2000:])
    finally:
        if len(sys.argv) <= 1:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
