"""odahgen.torch.TrialDataset yields clips of the documented shapes and dtypes, per split."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from odahgen.errors import OdahgenError


def test_trial_dataset_yields_documented_shapes(clean_dataset):
    from odahgen.gt import load_trial
    from odahgen.torch import TrialDataset

    train = json.loads((clean_dataset / "splits.json").read_text())["trials"]["train"]
    ds = TrialDataset(clean_dataset, split="train", clip_len=16, stride=8)
    assert ds.views == ("front", "side")
    assert len(ds) == len(train) * 7  # starts 0, 8, ..., 48 of 64 frames
    item = ds[1]
    L, V, H, W = 16, 2, 96, 128
    shapes = {"frames": (V, L, 3, H, W), "joint_angles": (L, 39), "segment_scales": (22, 3),
              "keypoints_3d": (L, 44, 3), "keypoints_2d": (V, L, 44, 2), "visibility": (V, L, 44),
              "K": (V, 3, 3), "R": (V, 3, 3), "t": (V, 3), "distortion": (V, 5)}
    for key, shape in shapes.items():
        assert tuple(item[key].shape) == shape, key
    assert item["frames"].dtype == torch.uint8 and item["visibility"].dtype == torch.bool
    assert item["joint_angles"].dtype == torch.float32 and item["start"] == 8
    gt = load_trial(clean_dataset / "trials" / item["trial"] / "trial.h5")
    assert np.allclose(item["joint_angles"].numpy(), gt.joint_angles[8:24], atol=1e-6)
    assert np.allclose(item["keypoints_2d"][1].numpy(), gt.cameras["side"].keypoints_2d[8:24], atol=1e-3)
    # the frames are those of the video: the synthetic videos draw the visible keypoints white
    x, y = np.round(gt.cameras["front"].keypoints_2d[8, gt.cameras["front"].visibility[8]][0]).astype(int)
    assert item["frames"][0, 0, :, y, x].min() > 150
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert tuple(batch["frames"].shape) == (3, V, L, 3, H, W) and tuple(batch["joint_angles"].shape) == (3, L, 39)
    assert len(TrialDataset(clean_dataset, split=None, clip_len=64, frames=False)) == 2
    assert not item["distortion"].any()  # pinhole cameras


def test_trial_dataset_carries_the_lens(dataset):
    """A trial rendered with a lens: its coefficients come with the 2D labels."""
    from odahgen.gt.schema import load_trial, write_trial
    from odahgen.torch import TrialDataset

    lens = np.array([-0.2, 0.05, 0.001, -0.001, 0.0])
    for h5 in sorted((dataset / "trials").glob("*/trial.h5")):
        gt = load_trial(h5)
        gt.cameras["side"].distortion = lens
        write_trial(h5, gt)
    item = TrialDataset(dataset, split=None, clip_len=16, frames=False)[0]
    assert np.allclose(item["distortion"].numpy(), [np.zeros(5), lens], atol=1e-7)


def test_trial_dataset_bad_split(clean_dataset):
    from odahgen.torch import TrialDataset

    with pytest.raises(OdahgenError, match="no split 'nope'"):
        TrialDataset(clean_dataset, split="nope")
