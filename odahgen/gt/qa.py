"""Per-trial quality gates. Thresholds come from :class:`odahgen.config.models.QAConfig`.

A trial passes when every gate whose data are present holds:

- ``min_frames``: T >= qa.min_frames (the training code drops shorter clips).
- ``finite``: no NaN/inf in joint angles, keypoints (3D and 2D), cameras, scales.
- IK (needs ``/markers``): mean per-frame marker RMS <= ``ik_rms_max_m``; largest marker
  error <= ``ik_max_m``; fraction of flagged frames (a bony landmark > 2 cm off) <=
  ``flagged_frames_max``.
- Body fit (needs ``/body`` residuals): mean joint residual <= ``fit_joint_mm_max`` mm, mean
  marker residual <= ``fit_marker_mm_max`` mm.
- Joint limits (needs known ranges): no rotational coordinate outside its range by more
  than ``joint_limit_tolerance_rad`` in any frame. IK does not clamp the built-in model's
  arm and lumbar coordinates, so this gate is where a pose beyond a range shows: the reason
  names each coordinate and how far (deg) it went; ``metrics`` hold the worst excess per
  such coordinate (``joint_limit_excess_deg.<coordinate>``). The three angles of a
  Tait-Bryan joint (:data:`EULER_JOINTS`) count as inside when either of the two equivalent
  angle triples is, each angle up to whole turns (an arm circle winds ``arm_flex`` past 360).
- Mask (needs ``mask_fraction`` or stored ``keypoints_in_mask``): in every view, the
  fraction of visible keypoints inside the person mask >= ``keypoints_in_mask_min``.

Gates whose data are absent are listed in ``QAResult.skipped``, not failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from odahgen.gt.schema import QARecord, TrialGT


@dataclass
class QAResult:
    """``passed``; ``reasons``: one line per failed gate; ``metrics``: name -> float (unit
    in the name); ``skipped``: gates not evaluated for lack of data."""

    passed: bool
    reasons: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def record(self) -> QARecord:
        """The form stored under ``/qa`` in the trial file."""
        return QARecord(passed=self.passed, reasons=list(self.reasons), metrics=dict(self.metrics))

    @property
    def gates(self) -> list[str]:
        """The stable gate key (:data:`GATES`) of each reason, in the same order."""
        return [reason_gate(r) for r in self.reasons]


# Stable keys of the gates, for counting failures by gate (yield reports): a reason's text
# carries numbers, its gate does not. Key -> short label.
GATES: dict[str, str] = {
    "min_frames": "clip too short",
    "finite": "NaN/inf values",
    "ik_rms": "IK marker RMS",
    "ik_max": "IK max marker error",
    "flagged_frames": "flagged frames",
    "fit_joint": "body fit joint residual",
    "fit_marker": "body fit marker residual",
    "joint_limits": "joint limits",
    "mask": "keypoints in mask",
}

# What each gate's reason line contains (checked in order; also matches older files' lines).
_GATE_TEXT = (
    ("min_frames", "clip too short"),
    ("finite", "nan/inf"),
    ("ik_rms", "ik marker rms"),
    ("ik_max", "ik max marker error"),
    ("flagged_frames", "frames flagged"),
    ("fit_joint", "body fit joint"),
    ("fit_marker", "body fit marker"),
    ("joint_limits", "joint limit"),
    ("mask", "inside the person mask"),
)


def reason_gate(reason: str) -> str:
    """The :data:`GATES` key of a reason line written by :func:`qa_trial` (this or an
    earlier version), or ``""`` for a line no gate wrote."""
    text = reason.lower()
    return next((key for key, part in _GATE_TEXT if part in text), "")


#: Joints whose three coordinates are Tait-Bryan angles about orthogonal axes (Rajagopal's
#: Z-X-Y ground_pelvis, back and acromial joints): (q1 + pi, pi - q2, q3 + pi) is the same
#: rotation, as is any angle plus whole turns. Same table as odahgen.skeleton.ik.euler_triples
#: finds in the built-in model.
EULER_JOINTS: tuple[tuple[str, str, str], ...] = (
    ("pelvis_tilt", "pelvis_list", "pelvis_rotation"),
    ("lumbar_extension", "lumbar_bending", "lumbar_rotation"),
    ("arm_flex_r", "arm_add_r", "arm_rot_r"),
    ("arm_flex_l", "arm_add_l", "arm_rot_l"),
)


def _excess(ang: np.ndarray, lo: np.ndarray, hi: np.ndarray, turns: bool) -> np.ndarray:
    """How far (rad) angles are outside [lo, hi] (0 inside); ``turns``: up to whole turns."""
    if not turns:
        return np.maximum(np.maximum(lo - ang, ang - hi), 0.0)
    x = lo + np.mod(ang - lo, 2 * np.pi)  # in [lo, lo + 2 pi)
    return np.where(x <= hi, 0.0, np.minimum(x - hi, lo + 2 * np.pi - x))


def range_excess(names: list[str], angles: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """(T, N) how far (rad or m) each coordinate of ``angles`` (T, N) is outside its range
    ``ranges`` (N, 2) (0 inside, NaN where the angle is NaN). The coordinates of each
    :data:`EULER_JOINTS` joint are judged together, in whichever of the two equivalent forms
    (each angle up to whole turns) is nearer the ranges in that frame."""
    angles = np.asarray(angles, float)
    lo, hi = ranges[:, 0], ranges[:, 1]
    with np.errstate(invalid="ignore"):
        out = _excess(angles, lo, hi, turns=False)
        pos = {n: i for i, n in enumerate(names)}
        for joint in EULER_JOINTS:
            if not all(n in pos for n in joint):
                continue
            c = [pos[n] for n in joint]
            x = angles[:, c]
            alt = np.stack([x[:, 0] + np.pi, np.pi - x[:, 1], x[:, 2] + np.pi], axis=1)
            ea = _excess(x, lo[c], hi[c], turns=True)
            eb = _excess(alt, lo[c], hi[c], turns=True)
            use_b = eb.sum(axis=1) < ea.sum(axis=1)
            out[:, c] = np.where(use_b[:, None], eb, ea)
    return np.where(np.isfinite(angles), out, np.nan)


def keypoints_in_mask(keypoints_2d: np.ndarray, visibility: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(T,44) bool: visible keypoints whose pixel (rounded) is inside the person mask.

    ``keypoints_2d`` (T,44,2) px, ``visibility`` (T,44) bool, ``masks`` (T,H,W) (non-zero =
    person). Keypoints outside the image or not visible are False.
    """
    kp = np.asarray(keypoints_2d, float)
    T, H, W = masks.shape
    x = np.round(kp[..., 0])
    y = np.round(kp[..., 1])
    ok = np.asarray(visibility, bool) & np.isfinite(x) & np.isfinite(y)
    ok &= (x >= 0) & (x < W) & (y >= 0) & (y < H)
    xi = np.where(ok, x, 0).astype(int)
    yi = np.where(ok, y, 0).astype(int)
    frames = np.broadcast_to(np.arange(T)[:, None], xi.shape)
    return ok & (np.asarray(masks)[frames, yi, xi] != 0)


def mask_fractions(gt: TrialGT) -> dict[str, float]:
    """Per view, the fraction of visible keypoints inside the mask (views with stored
    ``keypoints_in_mask`` only)."""
    out = {}
    for view, cam in gt.cameras.items():
        if cam.keypoints_in_mask is None:
            continue
        vis = cam.visibility.sum()
        out[view] = float((cam.keypoints_in_mask & cam.visibility).sum() / vis) if vis else 0.0
    return out


def _finite(name: str, arr, bad: list[str]) -> None:
    if arr is not None and not np.all(np.isfinite(np.asarray(arr, float))):
        bad.append(name)


def nonfinite_arrays(gt: TrialGT) -> list[str]:
    """Names of arrays with NaN or inf (the 2D keypoints count only where visible)."""
    bad: list[str] = []
    _finite("joint_angles", gt.joint_angles, bad)
    _finite("segment_scales", gt.segment_scales, bad)
    _finite("keypoints_3d", gt.keypoints_3d, bad)
    for view, cam in gt.cameras.items():
        _finite(f"cameras/{view}/K", cam.K, bad)
        _finite(f"cameras/{view}/R", cam.R, bad)
        _finite(f"cameras/{view}/t", cam.t, bad)
        _finite(f"cameras/{view}/keypoints_2d", np.asarray(cam.keypoints_2d)[np.asarray(cam.visibility, bool)], bad)
    if gt.markers is not None:
        _finite("markers/ik_rms", gt.markers.ik_rms, bad)
        _finite("markers/ik_max", gt.markers.ik_max, bad)
    if gt.body is not None:
        _finite("body/trans", gt.body.trans, bad)
        _finite("body/pose", gt.body.pose, bad)
    return bad


def qa_trial(gt: TrialGT, qa, mask_fraction: dict[str, float] | float | None = None) -> QAResult:
    """Evaluate the QA gates of one trial.

    ``qa`` is a :class:`QAConfig` (or any object with its attributes). ``mask_fraction``:
    fraction of visible keypoints inside the person mask, per view (dict) or overall
    (float); when None, the stored ``keypoints_in_mask`` arrays are used if present.
    """
    reasons: list[str] = []
    metrics: dict[str, float] = {}
    skipped: list[str] = []
    T = gt.n_frames
    metrics["n_frames"] = float(T)
    metrics["duration_s"] = float(T / gt.meta.fps) if gt.meta.fps > 0 else float("nan")
    if T < qa.min_frames:
        reasons.append(f"clip too short: {T} frames < {qa.min_frames}")

    bad = nonfinite_arrays(gt)
    metrics["nonfinite_arrays"] = float(len(bad))
    if bad:
        reasons.append(f"NaN/inf in {', '.join(bad)}")

    if gt.markers is not None and T > 0:
        with np.errstate(invalid="ignore"):
            rms = float(np.nanmean(gt.markers.ik_rms)) if np.isfinite(gt.markers.ik_rms).any() else float("nan")
            mx = float(np.nanmax(gt.markers.ik_max)) if np.isfinite(gt.markers.ik_max).any() else float("nan")
        flagged = float(np.mean(gt.markers.flagged))
        metrics.update(ik_rms_mean_m=rms, ik_max_m=mx, flagged_fraction=flagged)
        if not rms <= qa.ik_rms_max_m:
            reasons.append(f"IK marker RMS {rms * 100:.2f} cm > {qa.ik_rms_max_m * 100:.2f} cm")
        if not mx <= qa.ik_max_m:
            reasons.append(f"IK max marker error {mx * 100:.2f} cm > {qa.ik_max_m * 100:.2f} cm")
        if not flagged <= qa.flagged_frames_max:
            reasons.append(f"{flagged:.1%} of frames flagged (bony landmark off) > {qa.flagged_frames_max:.1%}")
    else:
        skipped.append("ik")

    fit = gt.body
    for attr, limit_name, label in (
        ("fit_joint_err", "fit_joint_mm_max", "joint"),
        ("fit_marker_err", "fit_marker_mm_max", "marker"),
    ):
        err = None if fit is None else getattr(fit, attr)
        if err is None or T == 0:
            skipped.append(f"fit_{label}")
            continue
        mm = float(np.mean(err) * 1000.0)
        metrics[f"fit_{label}_mm"] = mm
        limit = getattr(qa, limit_name)
        if not mm <= limit:
            reasons.append(f"body fit {label} residual {mm:.1f} mm > {limit:.1f} mm")

    ranges = gt.coordinate_ranges
    if ranges is not None and np.isfinite(ranges).all() and T > 0:
        rot = np.asarray(gt.rotational, bool)
        excess = range_excess(list(gt.coordinate_names), np.asarray(gt.joint_angles), np.asarray(ranges))[:, rot]
        tol = qa.joint_limit_tolerance_rad
        with np.errstate(invalid="ignore"):
            violating = excess > tol
        metrics["joint_limit_violation_frames"] = float(violating.any(axis=1).sum())
        metrics["joint_limit_max_excess_rad"] = float(np.nanmax(excess)) if np.isfinite(excess).any() else 0.0
        if violating.any():
            names = [n for n, r in zip(gt.coordinate_names, rot) if r]
            worst = {names[j]: float(np.degrees(np.nanmax(excess[:, j]))) for j in np.nonzero(violating.any(axis=0))[0]}
            for name, deg in worst.items():
                metrics[f"joint_limit_excess_deg.{name}"] = deg
            listed = sorted(worst, key=worst.get, reverse=True)
            reasons.append(
                f"joint limits exceeded by > {tol} rad in {int(metrics['joint_limit_violation_frames'])} frames "
                f"({', '.join(f'{n} {worst[n]:.1f} deg' for n in listed[:5])}{', ...' if len(listed) > 5 else ''})"
            )
    else:
        skipped.append("joint_limits")

    if mask_fraction is None:
        fractions = mask_fractions(gt)
    elif isinstance(mask_fraction, dict):
        fractions = dict(mask_fraction)
    else:
        fractions = {"all": float(mask_fraction)}
    if fractions:
        worst_view = min(fractions, key=fractions.get)
        metrics["keypoints_in_mask_min"] = fractions[worst_view]
        if not fractions[worst_view] >= qa.keypoints_in_mask_min:
            reasons.append(
                f"only {fractions[worst_view]:.1%} of visible keypoints inside the person mask in view "
                f"{worst_view} (< {qa.keypoints_in_mask_min:.0%})"
            )
    else:
        skipped.append("mask")
    return QAResult(passed=not reasons, reasons=reasons, metrics=metrics, skipped=skipped)
