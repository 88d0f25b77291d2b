"""Subjects and their body-shape variants (the paper's BMI steps -1, -0.5, 0, +0.5, +1).

A subject's shape is drawn from its seed; a variant moves the shape along the model's
weight direction until the mesh's BMI (volume x density / height^2) is the subject's BMI
plus the step. Each variant then gets its own scaled skeleton and fit downstream, so its
labels match its mesh.
"""

from __future__ import annotations

import numpy as np
import torch

from odahgen.body.base import BodyModel
from odahgen.errors import OdahgenError

BODY_DENSITY_KG_M3 = 1010.0  # whole-body density of adults, ~985-1060 kg/m^3 (Krzywicki & Chinn 1967)

# Phenotype ranges that give adults with everyday variety (anny parameters in [0, 1]).
_ANNY_SUBJECT_RANGES = {
    "gender": (0.0, 1.0),
    "age": (0.45, 0.62),
    "muscle": (0.3, 0.7),
    "weight": (0.3, 0.7),
    "height": (0.3, 0.6),  # about 1.45-1.85 m
    "proportions": (0.4, 0.6),
}


def rest_mesh(body: BodyModel, shape) -> np.ndarray:
    """Rest-pose vertices (V, 3) m of ``shape`` (S,)."""
    with torch.no_grad():
        v = body.forward(torch.as_tensor(np.asarray(shape), dtype=torch.float32)[None],
                         torch.zeros(1, body.pose_dim), torch.zeros(1, 3))
    return v[0].numpy().astype(np.float64)


def mesh_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Enclosed volume (m^3) by the divergence theorem (signed tetrahedra)."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return float(abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0)


def body_stats(body: BodyModel, shape) -> dict:
    """Height (m, vertical extent in the rest pose), mass (kg) and BMI (kg/m^2) of a shape."""
    v = rest_mesh(body, shape)
    height = float(v[:, 1].max() - v[:, 1].min())
    mass = mesh_volume(v, np.asarray(body.faces)) * BODY_DENSITY_KG_M3
    return {"height_m": height, "mass_kg": mass, "bmi": mass / height**2}


def subject_shape_base(body: BodyModel, seed: int) -> np.ndarray:
    """A subject's own shape (S,), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    out = []
    for p in body.shape_params:
        lo, hi = _ANNY_SUBJECT_RANGES.get(p.name, (None, None)) if body.name == "anny" else (None, None)
        if lo is None:  # other models: a spread around the default inside the valid range
            span = 0.35 * (p.high - p.low)
            lo, hi = max(p.low, p.default - span / 2), min(p.high, p.default + span / 2)
        out.append(rng.uniform(lo, hi))
    return np.asarray(out, dtype=np.float64)


def _weight_index(body: BodyModel) -> int:
    names = [p.name for p in body.shape_params]
    if "weight" in names:
        return names.index("weight")
    return 1 if len(names) > 1 else 0  # SMPL-X: the second beta is mostly girth


def variant_shape(body: BodyModel, shape, bmi_delta: float, tol: float = 0.02) -> np.ndarray:
    """``shape`` moved along the weight parameter so BMI changes by ``bmi_delta`` kg/m^2."""
    shape = np.asarray(shape, dtype=np.float64)
    if abs(bmi_delta) < 1e-9:
        return shape.copy()
    k = _weight_index(body)
    p = body.shape_params[k]
    target = body_stats(body, shape)["bmi"] + bmi_delta

    def bmi_at(x: float) -> float:
        s = shape.copy()
        s[k] = x
        return body_stats(body, s)["bmi"]

    lo, hi = (p.low, shape[k]) if bmi_delta < 0 else (shape[k], p.high)
    if (bmi_at(lo) - target) * (bmi_at(hi) - target) > 0:
        raise OdahgenError(f"{body.name}: a BMI step of {bmi_delta:+g} from this subject leaves the "
                           f"range of its '{p.name}' parameter")
    for _ in range(40):  # bisection: BMI is monotonic in the weight parameter
        mid = 0.5 * (lo + hi)
        value = bmi_at(mid)
        if abs(value - target) < tol:
            break
        if (value < target) == (bmi_delta > 0):
            lo, hi = (mid, hi) if bmi_delta > 0 else (lo, mid)
        else:
            lo, hi = (lo, mid) if bmi_delta > 0 else (mid, hi)
    out = shape.copy()
    out[k] = mid
    return out


def subject_shape(body: BodyModel, seed: int, bmi_delta: float = 0.0) -> np.ndarray:
    """The shape (S,) of a subject (from ``seed``) in the variant ``bmi_delta`` kg/m^2."""
    return variant_shape(body, subject_shape_base(body, seed), bmi_delta)
