"""Fast inverse kinematics: batched Levenberg-Marquardt over a NumPy copy of the model.

The model's kinematics are read once from OpenSim (:mod:`.kinematics`); the patellar
coupling is handled by solving only independent coordinates and filling the dependent
``knee_angle_*_beta`` from ``knee_angle_*`` (the constraint-free formulation). All frames of
a chunk are solved at once; chunks run in parallel processes; a continuity pass re-solves
frames whose fit is much worse than a neighbour's from that neighbour's solution. Optional
marker offset registration moves each marker on its body over the whole motion (bony
landmarks held within a few cm of their anatomical place, clusters free), as AddBiomechanics
does. Marker weights by class: bony high, joint centres medium, clusters low.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.io.heap import keep_temporaries_on_heap
from odahgen.skeleton.branches import align_branches
from odahgen.skeleton.girdle import coefficients as girdle_coefficients
from odahgen.skeleton.girdle import arm_elevation, fit_coefficients, girdle_sides, set_coefficients, with_girdle
from odahgen.skeleton.kinematics import KinematicTree, extract_tree
from odahgen.skeleton.lm import CACHE_BLOCK, REG, _cost, _determined, solve_frames  # noqa: F401
from odahgen.skeleton.smoothing import (BEND_DEG, SPIKE_DEG, SPIKE_PULL, _geodesic, _joint_rotations,  # noqa: F401
                                        _path_excess, _smooth_spikes, _smooth_undetermined)
from odahgen.skeleton.markers import CLASS_WEIGHT, acromion_classes, head_classes, marker_weights  # noqa: F401
from odahgen.skeleton.names import COORDINATE_NAMES, COUPLED_COORDINATES
from odahgen.io.mocap import MarkerData

#: how far (m) registration may move a marker from its model place, by class (head markers on a
#: model without a neck: to their mean place on the torso over the motion)
MAX_OFFSET = {"bony": 0.02, "joint_centre": 0.02, "cluster": 0.10, "head": 0.05, "acromion": 0.02}


@dataclass
class IKResult:
    """IK output. angles: (T, 39) rad/m in COORDINATE_NAMES order (NaN for coordinates the
    model lacks); coords: (T, n) in the model's own coordinate order (``coord_names``);
    marker_names (M,); marker_errors (T, M) m (NaN where missing), every marker; marker_rms/max
    (T,) m over the markers the model can follow (head markers on a model without a neck left
    out: ``info["head_rms_mean_m"]``, ``info["head_max_m"]``); flagged (T,) bool: a bony landmark
    is more than ``bony_flag_m`` off."""

    angles: np.ndarray
    coords: np.ndarray
    coord_names: list[str]
    times: np.ndarray
    marker_names: list[str]
    marker_errors: np.ndarray
    marker_rms: np.ndarray
    marker_max: np.ndarray
    flagged: np.ndarray
    marker_locations: np.ndarray  # (M, 3) body-frame marker locations used (after registration)
    seconds: float = 0.0
    info: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------
def _root_coords(tree: KinematicTree) -> np.ndarray:
    root = [b for b in range(len(tree.body_names)) if tree.body_parent[b] < 0][0]
    return np.array(sorted({ax.coord for ax in tree.axes[root] if ax.coord >= 0}), dtype=int)


def initial_guess(tree: KinematicTree, Y: np.ndarray, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-frame start (T, n): default pose with the root (pelvis) fitted. Translation from the
    marker centroids; heading from a weighted Procrustes fit of the default-pose markers to the
    data about the vertical root axis (closed form, per frame); then the root coordinates alone
    are solved. Y (T, m, 3) m."""
    T = Y.shape[0]
    q = np.tile(tree.coord_default, (T, 1))
    rc = _root_coords(tree)
    root = [b for b in range(len(tree.body_names)) if tree.body_parent[b] < 0][0]
    R, p, _ = tree.forward(q[:1])
    mk = tree.markers(R, p)[0, idx]  # (m, 3) default pose
    ok = np.isfinite(Y).all(axis=2)
    wf = np.where(ok, weights[None], 0.0)  # (T, m)
    wsum = np.maximum(wf.sum(axis=1, keepdims=True), 1e-12)
    Yz = np.where(ok[..., None], Y, 0.0)
    cen_data = (wf[..., None] * Yz).sum(axis=1) / wsum  # (T, 3)
    cen_model = (wf[..., None] * mk[None]).sum(axis=1) / wsum
    rots = [c for c in rc if tree.coord_rotational[c]]
    yaw = [c for c in rots if abs([a for a in tree.axes[root] if a.coord == c][0].axis[1]) > 0.9]
    if yaw:  # heading about the root's vertical axis a: theta = atan2(sum w a.(m x y), sum w m_perp.y_perp)
        a = tree.X_PF[root, :3, :3] @ [ax for ax in tree.axes[root] if ax.coord == yaw[0]][0].axis
        m = mk[None] - cen_model[:, None]
        y = Yz - cen_data[:, None]
        m_perp = m - (m @ a)[..., None] * a
        y_perp = y - (y @ a)[..., None] * a
        sn = (wf * (np.cross(m, y) @ a)).sum(axis=1)
        cs = (wf * (m_perp * y_perp).sum(axis=2)).sum(axis=1)
        theta = np.arctan2(sn, cs)
        q[:, yaw[0]] += theta
        c, st = np.cos(theta)[:, None], np.sin(theta)[:, None]
        rel = cen_model - (cen_model @ a)[:, None] * a  # rotate the model centroid the same way
        cen_model = (cen_model @ a)[:, None] * a + c * rel + st * np.cross(a, rel)
    for cc in [c for c in rc if not tree.coord_rotational[c]]:
        ax = [a_ for a_ in tree.axes[root] if a_.coord == cc][0]
        q[:, cc] = (cen_data - cen_model) @ (tree.X_PF[root, :3, :3] @ ax.axis) + tree.coord_default[cc]
    q, _c = solve_frames(tree, Y, idx, weights, q, cols=rc, iters=12, tol=1e-4)
    return q


def _continuity(tree, Y, idx, weights, q, cost, loc, cols, rounds: int = 3, candidates: str = "jumps", det=None):
    """Re-solve frames from a neighbour's solution and keep whichever fits better.

    ``candidates="all"``: every frame is tried from both neighbours (used on the coarse pass,
    where neighbours are far apart in time); ``"jumps"``: only frames whose cost is much worse
    than a neighbour's (by more than half the median frame cost and 1.5x) or whose
    well-determined angles (:func:`_determined`; ``det`` (T, n) at q when given) jump by
    more than 5 deg from it. After the first round only neighbours of frames whose fit
    improved clearly (:data:`MOVED_REL`, and by a tenth of the median frame cost) are tried."""
    T = len(q)
    if T < 2:
        return q, cost
    ok_m = np.isfinite(Y).all(axis=2)
    W = np.where(ok_m, weights[None], 0.0)
    if candidates != "all" and det is None:
        _c, A, _g, _x = tree.normal_equations(q, np.where(ok_m[..., None], Y, 0.0), W, idx, cols, loc)
        det = _determined(A, W)
    if candidates == "all":
        det = None
    else:
        det = det.copy()
    moved = np.ones(T, bool)  # frames whose solution changed in the last round
    # cost differences below half the typical frame cost are noise, not a worse minimum
    med = float(np.median(cost))
    floor = 0.5 * med + 1e-9
    reg = REG * float(np.median(weights))
    for _ in range(rounds):
        frames, starts = [], []
        for direction in (1, -1):
            nb = np.arange(T) - direction
            ok = (nb >= 0) & (nb < T)
            nbc = np.clip(nb, 0, T - 1)
            if candidates == "all":
                bad = np.nonzero(ok & moved[nbc])[0]
            else:  # next to a frame that changed (all, at first): much worse fit, or a jump
                big = np.abs(q[:, cols] - q[nbc][:, cols]) > np.radians(5.0)
                jump = (big & (det | det[nbc])).any(axis=1)
                worse = cost > 1.5 * cost[nbc] + floor
                bad = np.nonzero(ok & moved[nbc] & (worse | jump))[0]
            frames.append(bad)
            starts.append(bad - direction)
        bad = np.concatenate(frames)
        if len(bad) == 0:
            break
        qn, cn, An = solve_frames(tree, Y[bad], idx, weights, q[np.concatenate(starts)], loc, cols, iters=25,
                                  reg=reg, hessian=True)
        changed = False
        moved[:] = False
        for k in np.argsort(cn, kind="stable"):  # best candidate per frame wins
            f = bad[k]
            if cn[k] < cost[f] * (1 - 1e-4) - 1e-12:
                # only a clearly better fit (not a slide along a flat direction such as an
                # unobservable forearm rotation) makes the neighbours worth trying again
                moved[f] = cn[k] < cost[f] * (1 - MOVED_REL) - 0.1 * med
                q[f], cost[f] = qn[k], cn[k]
                if det is not None:
                    det[f] = _determined(An[k:k + 1], W[f:f + 1])[0]
                changed = changed or moved[f]
        if not changed:
            break
    return q, cost


def _interior_start(tree, q, cols):
    """q with every clamped coordinate moved at least a quarter of its range inside its bounds
    (a default at a bound, e.g. pro_sup = 0, traps a projected solver in a corner)."""
    q = q.copy()
    for c in cols:
        if tree.coord_clamped[c] and c not in _root_coords(tree):
            lo, hi = tree.coord_range[c]
            r = hi - lo
            q[:, c] = np.clip(q[:, c], lo + 0.25 * r, hi - 0.25 * r)
    return tree.apply_couplers(q)


#: relative cost decrease that counts as a frame having moved in a continuity round
MOVED_REL = 1e-3
#: frames of the coarse pass (every COARSE-th frame) solved from scratch
COARSE = 12
#: iterations of the coarse pass's second start (frames that ended at a bound): the few that do
#: not converge then ran alone for 60 (18 of the 74 solver calls of bench/ik.py's real trial);
#: registration and the fine pass solve every frame again
RETRY_ITERS = 25


def coarse_frames(T: int) -> np.ndarray:
    """Frames solved from scratch: every COARSE-th frame and the last (all frames if short)."""
    if T > 2 * COARSE:
        return np.unique(np.r_[np.arange(0, T, COARSE), T - 1])
    return np.arange(T)


def _solve_coarse(args):
    """From scratch on independent frames Y (K, m, 3): root fitted from several headings, then
    all coordinates from two starts (the root fit and an interior start); the better per frame.
    Frames are independent, so any split into chunks gives the same result."""
    tree, Y, idx, weights, loc = args
    cols = tree.free_coords()
    reg = REG * float(np.median(weights))
    qg = initial_guess(tree, Y, idx, weights)
    # a start at a bound (e.g. knee = 0) can trap the projected solver in a corner, so frames
    # start inside the ranges; those that end with a coordinate at a bound are solved again
    # from the root fit alone (the default pose), and the better fit is kept
    qc, cc = solve_frames(tree, Y, idx, weights, _interior_start(tree, qg, cols), loc, cols, iters=60, reg=reg)
    clamp = np.array([c for c in cols if tree.coord_clamped[c] and c not in _root_coords(tree)], int)
    lo, hi = tree.coord_range[clamp, 0], tree.coord_range[clamp, 1]
    at = ((qc[:, clamp] <= lo + 1e-6) | (qc[:, clamp] >= hi - 1e-6)).any(axis=1)
    f = np.nonzero(at)[0]
    if len(f):
        q2, c2 = solve_frames(tree, Y[f], idx, weights, qg[f], loc, cols, iters=RETRY_ITERS, reg=reg)
        m = c2 < cc[f]
        qc[f[m]], cc[f[m]] = q2[m], c2[m]
    _solve_coarse.retried = len(f)
    return qc, cc


#: step size (rad) at which a frame of the fine pass counts as converged: 3e-4 rad = 0.017 deg,
#: 10 % fewer model evaluations than 1e-4 for angles within 0.017 deg (bench/ik.py's real trial)
FINE_TOL = 3e-4


def _solve_fine(args):
    """Every frame of Y (T, m, 3) from its start q0 (T, n), pulled weakly (REG) toward it, to
    FINE_TOL; frames are independent, so any split into chunks gives the same result."""
    tree, Y, idx, weights, loc, q0, iters = args
    reg = REG * float(np.median(weights))
    q, cost, A = solve_frames(tree, Y, idx, weights, q0, loc, tree.free_coords(), iters=iters, tol=FINE_TOL, prior=q0,
                              reg=reg, hessian=True)
    W = np.where(np.isfinite(Y).all(axis=2), weights[None], 0.0)
    # the continuity pass reads det only where an angle differs by > 5 deg from a neighbour's
    # (both frames of such a pair are here, or at the chunk's ends): the rest need no inverse
    big = np.zeros(len(q), bool)
    big[[0, -1]] = True
    step = (np.abs(np.diff(q[:, tree.free_coords()], axis=0)) > np.radians(5.0)).any(axis=1)
    big[:-1] |= step
    big[1:] |= step
    det = np.zeros((len(q), A.shape[1]), bool)
    det[big] = _determined(A[big], W[big])
    return q, cost, det  # (T, n) bool, small to send back from a worker


def _map_chunks(fn, jobs, workers):
    """fn over jobs, in ``workers`` processes when > 1 (fork where available); serially inside a
    daemonic process (e.g. a multiprocessing.Pool worker), which may not have children."""
    nw = min(workers, len(jobs)) if not mp.current_process().daemon else 1
    if nw > 1:
        ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context("spawn")
        with ctx.Pool(nw) as pool:
            return pool.map(fn, jobs)
    return [fn(j) for j in jobs]


def _split(n: int, chunk: int, workers: int) -> list[tuple[int, int]]:
    """[a, b) ranges over n items: at most ``chunk`` long, at least one per worker."""
    size = max(1, min(chunk, -(-n // max(1, workers))))
    b = list(range(0, n, size)) + [n]
    return list(zip(b[:-1], b[1:]))


def _n_workers(workers: int) -> int:
    return workers if workers > 0 else (os.cpu_count() or 1)


#: registration rounds when a shoulder girdle is fitted with the offsets (it converges slower)
GIRDLE_ROUNDS = 6
#: a shoulder girdle is fitted only where an arm rises above this (deg from hanging) in the
#: coarse poses: arms swinging in a walk (~25 deg) do not determine it, and cost 20 % more IK
GIRDLE_MIN_ELEVATION_DEG = 45.0


#: fewest frames for which solve_all uses worker processes: forking a process that has opensim
#: and torch loaded costs ~0.05-0.15 s, about what a second core saves on ~1000 frames
MIN_PARALLEL = 1200


def solve_all(tree, Y, idx, weights, loc=None, q0=None, workers: int = 0, chunk: int = 1500,
              refine=None, min_parallel: int = MIN_PARALLEL):
    """Solve every frame of Y (T, m, 3); returns (q (T, n), weighted cost (T,)).

    Coarse to fine in time: the coarse frames (:func:`coarse_frames`) are solved from scratch
    and made consistent by a continuity pass over them; ``refine(Yc, qc) -> (qc, loc)``
    (optional, e.g. marker registration) may then update them and the marker locations (and,
    returning ``(qc, loc, tree)``, the model the other frames are solved on); every
    other frame starts from the interpolation of its coarse neighbours. Frame solves are split
    into chunks of at most ``chunk`` frames run in ``workers`` processes (0: one per core; used
    only for at least ``min_parallel`` frames, :data:`MIN_PARALLEL`); continuity passes run over
    the whole sequence, so
    the result does not depend on the chunking. ``q0`` (T, n): start every frame from it instead.
    """
    T = Y.shape[0]
    cols = tree.free_coords()
    nw = _n_workers(workers) if T >= min_parallel else 1
    loc = tree.marker_loc.copy() if loc is None else loc

    def fine_pass(start, iters):
        """Every frame solved from ``start`` (T, n) in chunks, then the continuity passes."""
        parts = _map_chunks(_solve_fine, [(tree, Y[a:b], idx, weights, loc, start[a:b], iters)
                                          for a, b in _split(T, chunk, nw)], nw)
        q = np.concatenate([r[0] for r in parts])
        cost = np.concatenate([r[1] for r in parts])
        q, cost = _continuity(tree, Y, idx, weights, q, cost, loc, cols, det=np.concatenate([r[2] for r in parts]))
        q, cost = _smooth_spikes(tree, Y, idx, weights, q, cost, loc, cols)
        return _smooth_undetermined(tree, Y, idx, weights, q, cost, loc, cols)

    if q0 is not None:
        return fine_pass(q0, 15)
    cf = coarse_frames(T)
    Yc = Y[cf]
    ncw = _n_workers(workers) if len(cf) >= min_parallel else 1
    parts = _map_chunks(_solve_coarse, [(tree, Yc[a:b], idx, weights, loc) for a, b in _split(len(cf), chunk, ncw)], ncw)
    qc = np.concatenate([r[0] for r in parts])
    cc = np.concatenate([r[1] for r in parts])
    qc, cc = _continuity(tree, Yc, idx, weights, qc, cc, loc, cols, rounds=6, candidates="all")
    if refine is not None:
        out = refine(Yc, qc)
        qc, loc = out[:2]
        if len(out) > 2:  # e.g. a shoulder girdle fitted with the offsets
            tree = out[2]
        cc = _cost(tree, qc, idx, loc, Yc, np.where(np.isfinite(Yc).all(axis=2), weights[None], 0.0))
    if len(cf) == T:
        # every frame was solved from scratch: polish, pulled toward its own solution only,
        # 100x more weakly than the continuity pull (whose bias grows with the distance moved)
        reg = REG * float(np.median(weights))
        q, cost = _continuity(tree, Y, idx, weights, align_branches(tree, qc), cc, loc, cols)
        q, cost = solve_frames(tree, Y, idx, weights, q, loc, cols, iters=6, tol=1e-5, reg=0.01 * reg)
        return _smooth_spikes(tree, Y, idx, weights, q, cost, loc, cols)
    qi = align_branches(tree, qc)  # one branch and no wrap between coarse frames before interpolating
    t = np.arange(T)
    qs = np.stack([np.interp(t, cf, qi[:, c]) for c in range(tree.n_coords)], axis=1)
    return fine_pass(tree.apply_couplers(qs), 30)


def register_offsets(tree, Y, idx, q, classes, loc0, max_offset=None) -> np.ndarray:
    """Least-squares body-frame location of each marker over all frames given poses q,
    limited to ``max_offset[class]`` from its model place. Returns loc (M_tree, 3)."""
    max_offset = MAX_OFFSET if max_offset is None else max_offset
    R, p, _ = tree.forward(q)
    loc = loc0.copy()
    for k, m in enumerate(idx):
        b = tree.marker_body[m]
        ok = np.isfinite(Y[:, k]).all(axis=1)
        if ok.sum() < 3:
            continue
        z = np.einsum("tji,tj->ti", R[ok, b], Y[ok, k] - p[ok, b])  # R^T (y - p)
        mean = z.mean(axis=0)
        d = mean - loc0[m]
        lim = max_offset.get(classes[k], 0.05)
        nd = np.linalg.norm(d)
        if nd > lim:
            d *= lim / nd
        loc[m] = loc0[m] + d
    return loc


# ------------------------------------------------------------------------------------------
def match_markers(tree: KinematicTree, data: MarkerData, marker_map: dict[str, str] | None = None, source: str = "markers",
                  unmatched: str | None = "ignoring {n} markers the model lacks"):
    """Data labels -> the model's markers by name or anatomical role, in any common naming
    convention (:func:`odahgen.skeleton.mapping.map_markers`; ``marker_map`` overrides single
    labels). Returns (the matched markers renamed to the model's names, tree marker indices).
    Labels the model lacks are ignored with a warning (:func:`~odahgen.skeleton.mapping.prepare_markers`
    places them as clusters first; ``unmatched`` is that warning's text, None for none), labels
    with no valid sample dropped with a warning; fewer than 3 matches is an error."""
    from odahgen.skeleton.mapping import map_markers, present_labels, warn_dropped  # noqa: PLC0415

    mm = map_markers(data.names, tree.marker_names, marker_map, present=present_labels(data))
    warn_dropped(source, mm.dropped)
    if unmatched:
        warn_dropped(source, mm.clusters, unmatched)
    if len(mm.model) < 3:
        raise OdahgenError(f"{source}: only {len(mm.model)} of {len(data.names)} marker names match the model's "
                           "markers by name or anatomical role; give a marker map (--map)")
    sub = data.subset(list(mm.model))
    sub.names = list(mm.model.values())
    return sub, np.array([tree.marker_names.index(n) for n in sub.names], dtype=int)


def landmark_poses(tree: KinematicTree, Y: np.ndarray, idx: np.ndarray, names: list[str]) -> np.ndarray:
    """Poses (F, n) fitted from scratch to the markers ``idx`` (named ``names``) at frames Y (F, m, 3)."""
    w, _cls = marker_weights(names)
    return solve_frames(tree, Y, idx, w, initial_guess(tree, Y, idx, w), iters=40)[0]


def unwrap_free_rotations(tree: KinematicTree, q: np.ndarray) -> np.ndarray:
    """Unclamped rotational coordinates continuous in time: no 2 pi wrap, and no Tait-Bryan
    branch flip of the shoulder, lumbar or pelvis rotations between frames
    (:func:`align_branches`); the first frame in [-pi, pi) unless a whole turn keeps the motion
    inside the coordinate ranges."""
    return align_branches(tree, q)


def to_standard_angles(tree: KinematicTree, q: np.ndarray) -> np.ndarray:
    """(T, n) model coordinates -> (T, 39) in COORDINATE_NAMES order (NaN where absent)."""
    out = np.full((q.shape[0], len(COORDINATE_NAMES)), np.nan)
    for i, n in enumerate(COORDINATE_NAMES):
        if n in tree.coord_names:
            out[:, i] = q[:, tree.coord_names.index(n)]
    for dep, ind in COUPLED_COORDINATES.items():  # beta filled from the knee angle
        i, j = COORDINATE_NAMES.index(dep), COORDINATE_NAMES.index(ind)
        if np.isnan(out[:, i]).all():
            out[:, i] = out[:, j]
    return out


def run_ik_tree(
    tree: KinematicTree,
    markers: MarkerData,
    marker_map: dict[str, str] | None = None,
    register: bool = True,
    register_rounds: int = 3,
    workers: int = 0,
    bony_flag_m: float = 0.02,
    classes: dict[str, str] | None = None,
    source: str = "markers",
    progress=None,
    weights: dict[str, float] | None = None,
    register_frames: int = 150,
    min_parallel: int = MIN_PARALLEL,
    girdle: bool = False,
) -> IKResult:
    """IK on an extracted tree (see :func:`run_ik`). ``weights``: marker name -> IK weight,
    overriding the class weights (e.g. an OpenSim IK setup's task weights; 0 = ignored).
    ``workers``/``min_parallel``: see :func:`solve_all`.
    Registration runs between the coarse and the fine pass of :func:`solve_all`: it alternates
    offset fitting and IK on at most ``register_frames`` of the coarse frames (at most
    ``register_rounds`` rounds, fewer once the offsets move < 0.1 mm), so the fine pass solves
    every frame once, with the registered offsets. ``girdle``: the shoulder centres follow
    the upper arms (:mod:`odahgen.skeleton.girdle`), their coefficients fitted with the offsets
    (``info["shoulder_girdle"]``: side -> (3, 3) m)."""
    t0 = time.perf_counter()
    keep_temporaries_on_heap()  # its batched NumPy temporaries cost page faults otherwise
    data, idx = match_markers(tree, markers, marker_map, source)
    w, cls = marker_weights(data.names, classes)
    cls2 = acromion_classes(tree, idx, data.names, head_classes(tree, idx, cls))
    w = np.array([CLASS_WEIGHT[c2] if c2 != c else wi for wi, c, c2 in zip(w, cls, cls2)])
    cls = cls2
    if weights is not None:
        w = np.array([float(weights.get(n, wi)) for n, wi in zip(data.names, w)])
    Y = data.positions
    sides = girdle_sides(tree) if girdle and register and register_rounds > 0 else []
    loc = tree.marker_loc.copy()
    reg = REG * float(np.median(w))
    info: dict = {"register_rounds": 0}

    def refine(Yc, qc):
        """Marker registration on the coarse frames (at most ``register_frames`` of them):
        alternate offset fitting and IK until the offsets move less than 0.1 mm; with a shoulder
        girdle (only where the coarse poses raise an arm above GIRDLE_MIN_ELEVATION_DEG: hanging
        arms do not determine it), its coefficients too, until they move less than 0.1 mm."""
        nonlocal loc, tree, fit_girdle
        fit_girdle = bool(sides) and arm_elevation(tree, qc, sides) > np.radians(GIRDLE_MIN_ELEVATION_DEG)
        if fit_girdle:  # a copy whose shoulders carry girdles (those the model has, or zero)
            tree = with_girdle(tree, girdle_coefficients(tree))
        rounds = max(register_rounds, GIRDLE_ROUNDS) if fit_girdle else register_rounds
        K = len(Yc)
        sub = np.unique(np.linspace(0, K - 1, min(K, register_frames)).round().astype(int))
        qs = qc[sub].copy()
        for r in range(rounds):
            new = register_offsets(tree, Yc[sub], idx, qs, cls, tree.marker_loc)
            change = float(np.abs(new - loc).max())
            loc = new
            if fit_girdle:  # the girdle for these offsets and poses (its functions change in place)
                old_c = girdle_coefficients(tree)
                fit = fit_coefficients(tree, qs, Yc[sub], idx, w, loc)
                set_coefficients(tree, fit)
                change = max([change] + [float(np.abs(fit[k] - old_c[k]).max()) for k in fit])
            qs, _c = solve_frames(tree, Yc[sub], idx, w, qs, loc, iters=15, reg=reg)
            info["register_rounds"] = r + 1
            if progress:
                progress("registered", 1)
            if change < 1e-4:
                break
        qc = qc.copy()
        qc[sub] = qs
        if len(sub) < K:  # the other coarse frames with the final offsets
            rest = np.setdiff1d(np.arange(K), sub)
            qc[rest], _c = solve_frames(tree, Yc[rest], idx, w, qc[rest], loc, iters=15, reg=reg)
        return (qc, loc, tree) if fit_girdle else (qc, loc)

    fit_girdle = False

    q, cost = solve_all(tree, Y, idx, w, loc, workers=workers, min_parallel=min_parallel,
                        refine=refine if (register and register_rounds > 0) else None)
    if fit_girdle:
        info["shoulder_girdle"] = {k: v.tolist() for k, v in girdle_coefficients(tree).items()}
    if progress:
        progress("solved", 1)
    q = unwrap_free_rotations(tree, q)
    R, p, _ = tree.forward(q)
    mk = tree.markers(R, p, loc)[:, idx]
    err = np.linalg.norm(mk - Y, axis=2)
    # RMS, max and flags are over the markers the model can follow: head markers on a model
    # without a neck are reported apart (info), since no pose of this model follows a head turn
    head = np.array([c == "head" for c in cls], bool)
    body_m = ~head if (~head).any() else np.ones_like(head)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames stay NaN
        rms = np.sqrt(np.nanmean(err[:, body_m] ** 2, axis=1))
        mx = np.nanmax(err[:, body_m], axis=1)
        if head.any():
            info["head_markers"] = [n for n, h in zip(data.names, head) if h]
            info["head_rms_mean_m"] = float(np.nanmean(np.sqrt(np.nanmean(err[:, head] ** 2, axis=1))))
            info["head_max_m"] = float(np.nanmax(err[:, head]))
    bony = np.array([c == "bony" for c in cls])
    flagged = (np.nan_to_num(err[:, bony], nan=0.0) > bony_flag_m).any(axis=1) if bony.any() else np.zeros(len(q), bool)
    return IKResult(
        angles=to_standard_angles(tree, q), coords=q, coord_names=list(tree.coord_names), times=data.times,
        marker_names=list(data.names), marker_errors=err, marker_rms=rms, marker_max=mx, flagged=flagged,
        marker_locations=loc[idx], seconds=time.perf_counter() - t0,
        info={"classes": cls, "weights": w.tolist(), **info},
    )


def run_ik(
    model_path: str | os.PathLike,
    markers: MarkerData,
    markers_xml: str | os.PathLike | None = None,
    marker_map: dict[str, str] | None = None,
    register: bool = True,
    workers: int = 0,
    bony_flag_m: float = 0.02,
    source: str = "markers",
    up: str = "y",
    girdle: bool = True,
) -> IKResult:
    """Inverse kinematics of ``markers`` (metres) on the model at ``model_path`` ("builtin" ok).

    Labels are matched to the model's markers by name or anatomical role in any common naming
    convention (``marker_map`` overrides single labels); labels the model lacks become clusters
    on their nearest segment; markers missing in every frame are dropped
    (:func:`odahgen.skeleton.mapping.prepare_markers`).
    ``up``: the markers' vertical axis (``y`` as OpenSim, ``z``, ..., or ``auto`` to detect it).
    Returns an :class:`IKResult` (angles (T,39) rad in COORDINATE_NAMES order, marker_rms (T,),
    marker_max (T,), marker_errors (T,M) m, flagged (T,); ``info["marker_mapping"]`` the mapping
    used, ``info["up"]``). ``register``: also fit each marker's offset on its body over the whole
    motion. ``workers``: parallel processes (0 = per core). ``girdle``: fit a shoulder girdle
    with the offsets (:mod:`odahgen.skeleton.girdle`; ``info["shoulder_girdle"]``).
    """
    from odahgen.skeleton.mapping import orient_markers, prepare_markers  # noqa: PLC0415
    from odahgen.skeleton.model import load_model  # noqa: PLC0415

    tree = extract_tree(load_model(model_path, markers_xml))
    markers, _st, up, up_reason = orient_markers(markers, up)
    tree, data, mapping, classes = prepare_markers(tree, markers, landmark_poses, marker_map, source)
    res = run_ik_tree(tree, data, None, register=register, workers=workers, bony_flag_m=bony_flag_m,
                      classes=classes, source=source, girdle=girdle)
    res.info.update(marker_mapping=mapping.as_dict(), up=up, up_reason=up_reason)
    return res
