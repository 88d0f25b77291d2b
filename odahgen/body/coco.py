"""COCO keypoints on the body mesh: a fixed linear regressor ``(K, V)`` from the posed mesh
vertices to the 17 COCO body keypoints and the 6 COCO-WholeBody foot keypoints.

- anny: the COCO regressor anny ships (``anny/data/keypoints/coco.pth``, one weight per base
  mesh vertex and keypoint, each row summing to 1), restricted to the model's vertices.
- smplx: SMPL-X's own joints: the rows of its joint regressor for shoulders, elbows,
  wrists, hips, knees and ankles, and the single vertices the ``smplx`` package names for
  the nose, eyes, ears, big/small toes and heels.

The keypoints of a posed sequence are ``W @ vertices``: ``(K, V) x (T, V, 3) -> (T, K, 3)`` m.
"""

from __future__ import annotations

import numpy as np

from odahgen.errors import OdahgenError

#: the 17 COCO person keypoints, in COCO's order
COCO17_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
#: the 6 COCO-WholeBody foot keypoints, in its order
FOOT_NAMES = ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe",
              "right_heel")
#: what :func:`coco_regressor` returns rows for: COCO-17 then the feet (23)
COCO_NAMES = COCO17_NAMES + FOOT_NAMES

# SMPL-X: COCO name -> joint name (joint regressor row) or smplx.vertex_ids key (one vertex)
_SMPLX_JOINTS = {n: n for n in COCO17_NAMES[5:]}
_SMPLX_VERTICES = {
    "nose": "nose", "left_eye": "leye", "right_eye": "reye", "left_ear": "lear", "right_ear": "rear",
    "left_big_toe": "LBigToe", "left_small_toe": "LSmallToe", "left_heel": "LHeel",
    "right_big_toe": "RBigToe", "right_small_toe": "RSmallToe", "right_heel": "RHeel",
}


def coco_regressor(body) -> np.ndarray:
    """``(23, V)`` float64 weights (rows sum to 1) of :data:`COCO_NAMES` over the vertices
    of ``body`` (an anny or smplx :class:`~odahgen.body.base.BodyModel`). Raises
    OdahgenError for another body model."""
    if body.name == "anny":
        return _anny_regressor(body)
    if body.name == "smplx":
        return _smplx_regressor(body)
    raise OdahgenError(f"no COCO keypoint regressor for the body model {body.name!r} (anny, smplx)")


def coco_keypoints(weights: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """``(T, K, 3)`` m: the keypoints of ``weights (K, V)`` on ``vertices (T, V, 3)`` m."""
    W = np.asarray(weights, np.float64)
    used = np.flatnonzero((W != 0).any(axis=0))  # a few hundred of the vertices
    return W[:, used] @ np.asarray(vertices)[:, used].astype(np.float64)


def _anny_regressor(body) -> np.ndarray:
    import torch
    from anny.paths import get_anny_root_dir

    path = get_anny_root_dir() / "data" / "keypoints" / "coco.pth"
    try:
        data = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:
        raise OdahgenError(f"{path}: cannot read anny's COCO regressor ({type(err).__name__}: {err})") from None
    idx = body._anny.base_mesh_vertex_indices.cpu().numpy()
    W = np.zeros((len(COCO_NAMES), body.n_vertices))
    for k, name in enumerate(COCO_NAMES):
        if name not in data:
            raise OdahgenError(f"{path}: no keypoint {name!r} (has {sorted(data)})")
        W[k] = np.asarray(data[name], np.float64)[idx]
    sums = W.sum(axis=1)
    if np.abs(sums - 1.0).max() > 1e-3:
        raise OdahgenError(f"{path}: regressor weights do not sum to 1 on the model's vertices")
    return W / sums[:, None]


def _smplx_regressor(body) -> np.ndarray:
    from smplx.vertex_ids import vertex_ids

    ids = vertex_ids["smplx"]
    J = body._J_regressor.cpu().numpy().astype(np.float64)  # (55, V)
    need = max(ids[v] for v in _SMPLX_VERTICES.values()) + 1
    if J.shape[1] < need:
        raise OdahgenError(f"{getattr(body, 'path', 'smplx')}: the mesh has {J.shape[1]} vertices, not SMPL-X's "
                           f"topology (the named keypoint vertices need {need}); no COCO keypoints")
    W = np.zeros((len(COCO_NAMES), J.shape[1]))
    for k, name in enumerate(COCO_NAMES):
        if name in _SMPLX_JOINTS:
            W[k] = J[body.bone_names.index(_SMPLX_JOINTS[name])]
        else:
            W[k, ids[_SMPLX_VERTICES[name]]] = 1.0
    return W
