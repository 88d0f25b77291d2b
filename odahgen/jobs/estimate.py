"""``odahgen estimate``: what a dataset will cost before a farm run.

The estimate multiplies the plan's trial count by per-trial costs:

* CPU stages (motion, skeleton, fit, scene, gt, qa): ``seconds = a + b * frames`` per stage,
  fitted to the stage records (``stages/<stage>.json`` ``seconds``) of calibration trials;
  :func:`calibrate` makes them with a small run on this machine (two clip lengths), or
  :func:`calibration_from` reads the records of any finished dataset.
* The render: seconds per frame per view from :data:`RENDER_SECONDS` (engine, device kind;
  measured at 1080x720, scaled by the pixel count), or the calibration's own render when the
  engine and size match. GPU rows are filled where they were measured (docs/farm.md).
* Disk: the calibration trials' bytes after the run (intermediates pruned), the ``render/``
  part scaled by frames x pixels, the rest by frames.

Units: seconds, bytes; hours in the report.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from odahgen.config import Config
from odahgen.errors import OdahgenError

CPU_STAGES = ("motion", "skeleton", "fit", "scene", "gt", "qa")
REF_PIXELS = 1080 * 720
#: seconds per rendered frame per view at 1080x720 (render stage, encoding included), by
#: (engine, device kind); None = not measured. Measured with bench/render.py and
#: bench/render_gpu.sh; the table in docs/farm.md says where each figure comes from.
RENDER_SECONDS: dict[tuple[str, str], float | None] = {
    ("workbench", "cpu"): 0.99,  # a full-spec trial: 1184 s for 2 x 600 frames (2 shared cores)
    # 70 % rooms + 30 % outdoors (the odah default scene.hdri_fraction) of bench/render_ab.py's
    # 1080x720, 16-sample figures (issue 15; Blender's frame only, no masks or encoding: a floor)
    ("eevee", "cpu"): 25.6,  # room 30.6, outdoors 14.0 s/frame
    ("cycles", "cpu"): 30.4,  # room 38.0, outdoors 12.6 s/frame
    ("workbench", "h200"): None,
    ("eevee", "h200"): None,
    ("cycles", "h200"): None,
}
CALIBRATION_FRAMES = (64, 128)  # clip lengths of the two calibration trials


def trial_frames(config: Config) -> int:
    """Frames of a trial's clip: ``clip_seconds * fps`` (a shorter motion gives fewer)."""
    return int(round(config.motion.clip_seconds * config.motion.fps))


def _fit_line(samples: list[tuple[int, float]]) -> tuple[float, float]:
    """(a, b) of ``y = a + b * frames`` by least squares; one frame count: (0, y / frames)."""
    xs = [float(f) for f, _ in samples]
    ys = [float(s) for _, s in samples]
    if len(set(xs)) < 2:
        return 0.0, sum(ys) / max(sum(xs), 1.0)
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    b = max(b, 0.0)
    return max(my - b * mx, 0.0), b


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def calibration_from(dataset: Path) -> dict:
    """Per-stage and disk samples of a dataset's finished trials (records, sizes).

    Returns ``{"stages": {stage: [[frames, seconds], ...]}, "disk": [[frames, pixels,
    render_bytes, other_bytes], ...], "render": [[engine, pixels, frames, views, seconds]],
    "source": str}``."""
    from odahgen.io.npz import load_arrays
    from odahgen.io.records import read_record
    from odahgen.jobs.plan import dataset_config, trial_ids

    dataset = Path(dataset)
    cfg = dataset_config(dataset)
    pixels = cfg.render.width * cfg.render.height
    out: dict = {"stages": {}, "disk": [], "render": [], "source": str(dataset)}
    for trial in trial_ids(dataset):
        tdir = dataset / "trials" / trial
        qa = read_record(tdir, "qa")
        if qa is None:
            continue
        try:
            frames = int(len(load_arrays(tdir / "motion.npz")["times"]))
        except (OSError, KeyError, ValueError):
            continue
        for stage in CPU_STAGES:
            rec = read_record(tdir, stage)
            if rec and "seconds" in rec:
                out["stages"].setdefault(stage, []).append([frames, float(rec["seconds"])])
        rec = read_record(tdir, "render")
        if rec and "seconds" in rec:
            views = len(cfg.scene.cameras.views)
            out["render"].append([cfg.render.engine, pixels, frames, views, float(rec["seconds"])])
        render_bytes = _tree_bytes(tdir / "render") if (tdir / "render").is_dir() else 0
        out["disk"].append([frames, pixels, render_bytes, _tree_bytes(tdir) - render_bytes])
    if not out["disk"]:
        raise OdahgenError(f"{dataset}: no finished trial (with a qa record) to calibrate from")
    return out


def merge_calibrations(parts: list[dict]) -> dict:
    out: dict = {"stages": {}, "disk": [], "render": [], "source": ", ".join(p["source"] for p in parts)}
    for p in parts:
        for stage, samples in p["stages"].items():
            out["stages"].setdefault(stage, []).extend(samples)
        out["disk"].extend(p["disk"])
        out["render"].extend(p["render"])
    return out


def calibrate(config: Config, folder: Path | None = None,
              frames: tuple[int, ...] = CALIBRATION_FRAMES, width: int = 160, height: int = 120,
              on_trial=None) -> dict:
    """Run one trial of ``config`` per clip length in ``frames`` (its first motion, the first
    subject, shape variant 0, the render with Workbench at ``width`` x ``height``), each in a
    new ``odahgen run`` process as on a farm (model loading counts), in ``folder`` (a
    temporary one if None), and return :func:`calibration_from` of them.
    ``on_trial(frames, seconds)`` after each."""
    import subprocess
    import sys
    import time

    from odahgen.jobs.plan import expand, plan

    motion = expand(config)[0].motion
    parts = []
    with tempfile.TemporaryDirectory(prefix="odahgen-calibrate-") as tmp:
        root = Path(folder) if folder else Path(tmp)
        for n in frames:
            cfg = config.model_copy(deep=True)
            cfg.dataset.subjects = 1
            cfg.dataset.shape_variants = [0.0]
            cfg.dataset.scene_samples = 1
            cfg.motion.motions = [motion]
            cfg.motion.clip_seconds = n / cfg.motion.fps
            cfg.motion.min_frames = min(cfg.motion.min_frames, n)
            cfg.qa.min_frames = min(cfg.qa.min_frames, n)
            cfg.render.engine, cfg.render.width, cfg.render.height = "workbench", width, height
            cfg.storage.keep_intermediates = False
            ds = root / f"calibration_{n}"
            plan(cfg, ds, force=True)
            t0 = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "odahgen.cli", "run", str(ds), "--workers", "1"],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                tail = " ".join((proc.stdout + proc.stderr).split())[-300:]
                raise OdahgenError(f"calibration run of {ds} ({n} frames) failed: {tail}")
            if on_trial:
                on_trial(n, time.monotonic() - t0)
            parts.append(calibration_from(ds))
    out = merge_calibrations(parts)
    out["source"] = (f"calibration run on {os.uname().nodename} ({os.cpu_count()} CPUs) at "
                     f"{time.strftime('%Y-%m-%d %H:%M')}: {'+'.join(map(str, frames))} frames, "
                     f"workbench {width}x{height}")
    return out


def _render_seconds(calib: dict, engine: str, kind: str, pixels: int) -> tuple[float | None, str]:
    """Seconds per frame per view of ``engine`` on ``kind`` at ``pixels``, and where it comes from."""
    own = [r for r in calib.get("render", []) if r[0] == engine and r[1] == pixels]
    if kind == "cpu" and own:
        per = sum(r[4] for r in own) / sum(r[2] * r[3] for r in own)
        return per, "this machine's calibration render"
    table = RENDER_SECONDS.get((engine, kind))
    if table is None:
        return None, f"not measured for {engine} on {kind} (docs/farm.md: per-frame render costs)"
    return table * pixels / REF_PIXELS, f"table ({engine}, {kind}) at 1080x720, scaled by pixels"


def estimate(config: Config, calib: dict, trials: int, gpus: int = 1, gpu_kind: str = "h200",
             cpus: int | None = None) -> dict:
    """Trials, CPU-hours, GPU-hours, wall time on ``gpus`` GPUs (and ``cpus`` CPU slots,
    default ``jobs.slurm_concurrency``) and disk of ``trials`` trials of ``config``."""
    frames = trial_frames(config)
    views = len(config.scene.cameras.views)
    pixels = config.render.width * config.render.height
    per_stage = {}
    for stage in CPU_STAGES:
        samples = calib["stages"].get(stage)
        if not samples:
            raise OdahgenError(f"calibration ({calib.get('source')}) has no '{stage}' stage times")
        a, b = _fit_line(samples)
        per_stage[stage] = a + b * frames
    cpu_s = sum(per_stage.values())
    frame_s, render_src = _render_seconds(calib, config.render.engine, gpu_kind, pixels)
    render_s = None if frame_s is None else frame_s * frames * views / config.render.frame_step
    # disk: render/ scales with frames x pixels, the rest with frames
    disk = calib["disk"]
    per_render = sum(d[2] for d in disk) / sum(d[0] * d[1] for d in disk)
    a, b = _fit_line([(d[0], d[3]) for d in disk])
    trial_bytes = per_render * frames * pixels / config.render.frame_step + a + b * frames
    cpus = cpus or config.jobs.slurm_concurrency
    gpu_h = None if render_s is None else trials * render_s / 3600
    cpu_h = trials * cpu_s / 3600
    wall_h = None if gpu_h is None else max(gpu_h / max(gpus, 1), cpu_h / cpus)
    return {
        "trials": trials, "frames_per_trial": frames, "views": views,
        "resolution": [config.render.width, config.render.height], "engine": config.render.engine,
        "cpu_seconds_per_trial": {k: round(v, 2) for k, v in per_stage.items()},
        "cpu_hours": round(cpu_h, 4),
        "render_seconds_per_frame_view": None if frame_s is None else round(frame_s, 4),
        "render_source": render_src, "gpu_kind": gpu_kind, "gpus": gpus, "cpu_slots": cpus,
        "gpu_hours": None if gpu_h is None else round(gpu_h, 4),
        "wall_hours": None if wall_h is None else round(wall_h, 4),
        "bytes_per_trial": round(trial_bytes), "disk_bytes": round(trials * trial_bytes),
        "calibration": calib.get("source", ""),
    }


def load_calibration(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise OdahgenError(f"{path}: not a readable calibration file ({err})") from None
    if not isinstance(data, dict) or not {"stages", "disk"} <= set(data):
        raise OdahgenError(f"{path}: not a calibration file (no 'stages' and 'disk')")
    return data


def default_calibration_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "odahgen" / "calibration.json"


def format_estimate(est: dict) -> str:
    """The human-readable report of :func:`estimate`."""
    def hours(h):
        return "unknown" if h is None else f"{h:,.1f} h"

    gb = est["disk_bytes"] / 1e9
    per = ", ".join(f"{k} {v:.1f}" for k, v in est["cpu_seconds_per_trial"].items())
    lines = [
        f"trials: {est['trials']:,} ({est['frames_per_trial']} frames x {est['views']} views at "
        f"{est['resolution'][0]}x{est['resolution'][1]}, {est['engine']})",
        f"CPU: {hours(est['cpu_hours'])} ({per} s per trial; one core each)",
        f"GPU ({est['gpu_kind']}): {hours(est['gpu_hours'])} of render"
        + ("" if est["render_seconds_per_frame_view"] is None
           else f" ({est['render_seconds_per_frame_view']:.3f} s per frame per view: {est['render_source']})")
        + ("" if est["gpu_hours"] is not None else f": {est['render_source']}"),
        f"wall: {hours(est['wall_hours'])} on {est['gpus']} GPU(s) and {est['cpu_slots']} CPU slots",
        f"disk: {gb:,.2f} GB ({est['bytes_per_trial'] / 1e6:.1f} MB per trial after the run)",
        f"calibration: {est['calibration']}",
    ]
    return "\n".join(lines)
