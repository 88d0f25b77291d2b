"""Atomic file output: write to a temporary name beside the target, then rename.

A reader never sees a half-written file, and a crash leaves the previous version intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None,
                fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success.

    The temporary keeps the target's suffix (or ``suffix``) so that writers which pick a
    format from the extension (h5py, imageio, OpenSim) still work. On an exception the
    temporary is removed and the target is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = target.suffix if suffix is None else suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if fsync:
            _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


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
