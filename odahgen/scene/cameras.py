"""Pinhole cameras of the ground truth (OpenSim frame) and their projection.

A camera is stored in the scene JSON as ``{"K": (3,3) px, "R": (3,3), "t": (3,) m,
"width", "height" px, "focal_mm", "sensor_width_mm", "sensor_fit"}`` with
``x_px = K (R X + t)`` (then divide by the third row): OpenCV axes (x right, y down, z
forward), image origin at the top-left corner of the top-left pixel, so pixel ``(i, j)``
(column, row) covers ``[i, i+1) x [j, j+1)``.
"""

from __future__ import annotations

import numpy as np


def focal_px(focal_mm: float, sensor_width_mm: float, width: int, height: int,
             sensor_fit: str = "HORIZONTAL") -> float:
    """Focal length in pixels as Blender computes it for ``sensor_fit`` (square pixels).

    HORIZONTAL: the sensor width spans the image width; VERTICAL: it spans the image
    height (Blender then uses the sensor height, which the bundle sets to the same value);
    AUTO: it spans the larger dimension.
    """
    fit = sensor_fit.upper()
    if fit == "HORIZONTAL":
        span = width
    elif fit == "VERTICAL":
        span = height
    else:
        span = max(width, height)
    return float(focal_mm) / float(sensor_width_mm) * float(span)


def intrinsics(focal_mm: float, sensor_width_mm: float, width: int, height: int,
               sensor_fit: str = "HORIZONTAL") -> np.ndarray:
    """(3, 3) K in pixels, principal point at the image centre."""
    f = focal_px(focal_mm, sensor_width_mm, width, height, sensor_fit)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def look_at(position: np.ndarray, target: np.ndarray, up=(0.0, 1.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """Extrinsics ``R (3, 3)``, ``t (3,)`` of a camera at ``position`` (m) looking at
    ``target`` (m), image up along the world ``up`` (OpenSim frame: +Y)."""
    c = np.asarray(position, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - c
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=np.float64))  # image right (x = y_down x z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)  # image down
    R = np.stack([x, y, z])
    return R, -R @ c


def project_points(K: np.ndarray, R: np.ndarray, t: np.ndarray,
                   points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection of ``points (..., 3)`` (m, OpenSim frame) -> ``(..., 2)`` px and
    ``(...)`` depth (m, along the optical axis).

    The one rule for points behind the camera: a point at depth <= 0 has no image, so its
    pixels are NaN (its depth is still returned, <= 0).
    """
    cam = np.asarray(points, dtype=np.float64) @ np.asarray(R, dtype=np.float64).T \
        + np.asarray(t, dtype=np.float64)
    depth = cam[..., 2]
    uvw = cam @ np.asarray(K, dtype=np.float64).T
    with np.errstate(divide="ignore", invalid="ignore"):
        px = uvw[..., :2] / uvw[..., 2:3]
    px[depth <= 0] = np.nan
    return px, depth


def project(camera: dict, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`project_points` with a scene camera record (``{"K", "R", "t", ...}``)."""
    return project_points(camera["K"], camera["R"], camera["t"], points)


def camera_dict(K: np.ndarray, R: np.ndarray, t: np.ndarray, width: int, height: int,
                focal_mm: float, sensor_width_mm: float, sensor_fit: str, name: str = "") -> dict:
    """A JSON-ready camera record (lists of floats)."""
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    return {
        "name": name,
        "K": np.asarray(K, dtype=np.float64).round(9).tolist(),
        "R": R.round(12).tolist(),
        "t": t.round(9).tolist(),
        "position": (-R.T @ t).round(9).tolist(),
        "width": int(width),
        "height": int(height),
        "focal_mm": float(focal_mm),
        "sensor_width_mm": float(sensor_width_mm),
        "sensor_fit": sensor_fit.upper(),
    }
