"""The README's stage-docs block is generated from docs/*.md and must not drift from it."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("readme_docs", ROOT / "tools" / "readme_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_stage_block_matches_docs():
    tool = _tool()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert tool.render(readme) == readme, "README.md is out of date: run tools/readme_docs.py"


def test_demote_leaves_code_blocks_alone():
    tool = _tool()
    text = "# Title\n\n```\n# a shell comment\n```\n## Sub\n"
    assert tool.demote(text) == "### Title\n\n```\n# a shell comment\n```\n#### Sub\n"
