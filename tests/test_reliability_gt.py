"""Reliability of the ground-truth outputs and readers (issue 12): QA is never written into
trial.h5 in place (1), broken trial files are named in one line (1), outputs follow the
umask (3), NaN predictions in ``eval`` (5), ``-o`` pointing at the wrong kind of path (7)."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import h5py
import numpy as np
import pytest

from odahgen.cli.gt import main as gt_main
from odahgen.errors import OdahgenError
from odahgen.gt.dataset import TRIAL_FILE, finalize_dataset
from odahgen.gt.metrics import procrustes_align
from odahgen.gt.schema import QARecord, load_trial, write_qa, write_trial
from odahgen.io import atomic_write_text
from odahgen.io.records import changed_outputs, make_record, read_record, write_record

from odahgen.testing.gt import synthetic_trial

TRIAL = "s01_walk_b0"


@pytest.fixture
def ds(dataset):
    """A fresh copy of the small synthetic dataset (conftest's ``dataset``)."""
    return dataset


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _tree(root) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): _sha(p) for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ 1. QA never in place


def _spy_h5_opens(monkeypatch) -> list[tuple[str, str]]:
    """Record (real path, mode) of every h5py.File opened from now on (until monkeypatch.undo)."""
    opened: list[tuple[str, str]] = []
    real_file = h5py.File

    class Spy(real_file):
        def __init__(self, name, mode="r", *args, **kwargs):
            opened.append((os.path.realpath(name), mode))
            super().__init__(name, mode, *args, **kwargs)

    monkeypatch.setattr(h5py, "File", Spy)
    return opened


def test_write_qa_never_opens_the_original_for_writing(ds, monkeypatch):
    path = ds / "trials" / TRIAL / TRIAL_FILE
    before = os.stat(path)
    opened = _spy_h5_opens(monkeypatch)
    write_qa(path, QARecord(passed=False, reasons=["planted"], metrics={"n_frames": 64.0}))
    monkeypatch.undo()
    writes = [mode for name, mode in opened if name == os.path.realpath(path) and mode != "r"]
    assert writes == [], f"trial.h5 opened for writing in place (modes {writes})"
    assert os.stat(path).st_ino != before.st_ino  # a new file was renamed onto it
    gt = load_trial(path)
    assert gt.qa.passed is False and gt.qa.reasons == ["planted"] and gt.qa.metrics == {"n_frames": 64.0}
    assert not [p.name for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_write_qa_interrupted_mid_write_leaves_the_original_intact(ds, monkeypatch):
    path = ds / "trials" / TRIAL / TRIAL_FILE
    sha = _sha(path)
    qa_before = load_trial(path).qa
    real_create_group = h5py.Group.create_group

    def killed(self, name, *args, **kwargs):
        if name == "qa":
            raise KeyboardInterrupt("simulated kill while writing /qa")
        return real_create_group(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_group", killed)
    with pytest.raises(KeyboardInterrupt):
        write_qa(path, QARecord(passed=False, reasons=["planted"], metrics={}))
    monkeypatch.undo()
    assert _sha(path) == sha
    assert load_trial(path).qa == qa_before
    assert sorted(p.name for p in path.parent.iterdir()) == ["front.mp4", "side.mp4", TRIAL_FILE]


def test_write_qa_keeps_the_stage_records_true(ds):
    """The gt stage's record lists trial.h5: after the QA verdict is stored, the record
    describes the new file, so `run` does not see trial.h5 as changed."""
    tdir = ds / "trials" / TRIAL
    write_record(tdir, make_record(tdir, "gt", "k", ["trial.h5"]))
    write_qa(tdir / TRIAL_FILE, QARecord(passed=False, reasons=["planted"], metrics={"x": 1.0}))
    assert changed_outputs(read_record(tdir, "gt"), tdir, verify=True) == []
    # the same verdict again changes nothing on disk
    mtime = os.stat(tdir / TRIAL_FILE).st_mtime_ns
    write_qa(tdir / TRIAL_FILE, QARecord(passed=False, reasons=["planted"], metrics={"x": 1.0}))
    assert os.stat(tdir / TRIAL_FILE).st_mtime_ns == mtime


def test_validate_finalize_stores_qa_without_rewriting_in_place(ds, monkeypatch):
    path = ds / "trials" / TRIAL / TRIAL_FILE
    with h5py.File(path, "r+") as f:  # plant a QA result the validator will correct
        f["qa"].attrs["passed"] = False
    opened = _spy_h5_opens(monkeypatch)
    assert gt_main(["validate", str(ds), "--no-fk", "--no-videos", "--finalize"]) == 0
    monkeypatch.undo()
    assert not [m for n, m in opened if n.endswith(TRIAL_FILE) and m != "r"]
    assert load_trial(path).qa.passed is True


def _truncate(path):
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) // 2)


def _random(path):
    path.write_bytes(np.random.default_rng(0).bytes(os.path.getsize(path)))


def _random_tail(path):  # header intact, the objects after it garbage (a write cut short)
    data = bytearray(path.read_bytes())
    n = len(data)
    data[n // 2: n - 2000] = np.random.default_rng(1).bytes(n - 2000 - n // 2)
    path.write_bytes(bytes(data))


def _no_meta(path):
    with h5py.File(path, "r+") as f:
        del f["meta"]


def _no_angles(path):
    with h5py.File(path, "r+") as f:
        del f["kinematics/joint_angles"]


CORRUPTIONS = {"truncated": _truncate, "random": _random, "random_tail": _random_tail,
               "no_meta": _no_meta, "no_angles": _no_angles}


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_broken_trial_file_is_named_in_one_line(ds, how, capsys):
    path = ds / "trials" / TRIAL / TRIAL_FILE
    CORRUPTIONS[how](path)
    sha = _sha(path)
    with pytest.raises(OdahgenError) as err:
        load_trial(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert "Unable to synchronously" not in str(err.value) or how in ("truncated", "random", "random_tail")

    for argv in (["inspect", str(path)],
                 ["validate", str(path), "--no-fk", "--no-videos"],
                 ["validate", str(ds), "--no-fk", "--no-videos"],
                 ["validate", str(ds), "--no-fk", "--no-videos", "--finalize"],
                 ["export", "odah", str(ds), "-o", str(ds.parent / "odah"), "--include-failed"],
                 ["eval", str(path), str(path)]):
        capsys.readouterr()
        rc = gt_main(argv)  # an unexpected exception fails the test
        out = capsys.readouterr()
        assert rc != 0, argv
        text = out.out + out.err
        assert str(path) in text or f"FAIL {TRIAL}" in text, (argv, text)
        assert "Traceback" not in text and "internal error" not in text
        if out.err:
            assert len(out.err.strip().splitlines()) == 1, (argv, out.err)
    assert _sha(path) == sha  # nothing rewrote the broken file


# ------------------------------------------------------------------ 3. outputs follow the umask


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_outputs_follow_the_umask(ds, tmp_path, umask):
    file_mode, dir_mode = 0o666 & ~umask, 0o777 & ~umask
    assert _mode(atomic_write_text(tmp_path / "a" / "x.txt", "x")) == file_mode
    assert _mode(tmp_path / "a") == dir_mode

    gt = synthetic_trial("t0", n_frames=8)
    assert _mode(write_trial(tmp_path / "t0" / TRIAL_FILE, gt)) == file_mode

    trial_h5 = ds / "trials" / TRIAL / TRIAL_FILE
    os.chmod(trial_h5, 0o600)  # written by an older odahgen: the rewrite follows the umask
    write_qa(trial_h5, QARecord(passed=True, reasons=[], metrics={"n_frames": 64.0, "flag": 1.0}))
    assert _mode(trial_h5) == file_mode

    finalize_dataset(ds)
    for name in ("index.csv", "index.parquet", "splits.json", "README.md"):
        assert _mode(ds / name) == file_mode, name

    out = tmp_path / "odah"
    assert gt_main(["export", "odah", str(ds), "-o", str(out)]) == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files and {p.relative_to(out).as_posix(): _mode(p) for p in files} == {
        p.relative_to(out).as_posix(): file_mode for p in files}
    assert {_mode(p) for p in out.rglob("*") if p.is_dir()} == {dir_mode}

    report = tmp_path / "r.html"
    assert gt_main(["report", str(ds), "-o", str(report), "--samples", "0"]) == 0
    assert _mode(report) == file_mode


# ------------------------------------------------------------------ 5. NaN predictions in eval


def _eval_json(capsys, pred, gt_path, out):
    rc = gt_main(["eval", str(pred), str(gt_path), "--json", str(out)])
    io = capsys.readouterr()
    return rc, io, (json.loads(out.read_text()) if rc == 0 else None)


@pytest.mark.parametrize("arrays", [("joint_angles", "keypoints_3d"), ("keypoints_3d",), ("joint_angles",)])
def test_eval_all_nan_prediction_is_an_error_naming_file_and_array(ds, tmp_path, capsys, arrays):
    gt_path = ds / "trials" / TRIAL / TRIAL_FILE
    gt = load_trial(gt_path)
    data = {"joint_angles": gt.joint_angles.copy(), "keypoints_3d": gt.keypoints_3d.copy()}
    for name in arrays:
        data[name][:] = np.nan
    pred = tmp_path / "nan.npz"
    np.savez(pred, **data)
    rc, io, _ = _eval_json(capsys, pred, gt_path, tmp_path / "e.json")
    assert rc != 0
    err = io.err.strip()
    assert len(err.splitlines()) == 1 and str(pred) in err and arrays[0] in err and "NaN" in err, err
    assert not (tmp_path / "e.json").exists()


def test_eval_nan_angles_with_scales_is_an_error_not_a_score(ds, tmp_path, capsys):
    gt = load_trial(ds / "trials" / TRIAL / TRIAL_FILE)
    pred = tmp_path / "p.npz"
    np.savez(pred, joint_angles=np.full_like(gt.joint_angles, np.nan), segment_scales=gt.segment_scales)
    rc, io, _ = _eval_json(capsys, pred, ds / "trials" / TRIAL / TRIAL_FILE, tmp_path / "e.json")
    assert rc != 0 and "joint_angles" in io.err and str(pred) in io.err


def test_eval_inf_prediction_is_an_error(ds, tmp_path, capsys):
    gt = load_trial(ds / "trials" / TRIAL / TRIAL_FILE)
    kp = gt.keypoints_3d.copy()
    kp[3, 5, 1] = np.inf
    pred = tmp_path / "p.npz"
    np.savez(pred, keypoints_3d=kp)
    rc, io, _ = _eval_json(capsys, pred, ds / "trials" / TRIAL / TRIAL_FILE, tmp_path / "e.json")
    assert rc != 0 and "keypoints_3d" in io.err and "inf" in io.err and str(pred) in io.err


def test_eval_partial_nan_is_excluded_and_counted_as_missing(ds, tmp_path, capsys):
    gt_path = ds / "trials" / TRIAL / TRIAL_FILE
    gt = load_trial(gt_path)
    T = gt.n_frames
    ang = gt.joint_angles.copy()
    ang[:, 6] += np.radians(3.6)  # hip_flexion_r 3.6 deg off
    ang[::2, 6] = np.nan  # ... and missing in every other frame
    ang[:, 9] += np.radians(7.2)
    kp = gt.keypoints_3d.copy()
    kp[:, 0, 1] += 0.044
    kp[:10, 3] = np.nan  # one keypoint missing in the first 10 frames
    kp[20, :2] = np.nan
    kp[20, 2:] = np.nan  # a whole frame missing
    pred = tmp_path / "p.npz"
    np.savez(pred, joint_angles=ang, keypoints_3d=kp)
    rc, io, res = _eval_json(capsys, pred, gt_path, tmp_path / "e.json")
    assert rc == 0, io.err
    t = res["trials"][0]
    # MAE over the present values only: 32 values at 3.6 deg, 64 at 7.2 deg, 34 x 64 at 0
    n_present = 36 * T - T // 2
    assert t["angle_mae_deg"] == pytest.approx((32 * 3.6 + 64 * 7.2) / n_present)
    # PA-MPJPE: frames aligned on their present keypoints, missing ones left out
    errs = []
    for f in range(T):
        keep = np.isfinite(kp[f]).all(axis=-1)
        if keep.sum() < 3:
            continue
        aligned = procrustes_align(kp[f][keep], gt.keypoints_3d[f][keep])
        errs += list(np.linalg.norm(aligned - gt.keypoints_3d[f][keep], axis=-1))
    assert t["pa_mpjpe_mm"] == pytest.approx(np.mean(errs) * 1000.0)
    assert np.isfinite(t["pa_mpjve_mm_s"])
    missing = t["missing"]
    assert missing["joint_angles"] == {"values": T // 2, "of": 36 * T, "per_coordinate": {"hip_flexion_r": T // 2}}
    assert missing["keypoints_3d"]["values"] == 10 + 44 and missing["keypoints_3d"]["of"] == 44 * T
    assert missing["keypoints_3d"]["frames_unscored"] == 1
    assert missing["keypoints_3d"]["per_keypoint"][gt.keypoint_names[3]] == 11
    assert "missing" in io.out and "NaN" in io.out
    assert res["dataset"]["angle_mae_deg"] == pytest.approx(t["angle_mae_deg"])


def test_eval_without_nan_reports_nothing_missing(ds, tmp_path, capsys):
    gt_path = ds / "trials" / TRIAL / TRIAL_FILE
    gt = load_trial(gt_path)
    pred = tmp_path / "p.npz"
    np.savez(pred, joint_angles=gt.joint_angles, keypoints_3d=gt.keypoints_3d)
    rc, io, res = _eval_json(capsys, pred, gt_path, tmp_path / "e.json")
    assert rc == 0 and res["trials"][0]["missing"] == {}
    assert res["dataset"]["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-9)
    assert "NaN" not in io.out


# ------------------------------------------------------------------ 7. -o of the wrong kind


def test_export_to_an_existing_file_is_refused_and_changes_nothing(ds, tmp_path, capsys):
    target = tmp_path / "odah.txt"
    target.write_text("keep me")
    before_ds, before_tmp = _tree(ds), sorted(p.name for p in tmp_path.iterdir())
    assert gt_main(["export", "odah", str(ds), "-o", str(target)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(target) in err and "internal" not in err
    assert target.read_text() == "keep me"
    assert _tree(ds) == before_ds and sorted(p.name for p in tmp_path.iterdir()) == before_tmp
    # an output folder below a file
    assert gt_main(["export", "odah", str(ds), "-o", str(target / "sub")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(target) in err and target.read_text() == "keep me"


def test_report_to_a_folder_is_refused_and_changes_nothing(ds, tmp_path, capsys):
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "old.html").write_text("old")
    before_ds = _tree(ds)
    assert gt_main(["report", str(ds), "-o", str(folder)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(folder) in err and "internal" not in err
    assert sorted(p.name for p in folder.iterdir()) == ["old.html"]
    assert _tree(ds) == before_ds
    parent_file = tmp_path / "plain"
    parent_file.write_text("x")
    assert gt_main(["report", str(ds), "-o", str(parent_file / "r.html")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(parent_file) in err and parent_file.read_text() == "x"
