"""Shared pytest fixtures: paths to the repo, the reference data, and the Blender venv."""

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
