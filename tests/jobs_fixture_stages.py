"""Small real stages for the job-system tests (importable by spawned worker processes).

Behaviour is steered by files in the dataset folder so that separate processes agree:
``FAIL`` lists trial ids whose ``second`` stage raises; ``SLOW`` makes ``second`` sleep
that many seconds (for kill tests); each run of a stage appends a line to
``trials/<t>/runs.txt`` so tests can count how often a stage really ran.
"""

from __future__ import annotations

import json
import time

from odahgen.io import atomic_path, atomic_write_json
from odahgen.jobs.graph import Stage, TrialContext


def _note(ctx: TrialContext, stage: str) -> None:
    with open(ctx.path("runs.txt"), "a") as fh:
        fh.write(f"{stage}\n")


def first(ctx: TrialContext) -> None:
    _note(ctx, "first")
    atomic_write_json(ctx.path("first.json"), {"trial": ctx.spec.trial, "seed": ctx.spec.seed})


def second(ctx: TrialContext) -> None:
    _note(ctx, "second")
    fail = ctx.dataset / "FAIL"
    if fail.exists() and ctx.spec.trial in fail.read_text().split():
        raise RuntimeError(f"planted failure in {ctx.spec.trial}")
    once = ctx.dataset / "FAIL_ONCE"
    marker = ctx.path("failed_once")
    if once.exists() and ctx.spec.trial in once.read_text().split() and not marker.exists():
        marker.write_text("1")
        raise RuntimeError(f"planted one-time failure in {ctx.spec.trial}")
    slow = ctx.dataset / "SLOW"
    delay = float(slow.read_text()) if slow.exists() else 0.0
    data = json.loads(ctx.path("first.json").read_text())
    with atomic_path(ctx.path("second.bin")) as tmp:
        with open(tmp, "wb") as fh:
            for i in range(20):
                fh.write(bytes([i]) * 1000)
                fh.flush()
                time.sleep(delay / 20)
    atomic_write_json(ctx.path("second.json"), {**data, "ok": True})


def third(ctx: TrialContext) -> None:
    _note(ctx, "third")
    data = json.loads(ctx.path("second.json").read_text())
    atomic_write_json(ctx.path("third.json"), {**data, "scale": ctx.config.render.width})


def stages(config) -> list[Stage]:
    return [
        Stage("first", first, ("first.json",), config_keys=("dataset.seed",)),
        Stage("second", second, ("second.json", "second.bin"), deps=("first",)),
        Stage("third", third, ("third.json",), deps=("second",), config_keys=("render",),
              resource="gpu"),
    ]
