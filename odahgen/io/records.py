"""Completion records of a trial's stages: what a stage wrote, so resume can trust it.

A record is ``<trial>/stages/<stage>.json``::

    {"stage": "fit", "key": "<hash of everything the stage read>", "seconds": 7.1,
     "outputs": {"body.npz": "<sha256 at production>"},
     "files": {"body.npz": {"size": 84123456, "mtime_ns": 1733..., "sha256": "..."}},
     "versions": {...}, "time": 1733...}

``outputs`` maps each declared output (a file, or a folder) to its content hash when the
stage wrote it; later stages' keys include these hashes, so a changed input re-runs them.
``files`` lists every file of those outputs (folders expanded) with a fingerprint used to
notice outputs that were deleted, truncated or overwritten since: size and mtime are
compared cheaply; when the mtime alone differs (a copy without ``-p``) the content hash
decides; ``verify=True`` always compares content hashes.

Outputs that only later stages read (``body.npz``, the render bundle) may be *pruned* once
the trial is done (:func:`prune_outputs`): their fingerprints move from ``files`` to
``pruned`` (the production hashes in ``outputs`` stay) and the files are deleted. A pruned
file does not make its record changed; the stage graph re-makes it only when a stage that
reads it must run again.

A later step that legitimately rewrites an output (the QA verdict added to ``trial.h5``)
calls :func:`adopt_output` so the record describes the new file; the production hash in
``outputs`` stays, so the stages downstream are not re-run for it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from odahgen.io.atomic import atomic_write_json
from odahgen.io.hashing import file_sha256, stable_hash

RECORDS_DIR = "stages"


def record_path(trial_dir: Path, stage: str) -> Path:
    return Path(trial_dir) / RECORDS_DIR / f"{stage}.json"


def read_record(trial_dir: Path, stage: str) -> dict | None:
    """The stage's record, or None when it is missing or unreadable."""
    try:
        record = json.loads(record_path(trial_dir, stage).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def output_files(trial_dir: Path, outputs: Iterable[str]) -> list[str]:
    """Every file (relative path, sorted) of the declared ``outputs``; folders are expanded
    (hidden files, e.g. interrupted temporaries, left out)."""
    trial_dir = Path(trial_dir)
    files: list[str] = []
    for name in outputs:
        path = trial_dir / name
        if path.is_dir():
            for sub in sorted(path.rglob("*")):
                rel = sub.relative_to(trial_dir)
                if sub.is_file() and not any(p.startswith(".") for p in rel.parts):
                    files.append(rel.as_posix())
        else:
            files.append(Path(name).as_posix())
    return sorted(set(files))


def fingerprint(path: Path) -> dict:
    """``{"size", "mtime_ns", "sha256"}`` of one file."""
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": file_sha256(path)}


def make_record(trial_dir: Path, stage: str, key: str, outputs: Iterable[str], **extra) -> dict:
    """A record for outputs that exist now (raises FileNotFoundError for a missing one)."""
    trial_dir = Path(trial_dir)
    outputs = list(outputs)
    files = {rel: fingerprint(trial_dir / rel) for rel in output_files(trial_dir, outputs)}
    produced = {}
    for name in outputs:
        path = trial_dir / name
        if path.is_dir():
            prefix = Path(name).as_posix().rstrip("/") + "/"
            produced[name] = stable_hash({k: v["sha256"] for k, v in files.items()
                                          if k.startswith(prefix)}, length=16)
        else:
            produced[name] = files[Path(name).as_posix()]["sha256"]
    return {"stage": stage, "key": key, "outputs": produced, "files": files, **extra}


def write_record(trial_dir: Path, record: dict) -> None:
    atomic_write_json(record_path(trial_dir, record["stage"]), record)


def changed_outputs(record: dict, trial_dir: Path, verify: bool = False) -> list[str]:
    """Files of the record that are missing or differ from what the stage wrote (empty =
    intact). Records without a ``files`` list (older versions) count as changed."""
    trial_dir = Path(trial_dir)
    files = record.get("files")
    if not isinstance(files, dict) or (not files and not pruned_files(record)):
        return ["(record lists no files)"]
    changed, refreshed = [], False
    for rel, fp in files.items():
        path = trial_dir / rel
        try:
            st = os.stat(path)
        except OSError:
            changed.append(rel)
            continue
        if st.st_size != fp.get("size"):
            changed.append(rel)
            continue
        if not verify and st.st_mtime_ns == fp.get("mtime_ns"):
            continue
        try:
            same = file_sha256(path) == fp.get("sha256")
        except OSError:
            same = False
        if not same:
            changed.append(rel)
        elif st.st_mtime_ns != fp.get("mtime_ns"):  # copied without its times: same bytes
            fp["mtime_ns"] = st.st_mtime_ns
            refreshed = True
    if refreshed and not changed:
        write_record(trial_dir, record)
    return changed


def pruned_files(record: dict | None) -> list[str]:
    """The files of a record removed on purpose by :func:`prune_outputs` (sorted)."""
    pruned = (record or {}).get("pruned")
    return sorted(pruned) if isinstance(pruned, dict) else []


def prune_outputs(trial_dir: Path, record: dict, outputs: Iterable[str]) -> int:
    """Delete the files of ``outputs`` (files or folders the record lists) and mark them
    pruned in the record, which is written first (a kill in between leaves files the record
    calls pruned, which is harmless). Returns the bytes freed (allocated blocks)."""
    trial_dir = Path(trial_dir)
    files = record.get("files") or {}
    prefixes = [Path(o).as_posix().rstrip("/") for o in outputs]
    def under(rel: str) -> bool:
        return any(rel == p or rel.startswith(p + "/") for p in prefixes)

    chosen = sorted(rel for rel in files if under(rel))
    pruned = dict(record.get("pruned") or {})
    if chosen:
        for rel in chosen:
            pruned[rel] = files.pop(rel)
        record["pruned"] = pruned
        write_record(trial_dir, record)
    freed = 0
    for rel in sorted(r for r in pruned if under(r)):  # also left over by a kill
        path = trial_dir / rel
        try:
            freed += os.stat(path).st_blocks * 512
            path.unlink()
        except FileNotFoundError:
            pass
    for p in prefixes:  # folders left empty by the pruning
        folder = trial_dir / p
        if folder.is_dir():
            for sub in sorted((d for d in folder.rglob("*") if d.is_dir()), reverse=True):
                if not any(sub.iterdir()):
                    sub.rmdir()
            if not any(folder.iterdir()):
                folder.rmdir()
    return freed


def find_trial_dir(path: Path, max_up: int = 3) -> Path | None:
    """The trial folder holding ``path`` (the nearest parent with a ``stages/`` folder)."""
    path = Path(path).resolve()
    for parent in list(path.parents)[:max_up]:
        if (parent / RECORDS_DIR).is_dir():
            return parent
    return None


def adopt_output(path: Path) -> list[str]:
    """After ``path`` was rewritten on purpose, make every record that lists it describe the
    new file (its production hash is kept). Returns the stages whose records changed; a file
    outside a trial folder (no records) changes nothing."""
    path = Path(path)
    trial_dir = find_trial_dir(path)
    if trial_dir is None:
        return []
    rel = path.resolve().relative_to(trial_dir).as_posix()
    adopted = []
    for rp in sorted((trial_dir / RECORDS_DIR).glob("*.json")):
        record = read_record(trial_dir, rp.stem)
        if record and isinstance(record.get("files"), dict) and rel in record["files"]:
            record["files"][rel] = fingerprint(path)
            write_record(trial_dir, record)
            adopted.append(rp.stem)
    return adopted
