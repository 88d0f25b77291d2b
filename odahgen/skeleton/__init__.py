"""The skeletal model: the built-in Rajagopal-compatible OpenSim model (or a user's .osim),
its names (39 coordinates, 22 bodies, 44 keypoints), the NumPy kinematic tree and forward
kinematics, fast inverse kinematics, scaling to a subject, the shoulder girdle fitted with it,
the marker set, and the automatic mapping of lab marker labels to it.
See docs/skeleton.md."""

from odahgen.skeleton.fk import fk_tree, load_tree, segment_scales
from odahgen.skeleton.girdle import scaled_coefficients as scaled_girdle
from odahgen.skeleton.girdle import write_girdle
from odahgen.skeleton.ik import run_ik, run_ik_tree
from odahgen.skeleton.kinematics import KinematicTree, extract_tree
from odahgen.skeleton.mapping import MarkerMapping, map_markers, orient_markers
from odahgen.skeleton.model import build_default_model, load_model, resolve_model_path
from odahgen.skeleton.names import BODY_NAMES, COORDINATE_NAMES, JOINT_NAMES, KEYPOINT_NAMES
from odahgen.skeleton.scale import scale_subject, write_scaled_model

__all__ = ["BODY_NAMES", "COORDINATE_NAMES", "JOINT_NAMES", "KEYPOINT_NAMES", "KinematicTree",
           "MarkerMapping", "build_default_model", "extract_tree", "fk_tree", "load_model", "load_tree",
           "map_markers", "orient_markers", "resolve_model_path", "run_ik", "run_ik_tree", "scale_subject",
           "scaled_girdle", "segment_scales", "write_girdle", "write_scaled_model"]
