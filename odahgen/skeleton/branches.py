"""Keep unclamped rotations continuous in time: Tait-Bryan branches and whole turns.

A joint whose rotation is three successive turns about mutually orthogonal axes (Rajagopal's
ground_pelvis, back and acromial joints: Z, X, Y) reaches every orientation twice:
``(q1, q2, q3)`` and ``(q1 + pi, pi - q2, q3 + pi)`` are the same rotation, and any angle plus
whole turns is the same too. Once such coordinates are not clamped (the built-in model's arms
and trunk, so that IK follows arms raised overhead), a frame solved on its own may land on
either form; :func:`align_branches` makes a motion continuous (no branch flip, no 2 pi wrap
between frames) and picks the form that stays inside the coordinate ranges. Used by the IK
(:mod:`.ik`) on the coarse frames before interpolating and on the result.
"""

from __future__ import annotations

import numpy as np

from odahgen.skeleton.kinematics import KinematicTree


def euler_triples(tree: KinematicTree) -> list[tuple[int, int, int]]:
    """(c1, c2, c3) coordinate indices of the joints whose rotation is three successive turns
    about mutually orthogonal axes, each by one free, unclamped rotational coordinate
    (theta = +-q): Rajagopal's ground_pelvis, back and acromial joints (Z, X, Y). For these,
    (q1, q2, q3) and (q1 + pi, pi - q2, q3 + pi) are the same rotation, the two branches of the
    Tait-Bryan angles; :func:`align_branches` picks one per frame."""
    free = set(tree.free_coords().tolist())
    out = []
    for axes in tree.axes:
        rots = [ax for ax in axes if ax.kind == "R"]
        if len(rots) != 3:
            continue
        cs = [ax.coord for ax in rots]
        if len(set(cs)) != 3 or any(c < 0 or c not in free or c in tree.couplers or tree.coord_clamped[c]
                                    or not tree.coord_rotational[c] for c in cs):
            continue
        if any(ax.func.kind != "lin" or abs(abs(ax.func.a) - 1.0) > 1e-12 or abs(ax.func.b) > 1e-12 for ax in rots):
            continue
        u = np.array([ax.axis for ax in rots])
        if np.abs(u @ u.T - np.eye(3)).max() > 1e-9:
            continue
        out.append((cs[0], cs[1], cs[2]))
    return out


def _wrap(x):
    """Angles into [-pi, pi)."""
    return (x + np.pi) % (2 * np.pi) - np.pi


def _range_excess(tree, q, cols):
    """(T, len(cols)) how far (rad) each coordinate is outside its range (0 inside)."""
    lo, hi = tree.coord_range[cols, 0], tree.coord_range[cols, 1]
    return np.maximum(np.maximum(lo - q[:, cols], q[:, cols] - hi), 0.0)


def align_branches(tree: KinematicTree, q: np.ndarray) -> np.ndarray:
    """The same poses q (T, n) with every unclamped rotation continuous in time: each frame of
    a joint of :func:`euler_triples` takes the Tait-Bryan branch nearest the previous frame (no
    flip between frames; ``(q1 + pi, pi - q2, q3 + pi)`` is the same rotation), and every
    unclamped rotational coordinate is unwrapped (no 2 pi jump). The first frame's branch is
    the one with the least total range excess over the motion (arms overhead stay ``arm_flex``
    170 rather than ``arm_add`` 180 + ``arm_rot`` 180), else the principal one (middle angle
    within +-90 deg); its angles lie in [-pi, pi) unless a whole turn brings one into its range.
    Frames are compared in order, so pass them in time order (or every COARSE-th frame)."""
    q = np.array(q, dtype=np.float64, copy=True)
    T = len(q)
    if T == 0:
        return q
    trip = euler_triples(tree)
    in_trip = {c for t in trip for c in t}
    for c1, c2, c3 in trip:
        x = q[:, [c1, c2, c3]]
        alt = np.stack([x[:, 0] + np.pi, np.pi - x[:, 1], x[:, 2] + np.pi], axis=1)
        # relative flip: frame t is nearer the other branch of frame t-1 than the same one; the
        # distance is invariant under taking the other branch of both, so parities accumulate
        same = (_wrap(x[1:] - x[:-1]) ** 2).sum(axis=1)
        other = (_wrap(alt[1:] - x[:-1]) ** 2).sum(axis=1)
        parity = np.r_[0, np.cumsum(other < same) % 2].astype(bool)
        best = None
        for first in (False, True):
            flip = parity ^ first
            y = np.where(flip[:, None], alt, x)
            y = np.unwrap(y, axis=0)
            y = _best_turns(tree, y, [c1, c2, c3])
            z = q.copy()
            z[:, [c1, c2, c3]] = y
            excess = float(_range_excess(tree, z, [c1, c2, c3]).sum())
            principal = abs(_wrap(y[0, 1])) <= np.pi / 2 + 1e-12
            key = (round(excess, 9), not principal)
            if best is None or key < best[0]:
                best = (key, y)
        q[:, [c1, c2, c3]] = best[1]
    rest = [c for c in range(tree.n_coords) if tree.coord_rotational[c] and not tree.coord_clamped[c]
            and c not in tree.couplers and c not in in_trip]
    if rest:
        q[:, rest] = _best_turns(tree, np.unwrap(q[:, rest], axis=0), rest)
    return tree.apply_couplers(q)


def _best_turns(tree, y, cols):
    """y (T, k) continuous angles of coordinates ``cols`` shifted by whole turns: the first frame
    into [-pi, pi), or one turn off that where this brings it closer to the coordinate's range."""
    y = y - 2 * np.pi * np.round(y[:1] / (2 * np.pi))
    lo, hi = tree.coord_range[cols, 0], tree.coord_range[cols, 1]
    out = y.copy()
    for j in range(y.shape[1]):
        best = None
        for k in (0, -1, 1):
            v = y[0, j] + 2 * np.pi * k
            e = max(lo[j] - v, v - hi[j], 0.0)
            if best is None or e < best[0] - 1e-9:
                best = (e, k)
        out[:, j] = y[:, j] + 2 * np.pi * best[1]
    return out
