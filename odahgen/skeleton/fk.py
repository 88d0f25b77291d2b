"""Forward kinematics: (scaled model, angles) -> 44 keypoints, markers, body transforms.

Keypoints follow :data:`odahgen.skeleton.names.KEYPOINT_NAMES`: the 22 joint centres (the
child frame origin of each joint in ground) then the 22 body mass centres, metres.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.skeleton.kinematics import KinematicTree, extract_tree
from odahgen.skeleton.names import BODY_NAMES, COORDINATE_NAMES


@dataclass
class FKResult:
    """keypoints (T, 44, 3) m; markers (T, M, 3) m with marker_names (M,);
    body_transforms (T, 22, 4, 4) body frame -> ground, in BODY_NAMES order."""

    keypoints: np.ndarray
    markers: np.ndarray
    marker_names: list[str]
    body_transforms: np.ndarray


@lru_cache(maxsize=8)
def _tree_cached(path: str, mtime: float) -> KinematicTree:
    from odahgen.skeleton.model import load_model  # noqa: PLC0415

    return extract_tree(load_model(path))


def load_tree(model_path: str | os.PathLike = "builtin") -> KinematicTree:
    """The :class:`KinematicTree` of a model file ("builtin" ok), cached per file version."""
    from odahgen.skeleton.model import resolve_model_path  # noqa: PLC0415

    p = resolve_model_path(model_path)
    tree = _tree_cached(str(p.resolve()), p.stat().st_mtime)
    missing = [b for b in BODY_NAMES if b not in tree.body_names]
    if missing:
        raise OdahgenError(f"{p}: model lacks the Rajagopal bodies {', '.join(missing)} needed for the 44 keypoints")
    return tree


def _model_q(tree: KinematicTree, angles: np.ndarray) -> np.ndarray:
    angles = np.atleast_2d(np.asarray(angles, dtype=np.float64))
    if angles.shape[1] != len(COORDINATE_NAMES):
        raise ValueError(f"angles must be (T, {len(COORDINATE_NAMES)}), got {angles.shape}")
    q = np.tile(tree.coord_default, (angles.shape[0], 1))
    for i, n in enumerate(COORDINATE_NAMES):
        if n in tree.coord_names and np.isfinite(angles[:, i]).all():
            q[:, tree.coord_names.index(n)] = angles[:, i]
    return tree.apply_couplers(q)


def fk_tree(tree: KinematicTree, angles: np.ndarray, marker_loc: np.ndarray | None = None) -> FKResult:
    """FK on an extracted tree; angles (T, 39) rad/m in COORDINATE_NAMES order."""
    q = _model_q(tree, angles)
    R, p, jc = tree.forward(q)
    order = [tree.body_names.index(b) for b in BODY_NAMES]
    R, p, jc = R[:, order], p[:, order], jc[:, order]
    com = p + (R @ tree.mass_center[order][None, :, :, None])[..., 0]
    X = np.zeros(R.shape[:2] + (4, 4))
    X[..., :3, :3] = R
    X[..., :3, 3] = p
    X[..., 3, 3] = 1.0
    Rm, pm, _ = tree.forward(q)
    mk = tree.markers(Rm, pm, marker_loc)
    return FKResult(np.concatenate([jc, com], axis=1), mk, list(tree.marker_names), X)


def forward_kinematics(model_path: str | os.PathLike, angles: np.ndarray) -> FKResult:
    """FK of ``angles`` (T, 39) rad (pelvis_tx/ty/tz in m), COORDINATE_NAMES order, on the
    model at ``model_path`` ("builtin" ok). Returns :class:`FKResult`."""
    return fk_tree(load_tree(model_path), angles)


def segment_scales(model_path: str | os.PathLike) -> np.ndarray:
    """(22, 3) body segment scales in BODY_NAMES order: the ``scale_factors`` of each body's
    visual mesh ``<body>_geom_1`` (1 for an unscaled model)."""
    tree = load_tree(model_path)
    return np.array([tree.scale_factors[tree.body_names.index(b)] for b in BODY_NAMES])
