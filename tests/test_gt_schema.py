"""HDF5 trial schema: write/read round trip, compression, schema checks, inspect."""

import h5py
import numpy as np
import pytest

from odahgen.config.models import QAConfig
from odahgen.errors import OdahgenError
from odahgen.gt import SCHEMA_VERSION, check_schema, load_trial, write_trial
from odahgen.cli.gt import main as gt_main
from odahgen.gt.qa import qa_trial
from odahgen.testing.gt import synthetic_trial
from odahgen.skeleton.names import BODY_NAMES, COORDINATE_NAMES, KEYPOINT_NAMES


@pytest.fixture
def trial_file(tmp_path):
    gt = synthetic_trial("s01_walk_b0", n_frames=70, seed=3)
    gt.qa = qa_trial(gt, QAConfig()).record()
    gt.model_file = "scaled.osim"
    return write_trial(tmp_path / "trial.h5", gt), gt


def test_round_trip_preserves_every_field(trial_file):
    path, gt = trial_file
    back = load_trial(path)
    assert back.meta == gt.meta
    assert back.n_frames == 70
    np.testing.assert_array_equal(back.joint_angles, gt.joint_angles)
    np.testing.assert_array_equal(back.segment_scales, gt.segment_scales)
    np.testing.assert_array_equal(back.keypoints_3d, gt.keypoints_3d)
    np.testing.assert_array_equal(back.coordinate_ranges, gt.coordinate_ranges)
    assert back.coordinate_names == COORDINATE_NAMES and back.body_names == BODY_NAMES
    assert back.keypoint_names == KEYPOINT_NAMES
    assert back.rotational.sum() == 36 and not back.rotational[3:6].any()
    assert back.markers.names == gt.markers.names
    np.testing.assert_array_equal(back.markers.positions, gt.markers.positions)
    np.testing.assert_array_equal(back.markers.flagged, gt.markers.flagged)
    assert back.body.model == "anny"
    np.testing.assert_allclose(back.body.pose, gt.body.pose, rtol=1e-6)  # stored float32
    np.testing.assert_array_equal(back.body.fit_joint_err, gt.body.fit_joint_err)
    assert set(back.cameras) == {"front", "side"}
    for view, cam in gt.cameras.items():
        b = back.cameras[view]
        np.testing.assert_array_equal(b.K, cam.K)
        np.testing.assert_array_equal(b.R, cam.R)
        np.testing.assert_array_equal(b.t, cam.t)
        np.testing.assert_array_equal(b.keypoints_2d, cam.keypoints_2d)
        np.testing.assert_array_equal(b.visibility, cam.visibility)
        assert b.visibility.dtype == bool
        assert b.resolution == (128, 96) and b.focal_mm == 33.0 and b.sensor_width_mm == 36.0
    assert back.scene == gt.scene
    assert back.videos == gt.videos
    assert back.qa.passed and back.qa.metrics["n_frames"] == 70.0
    assert back.model_file == "scaled.osim"


def test_file_is_versioned_chunked_and_compressed(trial_file):
    path, _ = trial_file
    with h5py.File(path, "r") as f:
        assert f.attrs["schema_version"] == SCHEMA_VERSION
        for name in ("kinematics/joint_angles", "kinematics/keypoints_3d", "cameras/front/keypoints_2d"):
            assert f[name].compression == "gzip" and f[name].chunks is not None
        assert f["kinematics/keypoints_3d"].attrs["unit"] == "m"
        assert f["meta"].attrs["n_frames"] == 70
    assert check_schema(path) == []


def test_check_schema_names_wrong_shapes_and_missing_parts(trial_file):
    path, _ = trial_file
    with h5py.File(path, "r+") as f:
        del f["kinematics/keypoints_3d"]
        f["kinematics/keypoints_3d"] = np.zeros((70, 43, 3))
        del f["cameras/side/visibility"]
        del f["qa"]
    problems = check_schema(path)
    assert any("keypoints_3d has shape (70, 43, 3)" in p for p in problems)
    assert any("missing group /qa" in p for p in problems)
    assert "missing dataset /cameras/side/visibility" in problems


def test_a_lens_must_be_five_finite_coefficients(tmp_path, trial_file):
    path, _ = trial_file
    with h5py.File(path, "r+") as f:
        f["cameras/front/distortion"] = np.array([-0.2, np.nan, 0.0, 0.0, 0.0])
        f["cameras/side/distortion"] = np.zeros(4)
    problems = check_schema(path)
    assert "/cameras/front/distortion is not finite" in problems
    assert any("/cameras/side/distortion has shape (4,)" in p for p in problems)
    gt = synthetic_trial("s01_walk_b0", n_frames=10)
    gt.cameras["front"].distortion = np.array([0.1, np.inf, 0.0, 0.0, 0.0])
    with pytest.raises(OdahgenError, match="distortion is not finite"):
        write_trial(tmp_path / "lens.h5", gt)
    assert not (tmp_path / "lens.h5").exists()


def test_unsupported_version_and_non_hdf5_are_one_line_errors(tmp_path, trial_file):
    path, _ = trial_file
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = "2.0"
    with pytest.raises(OdahgenError, match="schema version 2.0 is not supported"):
        load_trial(path)
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    with pytest.raises(OdahgenError) as err:
        load_trial(junk)
    assert "junk.h5" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(OdahgenError, match="no such trial file"):
        load_trial(tmp_path / "missing.h5")


def test_write_refuses_inconsistent_arrays_and_leaves_nothing(tmp_path):
    gt = synthetic_trial("bad", n_frames=10)
    gt.keypoints_3d = gt.keypoints_3d[:9]
    with pytest.raises(OdahgenError, match="keypoints_3d has shape"):
        write_trial(tmp_path / "trial.h5", gt)
    assert list(tmp_path.iterdir()) == []


def test_inspect_prints_datasets_and_schema_status(trial_file, capsys):
    path, _ = trial_file
    assert gt_main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "/kinematics/joint_angles" in out and "(70, 39)" in out and "schema: OK" in out
    assert gt_main(["inspect", str(path.parent / "nope.h5")]) == 1
    assert "no such trial file" in capsys.readouterr().err
