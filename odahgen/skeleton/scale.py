"""Subject scaling: static-pose selection, per-segment scale factors, marker placement, and
writing the scaled model with OpenSim.

Scale factors are fitted per segment group (left and right tied; bodies without markers
share their group: patella with femur, talus with tibia, toes with calcn, radius/hand with
ulna) by least squares on the static frames, alternating with IK on those frames — the
marker pairs of every segment enter through the markers on that segment and its
neighbours. Factors outside [0.6, 1.6] are an error that names the segment. Subject mass
is given or estimated (BMI 22 at the estimated height); mass is redistributed by OpenSim.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.io import atomic_path
from odahgen.skeleton.ik import initial_guess, marker_weights, match_markers, register_offsets, solve_frames
from odahgen.skeleton.kinematics import KinematicTree
from odahgen.skeleton.trc import MarkerData

PLAUSIBLE_SCALE = (0.6, 1.6)
#: body -> group leader for bodies that usually carry no marker (Rajagopal naming)
_SHARE = {"patella": "femur", "talus": "tibia", "toes": "calcn", "radius": "ulna", "hand": "ulna"}


@dataclass
class ScaleResult:
    """scales (B, 3) per body of ``tree.body_names``; marker_loc (M, 3) placed markers in the
    scaled body frames; static_frames: the frame indices used; mass_kg, height_m."""

    scales: np.ndarray
    marker_loc: np.ndarray
    static_frames: np.ndarray
    mass_kg: float
    height_m: float
    rms_m: float


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


def fit_scales(
    tree: KinematicTree,
    static: MarkerData,
    marker_map: dict[str, str] | None = None,
    frames: np.ndarray | None = None,
    rounds: int = 6,
    source: str = "static",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Fit per-body scales (B,3) on the static frames. Returns (scales, q (F,n), marker idx, rms)."""
    frames = select_static_window(static) if frames is None else frames
    data, idx = match_markers(tree, static.frames(slice(int(frames[0]), int(frames[-1]) + 1)), marker_map, source)
    sel = np.linspace(0, data.n_frames - 1, min(10, data.n_frames)).astype(int)
    Y = data.positions[sel]
    w, cls = marker_weights(data.names)
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
    for b, n in enumerate(tree.body_names):
        if not (PLAUSIBLE_SCALE[0] <= s[b, 0] <= PLAUSIBLE_SCALE[1]):
            raise OdahgenError(
                f"{source}: implausible scale factor {s[b, 0]:.2f} for segment {n} "
                f"(allowed {PLAUSIBLE_SCALE[0]}-{PLAUSIBLE_SCALE[1]}); check the marker names, map and units"
            )
    t = scaled_tree(tree, s)
    q, cost = solve_frames(t, Y, idx, w, q)
    R, p, _ = t.forward(q)
    rms = float(np.sqrt(np.nanmean(np.sum((t.markers(R, p)[:, idx] - Y) ** 2, axis=2))))
    return s, q, idx, rms


def scale_subject(
    tree: KinematicTree,
    static: MarkerData,
    marker_map: dict[str, str] | None = None,
    mass_kg: float | None = None,
    height_m: float | None = None,
    source: str = "static",
) -> tuple[KinematicTree, ScaleResult]:
    """Scale ``tree`` to the subject of the ``static`` trial (or the quietest window of a
    motion) and place the markers on the static pose. Returns (scaled tree, ScaleResult)."""
    frames = select_static_window(static)
    s, q, idx, rms = fit_scales(tree, static, marker_map, frames, source=source)
    t = scaled_tree(tree, s)
    data, _ = match_markers(t, static.frames(slice(int(frames[0]), int(frames[-1]) + 1)), marker_map, source)
    _, cls = marker_weights(data.names)
    sel = np.linspace(0, data.n_frames - 1, min(10, data.n_frames)).astype(int)
    t.marker_loc = register_offsets(t, data.positions[sel], idx, q, cls, t.marker_loc)
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
    return t, ScaleResult(s, t.marker_loc.copy(), frames, float(mass_kg), float(height_m), rms)


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
