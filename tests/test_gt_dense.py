"""Schema 1.1 (dense 2D ground truth): round trip, 1.0 files still read, the schema check and
the validator look at the new fields' shapes and projections."""

from __future__ import annotations

import h5py
import numpy as np

from odahgen.config.models import QAConfig
from odahgen.gt import QARecord, qa_trial


def test_dense_fields_round_trip_and_a_10_file_still_reads(tmp_path):
    from odahgen.gt import SCHEMA_VERSION, check_schema, load_trial, write_trial
    from odahgen.testing.gt import synthetic_trial

    gt = synthetic_trial("t1", n_frames=64)
    gt.qa = QARecord(passed=True)
    path = write_trial(tmp_path / "trial.h5", gt)
    assert SCHEMA_VERSION == "1.2" and check_schema(path) == []
    back = load_trial(path)
    assert back.coco.names == gt.coco.names and np.allclose(back.coco.positions, gt.coco.positions)
    for view, cam in gt.cameras.items():
        b = back.cameras[view]
        assert b.markers_2d.shape == (64, 8, 2) and b.coco_2d.shape == (64, 23, 2) and b.bbox.shape == (64, 4)
        assert b.markers_visibility.dtype == bool and np.array_equal(b.coco_visibility, cam.coco_visibility)
    # a 1.0 file: no /coco, no 2D markers, bbox; the reader leaves them None
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = "1.0"
        del f["coco"]
        for view in f["cameras"]:
            for name in ("markers_2d", "markers_visibility", "coco_2d", "coco_visibility", "bbox"):
                del f["cameras"][view][name]
    assert check_schema(path) == []
    old = load_trial(path)
    assert old.coco is None and old.cameras["front"].markers_2d is None and old.cameras["front"].bbox is None


def test_schema_check_and_validator_catch_bad_dense_fields(tmp_path):
    from odahgen.gt import check_schema, write_trial
    from odahgen.gt.validate import validate_trial
    from odahgen.testing.gt import synthetic_trial, write_trial_videos

    gt = synthetic_trial("t2", n_frames=64)
    gt.qa = qa_trial(gt, QAConfig()).record()
    path = write_trial(tmp_path / "trial.h5", gt)
    write_trial_videos(tmp_path, gt)
    assert validate_trial(path, QAConfig(), fk=False).ok
    with h5py.File(path, "r+") as f:
        del f["cameras/side/bbox"]
        f["cameras/side/bbox"] = np.zeros((10, 4))
        f["cameras/front/coco_2d"][5, 3] += 2.0  # 2 px off the projection
    problems = check_schema(path)
    assert any("/cameras/side/bbox has shape (10, 4)" in p for p in problems), problems
    check = validate_trial(path, QAConfig(), fk=False, videos=False)
    assert any("2D COCO keypoints differ from the projection" in p for p in check.problems), check.problems
