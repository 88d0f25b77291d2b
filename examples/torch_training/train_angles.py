"""Train a toy network on an odahgen dataset with odahgen.torch.TrialDataset.

    .venv/bin/odahgen demo -o demo_out                   # a small dataset (or your own)
    .venv/bin/python examples/torch_training/train_angles.py demo_out --steps 20

The network (a few 3D convolutions over both views' clips) only shows the data flow: clips
of frames in, joint angles (rad) out. Swap in your model; the loop stays the same.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.utils.data import DataLoader

from odahgen.torch import TrialDataset


class ToyNet(nn.Module):
    """(B, V, L, 3, H, W) uint8 frames -> (B, L, 39) joint angles."""

    def __init__(self, views: int, n_coords: int = 39):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv3d(3 * views, 16, (3, 5, 5), stride=(1, 4, 4), padding=(1, 2, 2)), nn.ReLU(),
            nn.Conv3d(16, 32, (3, 3, 3), stride=(1, 2, 2), padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool3d((None, 1, 1)))
        self.head = nn.Linear(32, n_coords)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        B, V, L, C, H, W = frames.shape
        x = frames.float().div(255).permute(0, 1, 3, 2, 4, 5).reshape(B, V * C, L, H, W)
        x = self.features(x).flatten(2).transpose(1, 2)  # (B, L, 32)
        return self.head(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--split", default="train")
    parser.add_argument("--clip-len", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    # the five lines that start a training run
    train = TrialDataset(args.dataset, split=args.split, clip_len=args.clip_len, stride=args.clip_len // 2)
    loader = DataLoader(train, batch_size=2, shuffle=True, num_workers=args.workers)
    model = ToyNet(views=len(train.views))
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    print(f"{len(train)} clips of {args.clip_len} frames, views {train.views}")

    step = 0
    while step < args.steps:
        for batch in loader:
            pred = model(batch["frames"])
            loss = nn.functional.l1_loss(pred, batch["joint_angles"])
            optim.zero_grad()
            loss.backward()
            optim.step()
            step += 1
            print(f"step {step}: L1 joint-angle loss {loss.item():.4f}")
            if step >= args.steps:
                break


if __name__ == "__main__":
    main()
