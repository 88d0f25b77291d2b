"""The real per-trial pipeline: motion -> skeleton -> fit -> scene -> render -> gt -> qa.

Each stage function reads earlier outputs from the trial folder and calls the public API of
its stage package; this module is the only place that knows the order.
"""

from __future__ import annotations

import importlib
import os

from odahgen.config import Config
from odahgen.errors import OdahgenError
from odahgen.jobs.graph import Stage

STAGE_NAMES = ("motion", "skeleton", "fit", "scene", "render", "gt", "qa")


def stages_for(config: Config) -> list[Stage]:
    """The stages to run: the pipeline, or ``ODAHGEN_STAGE_FACTORY=module:function``
    (a test or a user's custom graph; it gets the config and returns a list of Stage)."""
    spec = os.environ.get("ODAHGEN_STAGE_FACTORY")
    if spec:
        module, _, func = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module), func)
        except (ImportError, AttributeError) as err:
            raise OdahgenError(f"ODAHGEN_STAGE_FACTORY={spec}: cannot load it: {err}") from None
        return factory(config)
    return pipeline_stages(config)


def pipeline_stages(config: Config) -> list[Stage]:
    from odahgen.jobs import stages as s

    return s.build(config)
