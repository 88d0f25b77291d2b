"""Multi-view triangulation (confidence-weighted DLT) and the low-pass filter of the 3D joints.

Cameras follow the ground truth's convention: ``x_px ~ K @ (R @ X + t)``, X in the OpenSim
world frame (m, Y up), OpenCV camera axes. As in Pose2Sim, each view's two DLT equations are
weighted by the detection's confidence, views below a confidence threshold are left out, and
the trajectories are then low-pass filtered (zero-phase Butterworth, 6 Hz, order 4) after
filling short gaps; a joint seen by fewer than two views in a frame is missing (NaN).
"""

from __future__ import annotations

import numpy as np

#: Pose2Sim's default filter: Butterworth, order 4, cut-off 6 Hz, run forwards and backwards.
CUTOFF_HZ = 6.0
ORDER = 4
#: gaps up to this many frames are interpolated before filtering (Pose2Sim's default: 10)
MAX_GAP_FRAMES = 10


def projection_matrix(K: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(3, 4) P = K [R | t] (px per m)."""
    return np.asarray(K, float) @ np.hstack([np.asarray(R, float), np.asarray(t, float).reshape(3, 1)])


def triangulate_dlt(points: np.ndarray, confidence: np.ndarray, P: np.ndarray,
                    min_confidence: float = 0.05) -> np.ndarray:
    """Confidence-weighted DLT.

    ``points`` (V, ..., 2) px, ``confidence`` (V, ...) in [0, 1], ``P`` (V, 3, 4).
    Returns (..., 3) m; NaN where fewer than two views have a finite point with confidence
    >= ``min_confidence``.
    """
    pts = np.asarray(points, float)
    conf = np.asarray(confidence, float)
    P = np.asarray(P, float)
    V = pts.shape[0]
    lead = pts.shape[1:-1]
    pts = pts.reshape(V, -1, 2)
    conf = conf.reshape(V, -1)
    ok = np.isfinite(pts).all(axis=-1) & (conf >= min_confidence)  # (V, N)
    w = np.where(ok, conf, 0.0)
    x = np.where(ok, pts[..., 0], 0.0)
    y = np.where(ok, pts[..., 1], 0.0)
    # rows x*P3 - P1 and y*P3 - P2 for each view: A (N, 2V, 4)
    rx = x[..., None] * P[:, None, 2, :] - P[:, None, 0, :]
    ry = y[..., None] * P[:, None, 2, :] - P[:, None, 1, :]
    A = np.concatenate([rx * w[..., None], ry * w[..., None]], axis=0)  # (2V, N, 4)
    A = np.transpose(A, (1, 0, 2))
    # scale each row to unit norm before weighting so that pixels and metres balance
    norms = np.linalg.norm(np.concatenate([rx, ry], axis=0), axis=-1).T  # (N, 2V)
    A = A / np.where(norms > 0, norms, 1.0)[..., None]
    _, _, Vt = np.linalg.svd(A)
    X = Vt[:, -1, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = X[:, :3] / X[:, 3:4]
    out[ok.sum(axis=0) < 2] = np.nan
    return out.reshape(*lead, 3)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of the runs of True in a 1D bool array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def fill_gaps(x: np.ndarray, max_gap: int = MAX_GAP_FRAMES) -> np.ndarray:
    """(T,) with interior NaN runs up to ``max_gap`` frames linearly interpolated; longer gaps
    and the ends stay NaN."""
    x = np.asarray(x, float).copy()
    good = np.isfinite(x)
    if good.sum() < 2:
        return x
    for a, b in _runs(~good):
        if a > 0 and b < len(x) and b - a <= max_gap:
            x[a:b] = np.interp(np.arange(a, b), [a - 1, b], [x[a - 1], x[b]])
    return x


def butterworth(points: np.ndarray, fps: float, cutoff_hz: float = CUTOFF_HZ, order: int = ORDER,
                max_gap: int = MAX_GAP_FRAMES) -> np.ndarray:
    """Zero-phase low-pass of trajectories (T, ...) sampled at ``fps`` along axis 0.

    Short gaps (<= ``max_gap`` frames) are interpolated first; each stretch of valid samples
    is filtered on its own (a stretch too short for the filter's padding is left as it is);
    longer gaps stay NaN. A cut-off at or above Nyquist returns the gap-filled input.
    """
    from scipy.signal import butter, filtfilt

    arr = np.asarray(points, float)
    flat = arr.reshape(arr.shape[0], -1)
    out = np.full_like(flat, np.nan)
    nyq = fps / 2.0
    b = a = None
    if cutoff_hz < nyq:
        b, a = butter(order, cutoff_hz / nyq, btype="low")
    for k in range(flat.shape[1]):
        x = fill_gaps(flat[:, k], max_gap)
        if b is None:
            out[:, k] = x
            continue
        for s, e in _runs(np.isfinite(x)):
            seg = x[s:e]
            pad = 3 * max(len(a), len(b))
            out[s:e, k] = filtfilt(b, a, seg, padlen=min(pad, len(seg) - 1)) if len(seg) > order * 3 else seg
    return out.reshape(arr.shape)


def reprojection_errors(X: np.ndarray, points: np.ndarray, P: np.ndarray) -> np.ndarray:
    """(V, ...) px distance between ``points`` (V, ..., 2) and the projections of ``X`` (..., 3)."""
    Xh = np.concatenate([np.asarray(X, float), np.ones(np.shape(X)[:-1] + (1,))], axis=-1)
    uvw = np.einsum("vij,...j->v...i", np.asarray(P, float), Xh)
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = uvw[..., :2] / uvw[..., 2:3]
    return np.linalg.norm(uv - np.asarray(points, float), axis=-1)
