"""The local executor: a pool of N worker processes, one trial at a time each.

GPU slots: with ``gpus = G > 0`` worker *i* sees only GPU ``i % G`` through
``CUDA_VISIBLE_DEVICES`` (set before anything in it initialises CUDA). Progress is read from
the dataset's state folder, so it shows per-stage counts, failures and an ETA whatever the
workers do.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path

from odahgen.errors import OdahgenError
from odahgen.io import atomic_write_json
from odahgen.jobs.graph import TRIALS_DIR, TrialOutcome, run_trial, set_state, trial_lock
from odahgen.jobs.plan import JOBS_DIR, dataset_config, load_spec, trial_ids

_CONFIG_CACHE: dict[str, object] = {}


def _init_worker(slots, stage_factory) -> None:
    global _STAGE_FACTORY
    _STAGE_FACTORY = stage_factory
    if slots is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(slots.get())


_STAGE_FACTORY = None


def run_one(dataset: str, trial: str, only: list[str] | None, stage_factory=None,
            verify: bool = False) -> dict:
    """Run one trial in this process (used by every executor); returns the outcome dict.
    ``verify``: hash every recorded output instead of trusting size and mtime."""
    factory = stage_factory or _STAGE_FACTORY
    if factory is None:
        from odahgen.jobs.pipeline import stages_for as factory
    key = str(dataset)
    if key not in _CONFIG_CACHE:
        _CONFIG_CACHE[key] = dataset_config(Path(dataset))
    config = _CONFIG_CACHE[key]
    try:
        spec = load_spec(Path(dataset), trial)
    except OdahgenError as err:  # a missing or corrupt job spec fails this trial only
        return asdict(_spec_failure(Path(dataset), trial, str(err)))
    outcome = run_trial(Path(dataset), spec, config, factory(config),
                        only=set(only) if only else None, verify=verify)
    return asdict(outcome)


def _spec_failure(dataset: Path, trial: str, error: str) -> TrialOutcome:
    """The outcome of a trial whose job spec cannot be read. When a (corrupt) spec file is
    there, the failure is also recorded like a stage failure (stage ``spec``), so ``odahgen
    status`` lists it; a trial with no spec at all leaves nothing behind."""
    outcome = TrialOutcome(trial, "failed", "spec", error)
    if not (dataset / JOBS_DIR / f"{trial}.json").is_file():
        return outcome
    trial_dir = dataset / TRIALS_DIR / trial
    with trial_lock(trial_dir) as locked:
        if not locked:
            return TrialOutcome(trial, "skipped-locked")
        atomic_write_json(trial_dir / "failure.json", {
            "trial": trial, "stage": "spec", "error": error, "exception": "OdahgenError",
            "log": "", "job_log": os.environ.get("ODAHGEN_JOB_LOG", ""), "time": time.time()})
        set_state(dataset, trial, "spec", "failed")
    return outcome


def run_local(dataset: Path, workers: int = 1, gpus: int = 0, only: list[str] | None = None,
              trials: list[str] | None = None, stage_factory=None,
              show_progress: bool = True, verify: bool = False) -> list[TrialOutcome]:
    """Run (or resume) the trials of ``dataset`` with ``workers`` processes.

    ``verify``: compare every finished stage's outputs by content hash (slower; finds
    same-size rewrites that kept their mtime), not just by size and mtime.

    ``stage_factory(config) -> list[Stage]`` defaults to the real pipeline; tests pass their
    own (it must be importable by name for the worker processes).
    """
    dataset = Path(dataset)
    trials = trials if trials is not None else trial_ids(dataset)
    workers = max(1, int(workers))
    ctx = mp.get_context("spawn")
    slots = None
    if gpus > 0:
        slots = ctx.Manager().Queue()
        for i in range(workers):
            slots.put(i % gpus)
    outcomes: list[TrialOutcome] = []
    progress = _Progress(dataset, len(trials)) if show_progress else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(slots, stage_factory)) as pool:
        pending = {pool.submit(run_one, str(dataset), t, only, None, verify): t for t in trials}
        try:
            while pending:
                done, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in done:
                    trial = pending.pop(fut)
                    try:
                        outcomes.append(TrialOutcome(**fut.result()))
                    except Exception as err:  # the worker process itself died
                        outcomes.append(TrialOutcome(trial, "failed", "?",
                                                     f"worker crashed: {type(err).__name__}: {err}"))
                if progress:
                    progress.update(outcomes)
        except KeyboardInterrupt:
            for fut in pending:
                fut.cancel()
            raise
        finally:
            if progress:
                progress.close(outcomes)
    return outcomes


class _Progress:
    """A rich progress bar plus a line of per-stage counts read from the state folder."""

    def __init__(self, dataset: Path, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.dataset = dataset
        self.total = total
        self.t0 = time.monotonic()
        self.progress = Progress(TextColumn("[bold]trials"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[stages]}"), TimeRemainingColumn())
        self.task = self.progress.add_task("trials", total=total, stages="")
        self.progress.start()
        self.last_poll = 0.0

    def update(self, outcomes) -> None:
        now = time.monotonic()
        if now - self.last_poll < 1.0 and len(outcomes) < self.total:
            return
        self.last_poll = now
        from odahgen.jobs.status import dataset_status

        try:
            st = dataset_status(self.dataset)
        except OdahgenError:  # e.g. a plan being rewritten meanwhile: skip this refresh
            return
        running = {}
        for (stage, state), n in st.counts.items():
            if state == "running":
                running[stage] = running.get(stage, 0) + n
        fails = sum(1 for o in outcomes if o.state == "failed")
        text = " ".join(f"{s}:{n}" for s, n in sorted(running.items()))
        self.progress.update(self.task, completed=len(outcomes),
                             stages=f"running {text or '-'} | failed {fails}")

    def close(self, outcomes) -> None:
        self.update(outcomes)
        self.progress.stop()
