"""A fast, batched, pure-NumPy copy of a skeleton's kinematics: :class:`KinematicTree`.

A tree holds bodies, joint offset frames, joint axes and their coordinate functions,
coordinate couplers and markers (:func:`odahgen.skeleton.kinematics.extract_tree` reads one
from an ``opensim.Model``; it pickles). :meth:`KinematicTree.forward` evaluates body
transforms and :meth:`KinematicTree.markers` marker positions for many frames at once,
:meth:`KinematicTree.marker_jacobian` the analytic marker Jacobian and
:meth:`KinematicTree.normal_equations` the Gauss-Newton normal equations of IK without
forming it, all without calling OpenSim. Joint slots: up to three rotations and three
translations per body, each a function (linear, constant or tabulated) of one coordinate, or a
translation that follows the upper arm's direction (kind ``arm``, of two coordinates: the
shoulder girdle, :mod:`odahgen.skeleton.girdle`).

Conventions follow Simbody's FunctionBased mobilizer: the three rotation axes are applied
as successive body-fixed rotations, the three translations are along their axes in the
parent (F) frame. Shapes: q (T, n_coords) in model coordinate order, radians / metres;
R (T, B, 3, 3), p (T, B, 3) body transforms in ground; markers (T, M, 3) m.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product over the last axis (broadcasting), without np.cross's overhead."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def _mv(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Matrix-vector products M (..., 3, 3) @ v (..., 3) -> (..., 3), broadcasting, as three
    column terms: for stacks of 3x3 matrices this is ~2.5x faster than ``matmul``, which calls
    BLAS once per tiny matrix."""
    return M[..., 0] * v[..., 0, None] + M[..., 1] * v[..., 1, None] + M[..., 2] * v[..., 2, None]


def arm_features(f: np.ndarray, a: np.ndarray) -> np.ndarray:
    """(..., 3) the upper arm's direction features of flexion f and adduction a (rad), zero
    with the arm hanging: [cos a sin f, 1 - cos a cos f, sin a]. They depend on the humerus's
    long axis only (the same for every Euler branch and whole turn of the shoulder angles)."""
    ca = np.cos(a)
    return np.stack([ca * np.sin(f), 1.0 - ca * np.cos(f), np.sin(a)], axis=-1)


def arm_feature_grads(f: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d features / d f and d features / d a, each (..., 3) (see :func:`arm_features`)."""
    ca, sa, cf, sf = np.cos(a), np.sin(a), np.cos(f), np.sin(f)
    return (np.stack([ca * cf, ca * sf, np.zeros_like(f)], axis=-1),
            np.stack([-sa * sf, sa * cf, ca], axis=-1))


@dataclass
class Func:
    """A coordinate function y = f(x): 'lin' (a, b), 'const' (c), 'tab' (x grid, y, dy), or
    'arm' (coef (3,) m): y = coef . arm_features(x1, x2) of two coordinates, x (T, 2)."""

    kind: str
    a: float = 0.0
    b: float = 0.0
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    dy: np.ndarray | None = None
    coef: np.ndarray | None = None

    def value(self, q: np.ndarray) -> np.ndarray:
        if self.kind == "arm":
            return arm_features(q[..., 0], q[..., 1]) @ self.coef
        if self.kind == "lin":
            return self.a * q + self.b
        if self.kind == "const":
            return np.full_like(q, self.b)
        return _interp_extrap(q, self.x, self.y, self.dy)

    def deriv(self, q: np.ndarray) -> np.ndarray:
        if self.kind == "arm":
            raise ValueError("an 'arm' function has two partial derivatives: use ArmPartial")
        if self.kind == "lin":
            return np.full_like(q, self.a)
        if self.kind == "const":
            return np.zeros_like(q)
        return np.interp(q, self.x, self.dy)


def _interp_extrap(q, x, y, dy):
    v = np.interp(q, x, y)
    lo, hi = q < x[0], q > x[-1]
    if lo.any():
        v = np.where(lo, y[0] + dy[0] * (q - x[0]), v)
    if hi.any():
        v = np.where(hi, y[-1] + dy[-1] * (q - x[-1]), v)
    return v


@dataclass
class ArmPartial:
    """d (an 'arm' Func) / d its coordinate ``which`` (0 or 1), as a 'tab'-like slot factor
    evaluated on both coordinates q (T, 2)."""

    func: Func
    which: int
    kind: str = "tab"

    def deriv(self, q: np.ndarray) -> np.ndarray:
        return arm_feature_grads(q[..., 0], q[..., 1])[self.which] @ self.func.coef


@dataclass
class Axis:
    """One elementary motion of a joint: kind 'R' (rotation) or 'T' (translation) along
    ``axis`` (3,) in the joint's current frame, by ``func`` of coordinate ``coord`` (-1: none;
    an 'arm' translation also of ``coord2``)."""

    kind: str
    axis: np.ndarray
    coord: int
    func: Func
    coord2: int = -1


@dataclass
class KinematicTree:
    """A picklable kinematic model. See the module docstring for conventions."""

    coord_names: list[str]
    coord_range: np.ndarray  # (n, 2)
    coord_clamped: np.ndarray  # (n,) bool
    coord_locked: np.ndarray  # (n,) bool
    coord_default: np.ndarray  # (n,)
    coord_rotational: np.ndarray  # (n,) bool
    body_names: list[str]
    joint_names: list[str]  # joint whose child is body i
    body_parent: list[int]  # -1 = ground
    X_PF: np.ndarray  # (B, 4, 4) parent offset frame in parent body
    X_BM: np.ndarray  # (B, 4, 4) child offset frame in child body
    axes: list[list[Axis]]
    mass_center: np.ndarray  # (B, 3)
    couplers: dict[int, tuple[int, Func]]  # dependent coord -> (independent coord, function)
    marker_names: list[str]
    marker_body: np.ndarray  # (M,) int
    marker_loc: np.ndarray  # (M, 3)
    scale_factors: np.ndarray  # (B, 3) visual mesh scale factors
    ancestors: list[list[int]] = field(default_factory=list)

    def __post_init__(self):
        if not self.ancestors:
            self.ancestors = []
            for b in range(len(self.body_names)):
                chain = []
                cur = b
                while cur >= 0:
                    chain.append(cur)
                    cur = self.body_parent[cur]
                self.ancestors.append(chain[::-1])

    # ----------------------------------------------------------------------------------
    @property
    def n_coords(self) -> int:
        return len(self.coord_names)

    def free_coords(self) -> np.ndarray:
        """Indices of the coordinates IK solves for (not locked, not coupled-dependent)."""
        dep = set(self.couplers)
        return np.array([i for i in range(self.n_coords) if not self.coord_locked[i] and i not in dep], dtype=int)

    def apply_couplers(self, q: np.ndarray) -> np.ndarray:
        """Fill dependent (coupled) coordinates from their independent ones; q (T, n)."""
        q = np.array(q, dtype=np.float64, copy=True)
        for dep, (ind, f) in self.couplers.items():
            q[:, dep] = f.value(q[:, ind])
        return q

    def forward(self, q: np.ndarray):
        """Body transforms for q (T, n) (dependent coordinates are filled from their
        couplers): R (T, B, 3, 3) and p (T, B, 3) of each body in ground, and the joint
        centres (T, B, 3) (the joint's child-side frame origin) in metres. Vectorised over
        bodies and frames: one batched step per tree level."""
        R, p, jc, _ = self._forward_vec(np.atleast_2d(q), need_axes=False)
        return R, p, jc

    def markers(self, R: np.ndarray, p: np.ndarray, loc: np.ndarray | None = None) -> np.ndarray:
        """Marker positions (T, M, 3) in ground from body transforms; loc (M,3) or (T,M,3) overrides."""
        loc = self.marker_loc if loc is None else loc
        Rb = R[:, self.marker_body]  # (T,M,3,3)
        if loc.ndim == 2:
            return p[:, self.marker_body] + _mv(Rb, loc[None])
        return p[:, self.marker_body] + _mv(Rb, loc)

    def marker_jacobian(self, q: np.ndarray, loc: np.ndarray | None = None, cols: np.ndarray | None = None):
        """Markers (T,M,3) and d markers / d q[cols] (T, M, 3, len(cols)); couplers chained."""
        cols = self.free_coords() if cols is None else np.asarray(cols, dtype=int)
        mk, J, _ = self.markers_jacobian_vec(q, loc, None, cols)
        return mk, J

    # ------------------------------------------------------------------ vectorised kinematics
    def _compiled(self) -> "_Compiled":
        cc = self.__dict__.get("_cc")
        if cc is None or cc.key != _structure_key(self):
            cc = _Compiled(self)
            self.__dict__["_cc"] = cc
        return cc

    def _forward_vec(self, q: np.ndarray, need_axes: bool):
        """Vectorised FK. Returns (R, p, jc, extra); extra (for the Jacobian) holds the world
        rotation axes/translation directions of every joint slot, their derivative factors and
        the coupled q, or None."""
        cc = self._compiled()
        q = self.apply_couplers(q)
        T = q.shape[0]
        B = len(self.body_names)
        th = q[:, cc.r_coord] * cc.r_a + cc.r_b  # (T,B,NR)
        tr = q[:, cc.t_coord] * cc.t_a + cc.t_b  # (T,B,NT)
        for b, k, f, c in cc.r_tab:
            th[:, b, k] = f.value(q[:, c])
        for b, k, f, c in cc.t_tab:
            tr[:, b, k] = f.value(q[:, c])
        s = np.sin(th)[..., None, None]
        co = np.cos(th)[..., None, None]
        Rk = cc.eye + s * cc.r_K + (1.0 - co) * cc.r_KK  # (T,B,NR,3,3)
        NR = Rk.shape[2]
        pre = [None] * NR
        Rj = Rk[:, :, 0]
        if need_axes:
            pre[0] = np.broadcast_to(np.eye(3), Rj.shape)
        for k in range(1, NR):
            if need_axes:
                pre[k] = Rj
            Rj = Rj @ Rk[:, :, k]
        tj = (tr[..., None] * cc.t_axis[None]).sum(axis=2)  # translation in F
        RPF, pPF = self.X_PF[:, :3, :3], self.X_PF[:, :3, 3]
        RBM, pBM = self.X_BM[:, :3, :3], self.X_BM[:, :3, 3]
        RPFj = RPF[None] @ Rj
        Rl = RPFj @ np.swapaxes(RBM, -1, -2)[None]  # body in parent body
        pMl = pPF[None] + _mv(RPF[None], tj)  # joint centre in parent body
        pl = pMl - _mv(Rl, pBM[None])
        # each body's [R p jc] in its parent body as one 4x5 block [[Rl pl pMl], [0 0 0 1 1]]:
        # one gather, one product and one store per tree level give all three in ground
        M = np.empty((T, B, 4, 5))
        M[..., :3, :3] = Rl
        M[..., :3, 3] = pl
        M[..., :3, 4] = pMl
        M[..., 3, :] = (0.0, 0.0, 0.0, 1.0, 1.0)
        G = np.empty((T, B + 1, 4, 5))  # the last entry is the ground
        G[:, B] = cc.ground
        for bs, par in cc.levels_g:
            G[:, bs] = G[:, par, :, :4] @ M[:, bs]
        R, p, jc = G[:, :B, :3, :3], G[:, :B, :3, 3], G[:, :B, :3, 4]
        RP = G[:, cc.parent_g, :3, :3] if need_axes else None
        if not need_axes:
            return R, p, jc, None
        RFw = RP @ RPF[None]  # (T,B,3,3) F frame in ground
        # world rotation axes of the slots used by the Jacobian
        u = cc.jr  # rotation slots: (b, k) arrays
        if len(u[0]):
            # world axis of slot k: RFw @ (rotations before k) @ axis_k, as vectors per k
            wr = np.empty((T, len(u[0]), 3))
            for k, sel, bs in cc.jr_by_slot:  # only the slots the Jacobian uses
                ak = cc.r_axis[None, bs, k]  # (1,S_k,3)
                vk = ak if k == 0 else _mv(pre[k][:, bs], ak)
                wr[:, sel] = _mv(RFw[:, bs], vk)
            dr = np.broadcast_to(cc.r_a[u[0], u[1]], (T, len(u[0]))).copy()
            for i, (b, k, f, c) in cc.jr_tab:
                dr[:, i] = f.deriv(q[:, c])
        else:
            wr = np.zeros((T, 0, 3))
            dr = np.zeros((T, 0))
        v = cc.jt
        if len(v[0]):
            wt = _mv(RFw[:, v[0]], cc.t_axis_vec[v[0], v[1]][None])
            dt = np.broadcast_to(cc.t_a[v[0], v[1]], (T, len(v[0]))).copy()
            for i, (b, k, f, c) in cc.jt_tab:
                dt[:, i] = f.deriv(q[:, c])
        else:
            wt = np.zeros((T, 0, 3))
            dt = np.zeros((T, 0))
        return R, p, jc, (wr, dr, wt, dt, q)

    def markers_jacobian_vec(self, q: np.ndarray, loc: np.ndarray | None = None, idx: np.ndarray | None = None,
                             cols: np.ndarray | None = None):
        """Markers ``idx`` (all if None) (T,m,3), their Jacobian d x / d q[cols] (T,m,3,n) and the
        body transforms (R, p). Couplers are chained into the independent coordinates."""
        q = np.atleast_2d(q)
        cols = self.free_coords() if cols is None else np.asarray(cols, dtype=int)
        idx = np.arange(len(self.marker_names)) if idx is None else np.asarray(idx, dtype=int)
        cc = self._compiled()
        R, p, jc, (wr, dr, wt, dt, qf) = self._forward_vec(q, need_axes=True)
        loc = self.marker_loc if loc is None else loc
        mb = self.marker_body[idx]
        lm = loc[idx] if loc.ndim == 2 else loc[:, idx]
        if lm.ndim == 2:
            x = p[:, mb] + _mv(R[:, mb], lm[None])
        else:
            x = p[:, mb] + _mv(R[:, mb], lm)
        T = x.shape[0]
        plan = cc.plan(self, tuple(idx.tolist()), tuple(cols.tolist()))
        # chain factors of coupled slots
        fr = dr * plan.r_chain_const[None]
        for i, ind, f in plan.r_chain_tab:
            fr[:, i] *= f.deriv(qf[:, ind])
        ft = dt * plan.t_chain_const[None]
        for i, ind, f in plan.t_chain_tab:
            ft[:, i] *= f.deriv(qf[:, ind])
        # twists per unit (body, col): omega, v  with dx = omega x x + v
        c_r = jc[:, cc.jr[0]]  # centres of rotation slots
        wr_f = wr * fr[..., None]
        om = plan.r_sum(wr_f)
        vv = plan.r_sum(-_cross(wr_f, c_r)) + plan.t_sum(wt * ft[..., None])
        J = np.zeros((T, len(idx), len(cols), 3))
        for pm, pu, pc in plan.layers:
            J[:, pm, pc] += _cross(om[:, pu], x[:, pm]) + vv[:, pu]
        return x, np.swapaxes(J, 2, 3), (R, p)

    def normal_equations(self, q: np.ndarray, Y: np.ndarray, W: np.ndarray, idx: np.ndarray,
                         cols: np.ndarray, loc: np.ndarray | None = None):
        """Gauss-Newton normal equations of the weighted marker cost without forming the Jacobian.

        Y (T,m,3) targets of tree markers ``idx`` (rows with W = 0 are ignored), W (T,m) weights.
        Returns (cost (T,), A (T,n,n) = J^T W J, g (T,n) = J^T W r, markers (T,m,3)), n = len(cols).
        Each coordinate moves the markers of its subtree by a world twist (omega, v):
        dx = omega x x + v, so J^T W J only needs per-body weighted marker moments summed over
        subtrees (sum w, sum w x, sum w x x^T) and J^T W r per-body wrenches."""
        q = np.atleast_2d(q)
        cc = self._compiled()
        idx = np.asarray(idx, dtype=int)
        plan = cc.plan(self, tuple(idx.tolist()), tuple(np.asarray(cols, dtype=int).tolist()))
        R, p, jc, (wr, dr, wt, dt, qf) = self._forward_vec(q, need_axes=True)
        loc = self.marker_loc if loc is None else loc
        mb = self.marker_body[idx]
        lm = loc[idx]
        x = p[:, mb] + _mv(R[:, mb], lm[None])
        r = x - np.nan_to_num(Y)
        r = np.where(W[..., None] > 0, r, 0.0)
        cost = ((r * r).sum(axis=2) * W).sum(axis=1)
        # per-body moments, then subtree sums
        wx = W[..., None] * x
        feats = np.concatenate([
            W[..., None], wx, (wx[..., :, None] * x[..., None, :]).reshape(*x.shape[:2], 9),
            W[..., None] * r, _cross(wx, r),
        ], axis=2)  # (T, m, 19)
        sub = plan.subtree_sums(feats)  # subtree sums at each unit's body (T, U, 19)
        W0, s, M2 = sub[..., 0], sub[..., 1:4], sub[..., 4:13].reshape(*sub.shape[:2], 3, 3)
        fr, fx = sub[..., 13:16], sub[..., 16:19]
        # twists per unit
        fr_ = dr * plan.r_chain_const[None]
        for i, ind, f in plan.r_chain_tab:
            fr_[:, i] *= f.deriv(qf[:, ind])
        ft_ = dt * plan.t_chain_const[None]
        for i, ind, f in plan.t_chain_tab:
            ft_[:, i] *= f.deriv(qf[:, ind])
        wr_f = wr * fr_[..., None]
        om = plan.r_sum(wr_f)
        vv = plan.r_sum(-_cross(wr_f, jc[:, cc.jr[0]])) + plan.t_sum(wt * ft_[..., None])
        trM2 = M2[..., 0, 0] + M2[..., 1, 1] + M2[..., 2, 2]
        # F_uv = trM2_u om_u.om_v - (M2_u om_u).om_v + (om_u x s_u).v_v - (v_u x s_u).om_v
        #        + W0_u v_u.v_v  =  [a_u, b_u] . [om_v, v_v]: one product with inner size 6
        a = trM2[..., None] * om - _mv(M2, om) - _cross(vv, s)
        b = _cross(om, s) + W0[..., None] * vv
        F = np.concatenate([a, b], axis=2) @ np.concatenate([om, vv], axis=2).transpose(0, 2, 1)
        gu = (om * fx).sum(axis=2) + (vv * fr).sum(axis=2)
        A = plan.gather_A(F)
        g = gu[:, plan.unit_col_identity] if plan.unit_col_identity is not None else plan.col_sum(gu, 1)
        return cost, A, g, x


def _structure_key(tree: "KinematicTree"):
    return (id(tree.axes), tuple(tree.body_parent), id(tree.couplers), id(tree.marker_body), len(tree.marker_body))


class _Compiled:
    """Padded per-body arrays of a tree's joint slots, its tree levels, and cached Jacobian plans."""

    def __init__(self, tree: "KinematicTree"):
        self.key = _structure_key(tree)
        B = len(tree.body_names)
        NR = max(1, max(sum(a.kind == "R" for a in ax) for ax in tree.axes))
        NT = max(1, max(sum(a.kind == "T" for a in ax) for ax in tree.axes))
        self.r_coord = np.zeros((B, NR), int)
        self.r_a = np.zeros((B, NR))
        self.r_b = np.zeros((B, NR))
        self.r_axis = np.tile(np.array([0.0, 0.0, 1.0]), (B, NR, 1))
        self.t_coord = np.zeros((B, NT), int)
        self.t_a = np.zeros((B, NT))
        self.t_b = np.zeros((B, NT))
        self.t_axis = np.zeros((B, NT, 3))
        self.r_tab, self.t_tab = [], []
        jr, jt, jr_meta, jt_meta, jt_args = [], [], [], [], []
        for b, axes in enumerate(tree.axes):
            kr = kt = 0
            for ax in axes:
                if ax.kind == "R":
                    k, kr = kr, kr + 1
                    self.r_axis[b, k] = ax.axis
                    self._fill(self.r_coord, self.r_a, self.r_b, self.r_tab, b, k, ax)
                    if ax.coord >= 0 and ax.func.kind != "const":
                        jr.append((b, k))
                        jr_meta.append((ax.coord, ax.func))
                else:
                    k, kt = kt, kt + 1
                    self.t_axis[b, k] = ax.axis
                    if ax.func.kind == "arm":  # two coordinates: one Jacobian entry each
                        self.t_tab.append((b, k, ax.func, [ax.coord, ax.coord2]))
                        for which, c in enumerate((ax.coord, ax.coord2)):
                            jt.append((b, k))
                            jt_meta.append((c, ArmPartial(ax.func, which)))
                            jt_args.append([ax.coord, ax.coord2])
                        continue
                    self._fill(self.t_coord, self.t_a, self.t_b, self.t_tab, b, k, ax)
                    if ax.coord >= 0 and ax.func.kind != "const":
                        jt.append((b, k))
                        jt_meta.append((ax.coord, ax.func))
                        jt_args.append(ax.coord)
        self.t_axis_vec = self.t_axis
        K = np.zeros((B, NR, 3, 3))
        a = self.r_axis
        K[..., 0, 1], K[..., 0, 2] = -a[..., 2], a[..., 1]
        K[..., 1, 0], K[..., 1, 2] = a[..., 2], -a[..., 0]
        K[..., 2, 0], K[..., 2, 1] = -a[..., 1], a[..., 0]
        self.r_K = K
        self.r_KK = K @ K
        self.eye = np.eye(3)
        self.jr = (np.array([b for b, _ in jr], int), np.array([k for _, k in jr], int))
        self.jt = (np.array([b for b, _ in jt], int), np.array([k for _, k in jt], int))
        self.jr_meta, self.jt_meta = jr_meta, jt_meta
        # Jacobian rotation slots grouped by slot position k: (k, positions in jr, bodies)
        self.jr_by_slot = [(k, np.nonzero(self.jr[1] == k)[0], self.jr[0][self.jr[1] == k])
                           for k in range(NR) if (self.jr[1] == k).any()]
        self.jr_tab = [(i, (b, k, f, c)) for i, ((b, k), (c, f)) in enumerate(zip(jr, jr_meta)) if f.kind == "tab"]
        self.jt_tab = [(i, (b, k, f, arg)) for i, ((b, k), (c, f), arg) in enumerate(zip(jt, jt_meta, jt_args))
                       if f.kind == "tab"]
        depth = [0] * B
        for b in range(B):
            depth[b] = 0 if tree.body_parent[b] < 0 else depth[tree.body_parent[b]] + 1
        # tree levels as (bodies, their parents), the ground as body B (KinematicTree._forward_vec)
        self.parent_g = np.array([p if p >= 0 else B for p in tree.body_parent], int)
        self.levels_g = []
        for d in range(max(depth) + 1):
            bs = np.array([b for b in range(B) if depth[b] == d], int)
            self.levels_g.append((bs, self.parent_g[bs]))
        self.ground = np.zeros((4, 5))
        self.ground[:, :4] = np.eye(4)
        self._plans: dict = {}

    @staticmethod
    def _fill(coord, a, b_, tab, b, k, ax):
        if ax.coord < 0 or ax.func.kind == "const":
            b_[b, k] = ax.func.b if ax.func.kind == "const" else 0.0
        elif ax.func.kind == "lin":
            coord[b, k], a[b, k], b_[b, k] = ax.coord, ax.func.a, ax.func.b
        else:
            coord[b, k] = ax.coord
            tab.append((b, k, ax.func, ax.coord))

    def plan(self, tree, idx: tuple, cols: tuple) -> "_Plan":
        key = (idx, cols)
        pl = self._plans.get(key)
        if pl is None:
            if len(self._plans) > 16:
                self._plans.clear()
            pl = self._plans[key] = _Plan(self, tree, np.array(idx, int), np.array(cols, int))
        return pl


class _Plan:
    """Which joint slots feed which (body, column) twist, and which (marker, twist) pairs exist."""

    @staticmethod
    def _reducer(rows, U):
        rows = np.asarray(rows, int)
        keep = np.nonzero(rows >= 0)[0]
        order = keep[np.argsort(rows[keep], kind="stable")]
        units = rows[order]
        uniq, starts = np.unique(units, return_index=True)
        return order, uniq, starts, U

    @staticmethod
    def _reduce(red, X):
        order, uniq, starts, U = red
        out = np.zeros((X.shape[0], U, X.shape[2]))
        if len(order):
            out[:, uniq] = np.add.reduceat(X[:, order], starts, axis=1)
        return out

    def r_sum(self, X):
        return self._reduce(self._r_red, X)

    def t_sum(self, X):
        return self._reduce(self._t_red, X)

    def col_sum(self, X, axis):
        """Sum X over the units of each column along ``axis`` (1 or 2): C^T X. Most columns
        have one unit (a gather); the few others (e.g. a knee angle moving tibia and patella)
        add their extra units."""
        if (self._col_first < 0).any():  # a column that moves nothing: plain product
            return np.swapaxes(np.swapaxes(X, axis, -1) @ self.C, axis, -1)
        out = np.take(X, self._col_first, axis=axis)
        for u, c in self._col_extra:
            if axis == 1:
                out[:, c] += X[:, u]
            else:
                out[:, :, c] += X[:, :, u]
        return out

    def gather_A(self, F):
        """F (T, U, U) unit-pair products (valid where the first unit is an ancestor-or-self of
        the second) -> A (T, n, n) = C^T Au C with Au the symmetric completion: one gather of
        each entry's first term plus the few entries whose columns have extra units."""
        T, U = F.shape[0], F.shape[1]
        Fe = np.concatenate([F.reshape(T, U * U), np.zeros((T, 1))], axis=1)
        A = Fe[:, self._A_first]
        for sel, src in self._A_extra:
            A[:, sel] += Fe[:, src]
        n = self.C.shape[1]
        return A.reshape(T, n, n)

    def _build_gather_A(self, U: int, ucol: np.ndarray, n: int) -> None:
        """Index tables of :meth:`gather_A` (flat F index per term, U * U = a zero)."""
        terms = [[] for _ in range(n * n)]
        for u in range(U):
            for v in range(U):
                if self.mask[u, v]:
                    src = u * U + v
                elif self.mask_strict[v, u]:
                    src = v * U + u
                else:
                    continue
                terms[ucol[u] * n + ucol[v]].append(src)
        self._A_first = np.array([t[0] if t else U * U for t in terms], int)
        K = max((len(t) for t in terms), default=1)
        self._A_extra = []
        for k in range(1, K):
            sel = np.array([i for i, t in enumerate(terms) if len(t) > k], int)
            self._A_extra.append((sel, np.array([terms[i][k] for i in sel], int)))

    def subtree_sums(self, F):
        """F (T, m, f) per marker -> (T, U, f): sums over the markers in each unit body's subtree."""
        T = F.shape[0]
        body = np.zeros((T, self._B, F.shape[2]))
        if len(self._m_order):
            body[:, self._m_bodies] = np.add.reduceat(F[:, self._m_order], self._m_starts, axis=1)
        for b in range(self._B - 1, -1, -1):  # parents precede children in body order
            par = self._parent[b]
            if par >= 0:
                body[:, par] += body[:, b]
        return body[:, self._ubody]

    def __init__(self, cc: _Compiled, tree, idx: np.ndarray, cols: np.ndarray):
        colpos = {int(c): i for i, c in enumerate(cols)}
        units: dict[tuple[int, int], int] = {}

        def resolve(coord):
            if coord in tree.couplers:
                ind, f = tree.couplers[coord]
                return ind, f
            return coord, None

        def build(slots, meta):
            rows, chain_c, chain_t = [], np.ones(len(meta)), []
            for i, ((b, _k), (coord, _f)) in enumerate(zip(zip(*slots), meta)):
                ind, g = resolve(coord)
                if ind not in colpos:
                    rows.append(-1)
                    chain_c[i] = 0.0
                    continue
                if g is not None:
                    if g.kind == "lin":
                        chain_c[i] = g.a
                    elif g.kind == "const":
                        chain_c[i] = 0.0
                    else:
                        chain_t.append((i, ind, g))
                rows.append(units.setdefault((int(b), colpos[ind]), len(units)))
            return rows, chain_c, chain_t

        rr, self.r_chain_const, self.r_chain_tab = build(cc.jr, cc.jr_meta)
        rt, self.t_chain_const, self.t_chain_tab = build(cc.jt, cc.jt_meta)
        U = len(units)
        self.Sr = np.zeros((U, len(rr)))
        for s, u in enumerate(rr):
            if u >= 0:
                self.Sr[u, s] = 1.0
        self.St = np.zeros((U, len(rt)))
        for s, u in enumerate(rt):
            if u >= 0:
                self.St[u, s] = 1.0
        anc = [set(a) for a in tree.ancestors]
        ubody = np.zeros(U, int)
        ucol = np.zeros(U, int)
        for (b, c), u in units.items():
            ubody[u], ucol[u] = b, c
        # marker m counts for unit u when the unit's body is an ancestor-or-self of the marker's body
        self.unit_marker = np.array([[1.0 if ubody[u] in anc[int(tree.marker_body[mi])] else 0.0 for mi in idx]
                                     for u in range(U)]).reshape(U, len(idx))
        self.mask = np.array([[ubody[v] in anc[ubody[u]] for v in range(U)] for u in range(U)], bool).reshape(U, U)
        self.mask_strict = self.mask & (ubody[:, None] != ubody[None, :])
        # slot -> unit sums without BLAS (reduceat over slots sorted by unit)
        self._r_red = self._reducer(rr, U)
        self._t_red = self._reducer(rt, U)
        # markers sorted by body for per-body sums, then bottom-up subtree sums
        B = len(tree.body_names)
        mbody = tree.marker_body[idx] if len(idx) else np.zeros(0, int)
        self._m_order = np.argsort(mbody, kind="stable")
        bodies_with = np.unique(mbody)
        self._m_bodies = bodies_with
        self._m_starts = np.searchsorted(mbody[self._m_order], bodies_with)
        self._B = B
        self._parent = list(tree.body_parent)
        self._ubody = ubody
        n = len(cols)
        self.C = np.zeros((U, n))
        self.C[np.arange(U), ucol] = 1.0
        # C^T X as a gather of each column's first unit plus its extra units
        self._col_first = np.full(n, -1, int)
        self._col_extra = []
        for u in range(U):
            if self._col_first[ucol[u]] < 0:
                self._col_first[ucol[u]] = u
            else:
                self._col_extra.append((u, int(ucol[u])))
        self._build_gather_A(U, ucol, n)
        self.unit_col_identity = None
        if U == n and len(set(ucol.tolist())) == n:
            inv = np.empty(n, int)
            inv[ucol] = np.arange(U)
            self.unit_col_identity = inv
        pairs = []
        for m, mi in enumerate(idx):
            bm = int(tree.marker_body[mi])
            for (b, c), u in units.items():
                if b in anc[bm]:
                    pairs.append((m, u, c))
        # split into layers with unique (marker, column) targets
        self.layers = []
        seen: dict[tuple[int, int], int] = {}
        layer_of = []
        for m, u, c in pairs:
            k = seen.get((m, c), 0)
            seen[(m, c)] = k + 1
            layer_of.append(k)
        for k in range(max(layer_of) + 1 if layer_of else 0):
            sel = [pr for pr, lk in zip(pairs, layer_of) if lk == k]
            self.layers.append(tuple(np.array(v, int) for v in zip(*sel)))
