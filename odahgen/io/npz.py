"""NumPy archives of the pipeline's intermediates (``motion.npz``, ``skeleton.npz``,
``body.npz``): written atomically (compressed, except the fitted mesh, an intermediate read
three times), read without pickles."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.io.atomic import atomic_path


def save_arrays(path: str | Path, arrays: dict, compress: bool = True) -> None:
    """Write ``arrays`` (name -> array) as a .npz atomically, compressed unless ``compress``
    is False (float32 meshes gain ~8 % for ~3 s of zlib per 100 MB, and every reader pays
    the inflate again)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            (np.savez_compressed if compress else np.savez)(fh, **arrays)


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz (no pickled objects); a missing or damaged file is a one-line
    error naming it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise OdahgenError(f"{path}: not found") from None
    except (OSError, ValueError, EOFError) as err:
        raise OdahgenError(f"{path}: not a readable .npz file ({' '.join(str(err).split())})") from None
