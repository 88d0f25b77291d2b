"""The depth test of the gt stage rasterises only the window that holds each frame's
keypoints: the same visibility as rasterising the whole frame."""

from __future__ import annotations

import numpy as np

from odahgen.config import load_config
from odahgen.render.visibility import keypoint_visibility
from odahgen.scene.garments import dress, garment_regions
from odahgen.scene.sample import sample_scene
from odahgen.testing.scene import demo_sequence


def test_windowed_depth_test_equals_the_full_frame_one():
    cfg = load_config("demo", ["render.width=320", "render.height=240"])
    n = 12
    seq = demo_sequence("walk", frames=n)
    regions = garment_regions(weights=seq["weights"], bone_names=seq["bone_names"])
    scene = sample_scene(cfg, "vis_walk", seq["vertices"])
    garments = dress(scene, seq["vertices"], seq["faces"], regions)
    meshes = [(seq["vertices"], seq["faces"])] + [(g["vertices"], g["faces"]) for g in garments]
    rng = np.random.default_rng(0)
    idx = rng.choice(seq["vertices"].shape[1], 80, replace=False)
    # points just inside the surface (visible or hidden by another part), one far outside
    # the image and one behind the camera: both never visible
    pts = seq["vertices"][:, idx] * 0.98 + 0.02 * seq["vertices"].mean(axis=1, keepdims=True)
    cam = scene["cameras"][0]
    R, t = np.asarray(cam["R"]), np.asarray(cam["t"])
    centre = -R.T @ t
    pts = np.concatenate([pts, np.tile(centre + 50.0 * R[0], (n, 1, 1)),
                          np.tile(centre - 1.0 * R[2], (n, 1, 1))], axis=1)
    tol = np.full(pts.shape[1], 0.05)
    for cam in scene["cameras"]:
        full, masks = keypoint_visibility(meshes, pts, cam, tol_m=tol, return_masks=True)
        window = keypoint_visibility(meshes, pts, cam, tol_m=tol)
        assert masks.shape == (n, 240, 320)
        assert np.array_equal(full, window)
        assert 0 < window[:, :80].sum() < window[:, :80].size  # some hidden, some not
        assert not window[:, 80:].any()
