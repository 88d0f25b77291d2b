"""The render stage of one trial: run the Blender worker on a bundle, encode one H.264 MP4
per view while the frames render, pack the person masks and depth maps, verify every video.

Streaming: the worker announces every frame it has written (``ODAHGEN-FRAME VIEW FRAME`` on
its stdout); a consumer thread in the core hands the frame (a BMP) straight to an ffmpeg (libx264,
yuv420p, the configured CRF) reading from a pipe, and turns the frame's depth pass into the
person mask (pixels in front of the empty room, :mod:`odahgen.render.depth`) and the person's
depth map (with a lens distortion: both warped from the overscanned pinhole render to the
distorted frame, nearest pixel; the worker warps the RGB frame). Encoding thus overlaps rendering; the frames are exact in count and any CRF works
(Blender's own FFMPEG output only offers CRF presets), with every engine and Blender build.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.io.atomic import atomic_path, atomic_write_json
from odahgen.render.blender_lens import nearest_index, warp_nearest
from odahgen.render.bundle import load_bundle, output_frame_count
from odahgen.render.launcher import run_worker
from odahgen.render.sensor import add_sensor_noise, frame_seed
from odahgen.render.video import FrameEncoder, video_info

FRAME_TAG = "ODAHGEN-FRAME"  # the worker's per-frame line (blender_worker.FRAME_TAG)
#: the worker's temporary frames: BMP (8-bit RGB, the same pixels as an 8-bit PNG) costs
#: Blender no filtering/zlib and ffmpeg no inflate (measured ~10 ms of CPU per 640x480 frame)
FRAME_FORMAT, FRAME_EXT = "BMP", "bmp"


def load_masks(path: str | os.PathLike) -> np.ndarray:
    """(T, H, W) bool person masks from a ``masks_VIEW.npz`` written by the stage."""
    with np.load(path) as z:
        shape = tuple(z["shape"])
        # unpackbits gives 0/1 bytes: viewed as bool without a copy (~1 GB at 1080x720x600)
        return np.unpackbits(z["bits"], count=int(np.prod(shape))).reshape(shape).view(bool)


class _FrameSink:
    """Consumes the frames of every view in the order the worker writes them (one thread)."""

    def __init__(self, work: Path, out: Path, bundle: dict, scene: dict, fps: float, crf: int,
                 want_mask: bool, want_depth: bool, views: list[str], keep_frames: bool = False):
        self.work, self.out, self.bundle, self.fps, self.crf = work, out, bundle, fps, crf
        self.keep_frames = keep_frames  # else each frame is deleted once encoded (kept: without noise)
        self.want_mask, self.want_depth = want_mask, want_depth
        self.cameras = {c["name"]: c for c in scene["cameras"]}
        self.order = views  # the worker's view order: the noise seeds
        self.noise = float(bundle["render"].get("sensor_noise", 0.0))
        self.step = int(bundle["render"]["frame_step"])
        self.encoders: dict[str, FrameEncoder] = {}
        self.fed: dict[str, int] = {}  # view -> last scene frame handled
        self.masks: dict[str, list] = {}
        self.room: dict[str, np.ndarray] = {}
        self.lens: dict[str, np.ndarray | None] = {}  # view -> nearest-pixel lens warp
        self.current: str | None = None
        self.seconds = 0.0

    def frame(self, view: str, frame: int) -> None:
        t0 = time.time()
        if view != self.current:
            if self.current is not None:
                self.encoders[self.current].close_input()  # ffmpeg finishes in the background
            if view in self.encoders:
                raise OdahgenError(f"view {view}: frames arrived after another view's")
            self.current = view
            self.encoders[view] = FrameEncoder(self.out / f"{view}.mp4", fps=self.fps, crf=self.crf,
                                               image_codec=FRAME_EXT)
            self.fed[view] = 0
            self.masks[view] = []
        if frame <= self.fed[view]:
            return
        image = self.work / "frames" / view / f"{frame:05d}.{FRAME_EXT}"
        data = image.read_bytes()
        if self.noise > 0:  # here, beside Blender, not in its render loop
            data = bytearray(data)
            add_sensor_noise(data, self.noise, frame_seed(self.order.index(view), frame), name=str(image))
        self.encoders[view].add_image(data)
        if not self.keep_frames:  # 2.3 MB a 1080x720 BMP: 2.8 GB for a two-view 600-frame trial
            image.unlink()
        if self.want_mask or self.want_depth:
            self._aux(view, frame)
        self.fed[view] = frame
        self.seconds += time.time() - t0

    def _aux(self, view: str, frame: int) -> None:
        from PIL import Image

        from odahgen.render.depth import mask_from_depth, write_depth_png

        if view not in self.room:
            from odahgen.render.depth import room_depth
            from odahgen.scene.cameras import distortion_map, render_camera

            cam = self.cameras[view]
            rcam = render_camera(cam)  # the pinhole frame Blender rendered (overscanned with a lens)
            self.room[view] = room_depth(self.bundle, rcam)
            self.lens[view] = None if rcam is cam else \
                nearest_index(distortion_map(cam), int(rcam["width"]), int(rcam["height"]))
        src = self.work / "aux" / view / f"depth{frame:04d}.png"
        depth = np.asarray(Image.open(src), dtype=np.float32) / 1000.0
        mask = mask_from_depth(depth, self.room[view])
        if self.lens[view] is not None:  # into the distorted image, nearest: label-exact
            depth, mask = warp_nearest(depth, self.lens[view]), warp_nearest(mask, self.lens[view])
        if self.want_mask:
            self.masks[view].append(np.packbits(mask))
        if self.want_depth:
            k = (frame - 1) // self.step + 1
            (self.work / "depth" / view).mkdir(parents=True, exist_ok=True)
            write_depth_png(self.work / "depth" / view / f"{k:05d}.png", np.where(mask, depth, 0.0))
        src.unlink()

    def catch_up(self, views: list[str]) -> None:
        """Handle frames on disk that were not announced (e.g. a worker without the frame
        lines), view by view in render order."""
        for view in views:
            files = sorted((self.work / "frames" / view).glob(f"*.{FRAME_EXT}"))
            for f in files:
                if view in self.fed and int(f.stem) <= self.fed[view]:
                    continue
                self.frame(view, int(f.stem))

    def abort(self) -> None:
        for enc in self.encoders.values():
            enc.abort()


def _pack_masks(masks: list[np.ndarray], shape: tuple[int, int], out_path: Path) -> None:
    """Write packed per-frame masks (each ``np.packbits`` of an (H, W) bool) as ``masks_VIEW.npz``."""
    bits = np.packbits(np.stack([np.unpackbits(m, count=shape[0] * shape[1]) for m in masks]).ravel())
    with atomic_path(out_path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, bits=bits, shape=np.array((len(masks), *shape)))


def render_trial(bundle_dir: str | os.PathLike, out_dir: str | os.PathLike, render_config,
                 keep_frames: bool = False, on_line=None, views: list[str] | None = None) -> dict:
    """Render a bundle to ``out_dir/VIEW.mp4`` (+ ``masks_VIEW.npz``, ``depth_VIEW/``) and a
    ``render.json``.

    Returns ``{"videos": {view: path}, "masks": {view: path}, "depth": {view: folder},
    "frames": {view: n}, "video_info": {view: {...}}, "seconds": {...}, "worker": {...}}``;
    raises OdahgenError when a video does not have the expected frame count, size, fps or codec.
    """
    t0 = time.time()
    bundle_dir, out = Path(bundle_dir), Path(out_dir)
    bundle = load_bundle(bundle_dir)
    scene = json.loads((bundle_dir / "scene.json").read_text())
    rc = render_config
    out.mkdir(parents=True, exist_ok=True)
    work = out / "_render_tmp"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    r = bundle["render"]
    step = int(r["frame_step"])
    expected = output_frame_count(bundle["frames"], step)
    fps = r["fps"] / step
    want_mask, want_depth = bool(r.get("mask")), bool(r.get("depth"))
    order = views or [c["name"] for c in bundle["cameras"]]  # as the worker renders them
    sink = _FrameSink(work, out, bundle, scene, fps, rc.crf, want_mask, want_depth, order, keep_frames)
    events: queue.Queue = queue.Queue()
    failure: list[BaseException] = []

    def consume():
        while (item := events.get()) is not None:
            if failure:
                continue
            try:
                sink.frame(*item)
            except BaseException as err:  # reported by the main thread
                failure.append(err)

    def line(text: str) -> None:
        if text.startswith(FRAME_TAG):
            _, view, frame = text.split()
            events.put((view, int(frame)))
        elif on_line:
            on_line(text)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    job = {"task": "render", "bundle": str(bundle_dir.resolve()), "out_dir": str(work.resolve()),
           "engine": rc.engine, "views": views, "announce": True,
           "frame_format": FRAME_FORMAT}
    try:
        try:
            worker = run_worker(job, work, log_path=out / "render.blender.log", timeout_s=rc.timeout_s,
                                configured=rc.blender or None, on_line=line)
        finally:
            events.put(None)
            consumer.join()
        t_worker = time.time() - t0
        if failure:
            raise failure[0]
        sink.catch_up(worker["views"])
        result = {"videos": {}, "masks": {}, "depth": {}, "frames": {}, "video_info": {}, "worker": worker}
        t1 = time.time()
        for view in worker["views"]:
            enc = sink.encoders.get(view)
            n = enc.frames if enc else 0
            if n != expected:
                raise OdahgenError(f"view {view}: Blender wrote {n} frames, expected {expected}")
            video = enc.finish()
            info = video_info(video)
            w2, h2 = rc.width + rc.width % 2, rc.height + rc.height % 2
            if (info["frames"], info["width"], info["height"], info["codec"]) != (expected, w2, h2, "h264") \
                    or abs(info["fps"] - fps) > 1e-3 * fps:
                raise OdahgenError(f"{video}: got {info}, expected {expected} frames of {w2}x{h2} h264 at {fps} fps")
            result["videos"][view] = str(video)
            result["frames"][view] = n
            result["video_info"][view] = info
            if want_mask:
                _pack_masks(sink.masks[view], (rc.height, rc.width), out / f"masks_{view}.npz")
                result["masks"][view] = str(out / f"masks_{view}.npz")
            if want_depth:
                target = out / f"depth_{view}"
                if target.exists():
                    shutil.rmtree(target)
                os.replace(work / "depth" / view, target)  # a folder rename: atomic
                result["depth"][view] = str(target)
    except BaseException:
        sink.abort()
        raise
    t_finish = time.time() - t1
    if keep_frames:
        result["frames_dir"] = str(work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    result["seconds"] = {"worker": round(t_worker, 3), "stream": round(sink.seconds, 3),
                         "finish": round(t_finish, 3), "total": round(time.time() - t0, 3)}
    atomic_write_json(out / "render.json", result)
    return result
