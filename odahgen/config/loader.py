"""Load a TOML config, apply ``--set a.b=value`` overrides, validate, hash.

Errors name the file, the key and the reason in one line, e.g.
``configs/x.toml: render.width: Input should be a valid integer (got 'big')``.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any, Iterable

from pydantic import ValidationError

from odahgen.config.models import Config
from odahgen.errors import ConfigError
from odahgen.io.hashing import stable_hash

CONFIG_DIR = Path(__file__).resolve().parent.parent.parent / "configs"


def builtin_config_path(name: str) -> Path:
    """Path of a shipped config by short name (``"demo"``, ``"odah"``)."""
    return CONFIG_DIR / f"{name}.toml"


def resolve_config_path(value: str | Path) -> Path:
    """A path as given, or the name of a shipped config (``demo`` -> configs/demo.toml)."""
    path = Path(value)
    if not path.exists() and path.suffix == "" and builtin_config_path(str(value)).exists():
        return builtin_config_path(str(value))
    return path


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a missing or malformed file is a ConfigError naming it."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"render.width=640"`` -> (["render", "width"], 640). Values are TOML literals;
    anything that is not one (``cycles``) is taken as a plain string."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected KEY=VALUE, e.g. render.engine=cycles")
    key, raw = text.split("=", 1)
    key, raw = key.strip(), raw.strip()
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise ConfigError(f"--set {text}: empty key")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``KEY=VALUE`` override set (key checked later)."""
    data = copy.deepcopy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text}: {part} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def _format_error(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif "input" in first and not isinstance(first["input"], dict):
        msg = f"{msg} (got {first['input']!r})"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{source}: {key}: {msg}{more}"


def validate_config(data: dict[str, Any], source: str = "<config>") -> Config:
    """Validate a dict against :class:`Config`; ConfigError names the source and key."""
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(source, err)) from None


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Config:
    """Load ``path`` (or the defaults when None), apply overrides, validate."""
    overrides = list(overrides)
    if path is None:
        data, source = {}, "<defaults>"
    else:
        resolved = resolve_config_path(path)
        data, source = read_toml(resolved), str(resolved)
    if overrides:
        data = apply_overrides(data, overrides)
        source = f"{source} (with --set)"
    return validate_config(data, source)


def config_hash(config: Config) -> str:
    """Stable hash of the fully-resolved config (defaults included)."""
    return stable_hash(config.model_dump(mode="json"))
