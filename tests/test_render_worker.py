"""The real Blender worker on a 10-frame 160x120 two-view clip (Cycles and Workbench): video
facts, person in frame, projection of visible joint centres onto the rendered mask, pyrender
cross-checks, and same seed -> same scene and pixels."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from odahgen.config import load_config
from odahgen.render.bundle import write_render_bundle
from odahgen.scene.cameras import project
from odahgen.render.stage import load_masks, render_trial
from odahgen.render.video import read_frames
from odahgen.testing.scene import demo_sequence
from odahgen.scene.garments import dress, garment_regions
from odahgen.scene.sample import sample_scene

pytestmark = pytest.mark.blender
FRAMES = 10


def _config(engine):
    return load_config("demo", [f"render.engine={engine}", "render.width=160", "render.height=120",
                                "render.samples=2", "render.device=cpu", "render.timeout_s=600",
                                "render.depth=true"])


@pytest.fixture(scope="module")
def walk():
    return demo_sequence("walk", frames=FRAMES)


def _bundle(walk, engine, folder, trial="t_walk"):
    cfg = _config(engine)
    regions = garment_regions(weights=walk["weights"], bone_names=walk["bone_names"])
    scene = sample_scene(cfg, trial, walk["vertices"])
    garments = dress(scene, walk["vertices"], walk["faces"], regions)
    path = write_render_bundle(folder, walk["vertices"], walk["faces"], walk["uv"], garments, scene, cfg.render)
    return cfg, scene, garments, path


@pytest.fixture(scope="module", params=["cycles", "workbench"])
def rendered(request, walk, tmp_path_factory, blender_python):
    engine = request.param
    root = tmp_path_factory.mktemp(engine)
    cfg, scene, garments, bundle = _bundle(walk, engine, root / "bundle")
    result = render_trial(bundle, root / "out", cfg.render, keep_frames=True)
    return {"engine": engine, "cfg": cfg, "scene": scene, "garments": garments, "bundle": bundle,
            "result": result, "root": root}


def test_videos_have_the_right_frames_fps_size_codec(rendered):
    res = rendered["result"]
    assert set(res["videos"]) == {"front", "side"}
    for view, info in res["video_info"].items():
        assert info == {**info, "codec": "h264", "width": 160, "height": 120, "frames": FRAMES}
        assert info["fps"] == pytest.approx(60.0)
        frames = read_frames(res["videos"][view])
        assert frames.shape == (FRAMES, 120, 160, 3)
    assert res["worker"]["cache_max_error_m"] < 1e-5  # scene frame f plays cache frame f-1


def test_person_in_frame_in_both_views(rendered):
    for view, path in rendered["result"]["masks"].items():
        m = load_masks(path)
        assert m.shape == (FRAMES, 120, 160)
        area = m.mean(axis=(1, 2))
        assert (area > 0.01).all(), view
        border = m[:, 0].any() or m[:, -1].any() or m[:, :, 0].any() or m[:, :, -1].any()
        assert not border, view


def test_projected_visible_joints_land_in_the_mask(rendered, walk):
    from odahgen.render.visibility import keypoint_visibility, mask_iou

    meshes = [(walk["vertices"], walk["faces"])] + [(g["vertices"], g["faces"]) for g in rendered["garments"]]
    for cam in rendered["scene"]["cameras"]:
        vis, pmask = keypoint_visibility(meshes, walk["joints"], cam, return_masks=True)
        assert vis.mean() > 0.5
        bmask = load_masks(rendered["result"]["masks"][cam["name"]])
        px, _ = project(cam, walk["joints"])
        col, row = np.floor(px[..., 0]).astype(int), np.floor(px[..., 1]).astype(int)
        t = np.arange(FRAMES)[:, None].repeat(px.shape[1], 1)
        hit = bmask[t[vis], row[vis], col[vis]]
        assert hit.mean() >= 0.95, (cam["name"], hit.mean())
        # pyrender's person mask agrees with Blender's (low resolution: edges weigh a lot)
        assert mask_iou(pmask, bmask) > 0.85
        # the side view hides some joints behind the body; the front view of a walk hardly any
        if cam["name"] == "side":
            assert vis.mean() < 0.95


def test_depth_is_the_person_distance_and_background_is_invalid(rendered, walk):
    from odahgen.render.depth import load_depth
    from odahgen.render.visibility import keypoint_visibility

    meshes = [(walk["vertices"], walk["faces"])] + [(g["vertices"], g["faces"]) for g in rendered["garments"]]
    for cam in rendered["scene"]["cameras"]:
        depth = load_depth(rendered["result"]["depth"][cam["name"]])
        mask = load_masks(rendered["result"]["masks"][cam["name"]])
        assert depth.shape == (FRAMES, 120, 160)
        assert np.array_equal(np.isfinite(depth), mask)  # depth on the person only, NaN elsewhere
        px, z = project(cam, walk["joints"])
        vis = keypoint_visibility(meshes, walk["joints"], cam)
        col, row = np.floor(px[..., 0]).astype(int), np.floor(px[..., 1]).astype(int)
        t = np.arange(FRAMES)[:, None].repeat(px.shape[1], 1)
        d = depth[t[vis], row[vis], col[vis]]
        behind = z[vis] - d  # a visible joint centre lies inside the body, behind its surface
        ok = np.isfinite(behind)
        assert ok.mean() > 0.9
        assert np.median(behind[ok]) == pytest.approx(0.06, abs=0.04), cam["name"]
        assert (np.abs(behind[ok] - 0.06) < 0.1).mean() > 0.9, cam["name"]
        # the person is metres from the camera, as far as the scene's camera distance says
        assert abs(np.nanmedian(depth) - cam["distance_m"]) < 0.5


def test_the_room_and_textures_are_rendered(rendered):
    frames = read_frames(rendered["result"]["videos"]["front"]).astype(float)
    m = load_masks(rendered["result"]["masks"]["front"])
    assert frames[~m].mean() > 15  # the room is lit, not black
    assert frames[m].std() > 5  # textured person, not a flat silhouette


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bundle_and_pixels(rendered, walk, tmp_path):
    if rendered["engine"] != "cycles":
        pytest.skip("checked once, with the sampling engine")
    cfg, scene, _, bundle = _bundle(walk, "cycles", tmp_path / "bundle")
    assert json.dumps(scene, sort_keys=True) == json.dumps(rendered["scene"], sort_keys=True)
    assert _digest(bundle) == _digest(rendered["bundle"])
    again = render_trial(bundle, tmp_path / "out", cfg.render, keep_frames=True)
    a = Path(rendered["result"]["frames_dir"]) / "frames"
    b = Path(again["frames_dir"]) / "frames"
    from PIL import Image

    files = sorted(p for p in a.rglob("*") if p.is_file())
    assert len(files) == 2 * FRAMES  # both views
    for pa in files:
        pb = b / pa.relative_to(a)
        assert np.array_equal(np.asarray(Image.open(pa)), np.asarray(Image.open(pb))), pa.name
    for view in ("front", "side"):
        assert np.array_equal(read_frames(rendered["result"]["videos"][view]), read_frames(again["videos"][view]))


def test_frame_step_gives_every_nth_frame(walk, tmp_path, blender_python):
    cfg, _, _, bundle = _bundle(walk, "workbench", tmp_path / "bundle")
    rc = cfg.render.model_copy(update={"frame_step": 3})
    write_render_bundle(bundle, walk["vertices"], walk["faces"], walk["uv"], [], json.loads((bundle / "scene.json").read_text()), rc)
    res = render_trial(bundle, tmp_path / "out", rc, views=["front"])
    assert res["video_info"]["front"]["frames"] == 4  # frames 1, 4, 7, 10
    assert res["video_info"]["front"]["fps"] == pytest.approx(20.0)


def test_worker_reports_the_opengl_device(rendered):
    """EEVEE/Workbench runs report the OpenGL device that really rendered (GPU or software)."""
    device = rendered["result"]["worker"]["device"]
    if rendered["engine"] == "cycles":
        assert device == "CPU"  # render.device=cpu
    else:
        kind = device.split(":")[0]
        assert kind in {"NVIDIA", "AMD", "ATI", "INTEL", "APPLE", "QUALCOMM", "SOFTWARE", "ANY", "UNKNOWN"}, device
        assert kind != "UNKNOWN", device  # something was drawn, so the context is known


def test_device_gpu_refuses_a_software_rasterizer(tmp_path, blender_python):
    """render.device=gpu with Workbench: the worker checks the OpenGL renderer first; on a
    machine whose OpenGL is llvmpipe (no GPU) it fails with one line naming it."""
    from odahgen.errors import OdahgenError

    walk = demo_sequence("walk", frames=2)
    cfg = load_config("demo", ["render.engine=workbench", "render.width=64", "render.height=48",
                               "render.device=gpu", "render.timeout_s=300"])
    regions = garment_regions(weights=walk["weights"], bone_names=walk["bone_names"])
    scene = sample_scene(cfg, "t_gpu", walk["vertices"])
    garments = dress(scene, walk["vertices"], walk["faces"], regions)
    bundle = write_render_bundle(tmp_path / "bundle", walk["vertices"], walk["faces"], walk["uv"], garments,
                                 scene, cfg.render)
    try:
        res = render_trial(bundle, tmp_path / "out", cfg.render)
    except OdahgenError as exc:
        assert "software OpenGL renderer" in str(exc), exc
        assert "\n" not in str(exc).strip()
        return
    assert not res["worker"]["device"].startswith("SOFTWARE"), res["worker"]  # a GPU machine
