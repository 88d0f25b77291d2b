"""Virtual markers on a body mesh: every marker of the skeleton's marker set as a fixed
weighted sum of mesh vertices (a surface vertex for landmarks and clusters, a small
non-negative vertex combination for joint centres), with its OpenSim body and class.

Layouts live in ``assets/markers/<body>.json``::

    {"body_model": "anny", "n_vertices": 13718, "shape": [...],
     "markers": {"RASI": {"body": "pelvis", "class": "bony", "vertices": [i, ...],
                          "weights": [w, ...]}, ...}}

How a layout is built (:func:`build_layout`): the built-in OpenSim model at its default pose
gives every marker's place relative to its body's proximal and distal joint centres; the
same two joints of the body model (its rest mesh, default shape) map that place onto the
mesh by a similarity transform (segment direction + length ratio); surface markers then
snap to the nearest vertex of their segment (and neighbouring segments), joint-centre
markers become a sparse non-negative vertex combination that reproduces the body model's
own joint. :func:`refine_layout` then moves the markers to where the skeleton, scaled to the
body, has them (the body model's rig joints are not the skeleton's). The picture from
``odahgen body markers --render OUT.png`` lets a person check it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from odahgen.body.base import BodyModel
from odahgen.body.sampling import random_poses, random_shapes
from odahgen.body.sparse import fit_sparse_weights
from odahgen.errors import OdahgenError

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "markers"

# OpenSim body -> (proximal joint, distal joint) of the segment frame used for transfer.
# Joint keys are BodyModel.joint_bones keys; "mid_hip"/"mid_shoulder" are side averages.
_SEGMENT_ANCHORS = {
    "pelvis": ("mid_hip", "back"),
    "torso": ("mid_hip", "mid_shoulder"),
    "femur": ("hip", "walker_knee"),
    "patella": ("hip", "walker_knee"),
    "tibia": ("walker_knee", "ankle"),
    "talus": ("ankle", "mtp"),
    "calcn": ("ankle", "mtp"),
    "toes": ("ankle", "mtp"),
    "humerus": ("acromial", "elbow"),
    "ulna": ("elbow", "radius_hand"),
    "radius": ("elbow", "radius_hand"),
    "hand": ("radius_hand", "hand_end"),
}
# OpenSim body (side-less) -> OpenSim body whose child joint is the model joint above
_GENERIC_JOINT_BODY = {
    "hip": "femur", "walker_knee": "tibia", "ankle": "talus", "mtp": "toes", "acromial": "humerus",
    "elbow": "ulna", "radius_hand": "hand", "back": "torso",
}
# which neighbouring segments a surface marker may snap to
_NEIGHBOURS = {
    "pelvis": ("pelvis", "torso"), "torso": ("torso", "pelvis"),
    "femur": ("femur", "tibia"), "patella": ("femur", "tibia"), "tibia": ("tibia", "femur", "calcn"),
    "talus": ("calcn", "tibia"), "calcn": ("calcn", "tibia", "toes"), "toes": ("toes", "calcn"),
    "humerus": ("humerus", "ulna"), "ulna": ("ulna", "humerus", "hand"), "radius": ("radius", "hand"),
    "hand": ("hand",),
}
# joint-centre markers -> model joint
_JC_MARKER_JOINT = {"HJC": "hip", "KJC": "walker_knee", "AJC": "ankle", "SJC": "acromial",
                    "EJC": "elbow", "WJC": "radius_hand"}


def _split(body: str) -> tuple[str, str]:
    return (body[:-2], body[-1]) if body.endswith(("_r", "_l")) else (body, "")


def _generic_model():
    """Default-pose positions of the built-in OpenSim model: joint centres by body, markers."""
    from odahgen.skeleton.fk import load_tree

    tree = load_tree("builtin")
    R, p, jc = tree.forward(tree.coord_default[None])
    mk = tree.markers(R, p)[0]
    return tree, {b: jc[0, i] for i, b in enumerate(tree.body_names)}, R[0], dict(zip(tree.marker_names, mk))


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking direction a to direction b (3x3)."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(a @ b)
    if np.linalg.norm(v) < 1e-9:
        return np.eye(3) if c > 0 else -np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k * (1 / (1 + c))


def _model_joint(joints: dict[str, np.ndarray], key: str, side: str) -> np.ndarray:
    if key == "mid_hip":
        return 0.5 * (joints["hip_r"] + joints["hip_l"])
    if key == "mid_shoulder":
        return 0.5 * (joints["acromial_r"] + joints["acromial_l"])
    return joints[f"{key}_{side}"] if side else joints[key]


def _generic_joint(gj: dict[str, np.ndarray], R: np.ndarray, names: list[str], key: str, side: str) -> np.ndarray:
    s = side or "r"
    if key == "mid_hip":
        return 0.5 * (gj["femur_r"] + gj["femur_l"])
    if key == "mid_shoulder":
        return 0.5 * (gj["humerus_r"] + gj["humerus_l"])
    if key == "hand_end":
        b = f"hand_{s}"
        return gj[b] + R[names.index(b)] @ np.array([0.0, -0.08, 0.0])
    body = _GENERIC_JOINT_BODY[key]
    return gj[body] if body == "torso" else gj[f"{body}_{s}"]


def vertex_segments(body: BodyModel) -> np.ndarray:
    """(V,) object array: the OpenSim body ("pelvis", "femur_r", ...) of each mesh vertex, from
    its dominant skinning bone through ``body.segment_bones`` ("" where no segment claims it)."""
    bone_idx = {n: i for i, n in enumerate(body.bone_names)}
    seg_of_bone = np.full(len(body.bone_names), "", dtype=object)
    for seg, bones in body.segment_bones.items():
        for b in bones:
            if not seg_of_bone[bone_idx[b]]:
                seg_of_bone[bone_idx[b]] = seg
    return seg_of_bone[np.argmax(body.skinning_weights, axis=1)]


def build_layout(body: BodyModel, shape=None) -> dict:
    """Place every marker of the built-in marker set on ``body`` (see module docstring)."""
    tree, gj, R, gmk = _generic_model()
    from odahgen.skeleton.markers import MARKER_BODY, MARKER_CLASS

    shape = body.default_shape() if shape is None else torch.as_tensor(shape, dtype=torch.float32)
    rest = body.rest_vertices(shape).numpy().astype(np.float64)
    joints = {k: v[0].numpy().astype(np.float64) for k, v in body.joint_positions(shape).items()}
    vseg = vertex_segments(body)
    markers = {}
    for name in tree.marker_names:
        obody = MARKER_BODY.get(name, tree.body_names[tree.marker_body[tree.marker_names.index(name)]])
        cls = MARKER_CLASS.get(name, "bony")
        base, side = _split(obody)
        jc_key = next((j for suf, j in _JC_MARKER_JOINT.items() if name[1:] == suf), None)
        if cls == "joint_centre" and jc_key is not None:
            target = joints[f"{jc_key}_{side or name[0].lower()}"]
            ids, w = _joint_combination(body, shape, jc_key + "_" + (side or name[0].lower()), target, rest, fit_sparse_weights)
            markers[name] = {"body": obody, "class": cls, "vertices": ids, "weights": w}
            continue
        pk, dk = _SEGMENT_ANCHORS[base]
        gp, gd = _generic_joint(gj, R, tree.body_names, pk, side), _generic_joint(gj, R, tree.body_names, dk, side)
        mp, md = _model_joint(joints, pk, side), _model_joint(joints, dk, side)
        if base == "pelvis":  # width axis: hips
            gp_, gd_ = gj["femur_l"], gj["femur_r"]
            mp_, md_ = joints["hip_l"], joints["hip_r"]
            rot = _rotation_between(gd_ - gp_, md_ - mp_)
            scale = np.linalg.norm(md_ - mp_) / np.linalg.norm(gd_ - gp_)
        else:
            rot = _rotation_between(gd - gp, md - mp)
            scale = np.linalg.norm(md - mp) / np.linalg.norm(gd - gp)
        pred = mp + scale * rot @ (gmk[name] - gp)
        allowed = {f"{n}_{side}" if side else n for n in _NEIGHBOURS[base]}
        cand = np.flatnonzero(np.isin(vseg, list(allowed)))
        if len(cand) == 0:
            raise OdahgenError(f"{body.name}: no vertices for segment {obody} (marker {name})")
        i = int(cand[np.argmin(np.linalg.norm(rest[cand] - pred, axis=1))])
        if name in ("HEADTOP", "FHEAD"):  # head landmarks from the head's own extremes
            head = cand[np.abs(rest[cand, 2] - mp[2]) < 0.02]
            top = rest[head, 1].max()
            if name == "HEADTOP":
                i = int(head[np.argmax(rest[head, 1])])
            else:
                band = head[(rest[head, 1] < top - 0.05) & (rest[head, 1] > top - 0.09)]
                i = int(band[np.argmax(rest[band, 0])]) if len(band) else i
        markers[name] = {"body": obody, "class": cls, "vertices": [i], "weights": [1.0],
                         "snap_mm": round(float(np.linalg.norm(rest[i] - pred)) * 1000, 1)}
    return {
        "body_model": body.name,
        "n_vertices": body.n_vertices,
        "shape": [float(x) for x in shape],
        "method": "transfer from the built-in OpenSim model's default pose by segment similarity, "
        "snap to the nearest vertex of the segment; joint centres as non-negative vertex combinations",
        "markers": markers,
    }


def _joint_combination(body, shape, joint_key, target, rest, fit) -> tuple[list[int], list[float]]:
    """A sparse non-negative vertex combination (weights sum to 1) reproducing the body
    model's joint ``joint_key`` over a few random shapes and poses."""
    cand = np.argsort(np.linalg.norm(rest - target, axis=1))[:80]
    rng = np.random.default_rng(0)
    lo, hi = body.shape_bounds()
    shapes = [torch.as_tensor(shape)] + [lo + (hi - lo) * torch.as_tensor(rng.uniform(0.25, 0.75, body.n_shape), dtype=torch.float32) for _ in range(3)]
    A, b = [], []
    for s in shapes:
        pose = torch.as_tensor(random_poses(body, 8, rng, amount=0.4))
        pose[:, :3] = 0
        trans = torch.zeros(8, 3)
        with torch.no_grad():
            v = body.forward(s, pose, trans, vertex_ids=torch.as_tensor(cand))  # (8, K, 3)
            j = body.joint_positions(s, pose, trans)[joint_key]  # (8, 3)
        A.append(v.numpy().transpose(0, 2, 1))
        b.append(j.numpy())
    w = fit(np.concatenate(A).reshape(-1, len(cand)), np.concatenate(b).reshape(-1), max_nonzero=12)
    keep = np.flatnonzero(w > 1e-6)
    return [int(cand[k]) for k in keep], [float(w[k]) for k in keep]


def _skeleton_targets(body: BodyModel, layout: dict, shape: np.ndarray, poses: np.ndarray, generic):
    """Where the scaled skeleton puts its own markers on one subject.

    The subject's rest-pose virtual markers scale ``generic`` (as the jobs pipeline does);
    IK (no marker registration) of that scaled model on the markers of ``poses (N, P)`` (the
    rest pose first) gives the skeleton's markers at the model's anatomical places. Returns
    (posed vertices (N, V, 3) float32 m, skeleton markers (N, M, 3) m in layout order, IK
    marker RMS (N,) m)."""
    from odahgen.io.mocap import MarkerData
    from odahgen.skeleton.ik import run_ik_tree
    from odahgen.skeleton.scale import scale_subject, scaled_tree

    names = list(layout["markers"])
    s = torch.as_tensor(np.asarray(shape), dtype=torch.float32)
    with torch.no_grad():
        v = body.forward(s, torch.as_tensor(poses), torch.zeros(len(poses), 3)).numpy()
    mk = markers_from_vertices(v, layout, names)
    static = MarkerData(names, np.repeat(mk[:1], 10, axis=0), 60.0)
    _, sc = scale_subject(generic, static, source=f"{body.name} layout", measurements=False)
    plain = scaled_tree(generic, sc.scales)  # the model's marker places, scaled, not registered
    ik = run_ik_tree(plain, MarkerData(names, mk, 60.0), register=False, workers=1, source="layout")
    R, p, _ = plain.forward(ik.coords)
    idx = [plain.marker_names.index(n) for n in names]
    return v, plain.markers(R, p)[:, idx], ik.marker_rms


def refine_layout(body: BodyModel, layout: dict, rounds: int = 3, n_subjects: int = 6, n_poses: int = 6,
                  seed: int = 0, radius: float = 0.06, progress=None) -> dict:
    """Move the markers of ``layout`` to where the scaled skeleton has them.

    The similarity transfer of :func:`build_layout` puts a landmark where the generic model
    has it relative to two joints of the body model's *rig*; where the rig's joints are not the
    skeleton's (anny's hip bone heads are ~20 cm apart, the skeleton's hip centres ~15 cm),
    the scaled skeleton cannot reach the markers (2-4 cm static residuals at the pelvis, sternum,
    shoulders), and every IK of the body's markers inherits that. Each round: for
    ``n_subjects`` body shapes x (rest pose + ``n_poses`` random poses), scale the skeleton
    to the subject's markers and solve IK (:func:`_skeleton_targets`); then each surface marker
    moves to the vertex of its segment (within ``radius`` m of its place) closest on average
    to the skeleton's marker, and each joint-centre marker becomes the non-negative vertex
    combination (sum 1, at most 12) that best reproduces the skeleton's joint centre.
    Alternating these two least-squares steps lowers the same marker mismatch every round.
    Returns a new layout (``refine`` records the mean mismatch per round, mm)."""
    from odahgen.skeleton.fk import load_tree

    generic = load_tree("builtin")
    rng = np.random.default_rng(seed)
    shapes = random_shapes(body, n_subjects, rng, spread=0.6)
    shapes[0] = np.asarray(layout.get("shape") or body.default_shape().numpy(), dtype=np.float32)
    poses = []
    for _ in range(n_subjects):
        p = random_poses(body, n_poses + 1, rng, amount=0.3)
        p[:, :3] = 0.0
        p[0] = 0.0  # the rest (static) pose
        poses.append(p)
    vseg = vertex_segments(body)
    layout = json.loads(json.dumps(layout))  # a copy
    names = list(layout["markers"])
    history = []
    for r in range(rounds):
        V, T, rms = [], [], []
        for k in range(n_subjects):
            v, t, e = _skeleton_targets(body, layout, shapes[k], poses[k], generic)
            V.append(v)
            T.append(t)
            rms.append(e)
        V, T = np.concatenate(V), np.concatenate(T)  # (N, V, 3), (N, M, 3)
        cur = markers_from_vertices(V, layout, names)
        before = float(np.linalg.norm(cur - T, axis=2).mean() * 1000)
        rest0 = V[0]
        for m, name in enumerate(names):
            spec = layout["markers"][name]
            base, side = _split(spec["body"])
            if spec["class"] == "joint_centre":
                cand = np.argsort(np.linalg.norm(V - T[:, m : m + 1], axis=2).mean(0))[:80]
                A = V[:, cand].transpose(0, 2, 1).reshape(-1, len(cand))
                w = fit_sparse_weights(A, T[:, m].reshape(-1), max_nonzero=12)
                keep = np.flatnonzero(w > 1e-6)
                spec["vertices"] = [int(cand[i]) for i in keep]
                spec["weights"] = [float(w[i]) for i in keep]
                spec.pop("snap_mm", None)
                continue
            allowed = {f"{n}_{side}" if side else n for n in _NEIGHBOURS[base]}
            here = rest0[spec["vertices"][0]]
            cand = np.flatnonzero(np.isin(vseg, list(allowed)) & (np.linalg.norm(rest0 - here, axis=1) < radius))
            d = np.linalg.norm(V[:, cand] - T[:, m : m + 1], axis=2).mean(0)
            i = int(cand[np.argmin(d)])
            spec["vertices"], spec["weights"] = [i], [1.0]
            spec["snap_mm"] = round(float(d.min()) * 1000, 1)
        after = float(np.linalg.norm(markers_from_vertices(V, layout, names) - T, axis=2).mean() * 1000)
        history.append({"round": r + 1, "mismatch_before_mm": round(before, 2), "mismatch_after_mm": round(after, 2),
                         "ik_rms_mm": round(float(np.nanmean(np.concatenate(rms))) * 1000, 2)})
        if progress:
            progress(f"refine round {r + 1}/{rounds}: skeleton-marker mismatch {before:.1f} -> {after:.1f} mm "
                     f"(IK rms {history[-1]['ik_rms_mm']:.1f} mm)")
    layout["method"] = layout.get("method", "") + "; refined: markers moved to the scaled skeleton's marker places"
    layout["refine"] = history
    return symmetrize_layout(body, layout)


def mirror_vertices(body: BodyModel, shape=None, tol_m: float = 1e-4) -> np.ndarray:
    """(V,) int64: each vertex's mirror image across the sagittal plane (OpenSim z -> -z) on the
    rest mesh of ``shape``; an error if the mesh is not mirror-symmetric to ``tol_m``."""
    from scipy.spatial import cKDTree

    shape = body.default_shape() if shape is None else torch.as_tensor(shape, dtype=torch.float32)
    v = body.rest_vertices(shape).numpy().astype(np.float64)
    d, j = cKDTree(v).query(v * np.array([1.0, 1.0, -1.0]))
    if d.max() > tol_m:
        raise OdahgenError(f"{body.name}: the rest mesh is not mirror-symmetric ({d.max() * 1000:.2f} mm); "
                           "cannot symmetrise its marker layout")
    return j.astype(np.int64)


def _partner(name: str, names) -> str | None:
    """The other side's marker of a right/left pair (RASI <-> LASI), the marker itself for a
    midline one (C7), None for a one-sided marker without a partner."""
    if name[:1] in ("R", "L"):
        other = {"R": "L", "L": "R"}[name[0]] + name[1:]
        return other if other in names else None
    return name


def symmetrize_layout(body: BodyModel, layout: dict) -> dict:
    """A copy of ``layout`` in which every right/left marker pair mirrors the other and every
    midline marker its own mirror image: each becomes the average (vertex combination, weights
    halved and merged) of itself and its mirrored partner. Refining each side on its own random
    poses left anny's layout asymmetric by up to 14 mm (tibial tuberosity; hip joint centre
    8 mm, radial styloid 6 mm), which turned into left/right differences of the IK labels."""
    mirror = mirror_vertices(body, layout.get("shape"))
    out = json.loads(json.dumps(layout))
    names = set(layout["markers"])
    for name, spec in layout["markers"].items():
        other = _partner(name, names)
        if other is None:
            continue
        mate = layout["markers"][other]
        comb: dict[int, float] = {}
        for v, w in zip(spec["vertices"], spec["weights"]):
            comb[int(v)] = comb.get(int(v), 0.0) + 0.5 * float(w)
        for v, w in zip(mate["vertices"], mate["weights"]):
            comb[int(mirror[v])] = comb.get(int(mirror[v]), 0.0) + 0.5 * float(w)
        new = out["markers"][name]
        new["vertices"], new["weights"] = list(comb), [round(w, 12) for w in comb.values()]
        if len(comb) > 1 or new["vertices"] != spec["vertices"]:
            new.pop("snap_mm", None)
    out["method"] = layout.get("method", "") + "; symmetrised: each right/left pair the mirror of the other"
    return out


# ---------------------------------------------------------------------------------------
def layout_path(body_name: str) -> Path:
    return ASSET_DIR / f"{body_name}.json"


def load_layout(body: BodyModel | str, path: str | os.PathLike | None = None) -> dict:
    """The marker layout of ``body`` (from ``assets/markers/<name>.json`` or ``path``).

    For a body model with no shipped layout (smplx: its files are the user's), the layout is
    built from the model with :func:`build_layout` when a model object is given.
    """
    name = body if isinstance(body, str) else body.name
    p = Path(path) if path else layout_path(name)
    if not p.is_file():
        if isinstance(body, BodyModel) and path is None:
            return build_layout(body)
        raise OdahgenError(f"{p}: marker layout not found")
    try:
        layout = json.loads(p.read_text())
        markers = layout["markers"]
        n = int(layout["n_vertices"])
    except (ValueError, KeyError, TypeError) as err:
        raise OdahgenError(f"{p}: not a marker layout ({type(err).__name__}: {err})") from err
    if isinstance(body, BodyModel) and n != body.n_vertices:
        raise OdahgenError(f"{p}: layout is for {n} vertices, the {name} mesh has {body.n_vertices}")
    for m, spec in markers.items():
        if len(spec["vertices"]) != len(spec["weights"]) or not spec["vertices"]:
            raise OdahgenError(f"{p}: marker {m} has no or mismatched vertices/weights")
    return layout


def marker_points(layout: dict, names=None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, idx (M, K) int64, weights (M, K) float32) of the layout's markers, zero-padded."""
    names = list(layout["markers"]) if names is None else list(names)
    missing = [n for n in names if n not in layout["markers"]]
    if missing:
        raise OdahgenError(f"markers {missing} are not in the {layout.get('body_model')} layout")
    K = max(len(layout["markers"][n]["vertices"]) for n in names)
    idx = np.zeros((len(names), K), dtype=np.int64)
    w = np.zeros((len(names), K), dtype=np.float32)
    for i, n in enumerate(names):
        v, ww = layout["markers"][n]["vertices"], layout["markers"][n]["weights"]
        idx[i, : len(v)] = v
        w[i, : len(v)] = ww
    return names, idx, w


#: OpenSim bodies whose bony landmarks stay skinned (see :func:`rigid_marker_bones`)
SKINNED_SEGMENTS = frozenset({"torso"})
#: joints whose joint-centre markers ride the bone above the joint (see :func:`rigid_marker_bones`)
RIGID_JOINT_CENTRES = ("hip", "walker_knee", "ankle")


def rigid_marker_bones(body: BodyModel, layout: dict, names=None) -> np.ndarray:
    """(M,) int64: the bone each bony landmark (and leg joint centre) of ``layout`` moves rigidly
    with, -1 for the other markers (clusters, arm joint centres, head markers stay skinned).

    A landmark on bone (ASIS, epicondyle, malleolus, styloid) is a point of one rigid body of
    the skeleton, but linear blend skinning moves its vertex with every bone near it: anny's
    ASIS vertex is 27 % lumbar spine, its lateral epicondyle 76 % forearm, its malleoli 70 %
    foot, so in a deep squat or a bent elbow the virtual marker slides 2-4 cm over the bone
    and no skeleton pose can follow it. The bone chosen is, among the bones of the marker's
    own segment (``body.segment_bones``), the one with the largest skinning weight at the
    marker's vertices; -1 where none of them weighs on it. Torso landmarks (sternum, C7,
    clavicle, acromion) stay skinned: the skeleton's torso is one rigid body for what the body
    model bends in a dozen bones (spine, neck, shoulder girdle), and skinning spreads their
    vertices over those bones the way a rigid thorax can best follow (rigid on the clavicle,
    the acromion rises 2-3 cm off a torso that cannot shrug when the arms go up; measured with
    bench/yield.py, a rigid sternum and C7 flag more throw frames than skinned ones).

    The hip, knee and ankle centres (:data:`RIGID_JOINT_CENTRES`) ride the bone above their
    joint (the hip centre the pelvis bone, as the skeleton's is fixed in the pelvis): as skinned
    vertex combinations they drifted along the thigh at full hip flexion (hip-to-knee centre
    distance 35.2-37.6 cm in the generated deep squat), which pulled the pelvis (a female deep
    squat: 16 % of frames flagged by the ASIS at 2.0-2.1 cm -> 0 %). The arm centres stay
    skinned: on the bone above (the shoulder's is the scapula's) the arm motions fitted worse
    (jumping jacks max 2.8 -> 5.2 cm, the deep squat 0 -> 15 % flagged)."""
    names = list(layout["markers"]) if names is None else list(names)
    W = body.skinning_weights  # (V, J)
    index = {b: i for i, b in enumerate(body.bone_names)}
    out = np.full(len(names), -1, dtype=np.int64)
    for m, name in enumerate(names):
        spec = layout["markers"][name]
        joint = _JC_MARKER_JOINT.get(name[1:])
        if spec.get("class") == "joint_centre" and joint in RIGID_JOINT_CENTRES and name[:1] in ("R", "L"):
            bone = body.joint_bones.get(f"{joint}_{name[0].lower()}")
            if bone in index and body.bone_parents[index[bone]] >= 0:
                out[m] = int(body.bone_parents[index[bone]])
            continue
        bones = [index[b] for b in body.segment_bones.get(spec["body"], ()) if b in index]
        if spec.get("class") != "bony" or not bones or spec["body"] in SKINNED_SEGMENTS:
            continue
        w = np.asarray(spec["weights"], np.float64) @ W[np.asarray(spec["vertices"])][:, bones]
        if w.max() > 0:
            out[m] = bones[int(np.argmax(w))]
    return out


def markers_from_vertices(vertices: np.ndarray, layout: dict, names=None) -> np.ndarray:
    """Virtual marker positions (T, M, 3) from mesh vertices (T, V, 3)."""
    _, idx, w = marker_points(layout, names)
    v = np.asarray(vertices)
    return (v[:, idx] * w[None, :, :, None]).sum(2)


def render_layout(body: BodyModel, layout: dict, out_png: str | os.PathLike) -> None:
    """Front / right side / back views of the rest mesh with labelled markers (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shape = torch.as_tensor(layout.get("shape") or body.default_shape(), dtype=torch.float32)
    v = body.rest_vertices(shape).numpy()
    names = list(layout["markers"])
    mk = markers_from_vertices(v[None], layout)[0]
    centre = v.mean(0)
    import trimesh

    normals = trimesh.Trimesh(v, body.faces, process=False).vertex_normals
    # (name, horizontal axis, sign, depth axis, depth sign): OpenSim X fwd, Y up, Z right
    views = [("front", 2, -1, 0, 1), ("right side", 0, 1, 2, 1), ("back", 2, 1, 0, -1)]
    fig, axes = plt.subplots(1, 3, figsize=(21, 11))
    colours = {"bony": "red", "joint_centre": "blue", "cluster": "green"}
    for ax, (title, h, hs, d, ds) in zip(axes, views):
        depth = ds * (v[:, d] - centre[d])
        order = np.argsort(depth)
        ax.scatter(hs * v[order, h], v[order, 1], s=0.4, c=depth[order], cmap="Greys", vmin=-0.4, vmax=0.25)
        for i, n in enumerate(names):
            spec = layout["markers"][n]
            nrm = normals[spec["vertices"][0]]
            view = np.zeros(3)
            view[d] = ds  # direction from the body towards the camera
            facing = spec["class"] == "joint_centre" or float(nrm @ view) > -0.1
            if not facing:
                continue
            c = colours.get(layout["markers"][n]["class"], "red")
            ax.scatter([hs * mk[i, h]], [mk[i, 1]], s=18, c=c, zorder=3)
            ax.annotate(n, (hs * mk[i, h], mk[i, 1]), fontsize=6.5, color=c, xytext=(3, 2), textcoords="offset points")
        ax.set_title(f"{body.name}: {title}")
        ax.set_aspect("equal")
        ax.axis("off")
    fig.suptitle(f"{body.name} virtual markers ({len(names)}): red bony, green cluster, blue joint centre")
    fig.tight_layout()
    from odahgen.io import atomic_path

    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
