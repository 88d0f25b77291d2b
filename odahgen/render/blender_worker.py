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


def configure_engine(scene, engine, samples=16, device="auto"):
    """Set the render engine; for Cycles pick the GPU when asked/available.

    Returns the device actually configured: ``"CPU"`` or the GPU backend (``"CUDA"``,
    ``"OPTIX"``, ...).
    """
    scene.render.engine = ENGINE_IDS[engine]
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
        used = "GPU-backend"
    return used


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
