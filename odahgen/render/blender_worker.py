"""odahgen's Blender worker: runs inside Blender (a ``blender`` binary or a Python with bpy).

It imports only bpy, NumPy and the standard library — never the rest of odahgen — so it
runs in the Blender environment (NumPy < 2) apart from the core (NumPy >= 2).

Launch styles (both supported):
    blender -b --factory-startup -P blender_worker.py -- JOB.json
    python blender_worker.py JOB.json          (a Python whose site-packages has bpy)

The job file is JSON: ``{"task": NAME, "result": RESULT.json, ...task arguments}``. The
worker writes ``RESULT.json`` (atomically) with ``{"ok": true, ...}`` or exits non-zero
after printing ``ODAHGEN-ERROR: <one line>`` to stderr. Tasks are registered in TASKS.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

import bpy  # noqa: F401  (the reason this process exists)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its sibling, blender_shading.py
from blender_shading import apply_camera_response, make_material, make_world  # noqa: E402

TASKS = {}


def task(name):
    """Register a worker task: ``fn(job: dict) -> dict`` (the dict is merged into the result)."""

    def deco(fn):
        TASKS[name] = fn
        return fn

    return deco


def _write_json_atomic(path, obj):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


def _reset_scene():
    """An empty scene, independent of the user's startup file."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


ENGINE_IDS = {"cycles": "CYCLES", "eevee": "BLENDER_EEVEE", "workbench": "BLENDER_WORKBENCH"}


def engine_id(engine, version=None):
    """Blender's id of ``engine`` for Blender ``version`` (default: this one's ``bpy.app.version``).

    EEVEE is ``BLENDER_EEVEE_NEXT`` in Blender 4.2-4.x (EEVEE Next) and ``BLENDER_EEVEE`` in
    5.x (and before 4.2). :func:`configure_engine` falls back to the other name if a build
    disagrees.
    """
    if engine not in ENGINE_IDS:
        raise ValueError(f"unknown render engine {engine!r}; known: {sorted(ENGINE_IDS)}")
    version = tuple(bpy.app.version if version is None else version)[:2]
    if engine == "eevee" and (4, 2) <= version < (5, 0):
        return "BLENDER_EEVEE_NEXT"
    return ENGINE_IDS[engine]


def _set_engine(scene, engine):
    ident = engine_id(engine)
    try:
        scene.render.engine = ident
    except TypeError:  # an EEVEE build that uses the other name
        if engine != "eevee":
            raise
        scene.render.engine = "BLENDER_EEVEE" if ident == "BLENDER_EEVEE_NEXT" else "BLENDER_EEVEE_NEXT"


def configure_engine(scene, engine, samples=16, device="auto"):
    """Set the render engine; for Cycles pick the GPU when asked/available.

    Returns the device actually configured: ``"CPU"`` or the GPU backend (``"CUDA"``,
    ``"OPTIX"``, ...).
    """
    _set_engine(scene, engine)
    used = "CPU"
    if engine == "cycles":
        scene.cycles.samples = int(samples)
        scene.cycles.use_denoising = False
        scene.cycles.device = "CPU"
        if device in ("auto", "gpu"):
            backend = enable_gpu_devices()
            if backend:
                scene.cycles.device = "GPU"
                used = backend
            elif device == "gpu":
                raise RuntimeError("render.device=gpu but Cycles found no GPU device")
    elif engine == "eevee":
        eevee = scene.eevee
        if hasattr(eevee, "taa_render_samples"):
            eevee.taa_render_samples = int(samples)
        used = "OpenGL"  # which device that is is known once something rendered: gl_device()
    return used


#: OpenGL device types (``gpu.platform.device_type_get()``) that are not a GPU
SOFTWARE_GL = ("SOFTWARE", "UNKNOWN")


def gl_device():
    """(device type, renderer) of the OpenGL context EEVEE and Workbench render with, e.g.
    ``("NVIDIA", "NVIDIA H100 ...")`` or ``("SOFTWARE", "llvmpipe (LLVM 15.0.6, 256 bits)")``;
    ``("UNKNOWN", "")`` before anything was drawn or where the ``gpu`` module is missing."""
    try:
        import gpu  # Blender's own module (bundled with bpy)

        return str(gpu.platform.device_type_get()), str(gpu.platform.renderer_get())
    except Exception:  # noqa: BLE001 - no GPU module / context yet
        return "UNKNOWN", ""


def require_gpu_rasterizer(scene, engine, camera):
    """For ``render.device = "gpu"`` with EEVEE or Workbench: render one 8x6 still (which
    also compiles the scene's shaders for the real render) and fail, naming the renderer, if
    Blender's OpenGL runs in software (llvmpipe) rather than on a GPU. Returns gl_device()."""
    saved = (scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage,
             scene.render.filepath)
    path = os.path.join(bpy.app.tempdir or "/tmp", "odahgen_gpu_check.png")
    scene.camera = camera
    try:
        _render_still(scene, path, 8, 6)
    finally:
        (scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage,
         scene.render.filepath) = saved
    kind, renderer = gl_device()
    if kind in SOFTWARE_GL:
        raise RuntimeError(f"render.device=gpu but {engine} renders on a software OpenGL renderer "
                           f"({renderer or kind}), not a GPU")
    return kind, renderer


def gpu_devices():
    """[(backend, device name)] of the GPU devices Cycles can use (respects CUDA_VISIBLE_DEVICES)."""
    prefs = bpy.context.preferences.addons["cycles"].preferences
    found = []
    for backend in ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"):
        try:
            prefs.compute_device_type = backend
        except TypeError:
            continue
        prefs.refresh_devices()
        for dev in prefs.devices:
            if dev.type == backend:
                found.append((backend, dev.name))
        if found:
            break
    return found


def enable_gpu_devices():
    """Enable every GPU device of the first backend that has one; return it or None."""
    devices = gpu_devices()
    if not devices:
        return None
    backend = devices[0][0]
    prefs = bpy.context.preferences.addons["cycles"].preferences
    prefs.compute_device_type = backend
    prefs.refresh_devices()
    for dev in prefs.devices:
        dev.use = dev.type == backend
    return backend


def _render_still(scene, path, width, height):
    scene.render.resolution_x = int(width)
    scene.render.resolution_y = int(height)
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)


@task("probe")
def probe(job):
    """Report Blender's version, GPU devices, and which engines render an 8x6 frame."""
    out = {
        "version": bpy.app.version_string,
        "version_tuple": list(bpy.app.version),
        "python": sys.version.split()[0],
        "gpu_devices": [f"{b}: {n}" for b, n in gpu_devices()],
        "engines": {},
    }
    engines = job.get("engines", ["cycles", "workbench"])
    tmpdir = job.get("tmpdir") or os.path.dirname(job["result"])
    for engine in engines:
        scene = _build_cube_scene()
        t0 = time.time()
        try:
            configure_engine(scene, engine, samples=1, device="cpu")
            path = os.path.join(tmpdir, f"probe_{engine}.png")
            _render_still(scene, path, 8, 6)
            ok = os.path.exists(path)
            out["engines"][engine] = {"ok": ok, "seconds": round(time.time() - t0, 3)}
            if engine != "cycles":  # the OpenGL device EEVEE/Workbench drew with
                out["opengl"] = ": ".join(x for x in gl_device() if x)
        except Exception as err:  # an engine that cannot run here is a finding, not a crash
            out["engines"][engine] = {"ok": False, "error": " ".join(str(err).split())}
    return out


def _build_cube_scene():
    """A unit cube on a plane, one sun lamp, one camera looking at the cube."""
    scene = _reset_scene()
    mesh = bpy.data.meshes.new("cube")
    s = 0.5
    verts = [(x, y, z) for x in (-s, s) for y in (-s, s) for z in (-s, s)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh.from_pydata(verts, [], faces)
    mesh.update()
    cube = bpy.data.objects.new("cube", mesh)
    scene.collection.objects.link(cube)
    mat = bpy.data.materials.new("cube_red")
    mat.diffuse_color = (0.8, 0.05, 0.05, 1.0)
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes.get("Principled BSDF")
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = (0.8, 0.05, 0.05, 1.0)
    mesh.materials.append(mat)

    world = bpy.data.worlds.new("world")
    world.color = (0.02, 0.02, 0.02)
    world.use_nodes = True
    bg = world.node_tree.nodes.get("Background")
    if bg is not None:
        bg.inputs["Color"].default_value = (0.02, 0.02, 0.02, 1.0)
        bg.inputs["Strength"].default_value = 1.0
    scene.world = world

    sun_data = bpy.data.lights.new("sun", type="SUN")
    sun_data.energy = 4.0
    sun = bpy.data.objects.new("sun", sun_data)
    sun.rotation_euler = (0.6, 0.3, 0.4)
    scene.collection.objects.link(sun)

    cam_data = bpy.data.cameras.new("cam")
    cam_data.lens = 35.0
    cam = bpy.data.objects.new("cam", cam_data)
    cam.location = (3.0, -3.0, 2.2)
    scene.collection.objects.link(cam)
    _look_at(cam, (0.0, 0.0, 0.0))
    scene.camera = cam
    scene.view_settings.view_transform = "Standard"
    return scene


def _look_at(obj, target):
    """Point a camera/light object's -Z axis at ``target`` (Z up)."""
    import mathutils  # ships with bpy

    direction = mathutils.Vector(target) - obj.location
    obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()


@task("smoke")
def smoke(job):
    """Render the lit cube to ``job["output"]`` (PNG) with the configured engine."""
    scene = _build_cube_scene()
    device = configure_engine(scene, job.get("engine", "cycles"), job.get("samples", 4),
                              job.get("device", "cpu"))
    _render_still(scene, job["output"], job.get("width", 64), job.get("height", 48))
    return {"output": job["output"], "device": device}


# ---------------------------------------------------------------------------------------
# render: a render bundle (see odahgen/render/bundle.py) -> PNG frames per view (+ masks)
# ---------------------------------------------------------------------------------------

def _load_npy(path):
    import numpy as np

    return np.load(path)


def _read_pc2(path, frame=None):
    """(T, V, 3) float32 frames of a PC2 file, or one frame (V, 3)."""
    import struct

    import numpy as np

    with open(path, "rb") as fh:
        magic, _version, nverts, _start, _sampling, nframes = struct.unpack("<12siiffi", fh.read(32))
    if magic != b"POINTCACHE2\0":
        raise ValueError(f"{path}: not a PC2 file")
    if frame is None:
        return np.fromfile(path, dtype="<f4", offset=32).reshape(nframes, nverts, 3)
    return np.fromfile(path, dtype="<f4", offset=32 + 12 * nverts * frame, count=3 * nverts).reshape(nverts, 3)


def _make_mesh_object(scene, name, verts, faces, uv=None, smooth=True):
    import numpy as np

    mesh = bpy.data.meshes.new(name)
    verts = np.asarray(verts, dtype=np.float32)
    faces = np.asarray(faces, dtype=np.int32)
    mesh.vertices.add(len(verts))
    mesh.vertices.foreach_set("co", verts.ravel())
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.ravel())
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    if uv is not None:
        layer = mesh.uv_layers.new(name="UVMap")
        layer.data.foreach_set("uv", np.asarray(uv, dtype=np.float32).reshape(-1))
    mesh.update(calc_edges=True)
    mesh.validate(verbose=False)
    if smooth:
        mesh.polygons.foreach_set("use_smooth", np.ones(len(mesh.polygons), dtype=bool))
    obj = bpy.data.objects.new(name, mesh)
    scene.collection.objects.link(obj)
    return obj


def _build_bundle_scene(bundle, root):
    """Build the scene of a bundle: person meshes with Mesh Cache modifiers, room, lights,
    cameras. Returns (scene, person objects, room objects, cameras by name)."""

    scene = _reset_scene()
    T = int(bundle["frames"])
    r = bundle["render"]
    scene.render.fps = int(r["fps"])
    scene.render.fps_base = 1.0
    scene.frame_start = 1
    scene.frame_end = T
    scene.frame_step = int(r.get("frame_step", 1))
    scene.render.use_motion_blur = bool(r.get("motion_blur", False))
    scene.render.resolution_x = int(r["width"])
    scene.render.resolution_y = int(r["height"])
    scene.render.resolution_percentage = 100
    scene.view_settings.view_transform = "Standard"
    materials = {name: make_material(name, spec, root) for name, spec in bundle["materials"].items()}

    person = []
    for m in bundle["meshes"]:
        pc2 = os.path.join(root, m["pc2"])
        faces = _load_npy(os.path.join(root, m["faces"]))
        uv = _load_npy(os.path.join(root, m["uv"])) if m.get("uv") else None
        obj = _make_mesh_object(scene, m["name"], _read_pc2(pc2, 0), faces, uv)
        obj.data.materials.append(materials[m["material"]])
        mod = obj.modifiers.new("odahgen_cache", "MESH_CACHE")
        mod.cache_format = "PC2"
        mod.filepath = pc2
        mod.time_mode = "FRAME"
        mod.play_mode = "SCENE"
        mod.frame_start = 1.0  # scene frame 1 plays cache frame 0
        mod.frame_scale = 1.0
        mod.deform_mode = "OVERWRITE"
        # motion blur evaluates the mesh inside the shutter (sub-frames): interpolate the cache
        # there (at whole frames linear = the cache frame exactly); without blur, no sub-frames
        mod.interpolation = "LINEAR" if scene.render.use_motion_blur else "NONE"
        person.append(obj)
    room = []
    for m in bundle.get("room", []):
        obj = _make_mesh_object(scene, m["name"], m["vertices"], m["faces"], m.get("uv"), smooth=False)
        obj.data.materials.append(materials[m["material"]])
        room.append(obj)
    for i, lt in enumerate(bundle.get("lights", [])):
        data = bpy.data.lights.new(f"ceiling_{i}", type="AREA")
        data.shape = "SQUARE"
        data.size = float(lt["size"])
        data.energy = float(lt["energy"])
        data.color = lt["color"]
        obj = bpy.data.objects.new(f"ceiling_{i}", data)
        obj.location = lt["location"]  # an area light shines down its local -Z: straight down
        scene.collection.objects.link(obj)
    scene.world = make_world(bundle.get("world") or {}, list(bundle.get("world_color", [0.05, 0.05, 0.05])))
    apply_camera_response(scene, bundle.get("camera_response") or {})
    cams = {}
    import mathutils

    for c in bundle["cameras"]:
        data = bpy.data.cameras.new(c["name"])
        data.lens = float(c["lens"])
        data.sensor_fit = c.get("sensor_fit", "HORIZONTAL")
        data.sensor_width = float(c["sensor_width"])
        data.sensor_height = float(c["sensor_width"])  # used by VERTICAL fit
        data.clip_start = 0.05
        data.clip_end = 200.0
        obj = bpy.data.objects.new(f"camera_{c['name']}", data)
        obj.matrix_world = mathutils.Matrix(c["matrix_world"])
        scene.collection.objects.link(obj)
        cams[c["name"]] = obj
    return scene, person, room, cams


def _check_cache(scene, person, root, bundle):
    """Max |evaluated vertex - PC2 vertex| (m) over the first and last frame of every mesh:
    proves the Mesh Cache plays cache frame f-1 at scene frame f."""
    import numpy as np

    worst = 0.0
    T = int(bundle["frames"])
    for frame in sorted({1, T}):
        scene.frame_set(frame)
        deps = bpy.context.evaluated_depsgraph_get()
        for obj, m in zip(person, bundle["meshes"]):
            ev = obj.evaluated_get(deps)
            co = np.empty(len(ev.data.vertices) * 3, dtype=np.float32)
            ev.data.vertices.foreach_get("co", co)
            ref = _read_pc2(os.path.join(root, m["pc2"]), frame - 1)
            worst = max(worst, float(np.abs(co.reshape(-1, 3) - ref).max()))
    scene.frame_set(1)
    return worst


def _compositor_tree(scene):
    """A fresh compositor node tree for ``scene`` (Blender 5.x node group or 4.x scene tree) and
    a function ``finish(image_socket)`` that routes the render's image to the final output."""
    if hasattr(scene, "compositing_node_group"):  # Blender >= 5.0
        tree = bpy.data.node_groups.new("odahgen_compositor", "CompositorNodeTree")
        scene.compositing_node_group = tree
        out = tree.nodes.new("NodeGroupOutput")
        tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")

        def finish(sock):
            tree.links.new(sock, out.inputs[0])
    else:  # Blender 4.2-4.x
        scene.use_nodes = True
        tree = scene.node_tree
        tree.nodes.clear()
        comp = tree.nodes.new("CompositorNodeComposite")

        def finish(sock):
            tree.links.new(sock, comp.inputs["Image"])
    return tree, finish


def _file_output(tree, directory, depth_bits):
    node = tree.nodes.new("CompositorNodeOutputFile")
    fmt = node.format
    if hasattr(fmt, "media_type"):
        fmt.media_type = "IMAGE"
    fmt.file_format = "PNG"
    fmt.color_mode = "BW"
    fmt.color_depth = depth_bits
    fmt.compression = 0  # a temporary file: no zlib time (uncompressed TIFF measured no cheaper)
    _set_output_dir(node, directory)
    if hasattr(node, "file_name"):
        node.file_name = ""
    if hasattr(node, "save_as_render"):
        node.save_as_render = False  # raw values: no view transform
    return node


def _add_file_input(node, name):
    """An input socket of a File Output node writing ``name####.png``; returns the socket."""
    if hasattr(node, "file_output_items"):  # Blender >= 5.0
        node.file_output_items.new("FLOAT", name)
        return node.inputs[name]
    node.file_slots.new(name)
    node.file_slots[name].use_node_format = True
    return node.inputs[name]


def setup_depth_output(scene, aux_dir=""):
    """Write the Depth pass of the beauty render itself (no second render) per frame to
    ``aux_dir/depthNNNN.png``: 16-bit grey, planar camera depth in mm at pixel centres, room
    included (65535 = 65.5 m or further). The core derives the person mask from it (pixels in
    front of the empty room) and keeps the person's depth. Returns the File Output node (its
    folder is set per view with :func:`_set_output_dir`)."""
    scene.view_layers[0].use_pass_z = True
    tree, finish = _compositor_tree(scene)
    rl = tree.nodes.new("CompositorNodeRLayers")
    rl.scene = scene
    finish(rl.outputs["Image"])
    node = _file_output(tree, aux_dir, "16")
    scale = _math_node(tree)
    scale.operation = "MULTIPLY"
    scale.inputs[1].default_value = 1000.0 / 65535.0  # metres -> mm / 65535 (PNG full scale)
    tree.links.new(rl.outputs["Depth"], scale.inputs[0])
    tree.links.new(scale.outputs[0], _add_file_input(node, "depth"))
    return node


def _set_output_dir(node, path):
    if hasattr(node, "directory"):  # Blender >= 5.0
        node.directory = path
    else:
        node.base_path = path


def _math_node(tree):
    """A Math node in a compositor tree (ShaderNodeMath in 5.x, CompositorNodeMath in 4.x)."""
    for ident in ("ShaderNodeMath", "CompositorNodeMath"):
        try:
            return tree.nodes.new(ident)
        except RuntimeError:
            continue
    raise RuntimeError("this Blender's compositor has no Math node")


def _render_animation(scene, pattern, color_mode="RGB", compression=15, file_format="PNG"):
    if hasattr(scene.render.image_settings, "media_type"):  # Blender >= 5.0
        scene.render.image_settings.media_type = "IMAGE"
    scene.render.image_settings.file_format = file_format
    scene.render.image_settings.color_mode = color_mode
    if file_format == "PNG":
        scene.render.image_settings.color_depth = "8"
        scene.render.image_settings.compression = int(compression)
    scene.render.filepath = pattern
    scene.render.use_file_extension = True
    bpy.ops.render.render(animation=True)


FRAME_TAG = "ODAHGEN-FRAME"


def _announce_frames(view, warp=None):
    """A render_write handler that prints ``ODAHGEN-FRAME view frame`` once Blender has written
    frame ``frame``'s image (and its mask/depth files): the core streams them on as they come
    (and adds the sensor noise there, :mod:`odahgen.render.sensor`, off this render loop). A BMP
    frame is first warped through the lens (``warp``, a ``blender_lens.FrameWarp``)."""

    def handler(scene, *_):
        if warp is not None:
            path = scene.render.frame_path(frame=scene.frame_current)
            if path.lower().endswith(".bmp") and os.path.exists(path):
                warp(path)
        print(f"{FRAME_TAG} {view} {scene.frame_current}", flush=True)

    return handler


def _lens_view(spec, r, root, frame_format):
    """``((width, height) px to render, FrameWarp or None)`` of a bundle camera: a camera with a
    lens map renders its overscanned pinhole frame, warped to the output size as it is written."""
    if not spec.get("lens_map"):
        return (int(r["width"]), int(r["height"])), None
    if frame_format != "BMP":
        raise RuntimeError(f"camera {spec['name']}: lens distortion needs BMP frames, got {frame_format}")
    from blender_lens import FrameWarp

    w, h = (int(v) for v in spec["render_size"])
    return (w, h), FrameWarp(_load_npy(os.path.join(root, spec["lens_map"])), w, h)


@task("render")
def render_bundle(job):
    """Render every view of ``job["bundle"]`` into ``job["out_dir"]/frames/VIEW/NNNNN.png``
    (``.bmp`` with ``job["frame_format"] = "BMP"``: 8-bit RGB, no filtering or zlib to write,
    none to undo in ffmpeg; the same display-referred pixels as the PNG)
    (and, when the bundle asks for a mask or depth, ``aux/VIEW/depthNNNN.png`` from the Depth
    pass of the same render). ``job["views"]`` limits the views; ``job["engine"]`` overrides
    the bundle's engine; ``job["mask"]`` / ``job["depth"]`` = False switch those off; with
    ``job["announce"]`` every written frame is printed as ``ODAHGEN-FRAME VIEW FRAME``;
    ``job["png_compression"]`` (0-100, default Blender's 15) sets the frames' PNG compression."""
    root = os.path.abspath(job["bundle"])
    with open(os.path.join(root, "bundle.json"), encoding="utf-8") as fh:
        bundle = json.load(fh)
    out_dir = os.path.abspath(job["out_dir"])
    r = bundle["render"]
    engine = job.get("engine") or r["engine"]
    t0 = time.time()
    scene, person, room, cams = _build_bundle_scene(bundle, root)
    if engine == "workbench":
        shading = scene.display.shading
        shading.light = "STUDIO"
        shading.color_type = "TEXTURE"
        shading.show_shadows = False
        scene.display.render_aa = job.get("workbench_aa", "FXAA")  # 8-sample AA costs ~8x on CPU
    device = configure_engine(scene, engine, r.get("samples", 16), r.get("device", "auto"))
    if engine != "cycles" and r.get("device", "auto") == "gpu":
        require_gpu_rasterizer(scene, engine, next(iter(cams.values())))
    if engine == "cycles":
        scene.cycles.seed = 0
        scene.cycles.use_animated_seed = False
        if hasattr(scene.cycles, "use_adaptive_sampling"):
            scene.cycles.use_adaptive_sampling = False
    cache_err = _check_cache(scene, person, root, bundle) if job.get("check_cache", True) else None
    want_aux = (bool(r.get("mask")) and job.get("mask", True)) or (bool(r.get("depth")) and job.get("depth", True))
    views = job.get("views") or [c["name"] for c in bundle["cameras"]]
    depth_node = setup_depth_output(scene) if want_aux else None
    build_s = time.time() - t0
    timings = {}
    specs = {c["name"]: c for c in bundle["cameras"]}
    for name in views:
        scene.camera = cams[name]
        size, warp = _lens_view(specs[name], r, root, job.get("frame_format", "PNG"))
        scene.render.resolution_x, scene.render.resolution_y = size
        if depth_node is not None:
            _set_output_dir(depth_node, os.path.join(out_dir, "aux", name) + os.sep)
        handler = _announce_frames(name, warp) if job.get("announce") or warp is not None else None
        if handler:
            bpy.app.handlers.render_write.append(handler)
        t1 = time.time()
        try:
            _render_animation(scene, os.path.join(out_dir, "frames", name, "#####"),
                              compression=job.get("png_compression", 15),
                              file_format=job.get("frame_format", "PNG"))
        finally:
            if handler:
                bpy.app.handlers.render_write.remove(handler)
        timings[name] = round(time.time() - t1, 3)
        print(f"[odahgen-worker] view {name}: {timings[name]} s", flush=True)
    if engine != "cycles":  # the OpenGL device that really rendered (GPU or software)
        kind, renderer = gl_device()
        device = f"{kind}: {renderer}" if renderer else kind
    return {"views": views, "engine": engine, "device": device, "build_seconds": round(build_s, 3),
            "render_seconds": timings, "aux": ["depth"] if want_aux else [], "cache_max_error_m": cache_err,
            "blender": bpy.app.version_string,
            "frame_start": scene.frame_start, "frame_end": scene.frame_end, "frame_step": scene.frame_step}


def _job_path_from_argv(argv):
    args = argv[argv.index("--") + 1:] if "--" in argv else argv[1:]
    if len(args) != 1:
        raise SystemExit("usage: blender_worker.py JOB.json  (or: blender -b -P blender_worker.py -- JOB.json)")
    return args[0]


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    job_path = _job_path_from_argv(argv)
    with open(job_path, encoding="utf-8") as fh:
        job = json.load(fh)
    name = job.get("task")
    t0 = time.time()
    try:
        if name not in TASKS:
            raise ValueError(f"unknown worker task {name!r}; known: {sorted(TASKS)}")
        print(f"[odahgen-worker] task={name} blender={bpy.app.version_string}", flush=True)
        result = TASKS[name](job) or {}
        result.update(ok=True, task=name, seconds=round(time.time() - t0, 3))
        _write_json_atomic(job["result"], result)
        print(f"[odahgen-worker] done in {result['seconds']} s", flush=True)
        return 0
    except Exception as err:
        traceback.print_exc()
        print(f"ODAHGEN-ERROR: {type(err).__name__}: {' '.join(str(err).split())}",
              file=sys.stderr, flush=True)
        return 3


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Inside a blender binary, sys.exit from a -P script is ignored unless we force it.
    os._exit(code)
