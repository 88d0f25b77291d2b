"""Atomic file output: write to a temporary name beside the target, then rename.

A reader never sees a half-written file, and a crash leaves the previous version intact.
The file gets the permissions of any file the user creates (``0666`` less the umask: 0644
under umask 022, 0664 under 002), not ``tempfile``'s private 0600, so colleagues on a
shared farm can read a dataset. Folders made on the way follow the umask too.

A target that is a folder, or whose folder cannot exist because a parent is a file, is a
one-line :class:`~odahgen.errors.OdahgenError` naming the path, raised before anything is
written; :func:`check_output_file` and :func:`check_output_dir` make the same checks up
front for commands that write many files.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from odahgen.errors import OdahgenError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None,
                fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success.

    The temporary keeps the target's suffix (or ``suffix``) so that writers which pick a
    format from the extension (h5py, imageio, OpenSim) still work. On an exception the
    temporary is removed and the target is untouched.
    """
    target = Path(target)
    check_output_file(target)
    _make_dirs(target.parent)
    suffix = target.suffix if suffix is None else suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{suffix}", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        try:
            os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes it 0600
        finally:
            os.close(fd)
        yield tmp
        if fsync:
            _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def current_umask() -> int:
    """The process umask, read without changing it where the system tells it (Linux
    ``/proc/self/status``); elsewhere set and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _blocking_file(path: Path) -> Path | None:
    """The first existing non-folder among ``path`` and its parents, or None."""
    for p in [path, *path.parents]:
        if p.exists() or p.is_symlink():
            return None if p.is_dir() else p
    return None


def check_output_file(path: str | os.PathLike) -> Path:
    """``path`` can be written as a file: it is not a folder and no parent is a file.
    Raises a one-line OdahgenError naming the path; returns it as a Path."""
    path = Path(path)
    if path.is_dir():
        raise OdahgenError(f"{path}: is a folder; give the path of the file to write")
    blocker = _blocking_file(path.parent)
    if blocker is not None:
        raise OdahgenError(f"{path}: cannot write here: {blocker} is a file, not a folder")
    return path


def check_output_dir(path: str | os.PathLike) -> Path:
    """``path`` can be an output folder: a folder, or nothing yet with no parent a file.
    Raises a one-line OdahgenError naming the path; returns it as a Path."""
    path = Path(path)
    blocker = _blocking_file(path)
    if blocker == path:
        raise OdahgenError(f"{path}: exists and is not a folder; give a folder to write into")
    if blocker is not None:
        raise OdahgenError(f"{path}: cannot create this folder: {blocker} is a file, not a folder")
    return path


def _make_dirs(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        check_output_dir(folder)
        raise
    except OSError as err:
        raise OdahgenError(f"{folder}: cannot create folder ({err.strerror or err})") from None


def _fsync(path: Path) -> None:
    if not path.exists():
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(target: str | os.PathLike, data: bytes, fsync: bool = True) -> Path:
    """Write ``data`` to ``target`` atomically; returns the target path. ``fsync=False``
    skips flushing to disk (still atomic for readers; for cheap, re-creatable files)."""
    with atomic_path(target, fsync=fsync) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def atomic_write_text(target: str | os.PathLike, text: str, fsync: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically."""
    return atomic_write_bytes(target, text.encode("utf-8"), fsync=fsync)


def atomic_write_json(target: str | os.PathLike, obj: Any, indent: int = 2,
                      fsync: bool = True) -> Path:
    """Write ``obj`` as JSON (sorted keys, NaN refused) to ``target`` atomically."""
    text = json.dumps(obj, indent=indent, sort_keys=True, allow_nan=False, default=_json_default)
    return atomic_write_text(target, text + "\n", fsync=fsync)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    tolist = getattr(obj, "tolist", None)  # NumPy arrays and scalars
    if callable(tolist):
        return tolist()
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")
