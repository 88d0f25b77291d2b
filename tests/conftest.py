"""Shared pytest fixtures: paths to the repo, the reference data, the Blender venv, and a small
synthetic ground-truth dataset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
BLENDER_PYTHON = REPO / ".venv-blender" / "bin" / "python"

# Headless OpenGL for pyrender in tests (no display on CI).
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"reference data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def blender_python() -> Path:
    if not BLENDER_PYTHON.exists():
        pytest.skip("no .venv-blender (run `make setup`)")
    return BLENDER_PYTHON


@pytest.fixture(scope="module")
def clean_dataset(tmp_path_factory) -> Path:
    """A finalized synthetic dataset (2 subjects x walk, 64 frames), made once per module."""
    from odahgen.gt.dataset import finalize_dataset
    from odahgen.testing.gt import make_dataset

    root = tmp_path_factory.mktemp("ds")
    make_dataset(root, subjects=("s01", "s02"), motions=("walk",), n_frames=64)
    finalize_dataset(root)
    return root


@pytest.fixture
def dataset(clean_dataset, tmp_path) -> Path:
    """A fresh copy of :func:`clean_dataset` that a test may change."""
    import shutil

    dst = tmp_path / "ds"
    shutil.copytree(clean_dataset, dst)
    return dst
