"""The shoulder girdle: the shoulder joint centre moves with the upper arm's direction.

Rajagopal's shoulder (``acromial_r/l``) is fixed on the torso, but a person's glenohumeral
centre rides the scapula and clavicle: it rises, drops and slides 2-6 cm relative to the
thorax as the arm goes up, forward or across (measured on the generated AMASS actions: the
anny shoulder centre moves up to 5.7 cm in a throw, 3-4 cm with the arms overhead). With the
centre fixed, IK turns the trunk and the arm to make up: a deep squat with the arms forward
flagged 18 % of its frames (C7 2 cm off), a throw's upper arm turned 16 deg/frame where its
markers turn 10-11.

Here the centre follows the humerus's long axis: each translation of the shoulder joint (along
the torso's x, y, z) is ``coef . arm_features(arm_flex, arm_add)`` (:func:`arm_features`, zero
with the arm hanging, the same for every Euler branch), a function of the 39 coordinates, so the
GT layout and FK from the angles stay as they are. The 3 x 3 coefficients per side are fitted
per trial with the marker offsets (:func:`fit_coefficients`, ridge-regularised, so a motion
that does not move the arms keeps a fixed shoulder) and written into the trial's ``.osim`` as
OpenSim ``ExpressionBasedFunction`` s of ``arm_flex`` and ``arm_add``: OpenSim 4.6 reproduces
the same kinematics (:func:`write_girdle`).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.io import atomic_path
from odahgen.skeleton.tree import Axis, Func, KinematicTree, arm_features

#: side -> (humerus body, flexion coordinate, adduction coordinate, joint)
SIDES = {"r": ("humerus_r", "arm_flex_r", "arm_add_r", "acromial_r"),
         "l": ("humerus_l", "arm_flex_l", "arm_add_l", "acromial_l")}
#: largest shift (m) of the shoulder centre the fit may give within the trial's poses
MAX_SHIFT = 0.06
#: ridge weight, relative to the arm markers' total weight (coefficients in m)
RIDGE = 1e-3
#: OpenSim expression of one translation (x = flexion, y = adduction)
EXPRESSION = "{0!r}*cos(y)*sin(x)+{1!r}*(1-cos(y)*cos(x))+{2!r}*sin(y)"


def girdle_sides(tree: KinematicTree) -> list[str]:
    """Sides whose shoulder joint can carry a girdle: a humerus body whose joint has three
    translations along the torso's x, y, z that are constant 0 or already a girdle, and the
    Rajagopal arm coordinates."""
    out = []
    for side, (body, flex, add, _joint) in SIDES.items():
        if body not in tree.body_names or flex not in tree.coord_names or add not in tree.coord_names:
            continue
        b = tree.body_names.index(body)
        ts = [ax for ax in tree.axes[b] if ax.kind == "T"]
        if len(ts) != 3 or not np.allclose(np.abs(np.array([ax.axis for ax in ts])), np.eye(3)):
            continue
        if all(ax.func.kind == "arm" or _is_zero(ax) for ax in ts):
            out.append(side)
    return out


def _is_zero(ax: Axis) -> bool:
    """A translation that is always 0 (OpenSim's scaling turns a Constant into a tabulated
    MultiplierFunction)."""
    f = ax.func
    if f.kind == "const":
        return f.b == 0.0
    if f.kind == "lin":
        return f.b == 0.0 and (f.a == 0.0 or ax.coord < 0)
    return f.kind == "tab" and not np.any(f.y) and not np.any(f.dy)


def _axis_row(axis) -> tuple[int, float]:
    """The torso axis (0 x, 1 y, 2 z) a translation axis (3,) runs along, and its sign: the row
    of the (3, 3) coefficients it carries, times that sign."""
    k = int(np.argmax(np.abs(axis)))
    return k, float(np.sign(axis[k]))


def arm_elevation(tree: KinematicTree, q: np.ndarray, sides) -> float:
    """Largest angle (rad) of an upper arm from hanging (its long axis from the torso's down
    direction) over the poses q (T, n), for the girdle ``sides``: the arccos of 1 - the second
    :func:`arm_features`."""
    out = 0.0
    for side in sides:
        _b, flex, add, _j = SIDES[side]
        P = arm_features(q[:, tree.coord_names.index(flex)], q[:, tree.coord_names.index(add)])
        out = max(out, float(np.arccos(np.clip(1.0 - P[:, 1], -1.0, 1.0)).max()))
    return out


def coefficients(tree: KinematicTree) -> dict[str, np.ndarray]:
    """side -> (3, 3) m (rows: the torso's x, y, z; columns: :func:`arm_features`) of the
    girdles the tree carries (sides without one are left out)."""
    out = {}
    for side in girdle_sides(tree):
        b = tree.body_names.index(SIDES[side][0])
        ts = [ax for ax in tree.axes[b] if ax.kind == "T"]
        if all(ax.func.kind == "arm" for ax in ts):
            c = np.zeros((3, 3))
            for ax in ts:
                k, sign = _axis_row(ax.axis)
                c[k] = ax.func.coef * sign
            out[side] = c
    return out


def with_girdle(tree: KinematicTree, coef: dict[str, np.ndarray] | None = None) -> KinematicTree:
    """A copy of ``tree`` whose shoulders carry a girdle (``coef`` side -> (3, 3) m, zeros for
    sides not given). The copy's girdle functions are its own: fitting may change their
    coefficients in place (see :func:`set_coefficients`)."""
    out = copy.copy(tree)
    out.axes = [list(a) for a in tree.axes]
    for side in girdle_sides(tree):
        body, flex, add, _ = SIDES[side]
        b = tree.body_names.index(body)
        c = np.zeros((3, 3)) if coef is None or side not in coef else np.asarray(coef[side], float)
        axes = []
        for ax in tree.axes[b]:
            if ax.kind == "T":
                k, sign = _axis_row(ax.axis)
                ax = Axis("T", ax.axis, tree.coord_names.index(flex), Func("arm", coef=c[k] * sign),
                          tree.coord_names.index(add))
            axes.append(ax)
        out.axes[b] = axes
    return out


def set_coefficients(tree: KinematicTree, coef: dict[str, np.ndarray]) -> None:
    """Change the girdle coefficients of a tree from :func:`with_girdle` in place."""
    for side, c in coef.items():
        b = tree.body_names.index(SIDES[side][0])
        for ax in tree.axes[b]:
            if ax.kind == "T" and ax.func.kind == "arm":
                k, sign = _axis_row(ax.axis)
                ax.func.coef[:] = np.asarray(c[k], float) * sign


def fit_coefficients(tree: KinematicTree, q: np.ndarray, Y: np.ndarray, idx: np.ndarray, weights: np.ndarray,
                     loc: np.ndarray, ridge: float = RIDGE, max_shift: float = MAX_SHIFT) -> dict[str, np.ndarray]:
    """Girdle coefficients (side -> (3, 3) m) one Gauss-Newton step closer to the best fit of
    markers Y (T, m, 3) (tree markers ``idx``, ``weights`` (m,), body locations ``loc`` (M, 3)),
    for a tree from :func:`with_girdle` at poses q (T, n).

    The step is that of the joint problem in the coefficients and every frame's pose: the poses
    are eliminated per frame (Schur complement of the Gauss-Newton normal equations), so the
    coefficients move only as far as the poses cannot make up for, and a few alternations with
    IK converge. Ridge: ``ridge`` x the arm markers' total weight, toward zero. Scaled down
    where a pose of q would shift a centre more than ``max_shift``."""
    cur = coefficients(tree)  # the sides that carry a girdle
    sides = list(cur)
    if not sides:
        return {}
    cols = tree.free_coords()
    x, J, (R, _p) = tree.markers_jacobian_vec(q, loc, idx, cols)  # (T, m, 3), (T, m, 3, n)
    ok = np.isfinite(Y).all(axis=2)
    W = np.where(ok, weights[None], 0.0)  # (T, m)
    r = np.where(ok[..., None], Y - x, 0.0)
    JC, feats, arm_w = [], {}, {}
    for side in sides:
        body, flex, add, _ = SIDES[side]
        b = tree.body_names.index(body)
        arm = np.array([b in tree.ancestors[int(tree.marker_body[i])] for i in idx], float)  # (m,)
        P = arm_features(q[:, tree.coord_names.index(flex)], q[:, tree.coord_names.index(add)])  # (T, 3)
        RF = R[:, tree.body_parent[b]] @ tree.X_PF[b, :3, :3]  # the torso-aligned F frame in ground
        # d x_m / d coef[k, j] = arm_m * RF[:, :, k] * P[:, j]
        JC.append(arm[None, :, None, None, None] * RF[:, None, :, :, None] * P[:, None, None, None, :])
        feats[side], arm_w[side] = P, float((W * arm[None]).sum())
    JC = np.concatenate([j.reshape(*j.shape[:3], 9) for j in JC], axis=3)  # (T, m, 3, 9 * sides)
    WJq = W[..., None, None] * J
    Hqq = np.einsum("tmia,tmib->tab", WJq, J)
    Hqq += (1e-9 + 1e-6 * np.einsum("tii->t", Hqq))[:, None, None] * np.eye(len(cols))[None]
    HqC = np.einsum("tmia,tmic->tac", WJq, JC)
    gq = np.einsum("tmia,tmi->ta", WJq, r)
    WJC = W[..., None, None] * JC
    HCC = np.einsum("tmic,tmid->cd", WJC, JC)
    gC = np.einsum("tmic,tmi->c", WJC, r)
    sol = np.linalg.solve(Hqq, np.concatenate([HqC, gq[..., None]], axis=2))  # Hqq^-1 [HqC, gq]
    S = HCC - np.einsum("tac,tad->cd", HqC, sol[..., :-1])
    b = gC - np.einsum("tac,ta->c", HqC, sol[..., -1])
    c0 = np.concatenate([cur[s].reshape(9) for s in sides])
    lam = np.concatenate([np.full(9, ridge * arm_w[s]) for s in sides])
    c = c0 + np.linalg.solve(S + np.diag(lam), b - lam * c0)
    out = {}
    for k, side in enumerate(sides):
        ck = c[9 * k:9 * k + 9].reshape(3, 3)
        peak = float(np.linalg.norm(feats[side] @ ck.T, axis=1).max())
        if peak > max_shift:
            ck = ck * (max_shift / peak)
        out[side] = ck
    return out


def scaled_coefficients(coef: dict[str, np.ndarray], torso_scale_from, torso_scale_to) -> dict[str, np.ndarray]:
    """The girdle of one subject on another: each translation scales with the torso's scale
    factor along its axis (as OpenSim scales a joint's translation functions)."""
    r = np.asarray(torso_scale_to, float) / np.asarray(torso_scale_from, float)
    return {s: np.asarray(c, float) * r[:, None] for s, c in coef.items()}


def write_girdle(model_path: str | os.PathLike, coef: dict[str, np.ndarray], out_path=None) -> Path:
    """Write the girdle ``coef`` (side -> (3, 3) m) into the shoulder joints of an ``.osim``
    (``out_path``, default: in place, atomically): each translation of ``acromial_r/l`` becomes
    an ExpressionBasedFunction of ``arm_flex`` (x) and ``arm_add`` (y)."""
    import opensim as osim  # noqa: PLC0415

    from odahgen.skeleton.model import quiet_opensim  # noqa: PLC0415

    quiet_opensim()
    src = Path(model_path)
    model = osim.Model(str(src))
    for side, c in coef.items():
        _body, flex, add, joint = SIDES[side]
        js = model.getJointSet()
        if not js.contains(joint):
            raise OdahgenError(f"{src}: no joint {joint} to carry the shoulder girdle")
        st = osim.CustomJoint.safeDownCast(model.updJointSet().get(joint)).updSpatialTransform()
        for i in range(3, 6):
            ta = st.updTransformAxis(i)
            k, sign = _axis_row(np.array([ta.getAxis().get(j) for j in range(3)]))
            names = osim.ArrayStr()
            names.append(flex)
            names.append(add)
            ta.setCoordinateNames(names)
            # built through its properties: the constructor taking a std::vector<std::string>
            # breaks ezc3d's string vectors in the same process (its c3d writer then fails)
            fn = osim.ExpressionBasedFunction()
            fn.setExpression(EXPRESSION.format(*(float(v) for v in c[k] * sign)))
            fn.append_variables("x")
            fn.append_variables("y")
            ta.set_function(fn)
    model.finalizeConnections()
    out = Path(out_path) if out_path else src
    with atomic_path(out) as tmp:
        if not model.printToXML(str(tmp)):
            raise OdahgenError(f"{out}: OpenSim could not write the model")
    return out


def read_function(f, names: list[str]) -> Func:
    """A two-coordinate OpenSim function of a translation as an 'arm' Func: sampled and fitted
    to :func:`arm_features`; anything else is refused (one line naming the coordinates)."""
    import opensim as osim  # noqa: PLC0415

    rng = np.random.default_rng(0)
    X = rng.uniform(-np.pi, np.pi, (40, 2))
    v = osim.Vector(2, 0.0)
    y = np.empty(len(X))
    for i, (a, b) in enumerate(X):
        v.set(0, float(a))
        v.set(1, float(b))
        y[i] = f.calcValue(v)
    P = arm_features(X[:, 0], X[:, 1])
    c, *_ = np.linalg.lstsq(P, y, rcond=None)
    if np.abs(P @ c - y).max() > 1e-9:
        raise OdahgenError(f"a translation driven by {' and '.join(names)} is supported only as a shoulder "
                           "girdle: c1*cos(y)*sin(x) + c2*(1-cos(y)*cos(x)) + c3*sin(y)")
    return Func("arm", coef=c)
