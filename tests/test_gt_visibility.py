"""The gt stage's CPU depth test (odahgen.gt.visibility) against the rasterised reference
(pyrender, odahgen.render.visibility), and the packed masks against the unpacked ones."""

from __future__ import annotations

import numpy as np

from odahgen.gt.build import inside_mask
from odahgen.gt.masks import PackedMasks
from odahgen.gt.schema_dense import mask_bboxes
from odahgen.gt.visibility import keypoint_visibility, surface_depth
from odahgen.render.visibility import Rasterizer
from odahgen.render.visibility import keypoint_visibility as reference_visibility
from odahgen.testing.scene import dressed_walk, visibility_probes


def test_cpu_depth_test_matches_the_rasterised_one():
    seq, scene, meshes = dressed_walk(8)
    pts, tol = visibility_probes(seq, scene["cameras"][0], 150)
    agree = total = 0
    lens = dict(scene["cameras"][1], distortion=[-0.25, 0.05, 0.0, 0.0, 0.0])  # barrel: a grown frame
    for cam in scene["cameras"] + [lens]:
        ref = reference_visibility(meshes, pts, cam, tol_m=tol)
        fast = keypoint_visibility(meshes, pts, cam, tol_m=tol)
        assert fast.shape == ref.shape and fast.dtype == bool
        assert not fast[:, 150:].any()
        assert 0 < fast[:, :150].sum() < fast[:, :150].size  # some hidden, some not
        agree += int((fast == ref).sum())
        total += ref.size
    # the two read the depth at the same sample point; only edges between overlapping parts
    # (fill rule) and the depth buffer's 24-bit rounding may differ
    assert agree >= 0.995 * total


def test_cpu_depth_equals_the_depth_buffer_under_every_pixel():
    """At every pixel of a frame (the person small, as in a dataset, and large: the binning's
    general path), the same coverage and depth as the rasteriser's depth buffer."""
    _, scene, meshes = dressed_walk(1)
    cam = dict(scene["cameras"][0])
    for focal_scale in (1.0, 4.0):
        K = np.asarray(cam["K"], float).copy()
        K[:2, :2] *= focal_scale
        c = dict(cam, K=K.tolist())
        with Rasterizer(c) as r:
            ref = r.depth([(m[0], m[1], (0.8, 0.8, 0.8)) for m in meshes], 0)
        rows, cols = np.mgrid[0:240, 0:320]
        fast = surface_depth(meshes, c, cols.reshape(1, -1), rows.reshape(1, -1),
                             np.ones((1, rows.size), bool))[0].reshape(240, 320)
        covered = ref > 0
        assert covered.sum() > 200
        assert ((fast > 0) != covered).sum() <= 0.01 * covered.sum()
        both = covered & (fast > 0)
        assert np.median(np.abs(fast[both] - ref[both])) < 1e-3


def test_packed_masks_bboxes_and_lookups():
    rng = np.random.default_rng(1)
    for shape in ((5, 12, 16), (4, 9, 13)):  # rows on byte boundaries, and not
        m = np.zeros(shape, bool)
        for f in range(shape[0] - 1):  # the last frame empty
            y0, x0 = rng.integers(0, shape[1] - 3), rng.integers(0, shape[2] - 3)
            m[f, y0:y0 + 3, x0:x0 + rng.integers(1, 4)] = True
        m[0, -1, -1] = True
        packed = PackedMasks(np.packbits(m.ravel()), shape)
        assert np.array_equal(packed.unpack(), m)
        assert np.array_equal(packed.bboxes(), mask_bboxes(m), equal_nan=True)
        px = rng.uniform(-2, shape[2] + 2, (shape[0] + 1, 30, 2))
        px[..., 1] *= shape[1] / shape[2]
        px[0, 0] = np.nan
        assert np.array_equal(inside_mask(px, packed), inside_mask(px, m))
