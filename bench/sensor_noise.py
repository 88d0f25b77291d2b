"""Benchmark of the sensor noise on one 1080x720 frame: the core's ``add_sensor_noise``
(in memory, inverse-CDF normals, beside Blender) against the worker's former handler (read
the BMP, NumPy's ziggurat normals, write the BMP back, in Blender's render loop), measured in
the same run.

    .venv/bin/python bench/sensor_noise.py [--width 1080 --height 720] [--sigma 2] [--repeats 20]

Prints the median milliseconds per frame of each, their ratio, and the noise's standard
deviation at mid-grey against the model's ``sigma * sqrt(0.1 + 0.9 * 128 / 255)``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from odahgen.render.blender_lens import write_bmp
from odahgen.render.sensor import add_sensor_noise


def former_handler(path: str, sigma: float, seed: int) -> None:
    """The worker's noise before it moved to the core (the baseline): file in, ziggurat, file out."""
    data = bytearray(open(path, "rb").read())
    start = int.from_bytes(data[10:14], "little")
    w = int.from_bytes(data[18:22], "little", signed=True)
    h = abs(int.from_bytes(data[22:26], "little", signed=True))
    stride = (3 * w + 3) // 4 * 4
    rows = np.frombuffer(bytes(data[start:start + stride * h]), dtype=np.uint8).reshape(h, stride)
    px = rows[:, :3 * w].astype(np.float32)
    px += np.random.default_rng(seed).standard_normal(px.shape, dtype=np.float32) * (
        sigma * np.sqrt(0.1 + 0.9 * px / 255.0))
    out = rows.copy()
    out[:, :3 * w] = np.clip(np.rint(px), 0, 255).astype(np.uint8)
    data[start:start + stride * h] = out.tobytes()
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=1080)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--sigma", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    rgb = np.random.default_rng(0).integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "frame.bmp")
        write_bmp(path, rgb)
        raw = open(path, "rb").read()
        core, former = [], []
        for k in range(args.repeats):
            buf = bytearray(raw)
            t = time.perf_counter()
            add_sensor_noise(buf, args.sigma, k)
            core.append(time.perf_counter() - t)
            with open(path, "wb") as fh:
                fh.write(raw)
            t = time.perf_counter()
            former_handler(path, args.sigma, k)
            former.append(time.perf_counter() - t)
        grey = bytearray(raw[:54]) + bytearray([128]) * (len(raw) - 54)
        noisy = bytearray(grey)
        add_sensor_noise(noisy, args.sigma, 1)
        sd = np.frombuffer(bytes(noisy), np.uint8)[54:].astype(float).std()
    c, f = statistics.median(core) * 1e3, statistics.median(former) * 1e3
    print(f"{args.width}x{args.height}, sigma {args.sigma}, median of {args.repeats}:")
    print(f"  core add_sensor_noise     {c:6.1f} ms per frame (beside Blender)")
    print(f"  former worker handler     {f:6.1f} ms per frame (in Blender's render loop)")
    print(f"  ratio former / core       {f / c:6.2f}x")
    print(f"  noise sd at mid-grey      {sd:.3f} levels (model {args.sigma * np.sqrt(0.1 + 0.9 * 128 / 255):.3f}; "
          f"8-bit rounding adds ~1/12 in variance)")


if __name__ == "__main__":
    main()
