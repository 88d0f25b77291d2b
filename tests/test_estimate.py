"""`odahgen estimate`: the cost model on fixed calibrations, and (slow) its prediction
against a real run of a small dataset."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from odahgen.config import load_config
from odahgen.errors import OdahgenError
from odahgen.jobs import estimate as est
from odahgen.jobs.plan import expand

TINY = ["dataset.subjects=1", "dataset.shape_variants=[0.0]", 'motion.motions=["walk_normal"]',
        "render.width=160", "render.height=120"]


def _calib(engine="workbench", pixels=160 * 120):
    stages = {s: [[64, 1.0 + 0.01 * 64], [128, 1.0 + 0.01 * 128]] for s in est.CPU_STAGES}
    return {"stages": stages, "source": "fixed",
            "disk": [[64, pixels, 64 * 1000, 50_000 + 64 * 100], [128, pixels, 128 * 1000, 50_000 + 128 * 100]],
            "render": [[engine, pixels, 64, 2, 12.8], [engine, pixels, 128, 2, 25.6]]}


def test_linear_costs_scale_with_frames_pixels_and_trials():
    cfg = load_config("demo", TINY + ["motion.clip_seconds=4"])  # 240 frames
    out = est.estimate(cfg, _calib(), trials=10, gpus=2, gpu_kind="cpu", cpus=4)
    assert out["frames_per_trial"] == 240 and out["views"] == 2
    assert out["cpu_seconds_per_trial"]["fit"] == pytest.approx(1.0 + 2.4)
    assert out["cpu_hours"] == pytest.approx(10 * 6 * 3.4 / 3600, rel=1e-2)
    # the calibration rendered this engine at this size: its own 0.1 s per frame per view
    assert out["render_seconds_per_frame_view"] == pytest.approx(0.1)
    assert out["gpu_hours"] == pytest.approx(10 * 0.1 * 240 * 2 / 3600, rel=1e-2)
    assert out["wall_hours"] == pytest.approx(max(out["gpu_hours"] / 2, out["cpu_hours"] / 4), rel=1e-2)
    assert out["bytes_per_trial"] == pytest.approx(240 * 1000 + 50_000 + 240 * 100, rel=1e-6)
    assert out["disk_bytes"] == pytest.approx(10 * out["bytes_per_trial"], rel=1e-6)
    # twice the pixels: render/ bytes double, the rest not
    big = load_config("demo", TINY + ["motion.clip_seconds=4", "render.width=320"])
    out2 = est.estimate(big, _calib(), trials=10, gpu_kind="cpu")
    assert out2["bytes_per_trial"] == pytest.approx(2 * 240 * 1000 + 50_000 + 240 * 100, rel=1e-6)


def test_unmeasured_gpu_rows_say_so():
    cfg = load_config("odah", TINY[:3])
    out = est.estimate(cfg, _calib(), trials=len(expand(cfg)), gpus=4, gpu_kind="h200")
    assert out["gpu_hours"] is None and out["wall_hours"] is None
    assert "not measured for eevee on h200" in out["render_source"]
    text = est.format_estimate(out)
    assert "GPU (h200): unknown" in text and "not measured" in text
    with pytest.raises(OdahgenError, match="no 'motion' stage times"):
        est.estimate(cfg, {**_calib(), "stages": {}}, trials=1)


def test_bad_calibration_file_is_one_line(tmp_path):
    bad = tmp_path / "c.json"
    bad.write_text("{")
    with pytest.raises(OdahgenError, match="c.json: not a readable calibration file"):
        est.load_calibration(bad)
    bad.write_text("[]")
    with pytest.raises(OdahgenError, match="not a calibration file"):
        est.load_calibration(bad)


@pytest.mark.slow
@pytest.mark.blender
def test_prediction_against_a_real_small_run(tmp_path):
    """Calibrate on this machine (64 and 96 frames), predict a 2-trial dataset of 80 frames,
    run it, and compare: trial count exact, CPU seconds and disk within a factor that the
    noise of a shared 2-core machine and in-process model caching leave (CPU 0.4-2.5x,
    disk 0.75-1.33x)."""
    sets = ["dataset.subjects=2", "dataset.shape_variants=[0.0]", 'motion.motions=["walk_normal"]',
            "motion.clip_seconds=1.3333334", "body.fit_iterations=10", "scene.lights.count=1",
            "render.engine=workbench", "render.width=160", "render.height=120"]
    cfg = load_config("demo", sets)
    calib = est.calibrate(cfg, tmp_path / "calib", frames=(64, 96))
    (tmp_path / "calib.json").write_text(json.dumps(calib))
    n = len(expand(cfg))
    pred = est.estimate(cfg, calib, trials=n, gpu_kind="cpu")
    assert pred["frames_per_trial"] == 80
    ds = tmp_path / "ds"
    run = [sys.executable, "-m", "odahgen.cli"]
    set_args = [a for s in sets for a in ("--set", s)]
    assert subprocess.run(run + ["plan", "demo", "-o", str(ds)] + set_args, capture_output=True).returncode == 0
    proc = subprocess.run(run + ["run", str(ds)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    real = est.calibration_from(ds)
    assert len(real["disk"]) == n == pred["trials"] == 2
    cpu_real = sum(s for samples in real["stages"].values() for _, s in samples)
    cpu_pred = pred["cpu_hours"] * 3600
    assert 0.4 < cpu_pred / cpu_real < 2.5, (cpu_pred, cpu_real)
    disk_real = sum(d[2] + d[3] for d in real["disk"])
    assert 0.75 < pred["disk_bytes"] / disk_real < 1.33, (pred["disk_bytes"], disk_real)
    # the CLI reads the saved calibration and prints the same numbers
    proc = subprocess.run(run + ["estimate", "demo", "--calibration", str(tmp_path / "calib.json"),
                                 "--gpu-kind", "cpu", "--json"] + set_args, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cpu_hours"] == pred["cpu_hours"]
