"""``odahgen model build`` and ``odahgen ik``."""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from odahgen.cli import workers_option
from odahgen.errors import OdahgenError


def register(subparsers) -> None:
    pm = subparsers.add_parser(
        "model",
        help="build the built-in Rajagopal-compatible OpenSim model",
        description="Skeletal model utilities.",
    )
    msub = pm.add_subparsers(dest="model_command", metavar="SUBCOMMAND")
    pb = msub.add_parser(
        "build",
        help="write the built-in model (.osim)",
        description=(
            "Write odahgen's built-in OpenSim model: the Rajagopal 2016 topology (22 bodies, 39 "
            "coordinates incl. knee_angle_*_beta), its offsets, ranges and inertias, no muscles, "
            "a <body>_geom_1 mesh per body and odahgen's anatomical marker set."
        ),
    )
    pb.add_argument("-o", "--output", required=True, help="output .osim file")
    pb.set_defaults(func=_cmd_model_build)
    pm.set_defaults(func=lambda args: (pm.print_help(), 2)[1])

    pi = subparsers.add_parser(
        "ik",
        help="scale a model and run fast inverse kinematics on a TRC file",
        description=(
            "Scale the model to the subject (from --static, or the quietest window of the motion), "
            "place the markers, and solve inverse kinematics for every frame. Writes OUTDIR/"
            "scaled.osim, ik.mot (degrees, as OpenSim writes it), kinematics.h5 (angles (T,39) rad, "
            "keypoints (T,44,3) m, segment scales (22,3), per-frame marker errors) and summary.json."
        ),
    )
    pi.add_argument("trc", metavar="MARKERS.trc", help="marker trajectories (.trc)")
    pi.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    pi.add_argument("--static", metavar="STATIC.trc", help="static trial for scaling (default: quietest window of the motion)")
    pi.add_argument("--model", default="builtin", metavar="M.osim", help="OpenSim model (default: the built-in model)")
    pi.add_argument("--markers", metavar="S.xml", help="OpenSim MarkerSet .xml replacing the model's markers")
    pi.add_argument("--map", metavar="MAP",
                    help="marker-name map overriding single labels of the automatic mapping: 'data_label model_marker' "
                         "per line, or JSON ('-' ignores a label, 'cluster' places it on its nearest segment)")
    pi.add_argument("--up", default="auto", choices=["auto", "y", "z", "x", "-y", "-z", "-x"],
                    help="the files' vertical axis (default auto: detected from head, pelvis, knee and ankle markers); "
                         "converted to OpenSim's Y up; a negative axis as --up=-z")
    pi.add_argument("--mass", type=float, metavar="KG", help="subject mass (default: estimated, BMI 22)")
    pi.add_argument("--height", type=float, metavar="M", help="subject height (default: estimated from the markers)")
    pi.add_argument("--units", choices=["mm", "cm", "m"], help="override the TRC units")
    pi.add_argument("--workers", type=workers_option, default=0, help="parallel IK processes (0 = one per core)")
    pi.add_argument("--no-register", action="store_true", help="do not register marker offsets over the motion")
    pi.add_argument("--no-scale", action="store_true", help="use the model as is (already scaled)")
    pi.add_argument("--no-girdle", action="store_true",
                    help="keep the shoulder centres fixed on the torso (default: they follow the upper arms, "
                         "a shoulder girdle fitted with the marker offsets and written into scaled.osim)")
    pi.add_argument("--bony-flag", type=float, default=0.02, metavar="M", help="flag frames with a bony landmark this far off")
    pi.set_defaults(func=_cmd_ik)


def _cmd_model_build(args) -> int:
    from odahgen.skeleton.model import build_default_model  # noqa: PLC0415

    out = build_default_model(args.output)
    print(f"wrote {out}")
    return 0


def run_ik_command(
    trc: str,
    outdir: str,
    static: str | None = None,
    model: str = "builtin",
    markers_xml: str | None = None,
    map_path: str | None = None,
    mass: float | None = None,
    height: float | None = None,
    units: str | None = None,
    workers: int = 0,
    register: bool = True,
    scale: bool = True,
    bony_flag_m: float = 0.02,
    log=print,
    up: str = "auto",
    girdle: bool = True,
) -> dict:
    """The whole ``odahgen ik`` pipeline; returns the summary dict. Outputs are atomic.

    The files are turned to Y up (``up``: their vertical axis, or ``auto``), their labels mapped to
    the model's markers (by name or anatomical role, ``map_path`` overriding single labels;
    :mod:`odahgen.skeleton.mapping`), the model scaled on the matched markers, the labels it has
    no marker for placed as clusters on their nearest segment, then IK. The mapping and the
    vertical axis are logged and stored in summary.json (``marker_mapping``, ``up``). ``girdle``: the
    shoulder centres follow the upper arms (:mod:`odahgen.skeleton.girdle`), fitted with the marker
    offsets and written into scaled.osim (summary ``shoulder_girdle``)."""
    import h5py  # noqa: PLC0415

    from odahgen.io import atomic_path, atomic_write_json  # noqa: PLC0415
    from odahgen.skeleton.fk import fk_tree  # noqa: PLC0415
    from odahgen.skeleton.ik import landmark_poses, run_ik_tree  # noqa: PLC0415
    from odahgen.skeleton.mapping import map_markers, orient_markers, prepare_markers, present_labels  # noqa: PLC0415
    from odahgen.skeleton.kinematics import extract_tree  # noqa: PLC0415
    from odahgen.skeleton.model import load_model, resolve_model_path  # noqa: PLC0415
    from odahgen.skeleton.names import BODY_NAMES, COORDINATE_NAMES, KEYPOINT_NAMES  # noqa: PLC0415
    from odahgen.skeleton.scale import scale_subject, write_scaled_model  # noqa: PLC0415
    from odahgen.skeleton.girdle import with_girdle, write_girdle  # noqa: PLC0415
    from odahgen.io.mocap import read_marker_map, read_trc, write_mot  # noqa: PLC0415

    t0 = time.perf_counter()
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise OdahgenError(f"{out}: exists and is not a folder (-o OUTDIR is the output folder)")
    data = read_trc(trc, units=units, strict=False)
    st0 = read_trc(static, units=units, strict=False) if static else None
    data, st0, up, up_reason = orient_markers(data, up, static=st0)
    log(f"vertical axis: {up.upper()} ({up_reason})" + ("" if up == "y" else "; turned to Y up"))
    if up_reason.startswith("not detectable"):
        warnings.warn(f"{trc}: vertical axis {up_reason}; give --up if the motion is not Y up", stacklevel=2)
    st = st0 if st0 is not None else data
    mmap = read_marker_map(map_path) if map_path else None
    mpath = resolve_model_path(model)
    tree = extract_tree(load_model(mpath, markers_xml))
    labels = list(dict.fromkeys(data.names + (st0.names if st0 is not None else [])))
    mapping = map_markers(labels, tree.marker_names, mmap, present=present_labels(data, st0))
    for line in mapping.summary_lines():
        log(line)
    n_ok = sum(1 for n in mapping.model if n in present_labels(data))
    if n_ok < 3:
        raise OdahgenError(f"{trc}: only {n_ok} of {len(data.names)} marker names match the model's markers by name "
                           "or anatomical role; give a marker map (--map)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OdahgenError(f"{out}: cannot create the output folder: {err.strerror}") from None
    if scale:
        log(f"scaling {mpath.name} to {Path(static or trc).name} ...")
        st_land = mapping.apply(st)
        st_land = st_land.subset([n for n in st_land.names if n in tree.marker_names])
        tree, sres = scale_subject(tree, st_land, None, mass, height, source=str(static or trc))
        write_scaled_model(mpath, out / "scaled.osim", tree, sres, markers_xml)
        log(f"  mass {sres.mass_kg:.1f} kg, height {sres.height_m:.2f} m, static fit RMS {sres.rms_m * 100:.1f} cm")
    else:
        import shutil  # noqa: PLC0415

        with atomic_path(out / "scaled.osim") as tmp:
            shutil.copyfile(mpath, tmp)
    tree, mdata, mapping, classes = prepare_markers(tree, data, landmark_poses, source=str(trc), mapping=mapping)
    if mapping.cluster_body:
        log("  clusters placed: " + ", ".join(f"{k}@{v}" for k, v in mapping.cluster_body.items()))
    log(f"inverse kinematics on {data.n_frames} frames ...")
    res = run_ik_tree(tree, mdata, None, register=register, workers=workers, bony_flag_m=bony_flag_m,
                      classes=classes, source=str(trc), girdle=girdle)
    coef = {k: np.asarray(v) for k, v in res.info.get("shoulder_girdle", {}).items()}
    if coef:  # the model as IK solved it: FK, the keypoints and scaled.osim carry the girdle
        tree = with_girdle(tree, coef)
        write_girdle(out / "scaled.osim", coef)
        log("  shoulder girdle: the shoulder centres follow the upper arms, up to "
            f"{100 * max(float(np.abs(c).max()) for c in coef.values()):.1f} cm per feature")
    vals = res.coords.copy()
    vals[:, tree.coord_rotational] = np.degrees(vals[:, tree.coord_rotational])
    write_mot(out / "ik.mot", tree.coord_names, res.times, vals, in_degrees=True, title="Coordinates")
    missing_bodies = [b for b in BODY_NAMES if b not in tree.body_names]
    has_rajagopal = not missing_bodies
    if missing_bodies:
        log(f"{mpath.name}: no keypoints or segment scales in kinematics.h5: the 44 keypoints need the Rajagopal "
            f"bodies, and the model lacks {', '.join(missing_bodies[:8])}" + (" ..." if len(missing_bodies) > 8 else ""))
    with atomic_path(out / "kinematics.h5") as tmp:
        with h5py.File(tmp, "w") as h:
            h.attrs["units"] = "angles rad (pelvis_tx/ty/tz m), positions m, times s"
            h.create_dataset("times", data=res.times)
            h.create_dataset("angles", data=res.angles)
            h["angles"].attrs["names"] = list(COORDINATE_NAMES)
            if has_rajagopal:
                fk = fk_tree(tree, res.angles)
                h.create_dataset("keypoints", data=fk.keypoints)
                h["keypoints"].attrs["names"] = list(KEYPOINT_NAMES)
                h.create_dataset("segment_scales", data=np.array([tree.scale_factors[tree.body_names.index(b)] for b in BODY_NAMES]))
                h["segment_scales"].attrs["names"] = list(BODY_NAMES)
            h.create_dataset("marker_errors", data=res.marker_errors)
            h["marker_errors"].attrs["names"] = list(res.marker_names)
            h.create_dataset("marker_rms", data=res.marker_rms)
            h.create_dataset("marker_max", data=res.marker_max)
            h.create_dataset("flagged", data=res.flagged)
    seconds = time.perf_counter() - t0
    summary = {
        "frames": int(data.n_frames),
        "marker_rms_mean_m": float(np.nanmean(res.marker_rms)),
        "marker_rms_max_m": float(np.nanmax(res.marker_rms)),
        "marker_max_m": float(np.nanmax(res.marker_max)),
        "flagged_frames": int(res.flagged.sum()),
        "seconds": round(seconds, 3),
        "ik_seconds": round(res.seconds, 3),
        "markers_used": list(res.marker_names),
        "keypoints_missing_bodies": missing_bodies,
        "model": str(mpath),
        "trc": str(trc),
        "static": str(static) if static else None,
        "up": up,
        "up_reason": up_reason,
        "marker_mapping": mapping.as_dict(),
        # head markers (no neck in the model): low weight, outside the figures above
        "head_markers": list(res.info.get("head_markers", [])),
        "head_rms_mean_m": res.info.get("head_rms_mean_m"),
        "head_max_m": res.info.get("head_max_m"),
        # side -> (3, 3) m: shoulder-centre shift along the torso's x, y, z per arm feature
        "shoulder_girdle": {k: v.tolist() for k, v in coef.items()} or None,
    }
    atomic_write_json(out / "summary.json", summary)
    log(
        f"done: {summary['frames']} frames, marker RMS mean {summary['marker_rms_mean_m'] * 100:.2f} cm "
        f"(max {summary['marker_rms_max_m'] * 100:.2f} cm), {summary['flagged_frames']} flagged, {seconds:.1f} s -> {out}"
    )
    return summary


def _cmd_ik(args: argparse.Namespace) -> int:
    from rich.console import Console  # noqa: PLC0415

    console = Console(stderr=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with console.status("odahgen ik: working ...") as status:
            def log(msg):
                status.update(f"odahgen ik: {msg}")
                console.print(msg)

            run_ik_command(
                args.trc, args.output, args.static, args.model, args.markers, args.map, args.mass, args.height,
                args.units, args.workers, not args.no_register, not args.no_scale, args.bony_flag, log=log,
                up=args.up, girdle=not args.no_girdle,
            )
    seen = set()
    for w in caught:
        msg = str(w.message)
        if msg not in seen:
            seen.add(msg)
            console.print(f"[yellow]warning:[/yellow] {msg}")
    return 0
