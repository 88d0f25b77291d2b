"""The built-in ``procedural`` motion library: parametric motions on the 39 Rajagopal coordinates.

Every motion is generated from joint-angle key points (degrees, anatomical sign) taken from
normative biomechanics data where such data exist, with seeded natural variation (speed,
amplitude, timing, left/right asymmetry, cycle-to-cycle noise). The pelvis translation is
then computed from the feet, never the other way round: standing motions (squat,
sit_stand, arm raises, waving, clapping, reaching) keep both feet fixed on the floor and
the pelvis follows them (:func:`plant_feet`); gaits and jumps plant each stance foot with a
rolling heel/ball/toe contact (:func:`place_pelvis`), with a ballistic arc in flight;
side_step places its feet in the world first and solves the legs by IK. So there is no
foot skating (tests/test_motion.py::test_procedural_feet_planted). Coordinates the
Rajagopal model locks (subtalar, mtp, wrist) stay 0, and all values are kept inside the
model's coordinate ranges.

Sources of the numbers (see docs/motion.md):

- Walking sagittal hip/knee/ankle curves and pelvis motion: Perry J, Burnfield JM, *Gait
  Analysis: Normal and Pathological Function*, 2nd ed., SLACK 2010; Winter DA, *Biomechanics
  and Motor Control of Human Movement*, 4th ed., Wiley 2009; Kadaba MP et al., J Orthop Res
  8:383-392 (1990). Comfortable speed ~1.3 m/s: Bohannon RW, Williams Andrews A,
  Physiotherapy 97:182-189 (2011). Cadence and step length at a constant walk ratio
  (step length / cadence): Sekiya N, Nagasaki H, Gait Posture 7:225-227 (1998); constant
  above ~62 m/min (1.03 m/s), rising below: https://pmc.ncbi.nlm.nih.gov/articles/PMC5430280.
  Arm swing: Collins SH, Adamczyk PG, Kuo AD, Proc R Soc B 276:3679-3688 (2009).
- Running/jogging: Novacheck TF, Gait Posture 7:77-95 (1998).
- Squat: Escamilla RF, Med Sci Sports Exerc 33(1):127-141 (2001) (parallel squat ~100 deg
  knee flexion; the library's ~110 deg is a slightly deeper bodyweight squat).
- Countermovement jump: Linthorne NP, Am J Phys 69:1198-1204 (2001).
- Sit-to-stand: Schenkman M et al., Phys Ther 70:638-648 (1990).
- Turning: Hase K, Stein RB, J Neurophysiol 81:2914-2922 (1999).
- Arm raises, waving, clapping, reaching and side steps (step width, swing height) are
  hand-designed within the model's ranges (no single normative source).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.interpolate import CubicSpline

from odahgen.errors import OdahgenError
from odahgen.motion import kinematics as K
from odahgen.motion.base import Motion, MotionSource, uniform_times
from odahgen.skeleton.names import COORDINATE_NAMES

G = 9.81  # m/s^2
D = math.radians


@dataclass
class Variation:
    """Seeded variation of one generated motion (all multiplicative factors ~1)."""

    speed: float = 1.0        # cadence / tempo factor
    amplitude: float = 1.0    # joint excursion factor
    asym: float = 0.0         # left = right * (1 + asym)
    phase: float = 0.0        # start phase (cycles)
    noise: float = 0.0        # cycle-to-cycle amplitude noise (fraction)

    @classmethod
    def sample(cls, rng: np.random.Generator, scale: float = 1.0) -> "Variation":
        return cls(
            speed=float(np.clip(rng.normal(1.0, 0.06 * scale), 0.85, 1.15)),
            amplitude=float(np.clip(rng.normal(1.0, 0.07 * scale), 0.85, 1.15)),
            asym=float(np.clip(rng.normal(0.0, 0.04 * scale), -0.08, 0.08)),
            phase=float(rng.uniform(0.0, 1.0)) if scale > 0 else 0.0,
            noise=0.03 * scale,
        )


def periodic(keys: list[tuple[float, float]]) -> Callable[[np.ndarray], np.ndarray]:
    """A periodic cubic spline through (percent of cycle, degrees) keys; returns f(phase) rad."""
    x = np.array([k[0] for k in keys], float) / 100.0
    y = np.array([k[1] for k in keys], float)
    if x[0] != 0.0:
        raise ValueError("keys must start at 0 %")
    x, y = np.append(x, 1.0), np.append(y, y[0])
    spl = CubicSpline(x, np.radians(y), bc_type="periodic")
    return lambda ph: spl(np.mod(ph, 1.0))


def keyed(keys: list[tuple[float, float]]) -> Callable[[np.ndarray], np.ndarray]:
    """A monotone (PCHIP) curve through (normalised time 0..1, degrees) keys, held at the ends."""
    from scipy.interpolate import PchipInterpolator  # noqa: PLC0415

    x = np.array([k[0] for k in keys], float)
    y = np.radians([k[1] for k in keys])
    f = PchipInterpolator(x, y)
    return lambda u: f(np.clip(u, x[0], x[-1]))


class _Builder:
    """Accumulates coordinate curves in anatomical terms (deg->rad handled by callers)."""

    def __init__(self, t: np.ndarray):
        self.t = t
        self.q = {n: np.zeros(len(t)) for n in COORDINATE_NAMES}

    def set(self, name: str, values) -> None:
        self.q[name] = np.broadcast_to(np.asarray(values, float), self.t.shape).copy()

    def add(self, name: str, values) -> None:
        self.q[name] = self.q[name] + values

    def array(self) -> np.ndarray:
        for s in "rl":
            self.q[f"knee_angle_{s}_beta"] = self.q[f"knee_angle_{s}"]
        return np.stack([self.q[n] for n in COORDINATE_NAMES], axis=1)


def _cycle_noise(rng, phase_cycles: np.ndarray, frac: float) -> np.ndarray:
    """(T,) smooth multiplicative factor varying from cycle to cycle by ~``frac``."""
    n = int(np.ceil(phase_cycles.max() - phase_cycles.min())) + 3
    knots = 1.0 + rng.normal(0.0, frac, n)
    c0 = np.floor(phase_cycles.min()) - 1
    return np.interp(phase_cycles, c0 + np.arange(n), knots)


# ------------------------------------------------------------------------------------------
# gait
WALK = {  # % gait cycle from right initial contact -> degrees (Perry & Burnfield 2010; Winter 2009)
    # hip: thigh to vertical as in Perry & Burnfield (IC 20, terminal stance -10, swing 25)
    "hip_flexion": [(0, 21), (15, 19), (30, 6), (50, -10), (62, -2), (75, 16), (87, 25), (95, 23)],
    "knee_angle": [(0, 5), (13, 19), (38, 4), (50, 9), (62, 40), (72, 61), (87, 27), (97, 4)],
    "ankle_angle": [(0, 0), (8, -6), (30, 6), (48, 10), (56, 2), (63, -17), (75, -6), (87, 0)],
    "hip_adduction": [(0, 2), (15, 7), (45, 4), (65, -5), (80, -3)],
    "hip_rotation": [(0, 2), (25, 4), (55, -2), (75, -4)],
}
RUN = {  # Novacheck 1998 (running ~3.2-3.9 m/s); stance ~35 % of the cycle
    "hip_flexion": [(0, 38), (15, 22), (35, -8), (45, -5), (60, 30), (80, 52), (92, 45)],
    "knee_angle": [(0, 18), (12, 42), (35, 15), (50, 45), (70, 100), (88, 45), (96, 20)],
    "ankle_angle": [(0, 5), (12, 25), (35, -25), (50, -12), (70, 10), (90, 8)],
    "hip_adduction": [(0, 3), (12, 9), (35, 2), (60, -6), (85, -2)],
    "hip_rotation": [(0, 2), (30, 4), (60, -3), (85, -2)],
}
#: run's table: RUN with the knee's least flexion and the ankle's greatest plantarflexion moved
#: from 35 % to 40 % of the cycle (after toe-off, ~33 %; a design change, not from the source):
#: with both at their extremes at toe-off, the hip's extension dropped the planted leg's pelvis
#: height by ~1.6 cm in the last stance frames, which the velocity-continuous bounce path cannot
#: follow (the knee snapped by 14-20 deg/frame at toe-off; now <= 13.4, seeds 0, 3, 5, 7)
RUN_PUSHOFF = {**RUN,
               "knee_angle": [(0, 18), (12, 42), (40, 15), (54, 45), (70, 100), (88, 45), (96, 20)],
               "ankle_angle": [(0, 5), (12, 25), (40, -25), (54, -12), (70, 10), (90, 8)]}


def _gait(b: _Builder, rng, v: Variation, cadence_hz: float, table: dict, amp_scale: float,
          arm_amp_deg: float, elbow_deg: float, trunk_lean_deg: float = 0.0,
          heading: np.ndarray | None = None, hip_gain: float = 1.0) -> np.ndarray:
    """Fill a gait into ``b``; returns the phase (cycles, (T,)) of the right leg.
    ``hip_gain`` scales the sagittal hip excursion (sets the step length)."""
    t = b.t
    phase = v.phase + cadence_hz * v.speed * t
    noise = _cycle_noise(rng, phase, v.noise)
    for side, off, gain in (("r", 0.0, 1.0), ("l", 0.5, 1.0 + v.asym)):
        ph = phase + off
        a = v.amplitude * amp_scale * gain * noise
        for joint, keys in table.items():
            f = periodic(keys)
            val = f(ph)
            mean = float(np.mean(f(np.linspace(0, 1, 200, endpoint=False))))
            g = hip_gain if joint == "hip_flexion" else 1.0
            b.set(f"{joint}_{side}", mean + (val - mean) * a * g)
        # arm swing: opposite to the ipsilateral leg (Collins et al. 2009)
        b.set(f"arm_flex_{side}", D(arm_amp_deg) * a * np.sin(2 * np.pi * (ph - 0.25 + 0.5)) + D(2))
        b.set(f"arm_add_{side}", np.full_like(t, D(-7)))
        b.set(f"elbow_flex_{side}", D(elbow_deg) + D(0.5 * arm_amp_deg) * a * np.sin(2 * np.pi * (ph + 0.25)))
        b.set(f"pro_sup_{side}", np.full_like(t, D(45)))
    # pelvis (Perry & Burnfield 2010): tilt +-2 deg twice per cycle, obliquity +-4, rotation +-4
    amp = v.amplitude * amp_scale
    b.set("pelvis_tilt", D(-trunk_lean_deg * 0.3) + D(2) * amp * np.sin(4 * np.pi * phase))
    b.set("pelvis_list", D(4) * amp * np.sin(2 * np.pi * (phase + 0.1)))
    b.set("pelvis_rotation", D(4) * amp * np.cos(2 * np.pi * phase))
    b.set("lumbar_rotation", -D(3) * amp * np.cos(2 * np.pi * phase))
    b.set("lumbar_bending", -D(2.5) * amp * np.sin(2 * np.pi * (phase + 0.1)))
    b.set("lumbar_extension", -D(trunk_lean_deg * 0.7) + D(1.5) * amp * np.sin(4 * np.pi * phase))
    if heading is not None:
        b.add("pelvis_rotation", heading)
    return phase


def _swing_clearance(b: _Builder, stance: np.ndarray, clearance: float = 0.03, iters: int = 6) -> None:
    """Raise each swing foot (extra knee flexion, half as much hip flexion) so its lowest sole
    point stays ``clearance`` m above the stance foot's (less at lift-off and touch-down)."""
    from scipy.ndimage import gaussian_filter1d  # noqa: PLC0415

    T = len(b.t)
    for s, o in (("r", "l"), ("l", "r")):
        swing = ~stance[:, 0 if s == "r" else 1]
        if not swing.any():
            continue
        prog = np.zeros(T)
        runs = _runs(swing)
        inner = [e - a for a, e in runs if a > 0 and e < T]
        full = max(inner) if inner else max(e - a for a, e in runs)
        for a, e in runs:  # a swing cut by the clip's start or end keeps its full-length timing
            n = max(e - a, full) if (a == 0 or e == T) else e - a
            start = e - n if a == 0 else a
            prog[a:e] = (np.arange(a, e) - start + 0.5) / max(n, 1)
        # lift off quickly, stay clear, set down late (the heel drops in the last ~10 % of swing)
        target = clearance * _smoothstep(prog / 0.15) * _smoothstep((1.0 - prog) / 0.12) * swing
        extra = np.zeros(T)
        k0, h0 = b.q[f"knee_angle_{s}"].copy(), b.q[f"hip_flexion_{s}"].copy()
        for _ in range(iters):
            b.q[f"knee_angle_{s}"], b.q[f"hip_flexion_{s}"] = k0 + extra, h0 + 0.5 * extra
            hs = K.foot_points(b.q, s)[:, :, 1].min(axis=1)
            ho = K.foot_points(b.q, o)[:, :, 1].min(axis=1)
            deficit = np.maximum(0.0, target - (hs - ho)) * swing
            extra = gaussian_filter1d(extra + deficit / 0.25, 2.0) * swing
        b.q[f"knee_angle_{s}"], b.q[f"hip_flexion_{s}"] = k0 + extra, h0 + 0.5 * extra


def _stance(phase: np.ndarray, fraction: float) -> np.ndarray:
    """(T, 2) bool: right / left foot in stance for a gait phase (cycles) and stance fraction."""
    return np.stack([np.mod(phase, 1.0) < fraction, np.mod(phase + 0.5, 1.0) < fraction], axis=1)


def _stand(b: _Builder, rng, sway_deg: float = 0.6) -> None:
    """Quiet standing with slow postural sway (both feet flat)."""
    t = b.t
    f = rng.uniform(0.15, 0.3)
    b.set("pelvis_tilt", D(sway_deg) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)))
    b.set("lumbar_bending", D(sway_deg) * np.sin(2 * np.pi * 0.7 * f * t + rng.uniform(0, 6.3)))
    for s in "rl":
        b.set(f"knee_angle_{s}", np.full_like(t, D(3)))
        b.set(f"hip_flexion_{s}", np.full_like(t, D(2)))
        b.set(f"arm_add_{s}", np.full_like(t, D(-6)))
        b.set(f"elbow_flex_{s}", np.full_like(t, D(15)))
        b.set(f"pro_sup_{s}", np.full_like(t, D(45)))


def _flat_feet(b: _Builder, sides: str = "rl") -> None:
    """Set the ankle angles so that each foot sole is level (heel and ball at equal height)."""
    q = b.q
    for s in sides:
        ank = q[f"ankle_angle_{s}"]
        for _ in range(4):  # Newton on the sole pitch
            q[f"ankle_angle_{s}"] = ank
            p0 = K.foot_points(q, s)
            h0 = p0[:, 1, 1] - p0[:, 0, 1]
            q[f"ankle_angle_{s}"] = ank + 1e-4
            p1 = K.foot_points(q, s)
            h1 = p1[:, 1, 1] - p1[:, 0, 1]
            ank = ank - h0 * 1e-4 / np.where(np.abs(h1 - h0) > 1e-12, h1 - h0, 1e-12)
        q[f"ankle_angle_{s}"] = ank


# ------------------------------------------------------------------------------------------
# pelvis placement and foot planting
_LEG = ("hip_flexion_{s}", "hip_adduction_{s}", "hip_rotation_{s}", "knee_angle_{s}", "ankle_angle_{s}")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[(start, end)) index ranges of the True runs of a (T,) bool array."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask, np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _smoothstep(u):
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _contact_load(contact: np.ndarray, fps: float, ramp_s: float = 0.25) -> np.ndarray:
    """(T, 2) weights with which each foot carries the body: within a contact they rise
    smoothly from 0 at its start and fall back to 0 at its end (over ``ramp_s`` or a third of
    the contact), so the body passes from one foot to the other without a jump."""
    T = len(contact)
    load = np.zeros((T, 2))
    for s in range(2):
        for a, e in _runs(contact[:, s]):
            n = e - a
            r = max(1.0, min(ramp_s * fps, n / 3.0))
            k = np.arange(n, dtype=float)
            rise = _smoothstep((k + 1.0) / r) if a > 0 else np.ones(n)
            fall = _smoothstep((n - k) / r) if e < T else np.ones(n)
            load[a:e, s] = np.maximum(rise * fall, 1e-9)
    return load


def _swing_fill(values: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """Fill the frames outside the contacts of one foot ((T,) bool) by a smooth blend from the
    value at the end of the previous contact to the value at the start of the next one."""
    out = values.copy()
    T = len(contact)
    for a, e in _runs(~contact):
        before = values[a - 1] if a > 0 else None
        after = values[e] if e < T else None
        if before is None and after is None:
            out[a:e] = 0.0
            continue
        before = after if before is None else before
        after = before if after is None else after
        u = _smoothstep((np.arange(a, e) - a + 1.0) / (e - a + 1.0))
        u = u.reshape((-1,) + (1,) * (values.ndim - 1))
        out[a:e] = before * (1.0 - u) + after * u
    return out


def _foot_yaw(pts: np.ndarray) -> np.ndarray:
    """(T,) heading (rad, about +Y) of a foot from its heel -> ball direction (T, 3, 3)."""
    d = pts[:, 1] - pts[:, 0]
    return np.arctan2(-d[:, 2], d[:, 0])


def _hold_foot_yaw(q: dict, contact: np.ndarray, geom: K.LegGeometry | None = None) -> None:
    """Keep each foot's heading constant while it is on the floor (hip rotation takes up the
    pelvis and heading rotation, as the planted femur does). The heading is measured only on
    contact frames, where the sole is near level and the heel -> ball direction well defined;
    the hip-rotation correction found there is blended across the swing (a heading measured
    on a steeply pitched swing foot is ill-conditioned and would make the hip rotation jump)."""
    Rp = K.pelvis_rotation(q)
    for si, s in enumerate("rl"):
        on = contact[:, si]
        if not on.any():
            continue
        rows = np.flatnonzero(on)
        sub = {n: v[rows].copy() for n, v in q.items()}
        R = Rp[rows]
        name = f"hip_rotation_{s}"
        yaw = np.unwrap(_foot_yaw(K.foot_points(sub, s, R, geom)))
        target = np.empty(len(rows))
        k = 0
        for a, e in _runs(on):
            target[k:k + e - a] = yaw[k]
            k += e - a
        q0 = sub[name].copy()
        for _ in range(4):
            cur = np.unwrap(_foot_yaw(K.foot_points(sub, s, R, geom)))
            sub[name] = sub[name] + 1e-4
            d = (np.unwrap(_foot_yaw(K.foot_points(sub, s, R, geom))) - cur) / 1e-4
            sub[name] = sub[name] - 1e-4
            d = np.where(np.abs(d) > 0.2, d, np.where(d < 0, -0.2, 0.2))
            sub[name] = sub[name] + np.clip((target - cur) / d, -0.2, 0.2)
        dq = np.zeros(len(on))
        dq[rows] = sub[name] - q0
        q[name] = q[name] + _swing_fill(dq, on)


def _leg_ik(q: dict, side: str, rows: np.ndarray, target: np.ndarray, R: np.ndarray, iters: int = 5,
            geom: K.LegGeometry | None = None) -> None:
    """Damped Gauss-Newton on one leg's hip (3), knee and ankle angles, frame by frame, so that
    its heel, ball and toe points (relative to the pelvis, ground axes) reach ``target``
    (len(rows), 3, 3) m; ``R`` (len(rows), 3, 3) are the pelvis rotations of those frames."""
    eps = 1e-5
    names = [n.format(s=side) for n in _LEG]
    sub = {n: v[rows].copy() for n, v in q.items()}
    lo = np.array([K.COORDINATE_RANGES[n][0] for n in names])
    hi = np.array([K.COORDINATE_RANGES[n][1] for n in names])
    for _ in range(iters):
        p0 = K.foot_points(sub, side, R, geom)
        r = (p0 - target).reshape(len(rows), 9)
        J = np.empty((len(rows), 9, len(names)))
        for j, n in enumerate(names):
            sub[n] = sub[n] + eps
            J[:, :, j] = (K.foot_points(sub, side, R, geom) - p0).reshape(len(rows), 9) / eps
            sub[n] = sub[n] - eps
        A = np.einsum("tki,tkj->tij", J, J) + 1e-4 * np.eye(len(names))
        g = np.einsum("tki,tk->ti", J, r)
        dx = -np.linalg.solve(A, g[..., None])[..., 0]
        for j, n in enumerate(names):
            sub[n] = np.clip(sub[n] + dx[:, j], lo[j] + 1e-3, hi[j] - 1e-3)
    for n in names:
        q[n] = q[n].copy()
        q[n][rows] = sub[n]
    q[f"knee_angle_{side}_beta"] = q[f"knee_angle_{side}"]


def _move_feet(q: dict, delta: np.ndarray, iters: int = 5, geom: K.LegGeometry | None = None) -> None:
    """Move each foot by ``delta`` (T, 2, 3) m (ground axes, relative to the pelvis) keeping its
    orientation (:func:`_leg_ik` on the frames that need it)."""
    Rp = K.pelvis_rotation(q)
    for si, s in enumerate("rl"):
        d = delta[:, si]
        rows = np.flatnonzero(np.linalg.norm(d, axis=1) > 2e-5)
        if not rows.size:
            continue
        sub = {n: v[rows] for n, v in q.items()}
        target = K.foot_points(sub, s, Rp[rows], geom) + d[rows, None, :]
        _leg_ik(q, s, rows, target, Rp[rows], iters, geom)


def plant_feet(coords: np.ndarray, iterations: int = 3, geom: K.LegGeometry | None = None) -> np.ndarray:
    """Both feet planted for the whole motion (standing, squatting, sitting down): fill
    pelvis_tx/ty/tz of ``coords`` (T, 39) so that the pelvis follows the feet; returns a new array.

    The feet are fixed where the first frame puts them, flat on the floor (heel, ball and toe
    at y = 0). Each frame's pelvis translation is the one that best places both feet's sole
    points (least squares over the six points); what the two legs' angle curves then still
    disagree on (asymmetry, the knee's screw-home rotation turning the foot) is removed by
    adjusting each leg's hip, knee and ankle angles so that its sole points reach their
    fixed places (:func:`_leg_ik`). Starts at tx = tz = 0. ``geom``: the subject's leg
    dimensions (:func:`odahgen.motion.kinematics.leg_geometry`; default the generic model).
    """
    q = K.coordinates_dict(K.clip_to_ranges(coords))
    q = {n: v.copy() for n, v in q.items()}
    Rp = K.pelvis_rotation(q)
    T = len(coords)
    rel = np.stack([K.foot_points(q, "r", Rp, geom), K.foot_points(q, "l", Rp, geom)], axis=1)  # (T, 2, 3, 3)
    anchor = rel[0].copy()  # (2, 3, 3) world sole points: pelvis at x = z = 0 in frame 0
    anchor[..., 1] = 0.0
    all_rows = np.arange(T)
    for _ in range(iterations):
        rel = np.stack([K.foot_points(q, "r", Rp, geom), K.foot_points(q, "l", Rp, geom)], axis=1)
        pel = (anchor[None] - rel).mean(axis=(1, 2))  # (T, 3)
        for si, s in enumerate("rl"):
            _leg_ik(q, s, all_rows, anchor[None, si] - pel[:, None, :], Rp, geom=geom)
    rel = np.stack([K.foot_points(q, "r", Rp, geom), K.foot_points(q, "l", Rp, geom)], axis=1)
    pel = (anchor[None] - rel).mean(axis=(1, 2))
    out = np.stack([q[n] for n in COORDINATE_NAMES], axis=1)
    out[:, [K.CI["pelvis_tx"], K.CI["pelvis_ty"], K.CI["pelvis_tz"]]] = pel
    return out


def _auto_contact(rel: np.ndarray, tol: float = 0.01) -> np.ndarray:
    """(T, 2) feet whose lowest sole point is within ``tol`` of the lowest of both feet."""
    low = rel[:, :, :, 1].min(axis=2)  # (T, 2)
    return low <= low.min(axis=1, keepdims=True) + tol


def _bounce_template(on: np.ndarray, fps: float, height: np.ndarray, smooth: float = 10.0,
                     base: np.ndarray | None = None) -> tuple[np.ndarray, dict] | None:
    """(T,) pelvis height (m) of a running body for the support schedule ``on`` (T,) bool (a
    foot on the floor) and the planted legs' pelvis heights ``height`` (T,) m, or None
    without a flight. Every frame in the air is ballistic (second difference -g dt^2, an
    equality constraint); on the floor the path is the least-squares fit of ``height`` with a
    penalty ``smooth``^2 on the third difference (the rate of change of the ground force), so
    the vertical velocity is continuous at touch-down and take-off and the force rises and
    falls smoothly, as in the spring-mass bounce (Morin JB, Dalleau G, Kyrolainen H, Jeannin
    T, Belli A, J Appl Biomech 21:167-180 (2005)) but without prescribing a force shape that
    the leg curves do not follow. Heights above a leg's are weighted 30x (reweighted 4x: a
    leg flexes more easily than it stretches), then the path is lowered by one constant so
    that no planted leg has to stretch. Also returns the path's peak and least vertical
    ground force (body weights, from its second difference).

    ``base`` (T,) m: a path that is already a bounce (a placed motion's pelvis height, as
    :func:`replant` passes it): then only a correction is fitted, the same way, to what the
    legs ask beyond it (``height - base``), straight (no acceleration) in the air, so that
    ``base`` comes back unchanged where the legs already reach it and the flights stay
    ballistic."""
    T = len(on)
    dt = 1.0 / fps
    if len(_runs(on)) < 2 or on.all():
        return None
    from scipy import sparse  # noqa: PLC0415
    from scipy.sparse.linalg import spsolve  # noqa: PLC0415

    i = np.arange(1, T - 1)
    fl = i[~on[i]]  # frames in the air: acceleration -g
    D2 = sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(T - 2, T)).tocsr()
    D3 = sparse.diags([-1.0, 3.0, -3.0, 1.0], [0, 1, 2, 3], shape=(T - 3, T)).tocsr()
    Cm = D2[fl - 1]
    J = smooth**2 * (D3.T @ D3)
    w = on.astype(float)
    y0 = np.zeros(T) if base is None else np.asarray(base, float)
    acc = np.full(len(fl), -G * dt * dt) if base is None else np.zeros(len(fl))
    for _ in range(4):  # a leg may shorten (flex) but hardly stretch: weigh heights above it more
        Kk = sparse.bmat([[sparse.diags(w) + J, Cm.T], [Cm, None]]).tocsc()
        rhs = np.concatenate([w * np.where(on, height - y0, 0.0), acc])
        y = y0 + spsolve(Kk, rhs)[:T]
        w = np.where(on, np.where(y > height, 30.0, 1.0), 0.0)
    y = y - max(0.0, float((y - height)[on].max()))
    acc = np.diff(y, 2) / dt / dt
    return y, {"peak_force_bw": float((acc.max() + G) / G), "min_force_bw": float((acc.min() + G) / G)}


#: share of a stance's horizontal leg correction (:func:`_glide_path`) taken up at touch-down
#: (the rest at take-off); a design value: 0.5 made jog's take-off knee straighten (17 deg/frame)
GLIDE_LANDING_SHARE = 0.85


def _glide_path(xz: np.ndarray, carried: np.ndarray, contact: np.ndarray, smooth: float,
                base: np.ndarray | None = None) -> np.ndarray:
    """(T, 2) horizontal pelvis path of a running body: constant velocity in the air (no
    horizontal force there: an equality constraint on the second difference), and on the floor
    the least-squares fit of the planted feet's pelvis steps ``carried`` (T, 2) m per frame
    (``carried[i]`` = the step from frame i-1 to i; only the frames with a foot planted at
    both ends count: their offsets between stances are free, the landing spot moving with the
    flight) with a penalty ``smooth``^2 on the third difference, so that the horizontal
    velocity is continuous at touch-down and take-off and varies smoothly within a stance; the
    planted legs then take up what the path and their own steps differ by. ``xz`` (T, 2):
    the path the steps give (only its start is kept). ``base`` (T, 2): a path that already is
    one (:func:`replant` of a placed motion): only a correction is fitted to what the legs ask
    beyond its steps, straight in the air, so ``base`` comes back where the legs agree."""
    from scipy import sparse  # noqa: PLC0415
    from scipy.sparse.linalg import spsolve  # noqa: PLC0415

    T = len(contact)
    on = contact.any(axis=1)
    carry = np.zeros(T, bool)
    carry[1:] = (contact[1:] & contact[:-1]).any(axis=1)
    i = np.arange(1, T - 1)
    fl = i[~on[i]]
    D1 = sparse.diags([-1.0, 1.0], [0, 1], shape=(T - 1, T)).tocsr()  # row i-1: x[i] - x[i-1]
    D2 = sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(T - 2, T)).tocsr()
    D3 = sparse.diags([-1.0, 3.0, -3.0, 1.0], [0, 1, 2, 3], shape=(T - 3, T)).tocsr()
    rows = np.flatnonzero(carry[1:])  # the steps carried by a planted foot
    A = D1[rows]
    E = sparse.csr_matrix(([1.0], ([0], [0])), shape=(1, T))  # pin the start
    Cm = sparse.vstack([D2[fl - 1], E]).tocsr()
    H = (A.T @ A + smooth**2 * (D3.T @ D3)).tocsc()
    Kk = sparse.bmat([[H, Cm.T], [Cm, None]]).tocsc()
    b0 = np.zeros((T, 2)) if base is None else np.asarray(base, float)
    out = np.empty((T, 2))
    for k in range(2):
        target = carried[1:, k][rows] - (A @ b0[:, k])
        rhs = np.concatenate([A.T @ target, np.zeros(len(fl)), [0.0]])
        out[:, k] = b0[:, k] + spsolve(Kk, rhs)[:T]
    return out - out[0] + xz[0]


def _pelvis_from_contacts(rel, contact, fps, flight_velocity, softness, y_fixed=None, envelope_s=0.12,
                          bounce=False, y_base=None, entry_velocity=None, glide=0.0, xz_fixed=None,
                          xz_base=None):
    """Pelvis translation (T, 3) carried by the planted feet and the foot corrections (T, 2, 3)
    that keep every planted foot's contact point fixed in the world (see :func:`place_pelvis`)."""
    T = len(rel)
    dt = 1.0 / fps
    h = rel[:, :, :, 1]  # (T, 2, 3)
    wk = np.exp(-(h - h.min(axis=2, keepdims=True)) / softness)
    wk /= wk.sum(axis=2, keepdims=True)  # rolling contact: weight of heel / ball / toe
    load = _contact_load(contact, fps)
    ys = -(wk * h).sum(axis=2)  # pelvis height putting each foot's contact point at y = 0
    xz = np.zeros((T, 2))
    drift = np.zeros((2, 2))
    delta = np.zeros((T, 2, 3))
    vel = np.zeros(2)
    for i in range(1, T):
        both = contact[i] & contact[i - 1]
        if not both.any():  # in the air (or landing): ballistic
            xz[i] = xz[i - 1] + (vel * dt if flight_velocity else 0.0)
            drift[:] = 0.0
            continue
        u = -(wk[i - 1, :, :, None] * (rel[i, :, :, ::2] - rel[i - 1, :, :, ::2])).sum(axis=1)  # (2, 2)
        w = np.where(both, load[i], 0.0)
        step = (w[:, None] * u).sum(axis=0) / w.sum()
        xz[i] = xz[i - 1] + step
        vel = step / dt
        for s in range(2):
            drift[s] = drift[s] + (step - u[s]) if both[s] else 0.0
            if both[s]:
                delta[i, s, ::2] = -drift[s]
    on = contact.any(axis=1)
    runs_on = _runs(on)
    steps = np.diff(xz, axis=0, prepend=xz[:1])
    if glide > 0 and flight_velocity and len(runs_on) >= 2 and not on.all():
        # running: a horizontal path at constant velocity in the air, smooth on the floor
        # (:func:`_glide_path`; fitted once, then kept); the planted feet follow it
        xz = xz_fixed.copy() if xz_fixed is not None else _glide_path(xz, steps, contact, glide, xz_base)
        delta[:, :, ::2] = 0.0
        for si in range(2):
            for a, e in _runs(contact[:, si]):
                drift_s = np.zeros((e - a, 2))
                for i in range(a + 1, e):
                    u = -(wk[i - 1, si, :, None] * (rel[i, si, :, ::2] - rel[i - 1, si, :, ::2])).sum(axis=0)
                    drift_s[i - a] = drift_s[i - a - 1] + (xz[i] - xz[i - 1]) - u
                # the leg reaches forward at touch-down more easily than back at take-off
                # (its knee is nearly straight there): 85 % of the correction at touch-down
                delta[a:e, si, ::2] = -(drift_s - (1.0 - GLIDE_LANDING_SHARE) * drift_s[0]
                                        - GLIDE_LANDING_SHARE * drift_s[-1])
        runs_on = []  # the fit already flies into the clip
    if flight_velocity and runs_on and runs_on[0][0] > 0 and runs_on[0][1] - runs_on[0][0] > 2:
        # a clip that starts in the air: fly in with the take-off velocity (last step) of the
        # first whole contact of the foot that was not the first to land (the one that took
        # off before the clip: a gait's flights alternate), else of the first contact
        a1, e1 = runs_on[0]
        v0 = (xz[e1 - 1] - xz[e1 - 2]) if e1 < T else (xz[e1 - 1] - xz[a1]) / (e1 - 1 - a1)
        first = contact[a1]
        for a, e in runs_on[1:]:
            if e < T and e - a > 2 and (contact[a:e] & ~first).any():
                v0 = xz[e - 1] - xz[e - 2]
                break
        if entry_velocity is not None:  # known: the motion's own (m/s over its first frame)
            v0 = np.asarray(entry_velocity, float)[::2] * dt
        xz[:a1] = xz[a1] - v0 * (a1 - np.arange(a1))[:, None]
    xz = xz - xz[0]  # tx = tz = 0 at the start
    # height: a smooth lower envelope of the heights that put each planted foot on the floor,
    # so that every planted foot is reached by shortening its leg a little (never stretching it)
    from scipy.ndimage import gaussian_filter1d, minimum_filter1d  # noqa: PLC0415

    y = np.full(T, np.nan)
    m = np.where(contact, ys, np.inf).min(axis=1)
    k = max(3, int(round(envelope_s * fps)) | 1)
    for a, e in _runs(on):
        if (contact[a:e] == contact[a]).all():  # no hand-over between feet: no envelope needed
            y[a:e] = m[a:e]
            continue
        if envelope_s <= 0:  # feet nearly agree already (a replanted motion): the lower one, smoothed
            b0 = 0.0 if y_base is None else y_base[a:e]  # (smooth what differs from the placed path)
            y[a:e] = b0 + np.minimum(gaussian_filter1d(m[a:e] - b0, 1.5, mode="nearest"), m[a:e] - b0)
            continue
        env = minimum_filter1d(m[a:e], 2 * k + 1, mode="nearest")
        y[a:e] = gaussian_filter1d(env, k / 3.0, mode="nearest") if e - a > 2 else env
    path = None
    if flight_velocity and bounce and y_fixed is None:
        path = _bounce_template(on, fps, np.where(on, m, 0.0), base=y_base)
    if path is not None or (bounce and y_fixed is not None and flight_velocity and not on.all()):
        # running: spring-mass bounces and ballistic flights
        y = y_fixed.copy() if y_fixed is not None else path[0]
        delta[:, :, 1] = np.where(contact, ys - y[:, None], 0.0)
        return np.stack([xz[:, 0], y, xz[:, 1]], axis=1), delta
    if y_fixed is not None:
        y[on] = y_fixed[on]
    delta[:, :, 1] = np.where(contact, ys - np.nan_to_num(y)[:, None], 0.0)
    ground = -h.min(axis=(1, 2))
    inner = [e - a + 1 for a, e in _runs(~on) if a > 0 and e < T]
    for a, e in _runs(~on):  # ballistic arcs between take-off and touch-down
        if (a == 0 or e == T) and (not inner or a == 0 and e == T):
            y[a:e] = ground[a:e]
            continue
        if a == 0 and e < T and entry_velocity is not None and flight_velocity:
            vs = float(entry_velocity[1])  # the motion's entry (mean over its first frame)
            k = np.arange(a, e + 1) * dt
            arc = (vs + 0.5 * G * dt) * k - 0.5 * G * k * k
            y[a:e] = y[e] - arc[-1] + arc[:-1]
            continue
        if a == 0 or e == T:  # cut by the clip: part of an arc as long as the clip's others,
            n = max(float(np.median(inner)), e - a + 1.0)  # taking off and landing at one height
            k = np.arange(a, e) - (e - n if a == 0 else a - 1.0)
            y[a:e] = (y[e] if a == 0 else y[a - 1]) + 0.5 * G * k * (n - k) * dt * dt
            continue
        ta, tb = (a - 1) * dt, e * dt
        u = np.arange(a, e) * dt - ta
        dur = tb - ta
        y[a:e] = y[a - 1] + (y[e] - y[a - 1]) * u / dur + 0.5 * G * u * (dur - u)
    return np.stack([xz[:, 0], y, xz[:, 1]], axis=1), delta


def _ease_landing(delta, rel, pelvis, contact, fps, seconds: float = 0.2) -> None:
    """Add to ``delta`` (T, 2, 3) the horizontal corrections that bring each landing foot to a
    stop at touch-down: over the last ``seconds`` before a contact its contact point follows a
    quintic Hermite curve from its swing position and velocity to the landing spot at rest.
    Over 0.12 s the curve asked a nearly straight terminal-swing leg (fast walks) to reach
    ~2 cm further forward than it could, and the knee snapped straight (19 deg in one frame
    at 60 fps); over 0.2 s it stays within reach."""
    n = max(2, int(round(seconds * fps)))
    h = rel[:, :, :, 1]
    for si in range(2):
        for a, _e in _runs(contact[:, si]):
            s0 = a - n
            if s0 < 1:
                continue
            k = int(np.argmin(h[a, si]))  # contact point at touch-down
            world = pelvis[:, ::2] + rel[:, si, k, ::2] + delta[:, si, ::2]  # (T, 2)
            p0, p1 = world[s0], world[a]
            v0 = world[s0] - world[s0 - 1]  # per frame
            u = (np.arange(s0, a + 1) - s0) / n
            # quintic Hermite: start position and velocity kept, ends at rest with no acceleration
            h00 = 1 - 10 * u**3 + 15 * u**4 - 6 * u**5
            h10 = u - 6 * u**3 + 8 * u**4 - 3 * u**5
            h01 = 1 - h00
            curve = h00[:, None] * p0 + h10[:, None] * (v0 * n) + h01[:, None] * p1
            delta[s0:a + 1, si, ::2] += curve - world[s0:a + 1]


def _settle_contacts(q: dict, pelvis: np.ndarray, contact: np.ndarray, fps: float,
                     low: float = 0.006, ramp_s: float = 0.1, geom: K.LegGeometry | None = None) -> None:
    """Remove what is left of a planted foot's sliding once the pelvis (T, 3) is fixed: in
    each contact of a foot, every sole point that is on the floor (below ``low`` m, including
    the frames just before touch-down and after lift-off in which it is still that low) is
    moved horizontally to the median of its positions over the contact (where it rests); the
    foot moves by the mean of its low points' offsets (leg IK, :func:`_move_feet`), and the
    offsets fade in over ``ramp_s`` before and out after."""
    Rp = K.pelvis_rotation(q)
    T = len(pelvis)
    n = max(2, int(round(ramp_s * fps)))
    delta = np.zeros((T, 2, 3))
    for si, s in enumerate("rl"):
        pts = K.foot_points(q, s, Rp, geom) + pelvis[:, None, :]  # (T, 3, 3) world
        h = pts[:, :, 1]
        for a, e in _runs(contact[:, si]):
            lo_a, hi_e = a, e
            off = np.zeros((T, 3, 2))
            cnt = np.zeros((T, 3))
            for j in range(3):
                on = h[a:e, j] < low
                if on.sum() < 2:
                    continue
                rest = np.median(pts[a:e][on, j][:, [0, 2]], axis=0)
                aj, ej = a + int(np.argmax(on)), e - int(np.argmax(on[::-1]))
                while aj > 0 and not contact[aj - 1, si] and h[aj - 1, j] < low:
                    aj -= 1
                while ej < T and not contact[ej, si] and h[ej, j] < low:
                    ej += 1
                sel = np.zeros(T, bool)
                sel[aj:ej] = h[aj:ej, j] < low
                off[sel, j] = rest - pts[sel, j][:, [0, 2]]
                cnt[sel, j] = 1.0
                lo_a, hi_e = min(lo_a, aj), max(hi_e, ej)
            d = off.sum(axis=1) / np.maximum(cnt.sum(axis=1), 1.0)[:, None]
            delta[lo_a:hi_e, si, 0] = d[lo_a:hi_e, 0]
            delta[lo_a:hi_e, si, 2] = d[lo_a:hi_e, 1]
            if lo_a > 0:  # fade in before touch-down
                k0 = max(0, lo_a - n)
                w = _smoothstep((np.arange(k0, lo_a) - (lo_a - n) + 1.0) / (n + 1.0))
                delta[k0:lo_a, si] += w[:, None] * delta[lo_a, si]
            if hi_e < T:  # fade out after lift-off
                k1 = min(T, hi_e + n)
                w = _smoothstep((hi_e + n - np.arange(hi_e, k1)) / (n + 1.0))
                delta[hi_e:k1, si] += w[:, None] * delta[hi_e - 1, si]
    _move_feet(q, delta, geom=geom)


def _world_clearance(q: dict, pelvis_y: np.ndarray, contact: np.ndarray, clearance: float = 0.015,
                     land: float = 0.007, iters: int = 6, geom: K.LegGeometry | None = None,
                     rise: float = 0.3, slack: float = 0.0) -> None:
    """Lift each swing foot that passes closer than ``clearance`` m above the floor (world
    heights, the pelvis height ``pelvis_y`` (T,) being known): the lowest sole point must stay
    above ``clearance`` x a profile that rises over the first 30 % of the swing and falls over
    the last 12 % (lift-off and touch-down), and in the second half of the swing never below
    ``land`` m (a foot lands from above). The deficit is removed by the least change of
    that leg's hip flexion, knee and ankle angles (minimum-norm step on the height Jacobian,
    smoothed in time); only the foot's swing frames change, so the pelvis (carried by the
    planted feet) is unaffected. ``slack`` m: a foot less than this below the profile is left
    alone (:func:`replant` of a placed motion, whose last step, :func:`_settle_contacts`,
    leaves a landing foot up to ~2.5 mm below it)."""
    from scipy.ndimage import gaussian_filter1d  # noqa: PLC0415

    Rp = K.pelvis_rotation(q)
    T = len(pelvis_y)
    for si, s in enumerate("rl"):
        swing = ~contact[:, si]
        if not swing.any() or swing.all():
            continue
        prog = np.zeros(T)
        inner = [e - a for a, e in _runs(swing) if a > 0 and e < T]
        for a, e in _runs(swing):
            prog[a:e] = (np.arange(a, e) - a + 0.5) / (e - a)
            if inner and (a == 0) != (e == T):  # a swing cut by the clip: as long as the others
                n = max(float(np.median(inner)), e - a)
                prog[a:e] = (np.arange(a, e) - (e - n if a == 0 else a) + 0.5) / n
            elif a == 0:  # none whole: assume it ends as the clip's swings do
                prog[a:e] = 1.0 - (e - np.arange(a, e) - 0.5) / max(e - a, 1) * 0.5
            elif e == T:
                prog[a:e] = (np.arange(a, e) - a + 0.5) / max(e - a, 1) * 0.5
        target = clearance * _smoothstep(prog / rise) * _smoothstep((1.0 - prog) / 0.12)
        # the landing foot comes down from above (>= ``land`` m until its contact starts), not
        # along the floor: with a straight knee it cannot reach the landing spot earlier
        target = np.where(prog > 0.5, np.maximum(target, land), target) * swing
        names = [f"hip_flexion_{s}", f"knee_angle_{s}", f"ankle_angle_{s}"]
        w = np.array([0.5, 1.0, 1.0])
        lo = np.array([K.COORDINATE_RANGES[n][0] for n in names]) + 1e-3
        hi = np.array([K.COORDINATE_RANGES[n][1] for n in names]) - 1e-3
        base = [q[n].copy() for n in names]
        extra = np.zeros((T, 3))
        for _ in range(iters):
            for j, n in enumerate(names):
                q[n] = np.clip(base[j] + extra[:, j], lo[j], hi[j])
            low = K.foot_points(q, s, Rp, geom)[:, :, 1].min(axis=1) + pelvis_y
            deficit = np.maximum(0.0, target - slack - low) * swing
            if deficit.max() < 2e-4:
                break
            J = np.empty((T, 3))
            for j, n in enumerate(names):
                q[n] = q[n] + 1e-4
                J[:, j] = (K.foot_points(q, s, Rp, geom)[:, :, 1].min(axis=1) + pelvis_y - low) / 1e-4
                q[n] = q[n] - 1e-4
            Jw = J * w
            step = Jw * (deficit / np.maximum((Jw * J).sum(axis=1), 1e-4))[:, None]
            extra = gaussian_filter1d(extra + 1.3 * step, 1.5, axis=0) * swing[:, None]
        for j, n in enumerate(names):
            q[n] = np.clip(base[j] + extra[:, j], lo[j], hi[j])
        q[f"knee_angle_{s}_beta"] = q[f"knee_angle_{s}"]


def place_pelvis(coords: np.ndarray, fps: float, flight: np.ndarray | None = None,
                 stance: np.ndarray | None = None, flight_velocity: bool = True,
                 contact_softness: float = 0.003, iterations: int = 3, clearance: float = 0.015,
                 geom: K.LegGeometry | None = None, envelope_s: float = 0.12,
                 clearance_rise: float = 0.3, clearance_iters: int = 6, bounce: bool = False,
                 landing_ease_s: float = 0.2, keep_height: bool = False,
                 entry_velocity=None, glide: float = 0.0) -> np.ndarray:
    """Fill pelvis_tx/ty/tz of ``coords`` (T, 39) from the feet and plant the feet; returns a
    new array (the leg angles may be adjusted by a few degrees).

    ``stance`` (T, 2) bool (right, left) says which feet are on the floor (default: the
    feet whose lowest sole point is within 1 cm of the lowest one); ``flight`` (T,) bool marks
    frames in the air. Each planted foot touches the floor with a rolling contact point (a
    soft minimum, ``contact_softness`` m, over heel, ball and toe: heel during loading,
    ball/toe during push-off) that does not move while the foot is planted, and keeps its
    heading. The body weight passes smoothly from one foot to the other in double support;
    the mismatch the angle curves leave between two planted feet is removed by adjusting the
    leg angles (hip, knee, ankle) so that both contacts stay fixed and at y = 0; during the
    swing these adjustments fade from one contact's to the next. In the air the pelvis keeps
    its take-off horizontal velocity (none if ``flight_velocity`` is False) and follows the
    parabola under gravity that lands the next contact point on the floor. The pelvis height
    in support is a smooth lower envelope (over ``envelope_s``) of the heights that put each
    planted foot on the floor; 0 takes the lower foot's frame by frame (for motions whose feet
    already nearly agree, e.g. :func:`replant`). Finally each swing
    foot is kept ``clearance`` m above the floor (:func:`_world_clearance`; 0 turns it off).
    ``bounce`` (off by default; on in jog and run): with flights, the pelvis height is a path
    continuous in vertical velocity (ballistic in the air, a smooth fit of the planted legs'
    heights on the floor: :func:`_bounce_template`) instead of the planted feet's heights
    joined by ballistic arcs (whose vertical velocity jumps by 1.3-1.8 m/s at every touch-down
    and take-off); the legs then flex a little to reach the floor (run needs its
    :data:`RUN_PUSHOFF` table and a 0.1 s landing ease for its knee to follow).
    ``landing_ease_s``: how long before touch-down the landing foot is eased to rest
    (:func:`_ease_landing`). ``keep_height``: ``coords``' pelvis_ty is already a placed path
    (:func:`replant`): in support only what the planted legs ask beyond it is smoothed (with
    ``bounce``, fitted: :func:`_bounce_template` ``base``), so a placed motion comes back
    unchanged where its feet already reach the floor. ``entry_velocity`` (3,) m/s: for a clip
    that starts in the air, the pelvis velocity over its first frame (else guessed from the
    next take-off of the foot that was not the first to land). ``glide`` (0 = off; 20 in jog):
    with flights, the horizontal pelvis path is constant in velocity in the air and smooth on
    the floor (:func:`_glide_path`, ``glide`` the weight of its smoothness), the stance legs
    taking up the difference, instead of carrying the take-off velocity into the flight.
    Starts at tx = tz = 0. ``geom``: the subject's leg dimensions
    (:func:`odahgen.motion.kinematics.leg_geometry`; default the generic model).
    """
    y_base = np.asarray(coords[:, K.CI["pelvis_ty"]], float).copy() if keep_height else None
    xz_base = np.asarray(coords[:, [K.CI["pelvis_tx"], K.CI["pelvis_tz"]]], float).copy() if keep_height else None
    q = K.coordinates_dict(coords.copy())
    Rp = K.pelvis_rotation(q)
    rel = np.stack([K.foot_points(q, "r", Rp, geom), K.foot_points(q, "l", Rp, geom)], axis=1)  # (T, 2, 3, 3)
    contact = _auto_contact(rel) if stance is None else np.asarray(stance, bool).copy()
    if flight is not None:
        contact[np.asarray(flight, bool)] = False
    _hold_foot_yaw(q, contact, geom)
    pelvis = None
    for it in range(iterations):
        rel = np.stack([K.foot_points(q, "r", Rp, geom), K.foot_points(q, "l", Rp, geom)], axis=1)
        pelvis, delta = _pelvis_from_contacts(rel, contact, fps, flight_velocity, contact_softness,
                                              None if pelvis is None else pelvis[:, 1], envelope_s, bounce,
                                              y_base, entry_velocity, glide,
                                              None if pelvis is None else pelvis[:, ::2], xz_base)
        if it == iterations - 1 or np.abs(delta).max() < 1e-4:
            break
        for si in range(2):
            delta[:, si] = _swing_fill(delta[:, si], contact[:, si])
        _ease_landing(delta, rel, pelvis, contact, fps, landing_ease_s)
        _move_feet(q, delta, geom=geom)
    if clearance:
        _world_clearance(q, pelvis[:, 1], contact, clearance, geom=geom, rise=clearance_rise,
                         iters=clearance_iters, slack=0.003 if keep_height else 0.0)
        _settle_contacts(q, pelvis, contact, fps, geom=geom)
    out = np.stack([q[n] for n in COORDINATE_NAMES], axis=1)
    out = K.clip_to_ranges(out)
    out[:, K.CI["pelvis_tx"]] = pelvis[:, 0]
    out[:, K.CI["pelvis_ty"]] = pelvis[:, 1]
    out[:, K.CI["pelvis_tz"]] = pelvis[:, 2]
    return out


# ------------------------------------------------------------------------------------------
# the motions
#: walk ratio (step length / cadence, m per step/min) of the built-in walks: the value that
#: gives the comfortable speed 1.3 m/s at 110 steps/min (0.71 m steps) with the model's legs.
WALK_RATIO = 60.0 * 1.3 / 110.0 ** 2


def walk_cadence(speed_ms: float) -> float:
    """Walking cadence (steps/min) at ``speed_ms`` for a constant walk ratio: step length and
    cadence grow together, ``v = WR c^2 / 60`` so ``c = sqrt(60 v / WR)`` (the walk ratio is
    invariant over a wide range of speeds: Sekiya N, Nagasaki H, Gait Posture 7:225-227 (1998);
    its constancy breaks below ~62 m/min, https://pmc.ncbi.nlm.nih.gov/articles/PMC5430280, so
    walk_slow at 0.9 m/s is just outside its range). 0.9 m/s -> 92, 1.3 -> 110, 1.75 -> 128
    steps/min."""
    return math.sqrt(60.0 * speed_ms / WALK_RATIO)


def _realised_speed(coords: np.ndarray, fps: float) -> float:
    d = coords[-1, [K.CI["pelvis_tx"], K.CI["pelvis_tz"]]] - coords[0, [K.CI["pelvis_tx"], K.CI["pelvis_tz"]]]
    return float(np.linalg.norm(d) * fps / max(len(coords) - 1, 1))


def _calibrated_gait(b: _Builder, rng, v: Variation, target_ms: float, cadence_hz: float, stance_frac: float,
                     fill: Callable, contact_of: Callable, iters: int = 3) -> tuple[np.ndarray, float]:
    """Fill a gait whose realised speed (pelvis progression with planted feet) matches
    ``target_ms``: the sagittal hip excursion is scaled by a gain found by secant steps on a
    short trial (a copy of ``rng``, whole strides). Returns (phase, gain)."""
    import copy  # noqa: PLC0415

    fps = 1.0 / float(b.t[1] - b.t[0])
    n_trial = len(b.t)  # the whole clip: cycle-to-cycle noise changes the step lengths
    gains, speeds = [], []
    g = 1.0
    for _ in range(iters):
        tb = _Builder(b.t[:n_trial])
        ph = fill(tb, copy.deepcopy(rng), g)
        c = contact_of(ph, tb)
        coords = place_pelvis(K.clip_to_ranges(tb.array()), fps, c.get("flight"), c["stance"], iterations=2,
                             clearance=0.0, glide=float(c.get("glide", 0.0)))
        sp = _realised_speed(coords[int(0.5 * fps):], fps)
        gains.append(g)
        speeds.append(sp)
        if abs(sp - target_ms) < 0.01 * target_ms:
            break
        if len(gains) == 1:
            g = g * target_ms / max(sp, 1e-3)
        else:
            slope = (speeds[-1] - speeds[-2]) / (gains[-1] - gains[-2]) if gains[-1] != gains[-2] else 0.0
            g = g + (target_ms - sp) / slope if slope > 1e-3 else g * target_ms / max(sp, 1e-3)
        g = float(np.clip(g, 0.6, 2.0))
    k = int(np.argmin(np.abs(np.array(speeds) - target_ms)))
    if abs(speeds[-1] - target_ms) > abs(speeds[k] - target_ms) or len(gains) == iters:
        g = gains[k] if abs(speeds[k] - target_ms) <= abs(speeds[-1] - target_ms) else g
    return fill(b, rng, g), g


def _walk(speed_ms: float):
    def gen(b: _Builder, rng, v: Variation):
        target = speed_ms * v.speed
        cadence = walk_cadence(speed_ms) * v.speed / 120.0  # strides/s
        amp = 0.8 + 0.2 * speed_ms / 1.3

        def fill(bb, r, g):
            return _gait(bb, r, v, cadence / v.speed, WALK, amp, arm_amp_deg=12 * speed_ms / 1.3,
                         elbow_deg=18, hip_gain=g)

        def contact_of(ph, bb):
            st = _stance(ph, 0.62)
            _swing_clearance(bb, st)
            return {"stance": st}

        ph, g = _calibrated_gait(b, rng, v, target, cadence, 0.62, fill, contact_of)
        stance = contact_of(ph, b)["stance"]
        return {"stance": stance}, {"nominal_speed_m_s": speed_ms, "target_speed_m_s": target,
                                    "stride_hz": cadence, "cadence_steps_min": 120.0 * cadence,
                                    "hip_gain": g}
    return gen


RUN_CLEARANCE = (0.03, 0.15, 12)

#: (speed m/s, cadence steps/min) group means of recreational runners: van Oeveren BT, de Ruiter
#: CJ, Beek PJ, van Dieen JH, PLoS One 12:e0184273 (2017) (self-selected 77, 79, 80 strides/min
#: at 2.4, 2.6, 2.9 m/s, inexperienced runners; https://pmc.ncbi.nlm.nih.gov/articles/PMC5653196)
#: and Leacox et al. (2025) as reported in https://namiorun.com/journal/running-cadence
#: (169, 172, 178 steps/min at 2.68, 3.16, 3.83 m/s, experienced runners).
RUN_CADENCE_DATA = ((2.4, 154.0), (2.6, 158.0), (2.9, 160.0), (2.68, 169.0), (3.16, 172.0), (3.83, 178.0))
_RUN_CADENCE_FIT = np.polyfit(*np.array(RUN_CADENCE_DATA).T, 1)  # least-squares line: ~15.7 v + 119.3

#: anterior pelvic tilt (deg) added in jog/run, taken back by the lumbar extension so that the
#: trunk lean is unchanged. The RUN hip angles are pelvis-relative as in Novacheck (1998);
#: with no added tilt the thigh is ~36 deg ahead of vertical at touch-down (the foot lands
#: ~0.37 m ahead of the hip) and the planted leg puts the pelvis ~14 cm higher at take-off
#: than at touch-down. 12 deg (a design value, not a measured one) brings the two within ~3
#: cm (take-off the higher, as Cavagna GA, J Exp Biol 209:4051-4060 (2006) measured), and
#: keeps the calibrated fast runs' feet planted (run seed 5 at 3.98 m/s: near-floor p95 speed
#: 0.18 m/s without it, 0.02 with it).
RUN_PELVIS_TILT_DEG = 12.0


def running_cadence(speed_ms: float) -> float:
    """Running cadence (steps/min) at ``speed_ms``: the least-squares line through
    :data:`RUN_CADENCE_DATA` (2.5 m/s -> 158, 3.5 m/s -> 174 steps/min); the step length is
    then speed / cadence (2.5 m/s -> 0.95 m, 3.5 m/s -> 1.21 m)."""
    return float(np.polyval(_RUN_CADENCE_FIT, speed_ms))


def _run(speed_ms: float, stance_frac: float, bounce: bool = False, table: dict = RUN,
         landing_ease_s: float = 0.2, glide: float = 0.0):
    def gen(b: _Builder, rng, v: Variation):
        target = speed_ms * v.speed
        cadence = running_cadence(target) / 120.0  # strides/s
        amp = 0.75 + 0.25 * speed_ms / 3.5
        st = stance_frac / v.speed ** 0.5
        tilt = D(RUN_PELVIS_TILT_DEG)

        def fill(bb, r, g):
            ph = _gait(bb, r, v, cadence / v.speed, table, amp, arm_amp_deg=25, elbow_deg=80, trunk_lean_deg=6,
                       hip_gain=g)
            bb.add("pelvis_tilt", -tilt)
            bb.add("lumbar_extension", tilt)
            return ph

        def contact_of(ph, bb):
            stance = _stance(ph, st)
            return {"stance": stance, "flight": ~stance.any(axis=1), "glide": glide}

        ph, g = _calibrated_gait(b, rng, v, target, cadence, st, fill, contact_of)
        c = contact_of(ph, b)
        return ({**c, "clearance": RUN_CLEARANCE[0], "clearance_rise": RUN_CLEARANCE[1],
                 "clearance_iters": RUN_CLEARANCE[2], "bounce": bounce, "landing_ease_s": landing_ease_s},
                {"nominal_speed_m_s": speed_ms, "target_speed_m_s": target, "stride_hz": cadence,
                 "cadence_steps_min": 120.0 * cadence, "stance_fraction": st, "hip_gain": g})
    return gen


def _turn_walk(b, rng, v):
    turn = D(rng.uniform(50, 80)) * (1 if rng.random() < 0.5 else -1)
    u = b.t / b.t[-1]
    heading = turn * 0.5 * (1 - np.cos(np.pi * np.clip((u - 0.25) / 0.5, 0, 1)))
    ph = _gait(b, rng, v, 0.9, WALK, 0.95, arm_amp_deg=11, elbow_deg=18, heading=heading)
    stance = _stance(ph, 0.62)
    _swing_clearance(b, stance)
    return {"stance": stance}, {"turn_deg": math.degrees(turn)}


def _smootherstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6.0 * x - 15.0) + 10.0)


def _side_step(b, rng, v):
    """Side stepping to the right, planned in the world: the feet are placed first (flat,
    heading kept; each swing a lateral arc with zero velocity at lift-off and touch-down),
    the pelvis moves sideways between them and dips a little during each swing, and the leg
    angles follow by inverse kinematics (:func:`_leg_ik`); the hand-designed angle curves
    only seed the solver. Returns ``placed`` contact info: the pelvis translation is final."""
    period = 1.6 / v.speed  # one lateral step pair
    tau = v.phase + b.t / period  # cycles
    u = np.mod(tau, 1.0)
    k = np.floor(tau)
    a = v.amplitude
    width = 0.25 * a  # m per step pair (hand-designed: ~16 deg of lead-leg abduction)
    lift = 0.05 * a  # m, swing foot height at mid-swing
    # seed angles (hand-designed), refined by the leg IK below
    lead = keyed([(0, 0), (0.12, 2), (0.3, 16), (0.45, 10), (0.55, 4), (0.8, 4), (1.0, 0)])
    trail = keyed([(0, 0), (0.45, 4), (0.6, 12), (0.78, 6), (0.9, 2), (1.0, 0)])
    b.set("hip_adduction_r", -lead(u) * a)
    b.set("hip_adduction_l", -trail(u) * a * (1 + v.asym))
    for side in "rl":
        b.set(f"knee_angle_{side}", np.full_like(b.t, D(20)))
        b.set(f"hip_flexion_{side}", np.full_like(b.t, D(10)))
        b.set(f"ankle_angle_{side}", np.full_like(b.t, D(10)))
    b.set("pelvis_list", D(2) * np.sin(2 * np.pi * u))
    for side in "rl":
        b.set(f"arm_add_{side}", D(-10) + D(4) * np.sin(2 * np.pi * u))
        b.set(f"elbow_flex_{side}", np.full_like(b.t, D(20)))
        b.set(f"pro_sup_{side}", np.full_like(b.t, D(45)))
    # the plan: right foot swings over u in [0.06, 0.45], the left one over [0.5, 0.85]
    q0 = {n: np.zeros(1) for n in COORDINATE_NAMES}
    T = len(b.t)
    stance = np.ones((T, 2), bool)
    world = np.empty((T, 2, 3, 3))
    for si, (side, u0, u1, lead_gain) in enumerate((("r", 0.06, 0.45, 1.0), ("l", 0.5, 0.85, 1.0 + v.asym))):
        rest = K.foot_points(q0, side)[0] - [0.0, K.foot_points(q0, side)[0, :, 1].mean(), 0.0]  # (3, 3) y = 0
        x = np.clip((u - u0) / (u1 - u0), 0.0, 1.0)
        stance[:, si] = (u < u0) | (u >= u1)
        dz = width * (k + _smootherstep((x - 0.12) / 0.76))  # sideways once clear of the floor
        dy = lift * _smoothstep(x / 0.2) * _smoothstep((1.0 - x) / 0.2) * (~stance[:, si])
        world[:, si] = rest[None] + np.stack([np.zeros(T), dy, dz], axis=1)[:, None, :]
    pelvis = np.stack([np.zeros(T), 0.925 - 0.015 * (0.5 - 0.5 * np.cos(4 * np.pi * tau)),
                       width * (tau - np.sin(2 * np.pi * tau) / (2 * np.pi))], axis=1)
    world[..., 2] -= pelvis[0, 2]  # start at tx = tz = 0
    pelvis[:, 2] -= pelvis[0, 2]
    q = b.q
    Rp = K.pelvis_rotation(q)
    rows = np.arange(T)
    for si, side in enumerate("rl"):
        _leg_ik(q, side, rows, world[:, si] - pelvis[:, None, :], Rp, iters=10)
    for i, n in enumerate(("pelvis_tx", "pelvis_ty", "pelvis_tz")):
        b.set(n, pelvis[:, i])
    return {"placed": True, "stance": stance}, {"period_s": period, "step_width_m": width}


def _squat(b, rng, v):
    _stand(b, rng, 0.3)
    period = rng.uniform(3.0, 3.8) / v.speed
    u = np.mod(v.phase + b.t / period, 1.0)
    depth = float(np.clip(v.amplitude * rng.uniform(0.85, 1.0), 0.7, 1.0))
    prof = keyed([(0, 0), (0.1, 0), (0.45, 1), (0.55, 1), (0.9, 0), (1.0, 0)])(u) / D(1)  # 0..1
    knee, thigh, tilt = D(110) * depth * prof, D(85) * depth * prof, D(-20) * depth * prof  # Escamilla 2001
    for s, g in (("r", 1.0), ("l", 1.0 + 0.3 * v.asym)):
        b.set(f"knee_angle_{s}", D(3) + knee * g)
        b.set(f"hip_flexion_{s}", D(2) + thigh * g - tilt)
        b.set(f"hip_adduction_{s}", -D(6) * prof)
        b.set(f"arm_flex_{s}", D(80) * prof)
        b.set(f"elbow_flex_{s}", D(15) * (1 - prof) + D(5))
    b.add("pelvis_tilt", tilt)
    b.set("lumbar_extension", D(-20) * depth * prof)
    _flat_feet(b)
    return None, {"period_s": period, "depth": depth}


def _jump(b, rng, v):
    _stand(b, rng, 0.3)
    T_total = b.t[-1]
    period = min(rng.uniform(2.6, 3.2) / v.speed, max(T_total, 1.5))
    t0 = float(v.phase * 0.3)
    u = np.mod((b.t - t0) / period, 1.0)
    flight_t = 0.45 * v.amplitude  # ~25 cm jump: t = 2 sqrt(2h/g) (Linthorne 2001)
    tk, tl = 0.40, 0.40 + flight_t / period
    crouch = keyed([(0, 0), (0.15, 0), (0.32, 1), (0.37, 0.4), (tk, 0.0), (tl, 0.05), (tl + 0.06, 0.5),
                    (tl + 0.2, 0.1), (1.0, 0)])(u) / D(1)
    plantar = keyed([(0, 0), (0.34, 0), (tk, 1), (tl - 0.02, 0.8), (tl, 0.2), (tl + 0.03, 0), (1.0, 0)])(u) / D(1)
    # the arms swing forward from the bottom of the countermovement to take-off and come down
    # after the landing, each over ~0.2-0.3 s (not with the ankle's faster push-off profile)
    arms = keyed([(0, 0), (0.30, 0), (tk, 1), (tl, 0.8), (tl + 0.1, 0), (1.0, 0)])(u) / D(1)
    for s in "rl":
        b.set(f"knee_angle_{s}", D(3) + D(75) * crouch)
        b.set(f"hip_flexion_{s}", D(2) + D(70) * crouch + D(12) * crouch)
        b.set(f"arm_flex_{s}", D(-45) * crouch + D(80) * arms)
        b.set(f"elbow_flex_{s}", np.full_like(b.t, D(20)))
    b.add("pelvis_tilt", D(-12) * crouch)
    b.set("lumbar_extension", D(-25) * crouch)
    _flat_feet(b)
    for s in "rl":
        b.add(f"ankle_angle_{s}", -plantar * (b.q[f"ankle_angle_{s}"] + D(38)))
    flight = (u > tk) & (u < tl)
    return {"flight": flight, "flight_velocity": False}, {"flight_s": flight_t, "period_s": period}


def _sit_stand(b, rng, v):
    _stand(b, rng, 0.2)
    period = rng.uniform(5.0, 6.0) / v.speed
    u = np.mod(v.phase + b.t / period, 1.0)
    # 0: seated -> lean (flexion momentum) -> seat-off -> extension -> stand -> sit back down
    sit = keyed([(0, 1), (0.1, 1), (0.3, 1), (0.45, 0), (0.6, 0), (0.8, 0.95), (0.9, 1), (1.0, 1)])(u) / D(1)
    lean = keyed([(0, 0), (0.1, 0), (0.25, 1), (0.35, 0.7), (0.45, 0), (0.6, 0), (0.72, 0.8), (0.85, 0.3), (1.0, 0)])(u) / D(1)
    for s in "rl":  # Schenkman et al. 1990: hip ~90-105, knee ~90 when seated
        b.set(f"knee_angle_{s}", D(3) + D(92) * sit)
        b.set(f"hip_flexion_{s}", D(2) + D(88) * sit + D(20) * lean)
        b.set(f"arm_flex_{s}", D(25) * lean)
        b.set(f"elbow_flex_{s}", D(15) + D(20) * sit)
    b.add("pelvis_tilt", D(-20) * lean)
    b.set("lumbar_extension", D(-15) * lean)
    _flat_feet(b)
    return None, {"period_s": period}


def _arm_raise(b, rng, v):
    _stand(b, rng)
    period = rng.uniform(3.0, 4.0) / v.speed
    u = np.mod(v.phase + b.t / period, 2.0)  # odd cycles: front raise, even: lateral raise
    prof = keyed([(0, 0), (0.1, 0), (0.45, 1), (0.55, 1), (0.9, 0), (1.0, 0)])(np.mod(u, 1.0)) / D(1)
    front = (u < 1.0).astype(float)
    for s, g in (("r", 1.0), ("l", 1.0 + v.asym)):
        a = v.amplitude * g
        b.set(f"arm_flex_{s}", front * D(85) * prof * min(a, 1.05))
        b.set(f"arm_add_{s}", D(-6) - (1 - front) * D(105) * prof * min(a, 1.1))
        b.set(f"elbow_flex_{s}", np.full_like(b.t, D(8)))
    _flat_feet(b)
    return None, {"period_s": period}


def _wave(b, rng, v):
    _stand(b, rng)
    side = "r" if rng.random() < 0.7 else "l"
    f = rng.uniform(1.8, 2.6) * v.speed  # waving frequency (Hz), hand-chosen
    up = keyed([(0, 0), (0.1, 0), (0.2, 1), (0.85, 1), (0.95, 0), (1.0, 0)])(b.t / b.t[-1]) / D(1)
    b.set(f"arm_add_{side}", D(-6) - D(85) * up)
    b.set(f"arm_flex_{side}", D(15) * up)
    b.set(f"arm_rot_{side}", D(-60) * up)
    b.set(f"elbow_flex_{side}", D(15) + up * (D(85) + D(22) * v.amplitude * np.sin(2 * np.pi * f * b.t)))
    b.set("lumbar_bending", b.q["lumbar_bending"] + D(2) * up * (1 if side == "l" else -1))
    _flat_feet(b)
    return None, {"hand": side, "wave_hz": f}


def _clap(b, rng, v):
    _stand(b, rng)
    f = rng.uniform(2.0, 3.0) * v.speed  # claps/s (hand-chosen; typical applause ~2-4 Hz)
    up = keyed([(0, 0), (0.08, 0), (0.18, 1), (0.85, 1), (0.95, 0), (1.0, 0)])(b.t / b.t[-1]) / D(1)
    osc = 0.5 * (1 + np.cos(2 * np.pi * f * b.t))  # 1 = hands together
    for s in "rl":
        b.set(f"arm_flex_{s}", D(45) * up)
        b.set(f"arm_add_{s}", D(-6) + up * D(25 * v.amplitude) * (osc - 1) + up * osc * D(2.5))
        b.set(f"arm_rot_{s}", D(20) * up)
        b.set(f"elbow_flex_{s}", D(15) + D(65) * up)
        b.set(f"pro_sup_{s}", D(45) + D(30) * up)
    _flat_feet(b)
    return None, {"clap_hz": f}


def _reach(b, rng, v):
    _stand(b, rng)
    period = rng.uniform(3.0, 4.0) / v.speed
    u = np.mod(v.phase + b.t / period, 2.0)
    prof = keyed([(0, 0), (0.1, 0), (0.45, 1), (0.6, 1), (0.9, 0), (1.0, 0)])(np.mod(u, 1.0)) / D(1)
    right = (u < 1.0).astype(float)
    a = v.amplitude
    for s, on in (("r", right), ("l", 1 - right)):
        p = prof * on
        b.set(f"arm_flex_{s}", D(85) * p * min(a, 1.05))
        b.set(f"arm_add_{s}", D(-6) + D(10) * p)
        b.set(f"elbow_flex_{s}", D(15) * (1 - p) + D(3))
    b.add("pelvis_tilt", D(-12) * prof)
    b.set("lumbar_extension", D(-18) * prof * a)
    b.set("lumbar_rotation", D(12) * prof * (2 * right - 1))
    for s in "rl":
        b.set(f"hip_flexion_{s}", D(2) + D(12) * prof)
        b.set(f"knee_angle_{s}", D(3) + D(6) * prof)
    _flat_feet(b)
    return None, {"period_s": period}


#: motion id -> (generator, one-line description)
MOTIONS: dict[str, tuple[Callable, str]] = {
    "walk_slow": (_walk(0.9), "level walking, 0.9 m/s nominal"),
    "walk_normal": (_walk(1.3), "level walking at comfortable speed, 1.3 m/s nominal"),
    "walk_fast": (_walk(1.75), "fast walking, 1.75 m/s nominal"),
    # jog: horizontal pelvis path at constant velocity in flight (glide 20; run's legs cannot follow it yet)
    "jog": (_run(2.5, 0.42, bounce=True, glide=20.0), "jogging, ~2.5 m/s, flight phases"),
    # run: 0.1 s landing ease (0.2 s straightened its knee in late swing)
    "run": (_run(3.5, 0.35, bounce=True, table=RUN_PUSHOFF, landing_ease_s=0.1), "running, ~3.5 m/s, flight phases"),
    "squat": (_squat, "repeated bodyweight squats, knee ~110 deg (just below parallel)"),
    "jump_vertical": (_jump, "countermovement vertical jumps, ~0.45 s flight"),
    "sit_stand": (_sit_stand, "stand up from sitting and sit down again"),
    "arm_raise": (_arm_raise, "alternating frontal and lateral arm raises"),
    "wave": (_wave, "waving one hand overhead"),
    "clap": (_clap, "clapping in front of the chest"),
    "side_step": (_side_step, "side stepping to the right"),
    "turn_walk": (_turn_walk, "walking with a 50-80 deg turn"),
    "reach": (_reach, "forward reaching with the right then the left hand"),
}


GAITS = ("walk_slow", "walk_normal", "walk_fast", "jog", "run", "turn_walk")
GAIT_PAD_S = 1.0


def generate(motion_id: str, seed: int = 0, seconds: float = 10.0, fps: float = 60.0,
             variation: bool = True) -> Motion:
    """Generate one procedural motion: (T, 39) coordinates at ``fps`` for ``seconds``.

    ``seed`` picks the natural variation; ``variation=False`` gives the nominal motion.
    """
    if motion_id not in MOTIONS:
        raise OdahgenError(f"procedural: unknown motion {motion_id!r}; known: {', '.join(MOTIONS)}")
    if not (seconds > 0 and fps > 0):
        raise OdahgenError(f"procedural:{motion_id}: seconds and fps must be positive")
    gen, desc = MOTIONS[motion_id]
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(motion_id.encode())])
    v = Variation.sample(rng, 1.0 if variation else 0.0)
    n = max(2, int(round(seconds * fps)) + 1)
    t = uniform_times(n, fps)
    # gaits are generated with a lead-in and lead-out (cropped afterwards) so that the clip
    # starts and ends in the middle of a steady gait, not in a half-planned step
    pad = int(round(GAIT_PAD_S * fps)) if motion_id in GAITS else 0
    b = _Builder(uniform_times(n + 2 * pad, fps, -pad / fps))
    contact, info = gen(b, rng, v)
    coords = K.clip_to_ranges(b.array())
    flight_velocity = True
    placement = None
    if contact is None:  # both feet planted throughout: the pelvis follows the feet
        coords = plant_feet(coords)
        mode, schedule, flight = "planted", np.ones((len(coords), 2), bool), None
    else:
        flight = contact.get("flight")
        flight_velocity = bool(contact.get("flight_velocity", True))
        schedule = contact_schedule(coords, contact.get("stance"), flight)
        mode = "placed" if contact.get("placed") else "stance"
        if contact.get("placed"):  # feet and pelvis planned in the world: no clearance to add
            placement = placement_options({"clearance": 0.0})
        if not contact.get("placed"):  # else the generator planned feet and pelvis itself
            placement = placement_options(contact)
            coords = place_pelvis(coords, fps, stance=schedule, flight_velocity=flight_velocity, **placement)
    if pad:
        coords = coords[pad:pad + n].copy()
        coords[:, [K.CI["pelvis_tx"], K.CI["pelvis_tz"]]] -= coords[0, [K.CI["pelvis_tx"], K.CI["pelvis_tz"]]]
        flight = None if flight is None else flight[pad:pad + n]
        schedule = schedule[pad:pad + n]
        if placement is not None:  # what came before the clip: its pelvis velocity at the start
            placement["entry_velocity"] = [float(x) for x in (coords[1, 3:6] - coords[0, 3:6]) * fps]
    meta = {"description": desc, "seed": int(seed), "speed_factor": v.speed,
            "amplitude_factor": v.amplitude, "asymmetry": v.asym,
            "contact_mode": mode, "flight_velocity": flight_velocity,
            **({"placement": placement} if placement is not None else {}),
            **{k: (float(x) if not isinstance(x, str) else x) for k, x in info.items()}}
    if flight is not None:
        meta["flight_fraction"] = float(np.mean(flight))
    dist = np.linalg.norm(coords[-1, [K.CI["pelvis_tx"], K.CI["pelvis_tz"]]] - coords[0, [K.CI["pelvis_tx"], K.CI["pelvis_tz"]]])
    meta["mean_speed_m_s"] = float(dist / max(t[-1], 1e-9))
    return Motion(id=motion_id, source="procedural", fps=fps, times=t, coordinates=coords,
                  coordinate_names=COORDINATE_NAMES, mass_kg=K.MODEL_MASS_KG, sex="male",
                  meta=meta, contact=schedule)


def contact_schedule(coords: np.ndarray, stance: np.ndarray | None = None,
                     flight: np.ndarray | None = None) -> np.ndarray:
    """(T, 2) bool feet on the floor as :func:`place_pelvis` uses them: ``stance`` (T, 2), or
    the feet within 1 cm of the lower one on the generic model, with ``flight`` (T,) frames off."""
    if stance is None:
        q = K.coordinates_dict(coords)
        Rp = K.pelvis_rotation(q)
        contact = _auto_contact(np.stack([K.foot_points(q, "r", Rp), K.foot_points(q, "l", Rp)], axis=1))
    else:
        contact = np.asarray(stance, bool).copy()
    if flight is not None:
        contact[np.asarray(flight, bool)] = False
    return contact


#: the options of :func:`place_pelvis` a motion's generator may set (its "placement"), with
#: their defaults; carried in ``Motion.meta["placement"]`` so that :func:`replant` repeats them
PLACEMENT_DEFAULTS: dict = {"contact_softness": 0.003, "iterations": 3, "clearance": 0.015, "envelope_s": 0.12,
                            "clearance_rise": 0.3, "clearance_iters": 6, "bounce": False, "landing_ease_s": 0.2,
                            "entry_velocity": None, "glide": 0.0}


def placement_options(options: dict | None) -> dict:
    """The :func:`place_pelvis` options of a motion: :data:`PLACEMENT_DEFAULTS` updated by the
    known keys of ``options`` (other keys ignored), as JSON-friendly Python values
    (``entry_velocity``: None or a list of 3 floats, m/s)."""
    out = dict(PLACEMENT_DEFAULTS)
    for k, v in (options or {}).items():
        if k == "entry_velocity":
            out[k] = None if v is None else [float(x) for x in np.asarray(v, float).reshape(3)]
        elif k in out:
            out[k] = type(PLACEMENT_DEFAULTS[k])(v)
    return out


def replant(coords: np.ndarray, fps: float, contact: np.ndarray, mode: str = "stance",
            flight_velocity: bool = True, scales: np.ndarray | None = None,
            placement: dict | None = None) -> np.ndarray:
    """Place the pelvis of a motion again from its feet on a subject-scaled skeleton.

    ``coords`` (T, 39) rad/m, ``contact`` (T, 2) bool (right, left foot planted: the motion's
    :attr:`~odahgen.motion.base.Motion.contact`), ``mode`` "planted" (both feet fixed:
    :func:`plant_feet`), "stance" (:func:`place_pelvis` with that schedule) or "placed" (the
    same, without adding swing clearance: the feet were planned in the world), ``scales``
    (22, 3) segment scale factors in ``BODY_NAMES`` order (None = generic model). The
    pelvis translation is solved anew (tx = tz = 0 at the start) and the leg angles adjusted
    by the few degrees that keep the subject's planted feet fixed. ``placement``: the
    generator's :func:`place_pelvis` options (``Motion.meta["placement"]``, e.g. jog's
    ``bounce``, run's swing clearance), so that on the generic model (``scales`` None) the
    generator's own pelvis path and leg angles come back (tests/test_motion_subject.py::
    test_replant_reproduces_generator); except ``envelope_s``, which is 0 here (the feet of a
    placed motion already agree). None (motions saved before placements were carried): the
    defaults, with 15 mm swing clearance in "stance" mode. Returns (T, 39).
    """
    geom = K.leg_geometry(scales)
    contact = np.asarray(contact, bool)
    if contact.shape != (len(coords), 2):
        raise OdahgenError(f"contact schedule {contact.shape} does not match {len(coords)} frames")
    if mode == "planted":
        return plant_feet(coords, geom=geom)
    if mode not in ("stance", "placed"):
        raise OdahgenError(f"unknown contact mode {mode!r} (expected 'planted', 'stance' or 'placed')")
    opts = placement_options(placement)
    opts["envelope_s"] = 0.0
    if mode == "placed":
        opts["clearance"] = 0.0
    return place_pelvis(K.clip_to_ranges(coords), fps, stance=contact, flight_velocity=flight_velocity, geom=geom,
                        keep_height=placement is not None, **opts)


class ProceduralSource(MotionSource):
    """Built-in parametric motions (no files needed). Options: ``seconds`` (default 10),
    ``fps`` (default 60), ``variation`` (default True)."""

    name = "procedural"
    description = "built-in parametric motions on the Rajagopal coordinates (offline)"

    def __init__(self, seconds: float = 10.0, fps: float = 60.0, variation: bool = True, **options):
        super().__init__(seconds=seconds, fps=fps, variation=variation, **options)
        self.seconds, self.fps, self.variation = float(seconds), float(fps), bool(variation)

    def list_motions(self) -> list[str]:
        return sorted(MOTIONS)

    def load(self, motion_id: str, seed: int = 0) -> Motion:
        return generate(motion_id, seed=seed, seconds=self.seconds, fps=self.fps, variation=self.variation)

    def describe(self, motion_id: str) -> dict:
        if motion_id not in MOTIONS:
            raise OdahgenError(f"procedural: unknown motion {motion_id!r}")
        return {"id": motion_id, "description": MOTIONS[motion_id][1], "seconds": self.seconds, "fps": self.fps}
