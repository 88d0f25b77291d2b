"""Rotation-based retargeting between SMPL-family joint rotations and Rajagopal coordinates.

SMPL-H and SMPL-X share their first 22 body joints (pelvis, hips, spine, knees, ankles,
feet, neck, collars, head, shoulders, elbows, wrists); only those are used. Each SMPL joint's
local rotation is rewritten in OpenSim body axes (:data:`SMPL_FROM_OPENSIM`) and decomposed
on the axes of the corresponding Rajagopal joint: hip/lumbar/shoulder = Z-X-Y body-fixed
(flexion, adduction, rotation), knee/ankle/elbow = twist about the joint's pin axis. The
SMPL rest pose is a T-pose, OpenSim's default has the arms down: the shoulders carry the
fixed offset :data:`T_POSE_ARM`. Wrist, forearm rotation, subtalar and mtp stay 0.

:data:`ZUP_TO_OPENSIM` is the one place where AMASS's Z-up world is turned into OpenSim's
Y-up ground.
"""

from __future__ import annotations

import numpy as np

from odahgen.motion import kinematics as K
from odahgen.skeleton.names import COORDINATE_NAMES

#: AMASS world (Z up) -> OpenSim ground (Y up): a -90 deg rotation about X. THE conversion.
ZUP_TO_OPENSIM = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
#: OpenSim body axes (X forward, Y up, Z right) -> SMPL body axes (X left, Y up, Z forward).
SMPL_FROM_OPENSIM = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
#: SMPL's canonical (Y-up, facing +Z) world -> OpenSim ground (facing +X).
YUP_TO_OPENSIM = SMPL_FROM_OPENSIM.T

SMPL_JOINTS = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
               "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
               "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
               "left_elbow", "right_elbow", "left_wrist", "right_wrist")
J = {n: i for i, n in enumerate(SMPL_JOINTS)}
SIDE = {"r": "right", "l": "left"}
#: humerus orientation (in the torso) of the SMPL T-pose: arm abducted 90 deg.
T_POSE_ARM = {"r": K.axis_rot((1, 0, 0), -np.pi / 2)[0], "l": K.axis_rot((1, 0, 0), np.pi / 2)[0]}


def _to_os(R: np.ndarray) -> np.ndarray:
    """SMPL-axes rotation (T, 3, 3) -> the same rotation in OpenSim body axes."""
    M = SMPL_FROM_OPENSIM
    return M.T @ R @ M


def _to_smpl(R: np.ndarray) -> np.ndarray:
    M = SMPL_FROM_OPENSIM
    return M @ R @ M.T


def smpl_to_coordinates(poses: np.ndarray, trans: np.ndarray, world: str = "zup") -> np.ndarray:
    """SMPL-family pose parameters -> (T, 39) Rajagopal coordinates (rad; pelvis_t* in m).

    Args:
        poses: (T, 3*J) axis-angle, J >= 22 (SMPL-H 52, SMPL-X 55); joint 0 is the global
            root orientation.
        trans: (T, 3) root translation (m) in the data's world frame.
        world: ``"zup"`` (AMASS) or ``"yup"`` (SMPL canonical, facing +Z).

    pelvis_t* is the SMPL root translation in the OpenSim frame; callers re-ground it.
    """
    poses = np.asarray(poses, dtype=np.float64)
    T = poses.shape[0]
    R = K.rotvec_to_matrix(poses[:, :66].reshape(T, 22, 3))  # (T, 22, 3, 3)
    Wm = ZUP_TO_OPENSIM if world == "zup" else YUP_TO_OPENSIM
    out: dict[str, np.ndarray] = {}
    Rp = Wm @ R[:, 0] @ SMPL_FROM_OPENSIM
    out.update(K.decompose_joint("ground_pelvis", Rp))
    p = np.asarray(trans, dtype=np.float64) @ Wm.T
    out["pelvis_tx"], out["pelvis_ty"], out["pelvis_tz"] = p[:, 0], p[:, 1], p[:, 2]
    for s in "rl":
        side = SIDE[s]
        out.update(K.decompose_joint(f"hip_{s}", _to_os(R[:, J[f"{side}_hip"]])))
        out[f"knee_angle_{s}"] = -K.twist_angle(_to_os(R[:, J[f"{side}_knee"]]), (0, 0, 1))
        out[f"knee_angle_{s}_beta"] = out[f"knee_angle_{s}"]
        out[f"ankle_angle_{s}"] = K.twist_angle(_to_os(R[:, J[f"{side}_ankle"]]), K.pin_axis(K.ANKLE[s][1]))
        C = T_POSE_ARM[s]
        Rh = _to_os(R[:, J[f"{side}_collar"]] @ R[:, J[f"{side}_shoulder"]]) @ C
        out.update(K.decompose_joint(f"acromial_{s}", Rh))
        Re = C.T @ _to_os(R[:, J[f"{side}_elbow"]]) @ C
        out[f"elbow_flex_{s}"] = K.twist_angle(Re, K.pin_axis(K.ELBOW[s]))
    spine = R[:, J["spine1"]] @ R[:, J["spine2"]] @ R[:, J["spine3"]]
    out.update(K.decompose_joint("back", _to_os(spine)))
    z = np.zeros(T)
    return np.stack([out.get(n, z) for n in COORDINATE_NAMES], axis=1)


def coordinates_to_smpl(coords: np.ndarray, n_joints: int = 52, world: str = "zup") -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`smpl_to_coordinates` for the joints it maps: (T, 39) ->
    (poses (T, 3*n_joints), trans (T, 3)). Spine rotation goes to spine1, shoulder rotation
    to the shoulder joint (collars 0); unmapped joints are 0."""
    coords = np.asarray(coords, dtype=np.float64)
    T = len(coords)
    q = K.coordinates_dict(coords)
    R = np.tile(np.eye(3), (T, n_joints, 1, 1))
    Wm = ZUP_TO_OPENSIM if world == "zup" else YUP_TO_OPENSIM
    R[:, 0] = Wm.T @ K.joint_rotation("ground_pelvis", q) @ SMPL_FROM_OPENSIM.T
    for s in "rl":
        side = SIDE[s]
        R[:, J[f"{side}_hip"]] = _to_smpl(K.joint_rotation(f"hip_{s}", q))
        R[:, J[f"{side}_knee"]] = _to_smpl(K.axis_rot((0, 0, 1), -q[f"knee_angle_{s}"]))
        R[:, J[f"{side}_ankle"]] = _to_smpl(K.axis_rot(K.pin_axis(K.ANKLE[s][1]), q[f"ankle_angle_{s}"]))
        C = T_POSE_ARM[s]
        R[:, J[f"{side}_shoulder"]] = _to_smpl(K.joint_rotation(f"acromial_{s}", q) @ C.T)
        R[:, J[f"{side}_elbow"]] = _to_smpl(C @ K.axis_rot(K.pin_axis(K.ELBOW[s]), q[f"elbow_flex_{s}"]) @ C.T)
    R[:, J["spine1"]] = _to_smpl(K.joint_rotation("back", q))
    poses = K.matrix_to_rotvec(R).reshape(T, n_joints * 3)
    trans = np.stack([q["pelvis_tx"], q["pelvis_ty"], q["pelvis_tz"]], axis=1) @ Wm
    return poses, trans


def face_forward(coords: np.ndarray) -> np.ndarray:
    """Rotate a whole motion about the vertical so the pelvis faces +X at frame 0 and starts
    at x = z = 0 (pelvis_rotation(0) = 0, unwrapped over time). Returns a new array."""
    out = coords.copy()
    q = K.coordinates_dict(out)
    Rp = K.joint_rotation("ground_pelvis", q)
    fwd = Rp[0] @ np.array([1.0, 0.0, 0.0])
    yaw = np.arctan2(-fwd[2], fwd[0])  # heading about +Y
    Ry = K.axis_rot((0, 1, 0), -yaw)[0]
    dec = K.decompose_joint("ground_pelvis", Ry @ Rp)
    for n, v in dec.items():
        out[:, K.CI[n]] = np.unwrap(v) if n == "pelvis_rotation" else v
    idx = [K.CI["pelvis_tx"], K.CI["pelvis_ty"], K.CI["pelvis_tz"]]
    p = out[:, idx] @ Ry.T
    p[:, 0] -= p[0, 0]
    p[:, 2] -= p[0, 2]
    out[:, idx] = p
    return out


def yaw_to_x(forward: np.ndarray) -> np.ndarray:
    """(3, 3) rotation about +Y (OpenSim up) turning the horizontal part of ``forward`` (3,)
    onto +X."""
    f = np.asarray(forward, np.float64)
    yaw = np.arctan2(-f[2], f[0])  # heading about +Y
    return K.axis_rot((0, 1, 0), -yaw)[0]


def heading_rotation(poses: np.ndarray, world: str = "zup") -> np.ndarray:
    """(3, 3) rotation about +Y that turns the SMPL root of ``poses[0]`` (axis-angle, root
    first) to face +X in the OpenSim frame (:data:`ZUP_TO_OPENSIM` / :data:`YUP_TO_OPENSIM`)."""
    Wm = ZUP_TO_OPENSIM if world == "zup" else YUP_TO_OPENSIM
    R0 = K.rotvec_to_matrix(np.asarray(poses, np.float64)[0, :3])
    return yaw_to_x(Wm @ R0 @ SMPL_FROM_OPENSIM @ np.array([1.0, 0.0, 0.0]))


def ground_feet(coords: np.ndarray, quantile: float = 0.02) -> np.ndarray:
    """Shift pelvis_ty so the lowest foot sole points (the ``quantile`` of per-frame minima)
    sit at y = 0; returns a new array."""
    out = coords.copy()
    q = K.coordinates_dict(out)
    Rp = K.pelvis_rotation(q)
    pts = np.concatenate([K.foot_points(q, "r", Rp), K.foot_points(q, "l", Rp)], axis=1)
    low = pts[:, :, 1].min(axis=1) + out[:, K.CI["pelvis_ty"]]
    out[:, K.CI["pelvis_ty"]] -= float(np.quantile(low, quantile))
    return out
