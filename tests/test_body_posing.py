"""The fast posing path of :class:`odahgen.body.base.BodyModel` (structure-of-arrays products,
the hand-written backward of the bone chain) against a plain reference: one 4x4 product per
bone along the tree, differentiated by autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from odahgen.body import load_body_model
from odahgen.body.base import axis_angle_to_matrix
from odahgen.testing.body import write_synthetic_smplx


@pytest.fixture(scope="module", params=["anny", "smplx"])
def body(request, tmp_path_factory):
    if request.param == "anny":
        return load_body_model("anny")
    d = tmp_path_factory.mktemp("smplx")
    write_synthetic_smplx(str(d))
    return load_body_model("smplx", model_dir=str(d))


def _reference_transforms(body, prep, pose, trans):
    """(B, Ja, 4, 4) skinning transforms, bone by bone: ``A_a = A_d Grest_a R_a Grest_a^-1``."""
    B = pose.shape[0]
    R = axis_angle_to_matrix(pose.reshape(B, -1, 3))[:, body._active_group]
    F, Finv = prep["frames"][0], prep["frames_inv"][0]
    out = []
    for a, pa in enumerate(body._active_parent):
        L = torch.eye(4).repeat(B, 1, 1)
        if pa < 0:  # the root: a world rotation about its head, then the translation
            h = F[a, :3, 3]
            L[:, :3, :3] = R[:, a]
            L[:, :3, 3] = trans + h - R[:, a] @ h
            out.append(L)
        else:
            L[:, :3, :] = (F[a] @ torch.cat([torch.cat([R[:, a], torch.zeros(B, 3, 1)], 2),
                                              torch.tensor([[[0.0, 0, 0, 1]]]).expand(B, 1, 4)], 1) @ Finv[a])[:, :3]
            out.append(out[pa] @ L)
    return torch.stack(out, 1)


def _reference_points(body, prep, pose, trans):
    A = _reference_transforms(body, prep, pose, trans)[:, :, :3, :]
    return torch.einsum("bacd,nad->bnc", A, prep["q"])


def test_fast_posing_matches_reference(body):
    g = torch.Generator().manual_seed(3)
    B = 7
    pose = (0.5 * torch.randn(B, body.pose_dim, generator=g)).requires_grad_(True)
    pose_ref = pose.detach().clone().requires_grad_(True)
    trans = torch.randn(B, 3, generator=g)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, body.n_vertices, (30, 3))
    w = rng.random((30, 3)).astype(np.float32)
    shape = body.default_shape()[None].clone().requires_grad_(True)
    shape_ref = shape.detach().clone().requires_grad_(True)
    prep = body.prepare_points(shape, idx, w)
    prep_ref = body.prepare_points(shape_ref, idx, w)
    fast = body.pose_points(prep, pose, trans)
    ref = _reference_points(body, prep_ref, pose_ref, trans)
    assert torch.allclose(fast, ref, atol=2e-5)
    weights = torch.randn(fast.shape, generator=g)
    (fast * weights).sum().backward()
    (ref * weights).sum().backward()
    # gradients through the chain's hand-written backward (pose) and through the rest state (shape)
    assert torch.allclose(pose.grad, pose_ref.grad, rtol=1e-4, atol=1e-3 * pose_ref.grad.abs().max())
    assert torch.allclose(shape.grad, shape_ref.grad, rtol=1e-4, atol=1e-3 * shape_ref.grad.abs().max())
    # the whole mesh and the 4x4 transforms
    with torch.no_grad():
        full = body.prepare(body.default_shape())
        v = body.pose_prepared(full, pose, trans)
        assert torch.allclose(v, _reference_points(body, full, pose, trans), atol=2e-5)
        A = body._active_transforms(full, pose, trans)
        assert torch.allclose(A, _reference_transforms(body, full, pose, trans), atol=2e-5)


def test_chain_backward_gradcheck(body):
    """The hand-written backward of the bone chain in double precision (finite differences)."""
    from odahgen.body.base import _Chain

    g = torch.Generator().manual_seed(1)
    Ja, B = len(body._active), 2
    L = torch.randn(3, 4, Ja, B, generator=g, dtype=torch.float64).requires_grad_(True)
    levels = body._level_slices()
    trans = torch.randn(B, 3, generator=g, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, t: _Chain.apply(x, t, levels), (L, trans))


def test_rodrigues_backward_gradcheck():
    """The hand-written backward of Rodrigues' formula, at zero, near zero and beyond."""
    from odahgen.body.base import _rodrigues_soa

    g = torch.Generator().manual_seed(2)
    aa = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    aa[:, 0, 0] = 0.0
    aa[:, 1, 0] = 1e-5
    aa[:, 3, 0] = 0.02  # the Taylor forms of the derivatives
    aa[:, 2, 0] *= 2.0
    aa.requires_grad_(True)
    assert torch.autograd.gradcheck(_rodrigues_soa, (aa,))
    ref = axis_angle_to_matrix(aa.detach().permute(1, 2, 0))  # (..., 3, 3)
    assert torch.allclose(_rodrigues_soa(aa.detach()).permute(2, 3, 0, 1), ref, atol=1e-12)
