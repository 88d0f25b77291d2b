"""Procedural fabric textures, written as PNG images so renders are engine-independent.

A texture is described by a small JSON-ready spec ``{"kind", "seed", "colors", "params"}``
(sampled by :func:`sample_texture_spec`) and turned into pixels by :func:`render_texture`
— the same spec always gives the same pixels. All patterns tile seamlessly (their periods
divide the image size), so the garment UVs may repeat them. Colours are sRGB in [0, 1].
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.io.atomic import atomic_path

KINDS = ("jersey", "stripes", "gingham", "plaid", "dots", "denim", "herringbone")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SIZE = 256

# garment-ish colour families (sRGB): base colours are drawn around these
_PALETTE = np.array([
    [0.12, 0.16, 0.30], [0.55, 0.08, 0.10], [0.15, 0.35, 0.18], [0.85, 0.85, 0.82],
    [0.10, 0.10, 0.11], [0.45, 0.45, 0.48], [0.80, 0.62, 0.20], [0.25, 0.45, 0.70],
    [0.60, 0.30, 0.55], [0.90, 0.45, 0.20], [0.35, 0.25, 0.18], [0.70, 0.75, 0.55],
])


def _color(rng: np.random.Generator) -> list[float]:
    base = _PALETTE[rng.integers(len(_PALETTE))]
    jitter = rng.normal(0.0, 0.06, 3)
    return np.clip(base + jitter, 0.02, 0.98).round(4).tolist()


def sample_texture_spec(rng: np.random.Generator, kind: str | None = None) -> dict:
    """A random texture spec (JSON data). ``kind`` None = drawn from :data:`KINDS`."""
    kind = kind or KINDS[int(rng.integers(len(KINDS)))]
    if kind not in KINDS:
        raise OdahgenError(f"unknown texture kind {kind!r}; known: {KINDS}")
    periods = [8, 16, 32, 64]
    params: dict = {}
    if kind == "stripes":
        params = {"period": int(rng.choice(periods[1:])), "duty": round(float(rng.uniform(0.2, 0.6)), 3),
                  "vertical": bool(rng.random() < 0.3)}
    elif kind in ("gingham", "plaid"):
        params = {"period": int(rng.choice(periods[1:])), "duty": round(float(rng.uniform(0.3, 0.5)), 3)}
    elif kind == "dots":
        params = {"period": int(rng.choice(periods[1:3])), "radius": round(float(rng.uniform(0.15, 0.35)), 3)}
    elif kind == "herringbone":
        params = {"period": int(rng.choice(periods[:3]))}
    params["noise"] = round(float(rng.uniform(0.02, 0.08)), 4)
    ncol = 3 if kind == "plaid" else 2
    return {"kind": kind, "seed": int(rng.integers(2**31 - 1)),
            "colors": [_color(rng) for _ in range(ncol)], "params": params}


def render_texture(spec: dict, size: int = SIZE) -> np.ndarray:
    """(size, size, 3) uint8 sRGB pixels of a texture spec (``size`` a multiple of 64)."""
    if size % 64:
        raise OdahgenError("texture size must be a multiple of 64 (so the patterns tile)")
    kind, p = spec["kind"], spec.get("params", {})
    rng = np.random.default_rng(int(spec["seed"]))
    cols = np.asarray(spec["colors"], dtype=np.float64)
    scale = size / SIZE
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    per = max(int(p.get("period", 16) * scale), 2)
    if kind == "jersey":
        t = (np.sin(2 * np.pi * x / max(int(4 * scale), 2)) > 0).astype(float) * 0.3
    elif kind == "stripes":
        coord = x if p.get("vertical") else y
        t = ((coord % per) / per < p.get("duty", 0.4)).astype(float)
    elif kind == "gingham":
        a = (x % per) / per < p.get("duty", 0.5)
        b = (y % per) / per < p.get("duty", 0.5)
        t = 0.5 * a + 0.5 * b
    elif kind == "plaid":
        a = (x % per) / per < p.get("duty", 0.4)
        b = (y % per) / per < p.get("duty", 0.4)
        thin = ((x % per) == per // 2) | ((y % per) == per // 2)
        img = cols[0] * (1 - 0.5 * a - 0.5 * b)[..., None] + cols[1] * (0.5 * a + 0.5 * b)[..., None]
        img = np.where(thin[..., None], cols[2], img)
        return _finish(img, rng, p)
    elif kind == "dots":
        cx = (x % per) / per - 0.5
        cy = (y % per) / per - 0.5
        t = (np.hypot(cx, cy) < p.get("radius", 0.25)).astype(float)
    elif kind == "denim":
        t = (((x + y) % max(int(4 * scale), 2)) < max(int(2 * scale), 1)).astype(float) * 0.35
        t += rng.random((size, size)) * 0.25
    elif kind == "herringbone":
        band = (x // per) % 2
        diag = np.where(band == 0, x + y, x - y)
        t = ((diag % max(per // 2, 2)) < max(per // 4, 1)).astype(float)
    else:
        raise OdahgenError(f"unknown texture kind {kind!r}")
    t = np.clip(t, 0, 1)[..., None]
    img = cols[0] * (1 - t) + cols[1] * t
    return _finish(img, rng, p)


def _finish(img: np.ndarray, rng: np.random.Generator, p: dict) -> np.ndarray:
    img = img * (1 + rng.normal(0.0, p.get("noise", 0.04), img.shape[:2])[..., None])
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def write_texture(spec: dict, path: str | os.PathLike, size: int = SIZE) -> Path:
    """Render ``spec`` and write it as a PNG (atomically). Returns the path."""
    from PIL import Image

    pixels = render_texture(spec, size)
    with atomic_path(path) as tmp:
        Image.fromarray(pixels, "RGB").save(tmp, format="PNG")
    return Path(path)


def user_textures(folder: str | os.PathLike | None) -> list[str]:
    """Sorted absolute paths of the images (png/jpg) in a user texture folder ('' = none)."""
    if not folder:
        return []
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise OdahgenError(f"scene.clothing.texture_dir {folder} is not a folder")
    return sorted(str(p.resolve()) for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
