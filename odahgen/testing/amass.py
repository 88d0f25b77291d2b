"""Generated AMASS-format files (tests, benchmarks and docs only; real AMASS is licensed).

:func:`action_sequence` makes the SMPL body-joint rotations and the root translation of one
of :data:`ACTIONS` at 120 Hz in AMASS's world (Z up), from key poses joined by minimum-jerk
segments (zero velocity and acceleration at every key, so the curves are smooth) or smooth
cycles, within human joint ranges. :func:`write_action` writes it as a SMPL-H file (``poses``
(T, 156), ``trans``, ``betas`` (16,), ``dmpls``, ``gender``, ``mocap_framerate``) or a SMPL-X
file (``poses`` (T, 165) and its split keys ``root_orient``, ``pose_body``, ``pose_hand``,
``pose_jaw``, ``pose_eye``, ``surface_model_type``, ``mocap_frame_rate``,
``mocap_time_length``), optionally with embedded lab markers (``markers`` (T, M, 3) m, Z up,
``labels`` (M,)) like the MoSh outputs AMASS is fitted from.

SMPL conventions used (public; the SMPL papers and the ``smplx`` package):

- the 22 body joints in :data:`SMPL_JOINTS` order, then 2 x 15 hand joints (SMPL-H), or jaw,
  two eyes and 2 x 15 hand joints (SMPL-X); axis-angle per joint, local to its parent;
- the rest pose is a T-pose (arms horizontal, palms down) facing +Z in the body's canonical
  frame (X = the subject's left, Y up, Z forward); every joint's rest frame is that frame, so
  a local rotation's axes are: X flexion-extension (knee flexion +X, hip flexion -X, spine and
  neck flexion +X), Y axial (turning left +Y), Z frontal plane (left arm up +Z);
- the root rotation carries the body into the world: AMASS is Z up, so a subject standing
  upright has ``root_orient`` = ``R_z(heading) R_x(90 deg)``;
- a vertex moves as ``R_root (v - J0) + J0 + trans``: the pelvis joint is at ``J0 + trans``
  in the world. The generator takes J0 = :data:`J0` (a SMPL-H-like value) and plants the feet
  on z = 0 with a generic SMPL-sized skeleton (:data:`REST_JOINTS`).

The files are what a real AMASS file looks like to a loader (keys, dtypes, 0-d ``gender`` as a
str or bytes array, odd frame rates such as 120.00004577); the motions are designed, not
captured.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from odahgen.motion import kinematics as K

SMPL_JOINTS = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
               "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
               "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
               "left_elbow", "right_elbow", "left_wrist", "right_wrist")
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
JI = {n: i for i, n in enumerate(SMPL_JOINTS)}

#: rest joint positions (m) relative to the pelvis, SMPL canonical frame (a SMPL-sized T-pose)
REST_JOINTS = np.array([
    (0.0, 0.0, 0.0), (0.06, -0.09, 0.0), (-0.06, -0.09, 0.0), (0.0, 0.11, -0.01),
    (0.10, -0.47, 0.0), (-0.10, -0.47, 0.0), (0.0, 0.25, 0.0), (0.09, -0.87, -0.04),
    (-0.09, -0.87, -0.04), (0.0, 0.30, 0.02), (0.12, -0.93, 0.08), (-0.12, -0.93, 0.08),
    (0.0, 0.51, -0.02), (0.08, 0.42, -0.01), (-0.08, 0.42, -0.01), (0.0, 0.58, 0.03),
    (0.19, 0.45, -0.02), (-0.19, 0.45, -0.02), (0.45, 0.43, -0.04), (-0.45, 0.43, -0.04),
    (0.70, 0.43, -0.03), (-0.70, 0.43, -0.03)])
#: height above the floor (m) of the ankle and foot (ball) joints when standing
ANKLE_HEIGHT, BALL_HEIGHT = 0.08, 0.02
#: the pelvis joint of the rest mesh (m, model frame): the world pelvis is J0 + trans
J0 = np.array([0.0, -0.22, 0.03])

ACTIONS = ("arms_overhead", "jumping_jacks", "head_turns_nods", "deep_squat", "reach_across",
           "fast_turn", "throw")
SECONDS = {"arms_overhead": 3.0, "jumping_jacks": 3.0, "head_turns_nods": 3.5, "deep_squat": 3.0,
           "reach_across": 4.0, "fast_turn": 2.5, "throw": 3.0}
#: heading of the subject at t = 0 (deg about world Z): AMASS subjects face any direction
HEADING_DEG = {"arms_overhead": 30.0, "jumping_jacks": -60.0, "head_turns_nods": 135.0,
               "deep_squat": 0.0, "reach_across": -150.0, "fast_turn": 80.0, "throw": -20.0}

_D = np.pi / 180.0
_X, _Y, _Z = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


# ---- curves -----------------------------------------------------------------------------

def keys(t: np.ndarray, points: list[tuple[float, float]]) -> np.ndarray:
    """(T,) values through key ``points`` [(time s, value)], held before the first and after
    the last, joined by minimum-jerk (quintic) segments: zero velocity and acceleration at
    every key."""
    t = np.asarray(t, np.float64)
    out = np.full(t.shape, float(points[0][1]))
    for (t0, v0), (t1, v1) in zip(points[:-1], points[1:]):
        u = np.clip((t - t0) / max(t1 - t0, 1e-9), 0.0, 1.0)
        s = u ** 3 * (10 - 15 * u + 6 * u * u)
        out = np.where(t >= t0, v0 + (v1 - v0) * s, out)
    return out


def _rot(*parts) -> np.ndarray:
    """Product of axis rotations [(axis, angles (T,) rad)], leftmost outermost: (T, 3, 3)."""
    R = None
    for axis, ang in parts:
        Ri = K.axis_rot(axis, ang)
        R = Ri if R is None else R @ Ri
    return R


def hip(side: str, flex, abd, rot) -> np.ndarray:
    """Hip rotation: flexion (thigh forward), abduction (out), internal rotation; rad."""
    sg = 1.0 if side == "left" else -1.0
    return _rot((_X, -np.asarray(flex)), (_Z, sg * np.asarray(abd)), (_Y, -sg * np.asarray(rot)))


def spine(flex, bend_left, turn_left) -> np.ndarray:
    """Trunk/neck/head rotation: flexion (forward), lateral bend to the left, turn to the left."""
    return _rot((_X, np.asarray(flex)), (_Z, -np.asarray(bend_left)), (_Y, np.asarray(turn_left)))


def arm(side: str, elevation, plane, external) -> np.ndarray:
    """Humerus rotation from the T-pose: the arm swung from hanging (palm in) by ``elevation``
    (0 = hanging down, 90 deg = horizontal, 180 = overhead) in the vertical plane at
    ``plane`` (0 = lateral, 90 deg = forward, > 90 across the body, < 0 behind), after an
    ``external`` rotation about its own axis (rad). The swing is the shortest arc from
    hanging, so the parametrisation is smooth everywhere but straight overhead."""
    e, p, x = (np.asarray(v, np.float64) for v in (elevation, plane, external))
    sg = 1.0 if side == "left" else -1.0
    axis = np.stack([-np.sin(p), np.zeros_like(p), sg * np.cos(p)], axis=-1)
    swing = K.rotvec_to_matrix(axis * e[..., None])
    return swing @ K.axis_rot(_Z, -sg * np.pi / 2) @ K.axis_rot(_X, -x)


def elbow(side: str, flex) -> np.ndarray:
    """Elbow flexion (rad) in the humerus' frame (T-pose palms down: the forearm goes forward)."""
    return K.axis_rot(_Y, (-1.0 if side == "left" else 1.0) * np.asarray(flex))


def knee(flex) -> np.ndarray:
    return K.axis_rot(_X, np.asarray(flex))


def ankle(dorsi) -> np.ndarray:
    """Ankle dorsiflexion (toes up), rad."""
    return K.axis_rot(_X, -np.asarray(dorsi))


def collar(side: str, elevation, protraction) -> np.ndarray:
    sg = 1.0 if side == "left" else -1.0
    return _rot((_Z, sg * np.asarray(elevation)), (_Y, -sg * np.asarray(protraction)))


# ---- actions ----------------------------------------------------------------------------

def _rest(T: int) -> dict[str, np.ndarray]:
    """Every joint at the identity, the arms hanging relaxed (elevation 8 deg, palms in)."""
    R = {n: np.tile(np.eye(3), (T, 1, 1)) for n in SMPL_JOINTS}
    z = np.zeros(T)
    for s in ("left", "right"):
        R[f"{s}_shoulder"] = arm(s, z + 8 * _D, z, z)
        R[f"{s}_elbow"] = elbow(s, z + 12 * _D)
    return R


def _set_arm(R: dict, side: str, elev, plane, ext, elb, coll_elev=0.0, coll_protr=0.0) -> None:
    """Humerus orientation (in the trunk, spine3's frame) split between collar and shoulder."""
    T = len(next(iter(R.values())))
    z = np.zeros(T)
    C = collar(side, z + coll_elev, z + coll_protr)
    R[f"{side}_collar"] = C
    R[f"{side}_shoulder"] = np.swapaxes(C, 1, 2) @ arm(side, elev, plane, ext)
    R[f"{side}_elbow"] = elbow(side, z + elb)


def _arms_overhead(t):
    T = len(t)
    R = _rest(T)
    up = keys(t, [(0.3, 0.0), (1.3, 1.0), (1.9, 1.0), (2.9, 0.0)])
    for s in ("left", "right"):  # raised in the scapular plane (30 deg forward) to 170 deg
        _set_arm(R, s, (8 + 162 * up) * _D, 30 * _D * np.ones(T), 40 * _D * up, (12 - 4 * up) * _D,
                 coll_elev=18 * _D * up, coll_protr=5 * _D * up)
    R["spine2"] = spine(-6 * _D * up, 0 * up, 0 * up)
    R["spine3"] = spine(-6 * _D * up, 0 * up, 0 * up)
    R["head"] = spine(-10 * _D * up, 0 * up, 0 * up)
    return R, {}


def _jumping_jacks(t):
    T = len(t)
    R = _rest(T)
    f, start = 1.0, 0.3  # jacks per second; standing still before and after
    n = max(1.0, np.floor((t[-1] - start - 0.5) * f))
    ph = np.clip((t - start) * f, 0.0, n)
    env = keys(t, [(start - 0.25, 0.0), (start, 1.0), (start + n / f, 1.0), (start + n / f + 0.4, 0.0)])
    u = 0.5 - 0.5 * np.cos(2 * np.pi * ph)  # 0 feet together, 1 spread
    bend = 0.5 + 0.5 * np.cos(4 * np.pi * ph)  # 1 at every landing / take-off
    for s in ("left", "right"):
        _set_arm(R, s, (8 + 162 * u) * _D, 5 * _D * np.ones(T), 60 * _D * u, (12 - 4 * u) * _D,
                 coll_elev=15 * _D * u)
        R[f"{s}_hip"] = hip(s, (3 + 4 * bend * env) * _D, 16 * _D * u, -8 * _D * u)
        R[f"{s}_knee"] = knee((5 + 22 * bend * env) * _D)
        R[f"{s}_ankle"] = ankle((4 + 10 * bend * env) * _D)
    # a hop between take-off and landing, two per jack (smooth bumps, 7 cm high)
    hop = 0.07 * np.clip(-np.cos(4 * np.pi * ph) * 1.25 - 0.25, 0.0, None) ** 1.5
    return R, {"hop": hop}


def _head_turns_nods(t):
    T = len(t)
    R = _rest(T)
    yaw = keys(t, [(0.2, 0), (0.8, 65), (1.5, -65), (2.0, 0)]) * _D
    pitch = keys(t, [(2.0, 0), (2.5, 35), (3.0, -40), (3.4, 0)]) * _D
    R["neck"] = spine(0.4 * pitch, 0 * yaw, 0.4 * yaw)
    R["head"] = spine(0.6 * pitch, 0 * yaw, 0.6 * yaw)
    R["spine3"] = spine(0 * yaw, 0 * yaw, 0.08 * yaw)
    return R, {}


def _deep_squat(t):
    T = len(t)
    R = _rest(T)
    d = keys(t, [(0.3, 0.0), (1.4, 1.0), (1.7, 1.0), (2.8, 0.0)])
    for s in ("left", "right"):
        R[f"{s}_hip"] = hip(s, 105 * _D * d, 12 * _D * d, -10 * _D * d)  # knees out, toes out
        R[f"{s}_knee"] = knee(122 * _D * d)
        R[f"{s}_ankle"] = ankle(28 * _D * d)
        _set_arm(R, s, (8 + 82 * d) * _D, 90 * _D * np.ones(T), 0 * d, (12 - 8 * d) * _D)
    R["pelvis_local"] = spine(8 * _D * d, 0 * d, 0 * d)  # anterior tilt
    R["spine1"] = spine(14 * _D * d, 0 * d, 0 * d)
    R["spine2"] = spine(10 * _D * d, 0 * d, 0 * d)
    R["spine3"] = spine(6 * _D * d, 0 * d, 0 * d)
    R["neck"] = spine(-20 * _D * d, 0 * d, 0 * d)  # looking ahead
    return R, {}


def _reach_across(t):
    T = len(t)
    R = _rest(T)
    a = keys(t, [(0.2, 0.0), (1.1, 1.0), (1.3, 1.0), (2.1, 0.0)])  # right arm to the left side
    b = keys(t, [(2.0, 0.0), (2.9, 1.0), (3.1, 1.0), (3.9, 0.0)])  # left arm to the right side
    turn = 35 * _D * (a - b)
    R["spine1"] = spine(10 * _D * (a + b), -8 * _D * (a - b) * 0, 0.3 * turn)
    R["spine2"] = spine(8 * _D * (a + b), 5 * _D * (a - b), 0.35 * turn)
    R["spine3"] = spine(6 * _D * (a + b), 5 * _D * (a - b), 0.35 * turn)
    R["head"] = spine(10 * _D * (a + b), 0 * a, 0.3 * turn)
    for s, w in (("right", a), ("left", b)):
        _set_arm(R, s, (8 + 97 * w) * _D, 140 * _D * w, 20 * _D * w, (12 + 3 * w) * _D,
                 coll_protr=15 * _D * w)
    for s in ("left", "right"):
        R[f"{s}_knee"] = knee(12 * _D * (a + b))
        R[f"{s}_hip"] = hip(s, 8 * _D * (a + b), 0 * a, 0 * a)
    return R, {"yaw": 0.15 * turn}


def _fast_turn(t):
    T = len(t)
    R = _rest(T)
    yaw = keys(t, [(0.6, 0.0), (1.6, 300.0)]) * _D  # 300 deg to the left in 1 s (peak 560 deg/s)
    lead = keys(t, [(0.45, 0.0), (0.75, 25.0), (1.5, 25.0), (1.8, 0.0)]) * _D  # the head leads
    g = keys(t, [(0.4, 0.0), (0.7, 1.0), (1.6, 1.0), (1.9, 0.0)])
    R["neck"] = spine(0 * g, 0 * g, 0.5 * lead)
    R["head"] = spine(0 * g, 0 * g, 0.5 * lead)
    R["spine2"] = spine(0 * g, 0 * g, 0.3 * lead)
    for s in ("left", "right"):
        _set_arm(R, s, (8 + 22 * g) * _D, 20 * _D * g, 0 * g, (12 + 50 * g) * _D)
        R[f"{s}_knee"] = knee(18 * _D * g)
        R[f"{s}_hip"] = hip(s, 10 * _D * g, 0 * g, 0 * g)
        R[f"{s}_ankle"] = ankle(8 * _D * g)
    return R, {"yaw": yaw}


def _throw(t):
    T = len(t)
    R = _rest(T)
    wind = keys(t, [(0.3, 0.0), (1.1, 1.0), (1.25, 1.0), (1.55, 0.0)])  # cocking, then released
    acc = keys(t, [(1.25, 0.0), (1.55, 1.0), (2.1, 1.0), (2.9, 0.0)])  # acceleration, follow-through
    fol = keys(t, [(1.45, 0.0), (1.9, 1.0), (2.2, 1.0), (2.9, 0.0)])
    step = keys(t, [(0.4, 0.0), (1.1, 1.0), (2.3, 1.0), (2.9, 0.0)])  # stride of the left leg
    # right arm: cocked (abducted 90, behind the frontal plane, externally rotated 90, elbow
    # 90) -> release (forward, elbow extended) -> follow-through across the body, downward
    elev = 8 + 82 * wind + 85 * acc * (1 - fol) + 35 * fol
    plane = -25 * wind + 60 * acc * (1 - fol) + 140 * fol
    ext = 95 * wind - 20 * acc
    elb = 12 + 78 * wind + 0 * acc
    _set_arm(R, "right", elev * _D, plane * _D, ext * _D, elb * _D, coll_elev=10 * _D * wind,
             coll_protr=(-10 * wind + 15 * fol) * _D)
    _set_arm(R, "left", (8 + 80 * wind + 10 * acc - 60 * fol * 0) * _D, (80 * wind + 40 * acc) * _D,
             0 * wind, (12 + 40 * wind + 30 * acc) * _D)
    turn = (-40 * wind + 40 * acc) * _D
    R["spine2"] = spine((-5 * wind + 15 * acc) * _D, (-8 * wind + 8 * acc) * _D, 0.5 * turn)
    R["spine3"] = spine((-5 * wind + 10 * acc) * _D, (-5 * wind + 5 * acc) * _D, 0.5 * turn)
    R["neck"] = spine(0 * turn, 0 * turn, -0.6 * turn)  # eyes on the target
    R["left_hip"] = hip("left", 30 * _D * step, 5 * _D * step, 0 * step)
    R["left_knee"] = knee((25 * step * (1 - acc) + 15 * acc) * _D)
    R["right_hip"] = hip("right", -20 * _D * step, 0 * step, 10 * _D * step)
    R["right_knee"] = knee(6 * _D * step)
    R["right_ankle"] = ankle(8 * _D * step)
    return R, {"yaw": 0.5 * turn, "anchor": "right"}


_BUILDERS = {"arms_overhead": _arms_overhead, "jumping_jacks": _jumping_jacks,
             "head_turns_nods": _head_turns_nods, "deep_squat": _deep_squat,
             "reach_across": _reach_across, "fast_turn": _fast_turn, "throw": _throw}


# ---- the sequence ------------------------------------------------------------------------

def _fk(root: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World rotations (T, 22, 3, 3) and joint positions relative to the pelvis (T, 22, 3)."""
    T = len(root)
    W = np.empty((T, 22, 3, 3))
    P = np.zeros((T, 22, 3))
    W[:, 0] = root
    for j in range(1, 22):
        p = PARENTS[j]
        W[:, j] = W[:, p] @ local[:, j]
        P[:, j] = P[:, p] + W[:, p] @ (REST_JOINTS[j] - REST_JOINTS[p])
    return W, P


def action_sequence(action: str, fps: float = 120.0, seconds: float | None = None,
                    heading_deg: float | None = None) -> dict[str, np.ndarray]:
    """One generated action: ``poses`` (T, 66) SMPL body axis-angle (root first, AMASS's
    Z-up world), ``trans`` (T, 3) m (pelvis = :data:`J0` + trans, feet on z = 0), ``fps``,
    and ``joints`` (T, 22, 3) m, the generic skeleton's joint positions (for checks)."""
    if action not in _BUILDERS:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    seconds = SECONDS[action] if seconds is None else float(seconds)
    T = int(round(seconds * fps)) + 1
    t = np.arange(T) / float(fps)
    R, extra = _BUILDERS[action](t)
    heading = (HEADING_DEG[action] if heading_deg is None else heading_deg) * _D
    yaw = heading + extra.get("yaw", np.zeros(T))
    pel = R.get("pelvis_local", np.tile(np.eye(3), (T, 1, 1)))
    root = K.axis_rot(_Z, yaw) @ K.axis_rot(_X, np.pi / 2) @ pel
    local = np.stack([R[n] for n in SMPL_JOINTS], axis=1)
    local[:, 0] = root
    _, P = _fk(root, local)
    # plant: the lowest of the ankles / balls at its standing height, the anchor fixed in x, y
    low = np.minimum(P[:, [7, 8], 2] - ANKLE_HEIGHT, P[:, [10, 11], 2] - BALL_HEIGHT).min(axis=1)
    pz = -low + extra.get("hop", 0.0)
    anchor = P[:, 8, :2] if extra.get("anchor") == "right" else P[:, [7, 8], :2].mean(axis=1)
    pxy = anchor[0] - anchor
    pelvis = np.column_stack([pxy, pz])
    poses = K.matrix_to_rotvec(local).reshape(T, 66)
    return {"poses": poses, "trans": pelvis - J0, "fps": float(fps), "joints": P + pelvis[:, None]}


def _gender_value(gender: str, gender_as: str):
    if gender_as == "str":
        return np.array(gender)  # 0-d '<U' array, as AMASS's SMPL-X files
    if gender_as == "bytes":
        return np.array(gender.encode())  # 0-d '|S' array, as older SMPL-H files
    if gender_as == "array":
        return np.array([gender])  # (1,) array
    raise ValueError(f"gender_as must be 'str', 'bytes' or 'array', got {gender_as!r}")


def write_action(path, action: str, layout: str = "smplh", fps: float = 120.0,
                 gender: str = "male", gender_as: str = "str", betas=None,
                 seconds: float | None = None, split_only: bool = False,
                 lab_markers: tuple[list[str], np.ndarray] | None = None,
                 marker_keys: tuple[str, str] = ("markers", "labels")) -> Path:
    """Write ``action`` as an AMASS .npz at ``path`` (``layout`` "smplh" or "smplx"; see the
    module docstring). ``split_only`` (SMPL-X): only the split keys, no ``poses``.
    ``lab_markers`` = (labels, (T, M, 3) m in the file's Z-up world) are embedded under
    ``marker_keys`` (("markers", "labels") or ("marker_data", "marker_labels"))."""
    seq = action_sequence(action, fps=fps, seconds=seconds)
    T = len(seq["poses"])
    b = np.zeros(16) if betas is None else np.asarray(betas, np.float64)
    body = seq["poses"]
    out: dict[str, np.ndarray] = {"trans": seq["trans"], "betas": b,
                                  "gender": _gender_value(gender, gender_as)}
    if layout == "smplh":
        out["poses"] = np.concatenate([body, np.zeros((T, 90))], axis=1)
        out["dmpls"] = np.zeros((T, 8))
        out["mocap_framerate"] = np.array(float(fps))
    elif layout == "smplx":
        hands, jaw, eyes = np.zeros((T, 90)), np.zeros((T, 3)), np.zeros((T, 6))
        if not split_only:
            out["poses"] = np.concatenate([body, jaw, eyes, hands], axis=1)
        out.update(root_orient=body[:, :3], pose_body=body[:, 3:66], pose_hand=hands, pose_jaw=jaw,
                   pose_eye=eyes, surface_model_type=np.array("smplx"), num_betas=np.array(len(b)),
                   mocap_frame_rate=np.array(float(fps)),
                   mocap_time_length=np.array((T - 1) / float(fps)))
    else:
        raise ValueError(f"layout must be 'smplh' or 'smplx', got {layout!r}")
    if lab_markers is not None:
        labels, mk = lab_markers
        out[marker_keys[0]] = np.asarray(mk, np.float64)
        out[marker_keys[1]] = np.array(list(labels))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return path


def write_actions(folder, layout: str = "smplh", actions=ACTIONS, **kw) -> list[Path]:
    """Write every action of ``actions`` as ``folder/<action>.npz``; returns the paths."""
    return [write_action(Path(folder) / f"{a}.npz", a, layout=layout, **kw) for a in actions]


#: lab-style names (Plug-in Gait / CMU / MoSh) of the anny markers a lab set also has; the
#: wrist's outer (OWR) marker is the radial styloid and the inner (IWR) the ulnar, palms
#: forward, as odahgen.skeleton.mapping reads them
MOSH_NAMES = {
    "LASI": "LFWT", "RASI": "RFWT", "LPSI": "LBWT", "RPSI": "RBWT", "C7": "C7", "CLAV": "CLAV",
    "STRN": "STRN", "LACR": "LSHO", "RACR": "RSHO", "HEADTOP": "ARIEL", "LLEL": "LELB",
    "RLEL": "RELB", "LRSP": "LOWR", "RRSP": "ROWR", "LUSP": "LIWR", "RUSP": "RIWR",
    "LMH2": "LFIN", "RMH2": "RFIN", "LLFC": "LKNE", "RLFC": "RKNE", "LMFC": "LKNI",
    "RMFC": "RKNI", "LLMAL": "LANK", "RLMAL": "RANK", "LCAL": "LHEE", "RCAL": "RHEE",
    "LTOE": "LTOE", "RTOE": "RTOE", "LMT5": "LMT5", "RMT5": "RMT5", "LUA2": "LUPA",
    "RUA2": "RUPA", "LFA1": "LFRM", "RFA1": "RFRM", "LTH2": "LTHI", "RTH2": "RTHI",
    "LTB2": "LSHN", "RTB2": "RSHN", "SACR": "MBWT"}


def lab_markers_for(path, names: str = "model", noise_m: float = 0.002, gaps: int = 2,
                    seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Lab-style markers for the AMASS file at ``path``: the anny virtual markers of its poses
    (:func:`odahgen.motion.body_markers.amass_markers`, in the file's own Z-up world, feet on
    z = 0, not turned) without the joint centres (``*JC``: no lab has them), each moved by a
    fixed 0-5 mm placement offset plus ``noise_m`` white noise, with ``gaps`` gaps of 5 frames
    (NaN). ``names``: "model" (the built-in model's labels: LASI, RLFC ...) or "mosh"
    (:data:`MOSH_NAMES`: LFWT, RKNE ...; markers without one are dropped)."""
    from odahgen.motion.amass import read_amass
    from odahgen.motion.body_markers import amass_markers
    from odahgen.motion.retarget import ZUP_TO_OPENSIM

    d = read_amass(Path(path))
    labels, mk, _ = amass_markers(d, "anny", None, face_forward=False, ground=True)
    keep = [i for i, n in enumerate(labels) if not n.endswith("JC")]
    if names == "mosh":
        keep = [i for i in keep if labels[i] in MOSH_NAMES]
        out_names = [MOSH_NAMES[labels[i]] for i in keep]
    elif names == "model":
        out_names = [labels[i] for i in keep]
    else:
        raise ValueError(f"names must be 'model' or 'mosh', got {names!r}")
    world = mk[:, keep] @ ZUP_TO_OPENSIM  # OpenSim frame -> the file's Z-up world
    rng = np.random.default_rng(seed)
    world = world + rng.uniform(-0.005, 0.005, (1, len(keep), 3)) + rng.normal(0, noise_m, world.shape)
    T = len(world)
    for _ in range(gaps):
        m, a = int(rng.integers(len(keep))), int(rng.integers(0, max(1, T - 6)))
        world[a:a + 5, m] = np.nan
    return out_names, world


def stage_figures(folder, actions=ACTIONS, overrides: tuple[str, ...] = (), work=None) -> dict[str, dict]:
    """Run the pipeline's motion and skeleton stages (demo config, one subject, whole files as
    one clip, ``motion.source = "amass"`` on ``folder``) for each of ``actions`` (files
    ``folder/<action>.npz``) and return, per action, the IK figures of ``skeleton.npz``:
    ``rms_mean_cm`` (mean over frames of the per-frame marker RMS), ``max_cm`` (largest marker
    error), ``flagged_pct`` (frames flagged), ``frames``, and ``at_bound`` (coordinates at a
    range bound in > 5 % of frames). ``overrides`` are extra ``--set`` style config lines;
    ``work`` the scratch folder (default: a new temporary one)."""
    import tempfile

    from odahgen.config import load_config
    from odahgen.jobs.graph import run_trial
    from odahgen.jobs.pipeline import pipeline_stages
    from odahgen.jobs.plan import expand, plan
    from odahgen.skeleton.names import COORDINATE_NAMES

    work = Path(work) if work is not None else Path(tempfile.mkdtemp(prefix="amass-stages-"))
    cfg = load_config("demo", ["dataset.subjects=1", "motion.source='amass'", f"motion.path={str(folder)!r}",
                               "motion.clip_seconds=60.0", "skeleton.ik_workers=1", *overrides])
    ds = work / "ds"
    out: dict[str, dict] = {}
    for spec in plan(cfg, ds, specs=expand(cfg, list(actions))):
        res = run_trial(ds, spec, cfg, pipeline_stages(cfg), only={"motion", "skeleton"})
        trial = ds / "trials" / spec.trial
        sk = np.load(trial / "skeleton.npz")
        a, rg = sk["angles"], sk["coordinate_ranges"]
        bound = {}
        for i, n in enumerate(COORDINATE_NAMES):
            if np.isfinite(rg[i]).all() and rg[i, 1] > rg[i, 0]:
                f = float(np.mean((a[:, i] <= rg[i, 0] + 1e-4) | (a[:, i] >= rg[i, 1] - 1e-4)))
                if f > 0.05:
                    bound[n] = round(f, 3)
        out[spec.motion] = {"ran": list(res.ran), "frames": int(len(a)),
                            "rms_mean_cm": float(100 * np.mean(sk["ik_rms"])),
                            "max_cm": float(100 * np.max(sk["ik_max"])),
                            "flagged_pct": float(100 * np.mean(sk["flagged"])), "at_bound": bound,
                            "trial": str(trial)}
    return out


def own_body_figures(folder, figures: dict[str, dict]) -> dict[str, dict]:
    """What the skeleton stage would give if it scaled the skeleton to the AMASS subject's
    own body (the motion's ``meta["static_markers"]``) instead of the trial's subject variant:
    for each trial of :func:`stage_figures`, the same calls as the stage (``scale_subject``
    with the static trial, ``write_scaled_model``, ``run_ik`` of ``motion.npz``'s markers with
    the demo config's settings). Returns the same figures per action (no ``at_bound``)."""
    from odahgen.config import load_config
    from odahgen.io.mocap import MarkerData
    from odahgen.motion import get_source
    from odahgen.skeleton import load_tree, run_ik, scale_subject, write_scaled_model

    cfg = load_config("demo", ["skeleton.ik_workers=1"])
    src = get_source("amass", path=str(folder))
    out = {}
    for action, f in figures.items():
        m = src.load(action)
        static = np.asarray(m.meta["static_markers"], np.float64)
        st = MarkerData(names=list(m.marker_names), positions=np.repeat(static[None], 10, axis=0),
                        fps=60.0, times=np.arange(10) / 60.0)
        generic = load_tree(cfg.skeleton.model)
        tree, scale = scale_subject(generic, st, source=f"{action} AMASS body", measurements=False)
        path = Path(f["trial"]) / "scaled_own_body.osim"
        write_scaled_model(cfg.skeleton.model, path, tree, scale, name="amass_body")
        mo = np.load(Path(f["trial"]) / "motion.npz")
        data = MarkerData(names=list(mo["marker_names"]), positions=mo["markers"], fps=float(mo["fps"]),
                          times=mo["times"])
        ik = run_ik(path, data, bony_flag_m=cfg.skeleton.bony_flag_m, workers=1)
        out[action] = {"frames": int(len(mo["times"])), "rms_mean_cm": float(100 * np.mean(ik.marker_rms)),
                       "max_cm": float(100 * np.max(ik.marker_max)),
                       "flagged_pct": float(100 * np.mean(ik.flagged))}
    return out
