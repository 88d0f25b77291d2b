"""A fast, batched, pure-NumPy copy of an OpenSim model's kinematics.

:func:`extract_tree` reads an ``opensim.Model`` once (bodies, joint offset frames, joint
axes and their coordinate functions, coordinate couplers, markers) into a picklable
:class:`KinematicTree`. :meth:`KinematicTree.forward` then evaluates body transforms and
marker positions for many frames at once, and :meth:`KinematicTree.marker_jacobian` the
analytic marker Jacobian, without calling OpenSim. Supported joints: CustomJoint (any
functions of one coordinate, sampled), PinJoint, UniversalJoint, SliderJoint, WeldJoint.

Conventions follow Simbody's FunctionBased mobilizer: the three rotation axes are applied
as successive body-fixed rotations, the three translations are along their axes in the
parent (F) frame. Shapes: q (T, n_coords) in model coordinate order, radians / metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from odahgen.errors import OdahgenError

_GRID = 4001  # samples of a tabulated coordinate function


def euler_xyz(r: np.ndarray) -> np.ndarray:
    """Rotation matrix (3,3) of OpenSim's body-fixed X-Y-Z Euler angles r (3,) rad."""
    cx, cy, cz = np.cos(r)
    sx, sy, sz = np.sin(r)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rx @ ry @ rz


def axis_rotation(axis: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Batched Rodrigues rotation: axis (3,) unit, theta (T,) -> (T,3,3)."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    s = np.sin(theta)[:, None, None]
    c = np.cos(theta)[:, None, None]
    return np.eye(3)[None] + s * k[None] + (1 - c) * (k @ k)[None]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product over the last axis (broadcasting), without np.cross's overhead."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


@dataclass
class Func:
    """A coordinate function y = f(x): 'lin' (a, b), 'const' (c) or 'tab' (x grid, y, dy)."""

    kind: str
    a: float = 0.0
    b: float = 0.0
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    dy: np.ndarray | None = None

    def value(self, q: np.ndarray) -> np.ndarray:
        if self.kind == "lin":
            return self.a * q + self.b
        if self.kind == "const":
            return np.full_like(q, self.b)
        return _interp_extrap(q, self.x, self.y, self.dy)

    def deriv(self, q: np.ndarray) -> np.ndarray:
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
class Axis:
    """One elementary motion of a joint: kind 'R' (rotation) or 'T' (translation) along
    ``axis`` (3,) in the joint's current frame, by ``func`` of coordinate ``coord`` (-1: none)."""

    kind: str
    axis: np.ndarray
    coord: int
    func: Func


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

    def forward(self, q: np.ndarray, with_jacobian_data: bool = False):
        """Body transforms for q (T, n): returns (R (T,B,3,3), p (T,B,3), joint centres (T,B,3))
        and, if asked, per body the list of (coord, dq_factor (T,), kind, w (T,3), c (T,3))."""
        q = self.apply_couplers(np.atleast_2d(q))
        T = q.shape[0]
        B = len(self.body_names)
        R = np.empty((T, B, 3, 3))
        p = np.empty((T, B, 3))
        jc = np.empty((T, B, 3))
        jac: list[list] = [[] for _ in range(B)]
        for b in range(B):
            par = self.body_parent[b]
            if par < 0:
                RF = np.broadcast_to(self.X_PF[b, :3, :3], (T, 3, 3)).copy()
                pF = np.broadcast_to(self.X_PF[b, :3, 3], (T, 3)).copy()
            else:
                RF = R[:, par] @ self.X_PF[b, :3, :3]
                pF = p[:, par] + R[:, par] @ self.X_PF[b, :3, 3]
            # translations (in F)
            pM = pF.copy()
            for ax in self.axes[b]:
                if ax.kind == "T":
                    qi = q[:, ax.coord] if ax.coord >= 0 else np.zeros(T)
                    pM += ax.func.value(qi)[:, None] * (RF @ ax.axis)
            Rcur = RF
            for ax in self.axes[b]:
                if ax.kind == "R":
                    qi = q[:, ax.coord] if ax.coord >= 0 else np.zeros(T)
                    if with_jacobian_data and ax.coord >= 0 and ax.func.kind != "const":
                        jac[b].append((ax.coord, ax.func.deriv(qi), "R", Rcur @ ax.axis, pM))
                    Rcur = Rcur @ axis_rotation(ax.axis, ax.func.value(qi))
            if with_jacobian_data:
                for ax in self.axes[b]:
                    if ax.kind == "T" and ax.coord >= 0 and ax.func.kind != "const":
                        qi = q[:, ax.coord]
                        jac[b].append((ax.coord, ax.func.deriv(qi), "T", RF @ ax.axis, None))
            RBMt = self.X_BM[b, :3, :3].T
            R[:, b] = Rcur @ RBMt
            p[:, b] = pM - R[:, b] @ self.X_BM[b, :3, 3]
            jc[:, b] = pM
        if with_jacobian_data:
            return R, p, jc, jac, q
        return R, p, jc

    def markers(self, R: np.ndarray, p: np.ndarray, loc: np.ndarray | None = None) -> np.ndarray:
        """Marker positions (T, M, 3) in ground from body transforms; loc (M,3) or (T,M,3) overrides."""
        loc = self.marker_loc if loc is None else loc
        Rb = R[:, self.marker_body]  # (T,M,3,3)
        if loc.ndim == 2:
            return p[:, self.marker_body] + (Rb @ loc[None, :, :, None])[..., 0]
        return p[:, self.marker_body] + (Rb @ loc[..., None])[..., 0]

    def marker_jacobian(self, q: np.ndarray, loc: np.ndarray | None = None, cols: np.ndarray | None = None):
        """Markers (T,M,3) and d markers / d q[cols] (T, M, 3, len(cols)); couplers chained."""
        R, p, jc, jdata, qfull = self.forward(q, with_jacobian_data=True)
        mk = self.markers(R, p, loc)
        cols = self.free_coords() if cols is None else cols
        colpos = {int(c): i for i, c in enumerate(cols)}
        T, M = mk.shape[:2]
        J = np.zeros((T, M, 3, len(cols)))
        # chain factor of dependent coordinates
        chain = {}
        for dep, (ind, f) in self.couplers.items():
            chain[dep] = (ind, f.deriv(qfull[:, ind]))
        for b in range(len(self.body_names)):
            mids = np.nonzero(self.marker_body == b)[0]
            if len(mids) == 0:
                continue
            pts = mk[:, mids]  # (T,m,3)
            Jb = np.zeros((T, len(mids), 3, len(cols)))
            for anc in self.ancestors[b]:
                for coord, dfac, kind, w, c in jdata[anc]:
                    factor = dfac
                    if coord in chain:
                        ind, g = chain[coord]
                        coord, factor = ind, dfac * g
                    if coord not in colpos:
                        continue
                    if kind == "R":
                        col = _cross(w[:, None, :], pts - c[:, None, :])
                    else:
                        col = np.broadcast_to(w[:, None, :], pts.shape)
                    Jb[..., colpos[coord]] += factor[:, None, None] * col
            J[:, mids] = Jb
        return mk, J


# --------------------------------------------------------------------------------------
def _transform(frame) -> np.ndarray:
    """4x4 of an OpenSim frame in its base frame."""
    t = frame.findTransformInBaseFrame()
    r = t.R()
    X = np.eye(4)
    for i in range(3):
        for j in range(3):
            X[i, j] = r.get(i, j)
        X[i, 3] = t.p().get(i)
    return X


def _func(osim, f, lo: float, hi: float) -> Func:
    name = f.getConcreteClassName()
    if name == "LinearFunction":
        lf = osim.LinearFunction.safeDownCast(f)
        c = lf.getCoefficients()
        return Func("lin", a=float(c.get(0)), b=float(c.get(1)))
    if name == "Constant":
        return Func("const", b=float(osim.Constant.safeDownCast(f).getValue()))
    lo2, hi2 = max(lo, -4 * np.pi), min(hi, 4 * np.pi)
    if not hi2 > lo2:
        lo2, hi2 = -np.pi, np.pi
    x = np.linspace(lo2, hi2, _GRID)
    v = osim.Vector(1, 0.0)
    y = np.empty_like(x)
    for i, xi in enumerate(x):
        v.set(0, float(xi))
        y[i] = f.calcValue(v)
    dy = np.gradient(y, x, edge_order=2)
    return Func("tab", x=x, y=y, dy=dy)


def extract_tree(model, body_order: list[str] | None = None) -> KinematicTree:
    """Read an initialised ``opensim.Model`` into a :class:`KinematicTree`.

    body_order: the order of bodies (default: BODY_NAMES when the model has them all,
    else the model's own order). Raises OdahgenError for unsupported joint types.
    """
    import opensim as osim  # noqa: PLC0415

    from odahgen.skeleton.names import BODY_NAMES  # noqa: PLC0415

    cs = model.getCoordinateSet()
    coord_names = [cs.get(i).getName() for i in range(cs.getSize())]
    cidx = {n: i for i, n in enumerate(coord_names)}
    rng = np.array([[cs.get(i).getRangeMin(), cs.get(i).getRangeMax()] for i in range(cs.getSize())])
    clamped = np.array([cs.get(i).getDefaultClamped() for i in range(cs.getSize())])
    locked = np.array([cs.get(i).getDefaultLocked() for i in range(cs.getSize())])
    default = np.array([cs.get(i).getDefaultValue() for i in range(cs.getSize())])
    rot = np.array([cs.get(i).getMotionType() == 1 for i in range(cs.getSize())])  # 1 = Rotational

    bs = model.getBodySet()
    model_bodies = [bs.get(i).getName() for i in range(bs.getSize())]
    if body_order is None:
        body_order = list(BODY_NAMES) if set(BODY_NAMES) <= set(model_bodies) and len(model_bodies) == len(BODY_NAMES) else model_bodies
    bidx = {n: i for i, n in enumerate(body_order)}
    B = len(body_order)
    parent = [-2] * B
    joint_names = [""] * B
    X_PF = np.zeros((B, 4, 4))
    X_BM = np.zeros((B, 4, 4))
    axes: list[list[Axis]] = [[] for _ in range(B)]
    js = model.getJointSet()
    for k in range(js.getSize()):
        j = js.get(k)
        child = j.getChildFrame().findBaseFrame().getName()
        par = j.getParentFrame().findBaseFrame().getName()
        if child not in bidx:
            continue
        b = bidx[child]
        joint_names[b] = j.getName()
        parent[b] = -1 if par == model.getGround().getName() else bidx[par]
        X_PF[b] = _transform(j.getParentFrame())
        X_BM[b] = _transform(j.getChildFrame())
        kind = j.getConcreteClassName()
        jcoords = [j.get_coordinates(i).getName() for i in range(j.numCoordinates())]
        if kind == "CustomJoint":
            st = osim.CustomJoint.safeDownCast(j).getSpatialTransform()
            for i in range(6):
                ta = st.getTransformAxis(i)
                names = ta.getCoordinateNamesInArray()
                cn = [names.get(x) for x in range(names.getSize())]
                if len(cn) > 1:
                    raise OdahgenError(f"joint {j.getName()}: a transform axis driven by {len(cn)} coordinates is not supported")
                ci = cidx[cn[0]] if cn else -1
                a = ta.getAxis()
                av = np.array([a.get(0), a.get(1), a.get(2)])
                av = av / np.linalg.norm(av)
                lo, hi = (rng[ci] if ci >= 0 else (-np.pi, np.pi))
                fn = _func(osim, ta.get_function(), lo - 0.5, hi + 0.5) if ta.hasFunction() else Func("lin", a=1.0)
                axes[b].append(Axis("R" if i < 3 else "T", av, ci, fn))
        elif kind == "PinJoint":
            axes[b].append(Axis("R", np.array([0.0, 0.0, 1.0]), cidx[jcoords[0]], Func("lin", a=1.0)))
        elif kind == "UniversalJoint":
            axes[b].append(Axis("R", np.array([1.0, 0.0, 0.0]), cidx[jcoords[0]], Func("lin", a=1.0)))
            axes[b].append(Axis("R", np.array([0.0, 1.0, 0.0]), cidx[jcoords[1]], Func("lin", a=1.0)))
        elif kind == "SliderJoint":
            axes[b].append(Axis("T", np.array([1.0, 0.0, 0.0]), cidx[jcoords[0]], Func("lin", a=1.0)))
        elif kind == "WeldJoint":
            pass
        else:
            raise OdahgenError(f"joint {j.getName()}: type {kind} is not supported by the fast kinematics")
    missing = [body_order[b] for b in range(B) if parent[b] == -2]
    if missing:
        raise OdahgenError(f"bodies without a joint: {', '.join(missing)}")
    # topological order check: parents must come first
    order_ok = all(parent[b] < b for b in range(B))
    if not order_ok:
        # reorder bodies so parents precede children
        new = []
        seen = set()
        while len(new) < B:
            for b in range(B):
                if b not in seen and (parent[b] < 0 or parent[b] in seen):
                    new.append(b)
                    seen.add(b)
        return extract_tree(model, [body_order[b] for b in new])
    mass_center = np.array([[bs.get(n).getMassCenter().get(i) for i in range(3)] for n in body_order])
    scale = np.ones((B, 3))
    for b, n in enumerate(body_order):
        body = bs.get(n)
        for g in range(body.getPropertyByName("attached_geometry").size()):
            geom = body.get_attached_geometry(g)
            if geom.getName() == f"{n}_geom_1" or g == 0:
                sf = geom.get_scale_factors()
                scale[b] = [sf.get(0), sf.get(1), sf.get(2)]
                if geom.getName() == f"{n}_geom_1":
                    break
    couplers: dict[int, tuple[int, Func]] = {}
    cons = model.getConstraintSet()
    for k in range(cons.getSize()):
        c = cons.get(k)
        if c.getConcreteClassName() != "CoordinateCouplerConstraint" or not c.get_isEnforced():
            continue
        cc = osim.CoordinateCouplerConstraint.safeDownCast(c)
        ind = cc.getIndependentCoordinateNames()
        if ind.getSize() != 1:
            continue
        i_ind = cidx[ind.get(0)]
        f = _func(osim, cc.getFunction(), rng[i_ind][0] - 0.5, rng[i_ind][1] + 0.5)
        sf = cc.getScaleFactor() if hasattr(cc, "getScaleFactor") else 1.0
        if sf != 1.0:
            f = Func("tab", x=f.x, y=f.y * sf, dy=f.dy * sf) if f.kind == "tab" else Func(f.kind, a=f.a * sf, b=f.b * sf)
        couplers[cidx[cc.getDependentCoordinateName()]] = (i_ind, f)
    ms = model.getMarkerSet()
    mnames, mbody, mloc = [], [], []
    for k in range(ms.getSize()):
        mk = ms.get(k)
        pf = mk.getParentFrame()
        base = pf.findBaseFrame().getName()
        if base not in bidx:
            continue
        X = _transform(pf)
        loc = mk.get_location()
        lv = np.array([loc.get(0), loc.get(1), loc.get(2)])
        mnames.append(mk.getName())
        mbody.append(bidx[base])
        mloc.append(X[:3, :3] @ lv + X[:3, 3])
    return KinematicTree(
        coord_names=coord_names, coord_range=rng, coord_clamped=clamped, coord_locked=locked,
        coord_default=default, coord_rotational=rot, body_names=list(body_order), joint_names=joint_names,
        body_parent=parent, X_PF=X_PF, X_BM=X_BM, axes=axes, mass_center=mass_center, couplers=couplers,
        marker_names=mnames, marker_body=np.array(mbody, dtype=int), marker_loc=np.array(mloc).reshape(-1, 3),
        scale_factors=scale,
    )
