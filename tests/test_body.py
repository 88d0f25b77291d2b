"""Body models, virtual markers, the joint regressor and fitting (odahgen.body).

Small on purpose: a few frames, the generated SMPL-X-structured model where the mesh size
does not matter. Deterministic (seeded), offline.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from odahgen.body import (
    Regressor,
    build_layout,
    load_body_model,
    load_layout,
    load_regressor,
    marker_points,
    markers_from_vertices,
)
from odahgen.body.regressor import fit_regressor, joint_errors_mm
from odahgen.body.sampling import random_poses
from odahgen.body.sparse import fit_sparse_weights
from odahgen.testing.body import write_synthetic_smplx
from odahgen.errors import OdahgenError
from odahgen.skeleton.names import JOINT_NAMES


@pytest.fixture(scope="module")
def anny():
    return load_body_model("anny")


@pytest.fixture(scope="module")
def smplx_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("smplx")
    write_synthetic_smplx(str(d))
    return d


@pytest.fixture(scope="module")
def smplx_body(smplx_dir):
    return load_body_model("smplx", model_dir=str(smplx_dir))


def _check_interface(body):
    torch.manual_seed(0)
    B = 2
    shape = body.default_shape()
    pose = 0.2 * torch.randn(B, body.pose_dim)
    trans = torch.randn(B, 3)
    v = body.forward(shape, pose, trans)
    assert v.shape == (B, body.n_vertices, 3) and v.dtype == torch.float32
    assert body.faces.dtype == np.int64 and body.faces.shape[1] == 3
    assert body.faces.min() >= 0 and body.faces.max() < body.n_vertices
    W = body.skinning_weights
    assert W.shape == (body.n_vertices, len(body.bone_names)) and W.dtype == np.float32
    np.testing.assert_allclose(W.sum(1), 1.0, atol=1e-5)
    A = body.bone_transforms(shape, pose, trans)
    assert A.shape == (B, len(body.bone_names), 4, 4)
    # an exporter with rest vertices + weights + bone transforms reproduces forward()
    rest = body.rest_vertices(shape)
    rh = torch.cat([rest, torch.ones(len(rest), 1)], 1)
    v2 = torch.einsum("vj,bjmn,vn->bvm", torch.as_tensor(W), A[:, :, :3, :], rh)
    assert torch.allclose(v, v2, atol=1e-5)
    # a vertex subset matches the full mesh
    ids = torch.arange(0, body.n_vertices, 97)
    assert torch.allclose(body.forward(shape, pose, trans, vertex_ids=ids), v[:, ids], atol=1e-6)
    # OpenSim frame: Y up (head above feet), X forward (toes ahead of heels), Z right
    j = body.joint_positions(shape)
    assert (j["acromial_r"][0, 1] > j["hip_r"][0, 1] > j["ankle_r"][0, 1])
    assert j["mtp_r"][0, 0] > j["ankle_r"][0, 0]
    assert j["hip_r"][0, 2] > 0 > j["hip_l"][0, 2]
    assert len(body.shape_params) == body.n_shape and body.pose_dim % 3 == 0


def test_anny_interface(anny):
    assert anny.n_vertices == 13718
    _check_interface(anny)
    rest = anny.rest_vertices().numpy()
    height = rest[:, 1].max() - rest[:, 1].min()
    assert 1.4 < height < 2.0


def test_smplx_interface(smplx_body):
    _check_interface(smplx_body)
    assert smplx_body.n_shape == 10


def test_smplx_missing_files_one_line(tmp_path):
    with pytest.raises(OdahgenError) as e:
        load_body_model("smplx", model_dir=str(tmp_path))
    assert "SMPLX_NEUTRAL.npz" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(OdahgenError, match="model_dir"):
        load_body_model("smplx", model_dir="")


def test_smplx_wrong_structure_one_line(tmp_path, smplx_dir):
    bad = tmp_path / "SMPLX_NEUTRAL.npz"
    d = dict(np.load(smplx_dir / "SMPLX_NEUTRAL.npz"))
    del d["shapedirs"]
    np.savez(bad, **d)
    with pytest.raises(OdahgenError) as e:
        load_body_model("smplx", model_dir=str(tmp_path))
    assert str(bad) in str(e.value) and "shapedirs" in str(e.value) and "\n" not in str(e.value)
    bad.write_bytes(b"not a zip file")
    with pytest.raises(OdahgenError, match="SMPLX_NEUTRAL.npz"):
        load_body_model("smplx", model_dir=str(tmp_path))


def test_body_model_kept_per_process(anny, smplx_dir, tmp_path):
    """load_body_model returns the model built earlier with the same arguments; an SMPL-X
    file that changed on disk is loaded again; cache=False builds a private one."""
    assert load_body_model("anny") is anny
    assert load_body_model("anny", model_dir="", gender="neutral") is anny  # ignored options
    a = load_body_model("smplx", model_dir=str(smplx_dir))
    assert load_body_model("smplx", model_dir=str(smplx_dir / "SMPLX_NEUTRAL.npz")) is a
    assert load_body_model("smplx", model_dir=str(smplx_dir), cache=False) is not a
    d = tmp_path / "m"
    write_synthetic_smplx(str(d))
    b = load_body_model("smplx", model_dir=str(d))
    assert b is not a and load_body_model("smplx", model_dir=str(d)) is b
    write_synthetic_smplx(str(d), seed=1)  # a new file at the same path
    os.utime(d / "SMPLX_NEUTRAL.npz", ns=(1, 1))
    assert load_body_model("smplx", model_dir=str(d)) is not b
    with pytest.raises(OdahgenError, match="unknown body model"):
        load_body_model("nope")


def test_nan_pose_rejected(anny):
    pose = torch.zeros(1, anny.pose_dim)
    pose[0, 5] = float("nan")
    with pytest.raises(OdahgenError, match="NaN"):
        anny.forward(anny.default_shape(), pose, torch.zeros(1, 3))


def _landmark_checks(body, layout):
    from odahgen.skeleton.markers import MARKER_BODY

    v = body.rest_vertices(torch.as_tensor(layout["shape"])).numpy()
    mk = dict(zip(layout["markers"], markers_from_vertices(v[None], layout)[0]))
    j = {k: x[0].numpy() for k, x in body.joint_positions(torch.as_tensor(layout["shape"])).items()}
    pelvis = 0.5 * (j["hip_r"] + j["hip_l"])
    # right ASIS: right (+Z) and anterior (+X) of the pelvis centre; PSIS posterior
    assert mk["RASI"][2] > pelvis[2] + 0.03 and mk["RASI"][0] > pelvis[0]
    assert mk["LASI"][2] < pelvis[2] - 0.03 and mk["LASI"][0] > pelvis[0]
    assert mk["RPSI"][0] < pelvis[0] and mk["SACR"][0] < mk["RASI"][0]
    # lateral landmarks outside medial ones, on the right side
    for lat, med in (("RLFC", "RMFC"), ("RLMAL", "RMMAL"), ("RLEL", "RMEL")):
        assert mk[lat][2] > mk[med][2], (lat, med)
        assert mk["L" + lat[1:]][2] < mk["L" + med[1:]][2]
    assert mk["HEADTOP"][1] == max(p[1] for p in mk.values())
    assert mk["RACR"][1] > mk["RASI"][1] > mk["RLFC"][1] > mk["RLMAL"][1]
    assert mk["RTOE"][0] > mk["RCAL"][0]
    # every surface marker sits on its own body part (or the neighbouring one across a joint)
    from odahgen.body.markers import _NEIGHBOURS, _split

    owner = np.argmax(body.skinning_weights, axis=1)
    seg_of = {}
    for seg, bones in body.segment_bones.items():
        for b in bones:
            seg_of.setdefault(body.bone_names.index(b), seg)
    for n, spec in layout["markers"].items():
        assert spec["body"] == MARKER_BODY[n]
        assert abs(sum(spec["weights"]) - 1) < 1e-4 and min(spec["weights"]) >= 0
        if spec["class"] != "joint_centre":
            base, side = _split(spec["body"])
            allowed = {f"{b}_{side}" if side else b for b in _NEIGHBOURS[base]}
            assert seg_of.get(int(owner[spec["vertices"][0]])) in allowed, (n, seg_of.get(int(owner[spec["vertices"][0]])))


def test_anny_layout_landmarks(anny):
    layout = load_layout(anny)
    from odahgen.skeleton.markers import MARKER_NAMES

    assert set(MARKER_NAMES) <= set(layout["markers"])
    _landmark_checks(anny, layout)


def _pair_asymmetry_mm(body, layout) -> dict[str, float]:
    """Right marker vs its left partner mirrored (z -> -z) on the rest mesh, mm."""
    from odahgen.body.markers import markers_from_vertices

    shape = torch.as_tensor(layout.get("shape") or body.default_shape(), dtype=torch.float32)
    mk = markers_from_vertices(body.rest_vertices(shape).numpy()[None], layout)[0]
    names = list(layout["markers"])
    return {n: 1000 * float(np.linalg.norm(mk[names.index(n)] - mk[names.index("L" + n[1:])] * [1, 1, -1]))
            for n in names if n.startswith("R") and "L" + n[1:] in names}


def test_anny_layout_is_mirror_symmetric(anny):
    """Refining each side on its own random poses had left the shipped layout asymmetric (tibial
    tuberosity 13.8 mm, 5th metatarsal 11.1, hip centre 7.9, radial styloid 5.9): the IK labels
    of a symmetric motion then differed left/right (jumping jacks: elbow 0-8 vs 12-23 deg)."""
    from odahgen.body.markers import symmetrize_layout

    layout = load_layout(anny)
    assert max(_pair_asymmetry_mm(anny, layout).values()) < 0.1
    lop = json.loads(json.dumps(layout))  # make one pair asymmetric: symmetrising averages it back
    lop["markers"]["LRSP"].update(vertices=[lop["markers"]["LRSP"]["vertices"][0] + 1], weights=[1.0])
    assert _pair_asymmetry_mm(anny, lop)["RRSP"] > 1.0
    assert max(_pair_asymmetry_mm(anny, symmetrize_layout(anny, lop)).values()) < 0.1


def test_smplx_layout_built_from_model(smplx_body):
    layout = build_layout(smplx_body)
    assert layout["n_vertices"] == smplx_body.n_vertices
    _landmark_checks(smplx_body, layout)


def test_layout_errors(anny, tmp_path):
    with pytest.raises(OdahgenError, match="not found"):
        load_layout(anny, tmp_path / "missing.json")
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"markers": {}, "n_vertices": 12}))
    with pytest.raises(OdahgenError, match="12 vertices"):
        load_layout(anny, p)
    with pytest.raises(OdahgenError, match="not in"):
        marker_points(load_layout(anny), ["NOPE"])


def test_render_markers_cli(tmp_path):
    from odahgen.cli import main

    out = tmp_path / "m.png"
    assert main(["body", "markers", "--render", str(out)]) == 0
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"


# --------------------------------------------------------------------------- regressor
def test_sparse_weights_constraints():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(60, 40))
    w_true = np.zeros(40)
    w_true[[3, 7, 11]] = [0.5, 0.3, 0.2]
    w = fit_sparse_weights(A, A @ w_true, max_nonzero=5)
    assert (w >= 0).all() and abs(w.sum() - 1) < 1e-9 and (w > 0).sum() <= 5
    np.testing.assert_allclose(w, w_true, atol=1e-3)


def _model_pairs(body, n, seed):
    """(vertices (n,V,3), joints (n,J,3)): the body model's own joints as targets."""
    rng = np.random.default_rng(seed)
    lo, hi = body.shape_bounds()
    V, J = [], []
    keys = ["hip_r", "walker_knee_r", "ankle_r", "acromial_l", "elbow_l", "radius_hand_l"]
    for i in range(n):
        s = lo + (hi - lo) * torch.as_tensor(rng.uniform(0.3, 0.7, body.n_shape), dtype=torch.float32)
        p = torch.as_tensor(random_poses(body, 1, rng))
        with torch.no_grad():
            V.append(body.forward(s, p, torch.zeros(1, 3))[0].numpy())
            jp = body.joint_positions(s, p, torch.zeros(1, 3))
        J.append(np.stack([jp[k][0].numpy() for k in keys]))
    return np.stack(V), np.stack(J), keys


def test_regressor_converges_and_improves_with_data(smplx_body):
    Vtest, Jtest, keys = _model_pairs(smplx_body, 12, seed=1)
    Vtr, Jtr, _ = _model_pairs(smplx_body, 40, seed=2)
    errs = []
    for n in (2, 40):
        reg = fit_regressor(Vtr[:n], Jtr[:n], n_candidates=60, max_nonzero=24, joint_names=keys)
        assert (reg.weights >= 0).all()
        np.testing.assert_allclose(reg.weights.sum(1), 1.0, atol=1e-5)
        assert ((reg.weights > 0).sum(1) <= 24).all()
        errs.append(joint_errors_mm(reg, Vtest, Jtest).mean())
    assert errs[1] < errs[0]
    assert errs[1] < 10.0, errs


def test_regressor_file_roundtrip_and_errors(tmp_path):
    reg = Regressor(np.zeros((22, 4), np.int64), np.full((22, 4), 0.25, np.float32), JOINT_NAMES, "anny", "builtin", 100)
    p = tmp_path / "r.npz"
    reg.save(p)
    back = load_regressor(p, n_vertices=100)
    assert back.joint_names == JOINT_NAMES and back.indices.shape == (22, 4)
    with pytest.raises(OdahgenError, match="100 vertices"):
        load_regressor(p, n_vertices=13718)
    with pytest.raises(OdahgenError, match="not found"):
        load_regressor(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"xx")
    with pytest.raises(OdahgenError, match="bad.npz"):
        load_regressor(tmp_path / "bad.npz")


def test_shipped_anny_regressor_report():
    from odahgen.body.regressor import regressor_path

    p = regressor_path("anny")
    if not p.is_file():
        pytest.skip("no shipped anny regressor")
    reg = load_regressor(p, n_vertices=13718)
    assert reg.indices.shape[0] == 22
    np.testing.assert_allclose(reg.weights.sum(1), 1.0, atol=1e-4)
    report = json.loads(p.with_suffix(".json").read_text())
    assert set(report["per_joint_error_mm"]) == set(JOINT_NAMES) and "mean_error_mm" in report


# --------------------------------------------------------------------------- fitting
def _synthetic_sequence(body, layout, T, seed):
    """A smooth known motion of the body model itself -> (shape, pose, trans, verts, regressor)."""
    from odahgen.body.sampling import random_shapes

    rng = np.random.default_rng(seed)
    shape = torch.as_tensor(random_shapes(body, 1, rng, spread=0.5)[0])
    keyp = random_poses(body, 3, rng, amount=0.3)
    keyp[:, :3] = 0
    keyp[:, 1] = 0.4
    tt = np.linspace(0, 2, T)
    pose = np.stack([np.interp(tt, np.arange(3), keyp[:, k]) for k in range(body.pose_dim)], 1)
    trans = np.stack([np.linspace(0, 0.3, T), np.full(T, 0.9), np.zeros(T)], 1)
    pose, trans = torch.as_tensor(pose, dtype=torch.float32), torch.as_tensor(trans, dtype=torch.float32)
    with torch.no_grad():
        v = body.forward(shape, pose, trans).numpy()
    rest = body.rest_vertices(shape).numpy()
    jp = body.joint_positions(shape)
    centres = [jp[k][0].numpy() for k in sorted(jp)][:11] * 2
    idx = np.stack([np.argsort(np.linalg.norm(rest - c, axis=1))[:12] for c in centres])
    reg = Regressor(idx, np.full(idx.shape, 1 / 12, np.float32), JOINT_NAMES, body.name, "test", body.n_vertices)
    return shape, pose, trans, v, reg


def test_fit_recovers_known_pose_and_shape(smplx_body):
    from odahgen.body.fit import fit_sequence

    torch.manual_seed(0)
    body = smplx_body
    layout = build_layout(body)
    shape, pose, trans, v, reg = _synthetic_sequence(body, layout, T=10, seed=3)
    names = list(layout["markers"])
    res = fit_sequence(body, reg(v), markers_from_vertices(v, layout), names, regressor=reg, layout=layout,
                       iterations=150, shape_iterations=120)
    assert res.vertices.shape == v.shape and res.vertices.dtype == np.float32
    assert res.pose.shape == (10, body.pose_dim) and res.trans.shape == (10, 3)
    assert res.joint_err_mm.shape == (10,) and res.marker_err_mm.shape == (10,)
    assert res.joint_err_mm.mean() < 10 and res.marker_err_mm.mean() < 15
    verr = np.linalg.norm(res.vertices - v, axis=2).mean() * 1000
    assert verr < 15, verr


def test_fit_anny_fixed_shape(anny):
    from odahgen.body.fit import fit_sequence

    torch.manual_seed(0)
    layout = load_layout(anny)
    shape, pose, trans, v, reg = _synthetic_sequence(anny, layout, T=6, seed=4)
    names = list(layout["markers"])
    res = fit_sequence(anny, reg(v), markers_from_vertices(v, layout), names, regressor=reg, layout=layout,
                       shape=shape, fit_shape=False, iterations=120)
    assert res.joint_err_mm.mean() < 10 and res.marker_err_mm.mean() < 15
    assert np.linalg.norm(res.vertices - v, axis=2).mean() * 1000 < 15


def test_fit_bad_inputs_one_line(smplx_body):
    from odahgen.body.fit import fit_sequence

    layout = build_layout(smplx_body)
    reg = Regressor(np.zeros((22, 2), np.int64), np.full((22, 2), 0.5, np.float32), JOINT_NAMES, "smplx", "t",
                    smplx_body.n_vertices)
    jc = np.zeros((3, 22, 3))
    jc[1, 4, 0] = np.nan
    with pytest.raises(OdahgenError) as e:
        fit_sequence(smplx_body, jc, np.zeros((3, 0, 3)), [], regressor=reg, layout=layout)
    assert "NaN" in str(e.value) and "frame 1" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(OdahgenError, match=r"\(T, 22, 3\)"):
        fit_sequence(smplx_body, np.zeros((3, 21, 3)), np.zeros((3, 0, 3)), [], regressor=reg, layout=layout)
    with pytest.raises(OdahgenError, match="frames"):
        fit_sequence(smplx_body, np.zeros((3, 22, 3)), np.zeros((2, 1, 3)), ["RASI"], regressor=reg, layout=layout)


def test_fit_options_and_keyword_settings_agree(smplx_body):
    """fit_sequence(options=FitOptions(...)) is fit_sequence(**the same settings); keywords
    override the options; an unknown setting is a TypeError."""
    from odahgen.body import FitOptions, fit_sequence

    layout = build_layout(smplx_body)
    _, _, _, v, reg = _synthetic_sequence(smplx_body, layout, T=4, seed=5)
    args = (smplx_body, reg(v), markers_from_vertices(v, layout), list(layout["markers"]))
    small = dict(iterations=5, shape_iterations=6, coarse_iterations=6, key_frames=2, return_vertices=False)
    a = fit_sequence(*args, regressor=reg, layout=layout, **small)
    b = fit_sequence(*args, regressor=reg, layout=layout, options=FitOptions(**small))
    c = fit_sequence(*args, regressor=reg, layout=layout, options=FitOptions(**{**small, "iterations": 1}),
                     iterations=5)
    for r in (b, c):
        np.testing.assert_array_equal(r.pose, a.pose)
        np.testing.assert_array_equal(r.shape, a.shape)
    assert a.vertices is None and a.info["stride"] == 4
    with pytest.raises(TypeError, match="nope"):
        fit_sequence(*args, regressor=reg, layout=layout, nope=1)


def test_regressor_eval_cli_prints_mean(capsys):
    from odahgen.body.regressor import regressor_path
    from odahgen.cli import main

    if not regressor_path("anny").is_file():
        pytest.skip("no shipped anny regressor")
    assert main(["regressor", "eval"]) == 0
    out = capsys.readouterr().out
    assert "mean_error_mm:" in out and "hip_r" in out


def test_regressor_eval_cli_missing_file(tmp_path, capsys):
    from odahgen.cli import main

    assert main(["regressor", "eval", str(tmp_path / "none.npz")]) != 0
    err = capsys.readouterr().err.strip()
    assert "not found" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_training_pairs_through_skeleton_ik(anny):
    """Shapes x poses -> virtual markers -> scaling + IK -> FK joint centres (the real pipeline)."""
    from odahgen.body.training import subject_pairs

    layout = load_layout(anny)
    poses = random_poses(anny, 3, np.random.default_rng(0), amount=0.3)
    v, j, rms = subject_pairs(anny, layout, anny.default_shape().numpy(), poses)
    assert v.shape == (3, anny.n_vertices, 3) and j.shape == (3, 22, 3)
    assert np.isfinite(j).all() and np.nanmean(rms) < 0.03
    reg = load_regressor(__import__("odahgen.body.regressor", fromlist=["x"]).regressor_path("anny"))
    assert joint_errors_mm(reg, v, j).mean() < 25


def test_anny_limits_reach_straight_elbow_and_knee(anny):
    """anny's rest pose has bent elbows (~43 deg) and knees (~10 deg); its pose limits must
    still allow the straight limbs of the skeleton's zero angles."""
    names = [g.name for g in anny.pose_groups]
    n = 12
    pose = torch.zeros(n, anny.pose_dim)
    for g in ("lowerarm01_r", "lowerleg01_r"):
        k = 3 * names.index(g)
        pose[:, k] = torch.linspace(float(anny.pose_lower[k]), 0.0, n)  # extension (-X) up to the limit
    j = {k: v.numpy() for k, v in anny.joint_positions(anny.default_shape(), pose, torch.zeros(n, 3)).items()}

    def flexion(a, b, c):
        u, v = j[b] - j[a], j[c] - j[b]
        return np.degrees(np.arccos((u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)))

    assert flexion("acromial_r", "elbow_r", "radius_hand_r").min() < 5.0
    assert flexion("hip_r", "walker_knee_r", "ankle_r").min() < 3.0
    rest = {k: v[0].numpy() for k, v in anny.joint_positions(anny.default_shape()).items()}
    u, v = rest["elbow_r"] - rest["acromial_r"], rest["radius_hand_r"] - rest["elbow_r"]
    assert np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v))) > 30  # really bent at rest


@pytest.mark.slow
def test_refine_layout_lowers_skeleton_mismatch(anny):
    """Markers moved to the scaled skeleton's marker places: the mismatch falls, landmarks stay
    on their side and body part."""
    from odahgen.body.markers import refine_layout

    layout = build_layout(anny)
    new = refine_layout(anny, layout, rounds=2, n_subjects=2, n_poses=2)
    h = new["refine"]
    assert h[0]["mismatch_after_mm"] < h[0]["mismatch_before_mm"] - 2.0, h
    assert h[1]["mismatch_before_mm"] < h[0]["mismatch_before_mm"], h
    _landmark_checks(anny, new)
