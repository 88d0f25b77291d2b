"""Frame sampling for tests that check poses: a few frames spread over the pose space."""

from __future__ import annotations

import numpy as np

from odahgen.skeleton.names import COORDINATE_NAMES


def diverse_frames(q: np.ndarray, k: int) -> list[int]:
    """``k`` frame indices of ``q (T, 39)`` (the built-in coordinates, rad / m) spread over the
    pose space: farthest-point sampling on the joint angles (pelvis translations left out),
    from the frame farthest from the mean pose. Sorted."""
    ang = q[:, [i for i, n in enumerate(COORDINATE_NAMES) if not n.startswith("pelvis_t")]]
    ang = ang - ang.mean(0)
    sel = [int(np.argmax(np.linalg.norm(ang, axis=1)))]
    d = np.linalg.norm(ang - ang[sel[0]], axis=1)
    while len(sel) < k:
        sel.append(int(np.argmax(d)))
        d = np.minimum(d, np.linalg.norm(ang - ang[sel[-1]], axis=1))
    return sorted(sel)
