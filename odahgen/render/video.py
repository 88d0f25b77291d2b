"""H.264 MP4 encoding of rendered PNG frames with the ffmpeg that imageio-ffmpeg ships, and
reading a video's stream facts back (codec, size, fps, frame count) to verify it."""

from __future__ import annotations

import os
import re
import subprocess
from fractions import Fraction
from pathlib import Path

from odahgen.errors import OdahgenError
from odahgen.io.atomic import atomic_path


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def encode_frames(frame_dir: str | os.PathLike, out_path: str | os.PathLike, fps: float, crf: int = 23,
                  preset: str = "medium") -> Path:
    """Encode ``frame_dir/00001.png ...`` (consecutive numbers from the smallest) into an
    H.264 (libx264, yuv420p, ``crf``) MP4 at ``fps``, atomically. Odd sizes are padded by one
    pixel, never scaled."""
    frames = sorted(Path(frame_dir).glob("*.png"))
    if not frames:
        raise OdahgenError(f"no PNG frames in {frame_dir}")
    first = int(frames[0].stem)
    digits = len(frames[0].stem)
    rate = str(Fraction(fps).limit_denominator(1001))
    with atomic_path(out_path) as tmp:
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
               "-framerate", rate, "-start_number", str(first),
               "-i", str(Path(frame_dir) / f"%0{digits}d.png"),
               "-frames:v", str(len(frames)),
               "-c:v", "libx264", "-preset", preset, "-crf", str(int(crf)), "-pix_fmt", "yuv420p",
               "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-r", rate, "-movflags", "+faststart",
               "-threads", str(min(os.cpu_count() or 1, 16)), str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise OdahgenError(f"ffmpeg failed on {frame_dir}: {' '.join(proc.stderr.split())[-300:]}")
    return Path(out_path)


_STREAM_RE = re.compile(r"Stream #\S+.*?Video: (\w+).*?, (\d+)x(\d+).*?, ([\d.]+) fps")


def video_info(path: str | os.PathLike) -> dict:
    """``{"codec", "width", "height", "fps", "frames", "seconds"}`` of a video file, from
    ``ffmpeg -i`` (stream header) and a full decode count (imageio-ffmpeg)."""
    import imageio_ffmpeg

    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    m = _STREAM_RE.search(proc.stderr)
    if not m:
        raise OdahgenError(f"{path}: no video stream found")
    frames, secs = imageio_ffmpeg.count_frames_and_secs(str(path))
    return {"codec": m.group(1), "width": int(m.group(2)), "height": int(m.group(3)),
            "fps": float(m.group(4)), "frames": int(frames), "seconds": float(secs)}


def read_frames(path: str | os.PathLike):
    """All frames of a video as a (T, H, W, 3) uint8 array."""

    return _read_ffmpeg(path)


def _read_ffmpeg(path):
    import imageio_ffmpeg
    import numpy as np

    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    w, h = meta["size"]
    frames = [np.frombuffer(f, dtype=np.uint8).reshape(h, w, 3) for f in gen]
    return np.stack(frames)
