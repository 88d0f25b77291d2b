"""Benchmark: load + resample a 10-minute AMASS-format file (SMPL-H, 120 Hz -> 60 Hz).

The file is 10 minutes of walking (a 20 s procedural walk repeated, the pelvis carried
forward). Timed: the default route (body mesh -> virtual markers on anny, incl. loading anny
and the once-per-process rest-offset calibration, both cached afterwards), the direct
coordinate retarget, and the raw body parameters; each followed by resampling to 60 Hz.
Wall and CPU (process) time are printed: on shared cores the wall time is noisy.

Run: .venv/bin/python bench/motion.py
"""

import tempfile
import time
from pathlib import Path

import numpy as np

from odahgen.motion import get_source, resample
from odahgen.motion import retarget as RT
from odahgen.motion.amass import write_amass
from odahgen.motion.procedural import generate


def main() -> None:
    fps, minutes, piece = 120.0, 10, 20.0
    c = generate("walk_normal", seed=0, seconds=piece, fps=fps).coordinates[:-1]
    reps = int(minutes * 60 / piece)
    step = c[-1, 3:6] - c[0, 3:6] + (c[-1, 3:6] - c[-2, 3:6])
    step[1] = 0.0
    shift = np.zeros(c.shape[1])
    tiled = []
    for k in range(reps):
        shift[3:6] = k * step
        tiled.append(c + shift)
    tiled = np.concatenate(tiled)
    poses, trans = RT.coordinates_to_smpl(tiled, 52)
    with tempfile.TemporaryDirectory() as d:
        path = write_amass(Path(d) / "long.npz", poses, trans, fps, gender="male")
        rows = []
        for output in ("markers", "coordinates", "body_params"):
            t0, c0 = time.perf_counter(), time.process_time()
            m = get_source("amass", path=path, output=output).load("long")
            t1, c1 = time.perf_counter(), time.process_time()
            r = resample(m, 60.0)
            t2, c2 = time.perf_counter(), time.process_time()
            rows.append((output, t1 - t0, t2 - t1, r.n_frames, c1 - c0, c2 - c1))
    print(f"frames in {len(poses)} ({minutes} min @ {fps:g} Hz) -> out {rows[0][3]} @ 60 Hz")
    for output, load, res, _n, cload, cres in rows:
        print(f"output={output:12s} load {load:6.2f} s  resample {res:5.2f} s  total {load + res:6.2f} s"
              f"  (CPU: load {cload:6.2f} s  resample {cres:5.2f} s)")


if __name__ == "__main__":
    main()
