"""The package's layers import one way (function-level imports included).

Layers, bottom to top: errors, io, config, skeleton, body, motion, scene, render, gt,
baseline, export, jobs, cli, torch (``odahgen.torch``, the optional PyTorch dataset: nothing
imports it). A package may import only from packages below it (and itself); ``odahgen.testing``
(fixtures) is imported by no runtime module; the Blender worker imports nothing of odahgen.
Inside each package the module graph has no cycle either.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "odahgen"
LAYERS = ["errors", "io", "config", "skeleton", "body", "motion", "scene", "render", "gt", "baseline",
          "export", "jobs", "cli", "torch"]
RANK = {name: i for i, name in enumerate(LAYERS)}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports() -> dict[str, set[str]]:
    """module -> the odahgen modules it imports anywhere in its body."""
    out: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        mod = _module_name(path)
        pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                # ``from odahgen.gt import fk`` imports the module odahgen.gt.fk
                names = [f"{target}.{a.name}" if _is_module(f"{target}.{a.name}") else target
                         for a in node.names]
            else:
                continue
            out[mod].update(n for n in names if n == "odahgen" or n.startswith("odahgen."))
        out.setdefault(mod, set())
    return out


def _top(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_packages_import_only_layers_below():
    bad = []
    for mod, targets in _imports().items():
        src = _top(mod)
        if src in ("", "testing") or mod == "odahgen.__main__":
            continue
        assert src in RANK, f"{mod}: package {src!r} has no layer; add it to LAYERS"
        for t in targets:
            dst = _top(t)
            if dst in ("", src):
                continue
            if dst == "testing":
                bad.append(f"{mod} imports the test fixtures {t}")
            elif RANK.get(dst, -1) > RANK[src]:
                bad.append(f"{mod} ({src}) imports {t} ({dst}, a layer above)")
    assert not bad, "\n".join(sorted(bad))


def test_nothing_below_jobs_imports_jobs():
    users = {_top(m) for m, ts in _imports().items() if any(_top(t) == "jobs" for t in ts)}
    assert users <= {"jobs", "cli", "testing"}, users


def test_blender_worker_imports_nothing_of_odahgen():
    assert not _imports()["odahgen.render.blender_worker"]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


@pytest.mark.parametrize("package", LAYERS[1:] + ["testing"])
def test_no_module_cycle_inside_a_package(package):
    imports = _imports()
    prefix = f"odahgen.{package}"
    modules = {m for m in imports if m == prefix or m.startswith(prefix + ".")}
    graph = {m: {t for t in imports[m] if t in modules and t != m} for m in modules}
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_no_module_over_800_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 800
            and not p.name.startswith("_rajagopal_data")}  # generated data
    assert not long, long


STAGE_PACKAGES = ("skeleton", "body", "motion", "scene", "render", "gt", "baseline")


def test_jobs_imports_the_stage_packages_through_their_fronts():
    inner = sorted(f"{mod} imports {t}" for mod, ts in _imports().items()
                   if _top(mod) == "jobs" for t in ts
                   if _top(t) in STAGE_PACKAGES and t != f"odahgen.{_top(t)}")
    assert not inner, "\n".join(inner)
