"""The render stage of one trial: run the Blender worker on a bundle, encode one H.264 MP4
per view, pack the person masks, verify every video.

Encoding choice: the worker renders numbered PNG frames and the core encodes them with the
ffmpeg of imageio-ffmpeg (libx264, yuv420p, the configured CRF). This gives exact frame
counts and any CRF (Blender's own FFMPEG output only offers CRF presets), keeps the masks
pixel-aligned with the frames, and works the same with every engine and Blender build.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.io.atomic import atomic_path, atomic_write_json
from odahgen.render.bundle import load_bundle, output_frame_count
from odahgen.render.launcher import run_worker
from odahgen.render.video import encode_frames, video_info


def load_masks(path: str | os.PathLike) -> np.ndarray:
    """(T, H, W) bool person masks from a ``masks_VIEW.npz`` written by the stage."""
    with np.load(path) as z:
        shape = tuple(z["shape"])
        return np.unpackbits(z["bits"], count=int(np.prod(shape))).reshape(shape).astype(bool)


def _pack_masks(mask_dir: Path, out_path: Path) -> tuple[int, int, int]:
    from PIL import Image

    files = sorted(mask_dir.glob("*.png"))
    masks = np.stack([np.asarray(Image.open(f).convert("L")) > 127 for f in files])
    with atomic_path(out_path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, bits=np.packbits(masks.ravel()), shape=np.array(masks.shape))
    return masks.shape


def _renumber(folder: Path) -> None:
    """Rename Blender's frame files (numbered by scene frame: 1, 1+step, ...) to 1, 2, 3, ...
    so ffmpeg reads them as one consecutive sequence."""
    files = sorted(folder.glob("*.png"))
    for k, f in enumerate(files, start=1):
        target = folder / f"{k:05d}.png"
        if f != target:
            f.rename(target)


def render_trial(bundle_dir: str | os.PathLike, out_dir: str | os.PathLike, render_config,
                 keep_frames: bool = False, on_line=None, views: list[str] | None = None) -> dict:
    """Render a bundle to ``out_dir/VIEW.mp4`` (+ ``masks_VIEW.npz``) and a ``render.json``.

    Returns ``{"videos": {view: path}, "masks": {view: path}, "frames": {view: n},
    "video_info": {view: {...}}, "seconds": {...}, "worker": {...}}``; raises OdahgenError when
    a video does not have the expected frame count, size, fps or codec.
    """
    t0 = time.time()
    bundle_dir, out = Path(bundle_dir), Path(out_dir)
    bundle = load_bundle(bundle_dir)
    rc = render_config
    out.mkdir(parents=True, exist_ok=True)
    work = out / "_render_tmp"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    job = {"task": "render", "bundle": str(bundle_dir.resolve()), "out_dir": str(work.resolve()),
           "engine": rc.engine, "views": views}
    worker = run_worker(job, work, log_path=out / "render.blender.log", timeout_s=rc.timeout_s,
                        configured=rc.blender or None, on_line=on_line)
    t_worker = time.time() - t0
    step = bundle["render"]["frame_step"]
    expected = output_frame_count(bundle["frames"], step)
    fps = bundle["render"]["fps"] / step
    result = {"videos": {}, "masks": {}, "frames": {}, "video_info": {}, "worker": worker}
    t1 = time.time()
    for view in worker["views"]:
        frames = work / "frames" / view
        _renumber(frames)
        n = len(list(frames.glob("*.png")))
        if n != expected:
            raise OdahgenError(f"view {view}: Blender wrote {n} frames, expected {expected}")
        video = encode_frames(frames, out / f"{view}.mp4", fps=fps, crf=rc.crf)
        info = video_info(video)
        w2, h2 = rc.width + rc.width % 2, rc.height + rc.height % 2
        if (info["frames"], info["width"], info["height"], info["codec"]) != (expected, w2, h2, "h264") \
                or abs(info["fps"] - fps) > 1e-3 * fps:
            raise OdahgenError(f"{video}: got {info}, expected {expected} frames of {w2}x{h2} h264 at {fps} fps")
        result["videos"][view] = str(video)
        result["frames"][view] = n
        result["video_info"][view] = info
        mdir = work / "masks" / view
        if mdir.exists():
            _renumber(mdir)
            shape = _pack_masks(mdir, out / f"masks_{view}.npz")
            if shape[0] != expected:
                raise OdahgenError(f"view {view}: {shape[0]} mask frames, expected {expected}")
            result["masks"][view] = str(out / f"masks_{view}.npz")
    t_encode = time.time() - t1
    if keep_frames:
        result["frames_dir"] = str(work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    result["seconds"] = {"worker": round(t_worker, 3), "encode": round(t_encode, 3),
                         "total": round(time.time() - t0, 3)}
    atomic_write_json(out / "render.json", result)
    return result
