"""Benchmark: odahgen's fast IK versus stock OpenSim IK on Rajagopal2016 (with constraints).

Makes a 600-frame full-body TRC from ../shared/data/mocap/rajagopal_walk.trc (the trial played
forward, backward, forward), scales Rajagopal2016 with odahgen to the static trial, then on
that same scaled model, in the same run:
  - stock OpenSim InverseKinematicsTool (constraints on, accuracy 1e-5, the repository's
    walking IK setup: its marker task weights),
  - odahgen IK with the *same* marker weights, no registration: the like-for-like comparison
    (frames/s, ratio, per-coordinate max / RMS angle difference, weighted marker cost of both),
  - odahgen IK as `odahgen ik` runs it (class weights + marker-offset registration): frames/s.

Angle agreement is reported per coordinate. A coordinate counts as *well determined* when,
with every other coordinate re-optimised, turning it by 10 deg raises the weighted marker
RMS of the frame by at least 2 mm on every frame (conditional stiffness from the Gauss-Newton
normal equations at odahgen's solution). Forearm pronation with a single radius marker close
to the pronation axis, for example, is not: stock and odahgen then pick different angles at the
same cost, and no solver can be "right" about it. The headline max angle difference is over
well-determined coordinates; the others are listed with their stiffness. Stock IK is also run
a second time (untimed) at accuracy 1e-8: differences to the timed 1e-5 run up to ~1-2 deg are
the stock solver stopping early (odahgen's solution has the lower cost on every frame).

    .venv/bin/python bench/ik.py [--frames N] [--workers N]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"


def setup_weights(setup: Path) -> dict[str, float]:
    """Marker task weights of an OpenSim IK setup file (0 for tasks with apply=false)."""
    text = setup.read_text()
    out = {}
    for m in re.finditer(r'<IKMarkerTask name="([^"]*)">(.*?)</IKMarkerTask>', text, re.S):
        apply = re.search(r"<apply>\s*(\w+)\s*</apply>", m.group(2))
        w = re.search(r"<weight>\s*([^<]+)</weight>", m.group(2))
        on = apply is None or apply.group(1).lower() == "true"
        out[m.group(1)] = float(w.group(1)) if (on and w) else 0.0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--stiff-mm", type=float, default=2.0, help="well-determined threshold (mm per 10 deg)")
    ap.add_argument("--no-tight", action="store_true",
                    help="skip the second (untimed) stock run at accuracy 1e-8 used for the agreement check")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from odahgen.skeleton.ik import match_markers, opensim_ik, run_ik_tree
    from odahgen.skeleton.kinematics import extract_tree
    from odahgen.skeleton.model import load_model
    from odahgen.skeleton.scale import scale_subject, write_scaled_model
    from odahgen.io.mocap import MarkerData, read_mot, read_trc, write_trc

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
    sw = setup_weights(setup)

    t_stock = opensim_ik(scaled, trc, tmp / "stock.mot", setup_xml=setup)
    names, _, stock = read_mot(tmp / "stock.mot")
    tight = None
    if not args.no_tight:  # the same stock IK converged further: is a difference odahgen's or stock's?
        opensim_ik(scaled, trc, tmp / "stock_tight.mot", setup_xml=setup, accuracy=1e-8)
        names_t, _, tight = read_mot(tmp / "stock_tight.mot")
        assert names_t == names

    run_ik_tree(tree, data.frames(slice(0, 20)), register=False, workers=1)  # warm caches
    t0 = time.perf_counter()
    same = run_ik_tree(tree, data, register=False, workers=args.workers, weights=sw)
    t_same = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = run_ik_tree(tree, data, register=True, workers=args.workers)
    t_full = time.perf_counter() - t0

    # weighted marker cost of both solutions, and per-coordinate stiffness at odahgen's
    sub, idx = match_markers(tree, data)
    w = np.array([sw.get(n, 0.0) for n in sub.names])
    Y = sub.positions
    W = np.where(np.isfinite(Y).all(axis=2), w[None], 0.0)
    cols = tree.free_coords()
    q_st = np.tile(tree.coord_default, (len(stock), 1))
    for i, n in enumerate(tree.coord_names):
        if n in names:
            v = stock[:, names.index(n)]
            q_st[:, i] = np.radians(v) if tree.coord_rotational[i] else v
    T = min(len(q_st), len(same.coords))
    c_st, *_ = tree.normal_equations(q_st[:T], np.nan_to_num(Y[:T]), W[:T], idx, cols)
    c_od, A, _, _ = tree.normal_equations(same.coords[:T], np.nan_to_num(Y[:T]), W[:T], idx, cols)
    Ainv = np.linalg.inv(A + 1e-12 * np.eye(len(cols))[None])
    kappa = 1.0 / np.einsum("tii->ti", Ainv)  # conditional stiffness, cost per rad^2
    mm10 = 1000 * np.sqrt(kappa * np.radians(10.0) ** 2 / W[:T].sum(axis=1, keepdims=True))
    stiff = {tree.coord_names[c]: float(mm10[:, k].min()) for k, c in enumerate(cols)}

    print(f"frames: {T}, markers: {len(same.marker_names)}, scaling {t_scale:.2f} s, machine load noisy (shared cores)")
    print(f"stock OpenSim IK (constraints, setup weights):  {T / t_stock:8.1f} frames/s")
    print(f"odahgen IK, same weights, no registration:      {T / t_same:8.1f} frames/s  ({t_stock / t_same:.1f}x)  "
          f"marker RMS {np.nanmean(same.marker_rms) * 100:.2f} cm")
    print(f"odahgen IK as `odahgen ik` (class weights + registration): {T / t_full:8.1f} frames/s  "
          f"({t_stock / t_full:.1f}x)  marker RMS {np.nanmean(full.marker_rms) * 100:.2f} cm")
    print(f"weighted marker cost, mean over frames: stock {c_st.mean():.5f}  odahgen {c_od.mean():.5f}  "
          f"(odahgen lower on {(c_od < c_st - 1e-9).mean() * 100:.0f}% of frames)")
    print(f"{'coordinate':20s} {'max deg':>8s} {'RMS deg':>8s} {'max vs 1e-8':>11s} {'mm/10deg':>9s}")
    worst_det, worst_name, worst_tight, worst_tname = 0.0, "", 0.0, ""
    for n in names:
        if n not in tree.coord_names:
            continue
        i = tree.coord_names.index(n)
        if not tree.coord_rotational[i] or i not in cols:
            continue
        a = np.degrees(same.coords[:T, i])
        d = np.abs((a - stock[:T, names.index(n)] + 180) % 360 - 180)
        st = stiff.get(n, float("nan"))
        det = st >= args.stiff_mm
        dt = np.abs((a - tight[:T, names.index(n)] + 180) % 360 - 180).max() if tight is not None else float("nan")
        if det and d.max() > worst_det:
            worst_det, worst_name = float(d.max()), n
        if det and dt > worst_tight:
            worst_tight, worst_tname = float(dt), n
        print(f"{n:20s} {d.max():8.2f} {np.sqrt((d**2).mean()):8.2f} {dt:11.2f} {st:9.1f}"
              f"{'' if det else '  (not well determined)'}")
    print(f"max angle difference over well-determined coordinates: {worst_det:.2f} deg ({worst_name}) "
          f"vs stock at accuracy 1e-5; {worst_tight:.2f} deg ({worst_tname}) vs stock converged to 1e-8")


if __name__ == "__main__":
    main()
