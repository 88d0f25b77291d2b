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
    """Parse a BVH file: joints [(name, parent, channels)], frames (T, C), frame time (s).

    Every problem is a one-line OdahgenError naming the file: a file that ends early says
    ``truncated`` and where (inside the hierarchy, before the frame count or frame time, or
    how many of the expected motion values are there); a malformed one names the token."""
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace").split()
    except OSError as err:
        raise OdahgenError(f"{path}: cannot read: {err.strerror}") from None
    if not text:
        raise OdahgenError(f"{path}: empty file, not a BVH")
    if text[0].upper() != "HIERARCHY":
        raise OdahgenError(f"{path}: not a BVH file (no HIERARCHY)")

    def need(i: int, where: str) -> None:
        if i >= len(text):
            raise OdahgenError(f"{path}: truncated: the file ends {where}")

    def bad(msg: str) -> OdahgenError:
        return OdahgenError(f"{path}: malformed BVH: {msg}")

    joints: list[list] = []
    stack: list[int] = []
    i = 1
    while True:
        need(i, "inside the HIERARCHY section (no MOTION section)")
        tok = text[i].upper()
        if tok == "MOTION":
            break
        if tok in ("ROOT", "JOINT"):
            need(i + 1, f"after {text[i]} (no joint name)")
            if tok == "JOINT" and not stack:
                raise bad(f"JOINT {text[i + 1]} outside any joint's braces")
            joints.append([text[i + 1], stack[-1] if stack else -1, []])
            need(i + 2, f"after {text[i]} {text[i + 1]}")
            if text[i + 2] != "{":
                raise bad(f"expected '{{' after {text[i]} {text[i + 1]}, got {text[i + 2]!r}")
            i += 2
        elif tok == "END":  # End Site
            if not stack:
                raise bad("End Site outside any joint's braces")
            joints.append(["_end", stack[-1], []])
            i += 2
        elif tok == "{":
            if not joints:
                raise bad("'{' before any ROOT")
            stack.append(len(joints) - 1)
            i += 1
        elif tok == "}":
            if not stack:
                raise bad("unbalanced braces: '}' without a matching '{'")
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            need(i + 3, "inside an OFFSET")
            try:
                [float(x) for x in text[i + 1:i + 4]]
            except ValueError:
                raise bad(f"OFFSET needs 3 numbers, got {' '.join(text[i + 1:i + 4])!r}") from None
            i += 4
        elif tok == "CHANNELS":
            need(i + 1, "inside a CHANNELS line")
            if not joints or joints[-1][0] == "_end" or not stack:
                raise bad("CHANNELS outside a joint")
            try:
                n = int(text[i + 1])
            except ValueError:
                raise bad(f"CHANNELS needs a channel count, got {text[i + 1]!r}") from None
            if not 0 <= n <= 9:
                raise bad(f"CHANNELS count {n} (a joint has at most 6 channels)")
            need(i + 1 + n, "inside a CHANNELS line")
            chans = text[i + 2:i + 2 + n]
            for ch in chans:
                c = ch.lower()
                if c[:1] not in ("x", "y", "z") or not c.endswith(("position", "rotation")):
                    raise bad(f"unknown channel {ch!r} of joint {joints[-1][0]}")
            joints[-1][2] = chans
            i += 2 + n
        else:
            i += 1
    if stack:
        raise bad(f"unbalanced braces: {len(stack)} '{{' not closed before MOTION")
    if not joints:
        raise bad("no ROOT joint in HIERARCHY")
    i += 1
    need(i, "right after MOTION (no 'Frames:' line)")
    if text[i].lower() != "frames:":
        raise bad(f"expected 'Frames:' after MOTION, got {text[i]!r}")
    need(i + 1, "before the frame count")
    try:
        n_frames = int(text[i + 1])
    except ValueError:
        raise bad(f"'Frames:' needs a whole number, got {text[i + 1]!r}") from None
    need(i + 2, "before 'Frame Time:'")
    need(i + 3, "inside 'Frame Time:'")
    if text[i + 2].lower() != "frame" or text[i + 3].lower() != "time:":
        raise bad(f"expected 'Frame Time:' after the frame count, got {' '.join(text[i + 2:i + 4])!r}")
    need(i + 4, "before the frame time value")
    try:
        frame_time = float(text[i + 4])
    except ValueError:
        raise bad(f"'Frame Time:' needs a number, got {text[i + 4]!r}") from None
    if not np.isfinite(frame_time) or frame_time <= 0:
        raise bad(f"invalid frame time {text[i + 4]} (must be a positive number of seconds)")
    tokens = text[i + 5:]
    n_ch = sum(len(j[2]) for j in joints)
    if n_frames <= 0:
        raise OdahgenError(f"{path}: zero frames")
    if n_ch == 0:
        raise bad("no CHANNELS in HIERARCHY")
    expected = n_frames * n_ch
    if len(tokens) < expected:
        raise OdahgenError(f"{path}: truncated: {len(tokens)} of {expected} motion values "
                           f"({len(tokens) // n_ch} complete frames of {n_frames}, {n_ch} channels each)")
    if len(tokens) > expected:
        raise bad(f"{len(tokens)} motion values, more than {n_frames} frames x {n_ch} channels "
                  f"(wrong 'Frames:' count?)")
    try:
        vals = np.array(tokens, dtype=np.float64)
    except ValueError:
        k = next(k for k, t in enumerate(tokens) if not _is_number(t))
        raise bad(f"motion value {k} (frame {k // n_ch + 1}) is not a number: {tokens[k]!r}") from None
    if not np.isfinite(vals).all():
        raise OdahgenError(f"{path}: NaN or infinite motion values")
    return {"joints": [tuple(j) for j in joints], "frames": vals.reshape(n_frames, n_ch), "frame_time": frame_time}


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


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
