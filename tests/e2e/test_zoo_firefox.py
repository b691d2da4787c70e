"""The upload-widget zoo end to end in firefox-esr: the same cases and checks as
test_zoo_chromium.py (every widget x every way it takes photos: cloaked on the allowlisted
site, the original off the list and with protection off, and the no-leak regression test),
with the extension as a temporary add-on, the real native host, daemon and models.

One Firefox for the whole module (zoo/firefox.mjs), headful under xvfb-run: the paste cases
need a real clipboard. Firefox has no showOpenFilePicker, so the File System Access widgets
fall back to an <input> here by themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import ALLOWED, JOB_TIMEOUT_S, OTHER, Daemon
from server import TestSite
from test_firefox import (  # noqa: F401 - fixtures shared with test_firefox.py
    daemon,
    face_shift,
    firefox_config,
    firefox_extension,
    firefox_home,
    firefox_tools,
    headful,
)
from zoo_harness import FIREFOX_CASES, ZOO, ZooRun, ZooSuite, zoo_run, zoo_site

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def test_site(
    tmp_path_factory: pytest.TempPathFactory,
    firefox_tools: dict[str, str | None],  # noqa: F811
) -> Iterator[TestSite]:
    yield from zoo_site(str(firefox_tools["node"]), tmp_path_factory)


@pytest.fixture(scope="module")
def zoo(
    firefox_tools: dict[str, str | None],  # noqa: F811
    firefox_extension: Path,  # noqa: F811
    firefox_home: Path,  # noqa: F811
    e2e_env: dict[str, str],
    test_site: TestSite,
    daemon: Daemon,  # noqa: F811
    faces_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ZooRun]:
    if firefox_tools["xvfb_run"] is None:
        pytest.skip("the zoo runs Firefox headful (pastes need a real clipboard): install xvfb")
    profile = tmp_path_factory.mktemp("firefox_profile")
    config = {
        **firefox_config(firefox_tools, firefox_extension, firefox_home, profile, JOB_TIMEOUT_S),
        "secureHosts": [ALLOWED, OTHER],
        "clipboardOrigin": f"http://127.0.0.1:{test_site.port}",
        "waitSites": [ALLOWED],
    }
    argv = headful(firefox_tools, [str(firefox_tools["node"]), str(ZOO / "firefox.mjs")])
    folder = tmp_path_factory.mktemp("zoo_driver")
    yield from zoo_run("firefox", argv, config, folder, e2e_env, test_site, daemon, faces_dir)


class TestZooFirefox(ZooSuite):
    """Every case of ZooSuite that Firefox can play (no dropped folders), in Firefox."""

    CASES = FIREFOX_CASES
