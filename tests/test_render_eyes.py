"""The eyes in a real render (Cycles, 160x120 close-up of the face): the pupils are dark where
the same scene without eyes shows skin, and the eyes are in the person mask and depth."""

from __future__ import annotations

import numpy as np
import pytest

from odahgen.config import load_config
from odahgen.render.bundle import write_render_bundle
from odahgen.render.stage import load_masks, render_trial
from odahgen.render.video import read_frames
from odahgen.scene.cameras import camera_dict, intrinsics, look_at, project
from odahgen.scene.garments import garment_regions
from odahgen.scene.sample import sample_scene
from odahgen.scene.wear import dress
from odahgen.testing.scene import demo_sequence

pytestmark = pytest.mark.blender
W, H = 160, 120


def _render(root, with_eyes: bool):
    from odahgen.render.depth import load_depth

    seq = demo_sequence("stand", frames=1)
    cfg = load_config("demo", ["render.engine=cycles", f"render.width={W}", f"render.height={H}",
                               "render.samples=16", "render.device=cpu", "render.depth=true",
                               "render.sensor_noise=0", "scene.hdri_fraction=0", "render.timeout_s=600",
                               "scene.clothing.hair=false"])  # no fringe over an eye
    scene = sample_scene(cfg, "t_eyes", seq["vertices"])
    eyes = dress(scene, seq["vertices"], seq["faces"],
                 garment_regions(weights=seq["weights"], bone_names=seq["bone_names"]))[-1]
    assert eyes["name"] == "eyes"
    if not with_eyes:
        scene["eyes"] = None
    worn = dress(scene, seq["vertices"], seq["faces"],
                 garment_regions(weights=seq["weights"], bone_names=seq["bone_names"]))
    mid = eyes["vertices"][0].mean(0).astype(float)
    pos = mid + np.array([0.35, 0.03, 0.0])  # in front of the face (the subject faces +X)
    R, t = look_at(pos, mid)
    scene["cameras"] = [camera_dict(intrinsics(50.0, 36.0, W, H), R, t, W, H, 50.0, 36.0, "HORIZONTAL", "face")]
    b = write_render_bundle(root / "bundle", seq["vertices"], seq["faces"], seq["uv"], worn, scene, cfg.render)
    res = render_trial(b, root / "out", cfg.render)
    n = eyes["vertices"].shape[1] // 2
    pupils = eyes["vertices"][0, [0, n]].astype(float)  # vertex 0 of each eyeball: the pupil centre
    return {"rgb": read_frames(res["videos"]["face"])[0].astype(float), "mask": load_masks(res["masks"]["face"])[0],
            "depth": load_depth(res["depth"]["face"])[0], "camera": scene["cameras"][0], "pupils": pupils,
            "scene": scene}


def test_eyes_appear_in_a_render(tmp_path, blender_python):
    on = _render(tmp_path / "on", True)
    off = _render(tmp_path / "off", False)
    assert on["scene"]["eyes"]["material"] == "eye" and off["scene"]["eyes"] is None
    px, z = project(on["camera"], on["pupils"])
    for (x, y), depth in zip(px, z):
        col, row = int(x), int(y)
        # the pupil (4.6 mm) is about 1-2 px here: the darkest pixel within 1 px of its centre,
        # against the skin the eyeless render has there (measured 62 and 79 vs 201)
        lum_on = on["rgb"][row - 1:row + 2, col - 1:col + 2].mean(-1).min()
        lum_off = off["rgb"][row - 1:row + 2, col - 1:col + 2].mean(-1).mean()
        assert lum_on < 0.5 * lum_off, (lum_on, lum_off)  # a dark pupil where there was skin
        assert on["mask"][row, col]  # the eyes are the person
        assert abs(on["depth"][row, col] - depth) < 0.004  # the eyeball's own surface
        # around the pupil the iris and the sclera: brighter than the pupil
        patch = on["rgb"][row - 2:row + 3, col - 4:col + 5].mean(-1)
        assert patch.max() > 2 * lum_on
