"""PC2 point caches (the format Blender's Mesh Cache modifier reads).

Layout (little endian): ``char[12] "POINTCACHE2\\0"``, ``int32 version = 1``,
``int32 vertex_count``, ``float32 start_frame``, ``float32 sampling``, ``int32 frame_count``,
then ``frame_count x vertex_count x 3`` float32 xyz.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.io.atomic import atomic_path

MAGIC = b"POINTCACHE2\0"
_HEADER = struct.Struct("<12siiffi")  # 32 bytes


def write_pc2(path: str | os.PathLike, frames: np.ndarray, start: float = 0.0,
              sampling: float = 1.0) -> Path:
    """Write ``frames (T, V, 3)`` (any float; stored float32) atomically to ``path``."""
    arr = np.ascontiguousarray(frames, dtype="<f4")
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1:
        raise OdahgenError(f"PC2 frames must have shape (T, V, 3) with T >= 1, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise OdahgenError(f"PC2 frames for {path} contain NaN or infinite values")
    header = _HEADER.pack(MAGIC, 1, arr.shape[1], float(start), float(sampling), arr.shape[0])
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(header)
            fh.write(arr.tobytes())
    return Path(path)


def read_pc2_header(path: str | os.PathLike) -> dict:
    """``{"version", "vertex_count", "start", "sampling", "frame_count"}`` of a PC2 file."""
    with open(path, "rb") as fh:
        raw = fh.read(_HEADER.size)
    if len(raw) < _HEADER.size:
        raise OdahgenError(f"{path}: too short for a PC2 header")
    magic, version, nverts, start, sampling, nframes = _HEADER.unpack(raw)
    if magic != MAGIC:
        raise OdahgenError(f"{path}: not a PC2 file (magic {magic!r})")
    return {"version": version, "vertex_count": nverts, "start": start, "sampling": sampling,
            "frame_count": nframes}


def read_pc2(path: str | os.PathLike) -> np.ndarray:
    """``(T, V, 3)`` float32 frames of a PC2 file (checks the size against the header)."""
    head = read_pc2_header(path)
    n = head["frame_count"] * head["vertex_count"] * 3
    data = np.fromfile(path, dtype="<f4", offset=_HEADER.size)
    if data.size != n:
        raise OdahgenError(f"{path}: PC2 body has {data.size} floats, header says {n}")
    return data.reshape(head["frame_count"], head["vertex_count"], 3)
