"""The upload-widget zoo end to end in firefox-esr: the same cases and checks as
test_zoo_chromium.py (every widget x every way it takes photos: cloaked on the allowlisted
site, the original off the list and with protection off, and the no-leak regression test),
with the extension as a temporary add-on, the real native host, daemon and models.

One Firefox for the whole module (zoo/firefox.mjs), headful under xvfb-run: the paste cases
need a real clipboard. Firefox has no showOpenFilePicker, so the File System Access widgets
fall back to an <input> here by themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from checks import FaceShift
from harness import ALLOWED, ARTIFACTS, JOB_TIMEOUT_S, OTHER, Daemon
from server import TestSite, Upload
from test_chromium import assert_cloaked
from test_firefox import (  # noqa: F401 - fixtures shared with test_firefox.py
    EXTENSION_UUID,
    FIREFOX_ID,
    XVFB_SCREEN,
    daemon,
    face_shift,
    firefox_extension,
    firefox_home,
    firefox_tools,
)
from zoo_harness import FIREFOX_CASES, ZOO, CheckCloaked, Driver, ZooRun, ZooSuite, build_zoo

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def test_site(
    tmp_path_factory: pytest.TempPathFactory,
    firefox_tools: dict[str, str | None],  # noqa: F811
) -> Iterator[TestSite]:
    """The test site with the zoo, freshly built, under /zoo/."""
    built = build_zoo(str(firefox_tools["node"]), tmp_path_factory.mktemp("zoo"))
    with TestSite(mounts={"/zoo/": built}) as site:
        yield site


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
    folder = tmp_path_factory.mktemp("zoo_driver")
    config = {
        "firefox": firefox_tools["firefox"],
        "extension": str(firefox_extension),
        "home": str(firefox_home),
        "profile": str(tmp_path_factory.mktemp("firefox_profile")),
        "extensionId": FIREFOX_ID,
        "extensionUuid": EXTENSION_UUID,
        "timeoutMs": int(JOB_TIMEOUT_S * 1000),
        "secureHosts": [ALLOWED, OTHER],
        "clipboardOrigin": f"http://127.0.0.1:{test_site.port}",
        "waitSites": [ALLOWED],
    }
    (folder / "config.json").write_text(json.dumps(config))
    ARTIFACTS.mkdir(exist_ok=True)
    argv = [
        str(firefox_tools["xvfb_run"]),
        "-a",
        "-s",
        XVFB_SCREEN,
        str(firefox_tools["node"]),
        str(ZOO / "firefox.mjs"),
        str(folder / "config.json"),
    ]
    # When the helper is missing, the host gives up on a daemon after 5 s, not 60.
    env = {**e2e_env, "CLOAKER_HOST_WAIT_S": "5"}
    driver = Driver(argv, env, ARTIFACTS / "zoo-firefox-driver.log")
    run = ZooRun("firefox", driver, test_site, daemon, faces_dir, folder)
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


class TestZooFirefox(ZooSuite):
    """Every case of ZooSuite that Firefox can play (no dropped folders), in Firefox."""

    CASES = FIREFOX_CASES
