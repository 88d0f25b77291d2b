"""The skeleton's fast kinematics: an ``opensim.Model`` read once into a NumPy
:class:`~odahgen.skeleton.tree.KinematicTree` (forward kinematics, marker Jacobians and IK
normal equations without OpenSim: :mod:`odahgen.skeleton.tree`).

:func:`extract_tree` asks OpenSim once for the bodies (in ``BODY_NAMES`` order when the
model has the Rajagopal bodies), the joints' offset frames (4x4 in their bodies, m), their
axes and coordinate functions (linear and constant ones exactly, any other function of one
coordinate sampled on a grid of ``_GRID`` points over the coordinate's range +- 0.5), the
coordinate ranges/defaults/flags, the enforced ``CoordinateCouplerConstraint`` couplings,
the markers (location in their base body, m) and each body's visual-mesh scale factors.
Supported joints: CustomJoint (transform axes driven by at most one coordinate), PinJoint,
UniversalJoint, SliderJoint, WeldJoint; others raise :class:`~odahgen.errors.OdahgenError`.

The rest of the package imports ``extract_tree`` and ``KinematicTree`` from here.
"""

from __future__ import annotations

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.skeleton.names import BODY_NAMES
from odahgen.skeleton.tree import Axis, Func, KinematicTree  # KinematicTree: imported from here too

_GRID = 4001  # samples of a tabulated coordinate function


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
                a = ta.getAxis()
                av = np.array([a.get(0), a.get(1), a.get(2)])
                av = av / np.linalg.norm(av)
                if len(cn) == 2 and i >= 3:  # a shoulder girdle (odahgen.skeleton.girdle)
                    from odahgen.skeleton.girdle import read_function  # noqa: PLC0415

                    try:
                        fn = read_function(ta.get_function(), cn)
                    except OdahgenError as e:
                        raise OdahgenError(f"joint {j.getName()}: {e}") from None
                    axes[b].append(Axis("T", av, cidx[cn[0]], fn, cidx[cn[1]]))
                    continue
                if len(cn) > 1:
                    raise OdahgenError(f"joint {j.getName()}: a transform axis driven by {len(cn)} coordinates is not supported")
                ci = cidx[cn[0]] if cn else -1
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
