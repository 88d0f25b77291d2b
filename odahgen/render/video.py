"""H.264 MP4 encoding of rendered frames streamed to the ffmpeg that imageio-ffmpeg ships, and
reading a video's stream facts back (codec, size, fps, frame count) to verify it."""

from __future__ import annotations

import os
import re
import subprocess
from fractions import Fraction
from pathlib import Path

from odahgen.errors import OdahgenError


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


class FrameEncoder:
    """An H.264 MP4 encoder fed one image (PNG or BMP bytes) at a time while the frames are being rendered:
    ffmpeg reads them from a pipe (``image2pipe``) and writes a temporary file beside
    ``out_path``; :meth:`finish` waits for it and renames it into place (atomic)."""

    def __init__(self, out_path: str | os.PathLike, fps: float, crf: int = 23, preset: str = "medium",
                 image_codec: str = "png"):
        self.out_path = Path(out_path)
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.out_path.with_name(f".{self.out_path.stem}.tmp{os.getpid()}.mp4")
        rate = str(Fraction(fps).limit_denominator(1001))
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
               "-f", "image2pipe", "-c:v", image_codec, "-framerate", rate, "-i", "-",
               # exact RGB -> YUV rounding: the same video from PNG (rgb24) and BMP (bgr24)
               # frames, closer to the source than the default fast path
               "-sws_flags", "accurate_rnd",
               "-c:v", "libx264", "-preset", preset, "-crf", str(int(crf)), "-pix_fmt", "yuv420p",
               "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-r", rate, "-movflags", "+faststart",
               str(self.tmp)]
        self.frames = 0
        self._err = open(self.tmp.with_suffix(".log"), "w+b")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._err)

    def add_image(self, data: bytes) -> None:
        """Append one frame, given as the bytes of an image file (``image_codec``: png, bmp)."""
        try:
            self.proc.stdin.write(data)
        except BrokenPipeError:
            raise OdahgenError(f"ffmpeg stopped while encoding {self.out_path}: {self._stderr()}") from None
        self.frames += 1

    add_png = add_image

    def _stderr(self) -> str:
        self._err.seek(0)
        return " ".join(self._err.read().decode(errors="replace").split())[-300:]

    def close_input(self) -> None:
        """No more frames: let ffmpeg finish in the background."""
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass

    def finish(self) -> Path:
        """Wait for ffmpeg; rename the MP4 into place; returns its path."""
        self.close_input()
        code = self.proc.wait()
        msg = self._stderr()
        self._err.close()
        Path(self._err.name).unlink(missing_ok=True)
        if code != 0 or self.frames == 0:
            self.tmp.unlink(missing_ok=True)
            raise OdahgenError(f"ffmpeg failed on {self.out_path} ({self.frames} frames): {msg or f'exit {code}'}")
        os.replace(self.tmp, self.out_path)
        return self.out_path

    def abort(self) -> None:
        """Stop ffmpeg and remove the temporary file."""
        self.close_input()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._err.close()
        Path(self._err.name).unlink(missing_ok=True)
        self.tmp.unlink(missing_ok=True)


_STREAM_RE = re.compile(r"Stream #\S+.*?Video: (\w+).*?, (\d+)x(\d+).*?, ([\d.]+) fps")


_PROGRESS_RE = re.compile(r"frame=\s*(\d+)")


def video_info(path: str | os.PathLike) -> dict:
    """``{"codec", "width", "height", "fps", "frames", "seconds"}`` of a video file, from one
    ``ffmpeg -i FILE -c copy -f null -`` run: the stream header, and the frame count and
    of a stream copy (every packet counted, nothing decoded); ``seconds`` = frames / fps."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0",
                           "-c", "copy", "-f", "null", "-"], capture_output=True, text=True)
    m = _STREAM_RE.search(proc.stderr)
    if proc.returncode != 0 or not m:
        raise OdahgenError(f"{path}: no video stream found")
    prog = _PROGRESS_RE.findall(proc.stderr.replace("\r", "\n"))
    if not prog:
        raise OdahgenError(f"{path}: ffmpeg reported no frame count")
    n, fps = int(prog[-1]), float(m.group(4))
    return {"codec": m.group(1), "width": int(m.group(2)), "height": int(m.group(3)),
            "fps": fps, "frames": n, "seconds": round(n / fps, 6) if fps > 0 else 0.0}


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
