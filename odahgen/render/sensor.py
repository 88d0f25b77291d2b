"""Camera sensor noise, added by the core to each rendered frame on its way to the encoder.

It used to run in Blender's ``render_write`` handler, which Blender waits for before it renders
the next frame: ~40 ms a 1080x720 frame on one core, serial with the render. Here it runs in
the core's streaming thread, beside Blender, and costs ~13 ms (bench/sensor_noise.py). Same
model, same seeds: Gaussian per channel, standard deviation ``sigma`` 8-bit levels at full
brightness and ``sigma * sqrt(0.1 + 0.9 * level / 255)`` below (shot noise grows with the
signal, a read-noise floor), seeded per view and frame (same frame, same noise). The normal
deviates come from 16-bit uniforms through a table of the inverse normal CDF (tails cut at
+-4.3 sd): 2x faster than NumPy's ziggurat, which was half the cost.
"""

from __future__ import annotations

import functools

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.render.blender_lens import bmp_rows


def frame_seed(view_index: int, frame: int) -> int:
    """The noise seed of scene frame ``frame`` (1-based) of the ``view_index``-th rendered view."""
    return 1000003 * int(view_index) + int(frame)


@functools.lru_cache(maxsize=1)
def _normal_quantiles() -> np.ndarray:
    """(65536,) float32: the standard normal's quantiles at the midpoints of 65536 equal bins."""
    from scipy.special import ndtri

    return ndtri((np.arange(65536) + 0.5) / 65536).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _level_sigma(sigma: float) -> np.ndarray:
    """(256,) float32: the noise's standard deviation at each 8-bit level."""
    return (sigma * np.sqrt(0.1 + 0.9 * np.arange(256, dtype=np.float32) / 255.0)).astype(np.float32)


def add_sensor_noise(bmp: bytearray, sigma: float, seed: int, name: str = "frame") -> None:
    """Add the noise to the pixels of a 24-bit uncompressed BMP held in ``bmp``, in place
    (row padding untouched). ``name`` is for the error of anything else."""
    if sigma <= 0:
        return
    try:
        rows, w, _bottom_up = bmp_rows(bmp)
    except ValueError as err:
        raise OdahgenError(f"{name}: sensor noise needs a 24-bit uncompressed BMP: {err}") from None
    px = rows[:, :3 * w]  # a view into ``bmp``: written back in place below
    n = px.size
    uniform16 = np.random.default_rng(seed).bit_generator.random_raw((n + 3) // 4).view(np.uint16)[:n]
    noisy = np.take(_normal_quantiles(), uniform16).reshape(px.shape)
    noisy *= np.take(_level_sigma(float(sigma)), px)
    noisy += px
    np.rint(noisy, out=noisy)
    np.clip(noisy, 0, 255, out=noisy)
    px[...] = noisy
