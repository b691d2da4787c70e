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

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from checks import FaceShift
from harness import ALLOWED, ARTIFACTS, EXTENSION_ID, JOB_TIMEOUT_S, OTHER, Daemon
from server import TestSite, Upload
from test_chromium import assert_cloaked, face_shift  # noqa: F401  (a fixture)
from zoo_harness import ZOO, CheckCloaked, Driver, ZooRun, ZooSuite, build_zoo

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def test_site(
    tmp_path_factory: pytest.TempPathFactory, browser_tools: dict[str, str]
) -> Iterator[TestSite]:
    """The test site with the zoo, freshly built, under /zoo/."""
    built = build_zoo(browser_tools["node"], tmp_path_factory.mktemp("zoo"))
    with TestSite(mounts={"/zoo/": built}) as site:
        yield site


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
    folder = tmp_path_factory.mktemp("zoo_driver")
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
    (folder / "config.json").write_text(json.dumps(config))
    ARTIFACTS.mkdir(exist_ok=True)
    # When the helper is missing, the host gives up on a daemon after 5 s, not 60.
    env = {**e2e_env, "CLOAKER_HOST_WAIT_S": "5"}
    driver = Driver(
        [browser_tools["node"], str(ZOO / "chromium.mjs"), str(folder / "config.json")],
        env,
        ARTIFACTS / "zoo-chromium-driver.log",
    )
    run = ZooRun("chromium", driver, test_site, daemon, faces_dir, folder)
    try:
        yield run
    finally:
        driver.close()
        run.write_table()


@pytest.fixture(scope="module")
def check_cloaked(face_shift: FaceShift) -> CheckCloaked:  # noqa: F811
    def check(original: bytes, upload: Upload) -> dict[str, Any]:
        return assert_cloaked(original, upload, face_shift)

    return check


class TestZooChromium(ZooSuite):
    """Every case of ZooSuite, in Chromium."""
