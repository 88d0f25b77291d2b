"""Fixed names of the Rajagopal 2016 topology that every stage and the ground truth use.

Source: Rajagopal et al. 2016, "Full-body musculoskeletal model for muscle-driven
simulation of human gait", model file Rajagopal2016.osim (opensim-models repository).
Order matters: arrays in odahgen and in the HDF5 ground truth follow these lists.
"""

BODY_NAMES: tuple[str, ...] = (
    "pelvis", "femur_r", "tibia_r", "patella_r", "talus_r", "calcn_r", "toes_r",
    "femur_l", "tibia_l", "patella_l", "talus_l", "calcn_l", "toes_l",
    "torso", "humerus_r", "ulna_r", "radius_r", "hand_r",
    "humerus_l", "ulna_l", "radius_l", "hand_l",
)  # 22 bodies

# The joint whose child is BODY_NAMES[i] (same order): its child frame origin in ground is
# the i-th joint centre.
JOINT_NAMES: tuple[str, ...] = (
    "ground_pelvis", "hip_r", "walker_knee_r", "patellofemoral_r", "ankle_r", "subtalar_r", "mtp_r",
    "hip_l", "walker_knee_l", "patellofemoral_l", "ankle_l", "subtalar_l", "mtp_l",
    "back", "acromial_r", "elbow_r", "radioulnar_r", "radius_hand_r",
    "acromial_l", "elbow_l", "radioulnar_l", "radius_hand_l",
)

COORDINATE_NAMES: tuple[str, ...] = (
    "pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz",
    "hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r", "knee_angle_r_beta",
    "ankle_angle_r", "subtalar_angle_r", "mtp_angle_r",
    "hip_flexion_l", "hip_adduction_l", "hip_rotation_l", "knee_angle_l", "knee_angle_l_beta",
    "ankle_angle_l", "subtalar_angle_l", "mtp_angle_l",
    "lumbar_extension", "lumbar_bending", "lumbar_rotation",
    "arm_flex_r", "arm_add_r", "arm_rot_r", "elbow_flex_r", "pro_sup_r", "wrist_flex_r", "wrist_dev_r",
    "arm_flex_l", "arm_add_l", "arm_rot_l", "elbow_flex_l", "pro_sup_l", "wrist_flex_l", "wrist_dev_l",
)  # 39 coordinates: 36 rotational + pelvis_tx/ty/tz

TRANSLATIONAL_COORDINATES: frozenset[str] = frozenset({"pelvis_tx", "pelvis_ty", "pelvis_tz"})
COUPLED_COORDINATES: dict[str, str] = {  # dependent -> independent (patellofemoral coupling)
    "knee_angle_r_beta": "knee_angle_r",
    "knee_angle_l_beta": "knee_angle_l",
}

# The 44 keypoints: 22 joint centres (named by joint) then 22 body mass centres.
KEYPOINT_NAMES: tuple[str, ...] = JOINT_NAMES + tuple(f"{b}_com" for b in BODY_NAMES)

assert len(BODY_NAMES) == 22 and len(JOINT_NAMES) == 22
assert len(COORDINATE_NAMES) == 39 and len(KEYPOINT_NAMES) == 44
