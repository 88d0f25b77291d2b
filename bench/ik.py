"""Benchmark: odahgen's fast IK versus stock OpenSim IK on Rajagopal2016 (with constraints).

Two 600-frame full-body trials, each run through both solvers in the same process:
  - real: ../shared/data/mocap/rajagopal_walk.trc (lab data, 41 markers) played forward,
    backward, forward;
  - synthetic: the scaled Rajagopal2016 markers of the real trial's marker names, moved by FK
    along the stock solution of the real trial (a realistic gait), plus 1 mm Gaussian noise
    (seeded). Here the markers sit exactly where the model puts them, so both solvers should
    agree with each other and with the true angles.
Rajagopal2016 is scaled with odahgen to the static trial; on that scaled model:
  - stock OpenSim InverseKinematicsTool (constraints on, accuracy 1e-5, the repository's
    walking IK setup: its marker task weights), timed; and once more at accuracy 1e-8,
    untimed, to tell stock's early stopping from real disagreement;
  - odahgen IK with the *same* marker weights, no registration (like-for-like angles);
  - odahgen IK as `odahgen ik` runs it (class weights + marker-offset registration, workers
    as given: 0 = one per core, as the CLI; processes are used from MIN_PARALLEL frames on, so
    one for 600 frames); frames/s and the angle difference to stock too; and once more forced
    into 2 worker processes, to show what they cost or save at this length.

A coordinate counts as *well determined* when, with every other coordinate re-optimised,
turning it by 10 deg raises the weighted marker RMS of the frame by at least 2 mm on every
frame (conditional stiffness from the Gauss-Newton normal equations at odahgen's solution).
Forearm pronation with a single radius marker close to the pronation axis, for example, is
not: stock and odahgen then pick different angles at the same cost. Headline angle figures are
over well-determined rotational coordinates; all are listed. Timings are wall clock on a
shared machine: noisy, compare the ratios within one run; the CPU-time ratio (process time of
this process, which runs OpenSim too; printed when `odahgen ik` uses one process) is steadier.

    .venv/bin/python bench/ik.py [--frames N] [--workers N] [--no-tight] [--no-synthetic]
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


def _stock_coords(tree, names, stock):
    """Stock .mot columns (deg / m) -> (T, n) model coordinates (rad / m)."""
    q = np.tile(tree.coord_default, (len(stock), 1))
    for i, n in enumerate(tree.coord_names):
        if n in names:
            v = stock[:, names.index(n)]
            q[:, i] = np.radians(v) if tree.coord_rotational[i] else v
    return tree.apply_couplers(q)


def _angdiff(a, b):
    """|a - b| in degrees, wrapped to [0, 180]."""
    return np.abs((np.degrees(a - b) + 180) % 360 - 180)


def compare(label, tree, data, trc, scaled, setup, sw, tmp, workers, stiff_mm, tight_run, truth=None):
    """Run both solvers on one trial; print and return the figures."""
    from odahgen.skeleton.ik import MIN_PARALLEL, _n_workers, _split, match_markers, run_ik_tree
    from odahgen.skeleton.model import opensim_ik
    from odahgen.io.mocap import read_mot

    c0 = time.process_time()  # CPU seconds of this process (OpenSim runs in it): less load-sensitive
    t_stock = opensim_ik(scaled, trc, tmp / f"{label}_stock.mot", setup_xml=setup)
    c_stock = time.process_time() - c0
    names, _, stock = read_mot(tmp / f"{label}_stock.mot")
    q_st = _stock_coords(tree, names, stock)
    q_tight, t_tight = None, float("nan")
    if tight_run:
        t_tight = opensim_ik(scaled, trc, tmp / f"{label}_tight.mot", setup_xml=setup, accuracy=1e-8)
        names_t, _, tight = read_mot(tmp / f"{label}_tight.mot")
        q_tight = _stock_coords(tree, names_t, tight)

    run_ik_tree(tree, data.frames(slice(0, 20)), register=False, workers=1)  # warm caches
    t0 = time.perf_counter()
    same = run_ik_tree(tree, data, register=False, workers=workers, weights=sw)
    t_same = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    full = run_ik_tree(tree, data, register=True, workers=workers, girdle=True)  # as the CLI
    t_full, c_full = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    run_ik_tree(tree, data, register=True, workers=2, min_parallel=1)
    t_full2 = time.perf_counter() - t0
    T = min(len(q_st), len(same.coords))
    nw = len(_split(T, 1500, _n_workers(workers))) if T >= MIN_PARALLEL else 1  # processes solve_all uses

    # weighted marker cost of both solutions, and per-coordinate stiffness at odahgen's
    sub, idx = match_markers(tree, data)
    w = np.array([sw.get(n, 0.0) for n in sub.names])
    Y = sub.positions
    W = np.where(np.isfinite(Y).all(axis=2), w[None], 0.0)
    cols = tree.free_coords()
    c_st, *_ = tree.normal_equations(q_st[:T], np.nan_to_num(Y[:T]), W[:T], idx, cols)
    c_od, A, _, _ = tree.normal_equations(same.coords[:T], np.nan_to_num(Y[:T]), W[:T], idx, cols)
    Ainv = np.linalg.inv(A + 1e-12 * np.eye(len(cols))[None])
    kappa = 1.0 / np.einsum("tii->ti", Ainv)  # conditional stiffness, cost per rad^2
    mm10 = 1000 * np.sqrt(kappa * np.radians(10.0) ** 2 / W[:T].sum(axis=1, keepdims=True))
    stiff = {tree.coord_names[c]: float(mm10[:, k].min()) for k, c in enumerate(cols)}

    print(f"\n== {label} trial: {T} frames, {len(same.marker_names)} markers ==")
    print(f"stock OpenSim IK (constraints, setup weights, accuracy 1e-5): {T / t_stock:8.1f} frames/s  "
          f"marker RMS {_rms(tree, q_st[:T], sub, idx) * 100:.2f} cm")
    if q_tight is not None:
        print(f"stock OpenSim IK at accuracy 1e-8 (converged; same constraints and weights): {T / t_tight:8.1f} frames/s")
    print(f"odahgen IK, same weights, no registration ({nw} worker(s)): {T / t_same:8.1f} frames/s  "
          f"({t_stock / t_same:.1f}x)  marker RMS {np.nanmean(same.marker_rms) * 100:.2f} cm")
    print(f"odahgen IK as `odahgen ik` (class weights + registration, {nw} worker(s)): {T / t_full:8.1f} frames/s  "
          f"({t_stock / t_full:.1f}x)  marker RMS {np.nanmean(full.marker_rms) * 100:.2f} cm")
    if nw == 1:  # CPU time of child processes would not be counted
        print(f"CPU time ratio, stock / `odahgen ik`: {c_stock:.2f} s / {c_full:.2f} s = {c_stock / c_full:.1f}x")
    print(f"odahgen IK as `odahgen ik`, forced into 2 worker processes: {T / t_full2:8.1f} frames/s  "
          f"({t_stock / t_full2:.1f}x)")
    print(f"weighted marker cost, mean over frames: stock {c_st.mean():.5f}  odahgen {c_od.mean():.5f}  "
          f"(odahgen lower on {(c_od < c_st - 1e-9).mean() * 100:.0f}% of frames)")
    cmp = {"same weights": same.coords[:T], "odahgen ik": full.coords[:T]}
    hdr = f"{'coordinate':18s} {'mm/10deg':>8s} | max deg vs stock 1e-5: {'same w.':>7s} {'ik':>6s}"
    hdr += f" | vs stock 1e-8: {'same w.':>7s} {'stock 1e-5':>10s}" if q_tight is not None else ""
    hdr += f" | vs truth: {'stock':>6s} {'same w.':>7s} {'ik':>6s}" if truth is not None else ""
    print(hdr)
    worst: dict[str, tuple[float, str]] = {}

    def note(key, val, name):
        if val > worst.get(key, (-1.0, ""))[0]:
            worst[key] = (float(val), name)

    for n in tree.coord_names:
        i = tree.coord_names.index(n)
        if not tree.coord_rotational[i] or i not in cols or n not in names:
            continue
        st = stiff.get(n, float("nan"))
        det = st >= stiff_mm
        row = f"{n:18s} {st:8.1f} |                        "
        for k, qq in cmp.items():
            d = _angdiff(qq[:, i], q_st[:T, i]).max()
            row += f"{d:7.2f} " if k == "same weights" else f"{d:6.2f}"
            if det:
                note(f"{k} vs stock", d, n)
        if q_tight is not None:
            d = _angdiff(cmp["same weights"][:, i], q_tight[:T, i]).max()
            d0 = _angdiff(q_st[:T, i], q_tight[:T, i]).max()
            row += f" |                {d:7.2f} {d0:10.2f}"
            if det:
                note("same weights vs stock 1e-8", d, n)
                note("stock 1e-5 vs stock 1e-8", d0, n)
        if truth is not None:
            ds = _angdiff(q_st[:T, i], truth[:T, i]).max()
            d1 = _angdiff(cmp["same weights"][:, i], truth[:T, i]).max()
            d2 = _angdiff(cmp["odahgen ik"][:, i], truth[:T, i]).max()
            row += f" |           {ds:6.2f} {d1:7.2f} {d2:6.2f}"
            if det:
                note("stock vs truth", ds, n)
                note("same weights vs truth", d1, n)
                note("odahgen ik vs truth", d2, n)
        print(row + ("" if det else "  (not well determined)"))
    print("max angle difference over well-determined coordinates:")
    for k, (v, n) in worst.items():
        print(f"  {k:28s} {v:6.2f} deg ({n})")
    return {"fps_stock": T / t_stock, "fps_same": T / t_same, "fps_ik": T / t_full, "workers": nw,
            "ratio_ik": t_stock / t_full, "fps_tight": T / t_tight, "ratio_same_tight": t_tight / t_same,
            "worst": worst}


def _rms(tree, q, sub, idx):
    R, p, _ = tree.forward(q)
    mk = tree.markers(R, p)[:, idx]
    e = np.linalg.norm(mk - sub.positions[: len(q)], axis=2)
    return float(np.nanmean(np.sqrt(np.nanmean(e**2, axis=1))))


def _headline(real: dict) -> None:
    """The two summary lines of the real trial."""
    print(f"\nheadline: `odahgen ik` {real['fps_ik']:.0f} frames/s = {real['ratio_ik']:.1f}x stock "
          f"({real['fps_stock']:.1f} frames/s) on the real trial, {real['workers']} worker(s)")
    w = real["worst"]
    if "same weights vs stock 1e-8" in w:
        print(f"headline: odahgen (same weights) {real['fps_same']:.0f} frames/s = {real['ratio_same_tight']:.1f}x "
              f"converged stock ({real['fps_tight']:.1f} frames/s at 1e-8), max angle difference "
              f"{w['same weights vs stock 1e-8'][0]:.2f} deg; vs stock at its setup's 1e-5: "
              f"{w['same weights vs stock'][0]:.2f} deg, which is stock's own early stop "
              f"({w['stock 1e-5 vs stock 1e-8'][0]:.2f} deg from its converged answer)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=0, help="odahgen IK processes (0 = one per core, as the CLI)")
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--stiff-mm", type=float, default=2.0, help="well-determined threshold (mm per 10 deg)")
    ap.add_argument("--no-tight", action="store_true",
                    help="skip the second (untimed) stock runs at accuracy 1e-8 used for the agreement check")
    ap.add_argument("--no-synthetic", action="store_true", help="real trial only")
    ap.add_argument("--noise-mm", type=float, default=1.0, help="marker noise of the synthetic trial")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
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
    print(f"scaling {t_scale:.2f} s; timings are wall clock on a shared machine (noisy)")
    real = compare("real", tree, data, trc, scaled, setup, sw, tmp, args.workers, args.stiff_mm, not args.no_tight)
    if args.no_synthetic:
        _headline(real)
        return
    # synthetic trial: FK of the model's markers along the stock (1e-8, else 1e-5) real solution
    src = tmp / ("real_tight.mot" if (tmp / "real_tight.mot").exists() else "real_stock.mot")
    names, _, ang = read_mot(src)
    truth = _stock_coords(tree, names, ang)
    R, p, _ = tree.forward(truth)
    keep = [n for n in walk.names if n in tree.marker_names]
    mk = tree.markers(R, p)[:, [tree.marker_names.index(n) for n in keep]]
    mk = mk + np.random.default_rng(0).normal(0.0, args.noise_mm / 1000.0, mk.shape)
    syn = MarkerData(keep, mk, walk.fps)
    strc = write_trc(tmp / "synthetic600.trc", syn)
    print(f"\nsynthetic trial: FK of {len(keep)} model markers along the stock solution of the real trial "
          f"({src.name}), + {args.noise_mm:g} mm noise")
    compare("synthetic", tree, syn, strc, scaled, setup, sw, tmp, args.workers, args.stiff_mm, not args.no_tight,
            truth=truth)
    _headline(real)


if __name__ == "__main__":
    main()
