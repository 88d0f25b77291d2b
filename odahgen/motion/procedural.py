"""The built-in ``procedural`` motion library: parametric motions on the 39 Rajagopal coordinates.

Every motion is generated from joint-angle key points (degrees, anatomical sign) taken from
normative biomechanics data where such data exist, with seeded natural variation (speed,
amplitude, timing, left/right asymmetry, cycle-to-cycle noise). The pelvis translation is
then computed from the feet, never the other way round: standing motions (squat,
sit_stand, arm raises, waving, clapping, reaching) keep both feet fixed on the floor and
the pelvis follows them (:func:`~odahgen.motion.placement.plant_feet`); gaits and jumps plant
each stance foot with a rolling heel/ball/toe contact
(:func:`~odahgen.motion.placement.place_pelvis`), with a ballistic arc in flight;
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
from odahgen.motion.placement import (
    contact_schedule,
    leg_ik,
    mask_runs,
    place_pelvis,
    placement_options,
    plant_feet,
    replant,  # noqa: F401  (kept importable here: the skeleton stage replants procedural motions)
    smoothstep,
)
from odahgen.skeleton.names import COORDINATE_NAMES

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
        runs = mask_runs(swing)
        inner = [e - a for a, e in runs if a > 0 and e < T]
        full = max(inner) if inner else max(e - a for a, e in runs)
        for a, e in runs:  # a swing cut by the clip's start or end keeps its full-length timing
            n = max(e - a, full) if (a == 0 or e == T) else e - a
            start = e - n if a == 0 else a
            prog[a:e] = (np.arange(a, e) - start + 0.5) / max(n, 1)
        # lift off quickly, stay clear, set down late (the heel drops in the last ~10 % of swing)
        target = clearance * smoothstep(prog / 0.15) * smoothstep((1.0 - prog) / 0.12) * swing
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
    angles follow by inverse kinematics (:func:`~odahgen.motion.placement.leg_ik`); the hand-designed angle curves
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
        dy = lift * smoothstep(x / 0.2) * smoothstep((1.0 - x) / 0.2) * (~stance[:, si])
        world[:, si] = rest[None] + np.stack([np.zeros(T), dy, dz], axis=1)[:, None, :]
    pelvis = np.stack([np.zeros(T), 0.925 - 0.015 * (0.5 - 0.5 * np.cos(4 * np.pi * tau)),
                       width * (tau - np.sin(2 * np.pi * tau) / (2 * np.pi))], axis=1)
    world[..., 2] -= pelvis[0, 2]  # start at tx = tz = 0
    pelvis[:, 2] -= pelvis[0, 2]
    q = b.q
    Rp = K.pelvis_rotation(q)
    rows = np.arange(T)
    for si, side in enumerate("rl"):
        leg_ik(q, side, rows, world[:, si] - pelvis[:, None, :], Rp, iters=10)
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
