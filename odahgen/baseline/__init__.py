"""A classic markerless baseline run on a generated dataset (``odahgen baseline``): a 2D
detector trained on real photographs, multi-view triangulation, ``odahgen ik``, and the
metrics of ``odahgen eval``. See docs/baseline.md.

Layer: above ``gt`` (it reads trial files and reuses the evaluation), below ``jobs`` and
``cli``; no lower package imports it.
"""

from odahgen.baseline.detector import (
    BlazePoseDetector,
    Detections2D,
    Detector,
    detector_names,
    get_detector,
    register_detector,
)
from odahgen.baseline.joints import JOINT_KEYPOINT, JOINT_MARKER, JOINTS, SCORED_JOINTS
from odahgen.baseline.run import GT_DETECTOR, RESULT_FILE, BaselineSettings, run_baseline, run_trial
from odahgen.baseline.score import PAPER_TABLE1_MAE_DEG
from odahgen.baseline.triangulate import butterworth, projection_matrix, triangulate_dlt

__all__ = [
    "BlazePoseDetector", "Detections2D", "Detector", "detector_names", "get_detector", "register_detector",
    "JOINT_KEYPOINT", "JOINT_MARKER", "JOINTS", "SCORED_JOINTS", "GT_DETECTOR", "RESULT_FILE", "BaselineSettings", "run_baseline", "run_trial",
    "PAPER_TABLE1_MAE_DEG", "butterworth", "projection_matrix", "triangulate_dlt",
]
