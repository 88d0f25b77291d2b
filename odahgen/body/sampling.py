"""Random body poses and shapes: the samples that marker layouts and the joint regressor are
built from (:mod:`odahgen.body.markers`, :mod:`odahgen.body.training`).

Both take any :class:`~odahgen.body.base.BodyModel` and a NumPy generator, so a seed gives
the same samples on every machine.
"""

from __future__ import annotations

import numpy as np

from odahgen.body.base import BodyModel


def random_poses(body: BodyModel, n: int, rng: np.random.Generator, amount: float = 0.5) -> np.ndarray:
    """(n, P) float32 random in-range poses (rad): each group uniform in ``amount`` x its limits
    (capped at 2 rad); the root gets a random heading only (about the vertical Y axis)."""
    lo, hi = body.pose_lower.numpy(), body.pose_upper.numpy()
    # groups the OpenSim skeleton cannot follow (neck, head, shoulder girdle) stay still,
    # the spine and twist bones move less
    k = np.ones(body.pose_dim, dtype=np.float32) * amount
    for g, grp in enumerate(body.pose_groups):
        gname = grp.name
        if gname.startswith(("neck", "head", "clavicle", "shoulder01", "collar", "left_collar", "right_collar")):
            k[3 * g : 3 * g + 3] = 0.0
        elif gname.startswith("spine"):
            k[3 * g : 3 * g + 3] = amount * 0.4
        elif gname.startswith(("upperarm", "left_shoulder", "right_shoulder")):
            k[3 * g : 3 * g + 3] = amount * 0.6
    lo, hi = np.maximum(lo * k, -2.0), np.minimum(hi * k, 2.0)
    pose = rng.uniform(lo, hi, size=(n, body.pose_dim))
    pose[:, :3] = 0.0
    pose[:, 1] = rng.uniform(-np.pi, np.pi, size=n)  # heading about the vertical (Y)
    return pose.astype(np.float32)


def random_shapes(body: BodyModel, n: int, rng: np.random.Generator, spread: float = 0.8) -> np.ndarray:
    """(n, S) float32 shapes uniform in the middle ``spread`` (fraction) of each parameter's range."""
    lo, hi = (t.numpy() for t in body.shape_bounds())
    mid, half = (lo + hi) / 2, (hi - lo) / 2 * spread
    return rng.uniform(mid - half, mid + half, size=(n, body.n_shape)).astype(np.float32)
