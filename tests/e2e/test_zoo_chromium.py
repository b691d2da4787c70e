"""The upload-widget zoo end to end in Debian's Chromium, no mocks: pages built from the npm
packages web apps use to take photos (tests/e2e/zoo/), the unpacked extension, the real
native host registered by `cloaker install`, the real daemon with real models.

Every widget x every way it takes photos (pick in its own file chooser, drop, paste where it
supports it): cloaked on ``social.test``, the original on ``other.test`` (off the list) and
with protection switched off through the daemon; and the regression test that fails if any
widget ever receives an uncloaked photo on the allowlisted site. One Chromium for the whole
module (zoo/chromium.mjs); the table of results and seconds goes to artifacts/zoo-*.json.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import ALLOWED, EXTENSION_ID, JOB_TIMEOUT_S, OTHER, Daemon
from server import TestSite
from test_chromium import face_shift  # noqa: F401  (a fixture)
from zoo_harness import ZOO, ZooRun, ZooSuite, zoo_run, zoo_site

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def test_site(
    tmp_path_factory: pytest.TempPathFactory, browser_tools: dict[str, str]
) -> Iterator[TestSite]:
    yield from zoo_site(browser_tools["node"], tmp_path_factory)


@pytest.fixture(scope="module")
def zoo(
    browser_tools: dict[str, str],
    extension_dir: Path,
    profile: Path,
    e2e_env: dict[str, str],
    test_site: TestSite,
    daemon: Daemon,
    faces_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ZooRun]:
    origins = [f"http://{host}:{test_site.port}" for host in (ALLOWED, OTHER)]
    config = {
        "chromium": browser_tools["chromium"],
        "extension": str(extension_dir),
        "profile": str(profile),
        "extensionId": EXTENSION_ID,
        "timeoutMs": int(JOB_TIMEOUT_S * 1000),
        "secureOrigins": origins,
        "clipboardOrigin": f"http://127.0.0.1:{test_site.port}",
        "waitSites": [ALLOWED],
    }
    argv = [browser_tools["node"], str(ZOO / "chromium.mjs")]
    folder = tmp_path_factory.mktemp("zoo_driver")
    yield from zoo_run("chromium", argv, config, folder, e2e_env, test_site, daemon, faces_dir)


class TestZooChromium(ZooSuite):
    """Every case of ZooSuite, in Chromium."""
