"""Dataset configuration: TOML files validated by pydantic models."""

from odahgen.config.loader import config_hash, load_config, parse_override, validate_config
from odahgen.config.models import Config

__all__ = ["Config", "config_hash", "load_config", "parse_override", "validate_config"]
