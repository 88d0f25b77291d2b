"""Benchmark: odahgen's fast IK versus stock OpenSim IK on Rajagopal2016 (with constraints).

Makes a 600-frame full-body TRC from ../shared/data/mocap/rajagopal_walk.trc (the trial played
forward, backward, forward), scales Rajagopal2016 with odahgen to the static trial, then on
that same scaled model, in the same run:
  - stock OpenSim InverseKinematicsTool (constraints on, accuracy 1e-5, the repository's
    walking IK task weights),
  - odahgen IK without marker registration (same model, same markers),
  - odahgen IK with registration (what `odahgen ik` does),
and prints frames/s, the speed ratios, mean marker RMS and the max angle difference to stock.

    .venv/bin/python bench/ik.py [--workers N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--frames", type=int, default=600)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from odahgen.skeleton.ik import opensim_ik, run_ik_tree
    from odahgen.skeleton.kinematics import extract_tree
    from odahgen.skeleton.model import load_model
    from odahgen.skeleton.scale import scale_subject, write_scaled_model
    from odahgen.skeleton.trc import MarkerData, read_mot, read_trc, write_trc

    raj = DATA / "opensim" / "Rajagopal2016.osim"
    mset = DATA / "opensim" / "Rajagopal2016_markerset_walk.xml"
    setup = DATA / "opensim" / "Rajagopal2016_ik_setup_walk.xml"
    walk = read_trc(DATA / "mocap" / "rajagopal_walk.trc")
    static = read_trc(DATA / "mocap" / "rajagopal_static_walk.trc")
    pos = walk.positions
    seq = np.concatenate([pos, pos[::-1], pos] * 3)[: args.frames]
    data = MarkerData(walk.names, seq, walk.fps)
    tmp = Path(tempfile.mkdtemp(prefix="odahgen_bench_"))
    trc = write_trc(tmp / "walk600.trc", data)

    tree0 = extract_tree(load_model(raj, mset))
    t0 = time.perf_counter()
    tree, sres = scale_subject(tree0, static)
    scaled = write_scaled_model(raj, tmp / "scaled.osim", tree, sres, mset)
    t_scale = time.perf_counter() - t0

    t_stock = opensim_ik(scaled, trc, tmp / "stock.mot", setup_xml=setup)
    names, _, stock = read_mot(tmp / "stock.mot")

    t0 = time.perf_counter()
    fast = run_ik_tree(tree, data, register=False, workers=args.workers)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = run_ik_tree(tree, data, register=True, workers=args.workers)
    t_full = time.perf_counter() - t0

    def maxdiff(res):
        rot = [n for n in names if n in res.coord_names and tree.coord_rotational[res.coord_names.index(n)]]
        a = np.degrees(res.coords[:, [res.coord_names.index(n) for n in rot]])
        b = stock[: len(a), [names.index(n) for n in rot]]
        d = np.abs((a - b + 180) % 360 - 180)
        return float(d.max()), float(np.sqrt((d**2).mean())), rot[int(np.argmax(d.max(axis=0)))]

    T = data.n_frames
    print(f"frames: {T}, markers: {len(fast.marker_names)}, scaling {t_scale:.2f} s")
    print(f"stock OpenSim IK (constraints):   {T / t_stock:8.1f} frames/s")
    md, rd, worst = maxdiff(fast)
    print(f"odahgen IK, no registration:      {T / t_fast:8.1f} frames/s  ({t_stock / t_fast:.1f}x)  "
          f"RMS {np.nanmean(fast.marker_rms) * 100:.2f} cm  max angle diff to stock {md:.2f} deg (RMS {rd:.2f}, worst {worst})")
    md, rd, worst = maxdiff(full)
    print(f"odahgen IK + marker registration: {T / t_full:8.1f} frames/s  ({t_stock / t_full:.1f}x)  "
          f"RMS {np.nanmean(full.marker_rms) * 100:.2f} cm  max angle diff to stock {md:.2f} deg (RMS {rd:.2f}, worst {worst})")


if __name__ == "__main__":
    main()
