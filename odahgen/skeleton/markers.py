"""The odahgen anatomical marker set: landmarks usable on any body mesh, plus joint centres.

Every marker has a body (one of :data:`odahgen.skeleton.names.BODY_NAMES`), a location in
that body's frame of the *unscaled* built-in model (metres, OpenSim body axes: X forward,
Y up, Z right for the right side) and a class:

- ``bony``: a palpable bony landmark (ASIS, malleolus, ...). Held close to its anatomical
  place, highest IK weight; frames where one is > 2 cm off are flagged.
- ``joint_centre``: a joint centre (hip, knee, ...), medium IK weight.
- ``cluster``: a technical/tracking marker on soft tissue, low IK weight, free offset.
- ``head``: a marker on the head (forehead, vertex, PiG's LFHD/RBHD, ...). Rajagopal's torso
  carries the head rigidly (no neck), so these follow every head turn or nod several cm off:
  lowest IK weight, never flagged, left out of the IK marker RMS and max (reported apart). On a
  model with a head body (a neck) they are bony landmarks (:func:`head_classes`).
- ``acromion``: the acromion (ACR, SHO, Acromium, OpenCap's shoulder) is a point of the scapula,
  which rides the thorax 2-4 cm up, forward and back as the arm moves (measured on the body
  model's acromion against its C7, clavicle and sternum: 2.3-3.6 cm in the generated AMASS arm
  actions). Rajagopal's torso carries it rigidly, so on a model without a scapula or clavicle
  body it is weighted as a joint centre and never flagged (counted in the RMS and max); on a model
  with one it is a ``bony`` landmark (:func:`acromion_classes`).

Names follow the Rajagopal 2016 / Vicon-plug-in-gait style (``R``/``L`` prefix, upper case)
so real lab data often matches without a map. Locations marked "(Rajagopal2016.osim)" are
transcribed from that model's marker set (opensim-models repository); the others are
anatomical estimates on the same generic body frames.

Left markers are the right ones mirrored (z -> -z) onto the ``_l`` body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from odahgen.skeleton.tree import KinematicTree

MarkerClass = Literal["bony", "joint_centre", "cluster", "head", "acromion"]

# Right side and midline: name -> (body, (x, y, z) in body frame m, class, description)
_RIGHT_AND_MID: dict[str, tuple[str, tuple[float, float, float], MarkerClass, str]] = {
    # pelvis
    "RASI": ("pelvis", (0.0095, 0.0181, 0.1285), "bony", "anterior superior iliac spine (Rajagopal2016.osim)"),
    "RPSI": ("pelvis", (-0.155, 0.035, 0.045), "bony", "posterior superior iliac spine (Rajagopal2016.osim)"),
    "SACR": ("pelvis", (-0.17, 0.025, 0.0), "bony", "sacrum, midway between the PSIS"),
    # torso and head
    "C7": ("torso", (-0.085, 0.435, 0.0), "bony", "7th cervical vertebra (Rajagopal2016.osim)"),
    "CLAV": ("torso", (0.04, 0.38, 0.0), "bony", "clavicle / jugular notch of the sternum (Rajagopal2016.osim)"),
    "STRN": ("torso", (0.09, 0.22, 0.0), "bony", "xiphoid process of the sternum"),
    "RACR": ("torso", (-0.003, 0.425, 0.13), "bony", "acromion (Rajagopal2016.osim)"),
    "HEADTOP": ("torso", (-0.01, 0.69, 0.0), "head", "top of the head (vertex); on the torso: no neck"),
    "FHEAD": ("torso", (0.085, 0.61, 0.0), "head", "forehead (glabella); on the torso: no neck"),
    # arm
    "RSJC": ("humerus_r", (0.0, 0.0, 0.0), "joint_centre", "shoulder (glenohumeral) joint centre"),
    "RUA1": ("humerus_r", (0.0, -0.05, 0.02), "cluster", "upper arm cluster 1 (Rajagopal2016.osim)"),
    "RUA2": ("humerus_r", (0.0, -0.2, 0.02), "cluster", "upper arm cluster 2 (Rajagopal2016.osim)"),
    "RUA3": ("humerus_r", (0.03, -0.13, 0.02), "cluster", "upper arm cluster 3 (Rajagopal2016.osim)"),
    "RLEL": ("humerus_r", (0.015, -0.28, 0.04), "bony", "lateral elbow epicondyle (Rajagopal2016.osim)"),
    "RMEL": ("humerus_r", (0.0022, -0.286, -0.046), "bony", "medial elbow epicondyle (Rajagopal2016.osim)"),
    "REJC": ("ulna_r", (0.0, 0.0, 0.0), "joint_centre", "elbow joint centre"),
    "RFA1": ("ulna_r", (0.0046, -0.0801, 0.0453), "cluster", "forearm cluster (Rajagopal2016.osim RFAsuperior)"),
    "RRSP": ("radius_r", (0.0005, -0.225, 0.05), "bony", "radial styloid (Rajagopal2016.osim RFAradius)"),
    "RUSP": ("radius_r", (-0.022, -0.225, -0.022), "bony", "ulnar styloid (Rajagopal2016.osim RFAulna)"),
    "RWJC": ("hand_r", (0.0, 0.0, 0.0), "joint_centre", "wrist joint centre"),
    "RMH2": ("hand_r", (0.005, -0.075, 0.025), "bony", "2nd metacarpal head"),
    "RMH5": ("hand_r", (-0.005, -0.07, -0.03), "bony", "5th metacarpal head"),
    # leg
    "RHJC": ("femur_r", (0.0, 0.0, 0.0), "joint_centre", "hip joint centre"),
    "RGTR": ("femur_r", (-0.01, -0.03, 0.085), "bony", "greater trochanter"),
    "RTH1": ("femur_r", (0.018, -0.15, 0.064), "cluster", "thigh cluster 1 (Rajagopal2016.osim)"),
    "RTH2": ("femur_r", (0.08, -0.23, 0.0047), "cluster", "thigh cluster 2 (Rajagopal2016.osim)"),
    "RTH3": ("femur_r", (0.01, -0.3, 0.06), "cluster", "thigh cluster 3 (Rajagopal2016.osim)"),
    "RLFC": ("femur_r", (0.0, -0.404, 0.05), "bony", "lateral femoral epicondyle (Rajagopal2016.osim)"),
    "RMFC": ("femur_r", (0.0, -0.404, -0.05), "bony", "medial femoral epicondyle (Rajagopal2016.osim)"),
    "RKJC": ("tibia_r", (0.0017, -0.0024, -0.0085), "joint_centre", "knee joint centre (Rajagopal2016.osim)"),
    "RTTB": ("tibia_r", (0.035, -0.06, 0.0), "bony", "tibial tuberosity"),
    "RTB1": ("tibia_r", (-0.0017, -0.1565, 0.0492), "cluster", "shank cluster 1 (Rajagopal2016.osim)"),
    "RTB2": ("tibia_r", (0.037, -0.2301, -0.0039), "cluster", "shank cluster 2 (Rajagopal2016.osim)"),
    "RTB3": ("tibia_r", (0.0114, -0.2952, 0.0554), "cluster", "shank cluster 3 (Rajagopal2016.osim)"),
    "RLMAL": ("tibia_r", (-0.005, -0.3888, 0.053), "bony", "lateral malleolus (Rajagopal2016.osim)"),
    "RMMAL": ("tibia_r", (0.006, -0.3888, -0.038), "bony", "medial malleolus (Rajagopal2016.osim)"),
    "RAJC": ("talus_r", (0.0, 0.0, 0.0), "joint_centre", "ankle joint centre"),
    "RCAL": ("calcn_r", (-0.025, 0.02, -0.005), "bony", "heel / calcaneus (Rajagopal2016.osim)"),
    "RMT1": ("calcn_r", (0.17, 0.015, -0.035), "bony", "1st metatarsal head"),
    "RMT5": ("calcn_r", (0.145, 0.0249, 0.059), "bony", "5th metatarsal head (Rajagopal2016.osim)"),
    "RTOE": ("toes_r", (0.06, 0.005, -0.01), "bony", "toe tip (hallux)"),
}

_MIDLINE = {"SACR", "C7", "CLAV", "STRN", "HEADTOP", "FHEAD"}


def _mirror_body(body: str) -> str:
    return body[:-2] + "_l" if body.endswith("_r") else body


def _build() -> dict[str, tuple[str, tuple[float, float, float], MarkerClass, str]]:
    out: dict[str, tuple[str, tuple[float, float, float], MarkerClass, str]] = {}
    for name, (body, loc, cls, desc) in _RIGHT_AND_MID.items():
        out[name] = (body, loc, cls, desc)
        if name in _MIDLINE:
            continue
        assert name.startswith("R")
        out["L" + name[1:]] = (_mirror_body(body), (loc[0], loc[1], -loc[2]), cls, desc)
    return out


_ALL = _build()

#: All marker names of the built-in set (fixed order: right marker then its left mirror).
MARKER_NAMES: tuple[str, ...] = tuple(_ALL)
#: name -> body (one of BODY_NAMES)
MARKER_BODY: dict[str, str] = {n: v[0] for n, v in _ALL.items()}
#: name -> location (x, y, z) in the unscaled body frame, metres
MARKER_LOCATION: dict[str, tuple[float, float, float]] = {n: v[1] for n, v in _ALL.items()}
#: name -> "bony" | "joint_centre" | "cluster" | "head"
MARKER_CLASS: dict[str, MarkerClass] = {n: v[2] for n, v in _ALL.items()}
#: name -> one-line description
MARKER_DESCRIPTION: dict[str, str] = {n: v[3] for n, v in _ALL.items()}

#: IK weight by marker class (bony landmarks high, joint centres and acromions on a torso medium,
#: clusters low, head markers on a model without a neck lowest). Weights go as 1 / (expected
#: error)^2: bony ~1 cm, clusters ~3 cm (soft tissue), head ~7 cm (a head turn or nod moves them
#: 3-9 cm off the torso).
CLASS_WEIGHT: dict[str, float] = {"bony": 10.0, "joint_centre": 5.0, "cluster": 1.0, "head": 0.2, "acromion": 5.0}


#: Common lab marker names (normalised: upper case, no '.', '_', '-' or spaces; an R/L side
#: prefix or suffix removed) -> class. Checked before the name heuristic, because many bony
#: landmarks carry digits (S2 = 2nd sacral vertebra, T10, C7, MT5, MH2) or contain letters
#: that the heuristic reads as a cluster segment.
COMMON_MARKER_CLASS: dict[str, MarkerClass] = {
    # pelvis / trunk
    **dict.fromkeys(("ASIS", "ASI", "PSIS", "PSI", "S1", "S2", "SACR", "SACRUM", "SAC", "C7", "T2", "T8", "T10", "T12",
                     "L1", "L3", "L5", "CLAV", "CLAVICLE", "MIDCLAVICLE", "JN", "IJ", "STRN", "STERNUM", "XIPH", "PX",
                     "XP"), "bony"),
    # head (Plug-in Gait LFHD/RFHD/LBHD/RBHD, Gait2354 Top.Head, CMU ARIEL, OpenPose face points)
    **dict.fromkeys(("HEAD", "HEADTOP", "TOPHEAD", "THEAD", "VERTEX", "ARIEL", "FHEAD", "FOREHEAD", "FH", "BH", "FHD",
                     "BHD", "FRONTHEAD", "BACKHEAD", "HEADFRONT", "HEADBACK", "GLABELLA", "SELLION", "TEMPLE", "NOSE",
                     "EYE", "EAR", "CHIN"), "head"),
    # arm
    **dict.fromkeys(("ACR", "ACROMION", "SHO", "SHOULDER", "AC", "LEL", "MEL", "ELB", "ELBOW", "MELBOW", "LELBOW",
                     "LE", "ME", "EL", "EM", "RSP", "USP", "WRA", "WRB", "WRIST", "MWRIST", "RS", "US", "MH2",
                     "MH5", "FIN", "HAND", "MCP2", "MCP5"), "bony"),
    # leg
    **dict.fromkeys(("GTR", "GT", "TROCH", "TROCHANTER", "LFC", "MFC", "KNE", "KNEE", "MKNEE", "LKNEE", "LFE", "MFE",
                     "TTB", "TT", "TIBTUB", "HFB", "LMAL", "MMAL", "ANK", "ANKLE", "MANKLE", "LM", "MM", "CAL",
                     "HEEL", "HEE", "CALC", "MT1", "MT2", "MT5", "MTH1", "MTH5", "FM1", "FM2", "FM5", "TOE",
                     "TOETIP", "HLX", "HALLUX"), "bony"),
    # joint centres
    **dict.fromkeys(("HJC", "KJC", "AJC", "SJC", "EJC", "WJC", "HIPJC"), "joint_centre"),
    # usual tracking / cluster markers
    **dict.fromkeys(("THI", "THIGH", "TIB", "SHANK", "UPA", "FRA", "BICEPS", "FOREARM", "RBAK", "BAK"), "cluster"),
}


#: suffixes some marker sets append to every anatomical name (OpenCap / LaiUhlrich2022: ``_study``)
MARKER_NAME_SUFFIXES = ("_study",)


def strip_marker_suffix(name: str) -> str:
    """``name`` without a marker-set suffix such as OpenCap's ``_study`` (``r_knee_study`` -> ``r_knee``)."""
    for suf in MARKER_NAME_SUFFIXES:
        if name.lower().endswith(suf) and len(name) > len(suf):
            return name[: -len(suf)]
    return name


def _normalise_marker_name(name: str) -> list[str]:
    """Upper-case name without separators (and suffixes like ``_study``), plus the same without
    an R/L side prefix/suffix."""
    n = "".join(ch for ch in strip_marker_suffix(name).upper() if ch.isalnum())
    out = [n]
    for pre in ("RIGHT", "LEFT", "R", "L"):
        if n.startswith(pre) and len(n) > len(pre):
            out.append(n[len(pre):])
    for suf in ("RIGHT", "LEFT", "R", "L"):
        if n.endswith(suf) and len(n) > len(suf):
            out.append(n[: -len(suf)])
    return out


#: normalised names (side removed) of acromion markers: Rajagopal / Plug-in Gait / Gait2354 /
#: OpenCap (``r_shoulder_study``)
ACROMION_NAMES = frozenset({"ACR", "ACROMION", "ACROMIUM", "SHO", "SHOULDER", "AC"})


def is_acromion(name: str) -> bool:
    """Whether a marker name is an acromion marker (any side, case and separators ignored)."""
    return any(k in ACROMION_NAMES for k in _normalise_marker_name(name))


#: name parts of bone heads that are not the head (fibular head, metatarsal heads, ...)
_BONE_HEADS = ("FIB", "RAD", "MT", "META", "MC", "HUM", "FEM", "TAL", "ULN", "CARP")


def guess_marker_class(name: str) -> MarkerClass:
    """Class of a marker of a user marker set, guessed from its name.

    The built-in names, then the table :data:`COMMON_MARKER_CLASS` of common lab names (with or
    without a side prefix/suffix: ``S2``, ``R.ASIS``, ``LKNE``, ``R_HJC``, ``L.MT5``, ``LFHD``), then
    a heuristic: joint centres contain ``JC``/``joint``/``centre``; head markers ``head`` (not a
    bone head such as ``FibHead``); clusters end in a digit or
    mention a cluster-like segment (thigh/shank/arm/forearm technical markers); everything else
    is a bony landmark.
    """
    if name in MARKER_CLASS:
        return MARKER_CLASS[name]
    keys = _normalise_marker_name(name)
    for k in keys:
        if k in COMMON_MARKER_CLASS:
            return COMMON_MARKER_CLASS[k]
    n = keys[0]
    if "JC" in n or "JOINT" in n or n.endswith("CENTER") or n.endswith("CENTRE"):
        return "joint_centre"
    if "HEAD" in n and not any(b in n for b in _BONE_HEADS):  # HeadFront, R_Head_Back; not FibHead, MT1Head
        return "head"
    cluster_keys = ("SH", "TB", "UA", "FA", "BICEPS", "FOREARM", "THIGH", "SHANK", "CLUSTER")
    if n[-1:].isdigit() or any(k in n for k in cluster_keys) or ("TH" in n and n[-1:].isdigit()):
        return "cluster"
    return "bony"


assert all(b.endswith(("_r", "_l")) or b in ("pelvis", "torso") for b in MARKER_BODY.values())
assert set(MARKER_CLASS.values()) <= set(CLASS_WEIGHT)


def marker_weights(names: list[str], classes: dict[str, str] | None = None) -> tuple[np.ndarray, list[str]]:
    cls = [(classes or {}).get(n) or guess_marker_class(n) for n in names]
    return np.array([CLASS_WEIGHT[c] for c in cls]), cls


#: body-name parts of a dedicated head (or neck) body: head markers on it follow the head
HEAD_BODY_PARTS = ("head", "skull", "cranium", "neck", "cervical")


def head_classes(tree: KinematicTree, idx: np.ndarray, cls: list[str]) -> list[str]:
    """Marker classes with the ``head`` class resolved for this model: a head marker (class
    ``head``, e.g. FHEAD, HEADTOP, LFHD, RBHD, Top.Head) is ``head`` (low IK weight, no flag,
    left out of the marker RMS and max) only where the model has no neck, i.e. on a body that is
    not a head or neck body (:data:`HEAD_BODY_PARTS`), such as Rajagopal's torso; on a head body
    (a Pose2Sim-like model) it follows the head and is a ``bony`` landmark."""
    out = list(cls)
    for k, c in enumerate(cls):
        if c == "head":
            body = tree.body_names[tree.marker_body[idx[k]]].lower()
            if any(part in body for part in HEAD_BODY_PARTS):
                out[k] = "bony"
    return out


#: body-name parts of a scapula or clavicle body: an acromion marker on one is a bony landmark
SCAPULA_BODY_PARTS = ("scapula", "clavicle", "clavicula", "shoulder")


def acromion_classes(tree: KinematicTree, idx: np.ndarray, names: list[str], cls: list[str]) -> list[str]:
    """Marker classes with bony acromion markers (:func:`odahgen.skeleton.markers.is_acromion`, by
    the data label or the model marker's name) made ``acromion`` (joint-centre weight, no flag)
    where their body is no scapula or clavicle (:data:`SCAPULA_BODY_PARTS`), such as
    Rajagopal's torso: the real acromion rides the scapula 2-4 cm over the thorax."""
    out = list(cls)
    for k, c in enumerate(cls):
        m = int(idx[k])
        if c == "bony" and (is_acromion(names[k]) or is_acromion(tree.marker_names[m])):
            body = tree.body_names[tree.marker_body[m]].lower()
            if not any(part in body for part in SCAPULA_BODY_PARTS):
                out[k] = "acromion"
    return out
