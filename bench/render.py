"""Benchmark of the render stage: frames/s of ``render_trial`` (one Blender process rendering
every view, MP4s encoded while the frames render, masks/depth from the same render's Depth
pass, every video verified) versus a bare Blender render of the same bundle in the same run
(one Blender process building the same scene and rendering the same frames, same engine,
samples, size and views, to PNG, nothing else). Target: overhead <= 10%.

    .venv/bin/python bench/render.py [--engine cycles|workbench|eevee] [--frames 60]
        [--width 320 --height 240] [--samples 4] [--mask] [--depth] [--repeats 3]
        [--save-bundle DIR | --bundle DIR]

``--save-bundle DIR`` only builds the bundle (the anny walk, garments, a sampled scene at the
given size) and exits; ``--bundle DIR`` renders such a saved bundle instead of building one
(its frame count and size win; engine, device, samples, mask and depth come from the
options). Together they let a machine without anny/PyTorch (a GPU node, the lent device of
bench/device/) run the benchmark on a bundle made elsewhere.

One untimed warm-up run of each, then ``--repeats`` alternating bare/stage pairs; the figures
are the medians of wall-clock time (noisy on a shared machine) and of CPU time (Blender and
ffmpeg processes plus the core's own threads; steadier under load). ``--json`` writes them to a file. The
EEVEE-on-GPU figure is printed only where Blender sees a GPU ("no GPU" otherwise).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from odahgen.config import load_config
from odahgen.errors import OdahgenError
from odahgen.render.bundle import load_bundle
from odahgen.render.launcher import probe_blender, run_worker
from odahgen.render.stage import render_trial


def _bundle(cfg, frames: int, folder: Path) -> tuple[Path, int]:
    """Build the benchmark's bundle (needs anny and PyTorch) -> (folder, number of views)."""
    from odahgen.render.bundle import write_render_bundle
    from odahgen.scene import dress, garment_regions, sample_scene
    from odahgen.testing.scene import demo_sequence

    seq = demo_sequence("walk", frames=frames)
    regions = garment_regions(weights=seq["weights"], bone_names=seq["bone_names"])
    scene = sample_scene(cfg, "bench_walk", seq["vertices"])
    garments = dress(scene, seq["vertices"], seq["faces"], regions)
    path = write_render_bundle(folder, seq["vertices"], seq["faces"], seq["uv"], garments, scene, cfg.render)
    return path, len(scene["cameras"])


def _reuse_bundle(saved: Path, rc, folder: Path) -> tuple[Path, int, int]:
    """Copy a saved bundle to ``folder`` with its render settings set to ``rc`` -> (folder,
    views, frames). The size must match: the cameras were sampled for it."""
    bundle = load_bundle(saved)
    r = bundle["render"]
    if (r["width"], r["height"]) != (rc.width, rc.height):
        raise OdahgenError(f"{saved}: the bundle was made for {r['width']}x{r['height']}, not "
                           f"{rc.width}x{rc.height}; pass --width {r['width']} --height {r['height']}")
    shutil.copytree(saved, folder)
    r.update(engine=rc.engine, device=rc.device, samples=rc.samples, mask=bool(rc.mask),
             depth=bool(rc.depth))
    (folder / "bundle.json").write_text(json.dumps(bundle))
    return folder, len(bundle["cameras"]), int(bundle["frames"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="demo",
                    help="the config whose scene (lights, clothing, rooms/outdoors) the bundle is "
                         "sampled from (default: demo; configs/odah.toml = the full spec)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config key, e.g. scene.hdri_fraction=0 (repeatable)")
    ap.add_argument("--engine", default="cycles")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--mask", action="store_true", help="the stage also writes person masks")
    ap.add_argument("--depth", action="store_true", help="the stage also writes depth maps")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", choices=("both", "bare", "none"), default="both",
                    help="untimed warm-up runs before the timed pairs: a bare render and a stage "
                         "run (both), only the bare render (fills the same driver shader/kernel "
                         "caches at 3/4 of the time: a GPU budget), or none")
    ap.add_argument("--json", default="")
    ap.add_argument("--save-bundle", default="", metavar="DIR",
                    help="only build the bundle into DIR (must not exist) and exit")
    ap.add_argument("--bundle", default="", metavar="DIR",
                    help="render this saved bundle (from --save-bundle) instead of building one")
    args = ap.parse_args()
    sets = [f"render.engine={args.engine}", f"render.width={args.width}", f"render.height={args.height}",
            f"render.samples={args.samples}", f"render.device={args.device}",
            f"render.mask={str(args.mask).lower()}", f"render.depth={str(args.depth).lower()}"]
    cfg = load_config(args.config, [*args.set, *sets])
    if args.save_bundle:
        dest = Path(args.save_bundle)
        if dest.exists():
            sys.exit(f"bench/render.py: {dest} already exists; choose a new folder")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="odahgen-bundle-", dir=dest.parent) as tmp:
            path, n_views = _bundle(cfg, args.frames, Path(tmp) / "bundle")
            path.rename(dest)  # atomic: a half-written bundle is never left at DEST
        print(f"bundle: {dest} ({args.frames} frames, {n_views} views, {args.width}x{args.height})")
        return
    with tempfile.TemporaryDirectory(prefix="odahgen-bench-") as tmp:
        tmp = Path(tmp)
        t0 = time.time()
        if args.bundle:
            try:
                bundle, n_views, args.frames = _reuse_bundle(Path(args.bundle), cfg.render, tmp / "bundle")
            except OdahgenError as err:
                sys.exit(f"bench/render.py: {err}")
        else:
            bundle, n_views = _bundle(cfg, args.frames, tmp / "bundle")
        prep = time.time() - t0
        gpus = probe_blender(engines=())["gpu_devices"]  # after the bundle: its errors come first
        n = args.frames * n_views

        def cpu():
            return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_CHILDREN),
                                                          resource.getrusage(resource.RUSAGE_SELF)))

        def bare():
            c, t = cpu(), time.time()
            res = run_worker({"task": "render", "bundle": str(bundle), "out_dir": str(tmp / "bare"),
                              "engine": args.engine, "mask": False, "depth": False, "check_cache": False},
                             tmp / "bare", timeout_s=cfg.render.timeout_s)
            return time.time() - t, cpu() - c, res

        video_bytes = {}

        def stage():
            c, t = cpu(), time.time()
            res = render_trial(bundle, tmp / "stage", cfg.render)
            wall, used = time.time() - t, cpu() - c
            video_bytes.update({v: Path(p).stat().st_size for v, p in res["videos"].items()})
            return wall, used, res

        if args.warmup != "none":  # warm-up: file cache, Blender's and the driver's shader/kernel caches
            bare()
        if args.warmup == "both":
            stage()
        bare_s, stage_s, bare_c, stage_c, last = [], [], [], [], None
        for _ in range(args.repeats):
            wall, c, _res = bare()
            bare_s.append(wall)
            bare_c.append(c)
            wall, c, last = stage()
            stage_s.append(wall)
            stage_c.append(c)
    b, s = statistics.median(bare_s), statistics.median(stage_s)
    bc, sc = statistics.median(bare_c), statistics.median(stage_c)
    out = {
        "engine": args.engine, "device": last["worker"]["device"], "width": args.width, "height": args.height,
        "samples": args.samples, "frames_per_view": args.frames, "views": n_views, "mask": args.mask,
        "depth": args.depth, "repeats": args.repeats, "warmup": args.warmup, "prepare_s": round(prep, 2),
        "bare_wall_s": [round(x, 2) for x in bare_s], "stage_wall_s": [round(x, 2) for x in stage_s],
        "stage_seconds_last": last["seconds"], "worker_build_s_last": last["worker"]["build_seconds"],
        "bare_cpu_s": [round(x, 2) for x in bare_c], "stage_cpu_s": [round(x, 2) for x in stage_c],
        "cpu_overhead": round(sc / bc - 1, 4),
        "bare_fps": round(n / b, 3), "stage_fps": round(n / s, 3), "overhead": round(s / b - 1, 4),
        "gpu_devices": gpus,
        # H.264 bytes per view (CRF and sensor noise of the config): the disk a trial's videos take
        "video_mb": {v: round(b_ / 1e6, 3) for v, b_ in video_bytes.items()},
    }
    for k, v in out.items():
        print(f"{k:22s} {v}")
    print(f"render stage {out['stage_fps']} frames/s vs bare Blender {out['bare_fps']} frames/s "
          f"({args.engine}, {args.width}x{args.height}, {n} frames, median of {args.repeats}): "
          f"overhead {100 * out['overhead']:.1f}% wall, {100 * out['cpu_overhead']:.1f}% CPU time "
          f"(target <= 10%)")
    if gpus:
        print("EEVEE on GPU: run with --engine eevee --device gpu --width 1080 --height 720")
    else:
        print("EEVEE on GPU at 1080x720: no GPU (Blender sees no GPU device here; not measured)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
