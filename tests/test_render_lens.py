"""Lens distortion through the real Blender worker (Workbench, 160x120, 4 frames, two views):
the warped masks and depth match the distorted projection of the person, not the pinhole one."""

from __future__ import annotations

import numpy as np
import pytest

from odahgen.config import load_config
from odahgen.render.bundle import person_meshes, write_render_bundle
from odahgen.render.stage import load_masks, render_trial
from odahgen.render.video import read_frames
from odahgen.scene.cameras import project
from odahgen.scene.garments import dress, garment_regions
from odahgen.scene.sample import sample_scene
from odahgen.testing.scene import demo_sequence

pytestmark = pytest.mark.blender
FRAMES = 4


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, blender_python):
    walk = demo_sequence("walk", frames=FRAMES)
    cfg = load_config("demo", ["render.engine=workbench", "render.width=160", "render.height=120",
                               "render.device=cpu", "render.timeout_s=600", "render.depth=true",
                               "scene.cameras.lens_distortion=true", "scene.cameras.distortion_k1=[-0.2, -0.18]",
                               "scene.cameras.distortion_k2=[0.0, 0.02]"])
    root = tmp_path_factory.mktemp("lens")
    regions = garment_regions(weights=walk["weights"], bone_names=walk["bone_names"])
    scene = sample_scene(cfg, "t_lens", walk["vertices"])
    for cam in scene["cameras"]:  # turn each camera so that the person sits near a corner of the
        _turn(cam, 0.28, -0.09)  # frame, where the lens moves the image by several pixels
    worn = dress(scene, walk["vertices"], walk["faces"], regions)
    bundle = write_render_bundle(root / "bundle", walk["vertices"], walk["faces"], walk["uv"], worn, scene,
                                 cfg.render)
    result = render_trial(bundle, root / "out", cfg.render)
    return {"walk": walk, "scene": scene, "bundle": bundle, "result": result}


def _turn(cam, yaw, pitch):
    """Rotate a scene camera about its own centre: ``yaw`` (rad) about its y axis, then ``pitch``
    about its x axis."""
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    turn = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]]) @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    cam["R"] = (turn @ np.asarray(cam["R"])).tolist()
    cam["t"] = (turn @ np.asarray(cam["t"])).tolist()


def _bbox(mask):
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


def test_outputs_keep_the_configured_size(rendered):
    res = rendered["result"]
    for view in ("front", "side"):
        info = res["video_info"][view]
        assert (info["width"], info["height"], info["frames"]) == (160, 120, FRAMES)
        assert load_masks(res["masks"][view]).shape == (FRAMES, 120, 160)
        assert read_frames(res["videos"][view]).shape[1:3] == (120, 160)


def test_mask_and_depth_follow_the_distorted_projection(rendered):
    from odahgen.render.depth import load_depth
    from odahgen.render.visibility import keypoint_visibility, mask_iou, person_masks

    walk, res = rendered["walk"], rendered["result"]
    meshes = person_meshes(rendered["bundle"])
    for cam in rendered["scene"]["cameras"]:
        assert cam["distortion"][0] <= -0.18
        pin = {k: v for k, v in cam.items() if k != "distortion"}
        mask = load_masks(res["masks"][cam["name"]])
        depth = load_depth(res["depth"][cam["name"]])
        assert np.array_equal(np.isfinite(depth), mask)
        # the person's silhouette: the box of its projected vertices (distorted) is the mask's box
        verts = np.concatenate([m[0] for m in meshes], axis=1)
        for f in range(FRAMES):
            got = _bbox(mask[f])
            pd, _ = project(cam, verts[f])
            pp, _ = project(pin, verts[f])
            lens_box = np.array([pd[:, 0].min(), pd[:, 1].min(), pd[:, 0].max(), pd[:, 1].max()])
            pin_box = np.array([pp[:, 0].min(), pp[:, 1].min(), pp[:, 0].max(), pp[:, 1].max()])
            assert np.abs(got - lens_box).max() < 1.6, (cam["name"], f, got, lens_box)
            assert np.abs(got - pin_box).max() > 3.0, (cam["name"], f, got, pin_box)
        # visible joint centres: their distorted pixel is on the mask
        vis, pmask = keypoint_visibility(meshes, walk["joints"], cam, return_masks=True)
        assert vis.mean() > 0.5
        px, _ = project(cam, walk["joints"])
        col, row = np.floor(px[..., 0]).astype(int), np.floor(px[..., 1]).astype(int)
        t = np.arange(FRAMES)[:, None].repeat(px.shape[1], 1)
        assert mask[t[vis], row[vis], col[vis]].mean() >= 0.95
        # pyrender through the same lens agrees with Blender's mask; the pinhole one much less
        assert mask_iou(pmask, mask) > 0.85
        assert mask_iou(person_masks(meshes, pin), mask) < mask_iou(pmask, mask) - 0.05


@pytest.mark.slow
def test_demo_trial_with_a_lens_is_labelled_through_it(tmp_path, blender_python):
    """The whole pipeline (procedural walk, anny, Blender, GT stage) with the lens on, 160x128."""
    import subprocess
    import sys

    from odahgen.export import export_pose2sim
    from odahgen.export.pose2sim import pose2sim_to_opensim, read_calib, triangulate
    from odahgen.gt import load_trial
    from odahgen.gt.validate import check_cameras

    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "odahgen.cli", "demo", "-o", str(out), "--set", "dataset.subjects=1",
           "--set", "motion.motions=['walk_normal']", "--set", "render.width=160", "--set", "render.height=128",
           "--set", "scene.cameras.lens_distortion=true"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (trial,) = sorted((out / "trials").iterdir())
    gt = load_trial(trial / "trial.h5")
    assert gt.qa.passed and check_cameras(gt)[0] == []
    scene_cams = {c["name"]: c for c in gt.scene["cameras"]}
    for view, cam in gt.cameras.items():
        assert np.array_equal(cam.distortion, scene_cams[view]["distortion"]) and cam.distortion[0] != 0
        assert np.array_equal(cam.keypoints_2d, cam.project(gt.keypoints_3d)[0], equal_nan=True)
        mask = load_masks(trial / gt.videos[view].mask_path)
        assert mask.shape[1:] == (128, 160)
        # the visible joint centres' distorted pixels are on the (distorted) mask
        assert cam.keypoints_in_mask[cam.visibility].mean() > 0.9
    p2s = export_pose2sim(out, tmp_path / "p2s")
    info = p2s["trials"][trial.name]
    cal = read_calib(tmp_path / "p2s" / trial.name / "calibration" / "Calib.toml")
    names = sorted(cal)
    assert all(cal[n]["dist"][0] != 0 for n in names)
    X = triangulate([cal[n] for n in names], [gt.cameras[info["cameras"][n]].coco_2d for n in names])
    assert np.nanmax(np.linalg.norm(pose2sim_to_opensim(X) - gt.coco.positions, axis=-1)) < 1e-6
