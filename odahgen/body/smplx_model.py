"""The paper's body: SMPL-X, loaded with the ``smplx`` package from the user's own files.

``model_dir`` is a folder with ``SMPLX_NEUTRAL.npz`` / ``SMPLX_MALE.npz`` / ``SMPLX_FEMALE.npz``
(or one such file). Shape: the first 10 betas, each in [-3, 3]. Posing: odahgen's LBS
(:mod:`odahgen.body.base`) over SMPL-X's 22 body joints (jaw, eyes and fingers follow their
parents); SMPL-X's pose-corrective blend shapes are not applied. SMPL-X is Y up, +Z forward,
+X = subject's left; the one conversion to OpenSim's frame is in :meth:`SmplxBody._rest_state`.
"""

from __future__ import annotations

import contextlib
import io
import os

import numpy as np
import torch

from odahgen.body.base import SMPL_TO_OPENSIM, BodyModel, PoseGroup, ShapeParam
from odahgen.errors import OdahgenError

JOINT_NAMES_55 = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "jaw", "left_eye_smplhf", "right_eye_smplhf",
) + tuple(
    f"{side}_{f}{k}" for side in ("left", "right")
    for f in ("index", "middle", "pinky", "ring", "thumb") for k in (1, 2, 3)
)

#: keys of the .npz the smplx package reads for an SMPL-X model
REQUIRED_KEYS = (
    "v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table",
    "lmk_faces_idx", "lmk_bary_coords", "hands_componentsl", "hands_componentsr",
    "hands_meanl", "hands_meanr",
)
N_BETAS = 10


def resolve_smplx_file(model_dir: str, gender: str = "neutral") -> str:
    """The SMPL-X .npz for ``gender`` in ``model_dir`` (or ``model_dir`` itself if a file)."""
    if gender not in ("neutral", "male", "female"):
        raise OdahgenError(f"unknown SMPL-X gender {gender!r}; choose neutral, male or female")
    if not model_dir:
        raise OdahgenError("body.model_dir is empty: set it to the folder with your SMPLX_*.npz files")
    if os.path.isdir(model_dir):
        path = os.path.join(model_dir, f"SMPLX_{gender.upper()}.npz")
    else:
        path = model_dir
    if not os.path.isfile(path):
        raise OdahgenError(f"{path}: SMPL-X model file not found (download SMPLX_{gender.upper()}.npz from smpl-x.is.tue.mpg.de)")
    return path


def check_smplx_file(path: str) -> None:
    """Raise a one-line :class:`OdahgenError` naming ``path`` unless it has SMPL-X's structure."""
    try:
        with np.load(path, allow_pickle=True) as data:
            keys = set(data.files)
            missing = [k for k in REQUIRED_KEYS if k not in keys]
            if missing:
                raise OdahgenError(f"{path}: not an SMPL-X model file, missing keys {missing}")
            v = data["v_template"]
            V = v.shape[0] if v.ndim == 2 else -1
            checks = [
                (v.ndim == 2 and v.shape[1] == 3, "v_template must be (V, 3)"),
                (data["shapedirs"].ndim == 3 and data["shapedirs"].shape[:2] == (V, 3), "shapedirs must be (V, 3, S)"),
                (data["J_regressor"].ndim == 2 and data["J_regressor"].shape[1] == V, "J_regressor must be (J, V)"),
                (data["weights"].ndim == 2 and data["weights"].shape[0] == V, "weights must be (V, J)"),
                (data["kintree_table"].ndim == 2 and data["kintree_table"].shape[0] == 2, "kintree_table must be (2, J)"),
                (data["f"].ndim == 2 and data["f"].shape[1] == 3, "f must be (F, 3)"),
            ]
            J = data["kintree_table"].shape[-1]
            checks.append((J == 55 and data["J_regressor"].shape[0] == 55 and data["weights"].shape[1] == 55,
                           f"SMPL-X has 55 joints, this file has {J}"))
            for ok, why in checks:
                if not ok:
                    raise OdahgenError(f"{path}: not an SMPL-X model file: {why}")
    except OdahgenError:
        raise
    except Exception as err:  # any unreadable file: zip, pickle, header, dtype errors
        raise OdahgenError(f"{path}: cannot read SMPL-X model file ({type(err).__name__}: {err})") from err


_BODY_LIMIT = ((-2.8, -2.8, -2.8), (2.8, 2.8, 2.8))
_SEGMENTS = {
    "pelvis": ("pelvis",),
    "torso": ("spine1", "spine2", "spine3", "neck", "head", "jaw", "left_eye_smplhf",
              "right_eye_smplhf", "left_collar", "right_collar"),
}
_SIDE_SEGMENTS = {
    "femur": ("hip",), "tibia": ("knee",), "calcn": ("ankle",), "toes": ("foot",),
    "humerus": ("shoulder",), "ulna": ("elbow",), "radius": ("elbow",),
    "hand": ("wrist",) + tuple(f"{f}{k}" for f in ("index", "middle", "pinky", "ring", "thumb") for k in (1, 2, 3)),
}
_SIDE_JOINTS = {
    "hip": "hip", "walker_knee": "knee", "ankle": "ankle", "mtp": "foot", "acromial": "shoulder",
    "elbow": "elbow", "radius_hand": "wrist", "hand_end": "middle1",
}


class SmplxBody(BodyModel):
    """SMPL-X from the user's model files, 10 betas, OpenSim world frame."""

    name = "smplx"

    def __init__(self, model_dir: str = "", gender: str = "neutral") -> None:
        path = resolve_smplx_file(model_dir, gender)
        check_smplx_file(path)
        try:
            import smplx
        except ImportError as err:  # pragma: no cover
            raise OdahgenError(f"the smplx package is not installed ({err}); pip install smplx") from err
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # smplx prints warnings to stdout
                model = smplx.SMPLX(path, gender=gender, ext="npz", use_pca=False, num_betas=N_BETAS,
                                    num_expression_coeffs=10, use_face_contour=False)
        except Exception as err:
            raise OdahgenError(f"{path}: the smplx package cannot load it ({type(err).__name__}: {' '.join(str(err).split())})") from err
        self.path = path
        self._v_template = model.v_template.detach().to(torch.float32)  # (V, 3)
        self._shapedirs = model.shapedirs.detach().to(torch.float32)  # (V, 3, 10)
        self._J_regressor = model.J_regressor.detach().to(torch.float32)  # (55, V)
        parents = model.parents.detach().cpu().numpy().astype(np.int64)
        parents[0] = -1
        self.bone_parents = parents
        self.bone_names = JOINT_NAMES_55
        self.faces = np.asarray(model.faces, dtype=np.int64)
        self.shape_params = tuple(ShapeParam(f"beta{i}", 0.0, -3.0, 3.0, "SMPL-X shape PCA coefficient")
                                  for i in range(self._shapedirs.shape[-1]))
        idx = {n: i for i, n in enumerate(self.bone_names)}
        groups = [PoseGroup("pelvis", (0,), (-10.0,) * 3, (10.0,) * 3)]
        for j in range(1, 22):
            groups.append(PoseGroup(self.bone_names[j], (j,), *_BODY_LIMIT))
        self.pose_groups = tuple(groups)
        seg = {k: v for k, v in _SEGMENTS.items()}
        joints = {"back": "spine1", "neck": "neck"}
        for side, s in (("r", "right"), ("l", "left")):
            for body, bones in _SIDE_SEGMENTS.items():
                seg[f"{body}_{side}"] = tuple(f"{s}_{b}" for b in bones)
            for j, b in _SIDE_JOINTS.items():
                joints[f"{j}_{side}"] = f"{s}_{b}"
        assert all(b in idx for bones in seg.values() for b in bones)
        self.segment_bones = seg
        self.joint_bones = joints
        self._C = torch.as_tensor(SMPL_TO_OPENSIM, dtype=torch.float32)
        w = model.lbs_weights.detach().cpu().numpy()
        k = int(min(8, w.shape[1]))
        order = np.argsort(-w, axis=1)[:, :k]
        self._init_skinning(order, np.take_along_axis(w, order, 1))

    def _rest_state(self, shape, vertex_ids=None):
        betas = shape.to(torch.float32)
        B = betas.shape[0]
        v_shaped = self._v_template[None] + torch.einsum("bs,vcs->bvc", betas, self._shapedirs)
        J = torch.einsum("jv,bvc->bjc", self._J_regressor, v_shaped)  # (B, 55, 3)
        verts = v_shaped if vertex_ids is None else v_shaped[:, vertex_ids]
        # the one conversion SMPL-X (Y up, +Z forward, +X left) -> OpenSim (Y up, X fwd, Z right)
        C = self._C
        verts = verts @ C.T
        Jo = J @ C.T
        frames = torch.zeros(B, J.shape[1], 4, 4)
        frames[..., :3, :3] = C
        frames[..., :3, 3] = Jo
        frames[..., 3, 3] = 1.0
        return verts, frames
