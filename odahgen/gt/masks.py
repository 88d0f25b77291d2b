"""Person masks kept packed (8 pixels a byte), for the two things the ground truth needs of
them: each frame's bounding box and the mask bit under given pixels.

A view's masks are ``np.packbits`` of the ``(T, H, W)`` bool array, row-major, most
significant bit first (the render stage's ``masks_VIEW.npz``: ``bits`` and ``shape``, read
by :func:`odahgen.render.load_masks`). Unpacked they take one byte a pixel: 470 MB for a
600-frame 1080x720 view, which the bounding boxes and a hundred look-ups a frame do not need.
"""

from __future__ import annotations

import os

import numpy as np


class PackedMasks:
    """``(T, H, W)`` bool masks as packed bits ``bits (ceil(T H W / 8),) uint8``."""

    def __init__(self, bits: np.ndarray, shape: tuple[int, int, int]):
        self.bits = np.asarray(bits, np.uint8)
        self.shape = tuple(int(s) for s in shape)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PackedMasks":
        """The masks of a ``masks_VIEW.npz`` (bits and shape)."""
        with np.load(path) as z:
            return cls(z["bits"], tuple(z["shape"]))

    def unpack(self) -> np.ndarray:
        """``(T, H, W)`` bool (a copy of every pixel)."""
        return np.unpackbits(self.bits, count=int(np.prod(self.shape))).reshape(self.shape).view(bool)

    def lookup(self, t: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """The mask bits at frames ``t``, pixels ``(row, col)`` (int arrays of one shape, in range)."""
        _, H, W = self.shape
        idx = (np.asarray(t, np.int64) * H + row) * W + col
        return ((self.bits[idx >> 3] >> (7 - (idx & 7))) & 1).astype(bool)

    def bboxes(self) -> np.ndarray:
        """``(T, 4)`` float64 ``[x, y, w, h]`` px per frame, NaN rows for empty frames (as
        :func:`odahgen.gt.schema_dense.mask_bboxes` of the unpacked masks)."""
        T, H, W = self.shape
        if W % 8:  # rows do not start on a byte: no shortcut
            from odahgen.gt.schema_dense import mask_bboxes

            return mask_bboxes(self.unpack())
        rows = self.bits[: T * H * W // 8].reshape(T, H, W // 8)
        cols = np.unpackbits(np.bitwise_or.reduce(rows, axis=1), axis=1).astype(bool)  # (T, W)
        rany = rows.any(axis=2)  # (T, H)
        out = np.full((T, 4), np.nan)
        has = cols.any(axis=1)
        x0 = np.argmax(cols, axis=1)
        x1 = W - np.argmax(cols[:, ::-1], axis=1)
        y0 = np.argmax(rany, axis=1)
        y1 = H - np.argmax(rany[:, ::-1], axis=1)
        out[has] = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)[has]
        return out
