"""CPU-bound stand-in workload for bench/jobs.py's executor speed-up (about 1 s per trial
of NumPy work, single-threaded): it measures the executor, not the pipeline."""

from __future__ import annotations

import numpy as np

from odahgen.io import atomic_write_json
from odahgen.jobs.graph import Stage


def work(ctx) -> None:
    rng = np.random.default_rng(ctx.spec.seed)
    a = rng.standard_normal((200, 200))
    acc = 0.0
    for _ in range(4000):
        a = np.tanh(a @ a.T / 200.0)
        acc += float(a[0, 0])
    atomic_write_json(ctx.path("work.json"), {"acc": acc})


def stages(config):
    return [Stage("work", work, ("work.json",))]
