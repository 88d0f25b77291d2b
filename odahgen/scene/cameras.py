"""Cameras of the ground truth (OpenSim frame) and their projection: pinhole, optionally
through a Brown-Conrady lens distortion (OpenCV convention, see below).

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
                   points: np.ndarray, dist=None) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection of ``points (..., 3)`` (m, OpenSim frame) -> ``(..., 2)`` px and
    ``(...)`` depth (m, along the optical axis); through the lens distortion ``dist`` (OpenCV
    ``(k1, k2, p1, p2, k3)``) when given and non-zero.

    The one rule for points behind the camera: a point at depth <= 0 has no image, so its
    pixels are NaN (its depth is still returned, <= 0).
    """
    if _dist5(dist) is not None:
        return project_points_distorted(K, R, t, points, dist)
    cam = np.asarray(points, dtype=np.float64) @ np.asarray(R, dtype=np.float64).T \
        + np.asarray(t, dtype=np.float64)
    depth = cam[..., 2]
    uvw = cam @ np.asarray(K, dtype=np.float64).T
    with np.errstate(divide="ignore", invalid="ignore"):
        px = uvw[..., :2] / uvw[..., 2:3]
    px[depth <= 0] = np.nan
    return px, depth


def project(camera: dict, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`project_points` with a scene camera record (``{"K", "R", "t", ...}``, and its lens
    ``"distortion"`` when it has one)."""
    return project_points(camera["K"], camera["R"], camera["t"], points, camera.get("distortion"))


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


# ------------------------------------------------------------------------ lens distortion
#
# Brown-Conrady distortion in the OpenCV convention: ``dist = (k1, k2, p1, p2, k3)`` acts on
# normalised camera coordinates ``(x, y) = (X/Z, Y/Z)``:
#   r2 = x^2 + y^2,  radial = 1 + k1 r2 + k2 r2^2 + k3 r2^3
#   x_d = x radial + 2 p1 x y + p2 (r2 + 2 x^2),  y_d = y radial + p1 (r2 + 2 y^2) + 2 p2 x y
# then ``px = K (x_d, y_d, 1)``. A camera record's optional ``"distortion"`` (5,) holds them; a
# record without it (or all zeros) is the pinhole camera, bit for bit.


def _dist5(dist) -> np.ndarray | None:
    """(5,) float64 coefficients, or None for no (or all-zero) distortion."""
    if dist is None:
        return None
    d = np.zeros(5)
    a = np.asarray(dist, dtype=np.float64).ravel()
    d[:min(5, a.size)] = a[:5]
    return d if np.any(d != 0) else None


def distort_normalized(xy: np.ndarray, dist) -> np.ndarray:
    """``(..., 2)`` normalised pinhole coordinates -> distorted normalised coordinates."""
    d = _dist5(dist)
    xy = np.asarray(xy, dtype=np.float64)
    if d is None:
        return xy.copy()
    k1, k2, p1, p2, k3 = d
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    return np.stack([x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                     y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y], axis=-1)


def undistort_normalized(xy_d: np.ndarray, dist, iterations: int = 30) -> np.ndarray:
    """Inverse of :func:`distort_normalized` by Newton's method (from ``x = x_d``), ``(..., 2)``.
    Exact to ~1e-12 where the lens is monotonic (every range :func:`sample_distortion` draws)."""
    d = _dist5(dist)
    xd = np.asarray(xy_d, dtype=np.float64)
    if d is None:
        return xd.copy()
    k1, k2, p1, p2, k3 = d
    xy = xd.copy()
    for _ in range(iterations):
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dr = k1 + r2 * (2 * k2 + 3 * k3 * r2)  # d radial / d r2
        res = distort_normalized(xy, d) - xd
        a = radial + 2 * x * x * dr + 2 * p1 * y + 6 * p2 * x  # d x_d / d x
        b = 2 * x * y * dr + 2 * p1 * x + 2 * p2 * y  # d x_d / d y = d y_d / d x
        c = radial + 2 * y * y * dr + 6 * p1 * y + 2 * p2 * x  # d y_d / d y
        det = a * c - b * b
        step = np.stack([(c * res[..., 0] - b * res[..., 1]) / det, (a * res[..., 1] - b * res[..., 0]) / det], -1)
        xy = xy - step
        if np.nanmax(np.abs(step), initial=0.0) < 1e-14:
            break
    return xy


def undistort_pixels(K: np.ndarray, dist, px: np.ndarray) -> np.ndarray:
    """Pixels ``(..., 2)`` of a camera with intrinsics K (3, 3) and lens ``dist`` -> the pixels
    the pinhole camera K would see them at (NaN stays NaN; no lens: a copy). Before any pinhole
    geometry on detected points, e.g. DLT triangulation with ``K [R | t]``."""
    px = np.asarray(px, dtype=np.float64)
    if _dist5(dist) is None:
        return px.copy()
    K = np.asarray(K, dtype=np.float64)
    f, c = np.diag(K)[:2], K[:2, 2]
    return undistort_normalized((px - c) / f, dist) * f + c


def project_points_distorted(K, R, t, points, dist) -> tuple[np.ndarray, np.ndarray]:
    """:func:`project_points` through a lens with OpenCV ``dist (5,)``: ``(..., 2)`` px and
    ``(...)`` depth m (NaN pixels behind the camera, as for the pinhole)."""
    d = _dist5(dist)
    if d is None:
        return project_points(K, R, t, points)
    K = np.asarray(K, dtype=np.float64)
    cam = np.asarray(points, dtype=np.float64) @ np.asarray(R, dtype=np.float64).T \
        + np.asarray(t, dtype=np.float64)
    depth = cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = cam[..., :2] / cam[..., 2:3]
    xy = distort_normalized(xy, d)
    px = np.stack([K[0, 0] * xy[..., 0] + K[0, 1] * xy[..., 1] + K[0, 2], K[1, 1] * xy[..., 1] + K[1, 2]], -1)
    px[depth <= 0] = np.nan
    return px, depth


def sample_distortion(rng: np.random.Generator, k1_range, k2_range, tangential: float) -> list[float]:
    """OpenCV ``[k1, k2, p1, p2, k3]`` of one lens: k1, k2 uniform in their ranges, p1, p2
    uniform in ``+-tangential``, k3 = 0 (Pose2Sim's calibration holds four)."""
    k1 = float(rng.uniform(*k1_range))
    k2 = float(rng.uniform(*k2_range))
    p1, p2 = (float(v) for v in rng.uniform(-tangential, tangential, 2))
    return [round(k1, 6), round(k2, 6), round(p1, 7), round(p2, 7), 0.0]


def render_camera(camera: dict) -> dict:
    """The pinhole camera Blender renders for a distorted ``camera``: the same pose and focal
    length in pixels, the frame grown by ``pad`` px on each side (``"pad": [px, py]``, principal
    point still centred) so that it holds the undistorted preimage of every output pixel (+2 px
    for bilinear filtering). A camera without distortion is returned unchanged."""
    d = _dist5(camera.get("distortion"))
    if d is None:
        return camera
    K = np.asarray(camera["K"], dtype=np.float64)
    W, H = int(camera["width"]), int(camera["height"])
    u = np.concatenate([np.arange(W + 1.0), np.arange(W + 1.0), np.zeros(H + 1), np.full(H + 1, W)])
    v = np.concatenate([np.zeros(W + 1), np.full(W + 1, H), np.arange(H + 1.0), np.arange(H + 1.0)])
    x, y = undistort_pixels(K, d, np.stack([u, v], -1)).T
    px = int(np.ceil(max(0.0, -x.min(), x.max() - W))) + 2
    py = int(np.ceil(max(0.0, -y.min(), y.max() - H))) + 2
    K2 = K.copy()
    K2[0, 2] += px
    K2[1, 2] += py
    out = {k: v for k, v in camera.items() if k != "distortion"}
    out.update(K=K2.tolist(), width=W + 2 * px, height=H + 2 * py, pad=[px, py])
    return out


def distortion_map(camera: dict) -> np.ndarray:
    """``(H, W, 2)`` float64: for each pixel centre of the distorted image of ``camera``, the
    point (x, y px, pixel-corner origin) of the :func:`render_camera` image that lands there."""
    W, H = int(camera["width"]), int(camera["height"])
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    # the render camera is K with its principal point moved by the pad: same rays, shifted pixels
    pad = render_camera(camera).get("pad", [0, 0])
    return undistort_pixels(camera["K"], camera.get("distortion"), np.stack([u, v], -1)) + np.asarray(pad, float)
