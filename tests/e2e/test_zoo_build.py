"""The upload-widget zoo builds offline from node_modules, and the test site serves it: every
page in widgets.json, and every script and stylesheet a page links, comes back from /zoo/
(no browser needed: this runs wherever node and `npm ci` are)."""

from __future__ import annotations

import re
import shutil
import urllib.request
from pathlib import Path

import pytest
from harness import ROOT
from server import TestSite
from zoo_harness import CASES, WIDGETS, build_zoo


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found: the zoo is bundled with esbuild from npm")
    if not (ROOT / "node_modules" / "esbuild").is_dir():
        pytest.skip("node_modules/esbuild missing: run `npm ci` (CI does)")
    return build_zoo(node, tmp_path_factory.mktemp("zoo"))


def fetch(url: str) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return response.read()


def test_every_page_and_what_it_links_is_served(built: Path) -> None:
    with TestSite(mounts={"/zoo/": built}) as site:
        base = f"http://127.0.0.1:{site.port}/zoo/"
        for widget, spec in WIDGETS.items():
            page = fetch(base + spec["page"]).decode()
            assert f'data-widget="{widget}"' in page
            linked = re.findall(r'(?:src|href)="([a-z][\w.-]*\.(?:js|css))"', page)
            assert any(name.endswith(".js") for name in linked), f"{spec['page']} loads no script"
            for name in linked:
                assert len(fetch(base + name)) > 100, f"{name} (linked by {spec['page']}) is empty"
        # The site's own pages are still served beside the mount.
        assert b"<h1>Social (test site)</h1>" in fetch(f"http://127.0.0.1:{site.port}/index.html")


def test_every_widget_has_a_case_and_every_case_a_target() -> None:
    assert {w for w, _ in CASES} == set(WIDGETS)
    for widget, flow in CASES:
        target = WIDGETS[widget][flow]
        assert target is None or isinstance(target, str), (widget, flow)
