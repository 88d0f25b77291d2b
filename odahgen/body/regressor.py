"""The learned joint regressor: a sparse, non-negative linear map from mesh vertices to the
22 OpenSim joint centres (each row sums to 1, a few dozen vertices per joint).

Fit per joint (:func:`fit_regressor`, on training pairs from :mod:`odahgen.body.training`):
candidate vertices = the ``n_candidates`` vertices closest to that joint on average over the
training meshes; non-negative least squares with a heavily weighted sum-to-one row
(:func:`odahgen.body.sparse.fit_sparse_weights`); keep the ``max_nonzero`` largest weights and
solve again.

Files: ``assets/regressor/<body>_<skeleton>.npz`` (``indices (22, K)`` int32 vertex ids,
``weights (22, K)`` float32, ``joint_names``, ``body_model``, ``skeleton``, ``n_vertices``) and
``<same>.json`` (the report: per-joint held-out error in mm, ``mean_error_mm``, settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from odahgen.body.sparse import fit_sparse_weights
from odahgen.errors import OdahgenError
from odahgen.skeleton.names import JOINT_NAMES

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "regressor"


@dataclass
class Regressor:
    """Sparse joint regressor: joint j = sum_k weights[j, k] * vertices[indices[j, k]]."""

    indices: np.ndarray  # (J, K) int
    weights: np.ndarray  # (J, K) float32, rows sum to 1, >= 0
    joint_names: tuple[str, ...]
    body_model: str
    skeleton: str
    n_vertices: int

    def __call__(self, vertices: np.ndarray) -> np.ndarray:
        """Joint centres (T, J, 3) from vertices (T, V, 3) (numpy or torch)."""
        v = vertices
        return (v[:, self.indices] * self.weights[None, :, :, None]).sum(2)

    def save(self, path: str | Path) -> None:
        from odahgen.io import atomic_path

        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(
                    fh, indices=self.indices.astype(np.int32), weights=self.weights.astype(np.float32),
                    joint_names=np.array(self.joint_names), body_model=self.body_model,
                    skeleton=self.skeleton, n_vertices=self.n_vertices,
                )


def regressor_path(body: str, skeleton: str = "builtin") -> Path:
    return ASSET_DIR / f"{body}_{skeleton}.npz"


def load_regressor(path: str | Path, n_vertices: int | None = None) -> Regressor:
    """Load a regressor .npz; one-line :class:`OdahgenError` naming the file on any problem."""
    p = Path(path)
    if not p.is_file():
        raise OdahgenError(f"{p}: joint regressor not found (train one with `odahgen regressor train`)")
    try:
        with np.load(p, allow_pickle=False) as d:
            r = Regressor(d["indices"].astype(np.int64), d["weights"].astype(np.float32),
                          tuple(str(x) for x in d["joint_names"]), str(d["body_model"]),
                          str(d["skeleton"]), int(d["n_vertices"]))
    except (OSError, KeyError, ValueError) as err:
        raise OdahgenError(f"{p}: not a joint regressor file ({type(err).__name__}: {err})") from err
    if r.indices.shape != r.weights.shape or r.indices.ndim != 2:
        raise OdahgenError(f"{p}: indices and weights must both be (J, K)")
    if n_vertices is not None and r.n_vertices != n_vertices:
        raise OdahgenError(f"{p}: regressor is for {r.n_vertices} vertices, the mesh has {n_vertices}")
    return r


def fit_regressor(vertices: np.ndarray, joints: np.ndarray, n_candidates: int = 120, max_nonzero: int = 32,
                  joint_names=JOINT_NAMES, body_model: str = "", skeleton: str = "") -> Regressor:
    """Fit a :class:`Regressor` on training pairs ``vertices (N, V, 3)`` m, ``joints (N, J, 3)`` m."""
    vertices = np.asarray(vertices, dtype=np.float64)
    joints = np.asarray(joints, dtype=np.float64)
    if vertices.ndim != 3 or joints.ndim != 3 or len(vertices) != len(joints):
        raise OdahgenError(f"training pairs must be (N,V,3) and (N,J,3), got {vertices.shape} and {joints.shape}")
    ok = np.isfinite(joints).all(axis=(1, 2)) & np.isfinite(vertices).all(axis=(1, 2))
    vertices, joints = vertices[ok], joints[ok]
    if len(vertices) == 0:
        raise OdahgenError("no finite training pairs")
    N, V, _ = vertices.shape
    J = joints.shape[1]
    idx = np.zeros((J, max_nonzero), dtype=np.int64)
    wts = np.zeros((J, max_nonzero), dtype=np.float32)
    for j in range(J):
        d = np.linalg.norm(vertices - joints[:, j : j + 1], axis=2).mean(0)  # (V,)
        cand = np.argsort(d)[:n_candidates]
        A = vertices[:, cand].transpose(0, 2, 1).reshape(N * 3, len(cand))
        b = joints[:, j].reshape(N * 3)
        w = fit_sparse_weights(A, b, max_nonzero=max_nonzero)
        nz = np.argsort(-w)[:max_nonzero]
        idx[j, : len(nz)] = cand[nz]
        wts[j, : len(nz)] = w[nz]
    return Regressor(idx, wts, tuple(joint_names), body_model, skeleton, V)


def joint_errors_mm(reg: Regressor, vertices: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(J,) mean Euclidean error in mm of ``reg`` on pairs (N, V, 3), (N, J, 3)."""
    e = np.linalg.norm(reg(np.asarray(vertices)) - np.asarray(joints), axis=2) * 1000.0
    return np.nanmean(e, axis=0)
