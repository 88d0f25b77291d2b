"""Scene sampling: seeded, JSON data, cameras that frame the whole motion, lights, textures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from odahgen.config import load_config
from odahgen.scene.cameras import focal_px, project
from odahgen.scene import textures
from odahgen.scene.sample import kelvin_to_rgb, motion_bounds, sample_scene, texture_library

BOUNDS = {"min": [-0.3, 0.0, -0.45], "max": [1.9, 1.75, 0.45]}  # a walk over 2 m


@pytest.fixture(scope="module")
def odah():
    return load_config("odah")


def test_same_seed_same_scene_json(odah):
    a = sample_scene(odah, "s01_walk_0", BOUNDS)
    b = sample_scene(odah, "s01_walk_0", BOUNDS)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    json.loads(json.dumps(a))  # pure JSON data
    c = sample_scene(odah, "s01_walk_1", BOUNDS)
    assert json.dumps(a, sort_keys=True) != json.dumps(c, sort_keys=True)
    other_seed = load_config("odah", ["dataset.seed=99"])
    assert sample_scene(other_seed, "s01_walk_0", BOUNDS)["cameras"] != a["cameras"]


def test_clothing_covers_all_types_and_textures(odah):
    uppers, lowers, upper_tex = set(), set(), set()
    for i in range(120):
        s = sample_scene(odah, f"trial{i}", BOUNDS)
        uppers.add(s["clothing"]["upper"]["type"])
        lowers.add(s["clothing"]["lower"]["type"])
        upper_tex.add((s["clothing"]["upper"]["type"], s["clothing"]["upper"]["texture_index"]))
    assert uppers == {"vest", "short_sleeves", "three_quarter_sleeves", "long_sleeves"}
    assert lowers == {"short_shorts", "knee_shorts", "capri", "trousers"}
    assert len(upper_tex) >= 4 * 4  # most of the 4 x 5 (type, texture) combinations show up
    for g in ("vest", "trousers"):
        lib = texture_library(odah, g)
        assert len(lib) == 5 and len({json.dumps(t, sort_keys=True) for t in lib}) == 5


def test_cameras_follow_the_spec_and_frame_the_motion(odah):
    cam_cfg = odah.scene.cameras
    lo, hi = np.array(BOUNDS["min"]), np.array(BOUNDS["max"])
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    for i in range(10):
        s = sample_scene(odah, f"t{i}", BOUNDS)
        names = [c["name"] for c in s["cameras"]]
        assert names == ["front", "side"]
        for c in s["cameras"]:
            assert abs(c["position"][1] - 1.1) <= 0.1 + 1e-9
            assert c["focal_mm"] == 33.0 and c["sensor_width_mm"] == 36.0 and c["sensor_fit"] == "HORIZONTAL"
            assert c["K"][0][0] == pytest.approx(33.0 / 36.0 * 1080)
            assert (c["width"], c["height"]) == (1080, 720)
            R = np.asarray(c["R"])
            assert np.allclose(R @ R.T, np.eye(3), atol=1e-9) and np.linalg.det(R) == pytest.approx(1.0)
            px, z = project(c, corners)
            m = cam_cfg.margin
            assert (z > 0).all()
            assert px[:, 0].min() >= m * 1080 - 1e-6 and px[:, 0].max() <= (1 - m) * 1080 + 1e-6
            assert px[:, 1].min() >= m * 720 - 1e-6 and px[:, 1].max() <= (1 - m) * 720 + 1e-6
            # tight: the box touches the margin on at least one side (distance is minimal)
            slack = min(px[:, 0].min() - m * 1080, (1 - m) * 1080 - px[:, 0].max(),
                        px[:, 1].min() - m * 720, (1 - m) * 720 - px[:, 1].max())
            assert slack < 1.0
            # image up is world up; the camera looks roughly horizontally at the motion
            assert R[1, 1] < -0.9
        front, side = s["cameras"]
        dfront = np.asarray(front["position"]) - np.asarray(front["target"])
        dside = np.asarray(side["position"]) - np.asarray(side["target"])
        assert dfront[0] > 0.9 * np.hypot(dfront[0], dfront[2])  # in front of the subject (+X)
        assert abs(dside[2]) > 0.9 * np.hypot(dside[0], dside[2])  # beside it (sagittal view)


def test_extra_views_from_config():
    cfg = load_config("demo", ['scene.cameras.views=[{name="front", azimuth_deg=0}, '
                               '{name="side", azimuth_deg=90}, {name="back45", azimuth_deg=135}]'])
    s = sample_scene(cfg, "x", BOUNDS)
    assert [c["name"] for c in s["cameras"]] == ["front", "side", "back45"]
    assert s["cameras"][2]["K"][0][0] == pytest.approx(focal_px(33, 36, 240, 160))


def test_lights_on_the_ceiling(odah):
    s = sample_scene(load_config("odah", ["scene.hdri_fraction=0"]), "lights", BOUNDS)
    assert len(s["lights"]) == 4
    pos = np.array([lt["position"] for lt in s["lights"]])
    assert np.allclose(pos[:, 1], 3.0, atol=0.02)
    # evenly spread: a 2 x 2 grid centred on the motion
    assert len(np.unique(pos[:, 0].round(6))) == 2 and len(np.unique(pos[:, 2].round(6))) == 2
    assert np.allclose(pos[:, [0, 2]].mean(0), (np.array(BOUNDS["min"]) + BOUNDS["max"])[[0, 2]] / 2)
    for lt in s["lights"]:
        assert 300 <= lt["power_w"] <= 800 and 3500 <= lt["temperature_k"] <= 6500
    warm, cold = kelvin_to_rgb(3000), kelvin_to_rgb(9000)
    assert warm[0] == 1.0 and warm[2] < 0.3 and cold[2] == 1.0 and cold[0] < 1.0
    # the cameras stand inside the room
    half = np.asarray(s["room"]["half_size"])
    for c in s["cameras"]:
        off = np.abs(np.asarray(c["position"])[[0, 2]] - np.asarray(s["room"]["center"])[[0, 2]])
        assert (off < half).all()


def test_bounds_from_points_and_bad_points(odah):
    pts = np.random.default_rng(0).uniform(-0.5, 1.5, (5, 100, 3))
    b = motion_bounds(pts)
    assert np.allclose(b["min"], pts.reshape(-1, 3).min(0), atol=1e-6)
    assert sample_scene(odah, "p", pts) == sample_scene(odah, "p", b)
    from odahgen.errors import OdahgenError

    with pytest.raises(OdahgenError):
        motion_bounds(np.full((3, 3), np.nan))


def test_textures_deterministic_tileable_and_written(tmp_path):
    rng = np.random.default_rng(3)
    for kind in textures.KINDS:
        spec = textures.sample_texture_spec(rng, kind)
        a = textures.render_texture(spec)
        assert a.shape == (256, 256, 3) and a.dtype == np.uint8
        assert np.array_equal(a, textures.render_texture(spec))
        # periodic patterns: crossing the tile border is no bigger a jump than the largest
        # jump between neighbouring rows/columns inside the tile
        b = a.astype(int)
        for axis in (0, 1):
            inner = np.abs(np.diff(b, axis=axis)).mean(axis=tuple(i for i in range(3) if i != axis)).max()
            border = np.abs(np.take(b, 0, axis) - np.take(b, -1, axis)).mean()
            assert border <= inner + 1.0, (kind, axis)
    spec = textures.sample_texture_spec(rng, "plaid")
    path = textures.write_texture(spec, tmp_path / "t.png")
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(path)), textures.render_texture(spec))


def test_user_texture_folder(tmp_path):
    from PIL import Image

    folder = tmp_path / "tex"
    folder.mkdir()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(folder / "red.png")
    (folder / "notes.txt").write_text("not an image")
    cfg = load_config("demo", [f"scene.clothing.texture_dir={folder}"])
    lib = texture_library(cfg, "vest")
    assert len(lib) == cfg.scene.clothing.textures_per_type + 1
    assert lib[-1] == {"user": str((folder / "red.png").resolve())}
    from odahgen.errors import OdahgenError

    bad = load_config("demo", [f"scene.clothing.texture_dir={tmp_path / 'missing'}"])
    with pytest.raises(OdahgenError):
        texture_library(bad, "vest")


def test_places_rooms_and_hdri_worlds(odah):
    """Rooms (ceiling lights, realistic floor kinds, painted walls) and, for scene.hdri_fraction of
    the trials, a floor under one of Blender's HDRIs with no ceiling lights; camera response."""
    places = [sample_scene(odah, f"place{i}", BOUNDS) for i in range(60)]
    hdri = [s for s in places if s["room"]["kind"] == "hdri"]
    rooms = [s for s in places if s["room"]["kind"] == "room"]
    assert 8 <= len(hdri) <= 30 and rooms
    assert all(s["world"]["hdri"] and not s["lights"] for s in hdri)
    assert all(s["world"] is None and len(s["lights"]) == 4 for s in rooms)
    assert {s["room"]["floor"]["kind"] for s in rooms} == {"wood", "tiles", "concrete", "carpet"}
    assert all(s["room"]["walls"]["kind"] == "paint" for s in rooms)
    assert all(-0.8 <= s["camera_response"]["exposure_ev"] <= 0.2 for s in places)
    none = sample_scene(load_config("odah", ["scene.hdri_fraction=0", "scene.camera_response=false"]), "x", BOUNDS)
    assert none["room"]["kind"] == "room" and none["camera_response"] is None


def test_skin_tones_span_measured_human_skin():
    """CIELAB lightness of the drawn skin colours: within measured skin (about 27-72) and
    spread over it (not the L* 85 of the old light end)."""
    from odahgen.scene.sample import _skin

    def lightness(srgb):
        c = np.asarray(srgb, float)
        lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        y = lin @ [0.2126, 0.7152, 0.0722]
        return 116 * np.cbrt(y) - 16

    L = np.array([lightness(_skin(np.random.default_rng(i))["color"]) for i in range(300)])
    assert 25 < L.min() < 32 and 68 < L.max() < 75, (L.min(), L.max())
    assert np.histogram(L, bins=4, range=(27, 73))[0].min() > 40  # every quarter of the range drawn
