"""BMI-step shape variants (odahgen.body.variants) on the anny body."""

from __future__ import annotations

import numpy as np
import pytest

from odahgen.body import load_body_model
from odahgen.body.variants import body_stats, subject_shape_base, variant_shape


@pytest.fixture(scope="module")
def anny():
    return load_body_model("anny")


def test_bmi_steps_change_bmi_by_the_step(anny):
    base = subject_shape_base(anny, seed=3)
    b0 = body_stats(anny, base)
    assert 1.4 < b0["height_m"] < 2.0 and 15 < b0["bmi"] < 35
    got = []
    for step in (-1.0, 1.0):
        s = variant_shape(anny, base, step)
        st = body_stats(anny, s)
        got.append(st["bmi"] - b0["bmi"])
        # only the weight parameter moves; the height stays about the same
        changed = np.flatnonzero(np.abs(s - base) > 1e-9)
        assert list(changed) == [[p.name for p in anny.shape_params].index("weight")]
        assert abs(st["height_m"] - b0["height_m"]) < 0.03
    np.testing.assert_allclose(got, [-1.0, 1.0], atol=0.05)


def test_same_seed_same_subject(anny):
    np.testing.assert_array_equal(subject_shape_base(anny, 7), subject_shape_base(anny, 7))
    assert not np.array_equal(subject_shape_base(anny, 7), subject_shape_base(anny, 8))


def test_each_variant_gets_its_own_skeleton_and_fit(anny):
    """BMI variants of one subject: each one's virtual markers scale its own skeleton, and its
    own mesh (not the base subject's) is what fits that skeleton's labels."""
    import torch

    from odahgen.body.fit import fit_sequence
    from odahgen.body.markers import load_layout, markers_from_vertices
    from odahgen.body.variants import rest_mesh
    from odahgen.io.mocap import MarkerData
    from odahgen.skeleton.fk import fk_tree, load_tree
    from odahgen.skeleton.names import COORDINATE_NAMES
    from odahgen.skeleton.scale import scale_subject

    layout = load_layout(anny)
    names = list(layout["markers"])
    base = subject_shape_base(anny, seed=3)
    shapes = {d: variant_shape(anny, base, d) for d in (-1.0, 1.0)}
    trees, static = {}, {}
    for d, s in shapes.items():
        static[d] = markers_from_vertices(rest_mesh(anny, s)[None], layout, names)[0]
        trees[d], res = scale_subject(load_tree("builtin"), MarkerData(names, np.repeat(static[d][None], 10, 0), 60.0),
                                      source=f"variant {d}", measurements=False)
        assert res.rms_m < 0.03
    # the heavier variant's surface markers sit further out: wider ASIS, and its skeleton differs
    i_r, i_l = names.index("RASI"), names.index("LASI")
    width = {d: np.linalg.norm(static[d][i_r] - static[d][i_l]) for d in shapes}
    assert width[1.0] > width[-1.0] + 0.005
    ml = {d: trees[d].marker_loc[trees[d].marker_names.index("RASI")] for d in shapes}
    assert np.linalg.norm(ml[1.0] - ml[-1.0]) > 0.003
    # each variant's labels (a few frames of a hip/knee motion on its own skeleton) are fitted
    # by its own mesh, which keeps the variant's BMI
    T = 6
    angles = np.zeros((T, len(COORDINATE_NAMES)))
    angles[:, COORDINATE_NAMES.index("pelvis_ty")] = 0.95
    for c, top in (("hip_flexion_r", 0.6), ("knee_angle_r", 0.8), ("knee_angle_r_beta", 0.8)):
        angles[:, COORDINATE_NAMES.index(c)] = np.linspace(0, top, T)
    bmi = {}
    for d, s in shapes.items():
        fk = fk_tree(trees[d], angles)
        torch.manual_seed(0)
        r = fit_sequence(anny, fk.keypoints[:, :22], fk.markers, fk.marker_names, shape=s, fit_shape=False,
                         layout=layout, return_vertices=False)
        assert r.marker_err_mm.mean() < 15.0 and r.joint_err_mm.mean() < 15.0, (d, r.marker_err_mm, r.joint_err_mm)
        bmi[d] = body_stats(anny, r.shape)["bmi"]
    assert abs(bmi[1.0] - bmi[-1.0] - 2.0) < 0.1, bmi
