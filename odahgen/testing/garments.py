"""Helpers for the garment tests: a few frames spread over the pose space, and the skin-in-front
measure of a MakeHuman garment pair cut to given types."""

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


def makehuman_skin_in_front(vertices: np.ndarray, faces: np.ndarray, regions, upper: str, lower: str,
                            upper_src: str, lower_src: str) -> dict:
    """:func:`odahgen.scene.wear.skin_in_front` of the MakeHuman garments ``upper_src`` and
    ``lower_src`` (e.g. ``"clothes/male_casualsuit02:0"``) cut to the ``upper`` and ``lower``
    types (``scene.clothing.mode = types``) on posed bodies ``vertices (T, V, 3)`` m."""
    from odahgen.scene import wear

    scene = {"clothing": {"mode": "types", "upper": {"type": upper, "asset": upper_src},
                          "lower": {"type": lower, "asset": lower_src}}}
    return wear.skin_in_front(vertices, faces, wear.dress(scene, vertices, faces, regions))
