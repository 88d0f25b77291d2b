"""Motion sources: the :class:`Motion` data model, the source registry (entry points group
``odahgen.motion_sources``), built-in sources (procedural, amass, c3d, trc, mot, bvh) and
resampling / gap filling / clip splitting, and a trial's stored motion (``motion.npz``:
:func:`clip_arrays`) with the subject's coordinates from it (:func:`subject_coordinates`)."""

from odahgen.motion.base import FileMotionSource, Motion, MotionSource
from odahgen.motion.ops import fill_gaps, prepare, resample, split_clips, trim
from odahgen.motion.registry import available_sources, get_source
from odahgen.motion.stored import clip_arrays, leg_scale, scale_pelvis_path, subject_coordinates

__all__ = ["Motion", "MotionSource", "FileMotionSource", "get_source", "available_sources",
           "resample", "trim", "fill_gaps", "split_clips", "prepare", "clip_arrays",
           "leg_scale", "scale_pelvis_path", "subject_coordinates"]
