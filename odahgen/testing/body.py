"""A generated stand-in for the licensed SMPL-X files (tests and benchmarks only), formerly
``odahgen.body.synthetic``.

:func:`write_synthetic_smplx` writes an ``SMPLX_<GENDER>.npz`` with every key the ``smplx``
package reads for an SMPL-X model (template, shape/expression blend shapes, pose blend
shapes, joint regressor, skinning weights, kinematic tree, faces, landmark and hand-PCA
arrays) built from generated geometry: a tube per joint around a stick figure in SMPL-X's
frame (Y up, +Z forward, +X = subject's left), 55 joints in SMPL-X order. It is not a human
scan; it exercises the same loading, marker, regressor and fitting code as the real files.
"""

from __future__ import annotations

import os

import numpy as np

from odahgen.body.smplx_model import JOINT_NAMES_55

# SMPL-X parents of the 55 joints (kinematic tree of the smplx package)
PARENTS_55 = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15]
    + [20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38]
    + [21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53]
)


def _joint_positions() -> np.ndarray:
    """(55, 3) rest joint positions (m), SMPL-X frame, pelvis at the origin."""
    p = {}
    p["pelvis"] = (0, 0, 0)
    for s, x in (("left", 1), ("right", -1)):
        p[f"{s}_hip"] = (0.085 * x, -0.08, 0.0)
        p[f"{s}_knee"] = (0.095 * x, -0.48, 0.01)
        p[f"{s}_ankle"] = (0.10 * x, -0.88, -0.02)
        p[f"{s}_foot"] = (0.11 * x, -0.93, 0.11)
        p[f"{s}_collar"] = (0.07 * x, 0.42, 0.0)
        p[f"{s}_shoulder"] = (0.18 * x, 0.44, -0.01)
        p[f"{s}_elbow"] = (0.20 * x, 0.16, -0.03)
        p[f"{s}_wrist"] = (0.21 * x, -0.08, 0.0)
        for fi, f in enumerate(("index", "middle", "pinky", "ring", "thumb")):
            off = (-0.02 + 0.01 * fi) if f != "thumb" else 0.03
            for k in (1, 2, 3):
                p[f"{s}_{f}{k}"] = (0.215 * x, -0.08 - 0.03 * k, off)
        p[f"{s}_eye_smplhf"] = (0.03 * x, 0.68, 0.08)
    p["spine1"] = (0, 0.10, -0.01)
    p["spine2"] = (0, 0.23, -0.01)
    p["spine3"] = (0, 0.34, 0.0)
    p["neck"] = (0, 0.48, -0.01)
    p["head"] = (0, 0.56, 0.01)
    p["jaw"] = (0, 0.60, 0.04)
    return np.array([p[n] for n in JOINT_NAMES_55], dtype=np.float64)


_RADIUS = {"pelvis": 0.13, "spine1": 0.13, "spine2": 0.14, "spine3": 0.12, "neck": 0.05, "head": 0.09,
           "hip": 0.08, "knee": 0.055, "ankle": 0.04, "foot": 0.03, "collar": 0.05, "shoulder": 0.045,
           "elbow": 0.035, "wrist": 0.025}


def _radius(name: str) -> float:
    for k, r in _RADIUS.items():
        if name == k or name.endswith("_" + k):
            return r
    return 0.008


def write_synthetic_smplx(folder: str, gender: str = "neutral", ring: int = 8, stations: int = 5,
                          seed: int = 0) -> str:
    """Write ``folder/SMPLX_<GENDER>.npz`` (generated geometry, ~2,200 vertices); return its path."""
    rng = np.random.default_rng(seed)
    J = _joint_positions()
    children = {j: [c for c in range(55) if PARENTS_55[c] == j] for j in range(55)}
    main_child = {0: 3, 9: 12, 15: 22}  # pelvis->spine1, spine3->neck, head->jaw
    verts, faces, weights, owner, reg_rows = [], [], [], [], []
    for j, name in enumerate(JOINT_NAMES_55):
        ch = children[j]
        if ch:
            end = J[main_child.get(j, ch[0])]
        else:
            d = J[j] - J[PARENTS_55[j]]
            end = J[j] + 0.6 * d
        if name == "head":
            end = J[j] + np.array([0, 0.2, 0.0])
        axis = end - J[j]
        length = np.linalg.norm(axis) + 1e-9
        a = axis / length
        ref = np.array([0, 0, 1.0]) if abs(a[2]) < 0.9 else np.array([1.0, 0, 0])
        u = np.cross(a, ref)
        u /= np.linalg.norm(u)
        w = np.cross(a, u)
        r = _radius(name)
        base = len(verts)
        for si in range(stations):
            t = si / (stations - 1)
            c = J[j] + t * axis
            for k in range(ring):
                ang = 2 * np.pi * k / ring
                verts.append(c + r * (np.cos(ang) * u + np.sin(ang) * w))
                wt = np.zeros(55)
                if t < 0.25 and PARENTS_55[j] >= 0:
                    wt[j], wt[PARENTS_55[j]] = 0.5 + 2 * t, 0.5 - 2 * t
                else:
                    wt[j] = 1.0
                weights.append(wt)
                owner.append(j)
        row = np.zeros(0)
        reg_rows.append((j, list(range(base, base + ring))))  # first ring is centred on joint j
        for si in range(stations - 1):
            for k in range(ring):
                a0 = base + si * ring + k
                a1 = base + si * ring + (k + 1) % ring
                b0, b1 = a0 + ring, a1 + ring
                faces += [(a0, a1, b1), (a0, b1, b0)]
        del row
    V = len(verts)
    v = np.asarray(verts)
    Jreg = np.zeros((55, V))
    for j, ids in reg_rows:
        Jreg[j, ids] = 1.0 / len(ids)
    owner = np.asarray(owner)
    # shape blend shapes: 0 stature, 1 girth, 2.. smooth per-segment offsets; 10 expression dirs zero
    shapedirs = np.zeros((V, 3, 20))
    shapedirs[:, :, 0] = 0.04 * v
    centre = J[owner]
    radial = v - centre
    radial -= (radial * (v - centre)).sum(1, keepdims=True) * 0  # keep simple: outward from joint
    shapedirs[:, :, 1] = 0.15 * radial
    seg_dirs = rng.normal(0, 0.004, (10, 55, 3))
    for k in range(2, 10):
        shapedirs[:, :, k] = seg_dirs[k][owner]
    tree = np.stack([np.where(PARENTS_55 < 0, 4294967295, PARENTS_55), np.arange(55)]).astype(np.int64)
    data = dict(
        v_template=v.astype(np.float64),
        f=np.asarray(faces, dtype=np.uint32),
        shapedirs=shapedirs,
        posedirs=np.zeros((V, 3, 486)),
        J_regressor=Jreg,
        weights=np.asarray(weights),
        kintree_table=tree,
        lmk_faces_idx=np.zeros(51, dtype=np.int64),
        lmk_bary_coords=np.full((51, 3), 1 / 3),
        hands_componentsl=np.eye(45),
        hands_componentsr=np.eye(45),
        hands_meanl=np.zeros(45),
        hands_meanr=np.zeros(45),
    )
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"SMPLX_{gender.upper()}.npz")
    np.savez(path, **data)
    return path
