"""``odahgen body markers`` and ``odahgen regressor train|eval``: body-model tools.

The body package (and torch with it) is imported inside the commands, not here, so that
building the ``odahgen`` parser stays fast for every other command."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.skeleton.names import JOINT_NAMES


def register(subparsers) -> None:
    register_markers(subparsers)
    register_regressor(subparsers)


def register_markers(subparsers) -> None:
    p = subparsers.add_parser("body", help="body model tools (virtual marker layouts)")
    sub = p.add_subparsers(dest="body_command", metavar="SUBCOMMAND")
    m = sub.add_parser("markers", help="show, build or render the virtual marker layout of a body model")
    m.add_argument("--body", default="anny", choices=["anny", "smplx"], help="body model (default anny)")
    m.add_argument("--model-dir", default="", help="SMPL-X model folder (smplx only)")
    m.add_argument("--gender", default="neutral", choices=["neutral", "male", "female"])
    m.add_argument("--build", action="store_true", help="(re)build the layout and write it")
    m.add_argument("--refine-rounds", type=int, default=3,
                   help="with --build: rounds moving the markers to the scaled skeleton's places (0 = none)")
    m.add_argument("--layout", default=None, help="layout JSON (default assets/markers/<body>.json)")
    m.add_argument("--render", metavar="OUT.png", default=None, help="write a labelled front/side/back picture")
    m.set_defaults(func=_cmd_markers)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _cmd_markers(args) -> int:
    from odahgen.body import build_layout, layout_path, load_body_model, load_layout, refine_layout, render_layout
    from odahgen.io import atomic_write_json

    body = load_body_model(args.body, model_dir=args.model_dir, gender=args.gender)
    target = Path(args.layout) if args.layout else layout_path(body.name)
    if args.build:
        layout = build_layout(body)
        if args.refine_rounds > 0:
            layout = refine_layout(body, layout, rounds=args.refine_rounds, progress=print)
        atomic_write_json(target, layout)
        print(f"wrote {target} ({len(layout['markers'])} markers)")
    else:
        layout = load_layout(body, args.layout)
    if args.render:
        render_layout(body, layout, args.render)
        print(f"wrote {args.render}")
    if not args.build and not args.render:
        for n, s in layout["markers"].items():
            print(f"{n:8s} {s['body']:10s} {s['class']:12s} vertices {s['vertices'][:4]}")
    return 0


def register_regressor(subparsers) -> None:
    p = subparsers.add_parser("regressor", help="train or evaluate the learned vertex -> joint-centre regressor")
    sub = p.add_subparsers(dest="regressor_command", metavar="SUBCOMMAND")
    t = sub.add_parser("train", help="generate pairs (shapes x poses -> markers -> scale + IK -> FK) and fit")
    t.add_argument("--body", default="anny", choices=["anny", "smplx"])
    t.add_argument("--model-dir", default="", help="SMPL-X model folder (smplx only)")
    t.add_argument("--gender", default="neutral", choices=["neutral", "male", "female"])
    t.add_argument("--subjects", type=int, default=12, help="number of random body shapes")
    t.add_argument("--poses", type=int, default=30, help="random poses per subject")
    t.add_argument("--vertices-per-joint", type=int, default=32)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--pairs", default=None, help="cache of the generated training pairs (.npz): reused if it exists")
    t.add_argument("--bootstrap", default=None, metavar="REGRESSOR.npz",
                   help="also use body poses fitted to the procedural motions with this regressor")
    t.add_argument("--motion-frames", type=int, default=20, help="frames per motion (with --bootstrap)")
    t.add_argument("--motions-per-subject", type=int, default=4, help="procedural motions per subject (with --bootstrap)")
    t.add_argument("--max-ik-rms-mm", type=float, default=12.0, help="drop pairs the skeleton followed worse than this")
    t.add_argument("--layout", default=None, help="marker layout .json (default assets/markers/<body>.json)")
    t.add_argument("-o", "--out", default=None, help="output .npz (default assets/regressor/<body>_builtin.npz)")
    t.set_defaults(func=_cmd_train)
    e = sub.add_parser("eval", help="print the held-out errors of a trained regressor (its JSON report)")
    e.add_argument("--body", default="anny", choices=["anny", "smplx"])
    e.add_argument("path", nargs="?", default=None, help="regressor .npz (default assets/regressor/<body>_builtin.npz)")
    e.set_defaults(func=_cmd_eval)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _cmd_train(args) -> int:
    from odahgen.body import load_body_model, load_layout, load_regressor, regressor_path, train_regressor
    from odahgen.io import atomic_write_json

    if args.subjects < 2 or args.poses < 1:
        raise OdahgenError("need --subjects >= 2 (one is held out) and --poses >= 1")
    body = load_body_model(args.body, model_dir=args.model_dir, gender=args.gender)
    layout = load_layout(body, args.layout)
    boot = None
    if args.bootstrap:
        from odahgen.motion import get_source

        procedural = get_source("procedural")
        boot = (load_regressor(args.bootstrap, body.n_vertices), partial(_motion_angles, procedural),
                procedural.list_motions(), args.motion_frames, args.motions_per_subject)
    reg, report = train_regressor(body, layout, args.subjects, args.poses, seed=args.seed,
                                  max_nonzero=args.vertices_per_joint, max_ik_rms_m=args.max_ik_rms_mm / 1000.0,
                                  pairs_path=args.pairs, bootstrap=boot)
    out = Path(args.out) if args.out else regressor_path(body.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    reg.save(out)
    atomic_write_json(out.with_suffix(".json"), report)
    print(f"wrote {out} and {out.with_suffix('.json')}")
    _print_report(report)
    return 0


def _print_report(report: dict) -> None:
    per = report["per_joint_error_mm"]
    for n in [j for j in JOINT_NAMES if j in per] + [j for j in per if j not in JOINT_NAMES]:
        print(f"  {n:18s} {per[n]:6.1f} mm")
    print(f"mean_error_mm: {report['mean_error_mm']:.2f}")


def _cmd_eval(args) -> int:
    from odahgen.body import load_regressor, regressor_path

    path = Path(args.path) if args.path else regressor_path(args.body)
    load_regressor(path)
    rp = path.with_suffix(".json")
    if not rp.is_file():
        raise OdahgenError(f"{rp}: regressor report not found next to {path.name}")
    try:
        report = json.loads(rp.read_text())
        _print_report(report)
    except (ValueError, KeyError) as err:
        raise OdahgenError(f"{rp}: not a regressor report ({err})") from err
    return 0


def _motion_angles(source, motion_id: str, seed: int) -> np.ndarray:
    """(T, 39) angles of one motion of ``source`` in ``COORDINATE_NAMES`` order (0 where absent)."""
    from odahgen.skeleton.names import COORDINATE_NAMES

    m = source.load(motion_id, seed=seed)
    angles = np.zeros((m.n_frames, len(COORDINATE_NAMES)))
    for i, c in enumerate(COORDINATE_NAMES):
        if c in m.coordinate_names:
            angles[:, i] = m.coordinates[:, m.coordinate_names.index(c)]
    return angles
