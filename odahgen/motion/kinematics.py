"""Light-weight kinematics of the Rajagopal 2016 topology used by the motion sources.

Numbers are transcribed from Rajagopal2016.osim (opensim-models repository; Rajagopal et
al. 2016, IEEE TBME 63(10):2068-2079): coordinate ranges, joint offset frames and axes, and a
table of the walker knee's femur->tibia transform sampled from the model's coupled spline
functions. The product never reads the .osim file; tests compare this code with OpenSim.

Frames follow OpenSim: X forward, Y up, Z to the subject's right; lengths in metres.
Everything is vectorised over frames: rotations are (T, 3, 3), points (T, 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from odahgen.skeleton.names import BODY_NAMES, COORDINATE_NAMES

CI = {name: i for i, name in enumerate(COORDINATE_NAMES)}

_P2 = 1.5707963300000001
#: (min, max) of every coordinate as in Rajagopal2016.osim (rad; m for pelvis_t*).
#: The coupled knee_angle_*_beta are unbounded in the file; they mirror knee_angle_*.
COORDINATE_RANGES: dict[str, tuple[float, float]] = {
    "pelvis_tilt": (-_P2, _P2), "pelvis_list": (-_P2, _P2), "pelvis_rotation": (-_P2, _P2),
    "pelvis_tx": (-5.0, 5.0), "pelvis_ty": (-1.0, 2.0), "pelvis_tz": (-3.0, 3.0),
    **{f"{c}_{s}": r for s in "rl" for c, r in (
        ("hip_flexion", (-0.52359878, 2.0943951)), ("hip_adduction", (-0.87266463, 0.52359878)),
        ("hip_rotation", (-0.6981317, 0.6981317)), ("knee_angle", (0.0, 2.0944)),
        ("knee_angle_beta", (0.0, 2.0944)),
        ("ankle_angle", (-0.6981317, 0.52359878)), ("subtalar_angle", (-0.34906585, 0.34906585)),
        ("mtp_angle", (-0.52359878, 0.52359878)),
        ("arm_flex", (-_P2, _P2)), ("arm_add", (-2.0943951, _P2)), ("arm_rot", (-_P2, _P2)),
        ("elbow_flex", (0.0, 2.618)), ("pro_sup", (0.0, _P2)),
        ("wrist_flex", (-1.22173048, 1.22173048)), ("wrist_dev", (-0.43633231, 0.61086524)),
    )},
    "lumbar_extension": (-_P2, _P2), "lumbar_bending": (-_P2, _P2), "lumbar_rotation": (-_P2, _P2),
}
COORDINATE_RANGES = {k.replace("knee_angle_beta_r", "knee_angle_r_beta").replace("knee_angle_beta_l", "knee_angle_l_beta"): v
                     for k, v in COORDINATE_RANGES.items()}
assert set(COORDINATE_RANGES) == set(COORDINATE_NAMES)

#: rotation axes (in the parent-side joint frame) of the 3-axis CustomJoints, in order
#: rotation1, rotation2, rotation3 (body-fixed sequence), as in Rajagopal2016.osim, with the
#: sign of each axis' LinearFunction coefficient folded in (hip_l's are -1).
JOINT_AXES: dict[str, tuple[tuple[str, tuple[float, float, float]], ...]] = {
    "ground_pelvis": (("pelvis_tilt", (0, 0, 1)), ("pelvis_list", (1, 0, 0)), ("pelvis_rotation", (0, 1, 0))),
    "hip_r": (("hip_flexion_r", (0, 0, 1)), ("hip_adduction_r", (1, 0, 0)), ("hip_rotation_r", (0, 1, 0))),
    "hip_l": (("hip_flexion_l", (0, 0, 1)), ("hip_adduction_l", (-1, 0, 0)), ("hip_rotation_l", (0, -1, 0))),
    "back": (("lumbar_extension", (0, 0, 1)), ("lumbar_bending", (1, 0, 0)), ("lumbar_rotation", (0, 1, 0))),
    "acromial_r": (("arm_flex_r", (0, 0, 1)), ("arm_add_r", (1, 0, 0)), ("arm_rot_r", (0, 1, 0))),
    "acromial_l": (("arm_flex_l", (0, 0, 1)), ("arm_add_l", (-1, 0, 0)), ("arm_rot_l", (0, -1, 0))),
}

# Joint offset frames: (location in parent body, XYZ body-fixed orientation) — from the .osim.
HIP_OFFSET = {"r": (-0.056276, -0.07849, 0.07726), "l": (-0.056276, -0.07849, -0.07726)}
ANKLE = {"r": ((-0.01, -0.4, 0.0), (0.175895, -0.105208, 0.0186622)),
         "l": ((-0.01, -0.4, 0.0), (-0.175895, 0.105208, 0.0186622))}
SUBTALAR = {"r": ((-0.04877, -0.04195, 0.00792), (-1.76819, 0.906223, 1.8196)),
            "l": ((-0.04877, -0.04195, -0.00792), (1.76819, -0.906223, 1.8196))}
MTP = {"r": ((0.1788, -0.002, 0.00108), (-3.14159, 0.619901, 0.0)),
       "l": ((0.1788, -0.002, -0.00108), (-3.14159, -0.619901, 0.0))}
ELBOW = {"r": (-0.0228627, 0.228018, 0.0051689), "l": (0.0228627, -0.228018, 0.0051689)}
#: walker knee's parent offset frame in the femur (location, orientation): OpenSim scales the
#: knee's translation functions along this frame's axes by the femur's factors of the same index
KNEE_OFFSET = {"r": ((-0.00809, -0.40796, -0.00275), (-1.64157, 1.44618, 1.5708)),
               "l": ((-0.00809, -0.40796, 0.00275), (1.64157, -1.44618, 1.5708))}
RADIOULNAR = {"r": (-1.56884, 0.056428, 1.53614), "l": (1.56884, -0.056428, 1.53614)}

# femur_r -> tibia_r transform of the walker knee sampled every 10 deg of knee_angle_r:
# columns: knee angle (rad), tibia origin in femur (x, y, z) m, rotation vector (x, y, z) rad.
# Derived from the knee's SimmSpline functions in Rajagopal2016.osim (evaluated with OpenSim 4.6).
KNEE_TABLE = np.array([
    [0.0, -0.0, -0.404425, -0.001265, 0.0, 0.0, 0.0],
    [0.174533, 0.001479, -0.405335, -0.001677, 0.010461, 0.047507, -0.177907],
    [0.349067, 0.002593, -0.40644, -0.002004, 0.028246, 0.083832, -0.354275],
    [0.5236, 0.00335, -0.407666, -0.002256, 0.050436, 0.109645, -0.529411],
    [0.698133, 0.003758, -0.408945, -0.002444, 0.074703, 0.12598, -0.703684],
    [0.872667, 0.003833, -0.410216, -0.00258, 0.099321, 0.134093, -0.877444],
    [1.0472, 0.003593, -0.411418, -0.002673, 0.123157, 0.135319, -1.050971],
    [1.221733, 0.003065, -0.412496, -0.002733, 0.145647, 0.130923, -1.224439],
    [1.396267, 0.002277, -0.413397, -0.002769, 0.166751, 0.12195, -1.397906],
    [1.5708, 0.001265, -0.414076, -0.002788, 0.186894, 0.109072, -1.571312],
    [1.745333, 0.000069, -0.414491, -0.002799, 0.206877, 0.092439, -1.744489],
    [1.919867, -0.001266, -0.414612, -0.002805, 0.22777, 0.071501, -1.917172],
    [2.0944, -0.002695, -0.414413, -0.002812, 0.25076, 0.044849, -2.088998],
])

#: Foot sole contact points (body, location in body) used to keep feet on the ground:
#: heel and ball under the calcaneus, toe tip under the toes. With the model's default
#: pelvis height (0.94 m) the sole points of the default pose lie at y = 0.
CONTACT_POINTS = {
    s: (("calcn", (-0.01, -0.015, 0.0)), ("calcn", (0.17, -0.015, 0.0)), ("toes", (0.055, -0.013, 0.0)))
    for s in "rl"
}
DEFAULT_PELVIS_HEIGHT = 0.94  # m, default_value of pelvis_ty in Rajagopal2016.osim
#: Sum of the 22 body masses in Rajagopal2016.osim (kg).
MODEL_MASS_KG = 75.337


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
