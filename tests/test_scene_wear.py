"""MakeHuman items bound to anny (assets/makehuman): assets and licence, the binding follows
its triangle under pose, garment types cut by segment, no skin in front of the garments,
scene sampling records what is worn, and a tiny Blender render has them in the person mask."""

from __future__ import annotations

import json

import numpy as np
import pytest

from odahgen.config import load_config
from odahgen.config.models import LOWER_GARMENTS, UPPER_GARMENTS
from odahgen.scene import wear as W
from odahgen.scene.garments import garment_regions
from odahgen.scene.sample import sample_scene
from odahgen.testing.scene import demo_sequence


@pytest.fixture(scope="module")
def walk():
    return demo_sequence("walk", frames=6)


@pytest.fixture(scope="module")
def squat():
    return demo_sequence("squat", frames=6)


@pytest.fixture(scope="module")
def regions(walk):
    return garment_regions(weights=walk["weights"], bone_names=walk["bone_names"])


def test_assets_are_shipped_with_their_licence_and_load():
    root = W.ASSET_DIR
    assert "CC0" in (root / "LICENSE.txt").read_text()
    assert "makehuman-assets" in (root / "SOURCE.md").read_text()
    index = W.asset_index()
    every = set(W.SHOES + W.HAIR + W.EYEBROWS + W.EYELASHES + W.OUTFITS)
    every |= {s.partition(":")[0] for srcs in W.TYPE_SOURCES.values() for s in srcs}
    assert every <= set(index)
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert size < 8e6, size
    for item_id in sorted(every):
        item = W.load_item(item_id)
        assert item.faces.max() < item.n_vertices and item.cover.shape == (W.ANNY_VERTICES,)
        assert np.isfinite(item.offset).all() and np.allclose(item.bary.sum(1), 1)
    assert W.load_item("clothes/male_casualsuit02:1").n_vertices < W.load_item("clothes/male_casualsuit02").n_vertices


def test_a_bound_vertex_follows_its_triangle(walk, squat):
    """Rigid motion of the body moves the items rigidly; under a non-rigid pose every item vertex
    stays at its offset along the interpolated normal of its own triangle."""
    item = W.load_item("clothes/male_casualsuit02")
    v, f = walk["vertices"][:2].astype(np.float64), walk["faces"]
    a = 0.7
    R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    moved = v @ R.T + np.array([0.3, -0.1, 2.0])
    p0, p1 = W.pose_item(item, v, f), W.pose_item(item, moved, f)
    assert np.abs(p0.astype(np.float64) @ R.T + np.array([0.3, -0.1, 2.0]) - p1).max() < 2e-5
    for seq in (walk, squat):
        vv = seq["vertices"].astype(np.float64)
        pos, nn = W.pose_item(item, vv, f, return_normals=True)
        on = np.einsum("nk,tnkc->tnc", item.bary, vv[:, f[item.tri]])
        assert np.abs(np.linalg.norm(pos - on, axis=-1) - np.abs(item.offset)).max() < 2e-5
        assert np.abs(((pos - on) * nn).sum(-1) - item.offset).max() < 2e-5
        assert item.offset.min() >= 0.004 - 1e-6  # clothes lifted out of the skin


def _segments_of(item, regions, faces):
    sh = regions.shares[W.body_vertex(item, faces)]
    names = regions.segment_names
    return {n: float((sh[:, i] >= 0.5).mean()) for i, n in enumerate(names)}


def test_types_are_cut_by_segment(walk, regions):
    f = walk["faces"]
    long = W.load_item("clothes/male_casualsuit02:0")
    seen = {}
    for t in UPPER_GARMENTS:
        cut = W.cut_to_type(long, t, regions, f)
        seen[t] = _segments_of(cut, regions, f)
        assert cut.n_vertices > 300
    assert seen["vest"]["upperarm_hi.L"] == 0 and seen["short_sleeves"]["upperarm_hi.L"] > 0
    assert seen["short_sleeves"]["forearm_hi.L"] == 0 and seen["three_quarter_sleeves"]["forearm_hi.L"] > 0
    assert seen["three_quarter_sleeves"]["forearm_lo.L"] == 0 and seen["long_sleeves"]["forearm_lo.L"] > 0
    jeans = W.load_item("clothes/male_casualsuit02:1")
    for t in LOWER_GARMENTS:
        seen[t] = _segments_of(W.cut_to_type(jeans, t, regions, f), regions, f)
    assert seen["short_shorts"]["thigh_lo.R"] == 0 and seen["knee_shorts"]["thigh_lo.R"] > 0
    assert seen["knee_shorts"]["shin_hi.R"] == 0 and seen["capri"]["shin_hi.R"] > 0
    assert seen["capri"]["shin_lo.R"] == 0 and seen["trousers"]["shin_lo.R"] > 0


def _scene(upper, lower, upper_asset, lower_asset):
    return {"clothing": {"mode": "types",
                         "upper": {"type": upper, "asset": upper_asset, "roughness": 0.8},
                         "lower": {"type": lower, "asset": lower_asset, "roughness": 0.8}},
            "shoes": {"asset": "clothes/shoes01", "color": [0.1, 0.1, 0.1], "roughness": 0.5},
            "hair": {"hair": {"asset": "hair/short02", "color": [0.1, 0.05, 0.02]}}}


@pytest.mark.parametrize("upper_asset,lower_asset", [("clothes/male_casualsuit02:0", "clothes/male_casualsuit02:1"),
                                                     ("clothes/male_casualsuit04:0", "clothes/male_elegantsuit01:1")])
def test_no_skin_in_front_of_the_worn_garments(walk, squat, regions, upper_asset, lower_asset):
    """Every upper x lower type on the demo walk and squat. Measured: see docs/scene.md."""
    f = walk["faces"]
    for seq in (walk, squat):
        for upper in UPPER_GARMENTS:
            for lower in LOWER_GARMENTS[::3]:
                worn = W.dress(_scene(upper, lower, upper_asset, lower_asset), seq["vertices"], f, regions)
                r = W.skin_in_front(seq["vertices"], f, worn)
                assert r["hidden_faces"] > 2000 and r["samples"] > 500, (upper, lower, r)
                assert r["fraction"] < 0.01 and r["worst_m"] < 0.01, (upper, lower, r)


def test_dress_wears_shoes_hair_and_layers_the_shirt_over_the_trousers(walk, regions):
    worn = W.dress(_scene("long_sleeves", "trousers", "clothes/male_casualsuit03:0", "clothes/male_casualsuit02:1"),
                   walk["vertices"], walk["faces"], regions)
    names = [w["name"] for w in worn]
    assert names == ["lower", "upper", "shoes", "hair"]
    T = walk["vertices"].shape[0]
    for w in worn:
        assert w["vertices"].shape[0] == T and w["uv"].shape == w["faces"].shape + (2,)
    shoes = worn[2]["vertices"]
    assert shoes[:, :, 1].min() < 0.03  # on the feet, near the floor
    hair = worn[3]["vertices"]
    assert hair[:, :, 1].min() > 1.3  # on the head
    upper, lower = worn[1]["item"], worn[0]["item"]
    from scipy.spatial import cKDTree

    d, k = cKDTree(worn[0]["vertices"][0]).query(worn[1]["vertices"][0])
    near = d < 0.02
    assert near.any() and (upper.offset[near] >= lower.offset[k[near]] + W.LAYER_GAP_M - 1e-9).all()


def test_scene_records_what_is_worn_seeded():
    cfg = load_config("odah")
    bounds = {"min": [-0.5, 0.0, -0.3], "max": [0.5, 1.8, 0.3]}
    a = sample_scene(cfg, "trial_a", bounds)
    assert a == sample_scene(cfg, "trial_a", bounds)
    assert a["clothing"]["mode"] == "types"
    for part in ("upper", "lower"):
        assert a["clothing"][part]["asset"] in W.TYPE_SOURCES[a["clothing"][part]["type"]]
    assert a["shoes"]["asset"] in W.SHOES and a["hair"]["hair"]["asset"] in W.HAIR
    assert a["hair"]["eyebrows"]["asset"] in W.EYEBROWS and a["hair"]["eyelashes"]["asset"] in W.EYELASHES
    json.dumps(a)
    many = [sample_scene(cfg, f"t{i}", bounds) for i in range(40)]
    assert len({s["hair"]["hair"]["asset"] for s in many}) >= 6
    assert len({s["shoes"]["asset"] for s in many}) >= 5
    out = sample_scene(load_config("odah", ["scene.clothing.mode=outfits"]), "trial_a", bounds)
    assert out["clothing"]["outfit"]["asset"] in W.OUTFITS
    shells = sample_scene(load_config("odah", ["body.model=smplx"]), "trial_a", bounds)
    assert shells["clothing"]["mode"] == "shells" and shells["shoes"] is None and shells["hair"] is None
    bare = sample_scene(load_config("odah", ["scene.clothing.shoes=false", "scene.clothing.hair=false"]),
                        "trial_a", bounds)
    assert bare["shoes"] is None and bare["hair"] is None


def test_outfits_mode_dresses_every_piece(walk, regions):
    scene = {"clothing": {"mode": "outfits", "outfit": {"asset": "clothes/male_worksuit01", "roughness": 0.8}}}
    worn = W.dress(scene, walk["vertices"], walk["faces"], regions)
    assert sum(w["vertices"].shape[1] for w in worn) == W.load_item("clothes/male_worksuit01").n_vertices


@pytest.mark.blender
def test_a_tiny_render_has_hair_shoes_and_clothes_in_the_mask(walk, tmp_path, blender_python):
    from odahgen.render.bundle import write_render_bundle
    from odahgen.render.stage import load_masks, render_trial
    from odahgen.scene.cameras import project

    cfg = load_config("demo", ["render.width=96", "render.height=128", "render.device=cpu",
                               "render.engine=workbench", "scene.cameras.margin=0.05"])
    seq = {k: (v[:2] if k == "vertices" else v) for k, v in walk.items()}
    regions = garment_regions(weights=walk["weights"], bone_names=walk["bone_names"])
    scene = sample_scene(cfg, "t_wear", seq["vertices"])
    worn = W.dress(scene, seq["vertices"], seq["faces"], regions)
    assert {w["name"] for w in worn} >= {"upper", "lower", "shoes", "hair", "eyebrows"}
    bundle = write_render_bundle(tmp_path / "b", seq["vertices"], seq["faces"], seq["uv"], worn, scene, cfg.render)
    meta = json.loads((bundle / "bundle.json").read_text())
    assert {m.get("asset") for m in meta["meshes"]} >= {scene["shoes"]["asset"], scene["hair"]["hair"]["asset"]}
    res = render_trial(bundle, tmp_path / "out", cfg.render)
    cam = {c["name"]: c for c in scene["cameras"]}["front"]
    mask = load_masks(res["masks"]["front"])
    grown = mask[0].copy()  # vertices on the silhouette project onto its edge pixels: grow it by one
    grown[1:] |= mask[0][:-1]
    grown[:-1] |= mask[0][1:]
    grown[:, 1:] |= grown[:, :-1].copy()
    grown[:, :-1] |= grown[:, 1:].copy()
    for w in worn:
        if w["name"] not in ("hair", "shoes", "upper", "lower"):
            continue
        pts = w["vertices"][0].astype(np.float64)
        pts = pts[pts[:, 1] > 0.02]  # the mask is what lies >= 1 cm in front of the room: not the soles
        px, _ = project(cam, pts)
        ij = np.floor(px).astype(int)
        ok = (ij[:, 0] >= 0) & (ij[:, 1] >= 0) & (ij[:, 0] < cam["width"]) & (ij[:, 1] < cam["height"])
        assert ok.mean() > 0.9
        assert grown[ij[ok, 1], ij[ok, 0]].mean() > 0.97, w["name"]
    # the hair and shoes widen the silhouette: the mask reaches above the bald head and below the foot soles
    px, _ = project(cam, seq["vertices"][0].astype(np.float64))
    rows = np.flatnonzero(mask[0].any(1))
    assert rows.min() <= np.floor(px[:, 1].min()) and rows.max() >= np.floor(px[:, 1].max())


@pytest.mark.blender
def test_sensor_noise_is_added_to_the_frames_seeded(walk, tmp_path, blender_python):
    from odahgen.render.bundle import write_render_bundle
    from odahgen.render.stage import render_trial
    from odahgen.render.video import read_frames

    seq = {k: (v[:1] if k == "vertices" else v) for k, v in walk.items()}
    out = {}
    for noise in (0.0, 6.0, 6.0):
        cfg = load_config("demo", ["render.width=64", "render.height=48", "render.engine=workbench",
                                   "render.device=cpu", "render.mask=false", f"render.sensor_noise={noise}",
                                   "render.crf=0"])
        scene = sample_scene(cfg, "t_noise", seq["vertices"])
        root = tmp_path / f"n{noise}_{len(out)}"
        b = write_render_bundle(root / "b", seq["vertices"], seq["faces"], seq["uv"], [], scene, cfg.render)
        res = render_trial(b, root / "out", cfg.render, views=["front"])
        out[len(out)] = read_frames(res["videos"]["front"]).astype(np.float64)
    diff = np.abs(out[1] - out[0]).mean()
    assert 1.5 < diff < 8, diff
    assert np.abs(out[1] - out[2]).max() == 0  # seeded
