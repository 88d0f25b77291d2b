"""Scores of the baseline: the 3D metrics of ``odahgen eval`` (reused, not re-implemented)
broken down per coordinate, and the 2D scores of the detector against the ground truth.

3D (through :mod:`odahgen.gt.evaluate` / :mod:`odahgen.gt.metrics`): joint-angle MAE (deg,
the 36 rotational coordinates), PA-MPJPE (mm), PA-MPJVE (mm/s) on the 44 keypoints, plus
the MAE per coordinate, per coordinate group and over subsets (:data:`COORDINATE_SUBSETS`:
without the 8 coordinates the model locks, lower body and trunk, arms), and the error of the triangulated joints
against their ground-truth keypoints (mm, no alignment: camera or labelling errors show up
here first).

2D, per view: the detection rate (frames with a person found), the pixel error of each
scored joint (:data:`~odahgen.baseline.joints.SCORED_JOINTS`, the hand points have no
ground-truth keypoint) against its ground-truth keypoint (:data:`~odahgen.baseline.joints.JOINT_KEYPOINT`),
and PCK@0.1 torso: the fraction of joints within 0.1 x the frame's torso length (the image
distance between the mid-shoulder and mid-hip ground-truth keypoints) of the keypoint.
Both count every frame whose ground-truth keypoint lies inside the image (occluded ones
included, the detector is asked for all joints); a frame without a detection counts as a
miss in PCK and is left out of the pixel error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from odahgen.baseline.detector import Detections2D
from odahgen.baseline.joints import JOINT_KEYPOINT, JOINTS, SCORED_JOINTS
from odahgen.gt.evaluate import Prediction, score_trial
from odahgen.gt.metrics import angle_errors_deg, nanmean
from odahgen.gt.schema import Camera, TrialGT

#: ODAH paper (Lin et al., CVPRW 2024), Table 1: joint-angle MAE (deg) of the classic
#: markerless pipelines on real video.
PAPER_TABLE1_MAE_DEG: dict[str, float] = {"Pose2Sim": 10.48, "OpenCap": 11.14}
PCK_FRACTION = 0.1

#: coordinate groups of the per-group MAE (rotational coordinates only)
COORDINATE_GROUPS: dict[str, tuple[str, ...]] = {
    "pelvis": ("pelvis_tilt", "pelvis_list", "pelvis_rotation"),
    "hip": ("hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "hip_flexion_l", "hip_adduction_l",
            "hip_rotation_l"),
    "knee": ("knee_angle_r", "knee_angle_r_beta", "knee_angle_l", "knee_angle_l_beta"),
    "ankle_foot": ("ankle_angle_r", "subtalar_angle_r", "mtp_angle_r", "ankle_angle_l", "subtalar_angle_l",
                   "mtp_angle_l"),
    "lumbar": ("lumbar_extension", "lumbar_bending", "lumbar_rotation"),
    "shoulder": ("arm_flex_r", "arm_add_r", "arm_rot_r", "arm_flex_l", "arm_add_l", "arm_rot_l"),
    "elbow_forearm": ("elbow_flex_r", "pro_sup_r", "elbow_flex_l", "pro_sup_l"),
    "wrist": ("wrist_flex_r", "wrist_dev_r", "wrist_flex_l", "wrist_dev_l"),
}


#: coordinates Rajagopal2016 (and the built-in model) lock: ground truth and IK both keep them
#: at their default, so their error is 0 by construction and dilutes the overall MAE
LOCKED_COORDINATES = ("subtalar_angle_r", "mtp_angle_r", "subtalar_angle_l", "mtp_angle_l", "wrist_flex_r",
                      "wrist_dev_r", "wrist_flex_l", "wrist_dev_l")
#: MAE over coordinate subsets besides the overall one (all 36 rotational, as `odahgen eval`)
COORDINATE_SUBSETS: dict[str, tuple[str, ...]] = {
    "unlocked": tuple(c for g in COORDINATE_GROUPS.values() for c in g if c not in LOCKED_COORDINATES),
    "lower_body_trunk": ("pelvis_tilt", "pelvis_list", "pelvis_rotation", "hip_flexion_r", "hip_adduction_r",
                         "hip_rotation_r", "knee_angle_r", "ankle_angle_r", "hip_flexion_l", "hip_adduction_l",
                         "hip_rotation_l", "knee_angle_l", "ankle_angle_l", "lumbar_extension", "lumbar_bending",
                         "lumbar_rotation"),
    "arms": ("arm_flex_r", "arm_add_r", "arm_rot_r", "elbow_flex_r", "pro_sup_r", "arm_flex_l", "arm_add_l",
             "arm_rot_l", "elbow_flex_l", "pro_sup_l"),
}


class Pool:
    """Sums and counts of errors by key, for frame-weighted dataset means."""

    def __init__(self) -> None:
        self.sum: dict[str, float] = {}
        self.n: dict[str, int] = {}

    def add(self, key: str, values) -> None:
        v = np.asarray(values, float)
        v = v[np.isfinite(v)]
        self.sum[key] = self.sum.get(key, 0.0) + float(v.sum())
        self.n[key] = self.n.get(key, 0) + int(v.size)

    def mean(self, key: str) -> float:
        n = self.n.get(key, 0)
        return self.sum[key] / n if n else float("nan")

    def means(self, keys) -> dict[str, float]:
        return {k: self.mean(k) for k in keys}


def _rotational_names(gt: TrialGT) -> list[str]:
    return [c for c, r in zip(gt.coordinate_names, gt.rotational) if r]


def score_3d(pred: Prediction, gt: TrialGT, joints_3d: np.ndarray | None, pool: Pool | None = None) -> dict[str, Any]:
    """The ``odahgen eval`` metrics of one trial plus the per-coordinate / per-group MAE (deg)
    and the triangulated joints' error (mm). ``joints_3d`` (T, J, 3) m or None."""
    s = score_trial(pred, gt, "baseline prediction")
    out: dict[str, Any] = {**s.values, "missing": s.missing, "notes": s.notes}
    names = _rotational_names(gt)
    errors = angle_errors_deg(pred.joint_angles, gt.joint_angles)  # (T, 36)
    out["angle_mae_deg_per_coordinate"] = {c: nanmean(errors[:, i]) for i, c in enumerate(names)}
    out["angle_mae_deg_per_group"] = {g: nanmean(errors[:, [names.index(c) for c in cs]])
                                      for g, cs in COORDINATE_GROUPS.items()}
    out["angle_mae_deg_per_subset"] = {k: nanmean(errors[:, [names.index(c) for c in cs]])
                                       for k, cs in COORDINATE_SUBSETS.items()}
    if pool is not None:
        for i, c in enumerate(names):
            pool.add(f"coord:{c}", errors[:, i])
        for g, cs in COORDINATE_GROUPS.items():
            pool.add(f"group:{g}", errors[:, [names.index(c) for c in cs]])
        for k, cs in COORDINATE_SUBSETS.items():
            pool.add(f"subset:{k}", errors[:, [names.index(c) for c in cs]])
    if joints_3d is not None:
        idx = [list(gt.keypoint_names).index(JOINT_KEYPOINT[j]) for j in SCORED_JOINTS]
        cols = [JOINTS.index(j) for j in SCORED_JOINTS]
        d = np.linalg.norm(np.asarray(joints_3d, float)[:, cols] - np.asarray(gt.keypoints_3d)[:, idx],
                           axis=-1) * 1000.0
        out["triangulated_error_mm"] = nanmean(d)
        out["triangulated_error_mm_per_joint"] = {j: nanmean(d[:, k]) for k, j in enumerate(SCORED_JOINTS)}
        out["triangulated_fraction"] = float(np.isfinite(d).mean())
        if pool is not None:
            pool.add("tri", d)
            for k, j in enumerate(SCORED_JOINTS):
                pool.add(f"tri:{j}", d[:, k])
    return out


def torso_length_px(cam: Camera, keypoint_names) -> np.ndarray:
    """(T,) px: image distance between the mid-shoulder and mid-hip ground-truth keypoints."""
    names = list(keypoint_names)
    k = cam.keypoints_2d
    sh = (k[:, names.index("acromial_r")] + k[:, names.index("acromial_l")]) / 2
    hip = (k[:, names.index("hip_r")] + k[:, names.index("hip_l")]) / 2
    return np.linalg.norm(sh - hip, axis=-1)


def score_2d(det: Detections2D, cam: Camera, keypoint_names, view: str = "", pool: Pool | None = None) -> dict[str, Any]:
    """Detection rate, per-joint pixel error (px) and PCK@0.1 torso of one view."""
    names = list(keypoint_names)
    idx = [names.index(JOINT_KEYPOINT[j]) for j in SCORED_JOINTS]
    gt2d = np.asarray(cam.keypoints_2d, float)[:, idx]  # (T, J', 2), the scored joints
    kps = np.asarray(det.keypoints, float)[:, [JOINTS.index(j) for j in SCORED_JOINTS]]
    width, height = cam.resolution
    inside = (np.isfinite(gt2d).all(axis=-1) & (gt2d[..., 0] >= 0) & (gt2d[..., 0] < width)
              & (gt2d[..., 1] >= 0) & (gt2d[..., 1] < height))
    err = np.linalg.norm(kps - gt2d, axis=-1)  # NaN where not detected
    err = np.where(inside, err, np.nan)
    torso = torso_length_px(cam, names)[:, None]
    hit = np.where(inside, np.nan_to_num(err, nan=np.inf) < PCK_FRACTION * torso, False)
    n_in = int(inside.sum())
    out = {
        "detection_rate": det.detection_rate,
        "frames": det.n_frames,
        "error_px": nanmean(err),
        "error_px_per_joint": {j: nanmean(err[:, k]) for k, j in enumerate(SCORED_JOINTS)},
        "pck": float(hit.sum() / n_in) if n_in else float("nan"),
        "pck_per_joint": {j: (float(hit[:, k].sum() / inside[:, k].sum()) if inside[:, k].any() else float("nan"))
                          for k, j in enumerate(SCORED_JOINTS)},
        "torso_px": nanmean(torso),
    }
    if pool is not None:
        pool.add(f"rate:{view}", det.detected.astype(float))
        pool.add(f"px:{view}", err)
        pool.add(f"pck:{view}", hit[inside].astype(float))
        for k, j in enumerate(SCORED_JOINTS):
            pool.add(f"px:{view}:{j}", err[:, k])
            pool.add(f"pck:{view}:{j}", hit[inside[:, k], k].astype(float))
    return out


def dataset_2d(pool: Pool, views: list[str]) -> dict[str, Any]:
    """Per view: pooled detection rate, pixel error and PCK over every scored frame."""
    return {v: {"detection_rate": pool.mean(f"rate:{v}"), "error_px": pool.mean(f"px:{v}"),
                "pck": pool.mean(f"pck:{v}"),
                "error_px_per_joint": {j: pool.mean(f"px:{v}:{j}") for j in SCORED_JOINTS},
                "pck_per_joint": {j: pool.mean(f"pck:{v}:{j}") for j in SCORED_JOINTS}} for v in views}


def dataset_3d_breakdown(pool: Pool, coordinate_names) -> dict[str, Any]:
    """Pooled per-coordinate and per-group MAE (deg) and triangulated error (mm)."""
    return {
        "angle_mae_deg_per_coordinate": {c: pool.mean(f"coord:{c}") for c in coordinate_names},
        "angle_mae_deg_per_group": {g: pool.mean(f"group:{g}") for g in COORDINATE_GROUPS},
        "angle_mae_deg_per_subset": {k: pool.mean(f"subset:{k}") for k in COORDINATE_SUBSETS},
        "triangulated_error_mm": pool.mean("tri"),
        "triangulated_error_mm_per_joint": {j: pool.mean(f"tri:{j}") for j in SCORED_JOINTS},
    }
