"""The one place where odahgen's world frame (OpenSim: Y up, X forward of the subject at
t=0, Z to the subject's right; metres) is converted to Blender's (Z up; metres).

Blender = (x, -z, y) of OpenSim: a proper rotation (det +1) about the X axis by +90 deg.
Everything the core writes into a render bundle is already in the Blender frame; the
Blender worker never converts frames.
"""

from __future__ import annotations

import numpy as np

#: Rows are Blender's axes expressed in OpenSim coordinates: p_blender = M @ p_opensim.
OPENSIM_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

#: Camera axes: OpenCV (x right, y down, z forward) -> Blender camera (x right, y up, -z forward).
_CV_TO_BLENDER_CAM = np.diag([1.0, -1.0, -1.0])


def opensim_to_blender(points: np.ndarray) -> np.ndarray:
    """``(..., 3)`` points in the OpenSim frame (m) -> the same points in Blender's frame (m)."""
    p = np.asarray(points)
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


def blender_to_opensim(points: np.ndarray) -> np.ndarray:
    """Inverse of :func:`opensim_to_blender`: ``(..., 3)`` Blender -> OpenSim (m)."""
    p = np.asarray(points)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def camera_to_blender_matrix(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """A pinhole camera's extrinsics in the OpenSim frame -> Blender camera ``matrix_world``.

    ``R (3, 3)``, ``t (3,)`` m map OpenSim world points to OpenCV camera coordinates
    (``X_cam = R X + t``). Returns the (4, 4) camera-to-world matrix of a Blender camera
    object (which looks down its local -Z with +Y up) in the Blender frame.
    """
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    centre = -R.T @ t  # camera centre, OpenSim frame
    out = np.eye(4)
    out[:3, :3] = OPENSIM_TO_BLENDER @ R.T @ _CV_TO_BLENDER_CAM
    out[:3, 3] = OPENSIM_TO_BLENDER @ centre
    return out
