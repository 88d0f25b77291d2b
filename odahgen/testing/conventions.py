"""Lab marker files in the naming conventions labs use, for tests and bench/yield.py.

Gait2354, Plug-in Gait, CMU / MoSh and OpenCap ``_study`` labels: each label is either a
built-in model marker (the landmark the convention's role puts there) or a technical marker
(wand, thigh/shank cluster, head band) rigidly attached to a segment at a given location.
Markers are moved by FK of a built-in tree along joint angles; files are written in the
convention's vertical axis and heading, in millimetres, with white noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from odahgen.io.mocap import UP_TO_Y_UP, MarkerData, write_trc


def sides(spec_r: dict, mid: dict | None = None) -> dict:
    """Label -> source for both sides: ``spec_r`` maps a label template ("{S}", "{s}", "{Side}")
    to a built-in marker template ("{S}ASI") or (body template, location of the right side)."""
    out = dict(mid or {})
    for side, S, Side in (("r", "R", "Right"), ("l", "L", "Left")):
        for lab, src in spec_r.items():
            name = lab.format(S=S, s=side if side == "r" else "L", Side=Side)
            if isinstance(src, str):
                out[name] = src.format(S=S)
            else:
                body, loc = src
                out[name] = (body.format(s=side), (loc[0], loc[1], loc[2] if side == "r" else -loc[2]))
    return out


GAIT2354 = sides({
    "{S}.Acromium": "{S}ACR", "{S}.ASIS": "{S}ASI",
    "{S}.Thigh.Upper": ("femur_{s}", (0.02, -0.12, 0.075)), "{S}.Thigh.Front": ("femur_{s}", (0.08, -0.22, 0.01)),
    "{S}.Thigh.Rear": ("femur_{s}", (-0.06, -0.26, 0.04)), "{S}.Knee.Lat": "{S}LFC", "{S}.Knee.Med": "{S}MFC",
    "{S}.Shank.Upper": ("tibia_{s}", (0.01, -0.1, 0.055)), "{S}.Shank.Front": ("tibia_{s}", (0.045, -0.2, 0.0)),
    "{S}.Shank.Rear": ("tibia_{s}", (-0.055, -0.22, 0.02)), "{S}.Ankle.Lat": "{S}LMAL", "{S}.Ankle.Med": "{S}MMAL",
    "{S}.Heel": "{S}CAL", "{S}.Midfoot.Sup": ("calcn_{s}", (0.09, 0.06, 0.0)),
    "{S}.Midfoot.Lat": ("calcn_{s}", (0.08, 0.02, 0.045)), "{S}.Toe.Tip": "{S}TOE", "{S}.Toe.Med": "{S}MT1",
    "{S}.Toe.Lat": "{S}MT5",
}, {"Top.Head": "HEADTOP", "Sternum": "CLAV", "V.Sacral": "SACR"})

PIG = sides({
    "{S}FHD": ("torso", (0.07, 0.62, 0.05)), "{S}BHD": ("torso", (-0.08, 0.6, 0.05)), "{S}SHO": "{S}ACR",
    "{S}UPA": ("humerus_{s}", (0.0, -0.14, 0.05)), "{S}ELB": "{S}LEL", "{S}FRM": ("radius_{s}", (0.0, -0.11, 0.04)),
    "{S}WRA": "{S}RSP", "{S}WRB": "{S}USP", "{S}FIN": "{S}MH2", "{S}ASI": "{S}ASI", "{S}PSI": "{S}PSI",
    "{S}THI": ("femur_{s}", (0.0, -0.22, 0.08)), "{S}KNE": "{S}LFC", "{S}TIB": ("tibia_{s}", (0.0, -0.18, 0.06)),
    "{S}ANK": "{S}LMAL", "{S}HEE": "{S}CAL", "{S}TOE": "{S}MT1",
}, {"C7": "C7", "T10": ("torso", (-0.1, 0.25, 0.0)), "CLAV": "CLAV", "STRN": "STRN",
    "RBAK": ("torso", (-0.11, 0.33, 0.07))})

CMU = sides({
    "{S}FHD": ("torso", (0.07, 0.62, 0.05)), "{S}BHD": ("torso", (-0.08, 0.6, 0.05)), "{S}SHO": "{S}ACR",
    "{S}UPA": ("humerus_{s}", (0.0, -0.14, 0.05)), "{S}ELB": "{S}LEL", "{S}IEL": "{S}MEL",
    "{S}FRM": ("radius_{s}", (0.0, -0.11, 0.04)), "{S}OWR": "{S}RSP", "{S}IWR": "{S}USP", "{S}FIN": "{S}MH2",
    "{S}FWT": "{S}ASI", "{S}BWT": "{S}PSI", "{S}THI": ("femur_{s}", (0.0, -0.22, 0.08)), "{S}KNE": "{S}LFC",
    "{S}KNI": "{S}MFC", "{S}SHN": ("tibia_{s}", (0.0, -0.18, 0.06)), "{S}ANK": "{S}LMAL", "{S}HEE": "{S}CAL",
    "{S}TOE": ("toes_{s}", (0.03, 0.01, 0.0)), "{S}MT1": "{S}MT1", "{S}MT5": "{S}MT5",
}, {"ARIEL": "HEADTOP", "C7": "C7", "T10": ("torso", (-0.1, 0.25, 0.0)), "CLAV": "CLAV", "STRN": "STRN"})

OPENCAP = sides({
    "{s}.ASIS_study": "{S}ASI", "{s}.PSIS_study": "{S}PSI", "{s}_knee_study": "{S}LFC", "{s}_mknee_study": "{S}MFC",
    "{s}_ankle_study": "{S}LMAL", "{s}_mankle_study": "{S}MMAL", "{s}_toe_study": "{S}MT1",
    "{s}_5meta_study": "{S}MT5", "{s}_calc_study": "{S}CAL", "{s}_shoulder_study": "{S}ACR",
    "{s}_lelbow_study": "{S}LEL", "{s}_melbow_study": "{S}MEL", "{s}_lwrist_study": "{S}RSP",
    "{s}_mwrist_study": "{S}USP", "{S}HJC_study": "{S}HJC",
    "{s}_thigh1_study": ("femur_{s}", (0.02, -0.15, 0.07)), "{s}_thigh2_study": ("femur_{s}", (0.07, -0.23, 0.03)),
    "{s}_thigh3_study": ("femur_{s}", (0.01, -0.3, 0.065)), "{s}_sh1_study": ("tibia_{s}", (0.0, -0.15, 0.055)),
    "{s}_sh2_study": ("tibia_{s}", (0.04, -0.23, 0.0)), "{s}_sh3_study": ("tibia_{s}", (0.01, -0.3, 0.055)),
}, {"C7_study": "C7"})

#: convention -> (spec, vertical axis of the file, heading turn about the vertical, rad)
CASES = {"gait2354": (GAIT2354, "y", 0.0), "pig": (PIG, "z", 0.8), "cmu": (CMU, "z", -2.0), "opencap": (OPENCAP, "y", 0.3)}


def convention_markers(tree, angles, spec: dict, up: str = "y", yaw: float = 0.0, noise_m: float = 0.002, seed: int = 0):
    """MarkerData (metres, the file's axes) of the labels of ``spec`` moved by FK along ``angles``."""
    from odahgen.skeleton.fk import _model_q

    q = _model_q(tree, angles)
    R, p, _ = tree.forward(q)
    mk = tree.markers(R, p)
    cols = []
    for src in spec.values():
        if isinstance(src, str):
            cols.append(mk[:, tree.marker_names.index(src)])
        else:
            b = tree.body_names.index(src[0])
            cols.append(p[:, b] + R[:, b] @ np.array(src[1]))
    Y = np.stack(cols, axis=1)
    c, s = np.cos(yaw), np.sin(yaw)
    Y = Y @ np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]).T
    Y = Y + np.random.default_rng(seed).normal(0.0, noise_m, Y.shape)
    Y = Y @ UP_TO_Y_UP[up]  # OpenSim Y up -> the file's axes (the inverse turn)
    return MarkerData(list(spec), Y, 60.0)




def write_convention_trcs(folder, motion: str = "walk_normal", frames: int = 300,
                          scale: float = 1.06) -> list[Path]:
    """``folder/trc_<convention>_<motion>.trc`` for each of :data:`CASES`: the procedural
    ``motion`` (its first ``frames`` frames) on the built-in model scaled by ``scale``."""
    from odahgen.motion import get_source
    from odahgen.skeleton import load_tree
    from odahgen.skeleton.scale import scaled_tree

    tree = load_tree("builtin")
    st = scaled_tree(tree, np.full((len(tree.body_names), 3), scale))
    angles = get_source("procedural").load(motion).coordinates[:frames]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, (spec, up, yaw) in CASES.items():
        data = convention_markers(st, angles, spec, up=up, yaw=yaw)
        out.append(write_trc(folder / f"trc_{name}_{motion}.trc", data, units="mm"))
    return out
