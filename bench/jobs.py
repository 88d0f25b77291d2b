"""Benchmark of the job system.

1. plan 100,000 trials (write the job specs), 2. `odahgen status` over 100,000 trials with
states spread over the stages, 3. local executor speed-up from 1 to 2 workers on CPU-bound
trials. Run: `.venv/bin/python bench/jobs.py` (or `make bench`). Prints figures and ratios.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core per worker process (before NumPy loads)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from odahgen.config import load_config  # noqa: E402
from odahgen.jobs.graph import SEP, STATE_DIR  # noqa: E402
from odahgen.jobs.local import run_local  # noqa: E402
from odahgen.jobs.plan import expand, plan  # noqa: E402
from odahgen.jobs.status import dataset_status  # noqa: E402

N_TRIALS = int(os.environ.get("BENCH_TRIALS", 100_000))


def bench_plan_and_status(root: Path) -> None:
    subjects = N_TRIALS // 5
    cfg = load_config("demo", [f"dataset.subjects={subjects}",
                               "dataset.shape_variants=[-1.0, -0.5, 0.0, 0.5, 1.0]"])
    t0 = time.perf_counter()
    specs = expand(cfg, ["walk"])
    t_expand = time.perf_counter() - t0
    ds = root / "big"
    t0 = time.perf_counter()
    plan(cfg, ds, specs=specs)
    t_plan = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan(cfg, ds, specs=specs)
    t_replan = time.perf_counter() - t0
    print(f"plan: {len(specs)} trials: expand {t_expand:.2f} s, write {t_plan:.2f} s "
          f"({len(specs) / t_plan:,.0f} trials/s), re-plan unchanged {t_replan:.2f} s")

    # states spread over the stages, as a farm mid-run would leave them
    rng = random.Random(0)
    stages = ["motion", "skeleton", "fit", "scene", "render", "gt", "qa"]
    folder = ds / STATE_DIR
    folder.mkdir(exist_ok=True)
    for s in specs:
        stage = rng.choice(stages)
        state = rng.choices(["done", "running", "failed", "pending"], [70, 5, 5, 20])[0]
        if state == "pending":
            continue
        (folder / f"{s.trial}{SEP}{stage}{SEP}{state}").touch()
    # `running` trials are lock-checked; give them trial folders like a real run does
    t0 = time.perf_counter()
    st = dataset_status(ds)
    t_status = time.perf_counter() - t0
    print(f"status: {st.total} trials ({st.done} done, {len(st.failed)} failed, "
          f"{sum(n for (_, s), n in st.counts.items() if s == 'interrupted')} interrupted) "
          f"in {t_status:.2f} s (target < 5 s: {'ok' if t_status < 5 else 'MISSED'})")


def bench_speedup(root: Path) -> None:
    import bench_stages

    cfg = load_config("demo", ["dataset.subjects=4", "dataset.shape_variants=[0.0]"])
    times = {}
    for workers in (1, 2):
        ds = root / f"speed{workers}"
        plan(cfg, ds, specs=expand(cfg, ["walk", "squat"]))
        t0 = time.perf_counter()
        out = run_local(ds, workers=workers, stage_factory=bench_stages.stages,
                        show_progress=False)
        times[workers] = time.perf_counter() - t0
        assert all(o.state == "done" for o in out), out
    print(f"local executor, 8 CPU-bound trials: 1 worker {times[1]:.2f} s, 2 workers "
          f"{times[2]:.2f} s, speed-up {times[1] / times[2]:.2f}x (ideal 2.00x on 2 cores)")


if __name__ == "__main__":
    root = Path(tempfile.mkdtemp(prefix="odahgen-bench-jobs-"))
    try:
        bench_plan_and_status(root)
        bench_speedup(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
