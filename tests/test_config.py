"""Config loading: TOML errors, unknown keys, wrong types and overrides name file + key."""

from __future__ import annotations

import pytest

from odahgen.config import config_hash, load_config, parse_override
from odahgen.config.loader import builtin_config_path
from odahgen.errors import ConfigError


def write(tmp_path, text, name="c.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_and_shipped_configs_validate():
    assert load_config().render.width == 1080
    for name in ("odah", "demo"):
        cfg = load_config(builtin_config_path(name))
        assert cfg.motion.min_frames >= 64


def test_odah_config_has_the_papers_numbers():
    cfg = load_config("odah")
    assert (cfg.render.width, cfg.render.height, cfg.render.fps) == (1080, 720, 60)
    assert cfg.render.engine == "eevee" and cfg.render.motion_blur is False
    cams = cfg.scene.cameras
    assert [v.name for v in cams.views] == ["front", "side"]
    assert (cams.height_m, cams.height_jitter_m) == (1.1, 0.1)
    assert (cams.focal_mm, cams.sensor_width_mm, cams.sensor_fit) == (33.0, 36.0, "HORIZONTAL")
    assert len(cfg.scene.clothing.upper_types) == 4 and len(cfg.scene.clothing.lower_types) == 4
    assert cfg.scene.clothing.textures_per_type == 5
    assert cfg.dataset.shape_variants == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert cfg.dataset.split == {"train": 42, "val": 6, "test": 8}
    assert cfg.dataset.subjects == 56


def test_demo_config_is_cpu_sized():
    cfg = load_config("demo")
    assert cfg.render.engine in ("cycles", "workbench") and cfg.render.device == "cpu"
    assert cfg.render.width * cfg.render.height <= 320 * 240
    assert cfg.motion.clip_seconds * cfg.motion.fps >= 64


def test_bad_toml_names_the_file(tmp_path):
    path = write(tmp_path, "[render\nwidth = 3")
    with pytest.raises(ConfigError, match=r"c\.toml: not valid TOML"):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")


def test_unknown_key_names_file_and_key(tmp_path):
    path = write(tmp_path, "[render]\nwidht = 640\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "c.toml" in msg and "render.widht" in msg and "unknown key" in msg
    assert "\n" not in msg


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match="renderer: unknown key"):
        load_config(write(tmp_path, "[renderer]\nwidth = 640\n"))


def test_wrong_type_names_key_and_value(tmp_path):
    path = write(tmp_path, '[render]\nwidth = "big"\n')
    with pytest.raises(ConfigError, match=r"render\.width: .*integer.*'big'"):
        load_config(path)


def test_nested_wrong_value(tmp_path):
    path = write(tmp_path, '[scene.clothing]\nupper_types = ["cape"]\n')
    with pytest.raises(ConfigError, match=r"scene\.clothing\.upper_types.*cape"):
        load_config(path)


def test_override_sets_values_with_toml_types():
    cfg = load_config("demo", ["render.engine=workbench", "render.width=320", "render.mask=false",
                               "scene.lights.power_w=[10.0, 20.0]"])
    assert cfg.render.engine == "workbench" and cfg.render.width == 320
    assert cfg.render.mask is False and cfg.scene.lights.power_w == (10.0, 20.0)


@pytest.mark.parametrize(
    "override, pattern",
    [
        ("render.engine=povray", r"render\.engine.*povray"),
        ("render.nosuch=1", r"render\.nosuch: unknown key"),
        ("render.width=wide", r"render\.width.*'wide'"),
        ("render", r"expected KEY=VALUE"),
        ("=3", r"empty key"),
        ("render.width.x=3", r"render\.width.* not a section|render\.width"),
    ],
)
def test_bad_overrides(override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config("demo", [override])


def test_parse_override_plain_string():
    assert parse_override("render.engine=cycles") == (["render", "engine"], "cycles")
    assert parse_override("dataset.seed=12") == (["dataset", "seed"], 12)


def test_config_hash_is_stable_and_sensitive():
    a, b = load_config("demo"), load_config("demo")
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(load_config("demo", ["dataset.seed=8"]))
