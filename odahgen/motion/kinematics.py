"""Light-weight kinematics of the Rajagopal 2016 topology used by the motion sources.

The model's numbers come from :mod:`odahgen.skeleton.rajagopal` (the data the built-in
OpenSim model is built from, generated from Rajagopal2016.osim: opensim-models repository;
Rajagopal et al. 2016, IEEE TBME 63(10):2068-2079): coordinate ranges, joint offset frames
and axes, and a table of the walker knee's femur->tibia transform sampled from the model's
coupled spline functions. Only the foot sole contact points are odahgen's own. The product
never reads the .osim file; tests compare this code with OpenSim.

Frames follow OpenSim: X forward, Y up, Z to the subject's right; lengths in metres.
Everything is vectorised over frames: rotations are (T, 3, 3), points (T, 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from odahgen.skeleton import rajagopal as _raj
from odahgen.skeleton.names import BODY_NAMES, COORDINATE_NAMES

CI = {name: i for i, name in enumerate(COORDINATE_NAMES)}


def _range(name: str) -> tuple[float, float]:
    # the coupled knee_angle_*_beta are unbounded in the model; they mirror knee_angle_*
    lo, hi = _raj.COORDINATE[name.replace("_beta", "")]["range"]
    return (lo, hi)


#: (min, max) of every coordinate as in Rajagopal2016.osim (rad; m for pelvis_t*).
#: The coupled knee_angle_*_beta are unbounded in the file; they mirror knee_angle_*.
COORDINATE_RANGES: dict[str, tuple[float, float]] = {n: _range(n) for n in COORDINATE_NAMES}


def _rotation_axes(joint: str) -> tuple[tuple[str, tuple[float, float, float]], ...]:
    out = []
    for ta in _raj.JOINT[joint]["spatial_transform"][:3]:
        kind, (slope, intercept) = ta["function"]
        if kind != "linear" or abs(slope) != 1.0 or intercept != 0.0:
            raise ValueError(f"{joint} {ta['name']}: expected a +-1 x LinearFunction, got {ta['function']}")
        out.append((ta["coordinates"][0], tuple(slope * a + 0.0 for a in ta["axis"])))  # + 0.0: no -0.0
    return tuple(out)


#: rotation axes (in the parent-side joint frame) of the 3-axis CustomJoints, in order
#: rotation1, rotation2, rotation3 (body-fixed sequence), as in Rajagopal2016.osim, with the
#: sign of each axis' LinearFunction coefficient folded in (hip_l's are -1).
JOINT_AXES: dict[str, tuple[tuple[str, tuple[float, float, float]], ...]] = {
    j: _rotation_axes(j) for j in ("ground_pelvis", "hip_r", "hip_l", "back", "acromial_r", "acromial_l")}


def _offset(joint: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(location in the parent body m, XYZ body-fixed orientation rad) of a joint's parent frame."""
    j = _raj.JOINT[joint]
    return j["parent_translation"], j["parent_orientation"]


# Joint offset frames: (location in parent body, XYZ body-fixed orientation) -- from the .osim.
# The pin joints' child frames share their parent frame's orientation (and sit at the child
# body's origin), so one orientation describes each of them.
HIP_OFFSET = {s: _offset(f"hip_{s}")[0] for s in "rl"}
ANKLE = {s: _offset(f"ankle_{s}") for s in "rl"}
SUBTALAR = {s: _offset(f"subtalar_{s}") for s in "rl"}
MTP = {s: _offset(f"mtp_{s}") for s in "rl"}
ELBOW = {s: _offset(f"elbow_{s}")[1] for s in "rl"}
#: walker knee's parent offset frame in the femur (location, orientation): OpenSim scales the
#: knee's translation functions along this frame's axes by the femur's factors of the same index
KNEE_OFFSET = {s: _offset(f"walker_knee_{s}") for s in "rl"}
RADIOULNAR = {s: _offset(f"radioulnar_{s}")[1] for s in "rl"}


def _knee_table() -> np.ndarray:
    from scipy.spatial.transform import Rotation  # noqa: PLC0415

    angle = np.linspace(*COORDINATE_RANGES["knee_angle_r"], 13)
    R, p = _raj.joint_transform("walker_knee_r", {"knee_angle_r": angle})
    return np.round(np.column_stack([angle, p, Rotation.from_matrix(R).as_rotvec()]), 6)


#: femur_r -> tibia_r transform of the walker knee at 13 knee angles over its range (every
#: ~10 deg): columns knee angle (rad), tibia origin in the femur (x, y, z) m, rotation
#: vector (x, y, z) rad; :func:`knee_transform` interpolates it linearly. Evaluated from the
#: knee's SimmSpline functions (:func:`odahgen.skeleton.rajagopal.joint_transform`, equal to
#: OpenSim 4.6's evaluation to 1e-18) and rounded to 1e-6 as the table was first transcribed,
#: so that the generated motions stay bit-identical to earlier versions (unrounded, the
#: table moves by <= 5e-7, far below its interpolation error, yet jump_vertical's replant
#: on a scaled subject changes by up to 3.5 deg in two frames).
KNEE_TABLE = _knee_table()

#: Foot sole contact points (body, location in body) used to keep feet on the ground:
#: heel and ball under the calcaneus, toe tip under the toes. With the model's default
#: pelvis height (0.94 m) the sole points of the default pose lie at y = 0.
CONTACT_POINTS = {
    s: (("calcn", (-0.01, -0.015, 0.0)), ("calcn", (0.17, -0.015, 0.0)), ("toes", (0.055, -0.013, 0.0)))
    for s in "rl"
}
DEFAULT_PELVIS_HEIGHT = _raj.COORDINATE["pelvis_ty"]["default"]  # m (0.94)
#: Sum of the 22 body masses in Rajagopal2016.osim (kg).
MODEL_MASS_KG = _raj.MODEL_MASS_KG


# ---------------------------------------------------------------------------------------
# rotations
def axis_rot(axis, angle) -> np.ndarray:
    """Rotation matrices (T, 3, 3) about a fixed unit ``axis`` (3,) by ``angle`` (T,) rad."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    th = np.atleast_1d(np.asarray(angle, dtype=np.float64))
    c, s = np.cos(th)[:, None, None], np.sin(th)[:, None, None]
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + s * K + (1 - c) * (K @ K)


def xyz_body_fixed(rx: float, ry: float, rz: float) -> np.ndarray:
    """(3, 3) rotation of an OpenSim offset-frame orientation (body-fixed X-Y-Z)."""
    return axis_rot((1, 0, 0), rx)[0] @ axis_rot((0, 1, 0), ry)[0] @ axis_rot((0, 0, 1), rz)[0]


def rotvec_to_matrix(rv: np.ndarray) -> np.ndarray:
    """(..., 3) rotation vectors -> (..., 3, 3) matrices."""
    rv = np.asarray(rv, dtype=np.float64)
    th = np.linalg.norm(rv, axis=-1)[..., None, None]
    safe = np.where(th > 1e-12, th, 1.0)
    k = rv / safe[..., 0]
    K = np.zeros(rv.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
    K[..., 1, 0], K[..., 2, 0], K[..., 2, 1] = k[..., 2], -k[..., 1], k[..., 0]
    R = np.eye(3) + np.sin(th) * K + (1 - np.cos(th)) * (K @ K)
    return np.where(th > 1e-12, R, np.eye(3))


def matrix_to_rotvec(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) rotation vectors (angle in [0, pi])."""
    from scipy.spatial.transform import Rotation  # noqa: PLC0415

    shp = R.shape[:-2]
    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_rotvec().reshape(shp + (3,))


def joint_rotation(joint: str, q: dict[str, np.ndarray]) -> np.ndarray:
    """(T, 3, 3) rotation of a 3-axis CustomJoint from its coordinate values (rad)."""
    R = None
    for name, axis in JOINT_AXES[joint]:
        Ri = axis_rot(axis, q[name])
        R = Ri if R is None else R @ Ri
    return R


def decompose_joint(joint: str, R: np.ndarray) -> dict[str, np.ndarray]:
    """Inverse of :func:`joint_rotation`: (T, 3, 3) -> coordinate values (T,) rad.

    All 3-axis joints of the model rotate about +-Z, then +-X, then +-Y (body-fixed), so
    ``R = Rz(a) Rx(b) Ry(c)`` gives ``b = asin(R21)``, ``a = atan2(-R01, R11)``,
    ``c = atan2(-R20, R22)``; axis signs flip the coordinate.
    """
    R = np.asarray(R)
    b = np.arcsin(np.clip(R[:, 2, 1], -1.0, 1.0))
    a = np.arctan2(-R[:, 0, 1], R[:, 1, 1])
    c = np.arctan2(-R[:, 2, 0], R[:, 2, 2])
    # the other Euler solution (a + pi, pi - b, c + pi); keep per frame the one that fits the
    # coordinate ranges best (e.g. arm abduction beyond 90 deg), then the smaller a, c
    alt = (_wrap(a + np.pi), _wrap(np.pi - b), _wrap(c + np.pi))
    names = [n for n, _ in JOINT_AXES[joint]]
    signs = [float(sum(axis)) for _, axis in JOINT_AXES[joint]]

    def cost(vals):
        total = 1e-3 * (np.abs(vals[0]) + np.abs(vals[2]))
        for n, sg, v in zip(names, signs, vals):
            lo, hi = COORDINATE_RANGES[n]
            total = total + np.maximum(0, lo - sg * v) + np.maximum(0, sg * v - hi)
        return total

    use_alt = cost(alt) < cost((a, b, c))
    sol = [np.where(use_alt, x2, x1) for x1, x2 in zip((a, b, c), alt)]
    return {n: v * sg for n, sg, v in zip(names, signs, sol)}


def _wrap(x: np.ndarray) -> np.ndarray:
    """Angles wrapped to (-pi, pi]."""
    return -(np.mod(-x + np.pi, 2 * np.pi) - np.pi)


def twist_angle(R: np.ndarray, axis) -> np.ndarray:
    """(T,) angle of the twist of rotations R (T, 3, 3) about ``axis`` (swing-twist split)."""
    from scipy.spatial.transform import Rotation  # noqa: PLC0415

    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    q = Rotation.from_matrix(R).as_quat()  # x, y, z, w
    proj = q[:, :3] @ a
    return _wrap(2.0 * np.arctan2(proj, q[:, 3]))


def knee_transform(side: str, angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """femur -> tibia rotation (T, 3, 3) and tibia origin in the femur (T, 3) for the knee angle (T,)."""
    angle = np.clip(np.atleast_1d(angle), KNEE_TABLE[0, 0], KNEE_TABLE[-1, 0])
    cols = [np.interp(angle, KNEE_TABLE[:, 0], KNEE_TABLE[:, k]) for k in range(1, 7)]
    p = np.stack(cols[:3], axis=1)
    rv = np.stack(cols[3:], axis=1)
    if side == "l":  # mirror through the sagittal (XY) plane
        p = p * np.array([1.0, 1.0, -1.0])
        rv = rv * np.array([-1.0, -1.0, 1.0])
    return rotvec_to_matrix(rv), p


def pin_axis(orientation) -> np.ndarray:
    """Unit axis (3,) in the parent body of a PinJoint with the given frame orientation."""
    return xyz_body_fixed(*orientation) @ np.array([0.0, 0.0, 1.0])


def pelvis_rotation(q: dict[str, np.ndarray]) -> np.ndarray:
    return joint_rotation("ground_pelvis", q)


@dataclass(frozen=True)
class LegGeometry:
    """The leg dimensions :func:`foot_points` uses, for one subject: per side the hip centre
    in the pelvis, the scale (3,) of the knee's femur->tibia translation (the femur's: OpenSim
    scales a joint's translation functions with its parent body, see
    :func:`_scaled_knee_offset`), the ankle, subtalar and
    mtp joint locations in their parent bodies and the sole points in the calcaneus/toes
    (all (3,) m). :func:`leg_geometry` builds it from segment scales."""

    hip: dict
    knee_scale: dict
    ankle: dict
    subtalar: dict
    mtp: dict
    contacts: dict


def leg_geometry(scales: np.ndarray | None = None) -> LegGeometry:
    """:class:`LegGeometry` of the generic model scaled per body by ``scales`` (22, 3) in
    ``odahgen.skeleton.names.BODY_NAMES`` order (as
    ``odahgen.skeleton.fk.segment_scales`` returns them); None = the generic model. As
    OpenSim scales a body, each joint location and point fixed in a body is multiplied by
    that body's factors."""
    S = np.ones((len(BODY_NAMES), 3)) if scales is None else np.asarray(scales, dtype=np.float64)
    if S.shape != (len(BODY_NAMES), 3):
        raise ValueError(f"segment scales must be ({len(BODY_NAMES)}, 3), got {S.shape}")
    sc = {b: S[i] for i, b in enumerate(BODY_NAMES)}
    g: dict[str, dict] = {k: {} for k in ("hip", "knee_scale", "ankle", "subtalar", "mtp", "contacts")}
    for s in "rl":
        g["hip"][s] = np.array(HIP_OFFSET[s]) * sc["pelvis"]
        g["knee_scale"][s] = sc[f"femur_{s}"].copy()
        g["ankle"][s] = np.array(ANKLE[s][0]) * sc[f"tibia_{s}"]
        g["subtalar"][s] = np.array(SUBTALAR[s][0]) * sc[f"talus_{s}"]
        g["mtp"][s] = np.array(MTP[s][0]) * sc[f"calcn_{s}"]
        g["contacts"][s] = tuple((b, np.array(off) * sc[f"{b}_{s}"]) for b, off in CONTACT_POINTS[s])
    return LegGeometry(**g)


GENERIC = leg_geometry()


def foot_points(q: dict[str, np.ndarray], side: str, R_pelvis: np.ndarray | None = None,
                geom: LegGeometry | None = None) -> np.ndarray:
    """Foot contact points relative to the pelvis origin, in ground axes: (T, 3, 3) m
    (heel, ball, toe). ``q`` maps coordinate names to (T,) values (missing = 0); ``geom``
    the subject's leg dimensions (default: the generic model)."""
    geom = GENERIC if geom is None else geom
    T = len(next(iter(q.values())))
    z = np.zeros(T)
    g = lambda n: np.asarray(q.get(n, z), dtype=np.float64)  # noqa: E731
    Rp = pelvis_rotation({n: g(n) for n in ("pelvis_tilt", "pelvis_list", "pelvis_rotation")}) if R_pelvis is None else R_pelvis
    Rh = joint_rotation(f"hip_{side}", {n: g(n) for n, _ in JOINT_AXES[f"hip_{side}"]})
    R_fem = Rp @ Rh
    p_fem = np.einsum("tij,j->ti", Rp, geom.hip[side])
    Rk, pk = knee_transform(side, g(f"knee_angle_{side}"))
    R_tib = R_fem @ Rk
    p_tib = p_fem + np.einsum("tij,tj->ti", R_fem, _scaled_knee_offset(side, pk, geom.knee_scale[side]))
    R_tal = R_tib @ _pin(ANKLE[side][1], g(f"ankle_angle_{side}"))
    p_tal = p_tib + np.einsum("tij,j->ti", R_tib, geom.ankle[side])
    R_cal = R_tal @ _pin(SUBTALAR[side][1], g(f"subtalar_angle_{side}"))
    p_cal = p_tal + np.einsum("tij,j->ti", R_tal, geom.subtalar[side])
    R_toe = R_cal @ _pin(MTP[side][1], g(f"mtp_angle_{side}"))
    p_toe = p_cal + np.einsum("tij,j->ti", R_cal, geom.mtp[side])
    frames = {"calcn": (R_cal, p_cal), "toes": (R_toe, p_toe)}
    pts = [frames[b][1] + np.einsum("tij,j->ti", frames[b][0], off) for b, off in geom.contacts[side]]
    return np.stack(pts, axis=1)


def _scaled_knee_offset(side: str, pk: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Tibia origin in the femur (T, 3) m of a femur scaled by ``s`` (3,), from the generic
    one ``pk`` (T, 3): as OpenSim scales a CustomJoint, the offset frame location is
    multiplied by ``s`` and the translation along the frame's k-th axis by ``s[k]``."""
    if np.all(s == 1.0):
        return pk
    t0 = np.array(KNEE_OFFSET[side][0])
    F = xyz_body_fixed(*KNEE_OFFSET[side][1])
    return t0 * s + ((pk - t0) @ F * s) @ F.T


def _pin(orientation, angle) -> np.ndarray:
    """Rotation (T, 3, 3) of a PinJoint whose parent and child frames share ``orientation``."""
    F = xyz_body_fixed(*orientation)
    return F @ axis_rot((0, 0, 1), angle) @ F.T


def coordinates_dict(values: np.ndarray, names=COORDINATE_NAMES) -> dict[str, np.ndarray]:
    """(T, C) array -> {name: (T,)}."""
    return {n: values[:, i] for i, n in enumerate(names)}


def clip_to_ranges(values: np.ndarray, margin: float = math.radians(0.5)) -> np.ndarray:
    """Clamp (T, 39) coordinates into :data:`COORDINATE_RANGES` shrunk by ``margin`` (rotations only)."""
    out = values.copy()
    for i, n in enumerate(COORDINATE_NAMES):
        if n.startswith("pelvis_"):
            continue
        lo, hi = COORDINATE_RANGES[n]
        out[:, i] = np.clip(out[:, i], lo + margin if lo != 0.0 else lo, hi - margin)
    return out
