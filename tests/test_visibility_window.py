"""The depth test of the gt stage rasterises only the window that holds each frame's
keypoints: the same visibility as rasterising the whole frame."""

from __future__ import annotations

import numpy as np

from odahgen.render.visibility import keypoint_visibility
from odahgen.testing.scene import dressed_walk, visibility_probes


def test_windowed_depth_test_equals_the_full_frame_one():
    n = 12
    seq, scene, meshes = dressed_walk(n)
    # points just inside the surface (visible or hidden by another part), one far outside
    # the image and one behind the camera: both never visible
    pts, tol = visibility_probes(seq, scene["cameras"][0], 80)
    for cam in scene["cameras"]:
        full, masks = keypoint_visibility(meshes, pts, cam, tol_m=tol, return_masks=True)
        window = keypoint_visibility(meshes, pts, cam, tol_m=tol)
        assert masks.shape == (n, 240, 320)
        assert np.array_equal(full, window)
        assert 0 < window[:, :80].sum() < window[:, :80].size  # some hidden, some not
        assert not window[:, 80:].any()
