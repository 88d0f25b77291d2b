"""The documentation site (mkdocs.yml, docs/) builds with ``mkdocs build --strict``.

Strict mode turns every warning into an error: a link to a missing page or to a missing
heading anchor, a page left out of the nav. The second test proves the check has teeth on
a copy of the site with broken links; the third keeps the README a front page whose links
to docs/ exist.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README_MAX_BYTES = 15 * 1024


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True, text=True, timeout=300, cwd=config.parent)


def test_docs_site_builds_strictly(tmp_path):
    result = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    assert "WARNING" not in log, log
    for page in ("index", "getting-started", "configuration", "cli", "gt", "farm"):
        path = tmp_path / "site" / ("index.html" if page == "index" else f"{page}/index.html")
        assert path.is_file(), f"{path} was not built"


def test_docs_site_build_fails_on_broken_links(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "index.md"
    for link in ("[missing page](no-such-page.md)", "[missing anchor](cli.md#no-such-heading)"):
        page.write_text((ROOT / "docs" / "index.md").read_text(encoding="utf-8") + f"\n{link}\n",
                        encoding="utf-8")
        result = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
        log = result.stdout + result.stderr
        assert result.returncode != 0, f"a broken link passed the strict build: {link}\n{log}"
        target = link.split("(")[1].rstrip(")")
        assert target.split("#")[-1] in log, log


def test_readme_is_a_front_page_with_working_links():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    size = len(text.encode("utf-8"))
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes: keep it a front page (docs/ has the rest)"
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert any(t.startswith("docs/") for t in local)
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
