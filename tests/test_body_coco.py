"""COCO keypoints on the body mesh (odahgen.body.coco): anny's shipped regressor and SMPL-X's
joints give 23 rows of weights summing to 1, and on anny's rest mesh the keypoints sit where
COCO's conventions put them (left on -Z, feet low, nose in front of the ears)."""

from __future__ import annotations

import numpy as np
import pytest


def test_anny_coco_regressor_on_the_rest_mesh():
    from odahgen.body import load_body_model
    from odahgen.body.coco import COCO_NAMES, coco_keypoints, coco_regressor

    body = load_body_model("anny")
    W = coco_regressor(body)
    assert W.shape == (23, body.n_vertices) and np.allclose(W.sum(axis=1), 1.0)
    kp = dict(zip(COCO_NAMES, coco_keypoints(W, body.rest_vertices().detach().numpy()[None])[0]))
    joints = {k: v.numpy()[0] for k, v in body.joint_positions(None).items()}
    for side, z in (("left", -1), ("right", 1)):
        assert np.sign(kp[f"{side}_shoulder"][2]) == z and np.sign(kp[f"{side}_heel"][2]) == z
        # COCO's ankle is within a few cm of the model's ankle joint
        assert np.linalg.norm(kp[f"{side}_ankle"] - joints[f"ankle_{side[0]}"]) < 0.04
    assert kp["nose"][0] > kp["left_ear"][0] and kp["left_big_toe"][1] < kp["left_knee"][1]


def test_smplx_coco_regressor(tmp_path, monkeypatch):
    """SMPL-X's joints and named vertices; the generated stand-in file (2,200 vertices, not
    SMPL-X's 10,475) is refused by name, and with the named vertices mapped into its range
    the rows are the joint regressor's and one-hot vertices."""
    import smplx.vertex_ids

    from odahgen.body.coco import COCO_NAMES, coco_regressor
    from odahgen.body.smplx_model import SmplxBody
    from odahgen.errors import OdahgenError
    from odahgen.testing.body import write_synthetic_smplx

    write_synthetic_smplx(str(tmp_path))
    body = SmplxBody(str(tmp_path))
    with pytest.raises(OdahgenError, match="not SMPL-X's topology"):
        coco_regressor(body)
    small = {k: v % body.n_vertices for k, v in smplx.vertex_ids.vertex_ids["smplx"].items()}
    monkeypatch.setitem(smplx.vertex_ids.vertex_ids, "smplx", small)
    W = coco_regressor(body)
    assert W.shape == (23, body.n_vertices) and np.allclose(W.sum(axis=1), 1.0, atol=1e-5)
    J = body._J_regressor.numpy()
    assert np.allclose(W[COCO_NAMES.index("left_knee")], J[body.bone_names.index("left_knee")])
    assert W[COCO_NAMES.index("nose"), small["nose"]] == 1.0


def test_other_body_models_have_no_coco_regressor():
    from odahgen.body.coco import coco_regressor
    from odahgen.errors import OdahgenError

    class Other:
        name = "other"

    with pytest.raises(OdahgenError, match="no COCO keypoint regressor"):
        coco_regressor(Other())
