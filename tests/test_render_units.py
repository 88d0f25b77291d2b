"""PC2 files, the OpenSim -> Blender frame change, and camera conventions (no Blender)."""

from __future__ import annotations

import numpy as np
import pytest

from odahgen.errors import OdahgenError
from odahgen.scene.cameras import intrinsics, look_at, project
from odahgen.render.frames import blender_to_opensim, camera_to_blender_matrix, opensim_to_blender
from odahgen.render.pc2 import read_pc2, read_pc2_header, write_pc2


def test_pc2_round_trip_and_header(tmp_path):
    frames = np.random.default_rng(0).normal(size=(7, 5, 3))
    path = write_pc2(tmp_path / "a.pc2", frames)
    raw = path.read_bytes()
    assert raw[:12] == b"POINTCACHE2\0" and len(raw) == 32 + 7 * 5 * 3 * 4
    assert read_pc2_header(path) == {"version": 1, "vertex_count": 5, "start": 0.0, "sampling": 1.0,
                                     "frame_count": 7}
    assert np.allclose(read_pc2(path), frames.astype(np.float32))
    with pytest.raises(OdahgenError):
        write_pc2(tmp_path / "b.pc2", np.zeros((3, 4)))
    with pytest.raises(OdahgenError):
        write_pc2(tmp_path / "c.pc2", np.full((1, 2, 3), np.nan))
    (tmp_path / "d.pc2").write_bytes(b"NOTACACHE" * 5)
    with pytest.raises(OdahgenError):
        read_pc2(tmp_path / "d.pc2")


def test_frame_change_is_a_rotation():
    p = np.random.default_rng(1).normal(size=(10, 3))
    b = opensim_to_blender(p)
    assert np.allclose(b[:, 2], p[:, 1])  # OpenSim up (Y) is Blender up (Z)
    assert np.allclose(blender_to_opensim(b), p)
    assert np.allclose(np.linalg.norm(b, axis=1), np.linalg.norm(p, axis=1))
    assert np.linalg.det(opensim_to_blender(np.eye(3))) == pytest.approx(1.0)


def test_blender_camera_projects_like_the_stored_pinhole():
    """Project with Blender's camera model (matrix_world, -Z forward, sensor fit horizontal)
    and with x = K (R X + t): the pixels agree."""
    W, H = 1080, 720
    K = intrinsics(33.0, 36.0, W, H)
    R, t = look_at([3.5, 1.15, -0.4], [0.2, 0.9, 0.1])
    cam = {"K": K, "R": R, "t": t}
    pts = np.random.default_rng(2).uniform([-0.5, 0, -0.5], [1.0, 1.8, 0.5], (50, 3))
    px, _ = project(cam, pts)
    M = camera_to_blender_matrix(R, t)
    assert np.allclose(M[:3, :3] @ M[:3, :3].T, np.eye(3), atol=1e-12)
    local = (np.linalg.inv(M) @ np.c_[opensim_to_blender(pts), np.ones(len(pts))].T).T[:, :3]
    f = 33.0 / 36.0 * W  # Blender: sensor width spans the image width
    u = W / 2 + f * local[:, 0] / -local[:, 2]
    v = H / 2 - f * local[:, 1] / -local[:, 2]
    assert np.allclose(np.c_[u, v], px, atol=1e-6)
    assert (local[:, 2] < 0).all()  # in front of a Blender camera is its local -Z


def test_room_depth_is_planar_depth_at_pixel_centres():
    from odahgen.render.depth import ray_cast_depth

    # camera at the origin looking along +X (OpenSim frame), a wall x = 4 m square to the axis
    R, t = look_at(np.zeros(3), np.array([1.0, 0.0, 0.0]))
    cam = {"K": intrinsics(33.0, 36.0, 40, 30).tolist(), "R": R.tolist(), "t": t.tolist(),
           "width": 40, "height": 30}
    wall = np.array([[[4, -9, -9], [4, 9, -9], [4, 9, 9]], [[4, -9, -9], [4, 9, 9], [4, -9, 9]]], float)
    d = ray_cast_depth(cam, wall)
    assert d.shape == (30, 40) and np.allclose(d, 4.0)  # planar, not radial, depth
    # a floor 1 m below: depth at each pixel centre = 1 / (down slope of that pixel's ray)
    floor = np.array([[[0, -1, -99], [99, -1, -99], [99, -1, 99]], [[0, -1, -99], [99, -1, 99], [0, -1, 99]]], float)
    d = ray_cast_depth(cam, floor)
    K = intrinsics(33.0, 36.0, 40, 30)
    v = np.arange(30) + 0.5
    slope = (v - K[1, 2]) / K[1, 1]
    expect = np.where(slope > 0, 1.0 / np.where(slope > 0, slope, 1), np.inf)
    assert np.allclose(d, expect[:, None].repeat(40, 1))


def test_depth_png_round_trip(tmp_path):
    from odahgen.render.depth import load_depth, mask_from_depth, write_depth_png

    d = np.array([[1.2344, np.nan], [0.0, 70.0]])
    write_depth_png(tmp_path / "00001.png", d)
    back = load_depth(tmp_path)
    assert back.shape == (1, 2, 2)
    assert back[0, 0, 0] == pytest.approx(1.234) and np.isnan(back[0, 0, 1]) and np.isnan(back[0, 1, 0])
    assert back[0, 1, 1] == pytest.approx(65.535)  # clipped to the 16-bit mm range
    assert mask_from_depth(np.array([2.0, 2.995, 3.2]), np.array([3.0, 3.0, 3.0])).tolist() == [True, False, False]
    with pytest.raises(OdahgenError):
        load_depth(tmp_path / "none")


def test_encoder_gives_the_same_video_from_png_and_bmp_frames(tmp_path):
    """The stage streams BMP frames; they encode to exactly the video of the same pixels as
    PNGs, and that video stays close to the source (no channel swap, no colour bias)."""
    import io

    from PIL import Image

    from odahgen.render.video import FrameEncoder, read_frames

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64]
    frames = []
    for k in range(4):
        img = np.stack([(xx * 4 + k * 9) % 256, (yy * 5) % 256, np.full_like(xx, 40 + 50 * k)], -1)
        img[10:30, 20:40] = rng.integers(0, 256, 3)  # a flat coloured patch
        frames.append(img.astype(np.uint8))
    videos = {}
    for fmt in ("png", "bmp"):
        enc = FrameEncoder(tmp_path / f"{fmt}.mp4", fps=60, crf=18, image_codec=fmt)
        for img in frames:
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format=fmt.upper())
            enc.add_image(buf.getvalue())
        videos[fmt] = read_frames(enc.finish())
    assert videos["png"].shape == (4, 48, 64, 3)
    assert np.array_equal(videos["png"], videos["bmp"])
    patch = videos["bmp"][:, 14:26, 24:36].reshape(4, -1, 3).mean(1)
    want = np.stack([f[14:26, 24:36].reshape(-1, 3).mean(0) for f in frames])
    assert np.abs(patch - want).max() < 6
