"""Identifiers and seeds: ids are ``[A-Za-z0-9_.-]+``; every trial's randomness derives
from a hash of (dataset seed, trial id), so a trial regenerates alone, identically."""

from __future__ import annotations

import hashlib
import re

from odahgen.errors import OdahgenError

_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it is a valid subject/motion/trial id, else raise OdahgenError."""
    if not isinstance(value, str) or not _ID_RE.match(value) or value in {".", ".."}:
        raise OdahgenError(f"invalid {what} {value!r}: use only letters, digits, '_', '.', '-'")
    return value


def trial_seed(dataset_seed: int, trial_id: str, stream: str = "") -> int:
    """A 63-bit seed from (dataset seed, trial id, optional named stream).

    Distinct ``stream`` names (e.g. ``"scene"``, ``"camera"``) give independent generators
    for the same trial, so adding a random choice to one stage does not shift another.
    """
    key = f"{int(dataset_seed)}\x1f{trial_id}\x1f{stream}".encode("utf-8")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") >> 1
