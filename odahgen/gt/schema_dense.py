"""Schema 1.1 additions to the trial file: dense 2D ground truth for pose detectors.

All optional (a 1.0 file has none of them; the reader then leaves them ``None``):

- ``/coco``: COCO keypoints on the body mesh: ``names`` (K,) str (the 17 COCO keypoints,
  then the 6 COCO-WholeBody foot keypoints), ``positions`` (T, K, 3) float64 m; attribute
  ``source`` (how they were computed, e.g. ``anny coco regressor``).
- ``/cameras/<view>/``:
  ``markers_2d`` (T, M, 2) float64 px and ``markers_visibility`` (T, M) bool: the projection
  of ``/markers/positions`` and its depth-tested visibility;
  ``coco_2d`` (T, K, 2) float64 px and ``coco_visibility`` (T, K) bool: the same for
  ``/coco/positions``;
  ``bbox`` (T, 4) float64 px ``[x, y, w, h]`` of the person mask (x, y = top-left corner of
  the top-left mask pixel), NaN in frames without a mask pixel;
  from schema 1.2 ``distortion`` (5,) float64: the lens, OpenCV ``[k1, k2, p1, p2, k3]``
  (absent = pinhole); the 2D fields and the mask are then those of the distorted image.

Visibility as for the keypoints: in front of the camera, inside the image, on the person
and at most a tolerance behind the visible surface (:data:`MARKER_TOL_M` for points on the
skin, :data:`JOINT_TOL_M` for joint centres), see :func:`point_tolerances`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from odahgen.gt.h5util import _dataset, _shape_problem, _str_list, _strings

#: depth tolerance (m) of points on the skin (markers, face and foot keypoints): the garment
#: over the skin and the fit's residual, not a limb's thickness
MARKER_TOL_M = 0.06
#: depth tolerance (m) of points inside the body (joint centres; the keypoints' own rule)
JOINT_TOL_M = 0.15
#: COCO keypoints that lie on the skin (the others are joint-like, inside the body)
_COCO_SURFACE = ("nose", "eye", "ear", "toe", "heel")

CAMERA_FIELDS = ("markers_2d", "markers_visibility", "coco_2d", "coco_visibility", "bbox", "distortion")


@dataclass
class CocoKeypoints:
    """COCO keypoints on the body mesh: ``names`` (K,), ``positions`` (T, K, 3) m (OpenSim
    world frame), ``source`` how they were computed."""

    names: list[str]
    positions: np.ndarray
    source: str = ""


def point_tolerances(names, kind: str) -> np.ndarray:
    """``(N,)`` depth tolerance (m) of each named point: ``kind`` ``"marker"`` (joint-centre
    markers, names ending in ``JC``, get :data:`JOINT_TOL_M`) or ``"coco"`` (face and foot
    keypoints get :data:`MARKER_TOL_M`, the limb joints :data:`JOINT_TOL_M`)."""
    if kind == "marker":
        return np.array([JOINT_TOL_M if str(n).upper().endswith("JC") else MARKER_TOL_M for n in names])
    return np.array([MARKER_TOL_M if any(s in str(n) for s in _COCO_SURFACE) else JOINT_TOL_M
                     for n in names])


def mask_bboxes(masks: np.ndarray) -> np.ndarray:
    """``(T, 4)`` float64 ``[x, y, w, h]`` px of each frame's mask ``(T, H, W)`` bool (pixel
    ``(i, j)`` covers ``[i, i+1) x [j, j+1)``); NaN rows where a frame has no mask pixel."""
    masks = np.asarray(masks, bool)
    out = np.full((masks.shape[0], 4), np.nan)
    cols, rows = masks.any(axis=1), masks.any(axis=2)  # (T, W), (T, H)
    for f in np.flatnonzero(cols.any(axis=1)):
        xs, ys = np.flatnonzero(cols[f]), np.flatnonzero(rows[f])
        out[f] = (xs[0], ys[0], xs[-1] + 1 - xs[0], ys[-1] + 1 - ys[0])
    return out


# ------------------------------------------------------------------------------ writer


def write_coco(f: h5py.File, coco: CocoKeypoints | None) -> None:
    if coco is None:
        return
    g = f.create_group("coco")
    g.attrs["source"] = coco.source
    _strings(g, "names", coco.names)
    _dataset(g, "positions", coco.positions, "m", np.float64)


def write_camera_fields(group: h5py.Group, cam: Any) -> None:
    """The optional 1.1 arrays of a :class:`~odahgen.gt.schema.Camera` into its group."""
    units = {"markers_2d": "px", "coco_2d": "px", "bbox": "px [x, y, w, h]; NaN = no person",
             "distortion": "OpenCV k1, k2, p1, p2, k3 (normalised coordinates)"}
    for name in CAMERA_FIELDS:
        value = getattr(cam, name, None)
        if value is not None:
            dtype = bool if name.endswith("visibility") else np.float64
            _dataset(group, name, value, units.get(name, ""), dtype)


# ------------------------------------------------------------------------------ reader


def read_coco(f: h5py.File) -> CocoKeypoints | None:
    if "coco" not in f:
        return None
    g = f["coco"]
    source = g.attrs.get("source", "")
    return CocoKeypoints(names=_str_list(g["names"]), positions=g["positions"][()],
                         source=source.decode() if isinstance(source, bytes) else str(source))


def read_camera_fields(group: h5py.Group) -> dict[str, np.ndarray]:
    """The optional 1.1 arrays present in a camera group (missing ones are left out)."""
    out = {}
    for name in CAMERA_FIELDS:
        if name in group:
            arr = group[name][()]
            out[name] = arr.astype(bool) if name.endswith("visibility") else arr
    return out


# ---------------------------------------------------------------------- consistency


def trial_problems(gt: Any) -> list[str]:
    """Shape problems of the 1.1 fields of an in-memory TrialGT (empty = consistent)."""
    T = gt.n_frames
    checks: list[tuple[str, Any, tuple]] = []
    K = None
    if gt.coco is not None:
        K = len(gt.coco.names)
        checks.append(("coco.positions", gt.coco.positions, (T, K, 3)))
    M = len(gt.markers.names) if gt.markers is not None else None
    problems = []
    for view, cam in gt.cameras.items():
        for name, n in (("markers", M), ("coco", K)):
            for suffix, shape in (("_2d", (T, n, 2)), ("_visibility", (T, n))):
                value = getattr(cam, f"{name}{suffix}", None)
                if value is None:
                    continue
                if n is None:
                    problems.append(f"cameras/{view}/{name}{suffix} given without /{name}")
                else:
                    checks.append((f"cameras/{view}/{name}{suffix}", value, shape))
        if getattr(cam, "bbox", None) is not None:
            checks.append((f"cameras/{view}/bbox", cam.bbox, (T, 4)))
        if getattr(cam, "distortion", None) is not None:
            checks.append((f"cameras/{view}/distortion", cam.distortion, (5,)))
    return problems + [p for p in (_shape_problem(*c) for c in checks) if p]


def check_file(f: h5py.File, need, T: int, problems: list[str]) -> None:
    """Schema checks of the 1.1 fields present in an open trial file; ``need(name, shape,
    kind)`` is the schema checker's dataset check."""
    K = None
    if "coco" in f:
        K = f["coco/names"].shape[0] if "coco/names" in f else -1
        need("coco/names", (K,), "OS")
        need("coco/positions", (T, K, 3), "f")
    M = f["markers/names"].shape[0] if "markers/names" in f else None
    for view in f["cameras"] if "cameras" in f else ():
        base = f"cameras/{view}"
        for name, n in (("markers", M), ("coco", K)):
            for suffix, shape, kind in (("_2d", (T, n, 2), "f"), ("_visibility", (T, n), "b")):
                path = f"{base}/{name}{suffix}"
                if path not in f:
                    continue
                if n is None:
                    problems.append(f"/{path} without /{name}")
                else:
                    need(path, shape, kind)
        if f"{base}/bbox" in f:
            need(f"{base}/bbox", (T, 4), "f")
        if f"{base}/distortion" in f:
            need(f"{base}/distortion", (5,), "f")
