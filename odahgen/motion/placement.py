"""Foot planting and pelvis placement: the pelvis translation of a motion from its feet.

A motion's joint angles say where each foot is relative to the pelvis; this module decides
where the pelvis is in the world so that planted feet do not slide (tests/test_motion.py::
test_procedural_feet_planted), adjusting the leg angles by the few degrees the angle curves
disagree on:

- :func:`plant_feet`: both feet fixed on the floor for the whole motion (standing, squatting,
  sitting down);
- :func:`place_pelvis`: a contact schedule (T, 2) of planted feet, each planted foot with a
  rolling heel/ball/toe contact that does not move, the body weight passing smoothly from
  one foot to the other, ballistic flights in the air (optionally a spring-mass bounce and a
  horizontal glide for running), swing-foot clearance;
- :func:`replant`: the same again on a subject-scaled skeleton (the skeleton stage), with the
  options the generator used (:func:`placement_options`, :data:`PLACEMENT_DEFAULTS`);
- :func:`contact_schedule`: the schedule :func:`place_pelvis` uses for a motion.

Helpers the motion recipes share (:mod:`odahgen.motion.procedural`): :func:`leg_ik` (one
leg's hip/knee/ankle angles that put its sole points on targets), :func:`mask_runs`,
:func:`smoothstep`. Shapes: coordinates (T, 39) in ``COORDINATE_NAMES`` order (rad, m),
contact (T, 2) bool (right, left); lengths in metres, OpenSim ground axes (Y up).
"""

from __future__ import annotations

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.motion import kinematics as K
from odahgen.skeleton.names import COORDINATE_NAMES

G = 9.81  # m/s^2

#: the leg coordinates :func:`leg_ik` solves for, per side
_LEG = ("hip_flexion_{s}", "hip_adduction_{s}", "hip_rotation_{s}", "knee_angle_{s}", "ankle_angle_{s}")


def mask_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[(start, end)) index ranges of the True runs of a (T,) bool array."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask, np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def smoothstep(u):
    """Cubic smoothstep 3u^2 - 2u^3 of ``u`` clipped to [0, 1] (any shape)."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _contact_load(contact: np.ndarray, fps: float, ramp_s: float = 0.25) -> np.ndarray:
    """(T, 2) weights with which each foot carries the body: within a contact they rise
    smoothly from 0 at its start and fall back to 0 at its end (over ``ramp_s`` or a third of
    the contact), so the body passes from one foot to the other without a jump."""
    T = len(contact)
    load = np.zeros((T, 2))
    for s in range(2):
        for a, e in mask_runs(contact[:, s]):
            n = e - a
            r = max(1.0, min(ramp_s * fps, n / 3.0))
            k = np.arange(n, dtype=float)
            rise = smoothstep((k + 1.0) / r) if a > 0 else np.ones(n)
            fall = smoothstep((n - k) / r) if e < T else np.ones(n)
            load[a:e, s] = np.maximum(rise * fall, 1e-9)
    return load


def _swing_fill(values: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """Fill the frames outside the contacts of one foot ((T,) bool) by a smooth blend from the
    value at the end of the previous contact to the value at the start of the next one."""
    out = values.copy()
    T = len(contact)
    for a, e in mask_runs(~contact):
        before = values[a - 1] if a > 0 else None
        after = values[e] if e < T else None
        if before is None and after is None:
            out[a:e] = 0.0
            continue
        before = after if before is None else before
        after = before if after is None else after
        u = smoothstep((np.arange(a, e) - a + 1.0) / (e - a + 1.0))
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
        for a, e in mask_runs(on):
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


def leg_ik(q: dict, side: str, rows: np.ndarray, target: np.ndarray, R: np.ndarray, iters: int = 5,
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
    orientation (:func:`leg_ik` on the frames that need it)."""
    Rp = K.pelvis_rotation(q)
    for si, s in enumerate("rl"):
        d = delta[:, si]
        rows = np.flatnonzero(np.linalg.norm(d, axis=1) > 2e-5)
        if not rows.size:
            continue
        sub = {n: v[rows] for n, v in q.items()}
        target = K.foot_points(sub, s, Rp[rows], geom) + d[rows, None, :]
        leg_ik(q, s, rows, target, Rp[rows], iters, geom)


def plant_feet(coords: np.ndarray, iterations: int = 3, geom: K.LegGeometry | None = None) -> np.ndarray:
    """Both feet planted for the whole motion (standing, squatting, sitting down): fill
    pelvis_tx/ty/tz of ``coords`` (T, 39) so that the pelvis follows the feet; returns a new array.

    The feet are fixed where the first frame puts them, flat on the floor (heel, ball and toe
    at y = 0). Each frame's pelvis translation is the one that best places both feet's sole
    points (least squares over the six points); what the two legs' angle curves then still
    disagree on (asymmetry, the knee's screw-home rotation turning the foot) is removed by
    adjusting each leg's hip, knee and ankle angles so that its sole points reach their
    fixed places (:func:`leg_ik`). Starts at tx = tz = 0. ``geom``: the subject's leg
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
            leg_ik(q, s, all_rows, anchor[None, si] - pel[:, None, :], Rp, geom=geom)
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
    if len(mask_runs(on)) < 2 or on.all():
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
    runs_on = mask_runs(on)
    steps = np.diff(xz, axis=0, prepend=xz[:1])
    if glide > 0 and flight_velocity and len(runs_on) >= 2 and not on.all():
        # running: a horizontal path at constant velocity in the air, smooth on the floor
        # (:func:`_glide_path`; fitted once, then kept); the planted feet follow it
        xz = xz_fixed.copy() if xz_fixed is not None else _glide_path(xz, steps, contact, glide, xz_base)
        delta[:, :, ::2] = 0.0
        for si in range(2):
            for a, e in mask_runs(contact[:, si]):
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
    for a, e in mask_runs(on):
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
    inner = [e - a + 1 for a, e in mask_runs(~on) if a > 0 and e < T]
    for a, e in mask_runs(~on):  # ballistic arcs between take-off and touch-down
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
        for a, _e in mask_runs(contact[:, si]):
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
        for a, e in mask_runs(contact[:, si]):
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
                w = smoothstep((np.arange(k0, lo_a) - (lo_a - n) + 1.0) / (n + 1.0))
                delta[k0:lo_a, si] += w[:, None] * delta[lo_a, si]
            if hi_e < T:  # fade out after lift-off
                k1 = min(T, hi_e + n)
                w = smoothstep((hi_e + n - np.arange(hi_e, k1)) / (n + 1.0))
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
        inner = [e - a for a, e in mask_runs(swing) if a > 0 and e < T]
        for a, e in mask_runs(swing):
            prog[a:e] = (np.arange(a, e) - a + 0.5) / (e - a)
            if inner and (a == 0) != (e == T):  # a swing cut by the clip: as long as the others
                n = max(float(np.median(inner)), e - a)
                prog[a:e] = (np.arange(a, e) - (e - n if a == 0 else a) + 0.5) / n
            elif a == 0:  # none whole: assume it ends as the clip's swings do
                prog[a:e] = 1.0 - (e - np.arange(a, e) - 0.5) / max(e - a, 1) * 0.5
            elif e == T:
                prog[a:e] = (np.arange(a, e) - a + 0.5) / max(e - a, 1) * 0.5
        target = clearance * smoothstep(prog / rise) * smoothstep((1.0 - prog) / 0.12)
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
    :data:`odahgen.motion.procedural.RUN_PUSHOFF` table and a 0.1 s landing ease for its knee to follow).
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
