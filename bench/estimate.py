"""Benchmark of `odahgen estimate`: its prediction against a real run of a small dataset.

Calibrates on this machine (one trial at 64 and 128 frames, each in a new `odahgen run`
process), predicts a dataset of SUBJECTS (default 3) trials of FRAMES (default 180) frames
(demo config, walk_normal, Workbench at 160x120 as the calibration renders, intermediates
pruned), runs it with `odahgen run`, and prints predicted vs real: CPU seconds per stage
(from the stage records), render seconds, disk after the run, and the command's wall time.

Run: `.venv/bin/python bench/estimate.py [FOLDER]` (default a temporary folder). The
machine may be shared with other work: the ratios carry that noise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from odahgen.config import load_config
from odahgen.jobs import estimate as est
from odahgen.jobs.plan import expand

SUBJECTS = int(os.environ.get("SUBJECTS", 3))
FRAMES = int(os.environ.get("FRAMES", 180))


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="odahgen-est-"))
    sets = [f"dataset.subjects={SUBJECTS}", "dataset.shape_variants=[0.0]",
            'motion.motions=["walk_normal"]', f"motion.clip_seconds={FRAMES / 60 + 1e-6}",
            "render.engine=workbench", "render.width=160", "render.height=120"]
    try:
        cfg = load_config("demo", sets)
        t0 = time.perf_counter()
        calib = est.calibrate(cfg, root / "calib")
        print(f"calibration: {time.perf_counter() - t0:.1f} s")
        n = len(expand(cfg))
        pred = est.estimate(cfg, calib, trials=n, gpu_kind="cpu", cpus=1, gpus=1)
        print(est.format_estimate(pred))
        ds = root / "ds"
        cli = [sys.executable, "-m", "odahgen.cli"]
        subprocess.run(cli + ["plan", "demo", "-o", str(ds)] + [a for s in sets for a in ("--set", s)],
                       check=True, capture_output=True)
        t0 = time.perf_counter()
        subprocess.run(cli + ["run", str(ds), "--workers", "1"], check=True, capture_output=True)
        wall = time.perf_counter() - t0
        real = est.calibration_from(ds)
        print(f"\n{n} trials of {pred['frames_per_trial']} frames: predicted vs real (ratio)")
        total_p = total_r = 0.0
        for stage in est.CPU_STAGES:
            p = pred["cpu_seconds_per_trial"][stage] * n
            r = sum(s for _, s in real["stages"].get(stage, []))
            total_p, total_r = total_p + p, total_r + r
            print(f"  {stage:9s} {p:8.1f} s  {r:8.1f} s  ({p / r if r else float('nan'):.2f})")
        print(f"  CPU total {total_p:8.1f} s  {total_r:8.1f} s  ({total_p / total_r:.2f})")
        rp = pred["gpu_hours"] * 3600
        rr = sum(r[4] for r in real["render"])
        print(f"  render    {rp:8.1f} s  {rr:8.1f} s  ({rp / rr:.2f})")
        dr = sum(d[2] + d[3] for d in real["disk"])
        print(f"  disk      {pred['disk_bytes'] / 1e6:8.2f} MB {dr / 1e6:8.2f} MB ({pred['disk_bytes'] / dr:.2f})")
        print(f"  wall (1 worker) predicted {(total_p + rp):.1f} s (CPU + render), "
              f"real `odahgen run` {wall:.1f} s ({(total_p + rp) / wall:.2f})")
    finally:
        if len(sys.argv) <= 1:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
