"""End to end: `odahgen demo` on a demo-sized dataset through the real pipeline (procedural
motion, anny body, built-in skeleton, Blender render, HDF5, QA, validate, report), then a
re-run that resumes (skips every finished stage)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.blender]

SETS = ["dataset.subjects=1", "motion.motions=['walk_normal', 'squat']", "render.width=160",
        "render.height=120"]


def run_demo(out):
    cmd = [sys.executable, "-m", "odahgen.cli", "demo", "-o", str(out)]
    for s in SETS:
        cmd += ["--set", s]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1500)


def test_demo_end_to_end_and_resume(tmp_path, blender_python):
    from odahgen.gt import load_trial

    out = tmp_path / "demo"
    proc = run_demo(out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "report:" in proc.stdout and (out / "report.html").exists()
    trials = sorted((out / "trials").iterdir())
    assert len(trials) == 2
    for trial in trials:
        gt = load_trial(trial / "trial.h5")
        T = gt.n_frames
        assert T >= 64
        assert gt.joint_angles.shape == (T, 39) and gt.keypoints_3d.shape == (T, 44, 3)
        assert set(gt.cameras) == {"front", "side"} and set(gt.videos) == {"front", "side"}
        for view, video in gt.videos.items():
            assert video.n_frames == T and (trial / video.path).exists()
            cam = gt.cameras[view]
            assert cam.resolution == (160, 120)
            # most keypoints seen from the front; from the side a squat hides its far half
            # (measured: front 0.90-0.96, side 0.49 squat / 0.71 walk)
            assert cam.visibility.mean() > (0.8 if view == "front" else 0.4), (view, cam.visibility.mean())
        assert gt.qa is not None and gt.qa.passed, gt.qa.reasons
        assert np.isfinite(gt.keypoints_3d).all()
    splits = json.loads((out / "splits.json").read_text())
    assert splits["excluded"] == [] and splits["subjects"]["train"] == ["S01"]
    assert splits["counts"]["train"]["trials"] == 2
    # a second run skips every finished stage
    records = {p: p.stat().st_mtime_ns for p in out.glob("trials/*/stages/*.json")}
    proc = run_demo(out)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {p: p.stat().st_mtime_ns for p in out.glob("trials/*/stages/*.json")} == records
    # resume trusts content, not existence: a deleted video, a truncated trial.h5 and a
    # motion.npz overwritten with random bytes are each made again by `odahgen run`
    first, second = trials
    (first / "render" / "side.mp4").unlink()
    h5 = second / "trial.h5"
    with open(h5, "r+b") as fh:
        fh.truncate(h5.stat().st_size // 2)
    (first / "motion.npz").write_bytes(np.random.default_rng(1).bytes(4096))
    proc = subprocess.run([sys.executable, "-m", "odahgen.cli", "run", str(out)],
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (first / "render" / "side.mp4").stat().st_size > 0
    for trial in trials:
        gt = load_trial(trial / "trial.h5")
        assert gt.qa is not None and gt.qa.passed
    log = (first / "trial.log").read_text()
    assert "stage motion: start (its outputs changed since: motion.npz)" in log
    assert "stage render: start (its outputs changed since: render/side.mp4)" in log
    # and a second run after the repair does nothing
    records = {p: p.stat().st_mtime_ns for p in out.glob("trials/*/stages/*.json")}
    proc = subprocess.run([sys.executable, "-m", "odahgen.cli", "run", str(out)],
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("trials/*/stages/*.json")} == records
