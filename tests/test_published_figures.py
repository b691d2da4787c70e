"""The protection figures the extension's help page promises are the ones the README's mode
table states (both copied by hand from the curves: a mode that moves must move both)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE_NAMES = {"low": "low", "mid": "medium (default)", "high": "high"}


def readme_figures() -> dict[str, tuple[str, str]]:
    """Per shipped mode, the README table's aligned and worst-geometry cells."""
    out = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        m = re.match(r"\| `(low|mid|high)`( \(default\))? \|", line)
        if m:
            cells = [c.strip() for c in line.strip("|").split("|")]
            out[m.group(1)] = (cells[-2], cells[-1].split(",")[0])
    return out


def page_figures() -> dict[str, tuple[str, str]]:
    html = (ROOT / "extension/src/pages/cloaking.html").read_text()
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", html)
    return {name: (aligned, worst) for name, aligned, worst in rows}


def test_the_help_page_shows_the_readme_figures() -> None:
    readme, page = readme_figures(), page_figures()
    assert set(readme) == set(PAGE_NAMES)
    for mode, label in PAGE_NAMES.items():
        assert page[label] == readme[mode], mode
