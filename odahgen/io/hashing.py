"""Content hashes used by completion records and seeds."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hex digest of a JSON-serialisable object, independent of dict order and platform."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def file_sha256(path: str | os.PathLike, length: int = 16, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (first ``length`` hex digits)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()[:length]
