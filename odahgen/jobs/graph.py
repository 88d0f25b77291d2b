"""The per-trial stage graph: completion records, skipping, locking, failure records.

A trial's stages run in order; each reads earlier stages' outputs from the trial folder and
writes its own atomically. After a stage succeeds a completion record
``trials/<trial>/stages/<stage>.json`` is written (:mod:`odahgen.io.records`: key = hash of
the config values the stage reads, its inputs' output hashes and the versions; every output
file with its size, mtime and content hash; seconds). A stage is skipped only when its
record's key matches the current one and its output files are intact (size and mtime, or the
content hash when only the mtime differs; ``verify=True`` hashes every file), so re-running a
trial or a dataset resumes it, and a deleted, truncated or overwritten output is made again
(with every stage after it whose inputs changed).

Intermediates: a stage's ``intermediate`` outputs are read only by later stages (the fitted
body's vertices, the render bundle). When every stage of a trial is complete they are
removed (``storage.keep_intermediates = false``, the default) and marked *pruned* in their
records (:func:`odahgen.io.records.prune_outputs`), so the trial still counts as complete.
If a later stage must run again (a config change, a damaged output), the stages whose
pruned outputs it reads run first and make them again.

Concurrency: a trial is run under an exclusive ``flock`` on ``trials/<trial>/.lock``
(released by the kernel even after kill -9), so two ``odahgen run`` on the same dataset never
do the same trial at once; the second one skips a locked trial.

State for ``odahgen status``: one empty file per trial in ``DATASET/state/`` whose *name*
is ``<trial>~<stage>~<state>`` (state: running, failed, done). Listing one folder is fast
for 100,000 trials; failure details live in ``trials/<trial>/failure.json``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from odahgen import __version__
from odahgen.config import Config
from odahgen.errors import OdahgenError
from odahgen.io import atomic_write_json, atomic_write_text, stable_hash
from odahgen.io.records import (RECORDS_DIR, changed_outputs, make_record, prune_outputs,
                                pruned_files, read_record, write_record)
from odahgen.jobs.plan import TrialSpec, content_config

STATE_DIR = "state"
TRIALS_DIR = "trials"
SEP = "~"


@dataclass
class TrialContext:
    """What a stage function gets: the trial's spec, folder, config and logger."""

    dataset: Path
    spec: TrialSpec
    config: Config
    log: logging.Logger

    @property
    def dir(self) -> Path:
        return self.dataset / TRIALS_DIR / self.spec.trial

    def path(self, name: str) -> Path:
        return self.dir / name


@dataclass(frozen=True)
class Stage:
    """One step of a trial.

    ``run(ctx)`` writes ``outputs`` (paths relative to the trial folder) atomically.
    ``config_keys`` are the config values (sections like ``"render"``, keys like
    ``"render.fps"``, or ``"*"`` for the whole config) the result depends on: every value the
    stage reads; ``deps`` the earlier stages whose outputs it reads. ``resource`` is ``cpu``
    or ``gpu`` (the executors give GPU stages a GPU slot / partition).
    """

    name: str
    run: Callable[[TrialContext], None]
    outputs: tuple[str, ...]
    deps: tuple[str, ...] = ()
    config_keys: tuple[str, ...] = ()
    resource: str = "cpu"
    version: str = "1"
    optional_outputs: tuple[str, ...] = ()  # written only by some trials; recorded when present
    intermediate: tuple[str, ...] = ()  # outputs only later stages read: pruned when the trial is done


def _config_part(config: Config, key: str):
    if key == "*":
        return content_config(config)
    node = config.model_dump(mode="json")
    for part in key.split("."):
        node = node[part]
    return node


def stage_key(stage: Stage, ctx: TrialContext, dep_records: dict[str, dict]) -> str:
    """Hash of everything that determines a stage's outputs."""
    return stable_hash({
        "stage": stage.name,
        "stage_version": stage.version,
        "odahgen": __version__,
        "spec": ctx.spec.__dict__,
        "config": {k: _config_part(ctx.config, k) for k in stage.config_keys},
        "inputs": {d: dep_records[d].get("outputs") for d in stage.deps},
    }, length=24)


def outputs_intact(trial_dir: Path, verify: bool = False) -> bool:
    """Every stage record of the trial lists output files that are all still as written
    (a cheap check for executors that decide which trials to submit)."""
    records = sorted((Path(trial_dir) / RECORDS_DIR).glob("*.json"))
    for path in records:
        record = read_record(trial_dir, path.stem)
        if record is None or changed_outputs(record, trial_dir, verify=verify):
            return False
    return bool(records)


# ----------------------------------------------------------------------------- state files

def set_state(dataset: Path, trial: str, stage: str, state: str) -> None:
    """Make ``state/<trial>~<stage>~<state>`` the trial's only state file.

    The current name is remembered in ``trials/<trial>/.state`` so a transition is one
    rename (no folder scan); callers hold the trial lock.
    """
    folder = Path(dataset) / STATE_DIR
    folder.mkdir(exist_ok=True)
    new = folder / f"{trial}{SEP}{stage}{SEP}{state}"
    pointer = Path(dataset) / TRIALS_DIR / trial / ".state"
    try:
        old = folder / pointer.read_text().strip()
    except FileNotFoundError:
        old = None
    atomic_write_text(pointer, new.name, fsync=False)
    if old == new and new.exists():
        return
    if old is None:  # the trial's first state
        new.touch()
        return
    try:
        os.replace(old, new)
    except FileNotFoundError:  # a kill -9 between writing the pointer and the rename
        prefix = f"{trial}{SEP}"
        for entry in os.scandir(folder):
            if entry.name.startswith(prefix) and entry.name != new.name:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        new.touch()


@contextlib.contextmanager
def trial_lock(trial_dir: Path) -> Iterator[bool]:
    """Yield True while holding the trial's exclusive lock, False if another process has it."""
    trial_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(trial_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                yield False
                return
            raise
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.uname().nodename} {os.getpid()}\n".encode())
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _remove_stale_temporaries(trial_dir: Path) -> None:
    """Temporaries of an interrupted atomic write (``.name.XXXX.tmp.ext``); safe under the lock."""
    for tmp in trial_dir.rglob(".*.tmp*"):
        if tmp.is_file():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def trial_logger(trial_dir: Path, trial: str) -> tuple[logging.Logger, logging.Handler]:
    trial_dir.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"odahgen.trial.{trial}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.FileHandler(trial_dir / "trial.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger, handler


@dataclass
class TrialOutcome:
    trial: str
    state: str  # done, failed, skipped-locked, partial (stopped at a stage subset)
    stage: str = ""
    error: str = ""
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_trial(dataset: Path, spec: TrialSpec, config: Config, stages: list[Stage],
              only: set[str] | None = None, verify: bool = False) -> TrialOutcome:
    """Run (or resume) one trial's stages in order; never raises for a stage failure.

    ``only``: run just these stages (their earlier stages must already be complete), e.g.
    the render stage on a GPU node after the CPU stages ran elsewhere. ``verify``: compare
    every recorded output's content hash, not just its size and mtime. When every stage is
    complete, the stages' ``intermediate`` outputs are pruned unless
    ``storage.keep_intermediates``.
    """
    dataset = Path(dataset)
    trial_dir = dataset / TRIALS_DIR / spec.trial
    t0 = time.monotonic()
    with trial_lock(trial_dir) as locked:
        if not locked:
            return TrialOutcome(spec.trial, "skipped-locked")
        _remove_stale_temporaries(trial_dir)
        log, handler = trial_logger(trial_dir, spec.trial)
        ctx = TrialContext(dataset, spec, config, log)
        outcome = TrialOutcome(spec.trial, "done")
        try:
            restore: set[str] = set()  # complete stages whose pruned outputs a later stage needs
            while True:
                needed = _run_stages(ctx, stages, only, verify, restore, outcome)
                if not needed:
                    break
                log.info("stages %s: their outputs were pruned and stage(s) that read them "
                         "must run: making them again", ", ".join(sorted(needed)))
                restore |= needed
            if outcome.state == "done":
                if not getattr(getattr(config, "storage", None), "keep_intermediates", True):
                    _prune_intermediates(trial_dir, stages, log)
                with contextlib.suppress(FileNotFoundError):
                    (trial_dir / "failure.json").unlink()
                set_state(dataset, spec.trial, stages[-1].name if stages else "-", "done")
        finally:
            outcome.seconds = round(time.monotonic() - t0, 3)
            handler.close()
            log.removeHandler(handler)
        return outcome


def _pruned_deps(stage: Stage, records: dict[str, dict], by_name: dict[str, Stage]) -> set[str]:
    """The earlier stages (``stage``'s deps, and theirs while they too must run again) whose
    outputs were pruned: they must run before ``stage`` can."""
    out: set[str] = set()
    todo = list(stage.deps)
    while todo:
        dep = todo.pop()
        if dep in out or not pruned_files(records.get(dep)):
            continue
        out.add(dep)
        if dep in by_name:
            todo.extend(by_name[dep].deps)
    return out


def _run_stages(ctx: TrialContext, stages: list[Stage], only: set[str] | None, verify: bool,
                restore: set[str], outcome: TrialOutcome) -> set[str]:
    """One pass over the stages (records from the trial folder). Returns the complete stages
    whose pruned outputs a stage that must run reads (the caller restores them and passes
    again), or an empty set when the pass finished, failed or stopped at a stage subset."""
    trial_dir, dataset, spec, log = ctx.dir, ctx.dataset, ctx.spec, ctx.log
    by_name = {s.name: s for s in stages}
    records: dict[str, dict] = {}
    outcome.state, outcome.skipped = "done", []
    for stage in stages:
        key = stage_key(stage, ctx, records)
        record = read_record(trial_dir, stage.name)
        same_key = bool(record) and record.get("key") == key
        changed = changed_outputs(record, trial_dir, verify=verify) if same_key else []
        if same_key and not changed and stage.name not in restore:
            records[stage.name] = record
            outcome.skipped.append(stage.name)
            continue
        needed = _pruned_deps(stage, records, by_name) - restore
        if needed:
            return needed
        if only is not None and stage.name not in only:
            outcome.state, outcome.stage = "partial", stage.name
            if not (trial_dir / "failure.json").exists():  # keep a failure visible
                set_state(dataset, spec.trial, stage.name, "pending")
            return set()
        set_state(dataset, spec.trial, stage.name, "running")
        if same_key and stage.name in restore and not changed:
            log.info("stage %s: start (making its pruned outputs again)", stage.name)
        elif same_key:
            log.info("stage %s: start (its outputs changed since: %s)", stage.name,
                     ", ".join(changed[:5]))
        else:
            log.info("stage %s: start", stage.name)
        s0 = time.monotonic()
        try:
            stage.run(ctx)
            missing = [o for o in stage.outputs if not (trial_dir / o).exists()]
            if missing:
                raise OdahgenError(f"stage {stage.name} did not write {missing}")
        except BaseException as err:
            if isinstance(err, KeyboardInterrupt):
                raise
            msg = " ".join(str(err).split()) or type(err).__name__
            log.error("stage %s failed: %s\n%s", stage.name, msg, traceback.format_exc())
            atomic_write_json(trial_dir / "failure.json", {
                "trial": spec.trial, "stage": stage.name, "error": msg,
                "exception": type(err).__name__, "log": str(trial_dir / "trial.log"),
                "job_log": os.environ.get("ODAHGEN_JOB_LOG", ""),
                "time": time.time(),
            })
            set_state(dataset, spec.trial, stage.name, "failed")
            outcome.state, outcome.stage, outcome.error = "failed", stage.name, msg
            return set()
        written = stage.outputs + tuple(o for o in stage.optional_outputs
                                        if (trial_dir / o).exists())
        record = make_record(trial_dir, stage.name, key, written,
                             seconds=round(time.monotonic() - s0, 3),
                             versions={"odahgen": __version__}, time=time.time())
        write_record(trial_dir, record)
        # a stage that rewrites an earlier stage's file (qa adds /qa to trial.h5)
        # takes it over: the earlier record describes the new file from now on
        for earlier in records.values():
            shared = set(earlier.get("files", {})) & set(record["files"])
            if shared:
                earlier["files"].update({f: record["files"][f] for f in shared})
                write_record(trial_dir, earlier)
        records[stage.name] = record
        restore.discard(stage.name)
        outcome.ran.append(stage.name)
        log.info("stage %s: done in %.2f s", stage.name, record["seconds"])
    return set()


def _prune_intermediates(trial_dir: Path, stages: list[Stage], log: logging.Logger) -> None:
    """Remove the ``intermediate`` outputs of the trial's (complete) stages, marking them
    pruned in their records."""
    freed, names = 0, []
    for stage in stages:
        if not stage.intermediate:
            continue
        record = read_record(trial_dir, stage.name)
        if record is None:
            continue
        n = prune_outputs(trial_dir, record, stage.intermediate)
        if n or any((trial_dir / o).exists() for o in stage.intermediate):
            names.extend(stage.intermediate)
        freed += n
    if freed:
        log.info("pruned intermediates %s: %.1f MB freed (storage.keep_intermediates = false)",
                 ", ".join(names), freed / 1e6)
