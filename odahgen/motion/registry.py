"""Finding motion sources by name.

Built-in sources are always available; third-party sources are discovered through the
``odahgen.motion_sources`` entry-point group: a package declares, in its pyproject.toml::

    [project.entry-points."odahgen.motion_sources"]
    mylab = "mylab_motions:MyLabSource"

where ``MyLabSource`` subclasses :class:`odahgen.motion.base.MotionSource`. An entry point
with a built-in name overrides nothing (the built-in wins) and is reported as a problem.
A plugin that fails to import is reported by :func:`source_problems`, never fatal to others.

Source options can ride on a file source's path as a query string, so the one text field that
configs and commands carry (``motion.path``, ``--path``) can set them:
``data/amass?markers=lab&model_dir=models`` is ``path="data/amass", markers="lab",
model_dir="models"`` (:func:`split_path_options`; values are text, URL-decoded).
"""

from __future__ import annotations

import importlib
import os
import re
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from odahgen.errors import OdahgenError
from odahgen.motion.base import MotionSource

GROUP = "odahgen.motion_sources"

#: name -> "module:Class" of the built-in sources
BUILTIN_SOURCES: dict[str, str] = {
    "procedural": "odahgen.motion.procedural:ProceduralSource",
    "amass": "odahgen.motion.amass:AmassSource",
    "c3d": "odahgen.motion.files:C3DSource",
    "trc": "odahgen.motion.files:TRCSource",
    "mot": "odahgen.motion.files:MOTSource",
    "bvh": "odahgen.motion.bvh:BVHSource",
}


def _entry_points() -> dict[str, metadata.EntryPoint]:
    eps = metadata.entry_points(group=GROUP)
    out: dict[str, metadata.EntryPoint] = {}
    for ep in eps:
        out.setdefault(ep.name, ep)
    return out


def available_sources() -> list[str]:
    """Names of all sources: built-ins then plugins, sorted within each."""
    plugins = sorted(n for n in _entry_points() if n not in BUILTIN_SOURCES)
    return list(BUILTIN_SOURCES) + plugins


def source_origin(name: str) -> str:
    """'builtin' or the distribution that provides a plugin source."""
    if name in BUILTIN_SOURCES:
        return "builtin"
    ep = _entry_points().get(name)
    if ep is None:
        return "unknown"
    dist = getattr(ep, "dist", None)
    return f"plugin {dist.name} {dist.version}" if dist is not None else f"plugin {ep.value}"


def get_source_class(name: str) -> type[MotionSource]:
    """The :class:`MotionSource` subclass registered as ``name``."""
    if name in BUILTIN_SOURCES:
        module, _, attr = BUILTIN_SOURCES[name].partition(":")
        cls = getattr(importlib.import_module(module), attr)
    else:
        ep = _entry_points().get(name)
        if ep is None:
            raise OdahgenError(
                f"unknown motion source {name!r}; available: {', '.join(available_sources())}")
        try:
            cls = ep.load()
        except Exception as err:  # a broken plugin must not take down the rest
            raise OdahgenError(
                f"motion source plugin {name!r} ({ep.value}) failed to load: {type(err).__name__}: {err}") from err
    if not (isinstance(cls, type) and issubclass(cls, MotionSource)):
        raise OdahgenError(f"motion source {name!r} is not a MotionSource subclass: {cls!r}")
    return cls


_OPTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def split_path_options(path: str) -> tuple[str, dict[str, str]]:
    """``"data/amass?markers=lab&model_dir=m"`` -> ``("data/amass", {"markers": "lab",
    "model_dir": "m"})``. A path without ``?`` comes back unchanged with no options; a path
    that exists as written (a file name containing ``?``) is never split."""
    text = str(path)
    if "?" not in text or Path(text).expanduser().exists():
        return text, {}
    base, _, query = text.partition("?")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise OdahgenError(f"motion path {text!r}: options after '?' must be name=value pairs joined by '&'") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if not _OPTION_NAME.fullmatch(key):
            raise OdahgenError(f"motion path {text!r}: bad option name {key!r}")
        if key == "path":
            raise OdahgenError(f"motion path {text!r}: the path is the part before '?', not an option")
        if key in out:
            raise OdahgenError(f"motion path {text!r}: option {key!r} given twice")
        out[key] = value
    return base, out


def get_source(name: str, **options: Any) -> MotionSource:
    """An instance of source ``name`` built with ``options`` (e.g. ``path=...``). Options in
    the path's query string (:func:`split_path_options`) are added to ``options``."""
    cls = get_source_class(name)
    path = options.get("path")
    if isinstance(path, (str, os.PathLike)) and "?" in str(path):
        base, extra = split_path_options(str(path))
        clash = sorted(set(extra) & set(options))
        if clash:
            raise OdahgenError(f"motion path {str(path)!r}: option(s) {', '.join(clash)} also given directly")
        options = {**options, "path": base, **extra}
    try:
        src = cls(**options)
    except OdahgenError:
        raise
    except TypeError as err:
        raise OdahgenError(f"motion source {name!r}: bad options {sorted(options)}: {err}") from err
    if not src.name:
        src.name = name
    return src


def source_problems() -> dict[str, str]:
    """name -> one-line problem for plugins that cannot be loaded or shadow a built-in."""
    problems = {}
    for name, ep in _entry_points().items():
        if name in BUILTIN_SOURCES:
            if ep.value != BUILTIN_SOURCES[name]:
                problems[name] = f"plugin {ep.value} uses a built-in name and is ignored"
            continue
        try:
            get_source_class(name)
        except OdahgenError as err:
            problems[name] = str(err)
    return problems


def parse_motion_ref(ref: str) -> tuple[str, str]:
    """'SOURCE:MOTION' -> (source, motion)."""
    source, sep, motion = ref.partition(":")
    if not sep or not source or not motion:
        raise OdahgenError(f"expected SOURCE:MOTION (e.g. procedural:walk_normal), got {ref!r}")
    return source, motion
