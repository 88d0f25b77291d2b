"""The body-model factory: :func:`load_body_model` by name, kept per process.

Loading a body model is the heavy step of the body stage (anny builds its rig and blend
shapes, ~1-2 s; SMPL-X reads the user's .npz), and the pipeline asks for the same model in
several stages of a trial and again in every trial a worker runs. :func:`load_body_model`
therefore keeps the models it built for the life of the process, keyed on its arguments
(for SMPL-X also on the model file's real path, size and modification time, so a file that
changed on disk is loaded again). The returned model is shared: treat it as read-only.
"""

from __future__ import annotations

import os
import threading

from odahgen.body.anny_model import AnnyBody
from odahgen.body.base import BodyModel
from odahgen.body.smplx_model import SmplxBody, resolve_smplx_file
from odahgen.errors import OdahgenError

#: how many distinct models one process keeps (least recently loaded dropped first)
CACHE_SIZE = 4

_CACHE: dict[tuple, BodyModel] = {}
_LOCK = threading.Lock()


def _build(name: str, options: dict) -> BodyModel:
    if name == "anny":
        return AnnyBody(**{k: v for k, v in options.items() if k not in ("model_dir", "gender")})
    if name == "smplx":
        return SmplxBody(**options)
    raise OdahgenError(f"unknown body model {name!r}; choose anny or smplx")


def _key(name: str, options: dict) -> tuple:
    """The cache key of a request: the options that select the model; for SMPL-X the model
    file's identity (real path, size, modification time) instead of the folder's spelling."""
    rest = tuple(sorted((k, repr(v)) for k, v in options.items() if k not in ("model_dir", "gender")))
    if name == "smplx":
        gender = options.get("gender", "neutral")
        path = resolve_smplx_file(options.get("model_dir", ""), gender)
        st = os.stat(path)
        return (name, rest, gender, os.path.realpath(path), st.st_size, st.st_mtime_ns)
    return (name, rest)


def load_body_model(name: str = "anny", *, cache: bool = True, **options) -> BodyModel:
    """The body model ``name`` (``"anny"`` or ``"smplx"``), built once per process.

    Options: anny -> none needed (``model_dir`` and ``gender`` are ignored); smplx ->
    ``model_dir`` (folder with SMPLX_<GENDER>.npz, or the file itself) and ``gender``
    (neutral|male|female).

    With ``cache`` (default) a model built earlier in this process with the same arguments
    (and, for SMPL-X, the same unchanged model file) is returned; it is shared, so callers
    must not modify it. ``cache=False`` builds a new, private model. Thread-safe.
    Errors (unknown name, missing or malformed SMPL-X file) are one-line
    :class:`~odahgen.errors.OdahgenError` s and are not cached.
    """
    if name not in ("anny", "smplx"):
        raise OdahgenError(f"unknown body model {name!r}; choose anny or smplx")
    if not cache:
        return _build(name, options)
    key = _key(name, options)
    with _LOCK:
        body = _CACHE.get(key)
        if body is None:
            body = _build(name, options)
            if len(_CACHE) >= CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = body
        return body


def clear_body_model_cache() -> None:
    """Forget the body models kept by :func:`load_body_model` (e.g. to free memory)."""
    with _LOCK:
        _CACHE.clear()
