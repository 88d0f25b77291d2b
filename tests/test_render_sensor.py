"""odahgen.render.sensor: the sensor noise the core adds to each frame on its way to the encoder."""

from __future__ import annotations

import numpy as np
import pytest

from odahgen.errors import OdahgenError
from odahgen.render.blender_lens import read_bmp, write_bmp
from odahgen.render.sensor import add_sensor_noise, frame_seed


def _bmp(tmp_path, rgb) -> bytearray:
    path = tmp_path / "f.bmp"
    write_bmp(str(path), rgb)
    return bytearray(path.read_bytes())


def _rgb(tmp_path, data: bytearray) -> np.ndarray:
    path = tmp_path / "g.bmp"
    path.write_bytes(bytes(data))
    return read_bmp(str(path))


def test_noise_follows_the_model_and_is_seeded(tmp_path):
    grey = _bmp(tmp_path, np.full((120, 160, 3), 128, np.uint8))
    a, b, c = bytearray(grey), bytearray(grey), bytearray(grey)
    add_sensor_noise(a, 2.0, frame_seed(0, 1))
    add_sensor_noise(b, 2.0, frame_seed(0, 1))
    add_sensor_noise(c, 2.0, frame_seed(1, 1))
    assert a == b and a != c
    noise = _rgb(tmp_path, a).astype(float) - 128
    model = 2.0 * np.sqrt(0.1 + 0.9 * 128 / 255)
    assert abs(noise.mean()) < 0.05
    assert noise.std() == pytest.approx(np.sqrt(model**2 + 1 / 12), rel=0.03)  # + 8-bit rounding
    # the read-noise floor: darker pixels get less noise, never below 0 or above 255
    dark = bytearray(_bmp(tmp_path, np.full((120, 160, 3), 0, np.uint8)))
    add_sensor_noise(dark, 2.0, 3)
    d = _rgb(tmp_path, dark).astype(float)
    assert d.min() == 0 and 0 < d.mean() < 0.5 * noise.std()
    white = bytearray(_bmp(tmp_path, np.full((120, 160, 3), 255, np.uint8)))
    add_sensor_noise(white, 2.0, 3)
    assert _rgb(tmp_path, white).max() == 255


def test_row_padding_and_header_are_left_alone(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)  # 15 bytes + 1 pad a row
    data = _bmp(tmp_path, rgb)
    before = bytes(data)
    add_sensor_noise(data, 4.0, 9)
    start = int.from_bytes(before[10:14], "little")
    rows_b = np.frombuffer(before[start:], np.uint8).reshape(7, 16)
    rows_a = np.frombuffer(bytes(data)[start:], np.uint8).reshape(7, 16)
    assert bytes(data)[:start] == before[:start]
    assert (rows_a[:, 15] == rows_b[:, 15]).all() and (rows_a[:, :15] != rows_b[:, :15]).any()
    same = bytearray(before)
    add_sensor_noise(same, 0.0, 9)
    assert same == before


def test_anything_but_a_24_bit_bmp_is_refused_by_name(tmp_path):
    with pytest.raises(OdahgenError, match="frames/00001.png: sensor noise needs a 24-bit"):
        add_sensor_noise(bytearray(b"\x89PNG" + bytes(60)), 2.0, 1, name="frames/00001.png")
    data = _bmp(tmp_path, np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(OdahgenError, match="truncated BMP"):
        add_sensor_noise(data[:-10], 2.0, 1, name="f.bmp")
