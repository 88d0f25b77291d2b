"""Lens distortion without Blender: the projection against OpenCV's formulas written out here,
the numerical inverse, the overscanned render frame and its warp, the scene draw (off = as
before), the GT camera record, the validator and the Pose2Sim / OpenCap calibrations."""

from __future__ import annotations

import numpy as np
import pytest

from odahgen.config import load_config
from odahgen.scene.cameras import (
    camera_dict,
    distortion_map,
    intrinsics,
    look_at,
    project,
    render_camera,
    undistort_normalized,
)

DIST = [-0.22, 0.06, 0.0008, -0.0006, 0.0]


def _opencv_reference(K, R, t, X, d):
    """OpenCV's projectPoints model, written out independently (no odahgen code)."""
    k1, k2, p1, p2, k3 = d
    out = []
    for p in X.reshape(-1, 3):
        c = R @ p + t
        x, y = c[0] / c[2], c[1] / c[2]
        r2 = x * x + y * y
        rad = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
        xd = x * rad + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * rad + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        out.append([K[0][0] * xd + K[0][2], K[1][1] * yd + K[1][2]])
    return np.array(out).reshape(*X.shape[:-1], 2)


def _camera(width=160, height=120, dist=DIST):
    K = intrinsics(33.0, 36.0, width, height)
    R, t = look_at(np.array([3.0, 1.2, 0.4]), np.array([0.0, 1.0, 0.0]))
    cam = camera_dict(K, R, t, width, height, 33.0, 36.0, "HORIZONTAL", "front")
    if dist is not None:
        cam["distortion"] = list(dist)
    return cam


def _points(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform([-0.5, 0.0, -0.8], [0.5, 2.0, 0.8], (n, 3))


def test_projection_matches_opencv_formulas_and_gt_camera():
    from odahgen.gt.schema import Camera

    cam = _camera()
    X = _points()
    px, depth = project(cam, X)
    ref = _opencv_reference(np.array(cam["K"]), np.array(cam["R"]), np.array(cam["t"]), X, DIST)
    assert np.abs(px - ref).max() < 1e-9
    gcam = Camera(K=np.array(cam["K"]), R=np.array(cam["R"]), t=np.array(cam["t"]), resolution=(160, 120),
                  focal_mm=33.0, sensor_width_mm=36.0, keypoints_2d=np.zeros((1, 44, 2)),
                  visibility=np.zeros((1, 44), bool), distortion=np.array(DIST))
    assert np.abs(gcam.project(X)[0] - ref).max() < 1e-9
    cv2 = pytest.importorskip("cv2")  # and OpenCV itself, where it is installed
    rvec, _ = cv2.Rodrigues(np.array(cam["R"]))
    ocv, _ = cv2.projectPoints(X, rvec, np.array(cam["t"]), np.array(cam["K"]), np.array(DIST))
    assert np.abs(px - ocv[:, 0]).max() < 1e-6
    # no (or zero) distortion: the pinhole projection, bit for bit
    pin = _camera(dist=None)
    a, _ = project(pin, X)
    b, _ = project(_camera(dist=[0, 0, 0, 0, 0]), X)
    K, R, t = (np.asarray(pin[k], float) for k in ("K", "R", "t"))
    c = (X @ R.T + t) @ K.T
    assert np.array_equal(a, b) and np.array_equal(a, c[:, :2] / c[:, 2:])
    # behind the camera: NaN pixels, as for the pinhole
    behind = np.array([[6.0, 1.0, 0.4]])
    assert np.isnan(project(cam, behind)[0]).all()


def test_undistortion_inverts_the_lens_over_the_frame():
    rng = np.random.default_rng(1)
    xd = rng.uniform([-0.55, -0.37], [0.55, 0.37], (2000, 2))  # the 33 mm / 36 mm frame
    for d in (DIST, [0.05, 0.08, -0.001, 0.001, 0.0], [-0.2, -0.02, 0.0, 0.0, 0.0]):
        x = undistort_normalized(xd, d)
        k1, k2, p1, p2, _ = d
        r2 = (x ** 2).sum(1)
        rad = 1 + k1 * r2 + k2 * r2 ** 2
        back = np.stack([x[:, 0] * rad + 2 * p1 * x[:, 0] * x[:, 1] + p2 * (r2 + 2 * x[:, 0] ** 2),
                         x[:, 1] * rad + p1 * (r2 + 2 * x[:, 1] ** 2) + 2 * p2 * x[:, 0] * x[:, 1]], 1)
        assert np.abs(back - xd).max() < 1e-12


def test_render_frame_covers_the_distorted_image_and_the_map_lands_on_projections():
    cam = _camera()
    rc = render_camera(cam)
    px, py = rc["pad"]
    assert (rc["width"], rc["height"]) == (160 + 2 * px, 120 + 2 * py) and px > 4  # barrel: overscan
    assert "distortion" not in rc and rc["K"][0][0] == cam["K"][0][0]
    m = distortion_map(cam)
    assert m.shape == (120, 160, 2)
    assert (m[..., 0] >= 1).all() and (m[..., 0] <= rc["width"] - 1).all()
    assert (m[..., 1] >= 1).all() and (m[..., 1] <= rc["height"] - 1).all()
    # a 3D point: its distorted pixel's map entry is where the render (pinhole) sees the point
    X = _points(300, seed=3)
    pd, _ = project(cam, X)
    pp, _ = project(rc, X)
    ok = (pd[:, 0] >= 0) & (pd[:, 0] < 160) & (pd[:, 1] >= 0) & (pd[:, 1] < 120)
    col, row = np.floor(pd[ok]).astype(int).T
    assert np.abs(m[row, col] - pp[ok]).max() < 1.0  # within the output pixel's footprint
    # an undistorted camera renders itself
    pin = _camera(dist=None)
    assert render_camera(pin) is pin


def test_nearest_and_bilinear_warps_and_bmp(tmp_path):
    from odahgen.render.blender_lens import (
        FrameWarp,
        nearest_index,
        read_bmp,
        warp_nearest,
        write_bmp,
    )

    cam = _camera()
    rc = render_camera(cam)
    W2, H2 = rc["width"], rc["height"]
    yy, xx = np.mgrid[0:H2, 0:W2]
    m = distortion_map(cam)
    idx = nearest_index(m, W2, H2)
    # nearest: each output pixel takes the render pixel holding its map point
    cols = warp_nearest(xx, idx)
    assert np.array_equal(cols, np.floor(m[..., 0]).astype(int))
    # bilinear on a linear ramp gives the ramp at the map point
    img = np.stack([xx * 255 // (W2 - 1), yy * 255 // (H2 - 1), np.full_like(xx, 7)], -1).astype(np.uint8)
    path = str(tmp_path / "f.bmp")
    write_bmp(path, img)
    assert np.array_equal(read_bmp(path), img)
    FrameWarp(m, W2, H2)(path)
    out = read_bmp(path)
    assert out.shape == (120, 160, 3)
    expect = (m[..., 0] - 0.5) * 255 / (W2 - 1)
    assert np.abs(out[..., 0] - expect).max() < 2.5


def test_scene_draws_a_lens_per_camera_only_when_on():
    from odahgen.scene.sample import sample_scene

    bounds = {"min": [-0.5, 0.0, -0.3], "max": [0.8, 1.8, 0.3]}
    off = sample_scene(load_config("demo"), "t1", bounds)
    on = sample_scene(load_config("demo", ["scene.cameras.lens_distortion=true"]), "t1", bounds)
    assert all("distortion" not in c for c in off["cameras"])
    for a, b in zip(off["cameras"], on["cameras"]):
        d = b.pop("distortion")
        assert len(d) == 5 and -0.2 <= d[0] <= 0.05 and -0.02 <= d[1] <= 0.08 and d[4] == 0.0
        assert max(abs(d[2]), abs(d[3])) <= 0.001
        assert a == b  # the lens has its own stream: nothing else moves
    on2 = sample_scene(load_config("demo", ["scene.cameras.lens_distortion=true"]), "t1", bounds)
    assert [c["distortion"] for c in on2["cameras"]] == \
        [c["distortion"] for c in sample_scene(load_config("demo", ["scene.cameras.lens_distortion=true"]),
                                               "t1", bounds)["cameras"]]
    with pytest.raises(Exception):
        load_config("demo", ["scene.cameras.distortion_k1=[0.1, -0.1]"])


def test_gt_record_validator_and_calibrations_carry_the_lens(tmp_path):
    from odahgen.export.opencap import camera_pickle
    from odahgen.export.pose2sim import calib_toml, pose2sim_to_opensim, read_calib, triangulate
    from odahgen.gt import QARecord, check_schema, load_trial, write_trial
    from odahgen.gt.validate import check_cameras
    from odahgen.testing.gt import synthetic_trial

    gt = synthetic_trial("t1", n_frames=8)
    gt.qa = QARecord(passed=True)
    for i, cam in enumerate(gt.cameras.values()):
        cam.distortion = np.array(DIST) * (1 + 0.5 * i)
        cam.keypoints_2d = cam.project(gt.keypoints_3d)[0]
        cam.markers_2d = cam.project(gt.markers.positions)[0]
        cam.coco_2d = cam.project(gt.coco.positions)[0]
    assert check_cameras(gt)[0] == []
    path = write_trial(tmp_path / "trial.h5", gt)
    assert check_schema(path) == []
    back = load_trial(path)
    for view, cam in gt.cameras.items():
        assert np.array_equal(back.cameras[view].distortion, cam.distortion)
        assert np.abs(back.cameras[view].project(gt.keypoints_3d)[0] - cam.keypoints_2d).max() < 1e-9
        pick = camera_pickle(back, view)
        assert np.array_equal(pick["distortion"], cam.distortion.reshape(1, 5))
    # the validator projects through the lens: another lens does not validate (the synthetic
    # person is near the image centre, so a 4x stronger one to move it > 0.5 px)
    for cam in gt.cameras.values():
        cam.distortion = 4 * cam.distortion
    assert check_cameras(gt)[0]
    # Pose2Sim: the calibration's distortions undistort the 2D points before triangulating
    (tmp_path / "Calib.toml").write_text(calib_toml(back))
    cal = read_calib(tmp_path / "Calib.toml")
    names = sorted(cal)
    views = sorted(back.cameras)
    assert all(np.abs(cal[n]["dist"] - back.cameras[v].distortion[:4]).max() == 0 for n, v in zip(names, views))
    X = triangulate([cal[n] for n in names], [back.cameras[v].coco_2d for v in views])
    assert np.nanmax(np.linalg.norm(pose2sim_to_opensim(X) - gt.coco.positions, axis=-1)) < 1e-6


def test_without_lens_the_gt_file_has_no_distortion(tmp_path):
    from odahgen.export.opencap import camera_pickle
    from odahgen.export.pose2sim import calib_toml
    from odahgen.gt import load_trial, write_trial
    from odahgen.testing.gt import synthetic_trial

    gt = synthetic_trial("t1", n_frames=8)
    back = load_trial(write_trial(tmp_path / "trial.h5", gt))
    for view, cam in back.cameras.items():
        assert cam.distortion is None
        assert np.array_equal(camera_pickle(back, view)["distortion"], np.zeros((1, 5)))
    assert "distortions = [ 0.0, 0.0, 0.0, 0.0]" in calib_toml(back)


def test_bundle_renders_the_overscanned_pinhole_with_the_same_focal_px(tmp_path):
    from odahgen.render.bundle import _bundle_camera
    from odahgen.scene.cameras import focal_px

    cam = _camera()
    rec = _bundle_camera(cam, tmp_path)
    w, h = rec["render_size"]
    assert focal_px(rec["lens"], rec["sensor_width"], w, h) == pytest.approx(cam["K"][0][0], rel=1e-9)
    assert np.load(tmp_path / rec["lens_map"]).shape == (120, 160, 2)
    assert "render_size" not in _bundle_camera(_camera(dist=None), tmp_path)
