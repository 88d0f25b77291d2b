"""Benchmark: fit the body mesh to the driven skeleton on procedural motions.

    .venv/bin/python bench/fit.py                      # anny, walk_normal + squat + arm_raise + jog, 600 frames
    .venv/bin/python bench/fit.py --motions walk_normal --frames 600 --fit-shape

For each motion: a subject shape -> its virtual markers in the rest pose -> scaled built-in
skeleton (static trial) -> the motion's joint angles -> FK joint centres and markers ->
``fit_sequence`` (timed). Prints per motion: frames/s of the fit, mean/max per-frame
joint-centre error (through the shipped regressor) and marker error, and the process's peak
resident memory. Runs on at most 2 CPU cores (affinity + torch threads).

With ``--baseline REV`` (default: the commit before issue 17's fit speed-up) each motion is
also fitted by ``odahgen/body/base.py`` and ``odahgen/body/fit.py`` as they were at REV
(loaded from git into temporary modules, their posing methods bound to a copy of the same
body), alternating with the current code ``--repeats`` times: wall and CPU seconds (this
process) medians, their ratios, the residuals of both and the largest vertex difference.
``--baseline none`` times the current code alone. The machine may be shared: CPU time is the
steadier figure.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

#: the commit before issue 17's fit speed-up (SoA posing, hand-written chain backward)
BASELINE_REV = "a94add4"
ROOT = Path(__file__).resolve().parents[1]


def _git_module(rev: str, path: str, name: str, tmp: str):
    """The module ``path`` as it was at ``rev``, imported under ``name``."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], check=True,
                         capture_output=True, text=True).stdout
    file = Path(tmp) / f"{name}.py"
    file.write_text(src)
    spec = importlib.util.spec_from_file_location(name, file)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def baseline_fit(body, rev: str, tmp: str):
    """(a copy of ``body`` posed by the BodyModel methods of ``rev``, that rev's fit_sequence)."""
    old_base = _git_module(rev, "odahgen/body/base.py", "_bench_old_base", tmp)
    old_fit = _git_module(rev, "odahgen/body/fit.py", "_bench_old_fit", tmp)
    old = copy.copy(body)
    for name, fn in vars(old_base.BodyModel).items():
        if isinstance(fn, types.FunctionType) and name not in ("__init__", "_rest_state"):
            setattr(old, name, types.MethodType(fn, old))
    return old, old_fit.fit_sequence


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--body", default="anny", choices=["anny", "smplx"])
    ap.add_argument("--model-dir", default="", help="SMPL-X folder (smplx only)")
    ap.add_argument("--motions", default="walk_normal,squat,arm_raise,jog")
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--iterations", type=int, default=None, help="fit iterations (default: fit_sequence's)")
    ap.add_argument("--stride", type=int, default=None, help="fit_sequence key-frame stride")
    ap.add_argument("--marker-weight", type=float, default=None, help="fit_sequence marker_weight")
    ap.add_argument("--fit-shape", action="store_true", help="also fit the shape (once per subject)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--regressor", default=None, help="regressor .npz (default: the shipped one)")
    ap.add_argument("--layout", default=None, help="marker layout .json (default: the shipped one)")
    ap.add_argument("--baseline", default=BASELINE_REV, help="git rev of the baseline fit ('none': no baseline)")
    ap.add_argument("--repeats", type=int, default=1, help="alternating runs per variant (medians)")
    args = ap.parse_args(argv)

    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[:2]
        os.sched_setaffinity(0, cpus)
    import torch

    torch.set_num_threads(2)
    from odahgen.body import (
        fit_sequence,
        load_body_model,
        load_layout,
        load_regressor,
        markers_from_vertices,
        regressor_path,
        subject_shape_base,
    )
    from odahgen.motion.registry import get_source
    from odahgen.skeleton.fk import fk_tree, load_tree
    from odahgen.skeleton.names import COORDINATE_NAMES
    from odahgen.skeleton.scale import scale_subject
    from odahgen.io.mocap import MarkerData

    body = load_body_model(args.body, model_dir=args.model_dir)
    layout = load_layout(body, args.layout)
    reg = load_regressor(args.regressor or regressor_path(body.name), body.n_vertices)
    shape = np.asarray(subject_shape_base(body, args.seed), dtype=np.float32)
    with torch.no_grad():
        rest = body.forward(torch.as_tensor(shape), torch.zeros(1, body.pose_dim), torch.zeros(1, 3)).numpy()
    names = list(layout["markers"])
    static = MarkerData(names, np.repeat(markers_from_vertices(rest, layout, names), 10, axis=0), 60.0)
    # as the jobs pipeline does: exact virtual markers, so the all-marker least-squares scale
    try:
        tree, scale = scale_subject(load_tree("builtin"), static, source="bench static", measurements=False)
    except TypeError:  # older skeleton API
        tree, scale = scale_subject(load_tree("builtin"), static, source="bench static")
    leg = float(np.mean(scale.scales[[tree.body_names.index(b) for b in ("femur_r", "tibia_r", "femur_l", "tibia_l")], 1]))
    src = get_source("procedural")
    tmp = tempfile.mkdtemp(prefix="odahgen-fitbench-")
    variants = {"current": (body, fit_sequence)}
    if args.baseline != "none":
        variants = {"baseline": baseline_fit(body, args.baseline, tmp), "current": (body, fit_sequence)}
    print(f"body {body.name} ({body.n_vertices} vertices), shape {np.round(shape, 2).tolist()}, "
          f"scaled skeleton height {scale.height_m:.2f} m, static RMS {1000 * scale.rms_m:.1f} mm, "
          f"torch threads {torch.get_num_threads()}, cpus {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}")
    rows = []
    for motion_id in args.motions.split(","):
        m = src.load(motion_id, seed=args.seed)
        angles = np.zeros((m.n_frames, len(COORDINATE_NAMES)))
        for i, c in enumerate(COORDINATE_NAMES):
            if c in m.coordinate_names:
                angles[:, i] = m.coordinates[:, m.coordinate_names.index(c)]
        reps = int(np.ceil(args.frames / len(angles)))
        if reps > 1:  # loop the clip (the pelvis path jumps back: a hard case for smoothness)
            angles = np.concatenate([angles] * reps)
        angles = angles[: args.frames]
        for c in ("pelvis_tx", "pelvis_ty", "pelvis_tz"):
            angles[:, COORDINATE_NAMES.index(c)] *= leg
        fk = fk_tree(tree, angles)
        kw = {} if args.iterations is None else {"iterations": args.iterations}
        if args.stride is not None:
            kw["stride"] = args.stride
        if args.marker_weight is not None:
            kw["marker_weight"] = args.marker_weight
        runs: dict[str, list] = {v: [] for v in variants}
        res = {}
        for _ in range(args.repeats):
            for label, (b, fit) in variants.items():
                t0, c0 = time.perf_counter(), time.process_time()
                res[label] = fit(b, fk.keypoints[:, :22], fk.markers, fk.marker_names, shape=shape,
                                 fit_shape=args.fit_shape, regressor=reg, layout=layout, **kw)
                runs[label].append((time.perf_counter() - t0, time.process_time() - c0))
        T = len(angles)
        for label in variants:
            r = res[label]
            dt = statistics.median(x[0] for x in runs[label])
            cpu = statistics.median(x[1] for x in runs[label])
            rows.append((motion_id, T, dt, T / dt, r.joint_err_mm.mean(), r.joint_err_mm.max(),
                         r.marker_err_mm.mean(), r.marker_err_mm.max(), r.info, label, cpu))
            print(f"{motion_id:12s} {label:8s} {T:4d} frames  wall {dt:6.2f} s  {T / dt:7.1f} frames/s  "
                  f"CPU {cpu:6.2f} s  {T / cpu:7.1f} frames/s  "
                  f"joint mean {r.joint_err_mm.mean():5.2f} max {r.joint_err_mm.max():5.1f} mm  "
                  f"marker mean {r.marker_err_mm.mean():5.2f} max {r.marker_err_mm.max():5.1f} mm  "
                  f"(shape {r.info.get('shape_seconds', 0)} s, pose {r.info['pose_seconds']} s, "
                  f"mesh {r.info.get('mesh_seconds', 0)} s)", flush=True)
        if "baseline" in res:
            old, new = rows[-2], rows[-1]
            dv = float(np.abs(res["baseline"].vertices - res["current"].vertices).max())
            print(f"{motion_id:12s} speed-up x{old[2] / new[2]:.2f} wall, x{old[10] / new[10]:.2f} CPU; "
                  f"largest vertex difference {1000 * dv:.3f} mm", flush=True)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    for label in variants:
        sel = [r for r in rows if r[9] == label]
        print(f"SUMMARY {label} fit_fps_mean={np.mean([r[3] for r in sel]):.1f} "
              f"fit_fps_cpu_mean={np.mean([r[1] / r[10] for r in sel]):.1f} "
              f"joint_err_mm_mean={np.mean([r[4] for r in sel]):.2f} "
              f"marker_err_mm_mean={np.mean([r[6] for r in sel]):.2f} "
              f"peak_rss_gb={peak_gb:.2f} fit_shape={args.fit_shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
