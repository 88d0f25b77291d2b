"""The one adapter between the ground-truth code and the skeleton's forward kinematics.

Everything in ``odahgen.gt`` that needs FK (the validator's angles -> keypoints check, and
``odahgen eval`` from predicted angles + scales) calls these functions, so the rest of the
package and its tests do not depend on ``odahgen.skeleton`` being importable.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError


class FKUnavailable(OdahgenError):
    """The skeleton's forward kinematics cannot be used here (not built / not importable)."""


def _fk_module():
    try:
        return importlib.import_module("odahgen.skeleton.fk")
    except Exception as err:  # ImportError, or opensim failing to load
        raise FKUnavailable(f"odahgen.skeleton.fk is not importable ({type(err).__name__}: {err})") from None


def fk_status() -> tuple[bool, str]:
    """(available, reason): whether :func:`fk_keypoints` can run in this environment."""
    try:
        mod = _fk_module()
    except FKUnavailable as err:
        return False, str(err)
    if not callable(getattr(mod, "forward_kinematics", None)):
        return False, "odahgen.skeleton.fk has no forward_kinematics"
    return True, "ok"


def fk_keypoints(model_path: str | Path, angles: np.ndarray) -> np.ndarray:
    """Keypoints (T,44,3) m of the (scaled) model at ``model_path`` driven by ``angles``
    (T,39) rad (m for pelvis translations), in the order of ``KEYPOINT_NAMES``."""
    mod = _fk_module()
    fk = getattr(mod, "forward_kinematics", None)
    if fk is None:
        raise FKUnavailable("odahgen.skeleton.fk has no forward_kinematics")
    out = fk(str(model_path), np.asarray(angles, float))
    out = getattr(out, "keypoints", out)  # tolerate a result object with .keypoints
    if isinstance(out, dict):
        out = out["keypoints"]
    return np.asarray(out, float)


def default_generic_model() -> Path:
    """Path of the skeleton's built-in generic (unscaled) model."""
    try:
        skel = importlib.import_module("odahgen.skeleton")
    except Exception as err:
        raise FKUnavailable(f"odahgen.skeleton is not importable ({err})") from None
    for modname in ("odahgen.skeleton", "odahgen.skeleton.model", "odahgen.skeleton.build"):
        try:
            mod = skel if modname == "odahgen.skeleton" else importlib.import_module(modname)
        except Exception:
            continue
        fn = getattr(mod, "default_model_path", None)
        if callable(fn):
            return Path(fn())
    raise FKUnavailable("odahgen.skeleton provides no default_model_path()")


def fk_keypoints_from_scales(
    angles: np.ndarray, scales: np.ndarray, generic_model: str | Path | None = None
) -> np.ndarray:
    """Keypoints (T,44,3) m from angles (T,39) and segment scales (22,3, BODY_NAMES order,
    relative to the generic model) applied to ``generic_model`` (default: the skeleton's
    built-in model). Uses the skeleton's kinematic tree and its ``scaled_tree``."""
    mod = _fk_module()
    try:
        scale_mod = importlib.import_module("odahgen.skeleton.scale")
        load_tree, fk_tree, scaled_tree = mod.load_tree, mod.fk_tree, scale_mod.scaled_tree
    except Exception as err:
        raise FKUnavailable(f"the skeleton offers no scaled forward kinematics ({err}); give predicted keypoints") from None
    from odahgen.skeleton.names import BODY_NAMES

    scales = np.asarray(scales, float)
    if scales.shape != (len(BODY_NAMES), 3):
        raise OdahgenError(f"segment scales must be (22, 3), got {scales.shape}")
    tree = load_tree(str(generic_model) if generic_model else "builtin")
    s = np.ones((len(tree.body_names), 3))
    for i, body in enumerate(BODY_NAMES):
        s[tree.body_names.index(body)] = scales[i]
    out = fk_tree(scaled_tree(tree, s), np.asarray(angles, float))
    return np.asarray(getattr(out, "keypoints", out), float)
