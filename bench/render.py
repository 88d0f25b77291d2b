"""Benchmark of the render stage: frames/s of ``render_trial`` (Blender worker + MP4 encoding
+ checks) versus a bare Blender render of the same bundle in the same run (one Blender
process rendering the same frames to PNG, nothing else). Target: overhead <= 10%.

    .venv/bin/python bench/render.py [--engine cycles|workbench|eevee] [--frames 60]
        [--width 320 --height 240] [--samples 4] [--views front,side] [--mask]

Prints one line per measurement and a summary; ``--json`` writes the figures to a file.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from odahgen.config import load_config
from odahgen.render.bundle import write_render_bundle
from odahgen.render.launcher import run_worker
from odahgen.render.stage import render_trial
from odahgen.scene.demo_body import demo_sequence
from odahgen.scene.garments import dress, garment_regions
from odahgen.scene.sample import sample_scene


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", default="cycles")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--mask", action="store_true", help="also render the person mask pass in the stage")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    cfg = load_config("demo", [f"render.engine={args.engine}", f"render.width={args.width}",
                               f"render.height={args.height}", f"render.samples={args.samples}",
                               f"render.device={args.device}", f"render.mask={str(args.mask).lower()}"])
    t0 = time.time()
    seq = demo_sequence("walk", frames=args.frames)
    regions = garment_regions(weights=seq["weights"], bone_names=seq["bone_names"])
    scene = sample_scene(cfg, "bench_walk", seq["vertices"])
    garments = dress(scene, seq["vertices"], seq["faces"], regions)
    with tempfile.TemporaryDirectory(prefix="odahgen-bench-") as tmp:
        tmp = Path(tmp)
        bundle = write_render_bundle(tmp / "bundle", seq["vertices"], seq["faces"], seq["uv"], garments, scene, cfg.render)
        prep = time.time() - t0
        views = [c["name"] for c in scene["cameras"]]
        n = args.frames * len(views)

        t1 = time.time()
        bare = run_worker({"task": "render", "bundle": str(bundle), "out_dir": str(tmp / "bare"),
                           "engine": args.engine, "mask": False, "check_cache": False}, tmp / "bare",
                          timeout_s=cfg.render.timeout_s)
        bare_wall = time.time() - t1
        bare_render = sum(bare["render_seconds"].values())

        t2 = time.time()
        res = render_trial(bundle, tmp / "stage", cfg.render)
        stage_wall = time.time() - t2
    out = {
        "engine": args.engine, "device": res["worker"]["device"], "width": args.width, "height": args.height,
        "frames_per_view": args.frames, "views": len(views), "mask": args.mask,
        "prepare_s": round(prep, 2),
        "bare_blender_wall_s": round(bare_wall, 2), "bare_blender_render_loop_s": round(bare_render, 2),
        "stage_wall_s": round(stage_wall, 2), "stage_encode_s": res["seconds"]["encode"],
        "stage_render_loop_s": round(sum(res["worker"]["render_seconds"].values()), 2),
        "bare_fps": round(n / bare_wall, 3), "stage_fps": round(n / stage_wall, 3),
        "overhead_vs_bare_process": round(stage_wall / bare_wall - 1, 4),
        "overhead_vs_bare_render_loop": round(stage_wall / bare_render - 1, 4),
    }
    for k, v in out.items():
        print(f"{k:32s} {v}")
    print(f"render stage {out['stage_fps']} frames/s vs bare Blender {out['bare_fps']} frames/s: "
          f"overhead {100 * out['overhead_vs_bare_process']:.1f}% (target <= 10%)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
