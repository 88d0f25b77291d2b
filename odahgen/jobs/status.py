"""``odahgen status``: counts per stage and state, failures with reasons and log paths.

Reads one folder listing (``DATASET/state/``) plus ``failure.json`` of failed trials only,
so it stays fast for 100,000 trials.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from odahgen.jobs.graph import SEP, STATE_DIR, TRIALS_DIR
from odahgen.jobs.plan import trial_ids


@dataclass
class DatasetStatus:
    """Trial counts of a dataset. ``counts`` keys are (stage, state) with state one of
    running, interrupted (its state says running but no process holds its lock: killed),
    failed, done, pending (stopped before a stage that was not selected)."""

    total: int
    counts: Counter  # (stage, state) -> trials
    failed: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    finished: set[str] = field(default_factory=set)  # trials whose last stage is done
    interrupted: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(n for (_, state), n in self.counts.items() if state == "done")

    @property
    def started(self) -> int:
        return sum(self.counts.values())

    @property
    def stopped(self) -> int:
        """Trials that stopped before a stage not selected (``run --stages``)."""
        return sum(n for (_, state), n in self.counts.items() if state == "pending")

    @property
    def pending(self) -> int:
        return self.total - self.started


def dataset_status(dataset: Path) -> DatasetStatus:
    dataset = Path(dataset)
    total = len(trial_ids(dataset))  # also a clear error if this is not a (complete) dataset
    counts: Counter = Counter()
    failed, running, finished = [], {}, set()
    folder = dataset / STATE_DIR
    if folder.exists():
        with os.scandir(folder) as it:
            for entry in it:
                parts = entry.name.split(SEP)
                if len(parts) != 3:
                    continue
                trial, stage, state = parts
                if state == "running":
                    running[trial] = stage
                    continue
                counts[(stage, state)] += 1
                if state == "failed":
                    failed.append(trial)
                elif state == "done":
                    finished.add(trial)
    # A "running" trial whose lock is free was interrupted (killed); say so.
    alive, interrupted = [], []
    for trial, stage in running.items():
        if _lock_is_free(dataset / TRIALS_DIR / trial):
            interrupted.append(trial)
            counts[(stage, "interrupted")] += 1
        else:
            alive.append(trial)
            counts[(stage, "running")] += 1
    return DatasetStatus(total, counts, sorted(failed), sorted(alive), finished, sorted(interrupted))


def _lock_is_free(trial_dir: Path) -> bool:
    import fcntl

    try:
        fd = os.open(trial_dir / ".lock", os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def failure_details(dataset: Path, trials: list[str], limit: int = 20) -> list[dict]:
    out = []
    for trial in trials[:limit]:
        path = Path(dataset) / TRIALS_DIR / trial / "failure.json"
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            out.append({"trial": trial, "stage": "?", "error": "no failure record",
                        "log": str(path.parent / "trial.log")})
    return out


def print_status(dataset: Path, status: DatasetStatus, show_failures: int = 20) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    stopped = f", {status.stopped} stopped before a stage not selected" if status.stopped else ""
    print(f"{dataset}: {status.total} trials: {status.done} done, {len(status.failed)} failed, "
          f"{len(status.running)} running, {len(status.interrupted)} interrupted{stopped}, "
          f"{status.pending} not started")
    if status.interrupted:
        print(f"interrupted (killed while running; `odahgen run {dataset}` resumes them): "
              f"{', '.join(status.interrupted[:5])}{' ...' if len(status.interrupted) > 5 else ''}")
    table = Table(title="trials by stage and state")
    table.add_column("stage")
    table.add_column("state")
    table.add_column("trials", justify="right")
    for (stage, state), n in sorted(status.counts.items()):
        table.add_row(stage, state, str(n))
    console.print(table)
    if status.failed and show_failures:
        fails = Table(title=f"failures (first {min(show_failures, len(status.failed))} of "
                            f"{len(status.failed)})")
        for col in ("trial", "stage", "error", "log"):
            fails.add_column(col, overflow="fold")
        for rec in failure_details(dataset, status.failed, show_failures):
            logs = rec.get("log", "") + (f"\n{rec['job_log']}" if rec.get("job_log") else "")
            fails.add_row(rec.get("trial", ""), rec.get("stage", ""), rec.get("error", ""), logs)
        console.print(fails)


def print_failures(dataset: Path, failed, limit: int = 20) -> None:
    """One line per failed trial: stage, reason and its log."""
    for o in failed[:limit]:
        log = Path(dataset) / TRIALS_DIR / o.trial / "trial.log"
        print(f"  FAILED {o.trial} at {o.stage}: {o.error}" + (f" (log: {log})" if log.exists() else ""))
