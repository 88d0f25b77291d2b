"""Benchmark of the gt stage on a real trial: the current stage against the stage before
issue 17's CPU depth test, measured in the same run.

    .venv/bin/python bench/gt_stage.py DATASET [--trial T] [--repeats 3]

DATASET must hold a trial whose render stage is done with its intermediates kept
(``storage.keep_intermediates = true``, or a run stopped before the gt stage:
``odahgen run DATASET --stages motion,skeleton,fit,scene,render``). The stage writes its
trial.h5 into a scratch copy of the trial folder.

Variants (alternating, ``--repeats`` times each):

- before: the keypoint depth test rasterised by pyrender (OpenGL) in a window around each
  frame's keypoints (:func:`odahgen.render.keypoint_visibility`), the masks unpacked to one
  byte a pixel (:func:`odahgen.render.load_masks`), the COCO keypoints by a dense einsum;
- after: the stage as it is (:func:`odahgen.gt.keypoint_visibility` on the CPU at the
  keypoints' pixels, packed masks, the COCO regressor's used vertices only).

Prints wall and CPU time (this process, one BLAS/torch thread) per variant, medians, the
ratios, and how many point-frames' visibility, in-mask flags and bounding boxes differ
between the two. The machine may be shared: CPU time is the steadier figure.
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
    import torch

    torch.set_num_threads(1)
    import odahgen.body.coco as coco_mod
    import odahgen.gt as gt_front
    import odahgen.render as render_front
    from odahgen.gt import load_trial
    from odahgen.jobs import stages
    from odahgen.jobs.graph import TrialContext
    from odahgen.jobs.plan import dataset_config, load_spec

    ds = Path(args.dataset)
    trial = args.trial or (ds / "jobs" / "_trials.txt").read_text().split()[0]
    cfg = dataset_config(ds)
    new = (gt_front.keypoint_visibility, gt_front.PackedMasks, coco_mod.coco_keypoints)

    class UnpackedMasks:  # before: load() unpacks every pixel
        load = staticmethod(render_front.load_masks)

    def old_coco(weights, vertices):
        return np.einsum("kv,tvc->tkc", np.asarray(weights, np.float64), np.asarray(vertices, np.float64))

    old = (render_front.keypoint_visibility, UnpackedMasks, old_coco)

    def use(variant):
        gt_front.keypoint_visibility, gt_front.PackedMasks, coco_mod.coco_keypoints = variant

    with tempfile.TemporaryDirectory(prefix="odahgen-gtbench-") as tmp:
        scratch = Path(tmp) / "ds"
        (scratch / "trials").mkdir(parents=True)
        for name in ("dataset.json", "jobs"):
            src = ds / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, scratch / name)
        shutil.copytree(ds / "trials" / trial, scratch / "trials" / trial)
        ctx = TrialContext(scratch, load_spec(scratch, trial), cfg, logging.getLogger("bench"))
        stages._body_model(cfg)  # loaded once per worker process: not the stage's own cost
        import pyrender  # noqa: F401  imported once per worker process too

        labels = ("before (pyrender)", "after (CPU)")
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in labels}
        outputs = {}
        try:
            for _ in range(args.repeats):
                for label, variant in zip(labels, (old, new)):
                    use(variant)
                    t0, c0 = time.perf_counter(), time.process_time()
                    stages.gt_stage(ctx)
                    results[label].append((time.perf_counter() - t0, time.process_time() - c0))
                    outputs[label] = load_trial(ctx.path("trial.h5"))
        finally:
            use(new)
    gt = outputs[labels[1]]
    print(f"gt stage on {trial}: {gt.n_frames} frames, {len(gt.cameras)} views at "
          f"{cfg.render.width}x{cfg.render.height}; medians of {args.repeats}")
    med = {}
    for label, runs in results.items():
        w = statistics.median(r[0] for r in runs)
        c = statistics.median(r[1] for r in runs)
        med[label] = (w, c)
        print(f"  {label:18s} wall {w:7.2f} s  CPU {c:7.2f} s   (wall runs: {[round(r[0], 1) for r in runs]}, "
              f"CPU runs: {[round(r[1], 1) for r in runs]})")
    (bw, bc), (aw, ac) = med[labels[0]], med[labels[1]]
    print(f"  speed-up: x{bw / aw:.2f} wall, x{bc / ac:.2f} CPU")
    a, b = outputs[labels[0]], outputs[labels[1]]
    for field in ("visibility", "markers_visibility", "coco_visibility", "keypoints_in_mask"):
        diff = size = 0
        for v in b.cameras:
            x, y = getattr(a.cameras[v], field), getattr(b.cameras[v], field)
            if x is not None and y is not None:
                diff += int((x != y).sum())
                size += y.size
        if size:
            print(f"  {field:19s} {diff} of {size} point-frames differ ({100 * diff / size:.3f} %)")
    same_bbox = all(np.array_equal(a.cameras[v].bbox, b.cameras[v].bbox, equal_nan=True) for v in b.cameras)
    dcoco = float(np.abs(a.coco.positions - b.coco.positions).max()) if a.coco is not None else 0.0
    print(f"  bounding boxes identical: {same_bbox}; COCO keypoints: largest difference {dcoco:.2e} m")


if __name__ == "__main__":
    main()
