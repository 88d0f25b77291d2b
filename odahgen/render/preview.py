"""``odahgen preview``: one trial at low resolution, both views side by side, every Nth
frame, plus a contact-sheet PNG; ``--fast`` rasterises the posed mesh and its keypoints with
pyrender (no Blender) in seconds.

The body sequence comes from :func:`preview_sequence`. Until the motion -> IK -> body-fit
chain is wired into the preview, MOTION must be one of the built-in demo poses of
:mod:`odahgen.scene.demo_body` (walk, squat, stand).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError

DEMO_MOTIONS = ("walk", "squat", "stand")


def preview_sequence(motion: str, frames: int, fps: float) -> dict:
    """The posed body for a preview: ``vertices (T, V, 3)``, ``faces``, ``uv``, ``weights``,
    ``bone_names``, ``joints (T, K, 3)`` (OpenSim frame, m)."""
    from odahgen.scene.demo_body import demo_sequence

    name = motion.split(":")[-1]
    if name not in DEMO_MOTIONS:
        raise OdahgenError(f"preview: motion {motion!r} is not available yet; the preview renders the "
                           f"built-in demo poses {list(DEMO_MOTIONS)}")
    return demo_sequence(name, frames=frames, fps=fps)


def _side_by_side(images: list[np.ndarray]) -> np.ndarray:
    h = max(i.shape[0] for i in images)
    return np.concatenate([np.pad(i, ((0, h - i.shape[0]), (0, 0), (0, 0))) for i in images], axis=1)


def _contact_sheet(rows: list[np.ndarray], cols: int = 4) -> np.ndarray:
    """Tile frames (each (H, W, 3)) into a grid."""
    h, w = rows[0].shape[:2]
    n = len(rows)
    r = (n + cols - 1) // cols
    sheet = np.zeros((r * h, cols * w, 3), dtype=np.uint8)
    for k, img in enumerate(rows):
        sheet[(k // cols) * h:(k // cols + 1) * h, (k % cols) * w:(k % cols + 1) * w] = img
    return sheet


def run_preview(motion: str, config, out_dir: str | Path, fast: bool = False, step: int = 4,
                seconds: float = 1.0, trial_id: str = "preview") -> dict:
    """Render a preview into ``out_dir``; returns ``{"video", "contact_sheet", "seconds"}``."""
    import imageio.v3 as iio

    from odahgen.render.cameras import project
    from odahgen.render.video import read_frames
    from odahgen.scene.garments import dress, garment_regions
    from odahgen.scene.sample import sample_scene

    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fps = float(config.render.fps)
    seq = preview_sequence(motion, frames=max(2, int(round(seconds * fps))), fps=fps)
    regions = garment_regions(weights=seq["weights"], bone_names=seq["bone_names"])
    scene = sample_scene(config, trial_id, seq["vertices"])
    garments = dress(scene, seq["vertices"], seq["faces"], regions)
    picked = list(range(0, seq["vertices"].shape[0], step))
    if fast:
        from odahgen.render.visibility import Rasterizer

        meshes = [(seq["vertices"], seq["faces"], tuple(scene["skin"]["color"]))]
        meshes += [(g["vertices"], g["faces"], (0.3, 0.45, 0.7) if g["name"] == "upper" else (0.25, 0.25, 0.3))
                   for g in garments]
        views = {}
        for cam in scene["cameras"]:
            with Rasterizer(cam) as rast:
                imgs = []
                px, _ = project(cam, seq["joints"])
                for f in picked:
                    img = rast.color(meshes, f).copy()
                    for x, y in px[f]:
                        c, r = int(x), int(y)
                        img[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = (255, 40, 40)
                    imgs.append(img)
                views[cam["name"]] = imgs
        frames = [_side_by_side([views[v][k] for v in views]) for k in range(len(picked))]
    else:
        from odahgen.render.bundle import write_render_bundle
        from odahgen.render.stage import render_trial

        rc = config.render.model_copy(update={"frame_step": step, "mask": False})
        bundle = write_render_bundle(out / "bundle", seq["vertices"], seq["faces"], seq["uv"], garments, scene, rc)
        res = render_trial(bundle, out / "render", rc)
        per_view = [read_frames(p) for p in res["videos"].values()]
        frames = [_side_by_side([v[k] for v in per_view]) for k in range(per_view[0].shape[0])]
    video = out / "preview.mp4"
    iio.imwrite(video, np.stack(frames), fps=max(1.0, fps / step), codec="libx264", macro_block_size=1)
    sheet = out / "contact_sheet.png"
    iio.imwrite(sheet, _contact_sheet(frames))
    return {"video": str(video), "contact_sheet": str(sheet), "frames": len(frames),
            "seconds": round(time.time() - t0, 2)}


def register(subparsers) -> None:
    p = subparsers.add_parser("preview", help="render one trial at low resolution to check a motion/scene",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("motion", metavar="MOTION", help=f"motion id (for now: {', '.join(DEMO_MOTIONS)})")
    p.add_argument("--config", default="demo", help="config name or TOML path (default: demo)")
    p.add_argument("-o", "--out", default="preview", help="output folder (default: ./preview)")
    p.add_argument("--fast", action="store_true", help="pyrender mesh + keypoints, no Blender")
    p.add_argument("--step", type=int, default=4, help="render every Nth frame (default 4)")
    p.add_argument("--seconds", type=float, default=1.0, help="clip length (default 1 s)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    from odahgen.config import load_config

    if args.step < 1 or args.seconds <= 0:
        raise OdahgenError("--step must be >= 1 and --seconds > 0")
    cfg = load_config(args.config, args.set)
    print(f"preview {args.motion}: {'pyrender' if args.fast else cfg.render.engine} ...", flush=True)
    res = run_preview(args.motion, cfg, args.out, fast=args.fast, step=args.step, seconds=args.seconds)
    print(f"wrote {res['video']} and {res['contact_sheet']} ({res['frames']} frames, {res['seconds']} s)")
    return 0
