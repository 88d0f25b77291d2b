"""A contact sheet of random trials: front and side view of one frame each, tiled into a JPEG.

    .venv/bin/python tools/contact_sheet.py [--config odah] [-n 16] [--seed 0] [--width 1080
        --height 720] [--engine eevee] [--cols 4] [--tile-width 360] [-o docs/img/contact_sheet.jpg]
        [--set KEY=VALUE ...]

Each trial is a random (subject, shape variant, procedural motion) of the config's dataset with
its own trial id, so its scene (clothing, shoes, hair, skin, place, lights, cameras) is the one
a dataset of that config would sample. It runs the pipeline's own stages (motion -> skeleton ->
fit -> scene -> render, :mod:`odahgen.jobs.stages`) on one frame, ``--at`` seconds into the
motion, in ``--work`` (default a temporary folder). Prints the trial ids and the render seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="odah")
    ap.add_argument("-n", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0, help="which random trials")
    ap.add_argument("--width", type=int, default=1080)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--engine", default="eevee")
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--at", type=float, default=0.5, help="seconds into the motion")
    ap.add_argument("--cols", type=int, default=4, help="trials per row (each trial: front | side)")
    ap.add_argument("--tile-width", type=int, default=360, help="width of one view in the sheet, px")
    ap.add_argument("--quality", type=int, default=80)
    ap.add_argument("--work", default=None)
    ap.add_argument("-o", "--out", default="docs/img/contact_sheet.jpg")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)

    import imageio.v3 as iio
    from PIL import Image

    from odahgen.config import load_config
    from odahgen.io import atomic_path, load_arrays, save_arrays, trial_seed
    from odahgen.jobs import stages
    from odahgen.jobs.graph import TrialContext
    from odahgen.jobs.plan import TrialSpec, subject_ids, variant_name
    from odahgen.motion import get_source

    overrides = [f"render.engine={args.engine}", f"render.width={args.width}", f"render.height={args.height}",
                 "render.mask=false", "render.depth=false"] + args.set
    if args.samples:
        overrides.append(f"render.samples={args.samples}")
    cfg = load_config(args.config, overrides)
    fps = float(cfg.motion.fps)
    frames = int(round(args.at * fps)) + 1
    cfg.motion.clip_seconds = frames / fps
    cfg.motion.min_frames = 1
    rng = np.random.default_rng(args.seed)
    motions = get_source("procedural").list_motions()
    subjects = subject_ids(cfg.dataset.subjects)
    work = Path(args.work or tempfile.mkdtemp(prefix="odahgen-sheet-"))
    tiles, rows = [], []
    for i in range(args.n):
        motion = motions[int(rng.integers(len(motions)))]
        subject = subjects[int(rng.integers(len(subjects)))]
        bmi = float(cfg.dataset.shape_variants[int(rng.integers(len(cfg.dataset.shape_variants)))])
        trial = f"{subject}_{variant_name(bmi)}_{motion}_0"
        spec = TrialSpec(trial, subject, variant_name(bmi), bmi, "procedural", motion, 0,
                         trial_seed(cfg.dataset.seed, trial), trial_seed(cfg.dataset.seed, subject, "subject"))
        c = cfg.model_copy(deep=True)
        c.motion.source, c.motion.motions = "procedural", [motion]
        ctx = TrialContext(dataset=work, spec=spec, config=c, log=logging.getLogger("sheet"))
        ctx.dir.mkdir(parents=True, exist_ok=True)
        stages.motion_stage(ctx)
        data = load_arrays(ctx.path("motion.npz"))  # keep the frame --at seconds in
        for k in ("times", "coordinates", "markers", "contact"):
            if k in data:
                data[k] = data[k][-1:]
        save_arrays(ctx.path("motion.npz"), data)
        t0 = time.time()
        for name in ("skeleton", "fit", "scene", "render"):
            getattr(stages, f"{name}_stage")(ctx)
        scene = json.loads(ctx.path("scene.json").read_text())
        render = json.loads((ctx.path("render") / "render.json").read_text())
        views = [iio.imread(ctx.path("render") / f"{v}.mp4")[-1] for v in ("front", "side")]
        tiles.append(np.concatenate(views, 1))
        rows.append({"trial": trial, "place": scene["room"]["kind"], "world": scene.get("world"),
                     "upper": scene["clothing"].get("upper", {}).get("asset"),
                     "render_s": render["worker"]["render_seconds"], "seconds": round(time.time() - t0, 1)})
        print(json.dumps(rows[-1]), flush=True)
    th = int(round(args.tile_width * args.height / args.width))
    small = [np.asarray(Image.fromarray(t).resize((2 * args.tile_width, th), Image.LANCZOS)) for t in tiles]
    while len(small) % args.cols:
        small.append(np.zeros_like(small[0]))
    grid = np.concatenate([np.concatenate(small[r:r + args.cols], 1) for r in range(0, len(small), args.cols)], 0)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        Image.fromarray(grid).save(tmp, format="JPEG", quality=args.quality, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} kB, {len(tiles)} trials)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
