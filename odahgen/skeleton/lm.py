"""Batched Levenberg-Marquardt over independent frames: the solver inside the fast IK.

:func:`solve_frames` solves every frame's weighted marker fit at once (one model evaluation per
iteration for all frames still iterating, in a sliding window of :data:`CACHE_BLOCK` frames);
:func:`_determined` tells which coordinates the markers of a frame determine.
"""

from __future__ import annotations

import numpy as np

from odahgen.skeleton.tree import KinematicTree

#: relative weight of the pull toward the neighbour-interpolated start (see solve_frames)
REG = 1e-5


def _cost(tree, q, idx, loc, Y, W):
    R, p, _ = tree.forward(q)
    mk = tree.markers(R, p, loc)[:, idx]
    d = np.where(np.isfinite(Y), mk - Y, 0.0)
    return ((d * d).sum(axis=2) * W).sum(axis=1)


#: most frames one batched solve works on at once: its working arrays then stay in the CPU
#: cache (~1.4x faster per frame than a 600-frame batch); frames are independent, so longer
#: inputs stream through a window of this many frames with the same result
CACHE_BLOCK = 128


def solve_frames(
    tree: KinematicTree,
    Y: np.ndarray,
    idx: np.ndarray,
    weights: np.ndarray,
    q0: np.ndarray,
    loc: np.ndarray | None = None,
    cols: np.ndarray | None = None,
    iters: int = 40,
    tol: float = 1e-4,
    prior: np.ndarray | None = None,
    reg: float = 0.0,
    hessian: bool = False,
):
    """Batched Levenberg-Marquardt over all frames at once: markers Y (T, m, 3) (NaN = missing)
    of tree markers ``idx``, weights (m,), start q0 (T, n); returns (q (T, n), weighted marker
    cost (T,)). Clamped coordinates stay in range (projected steps with an active set: a
    coordinate at a bound whose gradient points outward is held there). ``reg`` > 0 adds
    reg * |q - prior|^2 (prior defaults to q0) so directions the markers do not determine stay
    where the prior (a neighbouring frame's solution) put them instead of drifting or flipping.
    The normal equations J^T W J come from :meth:`KinematicTree.normal_equations` (no Jacobian
    is formed); the Jacobian is evaluated at each trial point, so one model evaluation per
    iteration. ``hessian``: also return A = J^T W J (T, n, n) at the solution."""
    cols = tree.free_coords() if cols is None else np.asarray(cols)
    T = q0.shape[0]
    q = tree.apply_couplers(q0)
    n = len(cols)
    if T == 0:
        return (q, np.zeros(0), np.zeros((0, n, n))) if hessian else (q, np.zeros(0))
    ok = np.isfinite(Y).all(axis=2)
    W = np.where(ok, weights[None, :], 0.0)
    Yc = np.where(ok[..., None], Y, 0.0)
    lo = np.where(tree.coord_clamped, tree.coord_range[:, 0], -np.inf)[cols]
    hi = np.where(tree.coord_clamped, tree.coord_range[:, 1], np.inf)[cols]
    q[:, cols] = np.clip(q[:, cols], lo, hi)
    pri = (q[:, cols].copy() if prior is None else np.asarray(prior)[:, cols]) if reg > 0 else None
    # A sliding window of frames in flight: each model evaluation covers the trial points of
    # the frames still iterating plus the start points of new frames filling the window, so
    # the few slow frames never run alone. Every frame takes the same steps as on its own.
    window = T if T <= 3 * CACHE_BLOCK // 2 else CACHE_BLOCK
    cost, total, g = np.zeros(T), np.zeros(T), np.zeros((T, n))
    A = np.zeros((T, n, n))
    lam = np.full(T, 1e-4)
    passes = np.zeros(T, int)  # LM iterations each frame has taken (at most ``iters``)
    active = np.zeros(T, bool)
    nxt = 0  # frames [nxt, T) have not been evaluated yet
    eye = np.eye(n)[None]
    while True:
        a = np.nonzero(active)[0]
        qn = np.zeros((0, q.shape[1]))
        if len(a):
            passes[a] += 1
            qa = q[a]
            H = A[a]  # a copy: its diagonal is changed in place (einsum "tii->ti" is a view)
            gg = g[a]
            if reg > 0:
                np.einsum("tii->ti", H)[...] += reg
                gg = gg + reg * (qa[:, cols] - pri[a])
            x = qa[:, cols]
            fixed = ((x <= lo + 1e-10) & (gg > 0)) | ((x >= hi - 1e-10) & (gg < 0))
            Hd = H.copy()
            diag = np.einsum("tii->ti", Hd)
            diag += lam[a][:, None] * (diag + 1e-6)
            if fixed.any():
                keep = ~fixed
                Hd = Hd * (keep[:, :, None] & keep[:, None, :]) + fixed[:, :, None] * eye
                gg = np.where(keep, gg, 0.0)
            step = -np.linalg.solve(Hd, gg[:, :, None])[:, :, 0]
            # converged before evaluating: the proposed (undamped enough) step is below tol, or
            # the quadratic model predicts no gain; such a frame keeps its point (it moves < tol)
            pred = -(gg * step).sum(axis=1) - 0.5 * np.einsum("ti,tij,tj->t", step, H, step)
            conv = ((np.abs(step).max(axis=1) < tol) & (lam[a] <= 1e-3)) | (pred <= 1e-9 * total[a] + 1e-14)
            if conv.any():
                active[a[conv]] = False
                go = ~conv
                a, qa, x, step = a[go], qa[go], x[go], step[go]
            qn = qa.copy()
            qn[:, cols] = np.clip(x + step, lo, hi)
            qn = tree.apply_couplers(qn)
        new = np.arange(nxt, min(T, nxt + window - int(active.sum())))
        nxt += len(new)
        if len(a) == 0 and len(new) == 0:
            break
        ev = np.concatenate([a, new])
        ce, Ae, ge, _ = tree.normal_equations(np.concatenate([qn, q[new]]), Yc[ev], W[ev], idx, cols, loc)
        k = len(a)
        if len(new):  # first evaluation of the new frames: their start point
            cost[new], A[new], g[new] = ce[k:], Ae[k:], ge[k:]
            total[new] = ce[k:] + (reg * ((q[new][:, cols] - pri[new]) ** 2).sum(axis=1) if reg > 0 else 0.0)
            active[new] = iters > 0
        if k:
            cn, An, gn = ce[:k], Ae[:k], ge[:k]
            tn = cn + (reg * ((qn[:, cols] - pri[a]) ** 2).sum(axis=1) if reg > 0 else 0.0)
            better = tn <= total[a]
            acc = a[better]
            stepn = np.abs(qn[:, cols] - x).max(axis=1)
            rel = (total[a] - tn) / np.maximum(total[a], 1e-30)
            q[acc], cost[acc], total[acc], A[acc], g[acc] = qn[better], cn[better], tn[better], An[better], gn[better]
            lam[acc] = np.maximum(lam[acc] / 4.0, 1e-7)
            lam[a[~better]] *= 4.0
            done = (better & ((stepn < tol) | (rel < 1e-6))) | (lam[a] > 1e8)
            active[a[done]] = False
        active &= passes < iters
    return (q, cost, A) if hessian else (q, cost)


def _determined(A: np.ndarray, W: np.ndarray, mm: float = 2.0) -> np.ndarray:
    """(T, n) bool: coordinates whose 10 deg turn, the others re-optimised, moves the weighted
    marker RMS by at least ``mm`` mm (conditional stiffness 1 / (A^-1)_ii); A (T, n, n) = J^T W J,
    W (T, m) marker weights. Jumps in the other (flat) directions are not a continuity problem."""
    n = A.shape[1]
    Ainv = np.linalg.inv(A + 1e-12 * np.eye(n)[None])
    kappa = 1.0 / np.maximum(np.einsum("tii->ti", Ainv), 1e-300)
    wsum = np.maximum(W.sum(axis=1, keepdims=True), 1e-12)
    return np.sqrt(kappa * np.radians(10.0) ** 2 / wsum) >= mm / 1000.0
