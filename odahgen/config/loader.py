"""Load a TOML config, apply ``--set a.b=value`` overrides, validate, hash.

Errors name the file, the key and the reason in one line, e.g.
``configs/x.toml: render.width: Input should be a valid integer (got 'big')``.
"""

from __future__ import annotations

import copy
import re
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
    except UnicodeDecodeError as err:  # TOML is UTF-8 only
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.object[err.start:err.start + 1]!r} at "
                          f"offset {err.start}); save the config as UTF-8") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None


_AFTER_VALUE = re.compile(r"^Expected newline or end of document after a statement \(at line 1, column (\d+)\)")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"render.width=640"`` -> (["render", "width"], 640). Values are TOML literals (a
    trailing ``# comment`` is allowed); a bare word that is not one (``cycles``,
    ``/data/my model.osim``) is taken as a plain string. Anything else is a ConfigError: text
    after the value (``motion.fps=60 extra = 1``), a second key on another line, a broken
    literal (``[1, 2``) -- never silently truncated."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected KEY=VALUE, e.g. render.engine=cycles")
    key, raw = text.split("=", 1)
    key, raw = key.strip(), raw.strip()
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise ConfigError(f"--set {text}: empty key")
    prefix = "v = "
    try:
        doc = tomllib.loads(f"{prefix}{raw}")
    except tomllib.TOMLDecodeError as err:
        after = _AFTER_VALUE.match(str(err))
        if after:
            rest = raw[max(0, int(after.group(1)) - 1 - len(prefix)):].strip()
            raise ConfigError(f"--set {text}: unexpected text after the value: {rest!r} (one KEY=VALUE "
                              f"per --set; quote a string with spaces: {key}='...')") from None
        if "=" in raw or "\n" in raw or raw[:1] in ("'", '"', "[", "{"):
            raise ConfigError(f"--set {text}: not a valid TOML value ({err})") from None
        return parts, raw  # a bare word: a plain string
    extra = sorted(set(doc) - {"v"})
    if extra:
        raise ConfigError(f"--set {text}: unexpected TOML after the value (sets {', '.join(extra)}); "
                          f"give one KEY=VALUE per --set")
    return parts, doc["v"]


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
