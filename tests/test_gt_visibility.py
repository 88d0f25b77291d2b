"""The gt stage's CPU depth test (odahgen.gt.visibility) against the rasterised reference
(pyrender, odahgen.render.visibility), and the packed masks against the unpacked ones."""

from __future__ import annotations

import numpy as np

from odahgen.config import load_config
from odahgen.gt.build import inside_mask
from odahgen.gt.masks import PackedMasks
from odahgen.gt.schema_dense import mask_bboxes
from odahgen.gt.visibility import keypoint_visibility, surface_depth
from odahgen.render.visibility import Rasterizer
from odahgen.render.visibility import keypoint_visibility as reference_visibility
from odahgen.scene.garments import dress, garment_regions
from odahgen.scene.sample import sample_scene
from odahgen.testing.scene import demo_sequence


def _dressed(n: int, size: tuple[int, int]):
    cfg = load_config("demo", [f"render.width={size[0]}", f"render.height={size[1]}"])
    seq = demo_sequence("walk", frames=n)
    regions = garment_regions(weights=seq["weights"], bone_names=seq["bone_names"])
    scene = sample_scene(cfg, "vis_walk", seq["vertices"])
    garments = dress(scene, seq["vertices"], seq["faces"], regions)
    meshes = [(seq["vertices"], seq["faces"])] + [(g["vertices"], g["faces"]) for g in garments]
    return seq, scene, meshes


def test_cpu_depth_test_matches_the_rasterised_one():
    n = 8
    seq, scene, meshes = _dressed(n, (320, 240))
    rng = np.random.default_rng(0)
    idx = rng.choice(seq["vertices"].shape[1], 150, replace=False)
    # points just inside the surface (visible or hidden by another part), one far outside
    # the image and one behind the camera: both never visible
    pts = seq["vertices"][:, idx] * 0.98 + 0.02 * seq["vertices"].mean(axis=1, keepdims=True)
    cam = scene["cameras"][0]
    R, t = np.asarray(cam["R"]), np.asarray(cam["t"])
    centre = -R.T @ t
    pts = np.concatenate([pts, np.tile(centre + 50.0 * R[0], (n, 1, 1)),
                          np.tile(centre - 1.0 * R[2], (n, 1, 1))], axis=1)
    tol = np.full(pts.shape[1], 0.05)
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
    _, scene, meshes = _dressed(1, (320, 240))
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
