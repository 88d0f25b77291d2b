"""Sparse non-negative vertex combinations: a point of the body (a joint centre, a
joint-centre marker) as a convex combination of a few mesh vertices.

Used by the joint regressor (:mod:`odahgen.body.regressor`) and the marker layouts
(:mod:`odahgen.body.markers`).
"""

from __future__ import annotations

import numpy as np


def fit_sparse_weights(A: np.ndarray, b: np.ndarray, max_nonzero: int = 32, sum_weight: float = 1e3) -> np.ndarray:
    """argmin ||A w - b|| s.t. w >= 0, sum w = 1, at most ``max_nonzero`` non-zeros.

    ``A (R, K)`` (rows: stacked samples x coordinates, m), ``b (R,)`` m. Returns ``w (K,)``.
    The sum constraint is a row of ``sum_weight`` appended to the NNLS system, then ``w`` is
    renormalised (exact sum 1).
    """
    from scipy.optimize import nnls  # only the layout and regressor builders need scipy

    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(1.0, float(np.abs(A).max()))

    def solve(cols: np.ndarray) -> np.ndarray:
        Aa = np.vstack([A[:, cols], np.full((1, len(cols)), sum_weight * scale)])
        ba = np.concatenate([b, [sum_weight * scale]])
        w, _ = nnls(Aa, ba, maxiter=50 * len(cols))
        return w

    cols = np.arange(A.shape[1])
    w = solve(cols)
    if (w > 0).sum() > max_nonzero:
        keep = np.sort(np.argsort(-w)[:max_nonzero])
        wk = solve(keep)
        w = np.zeros_like(w)
        w[keep] = wk
    s = w.sum()
    if s <= 0:
        w = np.zeros_like(w)
        w[int(np.argmin(np.linalg.norm(A.reshape(-1, 3, A.shape[1]) - b.reshape(-1, 3, 1), axis=1).mean(0)))] = 1.0
        return w
    return w / s
