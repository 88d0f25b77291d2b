"""AMASS -> body mesh -> virtual markers (the paper's route from AMASS to OpenSim IK).

Two body models, chosen by whether the user has the SMPL-X model files:

- ``smplx`` (``model_dir`` given): the AMASS parameters pose SMPL-X itself (root orientation,
  the 21 body joints, the subject's own shape: the file's betas, as many as the model has;
  hands and face stay at rest; the file's gender if ``SMPLX_<GENDER>.npz`` is there, else
  the neutral model), and the markers are
  the SMPL-X layout's virtual markers (:func:`odahgen.body.markers.load_layout`, built for the
  user's mesh by segment-similarity transfer). SMPL-H files are posed on SMPL-X's body: the 22
  body joints have the same meaning and order in both.
- ``anny`` (default, no licensed files): the SMPL joint rotations are retargeted onto anny's
  rig and the markers are anny's shipped virtual markers. Retargeting works on *world* bone
  rotations: each SMPL body joint's rotation relative to the SMPL rest pose (a T-pose) is
  given to the anny bones of the same body part, after a fixed per-bone offset that turns
  anny's rest pose (arms down, elbows and knees a little flexed) into SMPL's T-pose (the
  smallest rotation taking each anny bone's rest direction onto SMPL's canonical one). The
  body is lowered or raised once so that its feet rest on the floor.

Everything returned is in the OpenSim world frame (Y up), metres.
"""

from __future__ import annotations

import os
import weakref

import numpy as np
import torch

from odahgen.errors import OdahgenError
from odahgen.motion import kinematics as K
from odahgen.motion import retarget as RT

SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)

# anny bone (side-less, ".S" added) -> SMPL joint whose world rotation it takes
_ANNY_MID = {"root": "pelvis", "spine05": "pelvis", "spine04": "spine1", "spine03": "spine2",
             "spine02": "spine3", "spine01": "spine3", "neck01": "neck", "neck02": "neck",
             "neck03": "neck", "head": "head"}
_ANNY_SIDE = {"clavicle": "collar", "shoulder01": "collar", "upperarm01": "shoulder",
              "upperarm02": "shoulder", "lowerarm01": "elbow", "lowerarm02": "elbow",
              "wrist": "wrist", "upperleg01": "hip", "upperleg02": "hip", "lowerleg01": "knee",
              "lowerleg02": "knee", "foot": "ankle", "toes": "foot"}
def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Frame-wise 3x3 products of frames-last arrays: (..., 3, 3, T) @ (..., 3, 3, T|1).
    Nine contiguous vector operations per product instead of T tiny matrix products."""
    return (a[..., :, 0, None, :] * b[..., 0, None, :, :] + a[..., :, 1, None, :] * b[..., 1, None, :, :]
            + a[..., :, 2, None, :] * b[..., 2, None, :, :])


def _lmul(C: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Constant (3, 3) times frames-last (..., 3, 3, T)."""
    X = np.ascontiguousarray(X)
    return (C @ X.reshape(X.shape[:-3] + (3, -1))).reshape(X.shape)


def _rotvec_soa(rv: np.ndarray) -> np.ndarray:
    """Rotation vectors (3, ...) -> matrices (3, 3, ...) (Rodrigues; identity below 1e-12 rad,
    as :func:`odahgen.motion.kinematics.rotvec_to_matrix`)."""
    th = np.sqrt((rv * rv).sum(0))
    big = th > 1e-12
    k = np.where(big, rv / np.where(big, th, 1.0), 0.0)
    c, s_ = np.cos(th), np.sin(th)
    v = 1.0 - c
    x, y, z = k
    return np.array([[c + v * x * x, v * x * y - s_ * z, v * x * z + s_ * y],
                     [v * y * x + s_ * z, c + v * y * y, v * y * z - s_ * x],
                     [v * z * x - s_ * y, v * z * y + s_ * x, c + v * z * z]])


def _smpl_world_soa(poses: np.ndarray, world: str = "zup") -> np.ndarray:
    """:func:`smpl_world_rotations` frames-last: (22, 3, 3, T)."""
    poses = np.asarray(poses, dtype=np.float64)
    rv = poses[:, :66].reshape(len(poses), 22, 3).transpose(2, 1, 0)  # (3, 22, T)
    R = _rotvec_soa(rv).transpose(2, 0, 1, 3)  # (22, 3, 3, T)
    C = RT.SMPL_FROM_OPENSIM.T  # SMPL axes -> OpenSim axes
    Wm = RT.ZUP_TO_OPENSIM if world == "zup" else RT.YUP_TO_OPENSIM
    out = _mm(_lmul(C, R), C.T[:, :, None])  # all joints in OpenSim axes; the root is replaced
    out[0] = _mm(_lmul(Wm, R[0]), C.T[:, :, None])
    for j in range(1, 22):  # parents come first
        out[j] = _mm(out[SMPL_PARENTS[j]], out[j])
    return out


def smpl_world_rotations(poses: np.ndarray, world: str = "zup") -> np.ndarray:
    """(T, 22, 3, 3) rotation of every SMPL body joint relative to the SMPL rest pose, in the
    OpenSim world frame (root included): ``W_j = W_parent @ C R_j C^T``, ``W_0 = Wm R_0 C^T``
    with C the SMPL -> OpenSim axes change and Wm the data world -> OpenSim ground."""
    return np.ascontiguousarray(_smpl_world_soa(poses, world).transpose(3, 0, 1, 2))


def rest_offsets(body, shape: torch.Tensor, rounds: int = 3) -> dict[int, np.ndarray]:
    """bone -> (3, 3) world rotation taking that bone from the body model's rest pose to
    SMPL's rest pose, measured with the skeleton: the body's rest-pose virtual markers scale
    the built-in skeleton and IK gives the skeleton pose ``q_rest`` of the body's rest pose;
    SMPL's rest pose is the skeleton pose ``q_T`` that :func:`~odahgen.motion.retarget.
    smpl_to_coordinates` gives all-zero rotations (zero angles, arms abducted 90 deg). A
    bone of OpenSim body ``k`` (``body.segment_bones``) gets ``R_k(q_T) R_k(q_rest)^T``. Skinning
    blends bones near the joints, so the body so posed is not exactly at ``q_T``: ``rounds``
    - 1 more IK passes on it correct the offsets by what is left."""
    from odahgen.body import load_layout, markers_from_vertices, static_trial
    from odahgen.io.mocap import MarkerData
    from odahgen.skeleton.fk import load_tree
    from odahgen.skeleton.ik import run_ik_tree
    from odahgen.skeleton.names import COORDINATE_NAMES
    from odahgen.skeleton.scale import scale_subject

    layout = load_layout(body)
    static = static_trial(body, shape, layout)
    names = static.names
    tree, _ = scale_subject(load_tree("builtin"), static, source=f"{body.name} rest pose", measurements=False)
    q_rest = run_ik_tree(tree, static.frames(slice(0, 1)), register=False, workers=1, source="rest").coords[:1]
    q_T = RT.smpl_to_coordinates(np.zeros((1, 66)), np.zeros((1, 3)), world="yup")
    qt = np.array([q_T[0, COORDINATE_NAMES.index(n)] if n in COORDINATE_NAMES else 0.0 for n in tree.coord_names])
    R_T = tree.forward(qt[None])[0][0]
    bidx = {n: i for i, n in enumerate(body.bone_names)}
    seg_of = {}
    for seg, bones in body.segment_bones.items():
        if seg in tree.body_names:
            for bn in bones:
                seg_of.setdefault(bidx[bn], tree.body_names.index(seg))
    R_rest = tree.forward(q_rest)[0][0]
    out = {b: R_T[k] @ R_rest[k].T for b, k in seg_of.items()}
    # further rounds in the skeleton's default pose (arms down, where IK is well posed): pose
    # the body there with these offsets, and correct each bone by its segment's IK error
    q_ref = np.zeros((1, 39))
    q_ref[0, COORDINATE_NAMES.index("pelvis_ty")] = K.DEFAULT_PELVIS_HEIGHT
    ref_poses, _ = RT.coordinates_to_smpl(q_ref, 22, world="yup")
    Wj = smpl_world_rotations(ref_poses, "yup")[0]
    joint_of = bone_joints(body)
    qr = np.array([q_ref[0, COORDINATE_NAMES.index(n)] if n in COORDINATE_NAMES else 0.0 for n in tree.coord_names])
    R_ref = tree.forward(qr[None])[0][0]
    for _ in range(rounds - 1):
        pose, _t = anny_pose_from_smpl(body, shape, ref_poses, np.zeros((1, 3)), world="yup", offsets=out)
        with torch.no_grad():
            v = body.forward(shape, torch.as_tensor(pose, dtype=torch.float32), torch.zeros(1, 3)).numpy()
        mk = markers_from_vertices(v, layout, names).astype(np.float64)
        q_meas = run_ik_tree(tree, MarkerData(names=names, positions=mk, fps=60.0, times=np.zeros(1)),
                             register=False, workers=1, source="reference pose").coords[:1]
        R_meas = tree.forward(q_meas)[0][0]
        for b, k in seg_of.items():
            W = Wj[joint_of[b]] if b in joint_of else np.eye(3)
            out[b] = W.T @ R_ref[k] @ R_meas[k].T @ W @ out[b]
    return out


def bone_joints(body) -> dict[int, int]:
    """Posed anny bone -> index of the SMPL body joint whose world rotation it takes."""
    smpl = {n: i for i, n in enumerate(RT.SMPL_JOINTS)}
    out = {}
    for g in body.pose_groups:
        for b in g.bones:
            n = body.bone_names[b]
            base, side = (n.split(".") + [""])[:2]
            key = "toes" if base.startswith("toe") else base
            if key in _ANNY_MID:
                out[b] = smpl[_ANNY_MID[key]]
            elif key in _ANNY_SIDE:
                out[b] = smpl[f"{'right' if side == 'R' else 'left'}_{_ANNY_SIDE[key]}"]
            else:
                raise OdahgenError(f"anny bone {n!r} has no SMPL counterpart")
    return out


def _active_bones(body) -> list[int]:
    """The posed (active) bones of a body model in the order of its prepared rest frames."""
    root = int(np.flatnonzero(np.asarray(body.bone_parents) < 0)[0])
    return sorted({b for g in body.pose_groups for b in g.bones} | {root})


def _rest_frames(body, shape: torch.Tensor) -> np.ndarray:
    """(Ja, 4, 4) float64 rest world frames of the active bones (:func:`_active_bones` order)."""
    with torch.no_grad():
        return body.prepare(shape, vertex_ids=[0])["frames"][0].double().numpy()


def _anny_local_rotations(body, frames: np.ndarray, Wj: np.ndarray, offsets: dict) -> np.ndarray:
    """(G, 3, 3, T) bone-local rotation of every anny pose group, frames last, for SMPL world
    joint rotations ``Wj`` (22, 3, 3, T) (:func:`_smpl_world_soa`; see the module docstring);
    ``frames`` from :func:`_rest_frames`."""
    G = {b: frames[k] for k, b in enumerate(_active_bones(body))}
    world_of: dict[int, np.ndarray] = {}  # bone -> (3, 3, T) target world rotation delta
    for b, j in bone_joints(body).items():
        world_of[b] = _mm(Wj[j], offsets[b][:, :, None]) if b in offsets else Wj[j]
    parents = np.asarray(body.bone_parents)
    local = np.empty((len(body.pose_groups),) + Wj.shape[1:])
    for gi, g in enumerate(body.pose_groups):
        b = g.bones[0]
        Wb = world_of[b]
        if parents[b] < 0:
            local[gi] = Wb  # the root group is a world-frame rotation
        else:
            p = int(parents[b])
            while p not in world_of:  # the nearest posed ancestor drives it
                p = int(parents[p])
            Rg = G[b][:3, :3]
            local[gi] = _mm(_lmul(Rg.T, _mm(world_of[p].transpose(1, 0, 2), Wb)), Rg[:, :, None])
    return local


def anny_pose_from_smpl(body, shape: torch.Tensor, poses: np.ndarray, trans: np.ndarray,
                        world: str = "zup", offsets: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """anny pose parameters (T, P) rad and root translation (T, 3) m for SMPL-family
    ``poses`` (T, >=66) and ``trans`` (T, 3) (see the module docstring)."""
    offsets = rest_offsets(body, shape) if offsets is None else offsets
    local = _anny_local_rotations(body, _rest_frames(body, shape), _smpl_world_soa(poses, world), offsets)
    pose = K.matrix_to_rotvec(local.transpose(3, 0, 1, 2)).reshape(local.shape[-1], body.pose_dim)
    Wm = RT.ZUP_TO_OPENSIM if world == "zup" else RT.YUP_TO_OPENSIM
    return pose, np.asarray(trans, np.float64) @ Wm.T


def smplx_pose_from_smpl(body, shape: torch.Tensor, poses: np.ndarray, trans: np.ndarray,
                         world: str = "zup") -> tuple[np.ndarray, np.ndarray]:
    """SMPL-X body-model pose (T, 66) rad and translation (T, 3) m for AMASS ``poses``/``trans``:
    the 21 body joints are SMPL-X's own local rotations; the root becomes a world-frame
    rotation in OpenSim axes about the pelvis joint, and the translation keeps SMPL's
    convention (``trans`` moves the rest pelvis joint J0: pelvis = Wm (J0 + trans))."""
    poses = np.asarray(poses, dtype=np.float64)
    T = poses.shape[0]
    C = RT.SMPL_FROM_OPENSIM.T
    Wm = RT.ZUP_TO_OPENSIM if world == "zup" else RT.YUP_TO_OPENSIM
    out = np.zeros((T, body.pose_dim))
    out[:, 3:66] = poses[:, 3:66]
    R0 = K.rotvec_to_matrix(poses[:, :3])
    out[:, :3] = K.matrix_to_rotvec(Wm @ R0 @ C.T)
    return out, _smplx_trans(body, shape, trans, world)


def _smplx_trans(body, shape: torch.Tensor, trans: np.ndarray, world: str = "zup") -> np.ndarray:
    """SMPL-X root translation (T, 3) m in the OpenSim frame (see :func:`smplx_pose_from_smpl`)."""
    C = RT.SMPL_FROM_OPENSIM.T
    Wm = RT.ZUP_TO_OPENSIM if world == "zup" else RT.YUP_TO_OPENSIM
    h = _rest_frames(body, shape)[0, :3, 3]  # the pelvis (active bone 0)
    J0 = C.T @ h
    return np.asarray(trans, np.float64) @ Wm.T + (Wm @ J0 - h)


def _smplx_local_rotations(poses: np.ndarray, world: str = "zup") -> np.ndarray:
    """(22, 3, 3, T) SMPL-X pose-group rotations, frames last (as :func:`smplx_pose_from_smpl`,
    as matrices)."""
    poses = np.asarray(poses, dtype=np.float64)
    R = _rotvec_soa(poses[:, :66].reshape(len(poses), 22, 3).transpose(2, 1, 0)).transpose(2, 0, 1, 3)
    R = np.ascontiguousarray(R)
    Wm = RT.ZUP_TO_OPENSIM if world == "zup" else RT.YUP_TO_OPENSIM
    R[0] = _mm(_lmul(Wm, R[0]), RT.SMPL_FROM_OPENSIM[:, :, None])
    return R


# ---- fast posing of a few mesh points -------------------------------------------------------
# Posing is linear blend skinning without pose-dependent blend shapes (odahgen.body.base), so a
# marker (a fixed weighted sum of vertices) is sum_a A_a q_a with the per-bone rest terms q_a
# from ``BodyModel.prepare_points``: only the bone transforms A_a are needed per frame, and
# only at the bones, never at the 13,718 vertices. ``BodyModel._active_transforms`` gives
#   A_a = A_d @ Grest_a @ R_a @ Grest_a^-1   (d: the driving active ancestor),
#   A_root = [R_root | trans + h_root - R_root h_root].
# Rewritten with the posed bone orientation M_a = AR_a F_a (F_a: rest rotation of bone a) and
# the posed head X_a = A_d(h_a), the recursion is two 3x3 products per bone:
#   M_a = M_d (F_d^-1 F_a) R_a,  X_a = X_d + M_d F_d^-1 (h_a - h_d),  M_root = R_root F_root,
#   X_root = trans + h_root,
# and a point is  p = sum_a M_a F_a^-1 (q_a[:3] - q_a[3] h_a) + q_a[3] X_a  (the F_a^-1 and
# h_a terms fold into q once). Computed in float64 with frames last ((3, 3, T) arrays), so
# each product is a few contiguous vector operations, and the sum over bones is one GEMM.

CHUNK = 8192  # frames per batch: bounds the memory of long recordings (~30 MB per array)


def _fk_plan(body, frames: np.ndarray, q: np.ndarray) -> dict:
    """Per active bone: pose group, driving active ancestor (-1: the root; parents come first,
    the rule of ``BodyModel._init_skinning``), the constant ``F_d^-1 F_a`` and
    ``F_d^-1 (h_a - h_d)``; and the folded point terms (N, Ja*4). ``frames`` (Ja, 4, 4) from
    :func:`_rest_frames`, ``q`` (N, Ja, 4) from ``prepare_points``."""
    active = _active_bones(body)
    pos = {b: i for i, b in enumerate(active)}
    parents = np.asarray(body.bone_parents)
    group_of: dict[int, int] = {}
    for gi, g in enumerate(body.pose_groups):
        for b in g.bones:
            group_of[b] = gi
    root = int(np.flatnonzero(parents < 0)[0])
    group_of.setdefault(root, 0)
    Fr, h = frames[:, :3, :3], frames[:, :3, 3]
    Fi = np.linalg.inv(Fr)
    bones = []
    for a, b in enumerate(active):
        p = int(parents[b])
        while p >= 0 and p not in pos:
            p = int(parents[p])
        d = pos[p] if p >= 0 else -1
        if d < 0:
            bones.append((group_of[b], -1, Fr[a], h[a]))
        else:
            bones.append((group_of[b], d, Fi[d] @ Fr[a], Fi[d] @ (h[a] - h[d])))
    qf = np.empty_like(q)
    qf[..., :3] = np.einsum("aij,naj->nai", Fi, q[..., :3] - q[..., 3:] * h[None])
    qf[..., 3] = q[..., 3]
    return {"bones": bones, "q": qf.reshape(len(q), -1)}


def _pose_points(plan: dict, R: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """(N, 3, T) float64 points for ``R`` (G, 3, 3, T) pose-group rotations and ``trans`` (3, T)."""
    T = R.shape[-1]
    bones = plan["bones"]
    A = np.empty((len(bones), 4, 3, T))  # A[a, k, c] = M_a[c, k] (k < 3), X_a[c] (k = 3)
    for a, (g, d, C, c) in enumerate(bones):
        if d < 0:
            M = _mm(R[g], C[:, :, None])
            A[a, 3] = trans + c[:, None]
        else:
            Md = A[d, :3].transpose(1, 0, 2)
            M = _mm(Md, _lmul(C, R[g]))
            A[a, 3] = A[d, 3] + Md[:, 0] * c[0] + Md[:, 1] * c[1] + Md[:, 2] * c[2]
        A[a, :3] = M.transpose(1, 0, 2)
    return (plan["q"] @ A.reshape(-1, 3 * T)).reshape(-1, 3, T)


_OFFSETS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cached_rest_offsets(body, shape: torch.Tensor) -> dict[int, np.ndarray]:
    """:func:`rest_offsets` computed once per (body model, shape) in this process."""
    key = tuple(np.asarray(shape, np.float64).ravel().tolist())
    per_body = _OFFSETS.setdefault(body, {})
    if key not in per_body:
        per_body[key] = rest_offsets(body, shape)
    return per_body[key]


def _sole_vertices(body, shape, k: int = 30) -> np.ndarray:
    """Vertex ids of the ``k`` lowest rest vertices under each foot (for grounding)."""
    rest = body.rest_vertices(shape).numpy()
    out = []
    for sgn in (1.0, -1.0):
        side = np.flatnonzero(np.sign(rest[:, 2]) == sgn)
        out.append(side[np.argsort(rest[side, 1])[:k]])
    return np.concatenate(out)


def amass_markers(data: dict, body_name: str = "anny", model_dir: str | None = None,
                  face_forward: bool = True, ground: bool | None = None,
                  method: str = "points") -> tuple[list[str], np.ndarray, dict]:
    """Virtual markers of an AMASS sequence (``data`` from :func:`odahgen.motion.amass.read_amass`).

    Returns (marker names, markers (T, M, 3) m in the OpenSim frame, info). ``info`` has
    ``body_model``, ``body_gender``, ``betas_used`` (SMPL-X: how many of the file's betas shape
    the body), ``body_shape`` (the shape vector used), ``ground_shift_m`` and
    ``static_markers`` ((M, 3) nested lists, m: the same markers on the same body in its rest
    pose, the subject's static trial to scale a skeleton with). ``body_name``
    "anny" (default) or "smplx" (needs ``model_dir``). ``ground`` (default: anny only) shifts
    the whole sequence vertically so the lowest foot-sole vertices rest on y = 0.
    ``method``: "points" (default) poses only the marker and sole points, in float64 chunks
    of frames, from the rotation matrices; "mesh" poses the whole mesh with
    :meth:`BodyModel.forward` from the axis-angle pose (the reference; slow, for checks).
    """
    from odahgen.body import load_body_model, load_layout, marker_points, rigid_marker_bones, static_trial

    if method not in ("points", "mesh"):
        raise OdahgenError(f"amass: method must be 'points' or 'mesh', got {method!r}")
    gender = data.get("gender") or "neutral"
    poses = np.asarray(data["poses"], np.float64)
    if body_name == "smplx":
        if not model_dir:
            raise OdahgenError("amass: body 'smplx' needs model_dir (the folder with your SMPLX_*.npz)")
        gender = _smplx_gender(model_dir, gender)
        body = load_body_model("smplx", model_dir=model_dir, gender=gender)  # cached per process
        betas = np.zeros(body.n_shape)
        b = np.asarray(data.get("betas", np.zeros(0)), np.float64).reshape(-1)[: body.n_shape]
        betas[: len(b)] = b  # the subject's own shape (its first n_shape betas)
        shape = torch.as_tensor(betas, dtype=torch.float32)[None]
        extra = {"body_gender": gender, "betas_used": int(len(b))}
        trans = _smplx_trans(body, shape, data["trans"])
        ground = False if ground is None else ground
    elif body_name == "anny":
        body = load_body_model("anny")  # cached per process
        s = body.default_shape().clone()
        s[0] = {"male": 1.0, "female": 0.0}.get(gender, 0.5)  # anny's gender phenotype
        shape = s[None]
        offsets = cached_rest_offsets(body, shape)
        extra = {"body_gender": gender, "betas_used": 0}
        trans = np.asarray(data["trans"], np.float64) @ RT.ZUP_TO_OPENSIM.T
        ground = True if ground is None else ground
    else:
        raise OdahgenError(f"amass: unknown body model {body_name!r}; choose anny or smplx")
    layout = load_layout(body)
    names, idx, w = marker_points(layout)
    rigid = rigid_marker_bones(body, layout, names)  # bony landmarks ride their bone
    soles = _sole_vertices(body, shape[0])
    pidx = np.concatenate([idx, np.pad(soles[:, None], ((0, 0), (0, idx.shape[1] - 1)))])
    pw = np.concatenate([w, np.pad(np.ones((len(soles), 1), np.float32), ((0, 0), (0, w.shape[1] - 1)))])
    M = len(names)
    if method == "points":
        with torch.no_grad():
            prep = body.prepare_points(shape, pidx, pw, rigid_bones=np.concatenate([rigid, np.full(len(soles), -1)]))
        plan = _fk_plan(body, prep["frames"][0].double().numpy(), prep["q"].double().numpy())
        rest = _rest_frames(body, shape) if body_name == "anny" else None
        mk, sole_y = np.empty((len(poses), M, 3)), np.empty(len(poses))
        for a in range(0, len(poses), CHUNK):  # chunks bound the memory of long recordings
            p = poses[a:a + CHUNK]
            if body_name == "anny":
                R = _anny_local_rotations(body, rest, _smpl_world_soa(p), offsets)
            else:
                R = _smplx_local_rotations(p)
            pts = _pose_points(plan, R, np.ascontiguousarray(trans[a:a + CHUNK].T))
            mk[a:a + CHUNK] = pts[:M].transpose(2, 0, 1)
            sole_y[a:a + CHUNK] = pts[M:, 1].min(axis=0)
    else:
        if body_name == "anny":
            pose, _ = anny_pose_from_smpl(body, shape, poses, data["trans"], offsets=offsets)
        else:
            pose, _ = smplx_pose_from_smpl(body, shape, poses, data["trans"])
        ti, wi = torch.as_tensor(pidx), torch.as_tensor(pw, dtype=torch.float64)
        rows = np.flatnonzero(rigid >= 0)
        with torch.no_grad():  # rigid landmarks: their rest place carried by their bone
            rest_pts = (body.rest_vertices(shape[0]).double()[ti[rows]] * wi[rows, :, None]).sum(1)
        rest_h = torch.cat([rest_pts, torch.ones(len(rows), 1, dtype=torch.float64)], 1)
        out = []
        with torch.no_grad():
            for a in range(0, len(pose), 500):
                p_ = torch.as_tensor(pose[a:a + 500], dtype=torch.float32)
                t_ = torch.as_tensor(trans[a:a + 500], dtype=torch.float32)
                v = body.forward(shape, p_, t_).double()
                pts_ = (v[:, ti] * wi[None, :, :, None]).sum(2)
                A = body.bone_transforms(shape, p_, t_).double()[:, torch.as_tensor(rigid[rows])]  # (B, R, 4, 4)
                pts_[:, rows] = (A[..., :3, :] @ rest_h[None, :, :, None])[..., 0]
                out.append(pts_.numpy())
        pts = np.concatenate(out)
        mk, sole_y = pts[:, :M], pts[:, M:, 1].min(axis=1)
    if ground:
        dy = float(np.quantile(sole_y, 0.02))
        mk[..., 1] -= dy
    if face_forward:
        Ry = RT.heading_rotation(poses[:1])
        mk = (mk.reshape(-1, 3) @ Ry.T).reshape(mk.shape)
        centre = mk[0].mean(axis=0)
        mk[..., 0] -= centre[0]
        mk[..., 2] -= centre[2]
    static = static_trial(body, shape[0].numpy(), layout, names, frames=1).positions[0]
    return names, mk, {"body_model": body.name, "ground_shift_m": float(dy) if ground else 0.0, **extra,
                       "body_shape": [round(float(v), 6) for v in shape[0]],
                       "static_markers": np.round(static, 6).tolist()}


def _smplx_gender(model_dir: str, gender: str) -> str:
    """The file's gender when the user has that SMPL-X model (``SMPLX_<GENDER>.npz`` in
    ``model_dir``), else neutral (many users have only SMPLX_NEUTRAL.npz)."""
    if gender != "neutral" and os.path.isdir(model_dir):
        if not os.path.isfile(os.path.join(model_dir, f"SMPLX_{gender.upper()}.npz")) and \
                os.path.isfile(os.path.join(model_dir, "SMPLX_NEUTRAL.npz")):
            return "neutral"
    return gender
