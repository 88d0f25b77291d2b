"""A posed anny body straight from the ``anny`` package, for tests and benchmarks (formerly
``odahgen.scene.demo_body``).

It is NOT the body stage (``odahgen.body``): no fitting to a skeleton, just a few bone
rotations that make a walk-like or squat-like sequence. Vertices are returned in the
OpenSim frame (anny is Z up, -Y forward, +X left: x_osim = -y, y_osim = z, z_osim = -x,
the same convention ``odahgen.body`` uses), with the feet on the floor (y = 0).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from odahgen.errors import OdahgenError

_ANNY_TO_OPENSIM = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])

#: approximate joint centres: name -> anny bone whose head is the joint
JOINT_BONES = {
    "pelvis": "spine05", "hip_l": "upperleg01.L", "hip_r": "upperleg01.R",
    "knee_l": "lowerleg01.L", "knee_r": "lowerleg01.R", "ankle_l": "foot.L", "ankle_r": "foot.R",
    "back": "spine02", "neck": "neck01", "head": "head",
    "shoulder_l": "upperarm01.L", "shoulder_r": "upperarm01.R",
    "elbow_l": "lowerarm01.L", "elbow_r": "lowerarm01.R", "wrist_l": "wrist.L", "wrist_r": "wrist.R",
}


@functools.lru_cache(maxsize=1)
def _model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import anny

        return anny.create_fullbody_model(remove_unattached_vertices=True, triangulate_faces=True)


def _rot_x(angle: np.ndarray) -> np.ndarray:
    """(T,) rad -> (T, 4, 4) rotations about the bone-local X axis."""
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros(angle.shape + (4, 4))
    m[:, 0, 0] = 1
    m[:, 1, 1], m[:, 1, 2], m[:, 2, 1], m[:, 2, 2] = c, -s, s, c
    m[:, 3, 3] = 1
    return m


def demo_sequence(kind: str = "walk", frames: int = 10, fps: float = 60.0) -> dict:
    """A posed anny sequence.

    Returns ``{"vertices": (T, V, 3) float32 m (OpenSim frame), "faces": (F, 3) int64,
    "uv": (F, 3, 2) float32, "weights": (V, J) float32, "bone_names": list[str],
    "joints": (T, K, 3) float32 m approximate joint centres, "joint_names": list[str]}``.
    ``kind``: "walk" (legs and arms swing, moving forward 1.2 m/s), "squat" (hips and knees
    flex to ~90 deg and back) or "stand".
    """
    import torch

    if kind not in ("walk", "squat", "stand"):
        raise OdahgenError(f"unknown demo motion {kind!r}; choose walk, squat or stand")
    model = _model()
    labels = list(model.bone_labels)
    T = int(frames)
    t = np.arange(T) / fps
    pose = {}
    forward = np.zeros(T)
    if kind == "walk":
        ph = 2 * np.pi * 1.0 * t
        swing = 0.45 * np.sin(ph)
        pose["upperleg01.L"] = _rot_x(swing)
        pose["upperleg01.R"] = _rot_x(-swing)
        pose["lowerleg01.L"] = _rot_x(0.6 * np.clip(np.sin(ph - 1.2), 0, None))
        pose["lowerleg01.R"] = _rot_x(0.6 * np.clip(np.sin(ph - 1.2 + np.pi), 0, None))
        pose["upperarm01.L"] = _rot_x(-0.3 * np.sin(ph))
        pose["upperarm01.R"] = _rot_x(0.3 * np.sin(ph))
        forward = 1.2 * t
    elif kind == "squat":
        depth = 0.5 * (1 - np.cos(2 * np.pi * t / max(t[-1], 1e-6))) if T > 1 else np.zeros(1)
        hip, knee = -1.5 * depth, 1.7 * depth
        for s in (".L", ".R"):
            pose["upperleg01" + s] = _rot_x(hip)
            pose["lowerleg01" + s] = _rot_x(knee)
            pose["foot" + s] = _rot_x(-0.4 * depth)
            pose["upperarm01" + s] = _rot_x(1.2 * depth)
    params = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in pose.items()}
    with torch.no_grad():
        out = model(pose_parameters=params or None, return_bone_ends=True)
    verts = out["vertices"].double().numpy()
    heads = out["bone_heads"].double().numpy()
    if verts.shape[0] == 1 and T > 1:
        verts = np.repeat(verts, T, 0)
        heads = np.repeat(heads, T, 0)
    verts = verts @ _ANNY_TO_OPENSIM.T
    heads = heads @ _ANNY_TO_OPENSIM.T
    floor = verts[..., 1].min(1)  # keep the lowest point on the floor every frame
    shift = np.stack([forward, -floor, np.zeros(T)], 1)[:, None]
    verts = verts + shift
    heads = heads + shift
    faces = model.faces.numpy().astype(np.int64)
    uv = None
    if model.texture_coordinates is not None and model.face_texture_coordinate_indices is not None:
        uv = model.texture_coordinates.numpy()[model.face_texture_coordinate_indices.numpy()].astype(np.float32)
    W = np.zeros((verts.shape[1], len(labels)), dtype=np.float32)
    idx = model.vertex_bone_indices.numpy()
    np.add.at(W, (np.repeat(np.arange(idx.shape[0]), idx.shape[1]), idx.ravel()),
              model.vertex_bone_weights.numpy().ravel())
    jn = list(JOINT_BONES)
    joints = heads[:, [labels.index(JOINT_BONES[j]) for j in jn]]
    return {"vertices": verts.astype(np.float32), "faces": faces, "uv": uv, "weights": W,
            "bone_names": labels, "joints": joints.astype(np.float32), "joint_names": jn}


def dressed_walk(frames: int, width: int = 320, height: int = 240, trial: str = "vis_walk"):
    """:func:`demo_sequence` walk dressed in its scene's garments, for visibility tests.
    Returns (seq, scene, meshes): ``meshes`` [(vertices (T, V, 3) m, faces)], body first."""
    from odahgen.config import load_config
    from odahgen.scene.garments import dress, garment_regions
    from odahgen.scene.sample import sample_scene

    cfg = load_config("demo", [f"render.width={width}", f"render.height={height}"])
    seq = demo_sequence("walk", frames=frames)
    regions = garment_regions(weights=seq["weights"], bone_names=seq["bone_names"])
    scene = sample_scene(cfg, trial, seq["vertices"])
    garments = dress(scene, seq["vertices"], seq["faces"], regions)
    return seq, scene, [(seq["vertices"], seq["faces"])] + [(g["vertices"], g["faces"]) for g in garments]


def visibility_probes(seq: dict, camera: dict, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points to depth-test (T, k + 2, 3) m and their tolerances (k + 2,) m: ``k`` random
    vertices pulled 2 % toward the body's centre (just inside the surface: visible or hidden
    by another part), then one far outside ``camera``'s image and one behind it (never visible)."""
    n = seq["vertices"].shape[0]
    idx = np.random.default_rng(seed).choice(seq["vertices"].shape[1], k, replace=False)
    pts = seq["vertices"][:, idx] * 0.98 + 0.02 * seq["vertices"].mean(axis=1, keepdims=True)
    R, t = np.asarray(camera["R"]), np.asarray(camera["t"])
    centre = -R.T @ t
    pts = np.concatenate([pts, np.tile(centre + 50.0 * R[0], (n, 1, 1)), np.tile(centre - 1.0 * R[2], (n, 1, 1))],
                         axis=1)
    return pts, np.full(pts.shape[1], 0.05)
