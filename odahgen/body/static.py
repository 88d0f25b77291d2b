"""The static trial of a body: its virtual markers in the rest pose, to scale a skeleton."""

from __future__ import annotations

import numpy as np
import torch

from odahgen.body.base import BodyModel
from odahgen.body.markers import markers_from_vertices
from odahgen.io.mocap import MarkerData


def static_trial(body: BodyModel, shape: np.ndarray, layout: dict, names: list[str] | None = None,
                 frames: int = 10, fps: float = 60.0) -> MarkerData:
    """``frames`` identical frames of the layout's markers (or ``names``) on the body of
    ``shape`` ((S,) or (1, S), array or tensor) in its rest pose: positions (frames, M, 3)
    float64 m, OpenSim frame."""
    names = list(layout["markers"]) if names is None else list(names)
    with torch.no_grad():
        rest = body.forward(torch.as_tensor(shape, dtype=torch.float32).reshape(1, -1),
                            torch.zeros(1, body.pose_dim), torch.zeros(1, 3))[0].numpy()
    static = markers_from_vertices(rest[None], layout, names)
    return MarkerData(names=names, positions=np.repeat(static, frames, axis=0).astype(np.float64),
                      fps=float(fps), times=np.arange(frames) / float(fps))
