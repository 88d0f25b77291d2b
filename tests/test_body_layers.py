"""odahgen.body's module graph: acyclic inside the package, and one-way across layers
(body imports only errors, io, config, skeleton and itself). An AST scan, function-level
imports included."""

from __future__ import annotations

import ast
from pathlib import Path

BODY = Path(__file__).resolve().parents[1] / "odahgen" / "body"
ALLOWED = {"errors", "io", "config", "skeleton", "body"}


def _imports(path: Path) -> set[str]:
    """Every ``odahgen.*`` module a file imports, at any depth of its code."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("odahgen")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("odahgen"):
            out.add(node.module)
            # ``from odahgen.body import markers`` names a module too
            out |= {f"{node.module}.{a.name}" for a in node.names
                    if (BODY / f"{a.name}.py").is_file() and node.module == "odahgen.body"}
    return out


def body_graph() -> dict[str, set[str]]:
    """body module -> the body modules it imports (the front ``__init__`` excluded)."""
    mods = {p.stem for p in BODY.glob("*.py") if p.stem != "__init__"}
    graph = {}
    for m in mods:
        deps = set()
        for imp in _imports(BODY / f"{m}.py"):
            parts = imp.split(".")
            if parts[:2] == ["odahgen", "body"]:
                assert len(parts) > 2, f"body/{m}.py imports the package front odahgen.body"
                deps.add(parts[2])
        graph[m] = deps - {m}
    return graph


def test_body_modules_are_acyclic():
    graph = body_graph()
    state: dict[str, int] = {}

    def visit(m, stack):
        if state.get(m) == 1:
            raise AssertionError("import cycle in odahgen/body: " + " -> ".join(stack[stack.index(m):] + [m]))
        if state.get(m) == 2:
            return
        state[m] = 1
        for d in sorted(graph[m]):
            visit(d, stack + [m])
        state[m] = 2

    for m in sorted(graph):
        visit(m, [])


def test_body_imports_only_lower_layers():
    bad = []
    for path in sorted(BODY.glob("*.py")):
        for imp in _imports(path):
            parts = imp.split(".")
            if len(parts) > 1 and parts[1] not in ALLOWED:
                bad.append(f"body/{path.name} imports {imp}")
    assert not bad, bad
