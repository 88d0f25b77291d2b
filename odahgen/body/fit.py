"""Fit a body model to the driven skeleton: shape once per subject, pose per frame.

Targets per frame: the 22 OpenSim joint centres (FK of the scaled model, m) and the model's
markers (m). The mesh enters only through *linear points* (the regressor's joint rows and
the virtual markers; see :meth:`BodyModel.prepare_points`), so an optimisation step never
skins the full mesh; the full mesh is skinned once at the end.

Stages (PyTorch, Adam):

1. root initialisation per frame: rigid (Kabsch) fit of the rest pelvis/hip/back joints to
   the targets;
2. shape: the shape parameters (bounded, sigmoid) and the poses of a few key frames spread
   over the sequence, jointly;
3. pose, coarse: every ``stride``-th frame (key frames), all at once, from the root
   initialisation (Adam, then L-BFGS);
4. pose, all frames: each frame warm-started from its solved neighbouring key frames (linear
   blend), then all frames optimised together (L-BFGS) with temporal smoothness (velocity
   and acceleration) and joint-limit penalties.

Residuals (mm, per frame): joint-centre error through the regressor, marker error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from odahgen.body.base import BodyModel
from odahgen.errors import OdahgenError

ROOT_JOINTS = (0, 1, 7, 13)  # ground_pelvis, hip_r, hip_l, back (JOINT_NAMES order)


@dataclass
class FitResult:
    """Fitted body parameters and residuals of one sequence.

    shape (S,); pose (T, P) rad; trans (T, 3) m; vertices (T, V, 3) float32 m (None if not
    requested); joint_err_mm (T,) mean joint-centre error; marker_err_mm (T,) mean marker
    error; seconds: wall time; info: per-stage figures.
    """

    shape: np.ndarray
    pose: np.ndarray
    trans: np.ndarray
    vertices: np.ndarray | None
    joint_err_mm: np.ndarray
    marker_err_mm: np.ndarray
    seconds: float = 0.0
    info: dict = field(default_factory=dict)


def _kabsch(P: torch.Tensor, Q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation R (T,3,3) and translation c (T,3) minimising |R P + c - Q|; P (K,3), Q (T,K,3)."""
    pm = P.mean(0)
    qm = Q.mean(1)
    H = (P - pm).T[None] @ (Q - qm[:, None])  # (T, 3, 3)
    U, _, Vt = torch.linalg.svd(H)
    d = torch.sign(torch.linalg.det(Vt.transpose(1, 2) @ U.transpose(1, 2)))
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = Vt.transpose(1, 2) @ D @ U.transpose(1, 2)
    return R, qm - (R @ pm[:, None])[..., 0]


def _matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """(T,3,3) -> (T,3) rad (robust away from pi)."""
    cos = ((R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1 + 1e-6, 1 - 1e-6)
    ang = torch.arccos(cos)
    v = torch.stack([R[:, 2, 1] - R[:, 1, 2], R[:, 0, 2] - R[:, 2, 0], R[:, 1, 0] - R[:, 0, 1]], -1)
    return v * (ang / (2 * torch.sin(ang)).clamp_min(1e-6))[:, None]


def linearised_rest(body: BodyModel, s0: torch.Tensor, rel_step: float = 0.02):
    """A rest-state function linear in the shape around ``s0 (S,)`` (central differences,
    one-sided at the bounds), for cheap shape optimisation. Vertices and bone heads of anny
    and SMPL-X are (piecewise) linear in their shape parameters; bone orientations nearly."""
    lo, hi = body.shape_bounds()
    cache: dict = {}

    def fn(shape: torch.Tensor, vid):
        key = None if vid is None else (int(vid.numel()), int(vid.sum()))
        if key not in cache:
            with torch.no_grad():
                v0, f0 = body._rest_state(s0[None], vid)
                dv, df = [], []
                for k in range(body.n_shape):
                    h = rel_step * float(hi[k] - lo[k])
                    a, b = s0.clone(), s0.clone()
                    a[k] = min(float(hi[k]), float(s0[k]) + h)
                    b[k] = max(float(lo[k]), float(s0[k]) - h)
                    va, fa = body._rest_state(a[None], vid)
                    vb, fb = body._rest_state(b[None], vid)
                    dv.append((va - vb)[0] / float(a[k] - b[k]))
                    df.append((fa - fb)[0] / float(a[k] - b[k]))
            cache[key] = (v0, f0, torch.stack(dv), torch.stack(df))
        v0, f0, dv, df = cache[key]
        ds = shape - s0[None]
        return v0 + torch.einsum("bs,svc->bvc", ds, dv), f0 + torch.einsum("bs,sjmn->bjmn", ds, df)

    return fn


def _check(name: str, x, shape_tail: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1 + len(shape_tail) or a.shape[1:] != shape_tail:
        raise OdahgenError(f"{name} must have shape (T, {', '.join(map(str, shape_tail))}), got {a.shape}")
    return a


class _Problem:
    def __init__(self, body, points_idx, points_w, n_joints, jt, mk, mk_valid, weights):
        self.body, self.idx, self.w = body, points_idx, points_w
        self.nj = n_joints
        self.jt, self.mk, self.valid = jt, mk, mk_valid  # (T,22,3), (T,M,3), (T,M) float
        self.wts = weights
        self.lo, self.hi = body.pose_lower, body.pose_upper

    def data_loss(self, pts, frames):
        j = pts[:, : self.nj]
        m = pts[:, self.nj :]
        lj = ((j - self.jt[frames]) ** 2).sum(-1).mean()
        if m.shape[1]:
            v = self.valid[frames]
            lm = (((m - self.mk[frames]) ** 2).sum(-1) * v).sum() / v.sum().clamp_min(1)
        else:
            lm = pts.new_zeros(())
        return lj, lm

    def reg_loss(self, pose):
        lim = (torch.relu(self.lo - pose) ** 2 + torch.relu(pose - self.hi) ** 2).sum(-1).mean()
        prior = (pose[:, 3:] ** 2).sum(-1).mean()
        return self.wts["limits"] * lim + self.wts["prior"] * prior


def fit_sequence(
    body: BodyModel,
    joint_centres,
    markers,
    marker_names,
    regressor=None,
    layout: dict | None = None,
    shape=None,
    fit_shape: bool = True,
    iterations: int = 30,
    coarse_iterations: int = 150,
    shape_iterations: int = 100,
    key_frames: int = 8,
    stride: int | None = None,
    lr: float = 0.04,
    smooth_weight: float = 0.002,
    marker_weight: float = 3.0,
    return_vertices: bool = True,
    threads: int | None = 1,
    progress=None,
) -> FitResult:
    """Fit ``body`` to a sequence.

    Args:
        joint_centres: (T, 22, 3) m, OpenSim joint centres (JOINT_NAMES order), world frame.
        markers: (T, M, 3) m model markers (NaN = missing, ignored), ``marker_names`` (M,).
        regressor: a :class:`odahgen.body.regressor.Regressor` (default: the shipped one for
            this body model and the built-in skeleton).
        layout: virtual marker layout (default: the shipped one); markers not in it are ignored.
        shape: (S,) fixed shape (with ``fit_shape=False``) or the shape initialisation.
        iterations: L-BFGS steps of the all-frames pose stage (``body.fit_iterations``).
        coarse_iterations: Adam steps (+ half as many L-BFGS steps) on the key frames.
        stride: key-frame spacing in frames; None: 4 for clips of <= 300 frames (cheap there,
            and it halves the interpolation gap the all-frames stage must close), else 8.
        threads: torch intra-op threads while optimising (1 is fastest for these small
            tensors, and robust on a busy machine); None leaves torch's setting.
    Returns:
        :class:`FitResult` (pose (T, P) rad, trans (T, 3) m, vertices (T, V, 3) float32 m,
        joint_err_mm (T,), marker_err_mm (T,)).
    """

    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _fit(body, joint_centres, markers, marker_names, regressor, layout, shape, fit_shape, iterations,
                    shape_iterations, key_frames, stride, lr, smooth_weight, marker_weight, return_vertices,
                    progress, old_threads, coarse_iterations)
    finally:
        torch.set_num_threads(old_threads)


def _fit(body, joint_centres, markers, marker_names, regressor, layout, shape, fit_shape, iterations,
         shape_iterations, key_frames, stride, lr, smooth_weight, marker_weight, return_vertices, progress,
         mesh_threads=None, coarse_iterations=150):
    from odahgen.body.markers import load_layout, marker_points
    from odahgen.body.regressor import load_regressor, regressor_path

    t0 = time.perf_counter()
    jc = _check("joint_centres", joint_centres, (22, 3))
    T = jc.shape[0]
    if T == 0:
        raise OdahgenError("joint_centres has no frames")
    if not np.isfinite(jc).all():
        bad = int(np.flatnonzero(~np.isfinite(jc).all(axis=(1, 2)))[0])
        raise OdahgenError(f"joint_centres contain NaN or infinite values (first at frame {bad}); check the IK angles")
    marker_names = list(marker_names)
    mk = _check("markers", markers, (len(marker_names), 3)) if len(marker_names) else np.zeros((T, 0, 3))
    if mk.shape[0] != T:
        raise OdahgenError(f"markers have {mk.shape[0]} frames, joint_centres {T}")
    if regressor is None:
        regressor = load_regressor(regressor_path(body.name), body.n_vertices)
    if regressor.n_vertices != body.n_vertices:
        raise OdahgenError(f"regressor is for {regressor.n_vertices} vertices, {body.name} has {body.n_vertices}")
    layout = load_layout(body) if layout is None else layout
    use = [i for i, n in enumerate(marker_names) if n in layout["markers"]]
    names = [marker_names[i] for i in use]
    mk = mk[:, use]
    valid = np.isfinite(mk).all(-1)
    mk = np.where(valid[..., None], mk, 0.0)
    if names:
        _, midx, mw = marker_points(layout, names)
    else:
        midx, mw = np.zeros((0, 1), np.int64), np.zeros((0, 1), np.float32)
    K = max(regressor.indices.shape[1], midx.shape[1])
    pidx = np.zeros((22 + len(names), K), np.int64)
    pw = np.zeros((22 + len(names), K), np.float32)
    pidx[:22, : regressor.indices.shape[1]] = regressor.indices
    pw[:22, : regressor.weights.shape[1]] = regressor.weights
    pidx[22:, : midx.shape[1]] = midx
    pw[22:, : mw.shape[1]] = mw

    f32 = torch.float32
    jt = torch.as_tensor(jc, dtype=f32)
    prob = _Problem(body, pidx, pw, 22, jt, torch.as_tensor(mk, dtype=f32), torch.as_tensor(valid, dtype=f32),
                    {"limits": 10.0, "prior": 1e-4})
    if stride is None:
        stride = 4 if T <= 300 else 8
    info: dict = {"frames": T, "markers_used": len(names), "stride": stride}
    lo, hi = body.shape_bounds()
    s0 = body.default_shape() if shape is None else torch.as_tensor(shape, dtype=f32).reshape(-1)
    if s0.shape[0] != body.n_shape:
        raise OdahgenError(f"shape must have {body.n_shape} values, got {s0.shape[0]}")

    def root_init(shape_t):
        with torch.no_grad():
            prep = body.prepare_points(shape_t, pidx, pw)
            rest = body.pose_points(prep, torch.zeros(1, body.pose_dim), torch.zeros(1, 3))[0]
            h = prep["frames"][0, 0, :3, 3]
            R, c = _kabsch(rest[list(ROOT_JOINTS)], jt[:, list(ROOT_JOINTS)])
            pose = torch.zeros(T, body.pose_dim)
            pose[:, :3] = _matrix_to_axis_angle(R)
            trans = c - h + (R @ h[:, None])[..., 0]
        return pose, trans

    def lbfgs(params, closure, n):
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=n, history_size=20, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-10, tolerance_change=1e-14)

        def c():
            opt.zero_grad(set_to_none=True)
            loss = closure()
            loss.backward()
            return loss

        return float(opt.step(c).detach())

    def adam(params, closure, n):
        opt = torch.optim.Adam(params, lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n, eta_min=lr * 0.05)
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            loss = closure()
            loss.backward()
            opt.step()
            sched.step()
        return float(loss.detach())

    # --- stage 2: shape (+ key-frame poses)
    pose_init, trans_init = root_init(s0.clamp(lo, hi))
    shape_final = s0.clamp(lo, hi)
    if fit_shape:
        t1 = time.perf_counter()
        kf = torch.as_tensor(np.unique(np.linspace(0, T - 1, min(key_frames, T)).round().astype(int)))
        eps = 1e-3
        u = torch.logit(((s0 - lo) / (hi - lo)).clamp(eps, 1 - eps)).clone().requires_grad_(True)
        kp = pose_init[kf].clone().requires_grad_(True)
        kt = trans_init[kf].clone().requires_grad_(True)
        s_default = ((body.default_shape() - lo) / (hi - lo))

        lin = {"fn": linearised_rest(body, s0.clamp(lo, hi))}

        def shape_closure():
            sh = lo + (hi - lo) * torch.sigmoid(u)
            prep = body.prepare_points(sh[None], pidx, pw, rest_fn=lin["fn"])
            pts = body.pose_points(prep, kp, kt)
            lj, lm = prob.data_loss(pts, kf)
            return lj + marker_weight * lm + prob.reg_loss(kp) + 1e-5 * ((sh - lo) / (hi - lo) - s_default).pow(2).sum()

        # poses first (shape fixed), then shape and poses together
        adam([kp, kt], lambda: shape_closure(), shape_iterations // 2)
        adam([u, kp, kt], shape_closure, shape_iterations)
        # re-linearise at the new shape and refine
        lin["fn"] = linearised_rest(body, (lo + (hi - lo) * torch.sigmoid(u)).detach())
        info["shape_loss"] = adam([u, kp, kt], shape_closure, shape_iterations // 2)
        shape_final = (lo + (hi - lo) * torch.sigmoid(u)).detach()
        info["shape_seconds"] = round(time.perf_counter() - t1, 3)
        pose_init, trans_init = root_init(shape_final)
        if progress:
            progress("shape", 1)

    # --- stage 3/4: poses
    t2 = time.perf_counter()
    with torch.no_grad():
        prep = body.prepare_points(shape_final[None], pidx, pw)
    prep = {k: v.detach() for k, v in prep.items()}
    coarse = torch.arange(0, T, max(1, stride))
    cp = pose_init[coarse].clone().requires_grad_(True)
    ct = trans_init[coarse].clone().requires_grad_(True)

    def coarse_closure():
        pts = body.pose_points(prep, cp, ct)
        lj, lm = prob.data_loss(pts, coarse)
        return lj + marker_weight * lm + prob.reg_loss(cp)

    adam([cp, ct], coarse_closure, coarse_iterations)
    lbfgs([cp, ct], coarse_closure, coarse_iterations // 2)
    # warm start: every frame from its solved neighbour key frames (linear blend; the root
    # rotation from its own rigid fit when the key frames' rotations differ a lot)
    cpd, ctd = cp.detach(), ct.detach()
    if len(coarse) > 1:
        pos = torch.arange(T, dtype=f32) / max(1, stride)
        i0 = pos.floor().long().clamp(max=len(coarse) - 1)
        i1 = (i0 + 1).clamp(max=len(coarse) - 1)
        last = coarse[i1] <= coarse[i0]
        a = torch.where(last, torch.zeros(()), (torch.arange(T) - coarse[i0]).to(f32) / (coarse[i1] - coarse[i0]).clamp(min=1).to(f32))
        pose = (1 - a)[:, None] * cpd[i0] + a[:, None] * cpd[i1]
        trans = (1 - a)[:, None] * ctd[i0] + a[:, None] * ctd[i1]
        jump = (cpd[i1, :3] - cpd[i0, :3]).norm(dim=-1) > 0.5
        pose[jump, :3] = pose_init[jump, :3]
        trans[jump] = trans_init[jump]
    else:
        pose, trans = cpd[[0] * T].clone(), ctd[[0] * T].clone()
    pose[coarse] = cpd
    trans[coarse] = ctd
    pose = pose.clone().requires_grad_(True)
    trans = trans.clone().requires_grad_(True)
    allf = torch.arange(T)

    def fine_closure():
        pts = body.pose_points(prep, pose, trans)
        lj, lm = prob.data_loss(pts, allf)
        loss = lj + marker_weight * lm + prob.reg_loss(pose)
        if T > 2:
            vel = pose[1:] - pose[:-1]
            acc = pose[2:] - 2 * pose[1:-1] + pose[:-2]
            tacc = trans[2:] - 2 * trans[1:-1] + trans[:-2]
            loss = loss + smooth_weight * (1e-2 * (vel**2).sum(-1).mean() + (acc**2).sum(-1).mean()) \
                + smooth_weight * 10 * (tacc**2).sum(-1).mean()
        return loss

    info["pose_loss"] = lbfgs([pose, trans], fine_closure, iterations)
    info["pose_seconds"] = round(time.perf_counter() - t2, 3)
    if progress:
        progress("pose", 1)

    pose, trans = pose.detach(), trans.detach()
    with torch.no_grad():
        pts = body.pose_points(prep, pose, trans)
        jerr = torch.linalg.norm(pts[:, :22] - jt, dim=-1).mean(1).numpy() * 1000
        if names:
            d = torch.linalg.norm(pts[:, 22:] - prob.mk, dim=-1) * prob.valid
            merr = (d.sum(1) / prob.valid.sum(1).clamp_min(1)).numpy() * 1000
        else:
            merr = np.zeros(T)
        verts = None
        if return_vertices:
            t3 = time.perf_counter()
            full = body.prepare(shape_final[None])
            verts = np.empty((T, body.n_vertices, 3), dtype=np.float32)
            for a in range(0, T, 64):
                verts[a : a + 64] = body.pose_prepared(full, pose[a : a + 64], trans[a : a + 64]).numpy()
            info["mesh_seconds"] = round(time.perf_counter() - t3, 3)
    return FitResult(
        shape=shape_final.numpy(), pose=pose.numpy(), trans=trans.numpy(), vertices=verts,
        joint_err_mm=jerr.astype(np.float32), marker_err_mm=merr.astype(np.float32),
        seconds=time.perf_counter() - t0, info=info,
    )
