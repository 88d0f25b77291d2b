"""Foot-skating measures for coordinate motions (used by tests, the benchmark and docs).

The six foot sole points of :data:`odahgen.motion.kinematics.CONTACT_POINTS` (heel, ball, toe
of each foot) are placed in the world with the motion's pelvis translation. Two figures:

- ``near_floor_speed_p95``: the 95th percentile of the horizontal speed (m/s) of every sole
  point while it is within ``near`` m of the floor (both ends of the frame step);
- ``contact_drift_max``: for every run of frames in which a sole point stays within
  ``contact`` m of the floor (a contact), the largest horizontal distance (m) of the point
  from where it was at the start of the contact; the maximum over all contacts.
"""

from __future__ import annotations

import numpy as np

from odahgen.motion import kinematics as K


def sole_points(coords: np.ndarray, geom: K.LegGeometry | None = None) -> np.ndarray:
    """(T, 6, 3) world positions of the heel, ball, toe points (right then left) for
    (T, 39) coordinates; ``geom`` the subject's leg dimensions (default generic)."""
    q = K.coordinates_dict(coords)
    Rp = K.pelvis_rotation(q)
    p = np.concatenate([K.foot_points(q, "r", Rp, geom), K.foot_points(q, "l", Rp, geom)], axis=1)
    return p + coords[:, None, 3:6]


def foot_slip(coords: np.ndarray, fps: float, near: float = 0.02, contact: float = 0.005,
              geom: K.LegGeometry | None = None) -> dict:
    """Foot-skating figures of (T, 39) coordinates at ``fps`` (see the module docstring)."""
    return point_slip(sole_points(coords, geom), fps, near, contact)


def point_slip(pts: np.ndarray, fps: float, near: float = 0.02, contact: float = 0.005) -> dict:
    """Foot-skating figures of any world points (T, P, 3) m (Y up, floor at y = 0) at ``fps``,
    e.g. sole points or foot markers from the FK of a scaled model."""
    h = pts[:, :, 1]
    v = np.linalg.norm(np.diff(pts[:, :, [0, 2]], axis=0), axis=2) * fps  # (T-1, 6)
    low = (h[:-1] < near) & (h[1:] < near)
    speeds = v[low]
    drift = 0.0
    n_contacts = 0
    for j in range(pts.shape[1]):
        on = h[:, j] < contact
        edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
        for a, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            if e - a < 2:
                continue
            n_contacts += 1
            d = np.linalg.norm(pts[a:e, j][:, [0, 2]] - pts[a, j][[0, 2]], axis=1).max()
            drift = max(drift, float(d))
    return {
        "near_floor_speed_p95": float(np.percentile(speeds, 95)) if speeds.size else 0.0,
        "near_floor_speed_p50": float(np.percentile(speeds, 50)) if speeds.size else 0.0,
        "contact_drift_max": drift,
        "n_contacts": n_contacts,
        "min_height": float(h.min()),
    }
