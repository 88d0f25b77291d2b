"""The Rajagopal 2016 model's numbers for code that needs them without OpenSim.

One source of truth: :mod:`odahgen.skeleton._rajagopal_data`, generated from
Rajagopal2016.osim by tools/gen_rajagopal_data.py, from which :mod:`.model` builds the
built-in OpenSim model. This module adds lookups by name and a NumPy evaluation of the
model's joint functions as OpenSim evaluates them, for the motion sources'
light-weight kinematics (:mod:`odahgen.motion.kinematics`).

Units as in the file: metres, radians, kilograms. Orientations are OpenSim's body-fixed
X-Y-Z Euler angles (rad).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from odahgen.skeleton._rajagopal_data import BODIES, GRAVITY, JOINTS

__all__ = ["BODIES", "GRAVITY", "JOINTS", "JOINT", "COORDINATE", "MODEL_MASS_KG", "joint_transform",
           "simm_spline", "xyz_body_fixed"]

#: joint name -> its entry of ``JOINTS`` (type, parent/child bodies and offset frames,
#: coordinates, and for a CustomJoint its six transform axes)
JOINT: dict[str, dict] = {j["name"]: j for j in JOINTS}
#: coordinate name -> {"name", "default", "range" (min, max), "clamped", "locked"}
COORDINATE: dict[str, dict] = {c["name"]: c for j in JOINTS for c in j["coordinates"]}
#: sum of the 22 body masses (kg), correctly rounded (75.337)
MODEL_MASS_KG: float = math.fsum(b["mass"] for b in BODIES.values())


def xyz_body_fixed(rx: float, ry: float, rz: float) -> np.ndarray:
    """(3, 3) rotation of an OpenSim offset-frame orientation (body-fixed X-Y-Z, rad)."""
    cx, cy, cz = math.cos(rx), math.cos(ry), math.cos(rz)
    sx, sy, sz = math.sin(rx), math.sin(ry), math.sin(rz)
    Rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    Ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    Rz = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    return Rx @ Ry @ Rz


def simm_spline(x, y) -> Callable[[np.ndarray], np.ndarray]:
    """OpenSim's ``SimmSpline`` through the knots ``x``, ``y`` (n,): f(values (T,)) -> (T,).

    The cubic spline of SIMM (Forsythe, Malcolm & Moler, *Computer Methods for Mathematical
    Computations*, 1977, routine SPLINE) as OpenSim's ``SimmSpline::calcCoefficients`` sets
    it up: end conditions matching the third derivative of the cubic through the first
    (last) four knots; outside the knots it continues along the end slope."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = len(x)
    if n < 2 or len(y) != n:
        raise ValueError("a SimmSpline needs at least 2 knots and as many y as x")
    b, c, d = np.zeros(n), np.zeros(n), np.zeros(n)
    if n == 2:
        b[:] = (y[1] - y[0]) / max(x[1] - x[0], 1e-20)
    else:
        tiny = 1e-20
        nm1, nm2 = n - 1, n - 2
        d[0] = max(tiny, x[1] - x[0])
        c[1] = (y[1] - y[0]) / d[0]
        for i in range(1, nm1):
            d[i] = max(tiny, x[i + 1] - x[i])
            b[i] = 2.0 * (d[i - 1] + d[i])
            c[i + 1] = (y[i + 1] - y[i]) / d[i]
            c[i] = c[i + 1] - c[i]
        b[0], b[nm1] = -d[0], -d[nm2]
        c[0] = c[nm1] = 0.0
        if n > 3:
            d31, d20 = max(tiny, x[3] - x[1]), max(tiny, x[2] - x[0])
            d1, d2 = max(tiny, x[nm1] - x[n - 3]), max(tiny, x[nm2] - x[n - 4])
            d30, d3 = max(tiny, x[3] - x[0]), max(tiny, x[nm1] - x[n - 4])
            c[0] = (c[2] / d31 - c[1] / d20) * d[0] * d[0] / d30
            c[nm1] = -(c[nm2] / d1 - c[n - 3] / d2) * d[nm2] * d[nm2] / d3
        for i in range(1, n):  # forward elimination
            t = d[i - 1] / b[i - 1]
            b[i] -= t * d[i - 1]
            c[i] -= t * c[i - 1]
        c[nm1] /= b[nm1]  # back substitution
        for i in range(nm2, -1, -1):
            c[i] = (c[i] - d[i] * c[i + 1]) / b[i]
        b[nm1] = (y[nm1] - y[nm2]) / d[nm2] + d[nm2] * (c[nm2] + 2.0 * c[nm1])
        for i in range(nm1):
            b[i] = (y[i + 1] - y[i]) / d[i] - d[i] * (c[i + 1] + 2.0 * c[i])
            d[i] = (c[i + 1] - c[i]) / d[i]
            c[i] *= 3.0
        c[nm1] *= 3.0
        d[nm1] = d[nm2]

    def f(values) -> np.ndarray:
        v = np.asarray(values, dtype=np.float64)
        k = np.clip(np.searchsorted(x, v, side="right") - 1, 0, n - 2)
        dx = v - x[k]
        out = y[k] + dx * (b[k] + dx * (c[k] + dx * d[k]))
        out = np.where(v < x[0], y[0] + (v - x[0]) * b[0], out)
        return np.where(v > x[-1], y[-1] + (v - x[-1]) * b[-1], out)

    return f


def _function(spec) -> Callable[[np.ndarray], np.ndarray]:
    kind = spec[0]
    if kind == "linear":
        a, c = spec[1]
        return lambda v: a * np.asarray(v, dtype=np.float64) + c
    if kind == "constant":
        return lambda v: np.full(np.shape(v), float(spec[1]))
    if kind == "spline":
        return simm_spline(spec[1], spec[2])
    raise ValueError(f"unknown function kind {kind!r}")


def _axis_rot(axis, angle: np.ndarray) -> np.ndarray:
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    K = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.eye(3) + s * K + (1.0 - c) * (K @ K)


def joint_transform(name: str, values: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Child body in parent body of the CustomJoint ``name`` for coordinate ``values``
    ({coordinate name: (T,) rad or m}; missing ones 0): rotation (T, 3, 3) and the child
    origin in the parent body (T, 3) m. As OpenSim's CustomJoint: the three rotations are
    successive body-fixed rotations of the parent offset frame, the three translations run
    along their axes in that frame, then the child offset frame is undone."""
    j = JOINT[name]
    if j["type"] != "CustomJoint":
        raise ValueError(f"joint {name} is a {j['type']}, not a CustomJoint")
    T = len(np.atleast_1d(next(iter(values.values())))) if values else 1
    zero = np.zeros(T)
    R = np.broadcast_to(np.eye(3), (T, 3, 3))
    t = np.zeros((T, 3))
    for k, ta in enumerate(j["spatial_transform"]):
        q = np.atleast_1d(np.asarray(values.get(ta["coordinates"][0], zero), dtype=np.float64)) \
            if ta["coordinates"] else zero
        v = _function(ta["function"])(q)
        if k < 3:
            R = R @ _axis_rot(ta["axis"], v)
        else:
            ax = np.asarray(ta["axis"], dtype=np.float64)
            t = t + v[:, None] * (ax / np.linalg.norm(ax))
    RPF = xyz_body_fixed(*j["parent_orientation"])
    RBM = xyz_body_fixed(*j["child_orientation"])
    Rc = RPF @ R @ RBM.T
    p = np.asarray(j["parent_translation"]) + t @ RPF.T - Rc @ np.asarray(j["child_translation"])
    return Rc, p
