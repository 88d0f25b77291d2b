"""QA gates, index, subject-level splits and the dataset card."""

import csv
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from odahgen.config.models import Config, QAConfig
from odahgen.gt import load_trial
from odahgen.gt.dataset import INDEX_COLUMNS, TRIAL_FILE, finalize_dataset, make_splits, split_counts
from odahgen.gt.qa import keypoints_in_mask, qa_trial
from odahgen.testing.gt import make_dataset, synthetic_trial


def test_synthetic_trial_passes_every_gate():
    res = qa_trial(synthetic_trial("t", n_frames=64), QAConfig())
    assert res.passed, res.reasons
    assert res.skipped == []
    assert res.metrics["ik_rms_mean_m"] < 0.03 and res.metrics["keypoints_in_mask_min"] == 1.0


def test_each_gate_fails_on_its_own_defect():
    qa = QAConfig()
    gt = synthetic_trial("t", n_frames=40)
    assert qa_trial(gt, qa).reasons == ["clip too short: 40 frames < 64"]

    gt = synthetic_trial("t", n_frames=64)
    gt.markers.ik_rms[:] = 0.05
    assert any(r.startswith("IK marker RMS 5.00 cm") for r in qa_trial(gt, qa).reasons)

    gt = synthetic_trial("t", n_frames=64)
    gt.markers.ik_max[5] = 0.2
    assert any("IK max marker error" in r for r in qa_trial(gt, qa).reasons)

    gt = synthetic_trial("t", n_frames=64)
    gt.markers.flagged[:10] = True  # 15.6 % > 5 %
    assert any("frames flagged" in r for r in qa_trial(gt, qa).reasons)

    gt = synthetic_trial("t", n_frames=64)
    gt.body.fit_joint_err[:] = 0.03
    assert any("body fit joint residual 30.0 mm" in r for r in qa_trial(gt, qa).reasons)

    gt = synthetic_trial("t", n_frames=64)
    gt.joint_angles[7, 9] = 1.5 + 0.05  # knee_angle_r beyond its 1.5 rad limit
    res = qa_trial(gt, qa)
    assert any("joint limits exceeded" in r and "knee_angle_r" in r for r in res.reasons)
    assert res.metrics["joint_limit_violation_frames"] == 1.0
    gt.joint_angles[7, 9] = 1.5 + 0.01  # within the 0.02 rad tolerance
    assert qa_trial(gt, qa).passed

    gt = synthetic_trial("t", n_frames=64)
    assert any("inside the person mask" in r for r in qa_trial(gt, qa, mask_fraction={"front": 0.5, "side": 1}).reasons)
    gt.joint_angles[0, 0] = np.nan
    assert any("NaN/inf in joint_angles" in r for r in qa_trial(gt, qa).reasons)


def test_keypoints_in_mask_helper():
    masks = np.zeros((1, 10, 10), np.uint8)
    masks[0, 2:5, 2:5] = 1
    kp = np.array([[[3.0, 3.0], [8.0, 8.0], [3.2, 2.9], [-1.0, 3.0]]])
    vis = np.array([[True, True, False, True]])
    np.testing.assert_array_equal(keypoints_in_mask(kp, vis, masks), [[True, False, False, False]])


def test_split_counts_follow_the_paper():
    assert split_counts(56, {"train": 42, "val": 6, "test": 8}) == {"train": 42, "val": 6, "test": 8}
    assert split_counts(2, {"train": 42, "val": 6, "test": 8}) == {"train": 1, "val": 0, "test": 1}
    assert sum(split_counts(17, {"train": 0.7, "val": 0.1, "test": 0.2}).values()) == 17


def test_split_keeps_subjects_apart_and_is_deterministic():
    subjects = [f"sub{i:02d}" for i in range(56)]
    a = make_splits(subjects, {"train": 42, "val": 6, "test": 8}, seed=1)
    b = make_splits(list(reversed(subjects)), {"train": 42, "val": 6, "test": 8}, seed=1)
    assert a == b
    assert [len(a[k]) for k in ("train", "val", "test")] == [42, 6, 8]
    flat = [s for v in a.values() for s in v]
    assert sorted(flat) == subjects  # each subject exactly once
    assert make_splits(subjects, {"train": 42, "val": 6, "test": 8}, seed=2) != a


@pytest.fixture(scope="module")
def finalized(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    make_dataset(root, subjects=("s01", "s02", "s03", "s04"), motions=("walk", "sit_to_stand"), n_frames=64,
                 videos=False)
    # a bad clip: too short for training -> QA fails and the trial is excluded
    from odahgen.gt import write_trial
    from odahgen.gt.dataset import trial_dir

    bad = synthetic_trial("s01_short", "s01", "jump", n_frames=30)
    bad.qa = qa_trial(bad, QAConfig()).record()
    write_trial(trial_dir(root, "s01_short") / TRIAL_FILE, bad)
    config = Config()
    config.dataset.split = {"train": 2, "val": 1, "test": 1}
    splits = finalize_dataset(root, config)
    return root, splits


def test_qa_failing_trial_is_excluded_from_splits(finalized):
    root, splits = finalized
    all_split_trials = [t for v in splits["trials"].values() for t in v]
    assert "s01_short" not in all_split_trials
    assert len(all_split_trials) == 8
    assert splits["excluded"] == [{"trial": "s01_short", "subject": "s01", "reasons": ["clip too short: 30 frames < 64"]}]
    on_disk = json.loads((root / "splits.json").read_text())
    assert on_disk["trials"] == splits["trials"]
    subject_sets = [set(v) for v in splits["subjects"].values()]
    assert sum(len(s) for s in subject_sets) == len(set().union(*subject_sets)) == 4
    for split, trials in splits["trials"].items():
        for t in trials:
            assert load_trial(root / "trials" / t / TRIAL_FILE).meta.subject in splits["subjects"][split]


def test_index_csv_and_parquet_agree(finalized):
    root, splits = finalized
    with open(root / "index.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    table = pq.read_table(root / "index.parquet")
    assert tuple(table.column_names) == INDEX_COLUMNS == tuple(rows[0].keys())
    assert table.num_rows == len(rows) == 9
    pq_rows = table.to_pylist()
    short = next(r for r in pq_rows if r["trial"] == "s01_short")
    assert short["qa_passed"] is False and short["split"] == "" and short["n_frames"] == 30
    assert "clip too short" in short["qa_reasons"]
    ok = next(r for r in pq_rows if r["trial"] == "s02_walk_b0")
    assert ok["split"] in splits["subjects"] and ok["fps"] == 60.0 and ok["views"] == "front;side"
    assert ok["path"] == "trials/s02_walk_b0/trial.h5"


def test_dataset_card(finalized):
    root, _ = finalized
    card = (root / "README.md").read_text()
    assert "| trials | 9 |" in card and "| trials excluded by QA | 1 |" in card
    assert "anny body model" in card and "Rajagopal" in card
    assert "`s01_short` (s01): clip too short" in card
    assert "odahgen: test" in card  # versions collected from the trials
    assert '"split"' in card  # the config
