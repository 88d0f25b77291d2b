"""Garments: regions follow the garment type, shells follow the body, no body poking through."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from odahgen.config import load_config
from odahgen.testing.scene import demo_sequence
from odahgen.scene.garments import (REGION_SEGMENTS, build_garment_sequence,
                                    covered_faces, dress, garment_regions, skin_in_front,
                                    vertex_normals)
from odahgen.scene.sample import sample_scene


@pytest.fixture(scope="module")
def walk():
    return demo_sequence("walk", frames=12)


@pytest.fixture(scope="module")
def squat():
    return demo_sequence("squat", frames=12)


@pytest.fixture(scope="module")
def regions(walk):
    return garment_regions(weights=walk["weights"], bone_names=walk["bone_names"])


def _bones(seq, mask, names):
    """Fraction of the vertices whose strongest bone is one of ``names`` (with >= 0.6 of
    their weight on ``names``) that ``mask`` covers."""
    idx = [seq["bone_names"].index(n) for n in names]
    w = seq["weights"]
    sel = np.isin(w.argmax(1), idx) & (w[:, idx].sum(1) >= 0.6)
    assert sel.sum() > 10
    return mask[sel].mean()


def test_regions_cover_what_the_type_says(walk, regions):
    m = {t: regions.mask(t) for t in REGION_SEGMENTS}
    chest = ("spine02", "spine01")
    arm_hi, arm_lo = ("upperarm01.L", "upperarm01.R"), ("upperarm02.L", "upperarm02.R")
    fore_hi, fore_lo = ("lowerarm01.L", "lowerarm01.R"), ("lowerarm02.L", "lowerarm02.R")
    thigh_hi, thigh_lo = ("upperleg01.L", "upperleg01.R"), ("upperleg02.L", "upperleg02.R")
    shin_hi, shin_lo = ("lowerleg01.L", "lowerleg01.R"), ("lowerleg02.L", "lowerleg02.R")
    for t in ("vest", "short_sleeves", "three_quarter_sleeves", "long_sleeves"):
        assert _bones(walk, m[t], chest) > 0.99
        assert _bones(walk, m[t], ("head",)) == 0 and _bones(walk, m[t], ("wrist.L",)) == 0
        assert _bones(walk, m[t], thigh_lo) == 0
    assert _bones(walk, m["vest"], arm_hi) < 0.05
    assert _bones(walk, m["short_sleeves"], arm_hi) > 0.99 and _bones(walk, m["short_sleeves"], arm_lo) < 0.05
    tq = m["three_quarter_sleeves"]
    assert _bones(walk, tq, arm_lo) > 0.99 and _bones(walk, tq, fore_hi) > 0.99 and _bones(walk, tq, fore_lo) < 0.05
    assert _bones(walk, m["long_sleeves"], fore_lo) > 0.99
    for t in ("short_shorts", "knee_shorts", "capri", "trousers"):
        assert _bones(walk, m[t], ("spine05",)) > 0.99 and _bones(walk, m[t], thigh_hi) > 0.99
        assert _bones(walk, m[t], ("foot.L", "foot.R")) == 0 and _bones(walk, m[t], chest) == 0
    assert _bones(walk, m["short_shorts"], thigh_lo) < 0.05
    assert _bones(walk, m["knee_shorts"], thigh_lo) > 0.99 and _bones(walk, m["knee_shorts"], shin_hi) < 0.05
    assert _bones(walk, m["capri"], shin_hi) > 0.99 and _bones(walk, m["capri"], shin_lo) < 0.05
    assert _bones(walk, m["trousers"], shin_lo) > 0.99
    # longer types strictly contain shorter ones
    order = [("vest", "short_sleeves", "three_quarter_sleeves", "long_sleeves"),
             ("short_shorts", "knee_shorts", "capri", "trousers")]
    for chain in order:
        for a, b in zip(chain, chain[1:]):
            assert (m[a] <= m[b]).all() and m[b].sum() > m[a].sum()


def test_shell_follows_the_body_at_the_offset(walk, regions):
    v = walk["vertices"]
    shell, faces, uv, used = build_garment_sequence(v, walk["faces"], regions.mask("long_sleeves"), 0.006,
                                                    regions.segment)
    assert shell.shape == (v.shape[0], len(used), 3) and shell.dtype == np.float32
    assert faces.max() < len(used) and uv.shape == (len(faces), 3, 2) and np.isfinite(uv).all()
    n = vertex_normals(v, walk["faces"])[:, used]
    d = ((shell - v[:, used]) * n).sum(-1)
    assert np.allclose(d, 0.006, atol=1e-5)
    # the shell moves with the body: frame-to-frame motion of the shell equals the body's
    assert np.abs(np.diff(shell, axis=0) - np.diff(v[:, used], axis=0)).max() < 0.003
    # UVs keep the texture's physical scale: edge lengths in UV ~ edge lengths in m / tile
    e3 = np.linalg.norm(v[0][used][faces[:, 1]] - v[0][used][faces[:, 0]], axis=1)
    e2 = np.linalg.norm(uv[:, 1] - uv[:, 0], axis=1) * 0.25
    assert 0.6 < np.median(e2 / np.maximum(e3, 1e-9)) < 1.6


@pytest.mark.parametrize("motion", ["walk", "squat"])
def test_no_body_poking_through(motion, request, regions):
    """Every body vertex under a garment lies on the inner side of the shell: its nearest
    shell vertex (any, not only its own offset copy) sees it behind the shell's normal.
    The few exceptions are rims of deep skin pits (the navel), where the nearest shell vertex
    dips into the pit: there the body is still less than the offset in front of it."""
    seq = request.getfixturevalue(motion)
    v, f = seq["vertices"], seq["faces"]
    normals = vertex_normals(v, f)
    for gtype in ("long_sleeves", "trousers", "vest", "short_shorts"):
        shell, _, _, used = build_garment_sequence(v, f, regions.mask(gtype), 0.005, regions.segment)
        worst = 1.0
        for t in range(v.shape[0]):
            body = v[t][used]
            _, nearest = cKDTree(shell[t]).query(body)
            side = ((body - shell[t][nearest]) * normals[t][used][nearest]).sum(1)
            worst = min(worst, float((side < 0).mean()))
            assert side.max() < 0.005 + 0.001, (gtype, t, side.max())
        assert worst > 0.97, (gtype, worst)


PAIRS = [("vest", "short_shorts"), ("short_sleeves", "knee_shorts"), ("three_quarter_sleeves", "capri"),
         ("long_sleeves", "trousers")]


@pytest.mark.parametrize("motion", ["walk", "squat"])
def test_no_skin_shows_through_the_garments(motion, request, regions):
    """The render leaves out the skin wholly under the garments; what skin stays under a hem
    is behind the shell at every frame of the walk (``skin_in_front``; every procedural
    motion: tests/test_scene_garments_library.py). In the deep squat a few hem samples of
    the short sleeves (0.16 %, < 3 mm; measured) still cross the shell: bounded here."""
    seq = request.getfixturevalue(motion)
    for pair in PAIRS:
        r = skin_in_front(seq["vertices"], seq["faces"], regions, *pair)
        frac, worst, hidden = r["fraction"], r["worst_m"], r["hidden_faces"]
        assert hidden > 500, pair
        if motion == "walk":
            assert frac == 0 and worst < 0, (pair, frac, worst)
        else:
            assert frac < 0.005 and worst < 0.004, (pair, frac, worst)


def test_covered_faces_keep_the_hem_and_close_the_seams(walk, regions):
    f = walk["faces"]
    for up, lo in PAIRS:
        U, L = regions.mask(up), regions.mask(lo)
        # no unlabelled seam between the shirt and the trousers: every face touching both is
        # wholly under the garments (so no band of skin shows at the waist)
        touch = U[f].any(1) & L[f].any(1)
        assert touch.sum() > 100 and (U | L)[f[touch]].all()
        g = [{"body_index": np.flatnonzero(U)}, {"body_index": np.flatnonzero(L)}]
        hidden = covered_faces(f, g)
        assert ((U | L)[f[hidden]]).all()  # only skin under the garments is left out
        # faces at a hem (some vertex outside) and their next ring stay
        edge = (U | L)[f].any(1) & ~(U | L)[f].all(1)
        near = np.zeros(len(U), bool)
        near[f[edge].ravel()] = True
        assert not hidden[near[f].any(1)].any()


def test_dress_builds_the_scene_garments(walk, regions):
    cfg = load_config("demo")
    scene = sample_scene(cfg, "dress", walk["vertices"])
    garments = dress(scene, walk["vertices"], walk["faces"], regions)
    assert [g["name"] for g in garments] == ["lower", "upper"]
    for g in garments:
        assert g["type"] == scene["clothing"][g["name"]]["type"]
        assert g["vertices"].shape[0] == walk["vertices"].shape[0]


def test_regions_reject_unknown_rigs():
    from odahgen.errors import OdahgenError

    with pytest.raises(OdahgenError):
        garment_regions(weights=np.eye(3), bone_names=["a", "b", "c"])
    r = garment_regions(weights=np.eye(3), bone_names=["pelvis", "left_hip", "head"])  # SMPL-X names
    assert r.mask("short_shorts").tolist() == [True, True, False]


def test_a_keypoint_hidden_only_by_a_garment_is_not_visible(walk, regions):
    """GT visibility depth-tests against the body and the scene's garments (the gt stage reads
    the dressed person back from the render bundle): a point 147.5 mm behind the skin of the thigh front (visible against the
    body alone, tolerance 150 mm) sits behind the trousers' shell by more than the tolerance."""
    from odahgen.scene.cameras import project
    from odahgen.render.visibility import Rasterizer, keypoint_visibility
    from odahgen.scene.garments import dress

    cfg = load_config("demo")
    v = walk["vertices"][:1]
    scene = sample_scene(cfg, "hidden", walk["vertices"])
    scene["clothing"]["lower"]["type"] = "trousers"
    cam = next(c for c in scene["cameras"] if c["name"] == "front")
    body = [(v, walk["faces"])]
    meshes = body + [(g["vertices"], g["faces"]) for g in dress(scene, v, walk["faces"], regions)]
    assert len(meshes) == 3
    with Rasterizer(cam) as rast:
        grey = (0.8, 0.8, 0.8)
        d_body, d_all = rast.depth([m + (grey,) for m in body], 0), rast.depth([m + (grey,) for m in meshes], 0)
    # a thigh-front vertex (trousers, flat surface) facing the camera
    thigh = np.flatnonzero(regions.segment == regions.segment_names.index("thigh_hi.R"))
    px, z = project(cam, v[0][thigh][None])
    col, row = np.floor(px[0]).astype(int).T
    ok = (col > 2) & (row > 2) & (col < cam["width"] - 3) & (row < cam["height"] - 3)
    ok[ok] &= np.abs(d_body[row[ok], col[ok]] - z[0][ok]) < 0.002  # the vertex is the visible surface
    i = np.flatnonzero(ok)[len(np.flatnonzero(ok)) // 2]
    r, c = row[i], col[i]
    assert 0.003 < d_body[r, c] - d_all[r, c] < 0.008  # the shell is in front of the skin there
    # a keypoint on the camera ray through the pixel centre, 147.5 mm behind the skin
    K, R, t = (np.asarray(cam[k], dtype=np.float64) for k in ("K", "R", "t"))
    ray = np.linalg.solve(K, [c + 0.5, r + 0.5, 1.0])
    kp = (R.T @ (ray * (d_body[r, c] + 0.1475) - t))[None, None]
    assert keypoint_visibility(body, kp, cam)[0, 0]
    assert not keypoint_visibility(meshes, kp, cam)[0, 0]


def test_the_upper_garment_ends_above_the_crotch(walk, regions):
    """The shirt's shell (8 mm) lay over the trousers' (5 mm) in the crotch, a patch between the
    legs at 1080x720: the upper types keep only the waist near the chest (hip-bone hem)."""
    from odahgen.scene.garments import shell_region

    v0 = walk["vertices"][0]
    waist = regions.segment == regions.segment_names.index("waist")
    crotch = v0[waist, 1].min()
    for t in ("vest", "long_sleeves"):
        up = shell_region(regions, t, v0, walk["faces"])
        assert up[waist].any() and v0[up, 1].min() > crotch + 0.02
        assert (up <= regions.mask(t)).all()
    assert (shell_region(regions, "trousers", v0, walk["faces"]) == regions.mask("trousers")).all()


def test_garment_uvs_keep_the_texture_scale_at_the_crotch(walk, regions):
    """The patch between the legs at 1080x720 was the waist chart's cylindrical UVs at the crotch,
    where the angle around the axis sweeps the texture in a few mm (a bullseye): faces looking
    along the axis are projected on the cap plane. Measured on the faces looking down (crotch,
    buttock fold): texture stretch at most 2.5 (4.2 before)."""
    v0 = walk["vertices"][0].astype(np.float64)
    for t in ("trousers", "short_shorts"):
        shell, fg, uv, used = build_garment_sequence(walk["vertices"][:1], walk["faces"], regions.mask(t), 0.005,
                                                     regions.segment)
        p = v0[used][fg]  # (F, 3, 3) m
        fn = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
        fn /= np.linalg.norm(fn, axis=1, keepdims=True)
        edge = np.linalg.norm(p - p[:, [1, 2, 0]], axis=-1).max(1) / 0.25  # tiles
        span = np.linalg.norm(uv - uv[:, [1, 2, 0]], axis=-1).max(1)
        down = fn[:, 1] < -0.7
        assert down.sum() > 20
        assert (span / edge)[down].max() < 3, (t, (span / edge)[down].max())
