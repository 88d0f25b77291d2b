"""Automatic marker mapping: a data set's marker labels matched to the model's landmarks by
anatomical role, whatever naming convention the lab used.

A label is read without case, separators, a ``Subject:`` prefix or OpenCap's ``_study``
suffix, and without its side: ``R.ASIS``, ``r_asis``, ``RASIS``, ``R ASIS``, ``RightASIS``,
``ASIS_R`` are all (ASIS, right). The remaining base name is looked up in the alias table of
each naming convention (:data:`ALIASES`: odahgen's built-in names, Vicon Plug-in Gait,
CMU / MoSh, OpenSim Gait2354, OpenCap, and spelled-out generic names) to get a role
(:data:`ROLES`). The model's markers get their roles the same way, so the mapping works for
the built-in model and for a user's ``.osim`` alike.

The data set's convention is the one that explains most labels; a label whose meaning
differs between conventions (``LTOE``: the toe tip in odahgen's set, the forefoot marker over
the 2nd metatarsal head in Plug-in Gait, CMU and OpenCap) is read in that convention.

Each label is then, in this order of precedence:

1. what ``--map`` says (a model marker; ``-`` to ignore the label; ``cluster`` to place it);
2. the model marker of the same name (separators and case aside), unless the convention gives
   the label another role than that marker has;
3. the model marker with the same role and side; if the model has no marker for the role, the
   role's stand-ins (:data:`ROLES` ``fallback``: a Plug-in Gait toe marker goes to the 1st
   metatarsal head);
4. otherwise a *cluster*: a marker the model does not have (a thigh wand, ``T10``, a head
   band marker, ``R.Thigh.Front``, any arbitrary name), placed on the nearest body segment
   from the data itself (:func:`place_clusters`) and then registered over the motion like any
   cluster.

A model marker takes one label: a second label with the same role becomes a cluster. Labels
with no valid sample in any frame are dropped.
"""

from __future__ import annotations

import copy
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.io.mocap import MarkerData, detect_up_axis, to_y_up
from odahgen.skeleton.kinematics import KinematicTree
from odahgen.skeleton.markers import guess_marker_class


@dataclass(frozen=True)
class Role:
    """An anatomical role. ``sided``: left and right (else midline); ``builtin``: the built-in
    marker's name without its side letter (``ASI`` -> ``RASI``/``LASI``; None: the built-in set
    has no such marker); ``level``: height rank in a standing pose (0 floor, 1 top of the head;
    None where it moves with the arms), used to find the vertical axis; ``fallback``: roles whose
    marker stands in when the model has none for this role."""

    sided: bool
    builtin: str | None
    level: float | None
    description: str
    fallback: tuple[str, ...] = ()


#: role -> Role. The built-in marker set (``odahgen.skeleton.markers``) has a marker for every
#: role with a ``builtin`` name.
ROLES: dict[str, Role] = {
    "ASIS": Role(True, "ASI", 0.53, "anterior superior iliac spine"),
    "PSIS": Role(True, "PSI", 0.55, "posterior superior iliac spine"),
    "SACRUM": Role(False, "SACR", 0.54, "sacrum, between the PSIS"),
    "HJC": Role(True, "HJC", 0.5, "hip joint centre"),
    "GTR": Role(True, "GTR", 0.5, "greater trochanter"),
    "LAT_KNEE": Role(True, "LFC", 0.28, "lateral femoral epicondyle"),
    "MED_KNEE": Role(True, "MFC", 0.28, "medial femoral epicondyle"),
    "KJC": Role(True, "KJC", 0.28, "knee joint centre"),
    "TTB": Role(True, "TTB", 0.25, "tibial tuberosity"),
    "LAT_ANKLE": Role(True, "LMAL", 0.05, "lateral malleolus"),
    "MED_ANKLE": Role(True, "MMAL", 0.05, "medial malleolus"),
    "AJC": Role(True, "AJC", 0.05, "ankle joint centre"),
    "HEEL": Role(True, "CAL", 0.02, "heel (calcaneus)"),
    "MT1": Role(True, "MT1", 0.01, "1st metatarsal head"),
    "MT5": Role(True, "MT5", 0.01, "5th metatarsal head"),
    "FOREFOOT": Role(True, None, 0.02, "toe marker on the forefoot (2nd metatarsal head)", ("MT1",)),
    "TOE_TIP": Role(True, "TOE", 0.01, "toe tip (hallux)", ("FOREFOOT",)),
    "C7": Role(False, "C7", 0.82, "7th cervical vertebra"),
    "T10": Role(False, None, 0.7, "10th thoracic vertebra"),
    "CLAV": Role(False, "CLAV", 0.8, "jugular notch of the sternum (clavicles)"),
    "STRN": Role(False, "STRN", 0.72, "xiphoid process of the sternum"),
    "ACROMION": Role(True, "ACR", 0.81, "acromion"),
    "HEADTOP": Role(False, "HEADTOP", 1.0, "top of the head"),
    "FOREHEAD": Role(False, "FHEAD", 0.93, "forehead (glabella)"),
    "FRONT_HEAD": Role(True, None, 0.93, "front of the head, over the temple"),
    "BACK_HEAD": Role(True, None, 0.93, "back of the head"),
    "SJC": Role(True, "SJC", None, "shoulder joint centre"),
    "LAT_ELBOW": Role(True, "LEL", None, "lateral elbow epicondyle"),
    "MED_ELBOW": Role(True, "MEL", None, "medial elbow epicondyle"),
    "EJC": Role(True, "EJC", None, "elbow joint centre"),
    "RAD_STYLOID": Role(True, "RSP", None, "radial styloid (wrist, thumb side)"),
    "ULN_STYLOID": Role(True, "USP", None, "ulnar styloid (wrist, little-finger side)"),
    "WRIST": Role(True, None, None, "one wrist marker", ("RAD_STYLOID",)),
    "WJC": Role(True, "WJC", None, "wrist joint centre"),
    "MH2": Role(True, "MH2", None, "2nd metacarpal head"),
    "MH5": Role(True, "MH5", None, "5th metacarpal head"),
    "HAND": Role(True, None, None, "hand marker below the 2nd metacarpal head", ("MH2",)),
}

#: naming conventions, most specific first (the order breaks ties when detecting one)
CONVENTIONS: dict[str, str] = {
    "odahgen": "odahgen built-in / Rajagopal 2016 (RASI, RLFC, RLMAL, RCAL ...)",
    "pig": "Vicon Plug-in Gait (RASI, RKNE, RANK, RHEE, RTOE, RWRA ...)",
    "cmu": "CMU / MoSh / Vicon production (RFWT, RBWT, RKNE, RKNI, RIWR, ARIEL ...)",
    "gait2354": "OpenSim Gait2354 / Gait2392 (R.ASIS, V.Sacral, R.Knee.Lat, R.Toe.Tip ...)",
    "opencap": "OpenCap / LaiUhlrich2022 (r.ASIS_study, r_knee_study, r_5meta_study ...)",
    "generic": "spelled-out anatomical names (RightASIS, L_LateralMalleolus, R.Heel ...)",
}

#: convention -> role -> base names (upper case, no separators, side removed). Left out on
#: purpose, so they become clusters placed from the data: Plug-in Gait / CMU wand and
#: technical markers (THI, TIB, SHN, UPA, FRM, BAK), Gait2354's thigh/shank/midfoot markers,
#: OpenCap's thigh/shank clusters (thigh1-3, sh1-3), odahgen's own clusters (TH1, TB1, UA1,
#: FA1: those match by name when the model has them).
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "odahgen": {
        "ASIS": ("ASI",), "PSIS": ("PSI",), "SACRUM": ("SACR",), "HJC": ("HJC",), "GTR": ("GTR",),
        "LAT_KNEE": ("LFC",), "MED_KNEE": ("MFC",), "KJC": ("KJC",), "TTB": ("TTB",), "LAT_ANKLE": ("LMAL",),
        "MED_ANKLE": ("MMAL",), "AJC": ("AJC",), "HEEL": ("CAL",), "MT1": ("MT1",), "MT5": ("MT5",),
        "TOE_TIP": ("TOE",), "C7": ("C7",), "CLAV": ("CLAV",), "STRN": ("STRN",), "ACROMION": ("ACR",),
        "HEADTOP": ("HEADTOP",), "FOREHEAD": ("FHEAD",), "SJC": ("SJC",), "LAT_ELBOW": ("LEL",),
        "MED_ELBOW": ("MEL",), "EJC": ("EJC",), "RAD_STYLOID": ("RSP", "FARADIUS"),
        "ULN_STYLOID": ("USP", "FAULNA"), "WJC": ("WJC",), "MH2": ("MH2",), "MH5": ("MH5",),
    },
    "pig": {
        "ASIS": ("ASI",), "PSIS": ("PSI",), "SACRUM": ("SACR",), "C7": ("C7",), "T10": ("T10",),
        "CLAV": ("CLAV",), "STRN": ("STRN",), "FRONT_HEAD": ("FHD",), "BACK_HEAD": ("BHD",),
        "ACROMION": ("SHO",), "LAT_ELBOW": ("ELB",), "MED_ELBOW": ("MELB", "ELBM", "MEL"),
        "RAD_STYLOID": ("WRA",), "ULN_STYLOID": ("WRB",), "HAND": ("FIN",), "LAT_KNEE": ("KNE",),
        "MED_KNEE": ("KNM", "MKNE", "KNEM", "MKN"), "LAT_ANKLE": ("ANK",), "MED_ANKLE": ("MMA", "MANK", "ANKM"),
        "HEEL": ("HEE",), "FOREFOOT": ("TOE",), "MT5": ("MT5",), "HJC": ("HJC",), "KJC": ("KJC",),
        "AJC": ("AJC",), "EJC": ("EJC",), "WJC": ("WJC",), "SJC": ("SJC",),
    },
    "cmu": {
        "ASIS": ("FWT",), "PSIS": ("BWT",), "SACRUM": ("MBWT",), "HEADTOP": ("ARIEL",),
        "FRONT_HEAD": ("FHD",), "BACK_HEAD": ("BHD",), "C7": ("C7",), "T10": ("T10",), "CLAV": ("CLAV",),
        "STRN": ("STRN",), "ACROMION": ("SHO",), "LAT_ELBOW": ("ELB",), "MED_ELBOW": ("IEL", "ELBIN"),
        "RAD_STYLOID": ("OWR", "WRA"), "ULN_STYLOID": ("IWR", "WRB"), "HAND": ("FIN",),
        "LAT_KNEE": ("KNE",), "MED_KNEE": ("KNI",), "LAT_ANKLE": ("ANK",), "MED_ANKLE": ("ANI",),
        "HEEL": ("HEE", "HEL"), "FOREFOOT": ("TOE",), "MT1": ("MT1",), "MT5": ("MT5",),
    },
    "gait2354": {
        "ASIS": ("ASIS",), "PSIS": ("PSIS",), "SACRUM": ("VSACRAL", "SACRAL"), "CLAV": ("STERNUM",),
        "ACROMION": ("ACROMIUM", "ACROMION"), "HEADTOP": ("TOPHEAD",), "HJC": ("HJC", "FHC"),
        "LAT_KNEE": ("KNEELAT",), "MED_KNEE": ("KNEEMED",), "KJC": ("TIBKJC", "KJC"),
        "LAT_ANKLE": ("ANKLELAT",), "MED_ANKLE": ("ANKLEMED",), "HEEL": ("HEEL",), "TOE_TIP": ("TOETIP",),
        "MT1": ("TOEMED",), "MT5": ("TOELAT",), "LAT_ELBOW": ("ELBOWLAT", "EPILAT", "ELBOW"),
        "MED_ELBOW": ("ELBOWMED", "EPIMED"), "RAD_STYLOID": ("WRISTRAD", "WRISTLAT"),
        "ULN_STYLOID": ("WRISTULN", "WRISTMED"),
    },
    "opencap": {
        "ASIS": ("ASIS",), "PSIS": ("PSIS",), "C7": ("C7",), "HJC": ("HJC",), "LAT_KNEE": ("KNEE",),
        "MED_KNEE": ("MKNEE",), "LAT_ANKLE": ("ANKLE",), "MED_ANKLE": ("MANKLE",), "FOREFOOT": ("TOE",),
        "MT5": ("5META",), "HEEL": ("CALC",), "ACROMION": ("SHOULDER",), "LAT_ELBOW": ("LELBOW",),
        "MED_ELBOW": ("MELBOW",), "RAD_STYLOID": ("LWRIST",), "ULN_STYLOID": ("MWRIST",),
    },
    "generic": {
        "ASIS": ("ASIS", "ANTERIORSUPERIORILIACSPINE", "ASISFRONT"),
        "PSIS": ("PSIS", "POSTERIORSUPERIORILIACSPINE"),
        "SACRUM": ("SACRUM", "SACRAL", "S1", "S2", "MIDPSIS"),
        "HJC": ("HJC", "HIPJC", "HIPJOINTCENTER", "HIPJOINTCENTRE", "HIPCENTER", "HIPCENTRE"),
        "GTR": ("GT", "GTR", "GTRO", "TROCH", "TROCHANTER", "GREATERTROCHANTER"),
        "LAT_KNEE": ("KNEE", "LKNEE", "LATKNEE", "KNEELAT", "KNEELATERAL", "LATERALKNEE", "LFE", "FLE", "LEK",
                     "LKE", "LEPI", "LATEPICONDYLE", "LATERALFEMORALEPICONDYLE", "LATFEMEPI"),
        "MED_KNEE": ("MKNEE", "MEDKNEE", "KNEEMED", "KNEEMEDIAL", "MEDIALKNEE", "MFE", "FME", "MEK", "MKE",
                     "MEPI", "MEDEPICONDYLE", "MEDIALFEMORALEPICONDYLE", "MEDFEMEPI"),
        "KJC": ("KJC", "KNEEJC", "KNEEJOINT", "KNEEJOINTCENTER", "KNEEJOINTCENTRE", "KNEECENTER", "KNEECENTRE"),
        "TTB": ("TT", "TTB", "TIBTUB", "TIBIALTUBEROSITY", "TUB"),
        "LAT_ANKLE": ("ANKLE", "LANKLE", "LATANKLE", "ANKLELAT", "ANKLELATERAL", "LATERALANKLE", "LM", "FAL",
                      "LMAL", "LATMAL", "LATERALMALLEOLUS"),
        "MED_ANKLE": ("MANKLE", "MEDANKLE", "ANKLEMED", "ANKLEMEDIAL", "MEDIALANKLE", "MM", "TAM", "MMAL",
                      "MEDMAL", "MEDIALMALLEOLUS"),
        "AJC": ("AJC", "ANKLEJC", "ANKLEJOINT", "ANKLEJOINTCENTER", "ANKLEJOINTCENTRE", "ANKLECENTER",
                "ANKLECENTRE"),
        "HEEL": ("HEEL", "HEE", "CAL", "CALC", "CALCANEUS", "FCC", "HEELBACK"),
        "MT1": ("MT1", "MTH1", "FM1", "FMT1", "MET1", "1META", "META1", "MTP1"),
        "MT5": ("MT5", "MTH5", "FM5", "FMT5", "MET5", "5META", "META5", "MTP5", "VMH"),
        "FOREFOOT": ("TOE", "MT2", "MTH2", "FM2", "MET2", "2META", "FOREFOOT"),
        "TOE_TIP": ("TOETIP", "HALLUX", "HLX", "BIGTOE", "TOETOP", "TOEEND"),
        "C7": ("C7", "CV7", "VERTEBRAC7"),
        "T10": ("T10", "TH10"),
        "CLAV": ("CLAV", "CLAVICLE", "MIDCLAVICLE", "JN", "IJ", "SUPRASTERNAL", "SUPRASTERNALE", "JUGULARNOTCH",
                 "MANUBRIUM", "STER"),
        "STRN": ("STRN", "XIPHOID", "XIPH", "XYPH", "PX", "XP", "XPRO"),
        "ACROMION": ("ACROMION", "ACR", "AC", "SHOULDER", "SHO"),
        "HEADTOP": ("HEADTOP", "TOPHEAD", "VERTEX", "THEAD", "HEADVERTEX", "TOPOFHEAD"),
        "FOREHEAD": ("FOREHEAD", "GLABELLA", "FHEAD", "SELLION"),
        "FRONT_HEAD": ("FHD", "FRONTHEAD", "HEADFRONT", "TEMPLE", "TEMP"),
        "BACK_HEAD": ("BHD", "BACKHEAD", "HEADBACK", "REARHEAD", "HEADREAR"),
        "SJC": ("SJC", "SHOULDERJC", "GH", "GHJC", "SHOULDERJOINTCENTER", "SHOULDERJOINTCENTRE"),
        "LAT_ELBOW": ("ELBOW", "LELBOW", "ELB", "LATELBOW", "ELBOWLAT", "ELBOWLATERAL", "LATERALELBOW", "LE",
                      "HLE", "LEE", "LEL", "LATERALHUMERALEPICONDYLE"),
        "MED_ELBOW": ("MELBOW", "MEDELBOW", "ELBOWMED", "ELBOWMEDIAL", "MEDIALELBOW", "ME", "HME", "MEE", "MEL",
                      "MEDIALHUMERALEPICONDYLE"),
        "EJC": ("EJC", "ELBOWJC", "ELBOWJOINT", "ELBOWJOINTCENTER", "ELBOWJOINTCENTRE", "ELBOWCENTER"),
        "RAD_STYLOID": ("RSP", "RS", "RADIALSTYLOID", "RADSTYLOID", "WRISTRADIAL", "WRISTLATERAL", "LWRIST",
                        "LATWRIST", "WRISTTHUMB", "WRA"),
        "ULN_STYLOID": ("USP", "US", "ULNARSTYLOID", "ULNSTYLOID", "WRISTULNAR", "WRISTMEDIAL", "MWRIST",
                        "MEDWRIST", "WRISTPINKIE", "WRB"),
        "WRIST": ("WRIST", "WRI", "WRS"),
        "WJC": ("WJC", "WRISTJC", "WRISTJOINT", "WRISTJOINTCENTER", "WRISTJOINTCENTRE", "WRISTCENTER"),
        "MH2": ("MH2", "MCP2", "MC2", "HMC2", "CMH2", "CARPALMETAHEAD2", "INDEXKNUCKLE"),
        "MH5": ("MH5", "MCP5", "MC5", "HMC5", "CMH5", "CARPALMETAHEAD5", "PINKYKNUCKLE"),
        "HAND": ("FIN", "HAND", "FINGER"),
    },
}

for _conv, _table in ALIASES.items():  # the table refers to roles that exist, with unique names per convention
    assert set(_table) <= set(ROLES), (_conv, set(_table) - set(ROLES))
    _flat = [b for names in _table.values() for b in names]
    assert len(_flat) == len(set(_flat)), (_conv, sorted({b for b in _flat if _flat.count(b) > 1}))

#: convention -> base name -> role
_LOOKUP: dict[str, dict[str, str]] = {c: {b: r for r, names in t.items() for b in names} for c, t in ALIASES.items()}
#: where a label has no meaning in the detected convention, the first of these that has one decides
_FALLBACK_ORDER = ("pig", "cmu", "opencap", "gait2354", "generic", "odahgen")
_SIDES = (("RIGHT", "r"), ("LEFT", "l"), ("R", "r"), ("L", "l"))
#: ``--map`` targets that do not name a model marker
IGNORE, CLUSTER = "-", "cluster"


def normalise(label: str) -> str:
    """Upper case, letters and digits only, without a ``Subject:`` prefix or a ``_study`` suffix."""
    s = label.rsplit(":", 1)[-1]
    s = re.sub(r"[_.\s-]*study$", "", s, flags=re.IGNORECASE) or s
    return "".join(ch for ch in s.upper() if ch.isalnum())


def _forms(label: str) -> list[tuple[str, str]]:
    """(base, side) readings of a label: as it is (midline), then without a side prefix, then
    without a side suffix. Side "r"/"l", or "" for none."""
    n = normalise(label)
    out = [(n, "")]
    for word, side in _SIDES:
        if n.startswith(word) and len(n) > len(word):
            out.append((n[len(word):], side))
    for word, side in _SIDES:
        if n.endswith(word) and len(n) > len(word):
            out.append((n[: -len(word)], side))
    return out


def meanings(label: str) -> dict[str, tuple[str, str]]:
    """convention -> (role, side) for every convention that knows the label."""
    out: dict[str, tuple[str, str]] = {}
    forms = _forms(label)
    for conv, table in _LOOKUP.items():
        for base, side in forms:
            role = table.get(base)
            if role is not None and ROLES[role].sided == (side != ""):
                out[conv] = (role, side)
                break
    return out


def detect_convention(labels: list[str]) -> tuple[str, dict[str, int]]:
    """(convention, labels explained per convention): the specific convention that explains
    most labels (``generic`` only when none does; OpenCap's ``_study`` suffix counts double)."""
    counts = {c: 0 for c in CONVENTIONS}
    for lb in labels:
        bonus = 2 if re.search(r"study$", lb, flags=re.IGNORECASE) else 1
        for conv in meanings(lb):
            counts[conv] += bonus if conv == "opencap" else 1
    specific = [c for c in CONVENTIONS if c != "generic"]
    best = max(specific, key=lambda c: (counts[c], -specific.index(c)))
    return (best if counts[best] > 0 else "generic"), counts


def label_role(label: str, convention: str | None = None) -> tuple[str, str] | None:
    """(role, side) of a label read in ``convention`` (or, where that convention does not know
    it, the first convention of ``_FALLBACK_ORDER`` that does), or None."""
    m = meanings(label)
    if convention in m:
        return m[convention]
    for conv in _FALLBACK_ORDER:
        if conv in m:
            return m[conv]
    return None


def role_key(role: str, side: str) -> str:
    """``ASIS_r``, ``C7``: a role with its side, as stored in summaries."""
    return f"{role}_{side}" if side else role


def builtin_marker(role: str, side: str) -> str | None:
    """The built-in marker of a role and side (``("ASIS", "r")`` -> ``RASI``), or None."""
    b = ROLES[role].builtin
    if b is None:
        return None
    return (side.upper() + b) if ROLES[role].sided else b


# ------------------------------------------------------------------------------------------
@dataclass
class MarkerMapping:
    """How the labels of a data set meet the model.

    ``model``: label -> model marker for the labels matched; ``how``: label -> ``map`` (the
    user's map), ``name`` (same name), ``role`` or ``stand-in`` (a fallback role);
    ``roles``: label -> role key (``ASIS_r``) for every label with a role; ``clusters``: labels
    placed on the nearest segment (``cluster_body`` once placed); ``dropped``: labels without
    a valid sample; ``ignored``: labels the map told to ignore; ``convention``: the detected
    naming convention and ``counts`` per convention."""

    labels: list[str]
    model: dict[str, str] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    clusters: list[str] = field(default_factory=list)
    cluster_body: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    convention: str = "generic"
    counts: dict[str, int] = field(default_factory=dict)

    def renames(self) -> dict[str, str]:
        """label -> name in the renamed data (model markers, clusters keep their label)."""
        out = dict(self.model)
        taken = set(self.model.values())
        for c in self.clusters:
            out[c] = c if c not in taken else f"{c}~"
        return out

    def apply(self, data: MarkerData) -> MarkerData:
        """``data`` with matched labels renamed to their model markers, clusters kept under
        their label, dropped and ignored labels left out."""
        ren = self.renames()
        keep = [n for n in data.names if n in ren]
        return MarkerData([ren[n] for n in keep], data.positions[:, [data.names.index(n) for n in keep]],
                          data.fps, data.times.copy())

    def as_dict(self) -> dict:
        """JSON-ready: convention, matched {label: model marker}, how, roles, clusters
        {label: body or null}, dropped, ignored."""
        return {
            "convention": self.convention,
            "convention_counts": {k: v for k, v in self.counts.items() if v},
            "matched": dict(self.model),
            "how": dict(self.how),
            "roles": dict(self.roles),
            "clusters": {c: self.cluster_body.get(c) for c in self.clusters},
            "dropped": list(self.dropped),
            "ignored": list(self.ignored),
        }

    def summary_lines(self, width: int = 100) -> list[str]:
        """Lines for a log: a headline, the matches, the clusters, what was dropped."""
        conv = CONVENTIONS.get(self.convention, self.convention).split(" (")[0]
        out = [f"marker mapping ({conv} names): {len(self.model)} matched, {len(self.clusters)} clusters"
               + (f", {len(self.dropped)} dropped (no valid sample)" if self.dropped else "")
               + (f", {len(self.ignored)} ignored" if self.ignored else "")]
        pairs = [f"{k}={v}" if k != v else k for k, v in self.model.items()]
        if any(self.how.get(k) == "map" for k in self.model):
            pairs = [p + (" (map)" if self.how.get(k) == "map" else "") for p, k in zip(pairs, self.model)]
        out += _wrap("  matched: ", pairs, width)
        if self.clusters:
            out += _wrap("  clusters: ", [f"{c}@{self.cluster_body[c]}" if c in self.cluster_body else c
                                          for c in self.clusters], width)
        if self.dropped:
            out += _wrap("  dropped: ", self.dropped, width)
        if self.ignored:
            out += _wrap("  ignored: ", self.ignored, width)
        return out


def _wrap(head: str, items: list[str], width: int) -> list[str]:
    lines, cur = [], head
    for it in items:
        if len(cur) + len(it) + 2 > width and cur.strip() not in (head.strip(), ""):
            lines.append(cur.rstrip(", "))
            cur = " " * len(head)
        cur += it + ", "
    lines.append(cur.rstrip(", "))
    return lines


def model_roles(model_markers: list[str]) -> tuple[str, dict[str, tuple[str, str]], dict[tuple[str, str], str]]:
    """The model's markers read in their own detected convention (the built-in set: odahgen):
    (convention, {marker: (role, side)}, {(role, side): the first marker with it})."""
    conv, _ = detect_convention(model_markers)
    roles: dict[str, tuple[str, str]] = {}
    by_role: dict[tuple[str, str], str] = {}
    for n in model_markers:
        r = label_role(n, conv)
        if r is not None:
            roles[n] = r
            by_role.setdefault(r, n)
    return conv, roles, by_role


def map_markers(labels: list[str], model_markers: list[str], override: dict[str, str] | None = None,
                present: set[str] | None = None) -> MarkerMapping:
    """Match data ``labels`` to ``model_markers`` (see the module docstring for the rules).

    ``override``: label -> model marker, ``-`` (ignore) or ``cluster`` (the ``--map`` file;
    entries for labels not in the data are ignored). ``present``: the labels with at least one
    valid sample (default all); the others are dropped."""
    override = dict(override or {})
    labels = list(dict.fromkeys(labels))
    model_markers = list(model_markers)
    conv, counts = detect_convention(labels)
    mm = MarkerMapping(labels=labels, convention=conv, counts=counts)
    mconv, mroles, by_role = model_roles(model_markers)
    norm_model: dict[str, str] = {}
    for n in model_markers:
        norm_model.setdefault(normalise(n), n)
    taken: dict[str, str] = {}  # model marker -> label

    def take(lb, tgt, how):
        mm.model[lb], mm.how[lb], taken[tgt] = tgt, how, lb

    todo = []
    for lb in labels:
        r = label_role(lb, conv)
        if r is not None:
            mm.roles[lb] = role_key(*r)
        if present is not None and lb not in present:
            mm.dropped.append(lb)
        elif lb in override:
            tgt = override[lb].strip()
            if tgt.lower() in (IGNORE, "none", "ignore", ""):
                mm.ignored.append(lb)
            elif tgt.lower() == CLUSTER:
                mm.clusters.append(lb)
            elif tgt not in model_markers:
                warnings.warn(f"marker map: {lb} -> {tgt}: the model has no marker {tgt!r}; {lb} is matched "
                              "automatically ('-' ignores a label, 'cluster' places it on the nearest segment)",
                              stacklevel=2)
                todo.append((lb, r))
            else:
                take(lb, tgt, "map")
        else:
            todo.append((lb, r))
    # 1. the same name (case and separators aside), unless the data's convention reads the
    #    label as another role than the model's marker of that name has (PiG LTOE vs odahgen LTOE)
    rest = []
    for lb, r in todo:
        tgt = lb if lb in model_markers else norm_model.get(normalise(lb))
        veto = tgt is not None and conv != mconv and r is not None and mroles.get(tgt, r) != r
        if tgt is not None and tgt not in taken and not veto:
            take(lb, tgt, "name")
        else:
            rest.append((lb, r))
    # 2. the role; 3. a stand-in role where the model has no marker for the role at all
    later = []
    for lb, r in rest:
        tgt = by_role.get(r) if r is not None else None
        if tgt is not None and tgt not in taken:
            take(lb, tgt, "role")
        else:
            later.append((lb, r))
    for lb, r in later:
        tgt = None
        if r is not None and r not in by_role:
            tgt = next((by_role[(f, r[1])] for f in ROLES[r[0]].fallback if (f, r[1]) in by_role), None)
        if tgt is not None and tgt not in taken:
            take(lb, tgt, "stand-in")
        else:
            mm.clusters.append(lb)
    order = {lb: i for i, lb in enumerate(labels)}
    mm.model = dict(sorted(mm.model.items(), key=lambda kv: order[kv[0]]))
    mm.clusters.sort(key=order.get)
    return mm


def present_labels(*datas: MarkerData | None) -> set[str]:
    """Labels with at least one valid sample in any of ``datas``."""
    out: set[str] = set()
    for d in datas:
        if d is not None:
            ok = np.isfinite(d.positions).all(axis=2).any(axis=0)
            out |= {n for n, o in zip(d.names, ok) if o}
    return out


# ------------------------------------------------------------------------------------------ clusters
def _segments(tree: KinematicTree) -> list[np.ndarray]:
    """Per body, the far ends (k, 3) in its frame of its segments from the body origin: each
    child joint, and twice the mass centre (the far end of a leaf segment, or the head for the
    torso)."""
    ends = [[2.0 * tree.mass_center[b]] for b in range(len(tree.body_names))]
    for c, par in enumerate(tree.body_parent):
        if par >= 0:
            ends[par].append(tree.X_PF[c, :3, 3])
    return [np.array(e) for e in ends]


def _segment_distance(z: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Distance (...,) of points z (..., 3) to the segments from the origin to each of ``ends`` (k, 3)."""
    L2 = np.maximum((ends * ends).sum(axis=1), 1e-12)  # (k,)
    t = np.clip((z[..., None, :] * ends).sum(axis=-1) / L2, 0.0, 1.0)  # (..., k)
    d = np.linalg.norm(z[..., None, :] - t[..., None] * ends, axis=-1)
    return d.min(axis=-1)


def place_clusters(tree: KinematicTree, data: MarkerData, names: list[str], solve, max_frames: int = 30,
                   source: str = "markers") -> tuple[KinematicTree, dict[str, str]]:
    """Add the markers ``names`` of ``data`` (cluster labels, the other markers of ``data``
    being the model's) to a copy of ``tree``, each on its nearest body segment.

    Up to ``max_frames`` frames spread over ``data`` (and up to 5 where each cluster is seen) are
    solved with the model's markers (``solve(tree, Y (F, m, 3), idx (m,), names) -> q (F, n)``);
    a cluster's body is the one whose segments (origin to child joints / far end) it is nearest
    to, plus how much its position in that body's frame spreads over the frames (0 for the body
    it rides on); its location is its mean position in that frame. A cluster never seen in a
    frame with 3 of the model's markers is left out. Returns (tree with the clusters,
    {name: body} of those placed)."""
    if not names:
        return tree, {}
    land = [n for n in data.names if n in tree.marker_names and n not in names]
    ok = np.isfinite(data.positions).all(axis=2)
    jl = [data.names.index(n) for n in land]
    usable = np.nonzero(ok[:, jl].sum(axis=1) >= 3)[0] if jl else np.zeros(0, int)
    if len(usable) == 0:
        raise OdahgenError(f"{source}: too few of the model's markers to place the clusters "
                           f"{', '.join(names[:8])} (no frame with 3 matched markers)")

    def spread(frames, k):
        return frames[np.unique(np.linspace(0, len(frames) - 1, min(k, len(frames))).round().astype(int))]

    fr = [spread(usable, max_frames)]
    for n in names:
        seen = usable[ok[usable, data.names.index(n)]]
        if len(seen):
            fr.append(spread(seen, 5))
    fr = np.unique(np.concatenate(fr))
    idx = np.array([tree.marker_names.index(n) for n in land], dtype=int)
    q = solve(tree, data.positions[fr][:, jl], idx, land)
    R, p, _ = tree.forward(q)  # (F, B, 3, 3), (F, B, 3)
    ends = _segments(tree)
    length = np.array([np.linalg.norm(e, axis=1).max() for e in ends])
    cand = [b for b in range(len(tree.body_names)) if length[b] >= 0.03 and "patella" not in tree.body_names[b]]
    placed, bodies, locs, where = [], [], [], {}
    for n in names:
        y = data.positions[fr, data.names.index(n)]  # (F, 3)
        f = np.isfinite(y).all(axis=1)
        if not f.any():
            continue
        z = np.einsum("fbji,fbj->fbi", R[f], y[f, None, :] - p[f])  # (F, B, 3) in each body frame
        score = [float(np.median(_segment_distance(z[:, b], ends[b])))
                 + float(np.sqrt(((z[:, b] - z[:, b].mean(axis=0)) ** 2).sum(axis=1).mean())) for b in cand]
        best = cand[int(np.argmin(score))]
        placed.append(n)
        bodies.append(best)
        locs.append(z[:, best].mean(axis=0))
        where[n] = tree.body_names[best]
    t = copy.copy(tree)
    t.marker_names = list(tree.marker_names) + placed
    t.marker_body = np.concatenate([tree.marker_body, np.array(bodies, dtype=tree.marker_body.dtype)])
    t.marker_loc = np.concatenate([tree.marker_loc, np.array(locs).reshape(-1, 3)])
    return t, where


def cluster_classes(names: list[str]) -> dict[str, str]:
    """IK class of placed markers: ``cluster`` (their place comes from the data, not from
    anatomy), unless the marker classes know a special class for the name (e.g. head markers)."""
    out = {}
    for n in names:
        c = guess_marker_class(n)
        out[n] = "cluster" if c in ("bony", "joint_centre", "cluster") else c
    return out


def warn_dropped(source: str, names: list[str], what: str = "dropping {n} markers with no valid sample") -> None:
    """One warning naming (the first 12 of) ``names``, if any."""
    if names:
        warnings.warn(f"{source}: {what.format(n=len(names))}: {', '.join(names[:12])}"
                      + (" ..." if len(names) > 12 else ""), stacklevel=3)


def prepare_markers(tree: KinematicTree, data: MarkerData, solve, marker_map: dict[str, str] | None = None,
                    source: str = "markers", mapping: MarkerMapping | None = None):
    """Map ``data``'s labels to the model (``mapping``: a ready :class:`MarkerMapping`, else made
    with ``marker_map``), drop markers missing in every frame of ``data`` (warned), and place the
    labels the model has no marker for as clusters on their nearest segment (:func:`place_clusters`
    with the pose solver ``solve``, e.g. :func:`odahgen.skeleton.ik.landmark_poses`). Returns
    (tree with the clusters, data renamed to the tree's marker names, mapping with
    ``cluster_body`` filled, {cluster: IK class})."""
    mm = mapping or map_markers(data.names, tree.marker_names, marker_map, present=present_labels(data))
    here = present_labels(data)
    warn_dropped(source, [n for n in mm.dropped if n in data.names]
                 + [n for n in list(mm.model) + mm.clusters if n in data.names and n not in here])
    n_ok = sum(1 for n in mm.model if n in here)
    if n_ok < 3:
        raise OdahgenError(f"{source}: only {n_ok} of {len(data.names)} marker names match the model's markers "
                           "by name or anatomical role; give a marker map (--map)")
    ren = mm.renames()
    keep = [n for n in data.names if n in ren and n in here]
    out = MarkerData([ren[n] for n in keep], data.positions[:, [data.names.index(n) for n in keep]], data.fps,
                     data.times.copy())
    clusters = [ren[n] for n in mm.clusters if n in here]
    tree, where = place_clusters(tree, out, clusters, solve, source=source)
    lost = [c for c in clusters if c not in where]
    if lost:  # never seen together with 3 matched markers: nothing to place them by
        warn_dropped(source, lost, "dropping {n} clusters never seen with 3 matched markers")
        out = out.subset([n for n in out.names if n not in lost])
    inv = {v: k for k, v in ren.items()}
    mm.cluster_body.update({inv[c]: b for c, b in where.items()})
    return tree, out, mm, cluster_classes(list(where))


# ------------------------------------------------------------------------------------------ up axis
def role_levels(labels: list[str]) -> dict[str, float]:
    """label -> height rank (0 floor .. 1 head top) for labels whose role has one."""
    conv, _ = detect_convention(labels)
    out = {}
    for lb in labels:
        r = label_role(lb, conv)
        if r is not None and ROLES[r[0]].level is not None:
            out[lb] = ROLES[r[0]].level
    return out


def orient_markers(data: MarkerData, up: str = "auto", static: MarkerData | None = None,
                   default: str = "y") -> tuple[MarkerData, MarkerData | None, str, str]:
    """Turn ``data`` (and ``static``) to OpenSim's Y up. ``up``: the files' vertical axis
    (``y``, ``z``, ``x``, ``-y``, ...) or ``auto``: detected from the roles of the labels
    (head above pelvis above feet; :func:`odahgen.io.mocap.detect_up_axis`) in ``static``
    (else ``data``), ``default`` when they cannot tell. Returns (data, static, up, reason)."""
    if up == "auto":
        ref = static if static is not None else data
        up, reason, _sure = detect_up_axis(ref, role_levels(ref.names), default=default)
    else:
        reason = "given"
    return to_y_up(data, up), (to_y_up(static, up) if static is not None else None), up, reason
