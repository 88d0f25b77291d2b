"""``odahgen preview``: one trial at low resolution, both views side by side, every Nth
frame, plus a contact-sheet PNG; ``--fast`` rasterises the posed mesh, its markers and joint
centres with pyrender (no Blender).

MOTION is any motion the pipeline takes: ``SOURCE:MOTION`` (``procedural:jump``,
``trc:walk`` with ``--set motion.path=...``), a motion id of the config's source, or a
motion file (``.trc``, ``.mot``, ``.c3d``, ``.bvh``, AMASS ``.npz``). It runs the real
pipeline's stages (:mod:`odahgen.jobs.stages`) on every Nth frame of the clip: motion ->
skeleton (scale + IK of marker motions) -> body fit -> scene -> render, in a scratch trial
folder ``OUT/trials/preview``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError

#: motion-file extensions -> the motion source that reads them
FILE_SOURCES = {".trc": "trc", ".mot": "mot", ".c3d": "c3d", ".bvh": "bvh", ".npz": "amass"}


def resolve_motion(motion: str, config) -> tuple[str, str, str]:
    """``(source, motion id, path)`` of a MOTION argument (see the module docstring)."""
    from odahgen.motion import available_sources, get_source

    path = Path(motion).expanduser()
    if path.suffix.lower() in FILE_SOURCES and path.is_file():
        source = FILE_SOURCES[path.suffix.lower()]
        ids = get_source(source, path=str(path)).list_motions()
        if not ids:
            raise OdahgenError(f"{path}: no motion in it")
        return source, ids[0], str(path)
    if path.suffix.lower() in FILE_SOURCES and ":" not in motion:
        raise OdahgenError(f"{motion}: no such motion file")
    source, _, name = motion.rpartition(":")
    source = source or config.motion.source
    if source not in available_sources():
        raise OdahgenError(f"preview: unknown motion source {source!r}; known: {available_sources()}")
    options = {"path": config.motion.path} if config.motion.path else {}
    known = get_source(source, **options).list_motions()
    if name not in known:
        raise OdahgenError(f"preview: no motion {name!r} in source {source!r} "
                           f"(`odahgen motion list {source}` lists them)")
    return source, name, config.motion.path


def preview_trial(motion: str, config, out_dir: str | Path, step: int = 4, seconds: float = 1.0,
                  render: bool = True, log=None) -> dict:
    """Run the pipeline's stages for MOTION on every ``step``-th frame of its first
    ``seconds`` in ``out_dir/trials/preview``; returns ``{"dir", "spec", "config", "seconds": {stage: s}}``."""
    from odahgen.io import trial_seed
    from odahgen.jobs import stages
    from odahgen.jobs.graph import TrialContext
    from odahgen.jobs.plan import TrialSpec, subject_ids, variant_name

    source, motion_id, path = resolve_motion(motion, config)
    fps = float(config.motion.fps)
    cfg = config.model_copy(deep=True)
    cfg.motion.source, cfg.motion.path, cfg.motion.motions = source, path, [motion_id]
    cfg.motion.clip_seconds = float(seconds)
    cfg.motion.min_frames = max(2, min(cfg.motion.min_frames, int(round(seconds * fps)) - 1))
    cfg.render.frame_step, cfg.render.mask, cfg.render.depth = 1, False, False
    subject = subject_ids(max(1, cfg.dataset.subjects))[0]
    trial = "preview"
    spec = TrialSpec(trial, subject, variant_name(0.0), 0.0, source, motion_id, 0,
                     trial_seed(cfg.dataset.seed, trial), trial_seed(cfg.dataset.seed, subject, "subject"))
    root = Path(out_dir)
    ctx = TrialContext(dataset=root, spec=spec, config=cfg, log=log or logging.getLogger("odahgen.preview"))
    ctx.dir.mkdir(parents=True, exist_ok=True)
    timings = {}
    t = time.time()
    stages.motion_stage(ctx)
    _subsample_motion(ctx.path("motion.npz"), step)
    timings["motion"] = round(time.time() - t, 2)
    names = ["skeleton", "fit"] + (["scene", "render"] if render else [])
    for name in names:
        t = time.time()
        getattr(stages, f"{name}_stage")(ctx)
        timings[name] = round(time.time() - t, 2)
    return {"dir": ctx.dir, "spec": spec, "config": cfg, "seconds": timings}


def _subsample_motion(path: Path, step: int) -> None:
    """Keep every ``step``-th frame of a trial's ``motion.npz`` (the preview shows only those),
    with its contact schedule and frame rate, so the skeleton stage still plants the feet."""
    from odahgen.io import load_arrays, save_arrays

    data = load_arrays(path)
    for k in ("times", "coordinates", "markers", "contact"):  # contact: the feet's schedule
        if k in data:
            data[k] = data[k][::step]
    if "fps" in data:  # the thinned frames are 1/step as dense (replant's flight arcs use it)
        data["fps"] = np.float64(float(data["fps"]) / step)
    save_arrays(path, data)


def _side_by_side(images: list[np.ndarray]) -> np.ndarray:
    h = max(i.shape[0] for i in images)
    return np.concatenate([np.pad(i, ((0, h - i.shape[0]), (0, 0), (0, 0))) for i in images], axis=1)


def _contact_sheet(rows: list[np.ndarray], cols: int = 4) -> np.ndarray:
    """Tile frames (each (H, W, 3)) into a grid."""
    h, w = rows[0].shape[:2]
    n = len(rows)
    r = (n + cols - 1) // cols
    sheet = np.zeros((r * h, cols * w, 3), dtype=np.uint8)
    for k, img in enumerate(rows):
        sheet[(k // cols) * h:(k // cols + 1) * h, (k % cols) * w:(k % cols + 1) * w] = img
    return sheet


def run_preview(motion: str, config, out_dir: str | Path, fast: bool = False, step: int = 4,
                seconds: float = 1.0, log=None) -> dict:
    """Render a preview into ``out_dir``; returns ``{"video", "contact_sheet", "frames",
    "seconds", "stage_seconds"}``."""
    import json

    import imageio.v3 as iio

    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res = preview_trial(motion, config, out, step=step, seconds=seconds, render=not fast, log=log)
    trial = res["dir"]
    if fast:
        frames = _fast_frames(trial, res["config"])
    else:
        from odahgen.render import read_frames

        render = json.loads((trial / "render" / "render.json").read_text())
        per_view = [read_frames(trial / "render" / Path(p).name) for p in render["videos"].values()]
        frames = [_side_by_side([v[k] for v in per_view]) for k in range(per_view[0].shape[0])]
    fps = float(config.motion.fps)
    video = out / "preview.mp4"
    from odahgen.io.atomic import atomic_path

    with atomic_path(video) as tmp:
        iio.imwrite(tmp, np.stack(frames), fps=max(1.0, fps / step), codec="libx264", macro_block_size=1)
    sheet = out / "contact_sheet.png"
    with atomic_path(sheet) as tmp:
        iio.imwrite(tmp, _contact_sheet(frames), extension=".png")
    return {"video": str(video), "contact_sheet": str(sheet), "frames": len(frames),
            "seconds": round(time.time() - t0, 2), "stage_seconds": res["seconds"]}


def _fast_frames(trial: Path, config) -> list[np.ndarray]:
    """pyrender frames (both views side by side) of a preview trial's fitted body, with the
    skeleton's markers (green) and joint centres (red) drawn on top."""
    from odahgen.render import Rasterizer
    from odahgen.scene import project, sample_scene

    with np.load(trial / "body.npz") as z:
        vertices, faces = z["vertices"], z["faces"]
    with np.load(trial / "skeleton.npz") as z:
        joints, markers = z["keypoints"][:, :22], z["markers"]
    scene = sample_scene(config, "preview", vertices)
    meshes = [(vertices, faces, tuple(scene["skin"]["color"]))]
    views = []
    for cam in scene["cameras"]:
        imgs = []
        with Rasterizer(cam) as rast:
            mk, _ = project(cam, markers)
            jc, _ = project(cam, joints)
            for f in range(vertices.shape[0]):
                img = rast.color(meshes, f).copy()
                for pts, colour in ((mk[f], (40, 200, 40)), (jc[f], (255, 40, 40))):
                    for x, y in pts:
                        if np.isfinite(x) and np.isfinite(y):
                            c, r = int(x), int(y)
                            img[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = colour
                imgs.append(img)
        views.append(imgs)
    return [_side_by_side([v[k] for v in views]) for k in range(vertices.shape[0])]
