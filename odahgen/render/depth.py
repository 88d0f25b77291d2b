"""Depth maps of the render stage: the empty room's depth per camera (ray-cast in NumPy), the
person mask derived from a depth pass, and reading/writing the per-frame depth PNGs.

Depth convention: planar depth along the camera's optical axis in metres (the ``z`` that
:func:`odahgen.scene.cameras.project` returns), sampled at pixel centres. On disk, one
16-bit grey PNG per frame in millimetres (``render/depth_VIEW/NNNNN.png``); 0 marks pixels that
are not the person (room, background) and so carry no depth.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.render.frames import blender_to_opensim

#: Largest depth a 16-bit mm PNG holds (m).
MAX_DEPTH_M = 65.535


def pixel_rays(camera: dict) -> tuple[np.ndarray, np.ndarray]:
    """Camera centre ``(3,)`` and per-pixel ray directions ``(H, W, 3)`` (OpenSim frame) through
    the pixel centres, scaled so that a point ``C + s d`` has planar depth ``s`` (m)."""
    K = np.asarray(camera["K"], dtype=np.float64)
    R = np.asarray(camera["R"], dtype=np.float64)
    t = np.asarray(camera["t"], dtype=np.float64)
    W, H = int(camera["width"]), int(camera["height"])
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)
    return -R.T @ t, cam @ R  # rows: R^T @ d_cam


def ray_cast_depth(camera: dict, triangles: np.ndarray) -> np.ndarray:
    """Planar depth ``(H, W)`` m of the nearest of ``triangles (N, 3, 3)`` (OpenSim frame) per
    pixel centre; ``inf`` where no triangle is hit."""
    C, d = pixel_rays(camera)
    best = np.full(d.shape[:2], np.inf)
    for a, b, c in np.asarray(triangles, dtype=np.float64):  # Moller-Trumbore, vectorised over pixels
        e1, e2 = b - a, c - a
        p = np.cross(d, e2)
        det = p @ e1
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / det
            s = C - a
            u = (p @ s) * inv
            q = np.cross(s, e1)
            v = (d @ q) * inv
            dist = (q @ e2) * inv
        hit = (np.abs(det) > 1e-12) & (u >= -1e-9) & (v >= -1e-9) & (u + v <= 1 + 1e-9) & (dist > 0)
        best = np.where(hit & (dist < best), dist, best)
    return best


def room_depth(bundle: dict, camera: dict) -> np.ndarray:
    """``(H, W)`` planar depth (m) of the bundle's room (floor, walls, ceiling) seen by
    ``camera`` (a scene camera record, OpenSim frame) at pixel centres."""
    tris = []
    for m in bundle.get("room", []):
        v = blender_to_opensim(np.asarray(m["vertices"], dtype=np.float64))
        tris.extend(v[np.asarray(f)] for f in m["faces"])
    if not tris:
        return np.full((int(camera["height"]), int(camera["width"])), np.inf)
    return ray_cast_depth(camera, np.stack(tris))


def mask_from_depth(depth_m: np.ndarray, background_m: np.ndarray, tol_m: float = 0.01) -> np.ndarray:
    """Person mask ``(..., H, W)`` bool: pixels at least ``tol_m`` in front of the empty room (and
    nearer than :data:`MAX_DEPTH_M`: the world behind an open floor reads as the PNG's full scale)."""
    return (depth_m < background_m - tol_m) & (depth_m < MAX_DEPTH_M - tol_m)


def write_depth_png(path: str | os.PathLike, depth_m: np.ndarray) -> None:
    """Write ``(H, W)`` depth (m; NaN/inf/<= 0 = no depth) as a 16-bit PNG in mm (0 = none)."""
    from PIL import Image

    d = np.asarray(depth_m, dtype=np.float64)
    mm = np.where(np.isfinite(d) & (d > 0), np.clip(np.round(d * 1000.0), 1, 65535), 0).astype(np.uint16)
    Image.fromarray(mm).save(path, compress_level=1)


def read_depth_png(path: str | os.PathLike) -> np.ndarray:
    """``(H, W)`` float32 depth (m) of one depth PNG; NaN where it holds no depth."""
    from PIL import Image

    mm = np.asarray(Image.open(path), dtype=np.float32)
    return np.where(mm > 0, mm / 1000.0, np.nan).astype(np.float32)


def load_depth(folder: str | os.PathLike) -> np.ndarray:
    """``(T, H, W)`` float32 depth (m, NaN off the person) of a ``depth_VIEW`` folder."""
    files = sorted(Path(folder).glob("*.png"))
    if not files:
        raise OdahgenError(f"{folder}: no depth frames")
    return np.stack([read_depth_png(f) for f in files])
