"""Benchmark of the gt stage on a real trial: the current stage against the stage as it was
before issue 17 (the depth test rasterising every whole frame, masks unpacked by a copy),
measured in the same run.

    .venv/bin/python bench/gt_stage.py DATASET [--trial T] [--repeats 3]

DATASET must hold a trial whose render stage is done with its intermediates kept
(``storage.keep_intermediates = true``, or a run stopped before the gt stage:
``odahgen run DATASET --stages motion,skeleton,fit,scene,render``). The stage writes its
trial.h5 into a scratch copy of the trial folder. Prints wall and CPU time (this process,
one torch/BLAS thread) per variant, medians, and the ratio. The machine may be shared.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("--trial", default="")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import numpy as np

    import odahgen.render.stage as render_stage
    import odahgen.render.visibility as vis
    from odahgen.jobs import stages
    from odahgen.jobs.graph import TrialContext
    from odahgen.jobs.plan import dataset_config, load_spec

    ds = Path(args.dataset)
    trial = args.trial or (ds / "jobs" / "_trials.txt").read_text().split()[0]
    cfg = dataset_config(ds)
    new_vis, new_masks = vis.keypoint_visibility, render_stage.load_masks

    def old_vis(meshes, keypoints, camera, tol_m=vis.DEFAULT_DEPTH_TOLERANCE_M, return_masks=False):
        out = new_vis(meshes, keypoints, camera, tol_m=tol_m, return_masks=True)  # every whole frame
        return out if return_masks else out[0]

    def old_masks(path):
        with np.load(path) as z:
            shape = tuple(z["shape"])
            return np.unpackbits(z["bits"], count=int(np.prod(shape))).reshape(shape).astype(bool)

    with tempfile.TemporaryDirectory(prefix="odahgen-gtbench-") as tmp:
        scratch = Path(tmp) / "ds"
        (scratch / "trials").mkdir(parents=True)
        for name in ("dataset.json", "jobs"):
            src = ds / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, scratch / name)
        shutil.copytree(ds / "trials" / trial, scratch / "trials" / trial)
        ctx = TrialContext(scratch, load_spec(scratch, trial), cfg, logging.getLogger("bench"))
        stages._body_model(cfg)  # loaded once per worker process: not the stage's own cost
        results: dict[str, list[tuple[float, float]]] = {"before (whole frames)": [], "after (windows)": []}
        outputs = {}
        for _ in range(args.repeats):
            for label, (v, m) in (("before (whole frames)", (old_vis, old_masks)),
                                  ("after (windows)", (new_vis, new_masks))):
                import odahgen.render as front

                front.keypoint_visibility, front.load_masks = v, m
                t0, c0 = time.perf_counter(), time.process_time()
                stages.gt_stage(ctx)
                results[label].append((time.perf_counter() - t0, time.process_time() - c0))
                from odahgen.gt import load_trial

                gt = load_trial(ctx.path("trial.h5"))
                outputs[label] = {view: gt.cameras[view].visibility.copy() for view in gt.cameras}
        front.keypoint_visibility, front.load_masks = new_vis, new_masks
    T = gt.n_frames
    print(f"gt stage on {trial}: {T} frames, {len(gt.cameras)} views at "
          f"{cfg.render.width}x{cfg.render.height}; medians of {args.repeats}")
    med = {}
    for label, runs in results.items():
        w = statistics.median(r[0] for r in runs)
        c = statistics.median(r[1] for r in runs)
        med[label] = (w, c)
        print(f"  {label:22s} wall {w:7.2f} s  CPU {c:7.2f} s   (runs: {[round(r[0], 1) for r in runs]})")
    (bw, bc), (aw, ac) = med["before (whole frames)"], med["after (windows)"]
    print(f"  speed-up: x{bw / aw:.2f} wall, x{bc / ac:.2f} CPU")
    a, b = outputs["before (whole frames)"], outputs["after (windows)"]
    diff = sum(int((a[v] != b[v]).sum()) for v in b)
    size = sum(b[v].size for v in b)
    print(f"  keypoint visibility: {diff} of {size} point-frames differ ({100 * diff / size:.3f}%: "
          f"pixel coverage at the edge between overlapping parts rounds differently in a window)")


if __name__ == "__main__":
    main()
