"""Benchmark: load + resample a 10-minute AMASS-format file (SMPL-H, 120 Hz -> 60 Hz).

Run: .venv/bin/python bench/motion.py
"""

import tempfile
import time
from pathlib import Path


from odahgen.motion import get_source, resample
from odahgen.motion import retarget as RT
from odahgen.motion.amass import write_amass
from odahgen.motion.procedural import generate


def main() -> None:
    fps, minutes = 120.0, 10
    c = generate("walk_normal", seed=0, seconds=minutes * 60.0, fps=fps).coordinates
    poses, trans = RT.coordinates_to_smpl(c, 52)
    with tempfile.TemporaryDirectory() as d:
        path = write_amass(Path(d) / "long.npz", poses, trans, fps, gender="male")
        t0 = time.perf_counter()
        m = get_source("amass", path=path).load("long")
        t1 = time.perf_counter()
        r = resample(m, 60.0)
        t2 = time.perf_counter()
        params = get_source("amass", path=path, output="body_params").load("long")
        t3 = time.perf_counter()
        resample(params, 60.0)
        t4 = time.perf_counter()
    print(f"frames in {len(poses)} ({minutes} min @ {fps:g} Hz) -> out {r.n_frames} @ 60 Hz")
    print(f"load+retarget {t1 - t0:.2f} s, resample coords {t2 - t1:.2f} s, total {t2 - t0:.2f} s")
    print(f"body_params load {t3 - t2:.2f} s, slerp resample {t4 - t3:.2f} s")


if __name__ == "__main__":
    main()
