"""Face close-ups of a few scene draws (eyes, brows, lashes, hair, skin), tiled into a JPEG.

    .venv/bin/python tools/eyes_closeup.py [-n 4] [--engine eevee] [--width 320 --height 240]
        [--samples 16] [-o docs/img/eyes_closeup.jpg]

The demo config's scene of trials ``face_0`` .. ``face_{n-1}`` dressed on the standing demo
anny (``odahgen.testing.scene.demo_sequence``), seen by one 50 mm camera 35 cm in front of the
eyes, rendered by the render stage (one frame, a room, no HDRI). Prints each trial's eyes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=4)
    ap.add_argument("--engine", default="eevee")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("-o", "--out", default="docs/img/eyes_closeup.jpg")
    args = ap.parse_args(argv)
    from PIL import Image

    from odahgen.config import load_config
    from odahgen.render.bundle import write_render_bundle
    from odahgen.render.stage import render_trial
    from odahgen.render.video import read_frames
    from odahgen.scene.cameras import camera_dict, intrinsics, look_at
    from odahgen.scene.garments import garment_regions
    from odahgen.scene.sample import sample_scene
    from odahgen.scene.wear import dress
    from odahgen.testing.scene import demo_sequence

    W, H = args.width, args.height
    seq = demo_sequence("stand", frames=1)
    regions = garment_regions(weights=seq["weights"], bone_names=seq["bone_names"])
    cfg = load_config("demo", [f"render.engine={args.engine}", f"render.width={W}", f"render.height={H}",
                               f"render.samples={args.samples}", "render.device=cpu", "scene.hdri_fraction=0"])
    tiles = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.n):
            scene = sample_scene(cfg, f"face_{i}", seq["vertices"])
            worn = dress(scene, seq["vertices"], seq["faces"], regions)
            eyes = next(w for w in worn if w["name"] == "eyes")
            mid = eyes["vertices"][0].mean(0).astype(float)
            R, t = look_at(mid + np.array([0.35, 0.02, 0.06]), mid)
            scene["cameras"] = [camera_dict(intrinsics(50.0, 36.0, W, H), R, t, W, H, 50.0, 36.0, "HORIZONTAL",
                                            "face")]
            b = write_render_bundle(Path(tmp) / f"b{i}", seq["vertices"], seq["faces"], seq["uv"], worn, scene,
                                    cfg.render)
            res = render_trial(b, Path(tmp) / f"o{i}", cfg.render)
            tiles.append(read_frames(res["videos"]["face"])[0])
            print(f"face_{i}: {scene['eyes']}, {res['seconds']['total']} s", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(tiles, axis=1)).save(args.out, quality=85)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
