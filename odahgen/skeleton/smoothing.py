"""Continuity of IK solutions in time: single-frame spikes, and coordinates the markers do not
determine turning faster than the neighbouring frames allow (see :mod:`odahgen.skeleton.ik`)."""

from __future__ import annotations

import numpy as np

from odahgen.skeleton.branches import align_branches
from odahgen.skeleton.lm import solve_frames

#: spike smoothing (:func:`_smooth_spikes`): an angle further than SPIKE_DEG from the mean of
#: its two neighbours is re-solved pulled toward that mean with SPIKE_PULL x the stiffness of a
#: just well-determined coordinate (10 deg -> 2 mm weighted marker RMS, see _determined)
SPIKE_DEG = 5.0
SPIKE_PULL = 0.25
#: a spike-smoothed frame is kept only if it bends the joints' rotation paths (geodesic, summed
#: over the joints, :func:`_path_excess`) by at most this much more than before, deg
BEND_DEG = 1.0


def _joint_rotations(tree, q):
    """(T, B, 3, 3) each body's rotation relative to its parent (the root's in the ground)."""
    R, _p, _j = tree.forward(q)
    parent = np.asarray(tree.body_parent)
    par = np.where(parent >= 0, parent, np.arange(len(parent)))
    rel = np.einsum("tbji,tbjk->tbik", R[:, par], R)
    root = parent < 0
    rel[:, root] = R[:, root]
    return rel


def _geodesic(Ra, Rb):
    """Angle (rad) of the rotation between Ra and Rb (..., 3, 3)."""
    tr = np.einsum("...ji,...ji->...", Ra, Rb)
    return np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0))


def _path_excess(tree, q, f, qf=None):
    """(len(f),) how far frames ``f`` of q (T, n) (or the poses qf in their place) bend the
    joints' rotation paths: d(prev, f) + d(f, next) - d(prev, next), geodesic (rad), summed over
    the joints; 0 on a geodesic between the neighbours; d to the one neighbour at either end."""
    T = len(q)
    prev, nxt = np.maximum(f - 1, 0), np.minimum(f + 1, T - 1)
    prev = np.where(f == 0, nxt, prev)
    nxt = np.where(f == T - 1, prev, nxt)
    Rp, Rn = _joint_rotations(tree, q[prev]), _joint_rotations(tree, q[nxt])
    Rf = _joint_rotations(tree, q[f] if qf is None else qf)
    ex = _geodesic(Rp, Rf) + _geodesic(Rf, Rn) - np.where((prev == nxt)[:, None], 0.0, _geodesic(Rp, Rn))
    return ex.sum(axis=1)


def _smooth_spikes(tree, Y, idx, weights, q, cost, loc, cols, rounds: int = 4):
    """Frames whose angles stand out from both neighbours (further than :data:`SPIKE_DEG` from
    their mean, e.g. forearm rotation or, at the shoulder's gimbal (arm straight out sideways),
    arm_flex and arm_rot turning together) are re-solved pulled toward the neighbours' mean,
    with :data:`SPIKE_PULL` x the stiffness of a just well-determined coordinate: a direction the
    markers do not determine follows the neighbours, one they do barely moves (the marker cost
    rises by at most the pull's own term). Odd, then even frames, so each sees updated neighbours.
    A re-solved frame is kept only where it bends the joints' rotation paths (:func:`_path_excess`)
    by at most :data:`BEND_DEG` more than before: near the gimbal the mean of the neighbours'
    Euler angles is another rotation, and pulling toward it adds a jump the markers do not show."""
    T = len(q)
    if T < 3:
        return q, cost
    q = align_branches(tree, q)
    rot = cols[tree.coord_rotational[cols]]
    ok = np.isfinite(Y).all(axis=2)
    wsum = float(np.median(np.where(ok, weights[None], 0.0).sum(axis=1)))
    reg = SPIKE_PULL * wsum * (2e-3) ** 2 / np.radians(10.0) ** 2
    lim = np.radians(SPIKE_DEG)
    todo = np.ones(T, bool)
    for _ in range(rounds):
        changed = np.zeros(T, bool)
        for parity in (1, 0):
            prior = q.copy()
            prior[1:-1] = 0.5 * (q[:-2] + q[2:])
            prior[0], prior[-1] = q[1], q[-2]
            dev = np.abs(q[:, rot] - prior[:, rot]) > lim
            f = np.nonzero(dev.any(axis=1) & todo & (np.arange(T) % 2 == parity))[0]
            if len(f) == 0:
                continue
            pr = q[f].copy()  # coordinates that do not stand out are held where they are
            pr[:, rot] = np.where(dev[f], prior[f][:, rot], q[f][:, rot])
            qn, cn = solve_frames(tree, Y[f], idx, weights, q[f], loc, cols, iters=15, prior=pr, reg=reg)
            # the neighbours' mean of Euler angles is no mean rotation where a Tait-Bryan triple
            # turns fast near its gimbal pose (arm_flex and arm_rot spin): keep a re-solved
            # frame only where it does not bend the joints' rotation paths more than before
            keep = _path_excess(tree, q, f, qn) <= _path_excess(tree, q, f) + np.radians(BEND_DEG)
            f = f[keep]
            q[f], cost[f] = qn[keep], cn[keep]
            changed[f] = True
        if not changed.any():
            break
        todo = np.zeros(T, bool)
        for d in (-1, 0, 1):
            todo |= np.roll(changed, d)
    return q, cost


#: undetermined-rotation smoothing (:func:`_smooth_undetermined`): a rotational coordinate that
#: changes faster than FAST_DEG per frame is looked at; where the markers do not determine it
#: (:func:`odahgen.skeleton.lm._determined`), it is pulled toward its moving average over
#: 2 * HALF_WINDOW + 1 frames. (8 deg caught the forearm-rotation noise of bench/ik.py's
#: synthetic trial and cost 10 % of its IK time; the swings it is for reach 15-19.)
FAST_DEG = 12.0
HALF_WINDOW = 4


def _smooth_undetermined(tree, Y, idx, weights, q, cost, loc, cols):
    """Coordinates the markers do not determine (10 deg moving the markers < 2 mm, the others
    re-optimised) follow their neighbours instead of turning fast: e.g. at a straight elbow the
    upper arm's axial rotation and forearm pronation trade off freely, and the split between them
    can swing 60 deg in four frames while the hand barely turns. Around frames where a rotational
    coordinate changes more than FAST_DEG per frame, each undetermined coordinate is pulled
    toward its moving average (SPIKE_PULL x the stiffness of a just well-determined coordinate,
    as :func:`_smooth_spikes`): the determined directions barely move. A re-solved frame is
    kept only where it does not bend the joints' rotation paths more than before."""
    from odahgen.skeleton.lm import _determined  # noqa: PLC0415

    T = len(q)
    rot = cols[tree.coord_rotational[cols]]
    if T < 2 * HALF_WINDOW + 1 or not len(rot):
        return q, cost
    fast = np.abs(np.diff(q[:, rot], axis=0)).max(axis=1) > np.radians(FAST_DEG)  # (T-1,)
    if not fast.any():
        return q, cost
    near = np.zeros(T, bool)
    for t in np.flatnonzero(fast):
        near[max(0, t - HALF_WINDOW):t + HALF_WINDOW + 2] = True
    f = np.flatnonzero(near)
    ok = np.isfinite(Y).all(axis=2)
    W = np.where(ok, weights[None], 0.0)
    _c, A, _g, _x = tree.normal_equations(q[f], np.where(ok[f][..., None], Y[f], 0.0), W[f], idx, cols, loc)
    det = _determined(A, W[f])  # (len(f), len(cols))
    k = np.ones(2 * HALF_WINDOW + 1) / (2 * HALF_WINDOW + 1)
    pad = np.pad(q[:, rot], ((HALF_WINDOW, HALF_WINDOW), (0, 0)), mode="edge")
    avg = np.stack([np.convolve(pad[:, j], k, mode="valid") for j in range(len(rot))], axis=1)  # (T, R)
    col_of = {int(c): j for j, c in enumerate(cols)}
    und = ~det[:, [col_of[int(c)] for c in rot]]  # (len(f), R)
    off = und & (np.abs(avg[f] - q[f][:, rot]) > np.radians(1.0))
    sel = off.any(axis=1)
    if not sel.any():
        return q, cost
    f, und = f[sel], und[sel]
    pr = q[f].copy()
    pr[:, rot] = np.where(und, avg[f], q[f][:, rot])
    wsum = float(np.median(W.sum(axis=1)))
    reg = SPIKE_PULL * wsum * (2e-3) ** 2 / np.radians(10.0) ** 2
    qn, cn = solve_frames(tree, Y[f], idx, weights, q[f], loc, cols, iters=15, prior=pr, reg=reg)
    new_q, new_cost = q.copy(), cost.copy()
    new_q[f], new_cost[f] = qn, cn
    # each run of consecutive re-solved frames is kept whole where it lowers the fastest joint
    # rotation between its frames and their neighbours
    old_rate, new_rate = _rotation_steps(tree, q), _rotation_steps(tree, new_q)  # (T-1,)
    q, cost = q.copy(), cost.copy()
    for run in np.split(f, np.flatnonzero(np.diff(f) > 1) + 1):
        a, b = max(int(run[0]) - 1, 0), min(int(run[-1]) + 1, T - 1)
        if new_rate[a:b].max() < old_rate[a:b].max():
            q[run], cost[run] = new_q[run], new_cost[run]
    return q, cost


def _rotation_steps(tree, q):
    """(T-1,) the largest rotation (rad, geodesic) of any joint between consecutive frames."""
    rel = _joint_rotations(tree, q)
    return _geodesic(rel[:-1], rel[1:]).max(axis=1)
