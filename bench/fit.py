"""Benchmark: fit the body mesh to the driven skeleton on procedural motions.

    .venv/bin/python bench/fit.py                      # anny, walk_normal + squat + arm_raise + jog, 600 frames
    .venv/bin/python bench/fit.py --motions walk_normal --frames 600 --fit-shape

For each motion: a subject shape -> its virtual markers in the rest pose -> scaled built-in
skeleton (static trial) -> the motion's joint angles -> FK joint centres and markers ->
``fit_sequence`` (timed). Prints per motion: frames/s of the fit, mean/max per-frame
joint-centre error (through the shipped regressor) and marker error, and the process's peak
resident memory. Runs on at most 2 CPU cores (affinity + torch threads).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np


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
        t0 = time.perf_counter()
        res = fit_sequence(body, fk.keypoints[:, :22], fk.markers, fk.marker_names, shape=shape,
                           fit_shape=args.fit_shape, regressor=reg, layout=layout, **kw)
        dt = time.perf_counter() - t0
        T = len(angles)
        rows.append((motion_id, T, dt, T / dt, res.joint_err_mm.mean(), res.joint_err_mm.max(),
                     res.marker_err_mm.mean(), res.marker_err_mm.max(), res.info))
        print(f"{motion_id:12s} {T:4d} frames  {dt:6.2f} s  {T / dt:7.1f} frames/s  "
              f"joint mean {res.joint_err_mm.mean():5.1f} max {res.joint_err_mm.max():5.1f} mm  "
              f"marker mean {res.marker_err_mm.mean():5.1f} max {res.marker_err_mm.max():5.1f} mm  "
              f"(shape {res.info.get('shape_seconds', 0)} s, pose {res.info['pose_seconds']} s, "
              f"mesh {res.info.get('mesh_seconds', 0)} s)", flush=True)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    j = np.mean([r[4] for r in rows])
    mk = np.mean([r[6] for r in rows])
    fps = np.mean([r[3] for r in rows])
    print(f"SUMMARY fit_fps_mean={fps:.1f} joint_err_mm_mean={j:.2f} marker_err_mm_mean={mk:.2f} "
          f"peak_rss_gb={peak_gb:.2f} fit_shape={args.fit_shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
