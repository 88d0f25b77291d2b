"""A PyTorch view of a generated dataset: :class:`TrialDataset` yields fixed-length clips
(frames of every view, decoded lazily from the videos, with the ground truth of those
frames), for training end-to-end networks. Needs torch (a core dependency); nothing in
odahgen imports this module.

    from torch.utils.data import DataLoader
    from odahgen.torch import TrialDataset
    train = TrialDataset("DATASET", split="train", clip_len=64)
    for batch in DataLoader(train, batch_size=4, shuffle=True, num_workers=2):
        frames, angles = batch["frames"], batch["joint_angles"]   # (B, V, L, 3, H, W), (B, L, 39)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from odahgen.errors import OdahgenError
from odahgen.gt.dataset import TRIAL_FILE, check_dataset, trial_dir, trial_files
from odahgen.gt.schema import TrialGT, load_trial

__all__ = ["TrialDataset"]


class TrialDataset(Dataset):
    """Clips of ``clip_len`` consecutive frames from the trials of one split.

    Args:
        root: the dataset folder (``DATASET/trials/<trial>/trial.h5`` + videos).
        split: a split of ``DATASET/splits.json`` (``train``, ``val``, ``test``), or None
            for every trial that has a ``trial.h5``.
        clip_len: frames per clip (L); trials shorter than that give no clip.
        stride: frames between clip starts (default ``clip_len``: clips do not overlap).
        views: the camera views, in this order (default: the first trial's, sorted).
        frames: False to skip decoding the videos (ground truth only).

    Each item is a dict (V views, L frames, H x W images):

    - ``frames`` (V, L, 3, H, W) uint8 (RGB; absent with ``frames=False``);
    - ``joint_angles`` (L, 39) float32 rad (m for pelvis_tx/ty/tz); ``segment_scales``
      (22, 3) float32; ``keypoints_3d`` (L, 44, 3) float32 m (OpenSim frame);
    - ``keypoints_2d`` (V, L, 44, 2) float32 px; ``visibility`` (V, L, 44) bool;
    - ``K`` (V, 3, 3) px, ``R`` (V, 3, 3), ``t`` (V, 3) m, float32 (``x ~ K (R X + t)``);
      ``distortion`` (V, 5) float32, the lens in OpenCV's order ``k1 k2 p1 p2 k3`` (zeros for
      a pinhole camera; with ``scene.cameras.lens_distortion`` the 2D labels are distorted);
    - ``trial`` str, ``start`` int (first frame of the clip).

    The default collate stacks items when all trials share one resolution.
    """

    def __init__(self, root: str | Path, split: str | None = "train", clip_len: int = 64,
                 stride: int | None = None, views: tuple[str, ...] | None = None, frames: bool = True):
        self.root = check_dataset(root)
        if clip_len < 1:
            raise OdahgenError(f"clip_len must be >= 1, got {clip_len}")
        self.clip_len = int(clip_len)
        self.stride = int(stride or clip_len)
        self.frames = frames
        if split is None:
            paths = trial_files(self.root)
        else:
            splits_path = self.root / "splits.json"
            if not splits_path.is_file():
                raise OdahgenError(f"{splits_path}: no splits file (run `odahgen validate {root} --finalize`)")
            splits = json.loads(splits_path.read_text(encoding="utf-8")).get("trials", {})
            if split not in splits:
                raise OdahgenError(f"{splits_path}: no split {split!r} (has {sorted(splits)})")
            paths = [trial_dir(self.root, t) / TRIAL_FILE for t in splits[split]]
        self.trials: list[Path] = []
        self.index: list[tuple[int, int]] = []  # (trial number, start frame)
        for path in paths:
            gt = load_trial(path)
            if views is None:
                views = tuple(sorted(gt.cameras))
            missing = [v for v in views if v not in gt.cameras or v not in gt.videos]
            if missing:
                raise OdahgenError(f"{path}: no view {', '.join(missing)}")
            k = len(self.trials)
            self.trials.append(path)
            self.index += [(k, s) for s in range(0, gt.n_frames - self.clip_len + 1, self.stride)]
        self.views = tuple(views or ())
        self._cache: tuple[int, TrialGT] | None = None

    def __len__(self) -> int:
        return len(self.index)

    def _trial(self, k: int) -> TrialGT:
        if self._cache is None or self._cache[0] != k:
            self._cache = (k, load_trial(self.trials[k]))
        return self._cache[1]

    def __getitem__(self, i: int) -> dict[str, Any]:
        k, start = self.index[i]
        gt = self._trial(k)
        sl = slice(start, start + self.clip_len)
        cams = [gt.cameras[v] for v in self.views]
        f32 = torch.float32
        item: dict[str, Any] = {
            "trial": gt.meta.trial, "start": start,
            "joint_angles": torch.as_tensor(gt.joint_angles[sl], dtype=f32),
            "segment_scales": torch.as_tensor(gt.segment_scales, dtype=f32),
            "keypoints_3d": torch.as_tensor(gt.keypoints_3d[sl], dtype=f32),
            "keypoints_2d": torch.as_tensor(np.stack([c.keypoints_2d[sl] for c in cams]), dtype=f32),
            "visibility": torch.as_tensor(np.stack([c.visibility[sl] for c in cams])),
            "K": torch.as_tensor(np.stack([c.K for c in cams]), dtype=f32),
            "R": torch.as_tensor(np.stack([c.R for c in cams]), dtype=f32),
            "t": torch.as_tensor(np.stack([c.t for c in cams]), dtype=f32),
            "distortion": torch.as_tensor(np.stack([np.zeros(5) if c.distortion is None else c.distortion
                                                    for c in cams]), dtype=f32),
        }
        if self.frames:
            clips = [_read_clip(self.trials[k].parent / gt.videos[v].path, start, self.clip_len)
                     for v in self.views]
            item["frames"] = torch.from_numpy(np.stack(clips)).permute(0, 1, 4, 2, 3).contiguous()
        return item


def _read_clip(path: Path, start: int, n: int) -> np.ndarray:
    """Frames ``start .. start + n - 1`` of a video as (n, H, W, 3) uint8, decoding only up
    to the last of them."""
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(gen)
        w, h = meta["size"]
        out = []
        for i, raw in enumerate(gen):
            if i >= start:
                out.append(np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3))
            if len(out) == n:
                break
    except Exception as err:
        raise OdahgenError(f"{path}: cannot decode video ({' '.join(str(err).split())[:200]})") from None
    finally:
        gen.close()
    if len(out) < n:
        raise OdahgenError(f"{path}: has {start + len(out)} frames, the clip needs {start + n}")
    return np.stack(out)
