"""The render bundle: everything the Blender worker needs, written by the core.

Layout of a bundle folder (all geometry already in Blender's frame, Z up, metres)::

    bundle.json          meshes, materials, room, lights, cameras, render settings
    scene.json           the sampled scene in the OpenSim frame (ground-truth cameras)
    meshes/NAME.pc2      per-frame vertices (PC2 point cache, float32)
    meshes/NAME.faces.npy   (F, 3) int32 triangles
    meshes/NAME.uv.npy      (F, 3, 2) float32 per-corner UVs (optional)
    textures/NAME.png    garment and floor textures (sRGB)
    cameras/NAME.lens.npy   (H, W, 2) float32 lens warp of a distorted camera (optional)

Meshes with ``"person": true`` (body, garments) make up the person mask. The body mesh leaves
out the faces wholly under a garment (:func:`odahgen.scene.garments.covered_faces`; their
count is the mesh's ``hidden_faces``); its point cache keeps every vertex.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.io.atomic import atomic_path, atomic_write_json
from odahgen.render.frames import camera_to_blender_matrix, opensim_to_blender
from odahgen.render.pc2 import write_pc2
from odahgen.scene.cameras import distortion_map, render_camera
from odahgen.scene.garments import covered_faces
from odahgen.scene.textures import write_texture

BUNDLE_VERSION = 1


def srgb_to_linear(c) -> list[float]:
    """sRGB in [0, 1] -> linear RGB (what Blender's colour inputs take)."""
    c = np.asarray(c, dtype=np.float64)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin.round(6).tolist()


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, arr)


def _texture(spec: dict, dest: Path) -> str:
    if "user" in spec:
        src = Path(spec["user"])
        if not src.exists():
            raise OdahgenError(f"user texture {src} does not exist")
        target = dest.with_suffix(src.suffix.lower())
        shutil.copyfile(src, target)
        return target.name
    write_texture(spec, dest)
    return dest.name


def _room_meshes(room: dict) -> list[dict]:
    """Floor, four walls and a ceiling as small inline meshes (Blender frame)."""
    cx, _, cz = room["center"]
    hx, hz = room["half_size"]
    h = room["height"]
    x0, x1, z0, z1 = cx - hx, cx + hx, cz - hz, cz + hz
    tile = room["floor"].get("tile_m", 1.0)

    def quad(name, pts, material, uv_scale=None):
        p = opensim_to_blender(np.asarray(pts, dtype=np.float64))
        faces = [[0, 1, 2], [0, 2, 3]]
        rec = {"name": name, "vertices": p.round(6).tolist(), "faces": faces, "material": material}
        if uv_scale:
            q = np.asarray(pts)[:, [0, 2]] / uv_scale
            rec["uv"] = [[q[i].round(6).tolist() for i in f] for f in faces]
        return rec

    # winding: normals face into the room (seen from the cameras)
    if room.get("kind") == "hdri":  # outdoors: the floor only, the HDRI beyond it
        return [quad("floor", [[x0, 0, z1], [x1, 0, z1], [x1, 0, z0], [x0, 0, z0]], "floor", tile)]
    return [
        quad("floor", [[x0, 0, z1], [x1, 0, z1], [x1, 0, z0], [x0, 0, z0]], "floor", tile),
        quad("ceiling", [[x0, h, z0], [x1, h, z0], [x1, h, z1], [x0, h, z1]], "walls"),
        quad("wall_back", [[x0, 0, z0], [x1, 0, z0], [x1, h, z0], [x0, h, z0]], "walls"),
        quad("wall_front", [[x1, 0, z1], [x0, 0, z1], [x0, h, z1], [x1, h, z1]], "walls"),
        quad("wall_left", [[x0, 0, z1], [x0, 0, z0], [x0, h, z0], [x0, h, z1]], "walls"),
        quad("wall_right", [[x1, 0, z0], [x1, 0, z1], [x1, h, z1], [x1, h, z0]], "walls"),
    ]


def _floor_material(floor: dict, out: Path) -> dict:
    """A generated texture (scenes before version 2) or a procedural floor kind (wood, tiles,
    concrete, carpet: sRGB colours -> linear, plank / tile size m)."""
    if "texture" in floor:
        return {"color": [0.8, 0.8, 0.8], "roughness": floor["roughness"],
                "texture": "textures/" + _texture(floor["texture"], out / "textures" / "floor.png")}
    cols = [srgb_to_linear(c) for c in floor["colors"]]
    return {"color": cols[0], "colors": cols, "roughness": floor["roughness"], "texture": None,
            "kind": floor["kind"], "scale_m": floor["scale_m"]}


def worn_material(spec: dict, name: str, out: Path) -> dict:
    """The bundle material of a worn item: a texture (fabric) or a flat colour (shoes, hair),
    linear RGB, with its ``kind`` (fabric / leather / hair / eye) and bump strength for the worker;
    eyes: the iris colour and ``pupil_v`` / ``iris_v``, the UV v of the pupil's and iris's edges."""
    mat = {"color": [1.0, 1.0, 1.0], "roughness": spec.get("roughness", 0.8), "texture": None,
           "kind": spec.get("material", "fabric"), "bump": spec.get("bump", 0.0)}
    if spec.get("texture"):
        mat["texture"] = "textures/" + _texture(spec["texture"], out / "textures" / f"{name}.png")
    elif spec.get("color"):
        mat["color"] = srgb_to_linear(spec["color"])
    if mat["kind"] == "eye":  # iris colour, pupil and iris edges as UV v (polar angle / pi)
        from odahgen.scene.eyes import eye_uv_radii

        mat["color"] = srgb_to_linear(spec["iris_color"])
        mat["pupil_v"], mat["iris_v"] = (round(x, 6) for x in eye_uv_radii(spec))
    return mat


def _span(width: int, height: int, fit: str) -> int:
    """The image dimension Blender's sensor spans (``focal_px``'s rule)."""
    return {"HORIZONTAL": width, "VERTICAL": height}.get(fit.upper(), max(width, height))


def _bundle_camera(c: dict, out: Path) -> dict:
    """A scene camera as the worker builds it. A distorted camera renders its overscanned
    pinhole frame (:func:`odahgen.scene.cameras.render_camera`: the sensor grown with the frame,
    so the focal length in pixels is the same) and carries ``render_size`` [W', H'] px and
    ``lens_map`` (``cameras/NAME.lens.npy``, (H, W, 2) float32, the warp to the output frame)."""
    rec = {"name": c["name"], "matrix_world": camera_to_blender_matrix(c["R"], c["t"]).round(9).tolist(),
           "lens": c["focal_mm"], "sensor_width": c["sensor_width_mm"], "sensor_fit": c["sensor_fit"]}
    if c.get("distortion") is not None and any(float(k) != 0 for k in c["distortion"]):
        rc = render_camera(c)
        grow = _span(rc["width"], rc["height"], c["sensor_fit"]) / _span(c["width"], c["height"], c["sensor_fit"])
        (out / "cameras").mkdir(exist_ok=True)
        _save_npy(out / "cameras" / f"{c['name']}.lens.npy", distortion_map(c).astype(np.float32))
        rec.update(sensor_width=c["sensor_width_mm"] * grow, render_size=[rc["width"], rc["height"]],
                   lens_map=f"cameras/{c['name']}.lens.npy", distortion=list(c["distortion"]))
    return rec


def write_render_bundle(out_dir: str | os.PathLike, body_vertices: np.ndarray, faces: np.ndarray,
                        uv: np.ndarray | None, garments: list[dict], scene: dict, render_config) -> Path:
    """Write a render bundle and return its folder.

    Args:
        out_dir: the bundle folder (created; files in it are replaced).
        body_vertices: (T, V, 3) m, posed body, OpenSim frame.
        faces: (F, 3) int body triangles.
        uv: (F, 3, 2) per-corner body UVs, or None.
        garments: from :func:`odahgen.scene.garments.dress` (``name``, ``vertices (T, Vg, 3)``
            OpenSim frame, ``faces``, ``uv``).
        scene: from :func:`odahgen.scene.sample.sample_scene`.
        render_config: an :class:`odahgen.config.models.RenderConfig`.
    """
    out = Path(out_dir)
    (out / "meshes").mkdir(parents=True, exist_ok=True)
    (out / "textures").mkdir(parents=True, exist_ok=True)
    body_vertices = np.asarray(body_vertices)
    if body_vertices.ndim != 3 or body_vertices.shape[2] != 3:
        raise OdahgenError(f"body vertices must be (T, V, 3), got {body_vertices.shape}")
    T = body_vertices.shape[0]
    rc = render_config
    for c in scene["cameras"]:
        if (c["width"], c["height"]) != (rc.width, rc.height):
            raise OdahgenError(f"scene camera {c['name']} is {c['width']}x{c['height']} but the render "
                               f"config asks for {rc.width}x{rc.height}; resample the scene")

    materials = {
        "skin": {"color": srgb_to_linear(scene["skin"]["color"]), "roughness": scene["skin"]["roughness"],
                 "texture": None, "kind": "skin", "subsurface": scene["skin"].get("subsurface", 0.0)},
        "walls": {"color": srgb_to_linear(scene["room"]["walls"]["color"]),
                  "roughness": scene["room"]["walls"]["roughness"], "texture": None,
                  "kind": scene["room"]["walls"].get("kind")},
        "floor": _floor_material(scene["room"]["floor"], out),
    }
    meshes = []

    def add_mesh(name, verts, f, u, material):
        if verts.shape[0] != T:
            raise OdahgenError(f"mesh {name} has {verts.shape[0]} frames, the body has {T}")
        write_pc2(out / "meshes" / f"{name}.pc2", opensim_to_blender(verts.astype(np.float64)))
        _save_npy(out / "meshes" / f"{name}.faces.npy", np.asarray(f, dtype=np.int32))
        rec = {"name": name, "pc2": f"meshes/{name}.pc2", "faces": f"meshes/{name}.faces.npy",
               "uv": None, "material": material, "person": True, "vertex_count": int(verts.shape[1])}
        if u is not None:
            _save_npy(out / "meshes" / f"{name}.uv.npy", np.asarray(u, dtype=np.float32))
            rec["uv"] = f"meshes/{name}.uv.npy"
        meshes.append(rec)

    # body faces wholly under a garment are left out: they cannot poke through the shell
    hidden = covered_faces(faces, garments) if garments else np.zeros(len(faces), dtype=bool)
    add_mesh("body", body_vertices, np.asarray(faces)[~hidden], None if uv is None else np.asarray(uv)[~hidden],
             "skin")
    meshes[-1]["hidden_faces"] = int(hidden.sum())
    for g in garments:
        spec = g.get("material") or scene["clothing"][g["name"]]
        mat = f"cloth_{g['name']}"
        materials[mat] = worn_material(spec, g["name"], out)
        add_mesh(g["name"], np.asarray(g["vertices"]), g["faces"], g.get("uv"), mat)
        meshes[-1].update(kind=g.get("kind", "garment"), asset=g.get("asset"))

    lights = []
    for lt in scene["lights"]:
        lights.append({"location": opensim_to_blender(np.asarray(lt["position"])).round(6).tolist(),
                       "size": lt["size_m"], "energy": lt["power_w"], "color": lt["color"]})
    cameras = [_bundle_camera(c, out) for c in scene["cameras"]]
    step = int(rc.frame_step)
    bundle = {
        "version": BUNDLE_VERSION,
        "frame": "blender",
        "frames": int(T),
        "render": {"engine": rc.engine, "device": rc.device, "width": rc.width, "height": rc.height,
                   "fps": rc.fps, "samples": rc.samples, "frame_step": step, "crf": rc.crf,
                   "motion_blur": bool(rc.motion_blur), "mask": bool(rc.mask), "depth": bool(rc.depth),
                   "sensor_noise": float(rc.sensor_noise)},
        "meshes": meshes,
        "room": _room_meshes(scene["room"]),
        "materials": materials,
        "lights": lights,
        "world_color": [0.05, 0.05, 0.05],
        "world": scene.get("world"),
        "camera_response": scene.get("camera_response"),
        "cameras": cameras,
    }
    atomic_write_json(out / "scene.json", scene)
    atomic_write_json(out / "bundle.json", bundle)
    return out


def load_bundle(bundle_dir: str | os.PathLike) -> dict:
    """The bundle.json of a bundle folder."""
    path = Path(bundle_dir) / "bundle.json"
    if not path.exists():
        raise OdahgenError(f"{bundle_dir} is not a render bundle (no bundle.json)")
    return json.loads(path.read_text())


def output_frame_count(frames: int, frame_step: int) -> int:
    """Frames in the video of a T-frame bundle rendered every ``frame_step``-th frame."""
    return (int(frames) + int(frame_step) - 1) // int(frame_step)


def person_meshes(bundle_dir: str | os.PathLike) -> list[tuple[np.ndarray, np.ndarray]]:
    """The person as the bundle draws it (the body without the faces under garments, and
    each garment): ``[(vertices (T, V, 3) float64 m, OpenSim frame, faces (F, 3) int32)]``,
    read back from the bundle's point caches (for depth tests of the ground truth)."""
    from odahgen.render.frames import blender_to_opensim
    from odahgen.render.pc2 import read_pc2

    bundle_dir = Path(bundle_dir)
    out = []
    for mesh in load_bundle(bundle_dir)["meshes"]:
        if not mesh.get("person"):
            continue
        verts = blender_to_opensim(read_pc2(bundle_dir / mesh["pc2"]).astype(np.float64))
        faces = np.load(bundle_dir / mesh["faces"], allow_pickle=False)
        out.append((verts, faces))
    return out
