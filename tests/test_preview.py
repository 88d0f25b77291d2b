"""``odahgen preview`` through the real pipeline (motion -> skeleton -> body fit -> scene ->
render) for a procedural motion other than the demo ones, and MOTION resolution."""

from __future__ import annotations

import time

import numpy as np
import pytest

from odahgen.cli import main
from odahgen.config import load_config
from odahgen.errors import OdahgenError
from odahgen.jobs.preview import resolve_motion


def _sheet(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def test_resolve_motion_forms(shared_data):
    cfg = load_config("demo", [])
    assert resolve_motion("procedural:wave", cfg) == ("procedural", "wave", "")
    assert resolve_motion("sit_stand", cfg) == ("procedural", "sit_stand", "")  # the config's source
    trc = shared_data / "mocap" / "rajagopal_walk.trc"
    assert resolve_motion(str(trc), cfg) == ("trc", "rajagopal_walk", str(trc))
    for bad in ("procedural:no_such", "nosource:walk", "missing_file.trc"):
        with pytest.raises(OdahgenError):
            resolve_motion(bad, cfg)


def test_preview_fast_runs_the_pipeline_for_any_procedural_motion(tmp_path):
    t0 = time.time()
    assert main(["preview", "procedural:wave", "--fast", "-o", str(tmp_path), "--seconds", "0.5",
                 "--step", "5"]) == 0
    wall = time.time() - t0
    trial = tmp_path / "trials" / "preview"
    for name in ("motion.npz", "skeleton.npz", "scaled.osim", "body.npz"):
        assert (trial / name).exists(), name
    assert not (trial / "bundle").exists()  # no Blender on the fast path
    with np.load(trial / "body.npz") as z:
        assert z["vertices"].shape[0] == 6  # 30 frames, every 5th
    with np.load(trial / "motion.npz") as z:  # the feet's schedule thinned with the frames
        assert z["contact"].shape == (6, 2) and float(z["fps"]) == pytest.approx(60.0 / 5)
    sheet = _sheet(tmp_path / "contact_sheet.png")
    assert sheet.shape == (2 * 160, 4 * 2 * 240, 3)  # 6 frames of two 240x160 views, 4 per row
    red = (sheet[..., 0] > 200) & (sheet[..., 1] < 80)  # joint centres drawn
    assert red.sum() > 100
    assert (tmp_path / "preview.mp4").stat().st_size > 0
    assert wall < 60
    assert main(["preview", "procedural:no_such_motion", "--fast", "-o", str(tmp_path)]) != 0


@pytest.mark.slow
@pytest.mark.blender
def test_preview_blender_under_a_minute(tmp_path, blender_python):
    t0 = time.time()
    assert main(["preview", "sit_stand", "-o", str(tmp_path)]) == 0  # demo config, 1 s, every 4th frame
    wall = time.time() - t0
    assert wall < 60, wall
    from odahgen.render.video import read_frames

    frames = read_frames(tmp_path / "preview.mp4")
    assert frames.shape == (15, 160, 480, 3)  # 60 frames, every 4th; both views side by side
    assert frames[:, :, :240].std() > 10 and frames[:, :, 240:].std() > 10
    assert (tmp_path / "trials" / "preview" / "render" / "front.mp4").exists()
