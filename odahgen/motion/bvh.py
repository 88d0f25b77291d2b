"""The ``bvh`` source: BVH motion capture, rotations retargeted as for AMASS.

Assumptions (documented): the BVH rest pose is a T-pose, Y up, facing +Z (the common
convention of CMU-style and SMPL-exported BVH); joints are matched to SMPL joints by name
(:data:`NAME_MAP`, case-insensitive); unmatched joints count as identity. Positions are
scaled by ``scale`` (default: 0.01 when the root is more than 10 units high, i.e. cm).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.motion import kinematics as K
from odahgen.motion import retarget as RT
from odahgen.motion.base import FileMotionSource, Motion, uniform_times
from odahgen.skeleton.names import COORDINATE_NAMES

NAME_MAP = {  # BVH joint name (lower case) -> SMPL joint
    "hips": "pelvis", "pelvis": "pelvis", "root": "pelvis",
    "leftupleg": "left_hip", "lefthip": "left_hip", "l_hip": "left_hip", "lthigh": "left_hip",
    "rightupleg": "right_hip", "righthip": "right_hip", "r_hip": "right_hip", "rthigh": "right_hip",
    "leftleg": "left_knee", "leftknee": "left_knee", "l_knee": "left_knee", "lshin": "left_knee",
    "rightleg": "right_knee", "rightknee": "right_knee", "r_knee": "right_knee", "rshin": "right_knee",
    "leftfoot": "left_ankle", "leftankle": "left_ankle", "l_ankle": "left_ankle",
    "rightfoot": "right_ankle", "rightankle": "right_ankle", "r_ankle": "right_ankle",
    "spine": "spine1", "spine1": "spine2", "spine2": "spine3", "spine3": "spine3", "chest": "spine2",
    "leftshoulder": "left_collar", "leftcollar": "left_collar", "l_collar": "left_collar",
    "rightshoulder": "right_collar", "rightcollar": "right_collar", "r_collar": "right_collar",
    "leftarm": "left_shoulder", "l_shoulder": "left_shoulder",
    "rightarm": "right_shoulder", "r_shoulder": "right_shoulder",
    "leftforearm": "left_elbow", "leftelbow": "left_elbow", "l_elbow": "left_elbow",
    "rightforearm": "right_elbow", "rightelbow": "right_elbow", "r_elbow": "right_elbow",
}


def read_bvh(path: Path) -> dict:
    """Parse a BVH file: joints [(name, parent, channels)], frames (T, C), frame time (s)."""
    text = Path(path).read_text(errors="replace").split()
    if not text or text[0].upper() != "HIERARCHY":
        raise OdahgenError(f"{path}: not a BVH file (no HIERARCHY)")
    joints, stack, i = [], [], 1
    try:
        while text[i].upper() != "MOTION":
            tok = text[i].upper()
            if tok in ("ROOT", "JOINT"):
                joints.append([text[i + 1], stack[-1] if stack else -1, []])
                i += 2
            elif tok == "END":  # End Site
                joints.append(["_end", stack[-1], []])
                i += 2
            elif tok == "{":
                stack.append(len(joints) - 1)
                i += 1
            elif tok == "}":
                stack.pop()
                i += 1
            elif tok == "OFFSET":
                i += 4
            elif tok == "CHANNELS":
                n = int(text[i + 1])
                joints[-1][2] = text[i + 2:i + 2 + n]
                i += 2 + n
            else:
                i += 1
        n_frames = int(text[i + 2])
        frame_time = float(text[i + 5])
        vals = np.array(text[i + 6:], dtype=np.float64)
    except (IndexError, ValueError) as err:
        raise OdahgenError(f"{path}: malformed BVH ({type(err).__name__}: {err})") from None
    n_ch = sum(len(j[2]) for j in joints)
    if n_frames <= 0:
        raise OdahgenError(f"{path}: zero frames")
    if n_ch == 0 or vals.size != n_frames * n_ch:
        raise OdahgenError(f"{path}: {vals.size} motion values, expected {n_frames} frames x {n_ch} channels (truncated?)")
    if not np.isfinite(vals).all() or frame_time <= 0:
        raise OdahgenError(f"{path}: NaN values or invalid frame time")
    return {"joints": [tuple(j) for j in joints], "frames": vals.reshape(n_frames, n_ch), "frame_time": frame_time}


def bvh_to_smpl(bvh: dict, scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """BVH channels -> (poses (T, 66) SMPL body axis-angle, trans (T, 3) m), Y-up."""
    frames = bvh["frames"]
    T = len(frames)
    R = np.tile(np.eye(3), (T, 22, 1, 1))
    trans = np.zeros((T, 3))
    col = 0
    for name, _parent, chans in bvh["joints"]:
        Rj = np.tile(np.eye(3), (T, 1, 1))
        for ch in chans:
            v = frames[:, col]
            col += 1
            c = ch.lower()
            if c.endswith("rotation"):
                axis = {"x": (1, 0, 0), "y": (0, 1, 0), "z": (0, 0, 1)}[c[0]]
                Rj = Rj @ K.axis_rot(axis, np.radians(v))
            elif c.endswith("position") and NAME_MAP.get(name.lower()) == "pelvis":
                trans[:, "xyz".index(c[0])] = v
        smpl = NAME_MAP.get(name.lower())
        if smpl is not None:
            R[:, RT.J[smpl]] = Rj
    if scale is None:
        scale = 0.01 if np.abs(trans[:, 1]).max() > 10 else 1.0
    return K.matrix_to_rotvec(R).reshape(T, 66), trans * scale


def write_bvh(path, poses: np.ndarray, trans: np.ndarray, fps: float) -> Path:
    """Write SMPL body poses (T, >=66 axis-angle, Y up) as a BVH with SMPL joint names (ZXY
    Euler channels, degrees, cm). Offsets are nominal; used by the round-trip test."""
    from scipy.spatial.transform import Rotation  # noqa: PLC0415

    names = {"pelvis": "Hips", "left_hip": "LeftUpLeg", "right_hip": "RightUpLeg", "left_knee": "LeftLeg",
             "right_knee": "RightLeg", "left_ankle": "LeftFoot", "right_ankle": "RightFoot",
             "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "left_collar": "LeftShoulder",
             "right_collar": "RightShoulder", "left_shoulder": "LeftArm", "right_shoulder": "RightArm",
             "left_elbow": "LeftForeArm", "right_elbow": "RightForeArm"}
    parent = {"left_hip": "pelvis", "right_hip": "pelvis", "left_knee": "left_hip", "right_knee": "right_hip",
              "left_ankle": "left_knee", "right_ankle": "right_knee", "spine1": "pelvis", "spine2": "spine1",
              "spine3": "spine2", "left_collar": "spine3", "right_collar": "spine3", "left_shoulder": "left_collar",
              "right_shoulder": "right_collar", "left_elbow": "left_shoulder", "right_elbow": "right_shoulder"}
    order = ["pelvis"]
    lines = ["HIERARCHY"]

    def emit(j, depth):
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if j == 'pelvis' else 'JOINT'} {names[j]}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET 0.0 {-10.0 if j != 'pelvis' else 0.0} 0.0")
        ch = "6 Xposition Yposition Zposition" if j == "pelvis" else "3"
        lines.append(f"{pad}  CHANNELS {ch} Zrotation Xrotation Yrotation")
        kids = [k for k, p in parent.items() if p == j]
        for k in kids:
            order.append(k)
            emit(k, depth + 1)
        if not kids:
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0.0 -5.0 0.0", pad + "  }"])
        lines.append(pad + "}")

    emit("pelvis", 0)
    T = len(poses)
    cols = [np.asarray(trans, float) * 100.0]
    for j in order:
        aa = np.asarray(poses, float)[:, 3 * RT.J[j]:3 * RT.J[j] + 3]
        cols.append(Rotation.from_rotvec(aa).as_euler("ZXY", degrees=True))
    data = np.concatenate(cols, axis=1)
    lines += ["MOTION", f"Frames: {T}", f"Frame Time: {1.0 / fps:.8f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in data]
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


class BVHSource(FileMotionSource):
    """BVH files retargeted onto the Rajagopal coordinates. Options: ``scale`` (units to m)."""

    name = "bvh"
    description = "BVH motion capture, rotations retargeted onto the Rajagopal coordinates"
    extensions = (".bvh",)

    def __init__(self, path=None, scale: float | None = None, face_forward: bool = True, **options):
        super().__init__(path=path, **options)
        self.scale, self.face_forward = scale, bool(face_forward)

    def load_file(self, path: Path, motion_id: str) -> Motion:
        bvh = read_bvh(path)
        poses, trans = bvh_to_smpl(bvh, self.scale)
        coords = RT.smpl_to_coordinates(poses, trans, world="yup")
        if self.face_forward:
            coords = RT.face_forward(coords)
        coords = RT.ground_feet(coords)
        fps = 1.0 / bvh["frame_time"]
        return Motion(id=motion_id, source=self.name, fps=fps, times=uniform_times(len(coords), fps),
                      coordinates=coords, coordinate_names=COORDINATE_NAMES, path=str(path))
