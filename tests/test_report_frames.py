"""The report reads its sample frames by seeking (ffmpeg -ss), not by decoding the video
from its start: the frame it gets is the one decoding from the start gives."""

from __future__ import annotations

import numpy as np

from odahgen.gt.report import _read_frame
from odahgen.testing.gt import write_video


def test_seeking_reads_the_same_frame_as_decoding_from_the_start(tmp_path):
    import imageio.v2 as imageio

    rng = np.random.default_rng(0)
    frames = np.zeros((90, 48, 64, 3), np.uint8)
    for i in range(90):  # a bar moving one column per frame, a distinct grey per frame
        frames[i, :, :] = 20 + 2 * i
        frames[i, :, (i % 60):(i % 60) + 4] = 255
    frames += rng.integers(0, 3, frames.shape, dtype=np.uint8)
    path = write_video(tmp_path / "v.mp4", frames, fps=60.0)
    with imageio.get_reader(path, format="FFMPEG") as reader:
        decoded = [np.asarray(f) for f in reader]
    for index in (0, 1, 37, 45, 89):
        seek = _read_frame(path, index, fps=60.0)
        assert seek is not None and seek.shape == (48, 64, 3)
        assert np.array_equal(seek, decoded[index]), index
        assert np.array_equal(_read_frame(path, index), decoded[index])  # no fps: from the start
    assert _read_frame(tmp_path / "missing.mp4", 3, fps=60.0) is None
