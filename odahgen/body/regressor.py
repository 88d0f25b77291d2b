"""The learned joint regressor: a sparse, non-negative linear map from mesh vertices to the
22 OpenSim joint centres (each row sums to 1, a few dozen vertices per joint).

Training pairs (``odahgen regressor train``): diverse body shapes x random in-range poses
of the body model; the virtual markers on each posed mesh; OpenSim-style scaling (on a
static trial of the same subject) + IK on those markers with the skeleton package; FK
joint centres of the scaled model. Fit per joint: candidate vertices = the ``n_candidates``
vertices closest to that joint on average over the training meshes; non-negative least
squares with a heavily weighted sum-to-one row (scipy ``nnls``); keep the ``max_nonzero``
largest weights and solve again. A held-out split of subjects gives the report.

Files: ``assets/regressor/<body>_<skeleton>.npz`` (``indices (22, K)`` int32 vertex ids,
``weights (22, K)`` float32, ``joint_names``, ``body_model``, ``skeleton``, ``n_vertices``) and
``<same>.json`` (the report: per-joint held-out error in mm, ``mean_error_mm``, settings).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from odahgen.errors import OdahgenError
from odahgen.skeleton.names import BODY_NAMES, JOINT_NAMES

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "regressor"


def fit_sparse_weights(A: np.ndarray, b: np.ndarray, max_nonzero: int = 32, sum_weight: float = 1e3) -> np.ndarray:
    """argmin ||A w - b|| s.t. w >= 0, sum w = 1, at most ``max_nonzero`` non-zeros.

    ``A (R, K)`` (rows: stacked samples x coordinates, m), ``b (R,)`` m. Returns ``w (K,)``.
    The sum constraint is a row of ``sum_weight`` appended to the NNLS system, then ``w`` is
    renormalised (exact sum 1).
    """
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(1.0, float(np.abs(A).max()))

    def solve(cols: np.ndarray) -> np.ndarray:
        Aa = np.vstack([A[:, cols], np.full((1, len(cols)), sum_weight * scale)])
        ba = np.concatenate([b, [sum_weight * scale]])
        w, _ = nnls(Aa, ba, maxiter=50 * len(cols))
        return w

    cols = np.arange(A.shape[1])
    w = solve(cols)
    if (w > 0).sum() > max_nonzero:
        keep = np.sort(np.argsort(-w)[:max_nonzero])
        wk = solve(keep)
        w = np.zeros_like(w)
        w[keep] = wk
    s = w.sum()
    if s <= 0:
        w = np.zeros_like(w)
        w[int(np.argmin(np.linalg.norm(A.reshape(-1, 3, A.shape[1]) - b.reshape(-1, 3, 1), axis=1).mean(0)))] = 1.0
        return w
    return w / s


@dataclass
class Regressor:
    """Sparse joint regressor: joint j = sum_k weights[j, k] * vertices[indices[j, k]]."""

    indices: np.ndarray  # (J, K) int
    weights: np.ndarray  # (J, K) float32, rows sum to 1, >= 0
    joint_names: tuple[str, ...]
    body_model: str
    skeleton: str
    n_vertices: int

    def __call__(self, vertices: np.ndarray) -> np.ndarray:
        """Joint centres (T, J, 3) from vertices (T, V, 3) (numpy or torch)."""
        v = vertices
        return (v[:, self.indices] * self.weights[None, :, :, None]).sum(2)

    def save(self, path: str | Path) -> None:
        from odahgen.io import atomic_path

        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(
                    fh, indices=self.indices.astype(np.int32), weights=self.weights.astype(np.float32),
                    joint_names=np.array(self.joint_names), body_model=self.body_model,
                    skeleton=self.skeleton, n_vertices=self.n_vertices,
                )


def regressor_path(body: str, skeleton: str = "builtin") -> Path:
    return ASSET_DIR / f"{body}_{skeleton}.npz"


def load_regressor(path: str | Path, n_vertices: int | None = None) -> Regressor:
    """Load a regressor .npz; one-line :class:`OdahgenError` naming the file on any problem."""
    p = Path(path)
    if not p.is_file():
        raise OdahgenError(f"{p}: joint regressor not found (train one with `odahgen regressor train`)")
    try:
        with np.load(p, allow_pickle=False) as d:
            r = Regressor(d["indices"].astype(np.int64), d["weights"].astype(np.float32),
                          tuple(str(x) for x in d["joint_names"]), str(d["body_model"]),
                          str(d["skeleton"]), int(d["n_vertices"]))
    except (OSError, KeyError, ValueError) as err:
        raise OdahgenError(f"{p}: not a joint regressor file ({type(err).__name__}: {err})") from err
    if r.indices.shape != r.weights.shape or r.indices.ndim != 2:
        raise OdahgenError(f"{p}: indices and weights must both be (J, K)")
    if n_vertices is not None and r.n_vertices != n_vertices:
        raise OdahgenError(f"{p}: regressor is for {r.n_vertices} vertices, the mesh has {n_vertices}")
    return r


def fit_regressor(vertices: np.ndarray, joints: np.ndarray, n_candidates: int = 120, max_nonzero: int = 32,
                  joint_names=JOINT_NAMES, body_model: str = "", skeleton: str = "") -> Regressor:
    """Fit a :class:`Regressor` on training pairs ``vertices (N, V, 3)`` m, ``joints (N, J, 3)`` m."""
    vertices = np.asarray(vertices, dtype=np.float64)
    joints = np.asarray(joints, dtype=np.float64)
    if vertices.ndim != 3 or joints.ndim != 3 or len(vertices) != len(joints):
        raise OdahgenError(f"training pairs must be (N,V,3) and (N,J,3), got {vertices.shape} and {joints.shape}")
    ok = np.isfinite(joints).all(axis=(1, 2)) & np.isfinite(vertices).all(axis=(1, 2))
    vertices, joints = vertices[ok], joints[ok]
    if len(vertices) == 0:
        raise OdahgenError("no finite training pairs")
    N, V, _ = vertices.shape
    J = joints.shape[1]
    idx = np.zeros((J, max_nonzero), dtype=np.int64)
    wts = np.zeros((J, max_nonzero), dtype=np.float32)
    for j in range(J):
        d = np.linalg.norm(vertices - joints[:, j : j + 1], axis=2).mean(0)  # (V,)
        cand = np.argsort(d)[:n_candidates]
        A = vertices[:, cand].transpose(0, 2, 1).reshape(N * 3, len(cand))
        b = joints[:, j].reshape(N * 3)
        w = fit_sparse_weights(A, b, max_nonzero=max_nonzero)
        nz = np.argsort(-w)[:max_nonzero]
        idx[j, : len(nz)] = cand[nz]
        wts[j, : len(nz)] = w[nz]
    return Regressor(idx, wts, tuple(joint_names), body_model, skeleton, V)


def joint_errors_mm(reg: Regressor, vertices: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(J,) mean Euclidean error in mm of ``reg`` on pairs (N, V, 3), (N, J, 3)."""
    e = np.linalg.norm(reg(np.asarray(vertices)) - np.asarray(joints), axis=2) * 1000.0
    return np.nanmean(e, axis=0)


# --------------------------------------------------------------------- training pairs
def random_poses(body, n: int, rng: np.random.Generator, amount: float = 0.5) -> np.ndarray:
    """(n, P) random in-range poses: each group uniform in ``amount`` x its limits (capped at
    2 rad); the root gets a random heading only."""
    lo, hi = body.pose_lower.numpy(), body.pose_upper.numpy()
    # groups the OpenSim skeleton cannot follow (neck, head, shoulder girdle) stay still,
    # the spine and twist bones move less
    k = np.ones(body.pose_dim, dtype=np.float32) * amount
    for g, grp in enumerate(body.pose_groups):
        gname = grp.name
        if gname.startswith(("neck", "head", "clavicle", "shoulder01", "collar", "left_collar", "right_collar")):
            k[3 * g : 3 * g + 3] = 0.0
        elif gname.startswith("spine"):
            k[3 * g : 3 * g + 3] = amount * 0.4
        elif gname.startswith(("upperarm", "left_shoulder", "right_shoulder")):
            k[3 * g : 3 * g + 3] = amount * 0.6
    lo, hi = np.maximum(lo * k, -2.0), np.minimum(hi * k, 2.0)
    pose = rng.uniform(lo, hi, size=(n, body.pose_dim))
    pose[:, :3] = 0.0
    pose[:, 1] = rng.uniform(-np.pi, np.pi, size=n)  # heading about the vertical (Y)
    return pose.astype(np.float32)


def random_shapes(body, n: int, rng: np.random.Generator, spread: float = 0.8) -> np.ndarray:
    """(n, S) shapes uniform in the middle ``spread`` of each parameter's range."""
    lo, hi = (t.numpy() for t in body.shape_bounds())
    mid, half = (lo + hi) / 2, (hi - lo) / 2 * spread
    return rng.uniform(mid - half, mid + half, size=(n, body.n_shape)).astype(np.float32)


def motion_poses(body, layout: dict, shape, scaled_tree, regressor, motions, frames: int) -> np.ndarray:
    """(N, P) body poses that follow motions: each motion's angles ((T, 39) rad/m in
    ``COORDINATE_NAMES`` order, ``frames`` evenly spaced frames) on the subject's scaled
    skeleton -> FK -> :func:`fit_sequence` with the current ``regressor`` (bootstrapping: the
    first regressor comes from random poses)."""
    from odahgen.body.fit import fit_sequence
    from odahgen.skeleton.fk import fk_tree

    out = []
    for angles in motions:
        sel = np.linspace(0, len(angles) - 1, min(frames, len(angles))).round().astype(int)
        fk = fk_tree(scaled_tree, np.asarray(angles)[sel])
        res = fit_sequence(body, fk.keypoints[:, :22], fk.markers, fk.marker_names, regressor=regressor, layout=layout,
                           shape=shape, fit_shape=False, return_vertices=False, stride=2, smooth_weight=0.0)
        out.append(res.pose)
    return np.concatenate(out).astype(np.float32)


def subject_pairs(body, layout: dict, shape: np.ndarray, poses: np.ndarray, tree=None, progress=None,
                  extra_poses=None):
    """Training pairs of one subject: (vertices (T, V, 3) float32, joints (T, 22, 3), IK rms (T,)).

    A static trial (rest pose, 10 frames) scales the built-in skeleton, then IK runs on the
    virtual markers of the posed meshes, and FK gives the joint centres.
    """
    import torch

    from odahgen.body.markers import markers_from_vertices
    from odahgen.skeleton.ik import run_ik_tree
    from odahgen.skeleton.kinematics import extract_tree
    from odahgen.skeleton.model import load_model
    from odahgen.skeleton.scale import scale_subject
    from odahgen.io.mocap import MarkerData

    if tree is None:
        tree = extract_tree(load_model("builtin"))
    names = [n for n in layout["markers"] if n in tree.marker_names]
    s = torch.as_tensor(shape)
    with torch.no_grad():
        static_pose = torch.zeros(1, body.pose_dim)
        vs = body.forward(s, static_pose, torch.zeros(1, 3)).numpy()
    ms = markers_from_vertices(vs, layout, names)
    static = MarkerData(names, np.repeat(ms, 10, axis=0), 60.0)
    try:  # as the jobs pipeline does: exact virtual markers, all-marker least-squares scale
        scaled, _ = scale_subject(tree, static, source="static", measurements=False)
    except TypeError:  # older skeleton API
        scaled, _ = scale_subject(tree, static, source="static")
    if extra_poses is not None:
        poses = np.concatenate([poses, extra_poses(scaled)]).astype(np.float32)
    with torch.no_grad():
        v = body.forward(s, torch.as_tensor(poses), torch.zeros(len(poses), 3)).numpy()
    mk = markers_from_vertices(v, layout, names)
    ik = run_ik_tree(scaled, MarkerData(names, mk, 60.0), workers=1, source="regressor")
    _, _, jc = scaled.forward(ik.coords)
    order = [scaled.body_names.index(b) for b in BODY_NAMES]
    return v.astype(np.float32), jc[:, order], ik.marker_rms


def train(body, layout: dict, n_subjects: int = 12, poses_per_subject: int = 30, test_fraction: float = 0.25,
          seed: int = 0, n_candidates: int = 300, max_nonzero: int = 32, max_ik_rms_m: float = 0.012,
          progress=print, pairs_path: str | None = None, bootstrap=None):
    """Generate pairs, fit on the training subjects, evaluate on held-out subjects.

    ``pairs_path``: an .npz to reuse the generated pairs from (or to save them to).
    Pairs whose IK marker RMS exceeds ``max_ik_rms_m`` (the skeleton could not follow that
    body pose, so its joint centres are not the mesh's) are dropped from both splits.

    ``bootstrap``: (regressor, motion_angles, motion ids, frames per motion, motions per
    subject): add body poses fitted with that regressor to motions, where
    ``motion_angles(id, seed)`` returns a motion's (T, 39) angles in ``COORDINATE_NAMES`` order.

    Returns (Regressor, report dict)."""
    from odahgen.skeleton.kinematics import extract_tree
    from odahgen.skeleton.model import load_model

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    tree = extract_tree(load_model("builtin"))
    shapes = random_shapes(body, n_subjects, rng)
    shapes[0] = body.default_shape().numpy()
    n_test = max(1, int(round(n_subjects * test_fraction)))
    if pairs_path and Path(pairs_path).is_file():
        with np.load(pairs_path) as d:
            V, Jt, test, all_rms = d["vertices"], d["joints"], d["test"], d["ik_rms"]
        if progress:
            progress(f"reusing {len(V)} pairs from {pairs_path}")
    else:
        Vs, Js, rms, split = [], [], [], []
        for i, s in enumerate(shapes):
            try:
                extra = None
                if bootstrap is not None:
                    breg, load_angles, mids, nfr, per = bootstrap
                    pick = [mids[k] for k in rng.choice(len(mids), size=min(per, len(mids)), replace=False)]

                    def extra(scaled, s=s, pick=pick, breg=breg, nfr=nfr, i=i):
                        motions = [load_angles(m, seed + i) for m in pick]
                        return motion_poses(body, layout, s, scaled, breg, motions, nfr)
                v, j, r = subject_pairs(body, layout, s, random_poses(body, poses_per_subject, rng), tree,
                                        extra_poses=extra)
            except OdahgenError as err:  # e.g. a shape the skeleton cannot scale to
                if progress:
                    progress(f"subject {i + 1}/{n_subjects}: skipped ({err})")
                continue
            Vs.append(v)
            Js.append(j)
            rms.append(r)
            split.append(np.full(len(v), i >= n_subjects - n_test))
            if progress:
                progress(f"subject {i + 1}/{n_subjects}: {len(v)} poses, IK marker rms {1000 * np.nanmean(r):.1f} mm")
        V, Jt, test, all_rms = np.concatenate(Vs), np.concatenate(Js), np.concatenate(split), np.concatenate(rms)
        if pairs_path:
            np.savez(pairs_path, vertices=V, joints=Jt, test=test, ik_rms=all_rms)
    good = np.nan_to_num(all_rms, nan=1.0) <= max_ik_rms_m
    if good.sum() < 4 or not (good & test).any() or not (good & ~test).any():
        raise OdahgenError(f"too few training pairs with IK marker RMS <= {1000 * max_ik_rms_m:.0f} mm ({int(good.sum())})")
    V, Jt, test = V[good], Jt[good], test[good]
    reg = fit_regressor(V[~test], Jt[~test], n_candidates, max_nonzero, body_model=body.name, skeleton="builtin")
    err = joint_errors_mm(reg, V[test], Jt[test])
    err_train = joint_errors_mm(reg, V[~test], Jt[~test])
    report = {
        "body_model": body.name,
        "skeleton": "builtin",
        "mean_error_mm": float(np.mean(err)),
        "per_joint_error_mm": {n: float(e) for n, e in zip(JOINT_NAMES, err)},
        "train_mean_error_mm": float(np.mean(err_train)),
        "n_train_pairs": int((~test).sum()),
        "n_test_pairs": int(test.sum()),
        "n_subjects": n_subjects,
        "n_test_subjects": n_test,
        "ik_marker_rms_mm": float(1000 * np.nanmean(all_rms)),
        "pairs_kept": int(good.sum()),
        "pairs_generated": int(len(good)),
        "max_ik_rms_mm": 1000 * max_ik_rms_m,
        "vertices_per_joint": int(max_nonzero),
        "n_candidates": n_candidates,
        "seed": seed,
        "poses": "random in-range body-model poses (50% of the anatomical limits, random heading)"
        + ("" if bootstrap is None else f" + body poses fitted to {bootstrap[4]} procedural motions per subject "
           f"({bootstrap[3]} frames each) with a first regressor"),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return reg, report
