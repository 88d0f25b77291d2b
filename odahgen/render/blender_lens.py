"""Lens distortion of rendered frames: the pinhole render (overscanned, see
:func:`odahgen.scene.cameras.render_camera`) warped into the distorted image.

NumPy and the standard library only: the Blender worker imports it as a sibling (RGB frames,
bilinear, before the sensor noise) and the core imports it as ``odahgen.render.blender_lens``
(masks and depth, nearest: every output pixel takes one rendered pixel, so the mask and the
depth stay label-exact). The map ``(H, W, 2)`` (x, y px, pixel-corner origin) gives for each
output pixel centre the point of the render that lands there
(:func:`odahgen.scene.cameras.distortion_map`).
"""

from __future__ import annotations

import os

import numpy as np


def nearest_index(lens_map: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(H, W)`` int64 flat index into a ``height x width`` render of the pixel holding each
    map point (``floor``; clipped to the render)."""
    m = np.asarray(lens_map, dtype=np.float64)
    col = np.clip(np.floor(m[..., 0]).astype(np.int64), 0, width - 1)
    row = np.clip(np.floor(m[..., 1]).astype(np.int64), 0, height - 1)
    return row * width + col


def warp_nearest(image: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``image (H', W', ...)`` -> ``(H, W, ...)`` by :func:`nearest_index`'s ``index (H, W)``."""
    img = np.asarray(image)
    flat = img.reshape(img.shape[0] * img.shape[1], *img.shape[2:])
    return flat[index]


def bilinear_weights(lens_map: np.ndarray, width: int, height: int):
    """``(i00, i01, i10, i11)`` flat indices ``(H, W)`` and their weights ``(w00, w01, w10, w11)``
    ``(H, W)`` float32 of a bilinear lookup at the map points in a ``height x width`` render
    (edges clamped)."""
    m = np.asarray(lens_map, dtype=np.float64)
    x = np.clip(m[..., 0] - 0.5, 0, width - 1)
    y = np.clip(m[..., 1] - 0.5, 0, height - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), width - 2)
    y0 = np.minimum(np.floor(y).astype(np.int64), height - 2)
    wx, wy = x - x0, y - y0
    i00 = y0 * width + x0
    weights = ((1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy)
    return (i00, i00 + 1, i00 + width, i00 + width + 1), tuple(w.astype(np.float32) for w in weights)


def warp_bilinear(image: np.ndarray, weights) -> np.ndarray:
    """``image (H', W', C)`` uint8 -> ``(H, W, C)`` uint8 resampled with :func:`bilinear_weights`
    (channel by channel: ~85 ms for a 1080 x 720 frame on one CPU core)."""
    index, w = weights
    img = np.asarray(image)
    planes = img.reshape(-1, img.shape[2]).T
    out = np.empty(index[0].shape + (img.shape[2],), dtype=np.uint8)
    for c in range(img.shape[2]):
        p = np.ascontiguousarray(planes[c])
        acc = p[index[0]] * w[0]
        for i, wk in zip(index[1:], w[1:]):
            acc += p[i] * wk
        out[..., c] = np.clip(np.rint(acc), 0, 255)
    return out


def bmp_rows(data) -> tuple[np.ndarray, int, bool]:
    """The pixel rows of a 24-bit uncompressed BMP held in ``data`` (bytes, or a bytearray to
    write through): ``((H, stride) uint8 view of data's memory, width W (the first 3 W bytes of
    a row are its BGR pixels, the rest padding), whether the rows run bottom-up)``. ValueError
    for anything else."""
    if data[:2] != b"BM" or int.from_bytes(data[28:30], "little") != 24 \
            or int.from_bytes(data[30:34], "little") != 0:
        raise ValueError("not a 24-bit uncompressed BMP")
    start = int.from_bytes(data[10:14], "little")
    w = int.from_bytes(data[18:22], "little", signed=True)
    h_signed = int.from_bytes(data[22:26], "little", signed=True)
    h = abs(h_signed)
    stride = (3 * w + 3) // 4 * 4
    if start + stride * h > len(data):
        raise ValueError(f"truncated BMP ({len(data)} bytes for {w}x{h})")
    rows = np.frombuffer(data, dtype=np.uint8, count=stride * h, offset=start).reshape(h, stride)
    return rows, w, h_signed > 0


def read_bmp(path: str) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of a 24-bit uncompressed BMP (as Blender writes them)."""
    try:
        rows, w, bottom_up = bmp_rows(open(path, "rb").read())
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    bgr = rows[:, :3 * w].reshape(len(rows), w, 3)
    if bottom_up:
        bgr = bgr[::-1]
    return np.ascontiguousarray(bgr[..., ::-1])


def write_bmp(path: str, rgb: np.ndarray) -> None:
    """Write ``(H, W, 3)`` uint8 RGB as a 24-bit bottom-up BMP, atomically (temp name, rename)."""
    rgb = np.asarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    stride = (3 * w + 3) // 4 * 4
    rows = np.zeros((h, stride), dtype=np.uint8)
    rows[:, :3 * w] = rgb[::-1, :, ::-1].reshape(h, 3 * w)
    size = 54 + rows.size
    header = (b"BM" + size.to_bytes(4, "little") + bytes(4) + (54).to_bytes(4, "little")
              + (40).to_bytes(4, "little") + w.to_bytes(4, "little", signed=True)
              + h.to_bytes(4, "little", signed=True) + (1).to_bytes(2, "little") + (24).to_bytes(2, "little")
              + bytes(4) + rows.size.to_bytes(4, "little") + (2835).to_bytes(4, "little") * 2 + bytes(8))
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(header + rows.tobytes())
    os.replace(tmp, path)


class FrameWarp:
    """The RGB warp of one view: ``lens_map (H, W, 2)`` into a ``width x height`` render;
    :meth:`__call__` warps a BMP in place (bilinear)."""

    def __init__(self, lens_map: np.ndarray, width: int, height: int):
        self.weights = bilinear_weights(lens_map, width, height)
        self.size = (int(width), int(height))

    def __call__(self, path: str) -> None:
        img = read_bmp(path)
        if (img.shape[1], img.shape[0]) != self.size:
            raise ValueError(f"{path}: {img.shape[1]}x{img.shape[0]}, the lens map expects {self.size}")
        write_bmp(path, warp_bilinear(img, self.weights))
