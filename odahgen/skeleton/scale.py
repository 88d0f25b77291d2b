"""Subject scaling: static-pose selection, per-segment scale factors, marker placement, and
writing the scaled model with OpenSim.

Measurement-based scaling, like OpenSim's MeasurementSet: each segment has marker-pair
measurements (:data:`MEASUREMENTS`: pelvis width ASIS-ASIS and depth ASIS-PSIS, thigh ASIS /
greater trochanter / hip centre to lateral femoral epicondyle, shank epicondyle to malleolus,
foot heel to toe, upper arm acromion to lateral epicondyle, forearm epicondyle to styloid,
torso C7 / clavicle to pelvis). A segment's factor is the mean over its available pairs of
(distance in the static trial) / (distance on the model in the static pose), iterated with IK
on the static frames so cross-joint pairs are measured in the subject's pose. Where pairs on
one body point along different body axes, the factors are per axis (pelvis: ASIS-ASIS gives
the width z, ASIS-PSIS mostly the depth x; an axis no pair measures keeps the mean factor). Markers are
found by landmark role, whatever the marker set calls them (``RASI``, ``R.ASIS``, ``RASIS``
...). Segments with no usable pair get a least-squares fit of all their markers instead
(left and right tied; bodies without markers share a neighbour's group). Factors outside
[0.5, 2.0] are an error that names the segment. Subject mass and height are given or
estimated (height from the markers, mass BMI 22); mass is redistributed by OpenSim. The
markers are then placed on the scaled bodies at the static pose.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.io import atomic_path
from odahgen.skeleton.ik import initial_guess, marker_weights, match_markers, register_offsets, solve_frames
from odahgen.skeleton.kinematics import KinematicTree
from odahgen.skeleton.markers import CLASS_WEIGHT, strip_marker_suffix
from odahgen.io.mocap import MarkerData

PLAUSIBLE_SCALE = (0.5, 2.0)
#: warning for labels with no landmark in the model: scaling does not use them; the motion's IK
#: places them as clusters on their nearest segment (:func:`odahgen.skeleton.mapping.prepare_markers`)
UNMATCHED_NOTE = "scaling uses the model's landmarks only; {n} markers without one are placed as clusters for IK"
#: body -> group leader for bodies that usually carry no marker (Rajagopal naming)
_SHARE = {"patella": "femur", "talus": "tibia", "toes": "calcn", "radius": "ulna", "hand": "ulna"}


@dataclass
class ScaleResult:
    """scales (B, 3) per body of ``tree.body_names``; marker_loc (M, 3) placed markers in the
    scaled body frames; static_frames: the frame indices used; mass_kg, height_m; rms_m:
    static fit marker RMS; segments: segment -> {"factor", "method" ("measurement" or
    "least_squares"), "pairs": [(marker a, marker b, data m, model m), ...]}."""

    scales: np.ndarray
    marker_loc: np.ndarray
    static_frames: np.ndarray
    mass_kg: float
    height_m: float
    rms_m: float
    segments: dict = field(default_factory=dict)


#: landmark role -> normalised base names (side prefix/suffix removed) it goes by
ROLES: dict[str, tuple[str, ...]] = {
    "ASIS": ("ASI", "ASIS"),
    "PSIS": ("PSI", "PSIS"),
    "HJC": ("HJC", "HIPJC"),
    "GTR": ("GTR", "GT", "TROCH", "TROCHANTER"),
    "LFC": ("LFC", "KNE", "KNEE", "LKNEE", "LFE", "LEPI"),
    "KJC": ("KJC",),
    "LMAL": ("LMAL", "ANK", "ANKLE", "LANKLE", "LM"),
    "AJC": ("AJC",),
    "CAL": ("CAL", "HEE", "HEEL", "CALC"),
    "TOE": ("TOE", "TOETIP", "HLX", "HALLUX", "MT2", "MT1", "MTH1", "FM1"),
    "ACR": ("ACR", "SHO", "SHOULDER", "ACROMION"),
    "LEL": ("LEL", "ELB", "ELBOW", "LELBOW", "LE"),
    "STY": ("RSP", "WRA", "WRIST", "RS", "USP", "WRB", "US", "LWRIST", "MWRIST"),
    "SJC": ("SJC",),
    "EJC": ("EJC",),
    "WJC": ("WJC",),
    "C7": ("C7",),
    "CLAV": ("CLAV", "CLAVICLE", "MIDCLAVICLE", "JN", "IJ"),
}
MIDLINE_ROLES = {"C7", "CLAV"}

#: segment -> (bodies it scales, marker-pair measurements as ((role, side), (role, side)));
#: side "s" = the segment's side, "r"/"l" fixed, "" midline. "{s}" in body names = side.
MEASUREMENTS: dict[str, tuple[tuple[str, ...], tuple]] = {
    "pelvis": (("pelvis",), ((("ASIS", "r"), ("ASIS", "l")), (("ASIS", "r"), ("PSIS", "r")), (("ASIS", "l"), ("PSIS", "l")))),
    "thigh": (("femur_{s}", "patella_{s}"), ((("ASIS", "s"), ("LFC", "s")), (("GTR", "s"), ("LFC", "s")), (("HJC", "s"), ("LFC", "s")))),
    "shank": (("tibia_{s}", "talus_{s}"), ((("LFC", "s"), ("LMAL", "s")), (("KJC", "s"), ("AJC", "s")))),
    "foot": (("calcn_{s}", "toes_{s}"), ((("CAL", "s"), ("TOE", "s")),)),
    "upper_arm": (("humerus_{s}",), ((("SJC", "s"), ("LEL", "s")), (("ACR", "s"), ("LEL", "s")))),
    "forearm": (("ulna_{s}", "radius_{s}", "hand_{s}"), ((("EJC", "s"), ("STY", "s")), (("EJC", "s"), ("WJC", "s")),
                                                         (("LEL", "s"), ("STY", "s")))),
    "torso": (("torso",), ((("C7", ""), ("PSIS", "r")), (("C7", ""), ("PSIS", "l")), (("CLAV", ""), ("ASIS", "r")),
                           (("CLAV", ""), ("ASIS", "l")), (("ACR", "r"), ("ACR", "l")), (("C7", ""), ("CLAV", "")))),
}


def select_static_window(data: MarkerData, seconds: float = 0.5) -> np.ndarray:
    """Frame indices of the window where the markers move least (mean speed, NaN-tolerant)."""
    T = data.n_frames
    w = max(1, min(T, int(round(seconds * data.fps))))
    if T <= w:
        return np.arange(T)
    v = np.linalg.norm(np.diff(data.positions, axis=0), axis=2)  # (T-1, M)
    v = np.where(np.isfinite(v), v, np.nan)
    speed = np.nanmean(v, axis=1)
    speed = np.where(np.isfinite(speed), speed, np.inf)
    c = np.convolve(speed, np.ones(w - 1 if w > 1 else 1), mode="valid") if w > 1 else speed
    start = int(np.argmin(c))
    return np.arange(start, start + w)


def _groups(tree: KinematicTree) -> np.ndarray:
    """Group index per body: left/right tied, marker-less bodies share a neighbour's group."""
    names = tree.body_names
    key = []
    for n in names:
        base = n[:-2] if n.endswith(("_r", "_l")) else n
        key.append(_SHARE.get(base, base))
    has = {k for k, b in zip(key, range(len(names))) if (tree.marker_body == b).any()}
    for b, k in enumerate(key):
        if k not in has:  # no marker in the group: use the parent's group
            p = tree.body_parent[b]
            key[b] = key[p] if p >= 0 else k
    uniq = list(dict.fromkeys(key))
    return np.array([uniq.index(k) for k in key])


def scaled_tree(tree: KinematicTree, s: np.ndarray) -> KinematicTree:
    """A copy of ``tree`` with body b scaled by s[b] (B,3): offsets, markers, mass centres."""
    t = copy.copy(tree)
    t.X_PF = tree.X_PF.copy()
    t.X_BM = tree.X_BM.copy()
    for b in range(len(tree.body_names)):
        t.X_BM[b, :3, 3] = tree.X_BM[b, :3, 3] * s[b]
        par = tree.body_parent[b]
        if par >= 0:
            t.X_PF[b, :3, 3] = tree.X_PF[b, :3, 3] * s[par]
    t.marker_loc = tree.marker_loc * s[tree.marker_body]
    t.mass_center = tree.mass_center * s
    t.scale_factors = tree.scale_factors * s
    return t


def _static_weights(names: list[str]) -> tuple[np.ndarray, list[str]]:
    """IK weights and classes on the static trial: as in IK, except that head markers count as
    bony landmarks (the static pose holds the head neutral, so a model without a neck carries
    them where they are; in a motion they follow the head and get the low ``head`` weight)."""
    w, cls = marker_weights(names)
    cls = ["bony" if c == "head" else c for c in cls]
    return np.array([CLASS_WEIGHT[c] for c in cls]), cls


def fit_scales(
    tree: KinematicTree,
    static: MarkerData,
    marker_map: dict[str, str] | None = None,
    frames: np.ndarray | None = None,
    rounds: int = 6,
    source: str = "static",
    check: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Least-squares per-body scales (B,3) on the static frames (segment groups, see module
    docstring). Returns (scales, q (F,n), marker idx, rms)."""
    frames = select_static_window(static) if frames is None else frames
    data, idx = match_markers(tree, static.frames(slice(int(frames[0]), int(frames[-1]) + 1)), marker_map, source,
                              unmatched=UNMATCHED_NOTE if check else None)
    sel = np.linspace(0, data.n_frames - 1, min(10, data.n_frames)).astype(int)
    Y = data.positions[sel]
    w, cls = _static_weights(data.names)
    g = _groups(tree)
    G = g.max() + 1
    x = np.ones(G)
    q = initial_guess(tree, Y, idx, w)
    for _ in range(rounds):
        t = scaled_tree(tree, np.repeat(x[g][:, None], 3, axis=1))
        q, _ = solve_frames(t, Y, idx, w, q)
        # Gauss-Newton on the group scales (finite differences), poses fixed
        def resid(xx):
            tt = scaled_tree(tree, np.repeat(xx[g][:, None], 3, axis=1))
            R, p, _ = tt.forward(q)
            mk = tt.markers(R, p)[:, idx]
            r = np.where(np.isfinite(Y), mk - Y, 0.0) * np.sqrt(w)[None, :, None]
            return r.ravel()
        r0 = resid(x)
        J = np.empty((r0.size, G))
        for k in range(G):
            xx = x.copy()
            xx[k] += 1e-4
            J[:, k] = (resid(xx) - r0) / 1e-4
        A = J.T @ J + 1e-3 * np.eye(G) * (np.trace(J.T @ J) / G)
        x = x - np.linalg.solve(A, J.T @ r0)
    s = np.repeat(x[g][:, None], 3, axis=1)
    if check:
        _check_plausible(tree, s, {}, source)
    t = scaled_tree(tree, s)
    q, cost = solve_frames(t, Y, idx, w, q)
    R, p, _ = t.forward(q)
    rms = float(np.sqrt(np.nanmean(np.sum((t.markers(R, p)[:, idx] - Y) ** 2, axis=2))))
    return s, q, idx, rms


def _check_plausible(tree: KinematicTree, s: np.ndarray, segments: dict, source: str) -> None:
    for b, n in enumerate(tree.body_names):
        f = float(s[b, np.argmax(np.abs(s[b] - 1.0))])  # the axis farthest from 1
        if not (PLAUSIBLE_SCALE[0] <= f <= PLAUSIBLE_SCALE[1]):
            seg = next((k for k, v in segments.items() if n in v["bodies"]), n)
            how = segments.get(seg, {}).get("method", "least_squares")
            raise OdahgenError(
                f"{source}: implausible scale factor {f:.2f} for segment {seg} (body {n}, {how}; "
                f"allowed {PLAUSIBLE_SCALE[0]}-{PLAUSIBLE_SCALE[1]}); check the marker names, map and units"
            )


def landmark_role(name: str) -> tuple[str, str] | None:
    """(role, side) of a marker name by :data:`ROLES` ("r"/"l", "" for midline), or None.
    Suffixes like OpenCap's ``_study`` are ignored (``r_knee_study`` -> lateral epicondyle, right)."""
    n = "".join(ch for ch in strip_marker_suffix(name).upper() if ch.isalnum())
    cands = [(n, "")]
    for word, side in (("RIGHT", "r"), ("LEFT", "l"), ("R", "r"), ("L", "l")):
        if n.startswith(word) and len(n) > len(word):
            cands.append((n[len(word):], side))
        if n.endswith(word) and len(n) > len(word):
            cands.append((n[: -len(word)], side))
    for base, side in cands:
        for role, names in ROLES.items():
            if base in names and (role in MIDLINE_ROLES) == (side == ""):
                return role, side
    return None


def measurement_scales(tree: KinematicTree, names: list[str], idx: np.ndarray, Y: np.ndarray,
                       q: np.ndarray) -> dict:
    """Per segment instance (``thigh_r``, ``pelvis``, ...): the factor from its marker pairs.

    names/idx: the data markers and their tree marker indices, Y (F, m, 3) static frames,
    q (F, n) the static poses. A factor is the mean over pairs of (data distance) / (distance
    on the unscaled ``tree`` at pose q). Pairs with both markers on the segment's own bodies are
    used when there are any, else the first available pair that crosses a joint."""
    roles: dict[tuple[str, str], int] = {}
    for k, n in enumerate(names):
        r = landmark_role(n)
        if r is not None and r not in roles:
            roles[r] = k
    R, p, _ = tree.forward(q)
    mk = tree.markers(R, p)[:, idx]
    out = {}
    for seg, (bodies_t, pairs) in MEASUREMENTS.items():
        sides = ("r", "l") if any("{s}" in b for b in bodies_t) else ("",)
        for side in sides:
            bodies = [b.format(s=side) for b in bodies_t]
            if not all(b in tree.body_names for b in bodies):
                continue
            bset = {tree.body_names.index(b) for b in bodies}
            pure, cross = [], []
            for (ra, sa), (rb, sb) in pairs:
                ka = roles.get((ra, side if sa == "s" else sa))
                kb = roles.get((rb, side if sb == "s" else sb))
                if ka is None or kb is None:
                    continue
                d_data = np.linalg.norm(Y[:, ka] - Y[:, kb], axis=1)
                d_model = np.linalg.norm(mk[:, ka] - mk[:, kb], axis=1)
                ok = np.isfinite(d_data) & (d_model > 1e-3)
                if ok.sum() == 0:
                    continue
                rec = (names[ka], names[kb], float(np.mean(d_data[ok])), float(np.mean(d_model[ok])))
                on = {int(tree.marker_body[idx[ka]]), int(tree.marker_body[idx[kb]])} <= bset
                (pure if on else cross).append(rec)
            use = pure or cross[:1]
            if use:
                name = f"{seg}_{side}" if side else seg
                f = float(np.mean([a / b for _, _, a, b in use]))
                out[name] = {"factor": f, "factors": _axis_factors(tree, names, idx, use, f), "method": "measurement",
                             "pairs": use, "bodies": bodies}
    return out


def _axis_factors(tree: KinematicTree, names: list[str], idx: np.ndarray, pairs: list, f: float) -> list[float]:
    """Per-axis factors (x, y, z) of a segment from its measured pairs, where the pairs tell the
    axes apart (e.g. pelvis: ASIS-ASIS along z = width, ASIS-PSIS mostly along x = depth).

    A pair of markers on one body, vector v between them in that body's frame, measures
    d^2 = sum_i (s_i v_i)^2: linear in u_i = s_i^2. The u solve this in least squares with a
    weak pull to the segment's uniform factor ``f``, so an axis no pair measures keeps ``f``
    (a thigh measured along its length stays uniform). Pairs across bodies count for ``f`` only."""
    rows, rhs = [], []
    for a, b, d_data, _d_model in pairs:
        ma, mb = idx[names.index(a)], idx[names.index(b)]
        if tree.marker_body[ma] != tree.marker_body[mb]:
            continue
        v = tree.marker_loc[ma] - tree.marker_loc[mb]
        rows.append(v * v)
        rhs.append(d_data * d_data)
    if not rows:
        return [f, f, f]
    A, y = np.array(rows), np.array(rhs)
    lam = 0.02 * float(np.trace(A.T @ A)) / 3.0
    u = np.linalg.solve(A.T @ A + lam * np.eye(3), A.T @ y + lam * f * f)
    return [float(np.sqrt(max(ui, 1e-4))) for ui in u]


def scale_subject(
    tree: KinematicTree,
    static: MarkerData,
    marker_map: dict[str, str] | None = None,
    mass_kg: float | None = None,
    height_m: float | None = None,
    source: str = "static",
    measurements: bool = True,
) -> tuple[KinematicTree, ScaleResult]:
    """Scale ``tree`` to the subject of the ``static`` trial (or the quietest window of a
    motion) and place the markers on the static pose. Returns (scaled tree, ScaleResult).

    ``measurements=False`` keeps the least-squares factors fitted to all markers instead of
    the marker-pair measurements: right for noise-free virtual markers on a body mesh,
    where every marker is exact and the whole set constrains each segment best."""
    frames = select_static_window(static)
    s, q, idx, rms = fit_scales(tree, static, marker_map, frames, source=source, check=False)
    data, _ = match_markers(tree, static.frames(slice(int(frames[0]), int(frames[-1]) + 1)), marker_map, source,
                            unmatched=UNMATCHED_NOTE)
    w, cls = _static_weights(data.names)
    sel = np.linspace(0, data.n_frames - 1, min(10, data.n_frames)).astype(int)
    Y = data.positions[sel]
    segments: dict = {}
    for _ in range(2 if measurements else 0):  # measure, re-solve the pose on the rescaled model
        segments = measurement_scales(tree, data.names, idx, Y, q)
        for seg in segments.values():
            for b in seg["bodies"]:
                s[tree.body_names.index(b)] = seg["factors"]
        q, _c = solve_frames(scaled_tree(tree, s), Y, idx, w, q)
    for b, n in enumerate(tree.body_names):
        if not any(n in v["bodies"] for v in segments.values()):
            segments[n] = {"factor": float(s[b, 0]), "method": "least_squares", "pairs": [], "bodies": [n]}
    _check_plausible(tree, s, segments, source)
    t = scaled_tree(tree, s)
    R, p, _ = t.forward(q)
    rms = float(np.sqrt(np.nanmean(np.sum((t.markers(R, p)[:, idx] - Y) ** 2, axis=2))))
    t.marker_loc = register_offsets(t, Y, idx, q, cls, t.marker_loc)
    if height_m is None:
        R, p, jc = t.forward(q[:1])
        mk = t.markers(R, p)[0]
        ys = np.concatenate([p[0, :, 1], mk[:, 1]])
        height_m = float((ys.max() - ys.min()) + 0.1)  # + head above the top marker / sole
    if mass_kg is None:
        mass_kg = float(22.0 * height_m**2)
    if not (0.5 < height_m < 2.8):
        raise OdahgenError(f"{source}: implausible subject height {height_m:.2f} m")
    if not (10 < mass_kg < 400):
        raise OdahgenError(f"{source}: implausible subject mass {mass_kg:.1f} kg")
    return t, ScaleResult(s, t.marker_loc.copy(), frames, float(mass_kg), float(height_m), rms, segments)


def write_scaled_model(
    model_path: str | os.PathLike,
    out_path: str | os.PathLike,
    tree: KinematicTree,
    result: ScaleResult,
    markers_xml: str | os.PathLike | None = None,
    name: str = "scaled",
) -> Path:
    """Scale the OpenSim model with ``result.scales`` (mass preserved in distribution, set to
    ``result.mass_kg``), move its markers to the placed locations, write ``out_path`` atomically."""
    import opensim as osim  # noqa: PLC0415

    from odahgen.skeleton.model import load_model  # noqa: PLC0415

    model = load_model(model_path, markers_xml)
    state = model.initSystem()
    ss = osim.ScaleSet()
    for b, n in enumerate(tree.body_names):
        sc = osim.Scale()
        sc.setSegmentName(n)
        sc.setScaleFactors(osim.Vec3(*map(float, result.scales[b])))
        sc.setApply(True)
        ss.cloneAndAppend(sc)
    if not model.scale(state, ss, True, float(result.mass_kg)):
        raise OdahgenError(f"{model_path}: OpenSim failed to scale the model")
    ms = model.updMarkerSet()
    for m, n in enumerate(tree.marker_names):
        if ms.contains(n):
            mk = ms.get(n)
            if mk.getParentFrame().getName() == tree.body_names[tree.marker_body[m]]:
                mk.set_location(osim.Vec3(*map(float, result.marker_loc[m])))
    model.setName(name)
    model.finalizeConnections()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        if not model.printToXML(str(tmp)):
            raise OdahgenError(f"{out}: OpenSim could not write the model")
    return out
