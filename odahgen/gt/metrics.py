"""The paper's evaluation metrics.

- Joint-angle MAE (deg): mean absolute difference of the rotational coordinates, the
  difference wrapped to [-180, 180) deg; translations (pelvis_tx/ty/tz) excluded.
- PA-MPJPE (mm): per frame, the prediction is aligned to the ground truth with the best
  similarity transform (rotation, uniform scale, translation; Umeyama/Procrustes), then the
  mean Euclidean keypoint distance; averaged over frames.
- PA-MPJVE (mm/s): velocities (finite differences x fps) of the per-frame aligned
  prediction and of the ground truth, mean Euclidean difference over keypoints and frames.

Inputs are metres and radians; outputs mm, mm/s and degrees.

Missing values: NaN in a prediction (or the ground truth) marks a value as missing. It is
left out of every mean (a mean with nothing left is NaN); a keypoint with a NaN coordinate
is left out of its frame's alignment, and a frame with fewer than
:data:`MIN_ALIGN_KEYPOINTS` keypoints present is not aligned (all its keypoints missing);
a velocity needs the keypoint in both frames. Arrays without NaN give the same numbers as
the plain formulas.
"""

from __future__ import annotations

import numpy as np

from odahgen.skeleton.names import COORDINATE_NAMES, TRANSLATIONAL_COORDINATES

ROTATIONAL_MASK = np.array([c not in TRANSLATIONAL_COORDINATES for c in COORDINATE_NAMES])
#: Fewest keypoints present in a frame for a similarity alignment to mean anything (two
#: points can always be matched exactly).
MIN_ALIGN_KEYPOINTS = 3


def nanmean(values) -> float:
    """Mean of the finite values (NaN when there are none), without warnings."""
    arr = np.asarray(values, float)
    ok = np.isfinite(arr)
    return float(arr[ok].mean()) if ok.any() else float("nan")


def angle_errors_deg(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Absolute wrapped angle errors (T, C') in degrees for the coordinates in ``mask``
    ((39,) bool, default: the 36 rotational ones). ``pred``/``gt`` (T, 39) rad."""
    pred = np.asarray(pred, float)
    gt = np.asarray(gt, float)
    if pred.shape != gt.shape:
        raise ValueError(f"angle arrays differ in shape: {pred.shape} vs {gt.shape}")
    if mask is None:
        mask = ROTATIONAL_MASK if pred.shape[-1] == len(COORDINATE_NAMES) else np.ones(pred.shape[-1], bool)
    diff = (pred[..., mask] - gt[..., mask] + np.pi) % (2 * np.pi) - np.pi
    return np.abs(np.degrees(diff))


def joint_angle_mae_deg(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute joint-angle error in degrees over frames and rotational coordinates
    (missing values left out)."""
    return nanmean(angle_errors_deg(pred, gt, mask))


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame similarity alignment of ``pred`` onto ``gt``, both (T, K, 3) (or (K, 3)).

    Returns the aligned prediction, same shape: s * R @ p + t minimising the squared
    distance to ``gt`` (Umeyama 1991; reflections excluded). Keypoints with a non-finite
    coordinate in either array are left out of the fit and come back NaN; frames with fewer
    than :data:`MIN_ALIGN_KEYPOINTS` such keypoints come back all NaN.
    """
    pred = np.asarray(pred, float)
    gt = np.asarray(gt, float)
    single = pred.ndim == 2
    if single:
        pred, gt = pred[None], gt[None]
    present = np.isfinite(pred).all(axis=-1) & np.isfinite(gt).all(axis=-1)  # (T,K)
    w = present[..., None].astype(float)
    n = np.maximum(present.sum(axis=1), 1)[:, None, None]
    pred0 = np.where(present[..., None], pred, 0.0)
    gt0 = np.where(present[..., None], gt, 0.0)
    mu_p = pred0.sum(axis=1, keepdims=True) / n
    mu_g = gt0.sum(axis=1, keepdims=True) / n
    p = (pred0 - mu_p) * w
    g = (gt0 - mu_g) * w
    cov = np.einsum("tki,tkj->tij", g, p)  # (T,3,3): sum_k g_k p_k^T
    U, S, Vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.ones_like(S)
    D[:, -1] = d
    R = U @ (D[:, :, None] * Vt)
    var_p = np.sum(p**2, axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(var_p > 0, np.sum(S * D, axis=1) / var_p, 1.0)
    aligned = scale[:, None, None] * np.einsum("tij,tkj->tki", R, p) + mu_g
    usable = present & (present.sum(axis=1) >= MIN_ALIGN_KEYPOINTS)[:, None]
    aligned[~usable] = np.nan
    return aligned[0] if single else aligned


def pa_errors_m(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(T, K) per-keypoint distances (m) after the per-frame alignment; NaN = missing."""
    return np.linalg.norm(procrustes_align(pred, gt) - np.asarray(gt, float), axis=-1)


def pa_velocity_errors_m_s(pred: np.ndarray, gt: np.ndarray, fps: float) -> np.ndarray:
    """(T-1, K) velocity error norms (m/s) of the aligned prediction; NaN = missing."""
    aligned = procrustes_align(pred, gt)
    gt = np.asarray(gt, float)
    return np.linalg.norm(np.diff(aligned, axis=0) * fps - np.diff(gt, axis=0) * fps, axis=-1)


def mpjpe_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint position error (mm) without alignment; (T, K, 3) m."""
    return nanmean(np.linalg.norm(np.asarray(pred, float) - np.asarray(gt, float), axis=-1)) * 1000.0


def pa_mpjpe_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    """Procrustes-aligned MPJPE (mm); ``pred``/``gt`` (T, K, 3) m."""
    return nanmean(pa_errors_m(pred, gt)) * 1000.0


def pa_mpjve_mm_s(pred: np.ndarray, gt: np.ndarray, fps: float) -> float:
    """Procrustes-aligned mean per-joint velocity error (mm/s); (T, K, 3) m, T >= 2."""
    if np.shape(gt)[0] < 2:
        return float("nan")
    return nanmean(pa_velocity_errors_m_s(pred, gt, fps)) * 1000.0
