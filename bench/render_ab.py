"""Render cost of two (or more) render bundles in the same run: seconds per frame and view.

    .venv/bin/python bench/render_ab.py --engine eevee|cycles BUNDLE [BUNDLE ...]
        [--device cpu|gpu|auto] [--repeats 1] [--views front] [--work DIR]

Each bundle (a trial's ``bundle/`` folder, e.g. the same trial before and after a scene change)
is rendered with the render stage at its own size and samples (``bundle.json``), masks off,
views in turn,
bundles alternating within each repeat so that the machine's load hits them alike. Prints one
JSON line per render: Blender's render seconds per view divided by the frames, the build
seconds (scene construction) and the device, then the median s/frame per bundle. The first
frame of a view includes EEVEE's shader compilation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bundles", nargs="+")
    ap.add_argument("--engine", default="eevee", choices=["eevee", "cycles", "workbench"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu", "auto"])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--views", default=None, help="comma-separated views (default: all)")
    ap.add_argument("--work", default=None)
    args = ap.parse_args(argv)

    from odahgen.config import load_config
    from odahgen.render import render_trial
    from odahgen.render.bundle import load_bundle

    work = Path(args.work or tempfile.mkdtemp(prefix="odahgen-render-ab-"))
    per: dict[str, list[float]] = {b: [] for b in args.bundles}
    for rep in range(args.repeats):
        for b in args.bundles:
            r = load_bundle(b)["render"]
            over = [f"render.engine={args.engine}", f"render.device={args.device}", "render.mask=false",
                    f"render.width={r['width']}", f"render.height={r['height']}"]
            cfg = load_config("odah", over)
            res = render_trial(b, work / f"{Path(b).resolve().parent.name}_{Path(b).name}_{rep}", cfg.render,
                               views=args.views.split(",") if args.views else None)
            w = res["worker"]
            spf = {v: round(w["render_seconds"][v] / res["frames"][v], 2) for v in res["frames"]}
            per[b] += list(spf.values())
            print(json.dumps({"bundle": b, "engine": args.engine, "size": [r["width"], r["height"]],
                              "samples": r["samples"], "s_per_frame": spf,
                              "build_s": w["build_seconds"], "device": w["device"]}), flush=True)
    for b, xs in per.items():
        print(f"{b}: {statistics.median(xs):.1f} s/frame median ({args.engine}, {len(xs)} view renders)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
