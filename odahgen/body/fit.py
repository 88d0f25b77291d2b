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

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from odahgen.body.base import BodyModel
from odahgen.body.markers import load_layout, marker_points
from odahgen.body.regressor import Regressor, load_regressor, regressor_path
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


@dataclass(frozen=True)
class FitOptions:
    """Settings of :func:`fit_sequence`; the defaults are the pipeline's.

    The objective is a sum of squared residuals: joint centres and markers in m^2 (mean over
    joints / valid markers and frames), pose penalties in rad^2; the weights below are
    unitless factors on those terms (relative to the joint-centre term, weight 1).

    Attributes:
        fit_shape: fit the shape (stage 2); False keeps the given (or default) shape.
        iterations: L-BFGS iterations of the all-frames pose stage (``body.fit_iterations``).
        coarse_iterations: Adam steps on the key frames of the pose stage, followed by half as
            many L-BFGS iterations.
        shape_iterations: Adam steps of the shape stage with the shape free (preceded by half
            as many on the key-frame poses alone and followed by half as many after
            re-linearising the rest state at the new shape).
        key_frames: frames (evenly spread over the sequence) posed jointly with the shape.
        stride: key-frame spacing (frames) of the pose stage; None: 4 for clips of <= 300
            frames (cheap there, and it halves the interpolation gap the all-frames stage must
            close), else 8.
        lr: Adam learning rate (in parameter units: rad for poses, m for translations, logit
            units for the bounded shape), cosine-annealed to 5 % of it.
        smooth_weight: weight of the temporal smoothness of the all-frames stage: pose
            acceleration (rad^2 per frame^4) + 0.01 x pose velocity (rad^2 per frame^2)
            + 10 x root translation acceleration (m^2 per frame^4), each a mean over frames.
        marker_weight: weight of the marker term.
        limit_weight: weight of the joint-limit penalty (rad^2 outside the body model's box
            limits, summed over pose values).
        prior_weight: weight of the pull of the non-root pose towards the rest pose (rad^2).
        return_vertices: skin the full mesh of every frame at the end (``FitResult.vertices``).
        threads: torch intra-op threads while fitting (1 is fastest for these small tensors,
            and robust on a busy machine); None leaves torch's setting.
    """

    fit_shape: bool = True
    iterations: int = 30
    coarse_iterations: int = 150
    shape_iterations: int = 100
    key_frames: int = 8
    stride: int | None = None
    lr: float = 0.04
    smooth_weight: float = 0.002
    marker_weight: float = 3.0
    limit_weight: float = 10.0
    prior_weight: float = 1e-4
    return_vertices: bool = True
    threads: int | None = 1

    def key_frame_stride(self, n_frames: int) -> int:
        """The pose stage's key-frame spacing (frames) for a clip of ``n_frames``."""
        if self.stride is not None:
            return self.stride
        return 4 if n_frames <= 300 else 8


#: weight of the pull of the normalised shape towards the model's default shape (stage 2)
SHAPE_PRIOR_WEIGHT = 1e-5
#: the warm start takes a frame's root rotation from its own rigid fit where the rotations of
#: its two neighbouring key frames differ by more than this (rad, axis-angle distance)
ROOT_JUMP_RAD = 0.5
#: frames skinned at once when the full mesh is built
MESH_CHUNK = 64


@dataclass
class _Targets:
    """What the fit matches, checked and aligned.

    joints (T, 22, 3) float32 m; markers (T, M, 3) float32 m of the M markers the layout has
    (0 where missing) and valid (T, M) float32 (1 = present); marker_names (M,); the mesh's
    linear points (see :meth:`BodyModel.prepare_points`): the regressor's 22 joint rows, then
    the M markers, as point_idx (22 + M, K) int64 vertex ids and point_w (22 + M, K) float32.
    """

    joints: torch.Tensor
    markers: torch.Tensor
    valid: torch.Tensor
    marker_names: list[str]
    point_idx: np.ndarray
    point_w: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.joints.shape[0])


def _targets(body: BodyModel, joint_centres, markers, marker_names, regressor: Regressor | None,
             layout: dict | None) -> _Targets:
    """Check the inputs (one-line errors) and build the :class:`_Targets`."""
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
    return _Targets(torch.as_tensor(jc, dtype=f32), torch.as_tensor(mk, dtype=f32),
                    torch.as_tensor(valid, dtype=f32), names, pidx, pw)


class _Problem:
    """The objective: data terms (joint centres, markers) and pose penalties (limits, prior)."""

    def __init__(self, body: BodyModel, targets: _Targets, opts: FitOptions):
        self.body, self.targets = body, targets
        self.idx, self.w = targets.point_idx, targets.point_w
        self.nj = 22
        self.jt, self.mk, self.valid = targets.joints, targets.markers, targets.valid
        self.marker_weight = opts.marker_weight
        self.limit_weight, self.prior_weight = opts.limit_weight, opts.prior_weight
        self.lo, self.hi = body.pose_lower, body.pose_upper
        self._targets: tuple | None = None  # (frames, targets (3, B, N), weights (B, N))

    def data_loss(self, pts: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(joint term, marker term), m^2, of the posed linear points ``pts (B, 22 + M, 3)`` of
        the target frames ``frames (B,)``."""
        j = pts[:, : self.nj]
        m = pts[:, self.nj :]
        lj = ((j - self.jt[frames]) ** 2).sum(-1).mean()
        if m.shape[1]:
            v = self.valid[frames]
            lm = (((m - self.mk[frames]) ** 2).sum(-1) * v).sum() / v.sum().clamp_min(1)
        else:
            lm = pts.new_zeros(())
        return lj, lm

    def reg_loss(self, pose: torch.Tensor) -> torch.Tensor:
        """Weighted joint-limit and rest-pose penalties of ``pose (B, P)`` rad."""
        lim = (torch.relu(self.lo - pose) ** 2 + torch.relu(pose - self.hi) ** 2).sum(-1).mean()
        prior = (pose[:, 3:] ** 2).sum(-1).mean()
        return self.limit_weight * lim + self.prior_weight * prior

    def _weighted_targets(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The targets ``(3, B, N)`` m of ``frames (B,)`` and the weights ``(B, N)`` that make
        ``sum(w * |p - target|^2)`` the joint term + marker_weight x the marker term of
        :meth:`data_loss`; cached for the last ``frames`` tensor (each stage passes one)."""
        if self._targets is None or self._targets[0] is not frames:
            B = len(frames)
            tgt = torch.cat([self.jt[frames], self.mk[frames]], 1).permute(2, 0, 1).contiguous()
            v = self.valid[frames]
            w = torch.cat([torch.full((B, self.nj), 1.0 / (B * self.nj)),
                           self.marker_weight * v / v.sum().clamp_min(1)], 1)
            self._targets = (frames, tgt, w)
        return self._targets[1], self._targets[2]

    def pose_loss(self, prep: dict, pose: torch.Tensor, trans: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Data terms + pose penalties of ``pose (B, P)``, ``trans (B, 3)`` at ``frames (B,)``
        (the data terms as :meth:`data_loss`, as one weighted sum)."""
        tgt, w = self._weighted_targets(frames)
        pts = self.body.pose_points_soa(prep, pose, trans)  # (3, B, N)
        return ((pts - tgt) ** 2 * w).sum() + self.reg_loss(pose)

    def points(self, shape: torch.Tensor, rest_fn=None) -> dict:
        """The linear points prepared for ``shape (1, S)`` (see :meth:`BodyModel.prepare_points`)."""
        return self.body.prepare_points(shape, self.idx, self.w, rest_fn=rest_fn)


# ---- optimisers ------------------------------------------------------------------------
def _lbfgs(params: list[torch.Tensor], closure, n: int) -> float:
    """At most ``n`` L-BFGS iterations (strong Wolfe line search) on ``closure() -> loss``;
    returns the loss at the start of the last iteration."""
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=n, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-10, tolerance_change=1e-14)

    def c():
        opt.zero_grad(set_to_none=True)
        loss = closure()
        loss.backward()
        return loss

    return float(opt.step(c).detach())


def _adam(params: list[torch.Tensor], closure, n: int, lr: float) -> float:
    """``n`` Adam steps, learning rate ``lr`` cosine-annealed to 5 %; returns the last loss."""
    if n <= 0:
        with torch.no_grad():
            return float(closure())
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n, eta_min=lr * 0.05)
    for _ in range(n):
        opt.zero_grad(set_to_none=True)
        loss = closure()
        loss.backward()
        opt.step()
        sched.step()
    return float(loss.detach())


# ---- stages ----------------------------------------------------------------------------
def _root_init(prob: _Problem, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage 1: per frame, the rigid (Kabsch) fit of the rest pelvis/hip/back joints of
    ``shape (S,)`` to the targets. Returns pose (T, P) rad (root rotation only), trans (T, 3) m."""
    body, jt = prob.body, prob.jt
    T = jt.shape[0]
    with torch.no_grad():
        prep = prob.points(shape)
        rest = body.pose_points(prep, torch.zeros(1, body.pose_dim), torch.zeros(1, 3))[0]
        h = prep["frames"][0, 0, :3, 3]
        R, c = _kabsch(rest[list(ROOT_JOINTS)], jt[:, list(ROOT_JOINTS)])
        pose = torch.zeros(T, body.pose_dim)
        pose[:, :3] = _matrix_to_axis_angle(R)
        trans = c - h + (R @ h[:, None])[..., 0]
    return pose, trans


def _fit_shape(prob: _Problem, s0: torch.Tensor, pose_init: torch.Tensor, trans_init: torch.Tensor,
               opts: FitOptions, info: dict) -> torch.Tensor:
    """Stage 2: the shape (bounded through a sigmoid) and the poses of ``opts.key_frames``
    frames spread over the sequence, jointly, on a rest state linear in the shape. Returns the
    shape (S,)."""
    body = prob.body
    T = prob.jt.shape[0]
    lo, hi = body.shape_bounds()
    kf = torch.as_tensor(np.unique(np.linspace(0, T - 1, min(opts.key_frames, T)).round().astype(int)))
    eps = 1e-3
    u = torch.logit(((s0 - lo) / (hi - lo)).clamp(eps, 1 - eps)).clone().requires_grad_(True)
    kp = pose_init[kf].clone().requires_grad_(True)
    kt = trans_init[kf].clone().requires_grad_(True)
    s_default = (body.default_shape() - lo) / (hi - lo)
    lin = {"fn": linearised_rest(body, s0.clamp(lo, hi))}

    def closure():
        sh = lo + (hi - lo) * torch.sigmoid(u)
        prep = prob.points(sh[None], rest_fn=lin["fn"])
        return prob.pose_loss(prep, kp, kt, kf) + SHAPE_PRIOR_WEIGHT * ((sh - lo) / (hi - lo) - s_default).pow(2).sum()

    # poses first (shape fixed), then shape and poses together
    _adam([kp, kt], closure, opts.shape_iterations // 2, opts.lr)
    _adam([u, kp, kt], closure, opts.shape_iterations, opts.lr)
    # re-linearise at the new shape and refine
    lin["fn"] = linearised_rest(body, (lo + (hi - lo) * torch.sigmoid(u)).detach())
    info["shape_loss"] = _adam([u, kp, kt], closure, opts.shape_iterations // 2, opts.lr)
    return (lo + (hi - lo) * torch.sigmoid(u)).detach()


def _fit_key_frames(prob: _Problem, prep: dict, coarse: torch.Tensor, pose_init: torch.Tensor,
                    trans_init: torch.Tensor, opts: FitOptions) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage 3: the key frames ``coarse (C,)`` all at once from the root initialisation (Adam,
    then L-BFGS). Returns their pose (C, P) rad and trans (C, 3) m."""
    cp = pose_init[coarse].clone().requires_grad_(True)
    ct = trans_init[coarse].clone().requires_grad_(True)

    def closure():
        return prob.pose_loss(prep, cp, ct, coarse)

    _adam([cp, ct], closure, opts.coarse_iterations, opts.lr)
    _lbfgs([cp, ct], closure, opts.coarse_iterations // 2)
    return cp.detach(), ct.detach()


def _warm_start(coarse: torch.Tensor, stride: int, cpd: torch.Tensor, ctd: torch.Tensor,
                pose_init: torch.Tensor, trans_init: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every frame from its solved neighbouring key frames (linear blend); the root from its
    own rigid fit where the two key frames' root rotations differ by more than
    :data:`ROOT_JUMP_RAD`. Returns pose (T, P) rad, trans (T, 3) m."""
    T = pose_init.shape[0]
    f32 = torch.float32
    if len(coarse) > 1:
        pos = torch.arange(T, dtype=f32) / max(1, stride)
        i0 = pos.floor().long().clamp(max=len(coarse) - 1)
        i1 = (i0 + 1).clamp(max=len(coarse) - 1)
        last = coarse[i1] <= coarse[i0]
        a = torch.where(last, torch.zeros(()),
                        (torch.arange(T) - coarse[i0]).to(f32) / (coarse[i1] - coarse[i0]).clamp(min=1).to(f32))
        pose = (1 - a)[:, None] * cpd[i0] + a[:, None] * cpd[i1]
        trans = (1 - a)[:, None] * ctd[i0] + a[:, None] * ctd[i1]
        jump = (cpd[i1, :3] - cpd[i0, :3]).norm(dim=-1) > ROOT_JUMP_RAD
        pose[jump, :3] = pose_init[jump, :3]
        trans[jump] = trans_init[jump]
    else:
        pose, trans = cpd[[0] * T].clone(), ctd[[0] * T].clone()
    pose[coarse] = cpd
    trans[coarse] = ctd
    return pose, trans


def _fit_all_frames(prob: _Problem, prep: dict, pose: torch.Tensor, trans: torch.Tensor,
                    opts: FitOptions) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Stage 4: all frames together (L-BFGS) with temporal smoothness. Returns pose (T, P) rad,
    trans (T, 3) m and the final loss."""
    T = pose.shape[0]
    pose = pose.clone().requires_grad_(True)
    trans = trans.clone().requires_grad_(True)
    allf = torch.arange(T)
    w = opts.smooth_weight

    def closure():
        loss = prob.pose_loss(prep, pose, trans, allf)
        if T > 2:
            vel = pose[1:] - pose[:-1]
            acc = pose[2:] - 2 * pose[1:-1] + pose[:-2]
            tacc = trans[2:] - 2 * trans[1:-1] + trans[:-2]
            loss = loss + w * (1e-2 * (vel**2).sum(-1).mean() + (acc**2).sum(-1).mean()) \
                + w * 10 * (tacc**2).sum(-1).mean()
        return loss

    loss = _lbfgs([pose, trans], closure, opts.iterations)
    return pose.detach(), trans.detach(), loss


def _residuals(prob: _Problem, prep: dict, pose: torch.Tensor, trans: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per frame (T,) mean joint-centre and mean marker error, mm (markers 0 if none)."""
    T = pose.shape[0]
    with torch.no_grad():
        pts = prob.body.pose_points(prep, pose, trans)
        jerr = torch.linalg.norm(pts[:, :22] - prob.jt, dim=-1).mean(1).numpy() * 1000
        if prob.targets.marker_names:
            d = torch.linalg.norm(pts[:, 22:] - prob.mk, dim=-1) * prob.valid
            merr = (d.sum(1) / prob.valid.sum(1).clamp_min(1)).numpy() * 1000
        else:
            merr = np.zeros(T)
    return jerr, merr


def _skin_mesh(body: BodyModel, shape: torch.Tensor, pose: torch.Tensor, trans: torch.Tensor) -> np.ndarray:
    """(T, V, 3) float32 m: the full mesh of every frame, :data:`MESH_CHUNK` frames at a time."""
    T = pose.shape[0]
    with torch.no_grad():
        full = body.prepare(shape[None])
        verts = np.empty((T, body.n_vertices, 3), dtype=np.float32)
        out = torch.from_numpy(verts)  # torch copies the posed (transposed) chunks much faster
        for a in range(0, T, MESH_CHUNK):
            out[a : a + MESH_CHUNK].copy_(body.pose_prepared(full, pose[a : a + MESH_CHUNK], trans[a : a + MESH_CHUNK]))
    return verts


# ---- the fit ---------------------------------------------------------------------------
def fit_sequence(
    body: BodyModel,
    joint_centres,
    markers,
    marker_names,
    regressor: Regressor | None = None,
    layout: dict | None = None,
    shape=None,
    options: FitOptions | None = None,
    progress=None,
    **settings,
) -> FitResult:
    """Fit ``body`` to a sequence.

    Args:
        joint_centres: (T, 22, 3) m, OpenSim joint centres (JOINT_NAMES order), world frame.
        markers: (T, M, 3) m model markers (NaN = missing, ignored), ``marker_names`` (M,).
        regressor: a :class:`odahgen.body.regressor.Regressor` (default: the shipped one for
            this body model and the built-in skeleton).
        layout: virtual marker layout (default: the shipped one); markers not in it are ignored.
        shape: (S,) fixed shape (with ``fit_shape=False``) or the shape initialisation.
        options: a :class:`FitOptions` (default: ``FitOptions()``).
        progress: called as ``progress(stage, 1)`` after the "shape" and "pose" stages.
        **settings: :class:`FitOptions` fields overriding ``options`` (e.g. ``iterations=40,
            fit_shape=False``); an unknown name is a TypeError.
    Returns:
        :class:`FitResult` (pose (T, P) rad, trans (T, 3) m, vertices (T, V, 3) float32 m,
        joint_err_mm (T,), marker_err_mm (T,)).
    """
    opts = dataclasses.replace(options or FitOptions(), **settings)
    old_threads = torch.get_num_threads()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    try:
        return _fit(body, joint_centres, markers, marker_names, regressor, layout, shape, opts, progress)
    finally:
        torch.set_num_threads(old_threads)


def _fit(body: BodyModel, joint_centres, markers, marker_names, regressor, layout, shape, opts: FitOptions,
         progress) -> FitResult:
    """The stages of :func:`fit_sequence` (see the module docstring), in order."""
    t0 = time.perf_counter()
    targets = _targets(body, joint_centres, markers, marker_names, regressor, layout)
    prob = _Problem(body, targets, opts)
    T = targets.n_frames
    stride = opts.key_frame_stride(T)
    info: dict = {"frames": T, "markers_used": len(targets.marker_names), "stride": stride}
    lo, hi = body.shape_bounds()
    s0 = body.default_shape() if shape is None else torch.as_tensor(shape, dtype=torch.float32).reshape(-1)
    if s0.shape[0] != body.n_shape:
        raise OdahgenError(f"shape must have {body.n_shape} values, got {s0.shape[0]}")

    # stages 1-2: root initialisation, shape (+ key-frame poses)
    shape_final = s0.clamp(lo, hi)
    pose_init, trans_init = _root_init(prob, shape_final)
    if opts.fit_shape:
        t1 = time.perf_counter()
        shape_final = _fit_shape(prob, s0, pose_init, trans_init, opts, info)
        info["shape_seconds"] = round(time.perf_counter() - t1, 3)
        pose_init, trans_init = _root_init(prob, shape_final)
        if progress:
            progress("shape", 1)

    # stages 3-4: poses, key frames then all frames
    t2 = time.perf_counter()
    with torch.no_grad():
        prep = prob.points(shape_final[None])
    prep = {k: v.detach() for k, v in prep.items()}
    coarse = torch.arange(0, T, max(1, stride))
    cpd, ctd = _fit_key_frames(prob, prep, coarse, pose_init, trans_init, opts)
    pose, trans = _warm_start(coarse, stride, cpd, ctd, pose_init, trans_init)
    pose, trans, info["pose_loss"] = _fit_all_frames(prob, prep, pose, trans, opts)
    info["pose_seconds"] = round(time.perf_counter() - t2, 3)
    if progress:
        progress("pose", 1)

    jerr, merr = _residuals(prob, prep, pose, trans)
    verts = None
    if opts.return_vertices:
        t3 = time.perf_counter()
        verts = _skin_mesh(body, shape_final, pose, trans)
        info["mesh_seconds"] = round(time.perf_counter() - t3, 3)
    return FitResult(
        shape=shape_final.numpy(), pose=pose.numpy(), trans=trans.numpy(), vertices=verts,
        joint_err_mm=jerr.astype(np.float32), marker_err_mm=merr.astype(np.float32),
        seconds=time.perf_counter() - t0, info=info,
    )
