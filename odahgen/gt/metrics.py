"""The paper's evaluation metrics.

- Joint-angle MAE (deg): mean absolute difference of the rotational coordinates, the
  difference wrapped to [-180, 180) deg; translations (pelvis_tx/ty/tz) excluded.
- PA-MPJPE (mm): per frame, the prediction is aligned to the ground truth with the best
  similarity transform (rotation, uniform scale, translation; Umeyama/Procrustes), then the
  mean Euclidean keypoint distance; averaged over frames.
- PA-MPJVE (mm/s): velocities (finite differences x fps) of the per-frame aligned
  prediction and of the ground truth, mean Euclidean difference over keypoints and frames.

Inputs are metres and radians; outputs mm, mm/s and degrees.
"""

from __future__ import annotations

import numpy as np

from odahgen.skeleton.names import COORDINATE_NAMES, TRANSLATIONAL_COORDINATES

ROTATIONAL_MASK = np.array([c not in TRANSLATIONAL_COORDINATES for c in COORDINATE_NAMES])


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
    """Mean absolute joint-angle error in degrees over frames and rotational coordinates."""
    return float(np.mean(angle_errors_deg(pred, gt, mask)))


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame similarity alignment of ``pred`` onto ``gt``, both (T, K, 3) (or (K, 3)).

    Returns the aligned prediction, same shape: s * R @ p + t minimising the squared
    distance to ``gt`` (Umeyama 1991; reflections excluded).
    """
    pred = np.asarray(pred, float)
    gt = np.asarray(gt, float)
    single = pred.ndim == 2
    if single:
        pred, gt = pred[None], gt[None]
    mu_p = pred.mean(axis=1, keepdims=True)
    mu_g = gt.mean(axis=1, keepdims=True)
    p = pred - mu_p
    g = gt - mu_g
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
    return aligned[0] if single else aligned


def mpjpe_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint position error (mm) without alignment; (T, K, 3) m."""
    return float(np.mean(np.linalg.norm(np.asarray(pred) - np.asarray(gt), axis=-1)) * 1000.0)


def pa_mpjpe_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    """Procrustes-aligned MPJPE (mm); ``pred``/``gt`` (T, K, 3) m."""
    return mpjpe_mm(procrustes_align(pred, gt), gt)


def pa_mpjve_mm_s(pred: np.ndarray, gt: np.ndarray, fps: float) -> float:
    """Procrustes-aligned mean per-joint velocity error (mm/s); (T, K, 3) m, T >= 2."""
    aligned = procrustes_align(pred, gt)
    gt = np.asarray(gt, float)
    if gt.shape[0] < 2:
        return float("nan")
    v_pred = np.diff(aligned, axis=0) * fps
    v_gt = np.diff(gt, axis=0) * fps
    return float(np.mean(np.linalg.norm(v_pred - v_gt, axis=-1)) * 1000.0)
