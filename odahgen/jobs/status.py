"""``odahgen status``: counts per stage and state, the QA yield, failures with reasons and
log paths.

The counts come from one folder listing (``DATASET/state/``). The QA yield (how many
finished trials pass QA, a histogram of the reasons of the others, pipeline failures by
stage and error) reads each finished trial's ``qa.json`` and each failed trial's
``failure.json`` once: what they say is kept in ``DATASET/.status-cache.json`` with each
file's size and mtime, so a later status only stats them (100,000 trials: under a second).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from odahgen.io import atomic_write_text
from odahgen.jobs.graph import SEP, STATE_DIR, TRIALS_DIR
from odahgen.jobs.plan import trial_ids

QA_FILE = "qa.json"  # written by the qa stage
FAILURE_FILE = "failure.json"  # written by the stage graph when a stage fails
CACHE_FILE = ".status-cache.json"  # what status read from the two, per trial
QUIET_NS = 2_000_000_000  # the cache is trusted without stats when written this long after a state change
READ_THREADS = 16  # threads reading trial files (latency of a network filesystem)
BAR_WIDTH = 12  # characters of the longest bar of the reasons histogram


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
    failed_stage: dict[str, str] = field(default_factory=dict)  # failed trial -> its stage

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
    failed, running, finished, failed_stage = [], {}, set(), {}
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
                    failed_stage[trial] = stage
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
    return DatasetStatus(total, counts, sorted(failed), sorted(alive), finished, sorted(interrupted),
                         failed_stage)


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


# ----------------------------------------------------------------------------- QA yield

def _cache_version() -> str:
    """Cached categories are reused only by the same classification (odahgen and its gates)."""
    from odahgen import __version__
    from odahgen.gt import QAYield

    return f"1/{__version__}/{QAYield.categories_version}"


def _read_cache(dataset: Path) -> tuple[dict, int | None]:
    """The cache's content (empty if absent, unreadable or of another version) and the
    file's mtime (ns)."""
    path = dataset / CACHE_FILE
    try:
        mtime = os.stat(path).st_mtime_ns
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, None
    if not isinstance(data, dict) or data.get("version") != _cache_version():
        return {}, None
    return data, mtime


def _write_cache(dataset: Path, state_mtime: int | None, qa: dict, failures: dict) -> None:
    text = json.dumps({"version": _cache_version(), "state_mtime_ns": state_mtime,
                       "qa": qa, "failures": failures}, separators=(",", ":"))
    try:
        atomic_write_text(dataset / CACHE_FILE, text, fsync=False)
    except OSError:  # a dataset the user may read but not write: no cache, same numbers
        pass


def _signature(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


def _qa_entry(path: str) -> list | None:
    """[passed (0/1), sorted reason categories] of a qa.json, None when unreadable."""
    from odahgen.gt import reason_category

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        reasons = [str(r) for r in data.get("reasons") or []]
        gates = data.get("gates")  # a stable gate key per reason, when the writer stored them
        if not isinstance(gates, list) or len(gates) != len(reasons):
            gates = [None] * len(reasons)
        cats = sorted({reason_category(r, g if isinstance(g, str) else None)
                       for r, g in zip(reasons, gates)})
        return [int(bool(data["passed"])), cats]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _failure_entry(path: str, trial: str, stage: str) -> list:
    """[stage, normalised error] of a failure.json (the state's stage when it has none)."""
    from odahgen.gt import error_category

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return [str(data.get("stage") or stage), error_category(str(data.get("error", "")), trial)]
    except (OSError, ValueError, AttributeError):
        return [stage, "no readable failure record"]


def _state_quiet_since(cache: dict, cache_mtime: int | None, state_mtime: int | None,
                       status: DatasetStatus) -> bool:
    """True when no state file changed since the cache was written (so no trial's qa.json
    or failure.json did): the state folder's mtime is the one recorded, and the cache was
    written well after it (mtimes of coarse granularity could hide a later change)."""
    return (state_mtime is not None and cache_mtime is not None
            and cache.get("state_mtime_ns") == state_mtime
            and cache_mtime - state_mtime >= QUIET_NS
            and len(cache.get("qa", ())) == len(status.finished)
            and set(cache["qa"]) == status.finished
            and set(cache.get("failures", ())) == set(status.failed))


def _map_chunks(fn, items: list, threads: int = READ_THREADS) -> list:
    """``[fn(x) for x in items]``, in ``threads`` threads of one contiguous chunk each when
    there are many items (on a network filesystem the file reads wait, not compute)."""
    if len(items) < 1000 or threads <= 1:
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor

    size = -(-len(items) // threads)
    chunks = [items[i:i + size] for i in range(0, len(items), size)]
    with ThreadPoolExecutor(len(chunks)) as pool:
        parts = pool.map(lambda chunk: [fn(x) for x in chunk], chunks)
        return [r for part in parts for r in part]


def qa_yield(dataset: Path, status: DatasetStatus, cache: bool = True):
    """The :class:`odahgen.gt.QAYield` of a dataset: the verdicts of its finished trials
    (``qa.json``) and the failures of its failed ones (``failure.json``, by stage and error).

    With ``cache``, what was read is kept in ``DATASET/.status-cache.json`` with each file's
    mtime and size; a file whose mtime or size changed is read again. When no state file
    changed since the cache was written (a dataset no run is working on) the cache is used
    without looking at the files at all.
    """
    from odahgen.gt import QAYield

    dataset = Path(dataset)
    y = QAYield(planned=status.total)
    try:  # before reading any trial file: a transition after this changes it again
        state_mtime = os.stat(dataset / STATE_DIR).st_mtime_ns
    except OSError:
        state_mtime = None
    old, cache_mtime = _read_cache(dataset) if cache else ({}, None)
    old_qa, old_fail = old.get("qa", {}), old.get("failures", {})
    trusted = _state_quiet_since(old, cache_mtime, state_mtime, status)
    base = os.path.join(str(dataset), TRIALS_DIR) + os.sep

    def cached(hit, path: str, read) -> list | None:
        """The cached [size, mtime, ...] entry of ``path`` if still valid, else read it anew."""
        if trusted and hit is not None:  # a trial without a readable file is looked at again
            return hit
        sig = _signature(path)
        if sig is None:
            return None
        if isinstance(hit, list) and len(hit) == 4 and hit[:2] == sig:
            return hit
        entry = read(path)
        return None if entry is None else sig + entry

    def qa_hit(trial: str) -> list | None:
        return cached(old_qa.get(trial), f"{base}{trial}{os.sep}{QA_FILE}", _qa_entry)

    def failure_hit(trial: str) -> list | None:
        stage = status.failed_stage.get(trial, "?")
        return cached(old_fail.get(trial), f"{base}{trial}{os.sep}{FAILURE_FILE}",
                      lambda path: _failure_entry(path, trial, stage))

    finished = sorted(status.finished)
    threads = 1 if trusted else READ_THREADS
    new_qa = dict(zip(finished, _map_chunks(qa_hit, finished, threads)))
    new_fail = dict(zip(status.failed, _map_chunks(failure_hit, status.failed, threads)))
    for hit in new_qa.values():
        if hit is None:
            y.add_no_verdict()
        else:
            y.add_verdict(bool(hit[2]), hit[3])
    for trial, hit in new_fail.items():
        if hit is None:
            y.add_failure(status.failed_stage.get(trial, "?"), "no failure record")
        else:
            y.add_failure(hit[2], hit[3])
    if cache and (new_qa != old_qa or new_fail != old_fail or old.get("state_mtime_ns") != state_mtime
                  or cache_mtime is None or cache_mtime - (state_mtime or 0) < QUIET_NS):
        _write_cache(dataset, state_mtime, new_qa, new_fail)
    return y


DISK_SAMPLE = 200  # finished trials measured for the disk figure of status


def _tree_bytes(folder: str) -> tuple[int, int]:
    """(allocated bytes, files) under ``folder`` (what ``du`` counts), links not followed."""
    total, files = 0, 0
    stack = [folder]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                            files += 1
                    except OSError:
                        continue
        except OSError:
            continue
    return total, files


def disk_usage(dataset: Path, status: DatasetStatus, sample: int = DISK_SAMPLE) -> dict | None:
    """Disk used by finished trials: every one when there are at most ``sample``, else
    ``sample`` of them evenly spread over the sorted ids (cost independent of the dataset's
    size). ``{"measured", "finished", "mean_bytes", "min_bytes", "max_bytes",
    "finished_bytes", "planned_bytes"}`` (the last two extrapolated from the mean), or None
    when no trial has finished."""
    finished = sorted(status.finished)
    if not finished:
        return None
    step = max(1, len(finished) / max(1, sample))
    chosen = [finished[int(i * step)] for i in range(min(sample, len(finished)))]
    base = Path(dataset) / TRIALS_DIR
    sizes = [_tree_bytes(str(base / t))[0] for t in chosen]
    mean = sum(sizes) / len(sizes)
    return {"measured": len(sizes), "finished": len(finished), "mean_bytes": round(mean),
            "min_bytes": min(sizes), "max_bytes": max(sizes),
            "finished_bytes": round(mean * len(finished)), "planned_bytes": round(mean * status.total)}


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


def disk_line(disk: dict) -> str:
    """One line of status: the mean per finished trial and the dataset's extrapolation."""
    how = (f"all {disk['measured']} finished trials measured" if disk["measured"] == disk["finished"]
           else f"mean of {disk['measured']} of {disk['finished']} finished trials")
    return (f"disk: {_human(disk['mean_bytes'])} per finished trial ({how}; "
            f"{_human(disk['min_bytes'])}-{_human(disk['max_bytes'])}); "
            f"~{_human(disk['finished_bytes'])} finished, ~{_human(disk['planned_bytes'])} "
            f"for all planned trials")


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


def print_status(dataset: Path, status: DatasetStatus, show_failures: int = 20,
                 qa=None, top: int = 10, disk: dict | None = None) -> None:
    """Print the counts, then the QA yield ``qa`` (a QAYield, if given; ``top`` reasons and
    errors), the disk use ``disk`` (from :func:`disk_usage`, if given), then the first
    ``show_failures`` failures."""
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
    if qa is not None:
        print_yield(qa, top, console)
    if disk is not None:
        print(disk_line(disk))
    if status.failed and show_failures:
        fails = Table(title=f"failures (first {min(show_failures, len(status.failed))} of "
                            f"{len(status.failed)})")
        for col in ("trial", "stage", "error", "log"):
            fails.add_column(col, overflow="fold")
        for rec in failure_details(dataset, status.failed, show_failures):
            logs = rec.get("log", "") + (f"\n{rec['job_log']}" if rec.get("job_log") else "")
            fails.add_row(rec.get("trial", ""), rec.get("stage", ""), rec.get("error", ""), logs)
        console.print(fails)


def yield_headline(qa) -> str:
    """Finished trials, how many pass and fail QA; on a second line the usable share of the
    plan and the pipeline failures."""
    if not qa.finished:
        line = "QA yield: no trial has finished yet"
    else:
        line = (f"QA yield: {qa.finished} trials finished: {qa.passed} pass QA "
                f"({qa.percent(qa.passed):.1f}%), {qa.failed} fail QA ({qa.percent(qa.failed):.1f}%)")
        if qa.no_verdict:
            line += f", {qa.no_verdict} without a readable qa.json"
    more = []
    if qa.planned:
        more.append(f"{qa.passed} of {qa.planned} planned trials usable "
                    f"({qa.percent(qa.passed, qa.planned):.1f}%)")
    if qa.pipeline_failed:
        more.append(f"{qa.pipeline_failed} stopped by a pipeline failure")
    return line + ("\n  " + "; ".join(more) if more else "")


def print_yield(qa, top: int = 10, console=None) -> None:
    """The QA yield section of ``odahgen status``: headline, reasons, failures by stage/error."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    print(yield_headline(qa))
    if qa.reasons and top:
        shown = qa.top_reasons(top)
        more = f", top {len(shown)} of {len(qa.reasons)}" if len(shown) < len(qa.reasons) else ""
        table = Table(title=f"why trials fail QA (a trial can fail several gates{more})")
        for col, just in (("reason", "left"), ("trials", "right"), ("% finished", "right"),
                          ("% QA-failed", "right"), ("", "left")):
            table.add_column(col, justify=just, overflow="fold")
        peak = max(n for _, _, n in shown)
        for _, label, n in shown:
            table.add_row(label, str(n), f"{qa.percent(n):.1f}", f"{qa.percent(n, qa.failed):.1f}",
                          "#" * max(1, round(BAR_WIDTH * n / peak)))
        console.print(table)
    if qa.pipeline_failed:
        by_stage = sorted(qa.stage_failures.items(), key=lambda kv: (-kv[1], kv[0]))
        print("pipeline failures by stage: " + ", ".join(f"{s} {n}" for s, n in by_stage))
        if top:
            shown = qa.top_errors(top)
            more = f" (top {len(shown)} of {len(qa.errors)})" if len(shown) < len(qa.errors) else ""
            table = Table(title=f"pipeline failures by error{more}")
            for col, just in (("stage", "left"), ("error", "left"), ("trials", "right")):
                table.add_column(col, justify=just, overflow="fold")
            for stage, error, n in shown:
                table.add_row(stage, error, str(n))
            console.print(table)


def status_json(dataset: Path, status: DatasetStatus, qa=None, top: int | None = None,
                show_failures: int = 20, disk: dict | None = None) -> dict:
    """The machine-readable form of ``odahgen status`` (``--json``)."""
    out = {
        "dataset": str(dataset), "total": status.total, "done": status.done,
        "failed": len(status.failed), "running": len(status.running),
        "interrupted": len(status.interrupted), "stopped": status.stopped,
        "not_started": status.pending,
        "counts": [{"stage": st, "state": state, "trials": n}
                   for (st, state), n in sorted(status.counts.items())],
        "failures": failure_details(dataset, status.failed, show_failures) if show_failures else [],
    }
    if qa is not None:
        out["yield"] = qa.to_dict(top)
    if disk is not None:
        out["disk"] = disk
    return out


def print_failures(dataset: Path, failed, limit: int = 20) -> None:
    """One line per failed trial: stage, reason and its log."""
    for o in failed[:limit]:
        log = Path(dataset) / TRIALS_DIR / o.trial / "trial.log"
        print(f"  FAILED {o.trial} at {o.stage}: {o.error}" + (f" (log: {log})" if log.exists() else ""))
