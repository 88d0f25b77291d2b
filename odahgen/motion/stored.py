"""A trial's motion on disk (``motion.npz``) and the subject's coordinates from it.

``motion.npz`` holds one prepared clip: ``times`` (T,) s, ``fps``, ``kind``, and either
``coordinates`` (T, 39) rad/m in ``COORDINATE_NAMES`` order (NaN = not driven) or
``markers`` (T, M, 3) m + ``marker_names`` (+ ``static_markers`` (M, 3) m: the same markers
on the motion's own subject at rest, where the source knows them); motions with a feet-contact schedule add
``contact`` (T, 2) bool, ``contact_mode``, ``flight_velocity`` and ``placement`` (the
generator's pelvis-placement options as JSON text).
"""

from __future__ import annotations

import json

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.motion.base import Motion
from odahgen.skeleton.names import BODY_NAMES, COORDINATE_NAMES

#: the segments whose mean vertical scale scales a pelvis path that cannot be re-planted
_LEG_BODIES = ("femur_r", "tibia_r", "femur_l", "tibia_l")


def clip_arrays(clip: Motion) -> dict[str, np.ndarray]:
    """The arrays of ``motion.npz`` for one prepared clip (see the module docstring)."""
    arrays = {"times": clip.times, "fps": np.float64(clip.fps), "kind": np.str_(clip.kind)}
    if clip.contact is not None:  # the feet's contact schedule, to plant them on the subject
        arrays["contact"] = clip.contact
        arrays["contact_mode"] = np.str_(clip.meta.get("contact_mode", "stance"))
        arrays["flight_velocity"] = np.bool_(clip.meta.get("flight_velocity", True))
        placement = clip.meta.get("placement")
        if isinstance(placement, dict):
            placement = dict(placement)
            if clip.meta.get("clip_start_s", 0.0) or clip.meta.get("trimmed_frames"):
                placement.pop("entry_velocity", None)  # it is the velocity at the motion's start
            arrays["placement"] = np.str_(json.dumps(placement, sort_keys=True))
    if clip.kind == "coordinates":
        names = list(clip.coordinate_names)
        values = np.full((clip.n_frames, len(COORDINATE_NAMES)), np.nan)
        for i, name in enumerate(COORDINATE_NAMES):
            if name in names:
                values[:, i] = clip.coordinates[:, names.index(name)]
        arrays["coordinates"] = values
    elif clip.kind == "markers":
        arrays["markers"] = clip.markers
        arrays["marker_names"] = np.array(clip.marker_names)
        static = clip.meta.get("static_markers")  # the same markers on the motion's subject at rest
        if static is not None and np.shape(static) == (len(clip.marker_names), 3):
            arrays["static_markers"] = np.asarray(static, dtype=np.float64)
    else:
        raise OdahgenError(f"motion {clip.id!r}: body-model parameter motions need the AMASS "
                           f"marker route (motion.source = 'amass' with its marker output)")
    return arrays


def subject_coordinates(motion: dict, scales: np.ndarray) -> np.ndarray:
    """(T, 39) coordinates of a coordinate motion (``motion.npz`` arrays) on a subject with
    segment ``scales`` (22, 3) (``BODY_NAMES`` order).

    A motion made on the generic model with a contact schedule (procedural) has its pelvis
    translation solved again from the subject's own feet, so its planted feet stay fixed on
    this skeleton; otherwise the pelvis path is scaled by the subject's mean leg scale.
    """
    angles = np.array(motion["coordinates"], dtype=np.float64)
    T = len(motion["times"])
    if "contact" in motion and len(motion["contact"]) == T and np.isfinite(angles).all():
        from odahgen.motion.placement import replant

        # older motion.npz files have no placement: replant's defaults
        placement = json.loads(str(motion["placement"])) if "placement" in motion else None
        return replant(angles, float(motion["fps"]), motion["contact"], str(motion["contact_mode"]),
                       bool(motion["flight_velocity"]), scales, placement)
    return scale_pelvis_path(angles, leg_scale(scales))


def leg_scale(scales: np.ndarray) -> float:
    """Mean vertical scale of the thighs and shanks of segment ``scales`` (22, 3)."""
    return float(np.mean(np.asarray(scales)[[BODY_NAMES.index(b) for b in _LEG_BODIES], 1]))


def scale_pelvis_path(angles: np.ndarray, factor: float) -> np.ndarray:
    """(T, 39) ``angles`` with the pelvis translation (tx, ty, tz) multiplied by ``factor``
    (a taller subject covers more ground with the same joint angles)."""
    out = np.array(angles, dtype=np.float64)
    for c in ("pelvis_tx", "pelvis_ty", "pelvis_tz"):
        out[:, COORDINATE_NAMES.index(c)] *= factor
    return out
