"""Operations on :class:`~odahgen.motion.base.Motion`: resampling, trimming, marker-gap
filling and clip splitting. All return new motions; inputs are not modified."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.interpolate import CubicSpline

from odahgen.errors import OdahgenError
from odahgen.motion.base import Motion, uniform_times

# Body-parameter keys that hold per-frame axis-angle rotations (interpolated on the sphere).
ROTATION_KEYS = ("poses", "root_orient", "pose_body", "pose_hand", "pose_jaw", "pose_eye")


def resample(motion: Motion, fps: float, method: str = "cubic") -> Motion:
    """Resample ``motion`` to ``fps`` (Hz) over the same time span.

    Coordinates use a cubic spline (``method="cubic"``) or linear interpolation; markers use
    linear interpolation (a frame next to a gap stays NaN); body-model axis-angle rotations
    are interpolated per joint on the unit-quaternion sphere (normalised lerp), other
    per-frame body parameters linearly. When downsampling, coordinates and markers are first
    low-pass filtered at 0.8 x the new Nyquist frequency (zero-phase 4th-order Butterworth,
    ``scipy.signal.sosfiltfilt``; marker runs around gaps are filtered separately) so that
    content above the new Nyquist does not alias. Returns the motion itself when the rate
    already matches.
    """
    if not (fps > 0 and np.isfinite(fps)):
        raise OdahgenError(f"{motion.where()}: invalid target frame rate {fps!r}")
    if abs(motion.fps - fps) < 1e-9:
        return motion
    t0, t1 = float(motion.times[0]), float(motion.times[-1])
    n_new = int(np.floor((t1 - t0) * fps + 1e-6)) + 1
    new_t = uniform_times(n_new, fps, t0)
    old_t = motion.times
    changes: dict[str, Any] = {"fps": float(fps), "times": new_t}
    down = fps < motion.fps
    if motion.coordinates is not None:
        c = anti_alias(motion.coordinates, motion.fps, fps) if down else motion.coordinates
        if method == "cubic" and len(old_t) >= 4:
            changes["coordinates"] = CubicSpline(old_t, c, axis=0)(new_t)
        else:
            changes["coordinates"] = _lerp(old_t, c, new_t)
    elif motion.markers is not None:
        mk = anti_alias(motion.markers, motion.fps, fps) if down else motion.markers
        changes["markers"] = _lerp(old_t, mk, new_t)
    else:
        T = len(old_t)
        params = {}
        for key, val in motion.body_params.items():
            arr = np.asarray(val)
            if arr.ndim >= 1 and arr.shape[0] == T and arr.dtype.kind == "f" and T > 1:
                if key in ROTATION_KEYS and arr.ndim == 2 and arr.shape[1] % 3 == 0:
                    params[key] = _slerp_axis_angle(old_t, arr, new_t)
                else:
                    params[key] = _lerp(old_t, arr, new_t)
            else:
                params[key] = val
        changes["body_params"] = params
    if motion.contact is not None:  # nearest frame
        changes["contact"] = _lerp(old_t, motion.contact.astype(np.float64), new_t) >= 0.5
    return motion.replace(**changes)


def anti_alias(values: np.ndarray, fps: float, new_fps: float) -> np.ndarray:
    """Zero-phase low-pass of ``values`` (T, ...) sampled at ``fps`` with the cut-off at 0.8 x
    the Nyquist frequency of ``new_fps``; NaN gaps split the signal into separately filtered
    runs (runs too short for the filter are left as they are)."""
    from scipy.signal import butter, sosfiltfilt  # noqa: PLC0415

    if new_fps >= fps:  # not downsampling: nothing can alias
        return values
    cutoff = 0.8 * 0.5 * new_fps
    sos = butter(4, cutoff / (0.5 * fps), output="sos")
    pad = 3 * (2 * len(sos) + 1)
    flat = values.reshape(len(values), -1).astype(np.float64, copy=True)
    for j in range(flat.shape[1]):
        col = flat[:, j]
        ok = np.isfinite(col)
        edges = np.diff(np.concatenate([[0], ok.astype(np.int8), [0]]))
        for a, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            if e - a > pad:
                col[a:e] = sosfiltfilt(sos, col[a:e], padtype="odd", padlen=min(pad * 3, e - a - 1))
    return flat.reshape(values.shape)


def _lerp(old_t: np.ndarray, values: np.ndarray, new_t: np.ndarray) -> np.ndarray:
    """Linear interpolation along axis 0; NaN in a neighbour gives NaN."""
    idx = np.clip(np.searchsorted(old_t, new_t, side="right") - 1, 0, len(old_t) - 2) if len(old_t) > 1 else np.zeros(len(new_t), int)
    if len(old_t) == 1:
        return np.repeat(values[:1], len(new_t), axis=0)
    w = (new_t - old_t[idx]) / (old_t[idx + 1] - old_t[idx])
    w = w.reshape((-1,) + (1,) * (values.ndim - 1))
    a, b = values[idx], values[idx + 1]
    return a + (b - a) * w


def _aa_to_quat(aa: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    half = 0.5 * angle
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(angle > 1e-12, np.sin(half) / np.where(angle > 1e-12, angle, 1.0), 0.5)
    return np.concatenate([np.cos(half), aa * k], axis=-1)  # (w, x, y, z)


def _quat_to_aa(q: np.ndarray) -> np.ndarray:
    q = q * np.where(q[..., :1] < 0, -1.0, 1.0)
    v = q[..., 1:]
    s = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, q[..., :1])
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(s > 1e-12, angle / np.where(s > 1e-12, s, 1.0), 2.0)
    return v * k


def _slerp_axis_angle(old_t: np.ndarray, aa: np.ndarray, new_t: np.ndarray) -> np.ndarray:
    """(T, 3J) axis-angle -> (T', 3J), per joint normalised quaternion interpolation."""
    T, D = aa.shape
    q = _aa_to_quat(aa.reshape(T, D // 3, 3))  # (T, J, 4)
    # make consecutive quaternions share a hemisphere
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    flips = np.cumprod(np.where(dots < 0, -1.0, 1.0), axis=0)
    q[1:] *= flips[..., None]
    qi = _lerp(old_t, q, new_t)
    qi /= np.linalg.norm(qi, axis=-1, keepdims=True)
    return _quat_to_aa(qi).reshape(len(new_t), D)


def trim(motion: Motion, start: float | None = None, end: float | None = None) -> Motion:
    """Keep the frames with ``start <= t <= end`` (seconds, None = open)."""
    keep = np.ones(motion.n_frames, bool)
    if start is not None:
        keep &= motion.times >= start - 1e-9
    if end is not None:
        keep &= motion.times <= end + 1e-9
    if not keep.any():
        raise OdahgenError(f"{motion.where()}: trimming to [{start}, {end}] s leaves no frames")
    return take_frames(motion, np.flatnonzero(keep))


def take_frames(motion: Motion, idx: np.ndarray, **extra: Any) -> Motion:
    """A motion made of frames ``idx`` (an index array)."""
    T = motion.n_frames
    changes: dict[str, Any] = {"times": motion.times[idx], **extra}
    if motion.contact is not None:
        changes["contact"] = motion.contact[idx]
    if motion.coordinates is not None:
        changes["coordinates"] = motion.coordinates[idx]
    elif motion.markers is not None:
        changes["markers"] = motion.markers[idx]
    else:
        changes["body_params"] = {
            k: (np.asarray(v)[idx] if np.ndim(v) >= 1 and np.shape(v)[0] == T and k != "betas" else v)
            for k, v in motion.body_params.items()
        }
    return motion.replace(**changes)


def fill_gaps(motion: Motion, max_gap_seconds: float = 0.1) -> Motion:
    """Fill marker gaps (NaN runs) of at most ``max_gap_seconds`` by cubic interpolation.

    Markers never seen are dropped (listed in ``meta["dropped_markers"]``); frames at the
    start and end where some marker is missing are trimmed; an interior gap longer than
    ``max_gap_seconds`` raises :class:`OdahgenError` naming the marker and the time.
    Motions without markers are returned unchanged.
    """
    if motion.markers is None:
        return motion
    m = motion.markers
    valid = ~np.isnan(m).any(axis=2)  # (T, M)
    seen = valid.any(axis=0)
    meta = dict(motion.meta)
    names = list(motion.marker_names)
    if not seen.all():
        meta["dropped_markers"] = [n for n, s in zip(names, seen) if not s]
        if not seen.any():
            raise OdahgenError(f"{motion.where()}: no marker has any valid frame")
        m = m[:, seen]
        valid = valid[:, seen]
        names = [n for n, s in zip(names, seen) if s]
    all_ok = valid.all(axis=1)
    if not all_ok.any():
        # no frame has every marker: keep the span between first and last frame of each
        first = max(int(np.argmax(valid[:, j])) for j in range(valid.shape[1]))
        last = min(len(valid) - 1 - int(np.argmax(valid[::-1, j])) for j in range(valid.shape[1]))
    else:
        first, last = int(np.argmax(all_ok)), len(all_ok) - 1 - int(np.argmax(all_ok[::-1]))
    if last < first:
        raise OdahgenError(f"{motion.where()}: the markers are never all present together")
    m = m[first:last + 1].copy()
    valid = valid[first:last + 1]
    times = motion.times[first:last + 1]
    max_gap = int(np.floor(max_gap_seconds * motion.fps + 1e-9))
    for j in range(m.shape[1]):
        ok = valid[:, j]
        if ok.all():
            continue
        # run lengths of gaps
        bad = ~ok
        edges = np.diff(np.concatenate([[0], bad.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        longest = int((ends - starts).max())
        if longest > max_gap:
            k = int(np.argmax(ends - starts))
            raise OdahgenError(
                f"{motion.where()}: marker {names[j]!r} has a {longest / motion.fps:.3f} s gap at "
                f"t={times[starts[k]]:.3f} s, longer than the {max_gap_seconds} s allowed")
        good_t = times[ok]
        fill = CubicSpline(good_t, m[ok, j], axis=0) if ok.sum() >= 4 else None
        m[bad, j] = fill(times[bad]) if fill is not None else _lerp(good_t, m[ok, j], times[bad])
    if first or last != motion.n_frames - 1:
        meta["trimmed_frames"] = [int(first), int(motion.n_frames - 1 - last)]
    return motion.replace(markers=m, marker_names=tuple(names), times=times, meta=meta)


def split_clips(motion: Motion, seconds: float, min_frames: int = 64) -> list[Motion]:
    """Split ``motion`` into consecutive clips of ``round(seconds * fps)`` frames.

    A motion that fits in one clip is returned as is (same id). Otherwise clips get ids
    ``<id>.c000``, ``<id>.c001``, ... and their times restart at 0 (the start in the
    recording is ``meta["clip_start_s"]``). A remainder (or a whole motion) shorter than
    ``min_frames`` is dropped, so the result may be empty.
    """
    if seconds <= 0:
        raise OdahgenError(f"{motion.where()}: clip length must be positive, got {seconds}")
    n = max(1, int(round(seconds * motion.fps)))
    T = motion.n_frames
    if T <= n:
        return [motion] if T >= min_frames else []
    clips = []
    for k, s in enumerate(range(0, T, n)):
        idx = np.arange(s, min(s + n, T))
        if len(idx) < min_frames:
            continue
        meta = {**motion.meta, "clip_of": motion.id, "clip_index": k, "clip_start_s": float(motion.times[s])}
        clip = take_frames(motion, idx, id=f"{motion.id}.c{k:03d}", meta=meta)
        clip.times = clip.times - clip.times[0]
        clips.append(clip)
    return clips


def prepare(motion: Motion, fps: float = 60.0, clip_seconds: float | None = 10.0,
            min_frames: int = 64, max_gap_seconds: float = 0.1) -> list[Motion]:
    """The standard chain: fill marker gaps, resample to ``fps``, split into clips.

    Arguments mirror :class:`odahgen.config.models.MotionConfig`.
    """
    motion = resample(fill_gaps(motion, max_gap_seconds), fps)
    if clip_seconds is None:
        return [motion] if motion.n_frames >= min_frames else []
    return split_clips(motion, clip_seconds, min_frames)
