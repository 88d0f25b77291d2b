"""The body-model interface every body (anny, smplx) implements.

A body model maps shape parameters ``shape (B, S)``, pose parameters ``pose (B, P)`` (rad)
and a global translation ``trans (B, 3)`` (m) to mesh vertices ``(B, V, 3)`` in metres, in
OpenSim's world frame (Y up, X forward of the subject, Z to the subject's right). Each
implementation converts its native frame in exactly one place (its ``_rest_state``).

Posing is plain linear blend skinning over the model's own bone hierarchy:

- the *rest state* (depends on ``shape`` only): rest vertices and the rest world frame
  ``Grest_j`` (4x4) of every bone ``j``;
- the pose is a list of *pose groups*, each an axis-angle rotation (3 values, rad) in the
  local frame of its bone(s) (several bones can share one group, e.g. all toes); bones in no
  group keep their rest orientation relative to their parent; group 0 is the root, whose
  rotation is a world-frame rotation about the root bone's head;
- skinning transform of an active bone ``a`` with driving ancestor ``d``:
  ``A_a = A_d @ Grest_a @ R_a @ Grest_a^-1``; a bone in no group moves with its driver, so its
  skinning weights are added to the driver's (exactly equivalent, fewer bones to pose).

``bone_transforms`` returns ``A_j`` for every bone: ``vertex = sum_j w_vj A_j [v_rest; 1]``,
which is what an exporter (rest vertices + skinning weights + per-frame bone transforms)
needs to reproduce :meth:`BodyModel.forward` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from odahgen.errors import OdahgenError

#: OpenSim world frame from a Z-up, -Y-forward, +X-left frame (Blender/MakeHuman/anny):
#: x_osim = -y, y_osim = z, z_osim = -x. Rows are the OpenSim axes. det = +1.
ZUP_TO_OPENSIM = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])
#: OpenSim world frame from a Y-up, +Z-forward, +X-left frame (SMPL/SMPL-X).
SMPL_TO_OPENSIM = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])


@dataclass(frozen=True)
class ShapeParam:
    """One shape parameter: its name, default and valid range (unitless)."""

    name: str
    default: float
    low: float
    high: float
    description: str = ""


@dataclass(frozen=True)
class PoseGroup:
    """Three pose values (axis-angle, rad, bone-local frame) shared by ``bones``.

    ``lower``/``upper`` (3,) are box limits on the axis-angle components (rad), used as a
    penalty by the fitter.
    """

    name: str
    bones: tuple[int, ...]
    lower: tuple[float, float, float]
    upper: tuple[float, float, float]


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, differentiable at zero. ``aa (..., 3)`` rad -> ``(..., 3, 3)``."""
    theta2 = (aa * aa).sum(-1, keepdim=True)
    theta = torch.sqrt(theta2 + 1e-12)
    small = theta2 < 1e-8
    # sin(t)/t and (1-cos t)/t^2 with Taylor fallbacks near zero
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / (theta2 + 1e-12))
    x, y, z = aa.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(aa.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    return eye + a[..., None] * k + b[..., None] * (k @ k)


def _rodrigues_soa(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula on a structure of arrays: ``aa (3, ...)`` rad -> ``(3, 3, ...)``
    (``I + a K + b K^2`` with ``K^2 = aa aa^T - |aa|^2 I``), differentiable at zero (a
    hand-written backward: one node on autograd's tape instead of twenty)."""
    return _Rodrigues.apply(aa)


def _rodrigues_coeffs(theta2: torch.Tensor):
    """``a = sin t / t``, ``b = (1 - cos t) / t^2`` and their derivatives over ``t`` divided by
    ``t`` (``da``, ``db``) for ``theta2 = t^2``, with Taylor forms near zero."""
    theta = torch.sqrt(theta2 + 1e-12)
    small = theta2 < 1e-8
    s, c = torch.sin(theta), torch.cos(theta)
    a = torch.where(small, 1.0 - theta2 / 6.0, s / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - c) / (theta2 + 1e-12))
    # the derivatives cancel badly in float32 below t ~ 0.03: their Taylor forms (error < 1e-9) there
    near = theta2 < 1e-3
    t3 = theta * theta2 + 1e-30
    da = torch.where(near, -1.0 / 3.0 + theta2 / 30.0, (theta * c - s) / t3)
    db = torch.where(near, -1.0 / 12.0 + theta2 / 180.0, (theta * s - 2.0 * (1.0 - c)) / (t3 * theta))
    return a, b, da, db


def _skew_soa(v: torch.Tensor) -> torch.Tensor:
    """``[v]_x (3, 3, ...)`` of ``v (3, ...)``."""
    x, y, z = v[0], v[1], v[2]
    zero = torch.zeros_like(x)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero]).reshape((3, 3) + v.shape[1:])


def _vee_soa(G: torch.Tensor) -> torch.Tensor:
    """``w (3, ...)`` with ``<G, [v]_x> = v . w`` for ``G (3, 3, ...)``."""
    return torch.stack([G[2, 1] - G[1, 2], G[0, 2] - G[2, 0], G[1, 0] - G[0, 1]])


class _Rodrigues(torch.autograd.Function):
    """``R = I + a K + b K^2`` of ``aa (3, ...)``; backward, with ``dR/dw_m = (w_m / t)(a' K +
    b' K^2) + a E_m + b (E_m K + K E_m)`` (``E_m = [e_m]_x``) contracted with the incoming
    ``G`` in closed form: ``<G, K> = w . vee(G)``, ``<G, K^2> = w^T G w - t^2 tr G`` and
    ``vee(G K^T + K^T G) = (G + G^T) w - 2 tr(G) w``."""

    @staticmethod
    def forward(ctx, aa):
        theta2 = (aa * aa).sum(0)
        a, b, da, db = _rodrigues_coeffs(theta2)
        K = _skew_soa(aa)
        eye = torch.eye(3, dtype=aa.dtype).reshape((3, 3) + (1,) * (aa.dim() - 1))
        ctx.save_for_backward(aa, theta2, a, b, da, db)
        return b * (aa[:, None] * aa[None]) + a * K + eye * (1.0 - b * theta2)

    @staticmethod
    def backward(ctx, G):
        aa, theta2, a, b, da, db = ctx.saved_tensors
        w = _vee_soa(G)
        tr = G[0, 0] + G[1, 1] + G[2, 2]
        Gw = (G * aa[None]).sum(1)  # G w
        GTw = (G * aa[:, None]).sum(0)  # G^T w
        radial = da * (aa * w).sum(0) + db * ((aa * Gw).sum(0) - theta2 * tr)
        return aa * radial + a * w + b * (Gw + GTw - 2.0 * tr * aa)


def _mm_soa(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Per trailing index, ``X (3, 3, ...) @ Y (3, n, ...)`` -> ``(3, n, ...)``."""
    return (X[:, :, None] * Y[None]).sum(1)


def _mv_soa(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per trailing index, ``X (3, 3, ...) @ y (3, ...)`` -> ``(3, ...)``."""
    return (X * y[None]).sum(1)


def _as_batch(x, width: int, name: str, dtype=torch.float32) -> torch.Tensor:
    t = torch.as_tensor(x, dtype=dtype)
    if t.dim() == 1:
        t = t[None]
    if t.dim() != 2 or t.shape[1] != width:
        raise OdahgenError(f"{name} must have shape (B, {width}), got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise OdahgenError(f"{name} contains NaN or infinite values")
    return t


class _Chain(torch.autograd.Function):
    """World transforms along the bone tree from local ones, with a hand-written backward (the
    autograd tape of the per-level gathers and 3x3 products costs more than the products).

    Input: local transforms ``L (3, 4, Ja, B)`` (``[R | t]``, t in m) of the active bones in
    level order (position 0 the root, in world but for ``trans (B, 3)`` m added to its
    translation), and the tree levels after the root
    as ``(slice in level order, parent positions in the previous level)``
    (:meth:`BodyModel._level_slices`). Output: world transforms ``(3, 4, Ja, B)``.
    """

    @staticmethod
    def forward(ctx, L, trans, levels):
        L = L.contiguous()
        root = L[:, :, :1].clone()
        root[:, 3, 0] += trans.T  # the root's world translation
        out = [root]
        for sl, par in levels:
            prev = out[-1][:, :, par]  # (3, 4, n, B)
            cur = (prev[:, :3, None] * L[None, :, :, sl]).sum(1)
            cur[:, 3] += prev[:, 3]
            out.append(cur)
        X = torch.cat(out, 2)
        ctx.save_for_backward(L, X)
        ctx.levels = levels
        return X

    @staticmethod
    def backward(ctx, gX):
        L, X = ctx.saved_tensors
        gX = gX.contiguous()
        g = [gX[:, :, :1].clone()] + [gX[:, :, sl].clone() for sl, _ in ctx.levels]
        gL = [None] * len(g)
        for k in range(len(ctx.levels), 0, -1):  # children before parents: their grads are final
            sl, par = ctx.levels[k - 1]
            prev_sl = ctx.levels[k - 2][0] if k > 1 else slice(0, 1)
            prev = X[:, :, prev_sl][:, :, par]
            gk, Lk = g[k], L[:, :, sl]
            gL[k] = (prev[:, :3, None] * gk[:, None]).sum(0)  # R_p^T g
            gp = torch.cat([(gk[:, None] * Lk[None]).sum(2), gk[:, 3:]], 1)  # [g L^T | g_t]
            g[k - 1].index_add_(2, par, gp)
        gL[0] = g[0]  # the root is its own world transform
        return torch.cat(gL, 2), g[0][:, 3, 0].T, None


class BodyModel:
    """Base class of the body models. Subclasses fill the attributes in ``__init__`` and
    implement :meth:`_rest_state`.

    Attributes (set by subclasses):
        name: ``"anny"`` or ``"smplx"``.
        faces: (F, 3) int64 triangle vertex indices.
        bone_names: J bone names; ``bone_parents`` (J,) int parent index, -1 for the root.
        pose_groups: tuple of :class:`PoseGroup`; group 0 is the root.
        shape_params: tuple of :class:`ShapeParam` (S of them).
        segment_bones: OpenSim body name -> bone names whose vertices belong to that body.
        joint_bones: OpenSim joint name -> bone whose head is that joint (marker placement).
    """

    name: str = "base"
    faces: np.ndarray
    bone_names: tuple[str, ...]
    bone_parents: np.ndarray
    pose_groups: tuple[PoseGroup, ...]
    shape_params: tuple[ShapeParam, ...]
    segment_bones: dict[str, tuple[str, ...]]
    joint_bones: dict[str, str]

    # ---- to implement -------------------------------------------------------------------
    def _rest_state(
        self, shape: torch.Tensor, vertex_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``shape (B, S)`` -> rest vertices ``(B, V', 3)`` m (all, or ``vertex_ids``) and rest
        bone frames ``(B, J, 4, 4)``, both float32 in the OpenSim world frame. Differentiable
        in ``shape``."""
        raise NotImplementedError

    # ---- set-up helpers for subclasses --------------------------------------------------
    def _init_skinning(self, skin_idx: np.ndarray, skin_w: np.ndarray) -> None:
        """``skin_idx (V, K)`` bone indices and ``skin_w (V, K)`` weights over all J bones."""
        J = len(self.bone_names)
        active: list[int] = []
        group_of: dict[int, int] = {}
        for g, grp in enumerate(self.pose_groups):
            for b in grp.bones:
                group_of[b] = g
        root = int(np.flatnonzero(np.asarray(self.bone_parents) < 0)[0])
        group_of.setdefault(root, 0)
        driver = np.zeros(J, dtype=np.int64)
        for j in range(J):  # bones are in topological order (parents first)
            p = int(self.bone_parents[j])
            if j in group_of:
                active.append(j)
                driver[j] = j
            else:
                driver[j] = driver[p] if p >= 0 else j
        self._active = np.asarray(active, dtype=np.int64)  # (Ja,) bone index
        pos = {b: i for i, b in enumerate(active)}
        self._active_group = torch.as_tensor([group_of[b] for b in active])
        # for each active bone, the active index of its parent's driver (-1 for the root)
        self._active_parent = [
            -1 if self.bone_parents[b] < 0 else pos[int(driver[self.bone_parents[b]])] for b in active
        ]
        self._bone_to_active = torch.as_tensor([pos[int(d)] for d in driver])  # (J,)
        # collapse weights onto active bones, keep at most K nonzeros per vertex
        V = skin_idx.shape[0]
        dense = np.zeros((V, len(active)), dtype=np.float64)
        np.add.at(dense, (np.repeat(np.arange(V), skin_idx.shape[1]), self._bone_to_active.numpy()[skin_idx.ravel()]), skin_w.ravel())
        dense /= np.maximum(dense.sum(1, keepdims=True), 1e-12)
        k = int(max(1, (dense > 1e-6).sum(1).max()))
        order = np.argsort(-dense, axis=1)[:, :k]
        self._skin_a_idx = torch.as_tensor(order, dtype=torch.long)  # (V, k) active bones
        self._skin_a_w = torch.as_tensor(np.take_along_axis(dense, order, 1), dtype=torch.float32)
        self._skin_full = (skin_idx.astype(np.int64), skin_w.astype(np.float32))
        lo = np.concatenate([g.lower for g in self.pose_groups]).astype(np.float32)
        hi = np.concatenate([g.upper for g in self.pose_groups]).astype(np.float32)
        self.pose_lower, self.pose_upper = torch.as_tensor(lo), torch.as_tensor(hi)

    # ---- public API ---------------------------------------------------------------------
    @property
    def n_vertices(self) -> int:
        return int(self._skin_a_idx.shape[0])

    @property
    def n_shape(self) -> int:
        return len(self.shape_params)

    @property
    def pose_dim(self) -> int:
        """P = 3 x number of pose groups (axis-angle per group, rad)."""
        return 3 * len(self.pose_groups)

    def default_shape(self) -> torch.Tensor:
        """(S,) the default shape parameters."""
        return torch.tensor([p.default for p in self.shape_params], dtype=torch.float32)

    def shape_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(S,), (S,) lower and upper bounds of the shape parameters."""
        return (
            torch.tensor([p.low for p in self.shape_params], dtype=torch.float32),
            torch.tensor([p.high for p in self.shape_params], dtype=torch.float32),
        )

    def rest_vertices(self, shape=None) -> torch.Tensor:
        """(V, 3) float32 m: the rest mesh of ``shape (S,)`` (default shape if None)."""
        s = self.default_shape() if shape is None else _as_batch(shape, self.n_shape, "shape")
        with torch.no_grad():
            return self._rest_state(s)[0][0]

    @property
    def skinning_weights(self) -> np.ndarray:
        """(V, J) float32 skinning weights over all bones (rows sum to 1)."""
        idx, w = self._skin_full
        out = np.zeros((idx.shape[0], len(self.bone_names)), dtype=np.float32)
        np.add.at(out, (np.repeat(np.arange(idx.shape[0]), idx.shape[1]), idx.ravel()), w.ravel())
        return out / np.maximum(out.sum(1, keepdims=True), 1e-12)

    def prepare(self, shape, vertex_ids=None, rest_fn=None) -> dict[str, torch.Tensor]:
        """Precompute the shape-dependent rest state for repeated posing.

        ``shape (S,)`` or ``(1, S)``; ``vertex_ids (V',)`` restricts the vertices. Returns a dict
        used by :meth:`pose_prepared`. Differentiable in ``shape``.
        """
        s = shape if isinstance(shape, torch.Tensor) and shape.dim() == 2 else _as_batch(shape, self.n_shape, "shape")
        vid = None if vertex_ids is None else torch.as_tensor(vertex_ids, dtype=torch.long)
        verts, frames = (rest_fn or self._rest_state)(s, vid)
        fa = frames[:, torch.as_tensor(self._active)]  # (1, Ja, 4, 4)
        skin = self._dense_skin(vid)  # (V', Ja)
        rest_h = torch.cat([verts[0], torch.ones(verts.shape[1], 1)], 1)  # (V', 4)
        return {
            "rest": verts,  # (1, V', 3)
            "frames": fa,
            "frames_inv": torch.linalg.inv(fa),
            "skin": skin,
            "q": skin[:, :, None] * rest_h[:, None, :],  # (V', Ja, 4): each vertex a linear point
        }

    def _dense_skin(self, vid) -> torch.Tensor:
        idx = self._skin_a_idx if vid is None else self._skin_a_idx[vid]
        w = self._skin_a_w if vid is None else self._skin_a_w[vid]
        out = torch.zeros(idx.shape[0], len(self._active), dtype=torch.float32)
        return out.scatter_add_(1, idx, w)

    def _levels(self):
        """Active bones grouped by tree depth: list of (active ids, parent position in the
        previous level); cached."""
        if getattr(self, "_level_cache", None) is None:
            depth = []
            for a, pa in enumerate(self._active_parent):
                depth.append(0 if pa < 0 else depth[pa] + 1)
            levels, where = [], {}
            for d in range(max(depth) + 1):
                ids = [a for a in range(len(depth)) if depth[a] == d]
                par = [where[self._active_parent[a]][1] if d else -1 for a in ids]
                for k, a in enumerate(ids):
                    where[a] = (d, k)
                levels.append((torch.as_tensor(ids), torch.as_tensor(par)))
            order = torch.argsort(torch.cat([ids for ids, _ in levels]))
            self._level_cache = (levels, order)
        return self._level_cache

    def _level_slices(self) -> list[tuple[slice, torch.Tensor]]:
        """Per tree level after the root: its slice of the level order and its bones' parents'
        positions in the previous level; cached."""
        if getattr(self, "_slice_cache", None) is None:
            levels, _ = self._levels()
            out, start = [], 1
            for ids, par in levels[1:]:
                out.append((slice(start, start + len(ids)), par))
                start += len(ids)
            self._slice_cache = out
        return self._slice_cache

    def _active_affine(self, prep, pose: torch.Tensor, trans: torch.Tensor) -> torch.Tensor:
        """Skinning transforms of the active bones (rest world -> posed world) as a structure
        of arrays, bones in *level order* (see :meth:`_levels`): ``[R | t] (3, 4, Ja, B)``
        (t in m) for ``pose (B, P)`` rad, ``trans (B, 3)`` m.

        The batch is the last, contiguous axis, so every 3x3 product is a few elementwise
        operations over Ja x B values (batched tiny matmuls are several times slower on a CPU).
        """
        B = pose.shape[0]
        M, c = self._local_maps(prep)
        aa = pose.reshape(B, -1, 3)[:, self._level_groups()].permute(2, 1, 0).contiguous()  # (3, Ja, B)
        R9 = _rodrigues_soa(aa).permute(2, 0, 1, 3).reshape(-1, 9, B)  # (Ja, 9, B)
        L = torch.baddbmm(c, M, R9).reshape(-1, 3, 4, B).permute(1, 2, 0, 3)  # (3, 4, Ja, B)
        return _Chain.apply(L, trans, self._level_slices())

    def _level_groups(self) -> torch.Tensor:
        """(Ja,) the pose group of each active bone in level order; cached."""
        if getattr(self, "_level_group_cache", None) is None:
            _, order = self._levels()
            self._level_group_cache = self._active_group[torch.argsort(order)]
        return self._level_group_cache

    def _local_maps(self, prep) -> tuple[torch.Tensor, torch.Tensor]:
        """The local transform of each active bone (level order) as an affine map of its
        rotation: ``[R_loc | t_loc] = M @ vec(R) + c``, ``M (Ja, 12, 9)``, ``c (Ja, 12, 1)``.
        Below the root ``[R_loc | t_loc] = Grest R Grest^-1``:
        ``[i, l] = sum_jk F[i, j] R[j, k] Finv[k, l]`` (+ ``F[i, 3]`` for ``l = 3``); the root
        turns about its head ``h``: ``[R | h - R h]`` (the translation is added by the chain).
        Kept in ``prep`` when the rest frames need no gradient."""
        cached = prep.get("local_maps")
        if cached is not None:
            return cached
        _, order = self._levels()
        lvl = torch.argsort(order)  # level position -> active id (position 0: the root)
        F, Finv = prep["frames"][0][lvl], prep["frames_inv"][0][lvl]  # (Ja, 4, 4)
        h = F[0, :3, 3]
        eye = torch.eye(3, dtype=F.dtype)
        A = torch.cat([eye[None], F[1:, :3, :3]])  # (Ja, 3, 3)
        G = torch.cat([torch.cat([eye, -h[:, None]], 1)[None], Finv[1:, :3, :]])  # (Ja, 3, 4)
        M = torch.einsum("aij,akl->ailjk", A, G).reshape(-1, 12, 9)
        t0 = torch.cat([h[None], F[1:, :3, 3]])  # (Ja, 3)
        c = torch.cat([torch.zeros(len(lvl), 3, 3, dtype=F.dtype), t0[:, :, None]], 2).reshape(-1, 12, 1)
        if not (M.requires_grad or c.requires_grad):
            prep["local_maps"] = (M, c)
        return M, c

    def _active_transforms(self, prep, pose: torch.Tensor, trans: torch.Tensor) -> torch.Tensor:
        """(B, Ja, 4, 4) skinning transforms of the active bones (rest world -> posed world)."""
        X = self._active_affine(prep, pose, trans)
        _, order = self._levels()
        B, Ja = pose.shape[0], X.shape[2]
        top = X.permute(3, 2, 0, 1)[:, order]  # (B, Ja, 3, 4)
        bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=top.dtype).expand(B, Ja, 1, 4)
        return torch.cat([top, bottom], -2)

    def prepare_points(self, shape, point_idx, point_w, rest_fn=None, rigid_bones=None) -> dict[str, torch.Tensor]:
        """Precompute N *linear points* of the mesh for fast posing.

        A linear point is a fixed weighted sum of vertices (a vertex, a barycentric point,
        a regressed joint centre): ``p_n = sum_k point_w[n, k] * v[point_idx[n, k]]``.
        Because skinning is linear, ``p_n = sum_a A_a q_na`` with ``q_na`` (4,) precomputed
        here, so posing N points costs N x Ja, independent of the mesh size. Exact.

        ``point_idx (N, K)`` int vertex ids, ``point_w (N, K)`` float weights. Differentiable
        in ``shape``. ``rest_fn(shape (B,S), vertex_ids) -> (verts, frames)`` may replace the
        model's own rest state (e.g. a linearisation, see :mod:`odahgen.body.fit`).
        ``rigid_bones (N,)`` int (optional): a point with a bone index >= 0 moves rigidly with
        that bone (its rest place carried by the bone's transform) instead of being skinned;
        -1 = skinned (see :func:`odahgen.body.markers.rigid_marker_bones`).
        """
        idx = torch.as_tensor(np.asarray(point_idx), dtype=torch.long)
        w = torch.as_tensor(np.asarray(point_w), dtype=torch.float32)
        uniq, inv = torch.unique(idx, return_inverse=True)
        prep = self.prepare(shape, uniq, rest_fn)
        rest_h = torch.cat([prep["rest"][0], torch.ones(len(uniq), 1)], 1)  # (U, 4)
        skin = prep["skin"][inv]  # (N, K, Ja)
        if rigid_bones is not None:
            rb = torch.as_tensor(np.asarray(rigid_bones), dtype=torch.long)
            rows = torch.nonzero(rb >= 0)[:, 0]
            if len(rows):
                one_hot = torch.zeros(len(rows), skin.shape[2], dtype=skin.dtype)
                one_hot[torch.arange(len(rows)), self._bone_to_active[rb[rows]]] = 1.0
                skin = skin.clone()
                skin[rows] = one_hot[:, None, :].expand(-1, skin.shape[1], -1)
        # q[n, a, :] = sum_k w[n,k] skin[n,k,a] rest_h[inv[n,k], :]
        q = torch.einsum("nk,nka,nkc->nac", w, skin, rest_h[inv])
        return {"frames": prep["frames"], "frames_inv": prep["frames_inv"], "q": q}

    def pose_points(self, prep, pose: torch.Tensor, trans: torch.Tensor) -> torch.Tensor:
        """Posed linear points ``(B, N, 3)`` m for ``pose (B, P)``, ``trans (B, 3)`` (``prep``
        from :meth:`prepare_points` or :meth:`prepare`); a view of :meth:`pose_points_soa`."""
        return self.pose_points_soa(prep, pose, trans).permute(1, 2, 0)

    def pose_points_soa(self, prep, pose: torch.Tensor, trans: torch.Tensor) -> torch.Tensor:
        """Posed linear points as ``(3, B, N)`` m (coordinate first, contiguous)."""
        X = self._active_affine(prep, pose, trans)  # (3, 4, Ja, B), level order
        Ja, B = X.shape[2], X.shape[3]
        X = X.reshape(3, 4 * Ja, B)  # [c, d * Ja + a, b]
        qq = prep.get("qq")
        if qq is None:
            _, order = self._levels()
            q = prep["q"][:, torch.argsort(order)]  # (N, Ja, 4), level order
            qq = q.permute(2, 1, 0).reshape(4 * Ja, q.shape[0]).contiguous()  # [d * Ja + a, n]
            if not qq.requires_grad:
                prep["qq"] = qq  # reused by the next call with this prep
        return X.transpose(1, 2) @ qq

    def pose_prepared(self, prep, pose: torch.Tensor, trans: torch.Tensor) -> torch.Tensor:
        """Skin the prepared rest vertices: ``pose (B, P)``, ``trans (B, 3)`` -> ``(B, V', 3)``."""
        return self.pose_points(prep, pose, trans)

    def forward(self, shape, pose, trans, vertex_ids=None) -> torch.Tensor:
        """Posed vertices ``(B, V, 3)`` float32 m (or ``(B, V', 3)`` for ``vertex_ids``).

        ``shape (S,)|(1,S)``, ``pose (B, P)`` rad, ``trans (B, 3)`` m.
        """
        pose = _as_batch(pose, self.pose_dim, "pose")
        trans = _as_batch(trans, 3, "trans")
        if trans.shape[0] != pose.shape[0]:
            raise OdahgenError(f"pose has {pose.shape[0]} frames but trans has {trans.shape[0]}")
        return self.pose_prepared(self.prepare(shape, vertex_ids), pose, trans)

    __call__ = forward

    def bone_transforms(self, shape, pose, trans) -> torch.Tensor:
        """(B, J, 4, 4) float32 skinning transforms of every bone (rest -> posed world)."""
        pose = _as_batch(pose, self.pose_dim, "pose")
        trans = _as_batch(trans, 3, "trans")
        prep = self.prepare(shape, vertex_ids=torch.zeros(1, dtype=torch.long))
        return self._active_transforms(prep, pose, trans)[:, self._bone_to_active]

    def joint_positions(self, shape, pose=None, trans=None) -> dict[str, torch.Tensor]:
        """OpenSim joint name -> (B, 3) position of the model's bone head mapped to it."""
        s = _as_batch(shape if shape is not None else self.default_shape(), self.n_shape, "shape")
        with torch.no_grad():
            _, frames = self._rest_state(s, torch.zeros(1, dtype=torch.long))
            heads = frames[0, :, :3, 3]  # (J, 3)
            if pose is not None:
                A = self.bone_transforms(s, pose, trans)  # (B, J, 4, 4)
                heads = (A[..., :3, :3] @ heads[None, :, :, None])[..., 0] + A[..., :3, 3]
            else:
                heads = heads[None]
        return {j: heads[:, self.bone_names.index(b)] for j, b in self.joint_bones.items()}

