"""Regenerate the README's "stages in detail" block from docs/*.md.

The stage pages in docs/ are the source of truth; the README carries a copy with every heading
demoted by two levels, between the two marker comments below. Run after editing a page:

    .venv/bin/python tools/readme_docs.py          # rewrite README.md
    .venv/bin/python tools/readme_docs.py --check  # exit 1 if README.md is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = "<!-- stage docs: generated from docs/*.md; edit those files -->"
END = "<!-- end of stage docs -->"
#: stage pages in pipeline order
PAGES = ["skeleton.md", "motion.md", "body.md", "render.md", "gt.md"]
INTRO = "## The stages in detail\n\nEach section below is the stage's page in `docs/` (the source of truth; `make docs` regenerates\nthis block after a page changes).\n"


def demote(text: str, levels: int = 2) -> str:
    """Add ``levels`` '#' to every ATX heading outside fenced code blocks."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#{1,6} ", line):
            line = "#" * levels + line
        out.append(line)
    return "\n".join(out).strip() + "\n"


def block(docs: Path = ROOT / "docs") -> str:
    """The generated text between (and including) the two markers."""
    parts = [START, "", INTRO]
    for name in PAGES:
        parts.append(demote((docs / name).read_text(encoding="utf-8")))
    parts.append(END)
    return "\n".join(parts)


def render(readme: str, docs: Path = ROOT / "docs") -> str:
    """README text with the block replaced by a freshly generated one."""
    i, j = readme.find(START), readme.find(END)
    if i < 0 or j < i:
        raise SystemExit(f"README.md: the markers {START!r} ... {END!r} are missing")
    return readme[:i] + block(docs) + readme[j + len(END):]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check; exit 1 when out of date")
    args = ap.parse_args(argv)
    path = ROOT / "README.md"
    old = path.read_text(encoding="utf-8")
    new = render(old)
    if args.check:
        if new != old:
            print("README.md: the stage docs block is out of date; run tools/readme_docs.py", file=sys.stderr)
            return 1
        return 0
    if new != old:
        tmp = path.with_suffix(".md.tmp")
        tmp.write_text(new, encoding="utf-8")
        tmp.replace(path)
        print("README.md: stage docs block regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
