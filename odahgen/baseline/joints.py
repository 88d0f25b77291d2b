"""The baseline's 16 body joints and what each stands for in the model and in the ground truth.

Each detector joint is solved in IK as a marker of the built-in model's marker set placed at
the matching joint-centre frame (``RSJC`` at the origin of ``humerus_r``, the shoulder joint
centre, ...; heel and foot tip as the ``CAL`` / ``TOE`` landmarks), and scored in 2D against
the ground-truth keypoint of nearest meaning. The correspondence is not exact: a detector
trained on human-annotated photographs places a joint where annotators see it on the skin
surface, which differs systematically from the anatomical joint centre:

- hip: annotators mark the hip on the side of the pelvis near the greater trochanter, a few
  cm lateral and below OpenSim's hip joint centre (the femoral head);
- shoulder: the annotated shoulder lies on the deltoid, above and lateral to the
  glenohumeral centre (``acromial_*``);
- heel: the back of the heel, ~3 cm behind and below ``subtalar_*`` (the calcaneus origin);
- foot index: the tip of the foot, ~3 cm in front of ``toes_*_com`` (no keypoint at the tip);
- knee, ankle, elbow, wrist: close to the joint centres (~1-2 cm);
- index, pinky (BlazePose's hand points near the 2nd and 5th knuckles): solved as the
  ``MH2`` / ``MH5`` landmarks, not scored (no ground-truth keypoint).
"""

from __future__ import annotations

#: The joints the baseline detects, triangulates and solves IK on (the person's sides); the
#: hand points (index and little-finger knuckles) give the forearm's pronation and the arm's
#: rotation, and have no ground-truth keypoint (not scored in 2D).
JOINTS: tuple[str, ...] = (
    "r_shoulder", "l_shoulder", "r_elbow", "l_elbow", "r_wrist", "l_wrist",
    "r_hip", "l_hip", "r_knee", "l_knee", "r_ankle", "l_ankle",
    "r_heel", "l_heel", "r_foot_index", "l_foot_index", "r_index", "l_index", "r_pinky", "l_pinky",
)

_RIGHT_MARKER = {"shoulder": "SJC", "elbow": "EJC", "wrist": "WJC", "hip": "HJC", "knee": "KJC", "ankle": "AJC",
                 "heel": "CAL", "foot_index": "TOE", "index": "MH2", "pinky": "MH5"}
_RIGHT_KEYPOINT = {"shoulder": "acromial_{s}", "elbow": "elbow_{s}", "wrist": "radius_hand_{s}", "hip": "hip_{s}",
                   "knee": "walker_knee_{s}", "ankle": "ankle_{s}", "heel": "subtalar_{s}",
                   "foot_index": "toes_{s}_com"}

#: joint -> the built-in model's marker it is solved as in IK (``RSJC``, ``LAJC``, ...)
JOINT_MARKER: dict[str, str] = {j: j[0].upper() + _RIGHT_MARKER[j[2:]] for j in JOINTS}
#: joint -> the ground-truth keypoint (one of the 44) of nearest meaning (the hand points have none)
JOINT_KEYPOINT: dict[str, str] = {j: _RIGHT_KEYPOINT[j[2:]].format(s=j[0]) for j in JOINTS if j[2:] in _RIGHT_KEYPOINT}
#: the joints scored against a ground-truth keypoint (2D scores, triangulation error)
SCORED_JOINTS: tuple[str, ...] = tuple(j for j in JOINTS if j in JOINT_KEYPOINT)
