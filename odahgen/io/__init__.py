"""Shared file utilities every stage uses: atomic writes, hashing, ids and seeds."""

from odahgen.io.atomic import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text
from odahgen.io.hashing import file_sha256, stable_hash
from odahgen.io.ids import check_id, trial_seed
from odahgen.io.npz import load_arrays, save_arrays

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "file_sha256",
    "stable_hash",
    "check_id",
    "trial_seed",
    "load_arrays",
    "save_arrays",
]
