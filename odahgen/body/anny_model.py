"""The default body: anny (NAVER, Apache-2.0 code, CC0 MakeHuman assets; PyPI ``anny``).

Shape: anny's six default phenotype parameters, each in [0, 1] (0.5 = average):
gender (0 female .. 1 male), age, muscle, weight, height, proportions.
Rest geometry (vertices, rest bone frames) comes from anny's ``get_rest_model``; posing is
odahgen's own LBS (:mod:`odahgen.body.base`) over anny's rig (104 bones; fingers, eyes and
toe phalanges follow their parents). anny is Z-up, -Y forward, +X = subject's left; the one
conversion to OpenSim's frame is in :meth:`AnnyBody._rest_state`.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import torch

from odahgen.body.base import ZUP_TO_OPENSIM, BodyModel, PoseGroup, ShapeParam
from odahgen.errors import OdahgenError

_PHENOTYPES = (
    ("gender", "0 = female, 1 = male"),
    ("age", "0 = newborn .. 0.5 = 25 y .. 1 = 90 y (anny anchors)"),
    ("muscle", "muscle tone"),
    ("weight", "body mass / adiposity"),
    ("height", "stature"),
    ("proportions", "body proportions (ideal vs. uncommon)"),
)

_T = math.pi  # loose box limits (rad) on axis-angle components in the bone frame (Y along bone)


def _lim(x: float, y: float, z: float) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    return (-x, -y, -z), (x, y, z)


# group name -> (bones, limits); sides expanded below. Y is the bone's long (twist) axis.
def _box(lo, hi):
    return tuple(float(x) for x in lo), tuple(float(x) for x in hi)


# group name -> (bones, (lower, upper)); sides expanded below. Bone frames: Y along the bone
# (twist); for the limbs +X is knee/elbow flexion, hip extension, ankle plantarflexion
# (checked numerically on the rest rig). Ranges are anatomical, somewhat generous.
_GROUPS_MID = [
    ("root", ("root",), _lim(10, 10, 10)),
    ("spine05", ("spine05",), _lim(0.3, 0.25, 0.25)),
    ("spine04", ("spine04",), _lim(0.3, 0.25, 0.25)),
    ("spine03", ("spine03",), _lim(0.3, 0.25, 0.25)),
    ("spine02", ("spine02",), _lim(0.3, 0.25, 0.25)),
    ("spine01", ("spine01",), _lim(0.3, 0.25, 0.25)),
    ("neck01", ("neck01",), _lim(0.6, 0.6, 0.6)),
    ("neck02", ("neck02",), _lim(0.6, 0.6, 0.6)),
    ("neck03", ("neck03",), _lim(0.6, 0.6, 0.6)),
    ("head", ("head",), _lim(0.6, 0.6, 0.6)),
]
_GROUPS_SIDE = [
    ("clavicle", ("clavicle",), _lim(0.3, 0.3, 0.3)),
    ("shoulder01", ("shoulder01",), _lim(0.4, 0.4, 0.4)),
    ("upperarm01", ("upperarm01",), _lim(2.6, 1.3, 2.2)),
    ("upperarm02", ("upperarm02",), _lim(0.08, 1.3, 0.08)),
    # anny's rest pose has the elbows flexed ~43 deg and the knees ~10 deg: extension to the
    # anatomical zero (and a few degrees beyond) is a negative rotation from the rest pose
    ("lowerarm01", ("lowerarm01",), _box((-0.9, -0.15, -0.15), (2.0, 0.15, 0.15))),
    ("lowerarm02", ("lowerarm02",), _lim(0.08, 1.5, 0.08)),
    ("wrist", ("wrist",), _lim(1.3, 0.3, 0.6)),
    ("upperleg01", ("upperleg01",), _box((-2.2, -0.8, -0.8), (0.6, 0.8, 0.8))),
    ("upperleg02", ("upperleg02",), _lim(0.08, 0.6, 0.08)),
    ("lowerleg01", ("lowerleg01",), _box((-0.25, -0.15, -0.12), (2.5, 0.15, 0.12))),
    ("lowerleg02", ("lowerleg02",), _lim(0.08, 0.5, 0.08)),
    ("foot", ("foot",), _box((-0.8, -0.4, -0.45), (1.0, 0.4, 0.45))),
    ("toes", tuple(f"toe{i}-1" for i in range(1, 6)), _lim(0.9, 0.1, 0.1)),
]

_SEGMENTS_SIDE = {
    "femur": ("upperleg01", "upperleg02"),
    "tibia": ("lowerleg01", "lowerleg02"),
    "calcn": ("foot",),
    "toes": tuple(f"toe{i}-{k}" for i in range(1, 6) for k in (1, 2, 3) if not (i == 1 and k == 3)),
    "humerus": ("upperarm01", "upperarm02"),
    "ulna": ("lowerarm01", "lowerarm02"),
    "radius": ("lowerarm01", "lowerarm02"),
    "hand": ("wrist",)
    + tuple(f"finger{i}-{k}" for i in range(1, 6) for k in (1, 2, 3))
    + tuple(f"metacarpal{i}" for i in range(1, 5)),
}
_JOINTS_SIDE = {
    "hip": "upperleg01",
    "walker_knee": "lowerleg01",
    "ankle": "foot",
    "mtp": "toe3-1",
    "acromial": "upperarm01",
    "elbow": "lowerarm01",
    "radius_hand": "wrist",
    "hand_end": "finger3-1",
}


class AnnyBody(BodyModel):
    """anny full body (13,718 vertices), phenotype shape parameters, OpenSim world frame."""

    name = "anny"

    def __init__(self) -> None:
        os.environ.setdefault("WARP_LOG_LEVEL", "error")
        try:
            import anny
        except ImportError as err:  # pragma: no cover - environment problem
            raise OdahgenError(f"the anny package is not installed ({err}); pip install anny") from err
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._anny = anny.Anny(skinning_method="lbs")
        m = self._anny
        self.bone_names = tuple(m.bone_labels)
        self.bone_parents = np.asarray(m.bone_parents, dtype=np.int64)
        self.faces = np.asarray(m.get_triangular_faces().cpu().numpy(), dtype=np.int64)
        # adults only: age below ~0.4 is a child in anny's anchors
        self.shape_params = tuple(
            ShapeParam(n, 0.5, 0.4 if n == "age" else 0.0, 1.0, d) for n, d in _PHENOTYPES
        )
        if list(m.phenotype_labels) != [n for n, _ in _PHENOTYPES]:
            raise OdahgenError(f"unexpected anny phenotypes {m.phenotype_labels}; anny 0.6.x is required")
        idx = {n: i for i, n in enumerate(self.bone_names)}
        groups = []
        for name, bones, (lo, hi) in _GROUPS_MID:
            groups.append(PoseGroup(name, tuple(idx[b] for b in bones), lo, hi))
        for side, s in (("r", "R"), ("l", "L")):
            for name, bones, (lo, hi) in _GROUPS_SIDE:
                groups.append(PoseGroup(f"{name}_{side}", tuple(idx[f"{b}.{s}"] for b in bones), lo, hi))
        self.pose_groups = tuple(groups)
        seg = {
            "pelvis": ("root", "pelvis.L", "pelvis.R", "spine05"),
            "torso": ("spine04", "spine03", "spine02", "spine01", "neck01", "neck02", "neck03", "head",
                      "eye.L", "eye.R", "clavicle.L", "clavicle.R", "shoulder01.L", "shoulder01.R"),
        }
        joints = {"back": "spine04", "neck": "neck01"}
        for side, s in (("r", "R"), ("l", "L")):
            for body, bones in _SEGMENTS_SIDE.items():
                seg[f"{body}_{side}"] = tuple(f"{b}.{s}" for b in bones)
            for j, b in _JOINTS_SIDE.items():
                joints[f"{j}_{side}"] = f"{b}.{s}"
        self.segment_bones = seg
        self.joint_bones = joints
        self._C = torch.as_tensor(ZUP_TO_OPENSIM, dtype=torch.float64)
        self._init_skinning(m.vertex_bone_indices.cpu().numpy(), m.vertex_bone_weights.cpu().numpy())

    def _rest_state(self, shape, vertex_ids=None):
        m = self._anny
        s = shape.to(torch.float64)
        B = s.shape[0]
        coeffs = m._get_phenotype_blendshape_coefficients(
            s, s.new_zeros(B, 0), s.new_zeros(B, 0)
        )
        if vertex_ids is not None and m.bone_orientation == "cached" and m.rest_orientation_refiner is None:
            # only the requested vertices (anny's cached bone orientation, reimplemented)
            import roma

            verts = m.template_vertices[vertex_ids][None] + torch.einsum(
                "bk,kvc->bvc", coeffs, m.blendshapes[:, vertex_ids]
            )
            heads = m.template_bone_heads[None] + torch.einsum("bk,kjc->bjc", coeffs, m.bone_heads_blendshapes)
            M = m.bone_template_orientation_matrices[None] + torch.einsum(
                "ba,akij->bkij", coeffs, m.bone_orientation_blendshapes
            )
            frames = roma.Rigid(linear=roma.special_procrustes(M), translation=heads).to_homogeneous()
            if m.root_identity_orientation:
                frames = frames.clone()
                frames[:, 0, :3, :3] = torch.eye(3, dtype=frames.dtype)
        else:
            rest = m.get_rest_model(coeffs)
            verts = rest["rest_vertices"]
            if vertex_ids is not None:
                verts = verts[:, vertex_ids]
            frames = rest["rest_bone_poses"]
        # the one conversion anny (Z up, -Y forward, +X left) -> OpenSim (Y up, X fwd, Z right)
        C = self._C
        verts = verts @ C.T
        frames = torch.cat(
            [torch.cat([C @ frames[..., :3, :3], (C @ frames[..., :3, 3:4])], -1), frames[..., 3:, :]], -2
        )
        return verts.to(torch.float32), frames.to(torch.float32)
