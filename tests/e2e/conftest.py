"""Fixtures of the end-to-end browser tests: the test site, the real daemon, the extension
built for Chromium, a fresh profile with the real native host registered by
``cloaker install``, and ``run_browser`` to drive one scenario in Chromium.

Skips (with the reason) when Debian's chromium or node's playwright-core is missing;
CI (.ci/run) installs both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    ALLOWED,
    ARTIFACTS,
    CHROMIUM,
    EXTENSION_ID,
    HERE,
    JOB_TIMEOUT_S,
    MODE,
    ROOT,
    Daemon,
    RunBrowser,
    bin_path,
    run_driver,
)
from server import TestSite


@pytest.fixture(scope="session")
def browser_tools() -> dict[str, str]:
    """Paths of chromium and node, or skip."""
    node = shutil.which("node")
    if not CHROMIUM.exists():
        pytest.skip(f"chromium not found at {CHROMIUM}: `apt-get install chromium` (CI does)")
    if node is None:
        pytest.skip("node not found: the browser tests drive Chromium with playwright-core")
    if not (ROOT / "node_modules" / "playwright-core").is_dir():
        pytest.skip("node_modules/playwright-core missing: run `npm ci` (CI does)")
    return {"chromium": str(CHROMIUM), "node": node}


@pytest.fixture(scope="module")
def e2e_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CLOAKER_HOME shared by the daemon, the installer and the native host of a module."""
    return tmp_path_factory.mktemp("e2e_home")


@pytest.fixture(scope="module")
def e2e_env(e2e_home: Path, models_dir: Path) -> dict[str, str]:
    """Environment for every process of the chain (browser, host, daemon)."""
    env = dict(os.environ)
    env.update(CLOAKER_HOME=str(e2e_home), CLOAKER_MODELS_DIR=str(models_dir))
    env.pop("DISPLAY", None)  # a daemon started by the host must not try a tray icon
    return env


@pytest.fixture(scope="module")
def test_site() -> Iterator[TestSite]:
    with TestSite() as site:
        yield site


@pytest.fixture(scope="module")
def daemon(
    e2e_home: Path, e2e_env: dict[str, str], browser_tools: dict[str, str]
) -> Iterator[Daemon]:
    """The real daemon with real models, allowlisting only ``social.test``."""
    ARTIFACTS.mkdir(exist_ok=True)
    running = Daemon(e2e_home, e2e_env, e2e_home / "daemon-stdout.log")
    running.start()
    running.set(sites=[{"host": ALLOWED, "enabled": True}], protection=True, mode=MODE)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def extension_dir(tmp_path_factory: pytest.TempPathFactory, browser_tools: dict[str, str]) -> Path:
    """The Chromium build, with the test site's host permission granted up front as a
    default site's is (a test cannot click the browser's permission prompt)."""
    out = tmp_path_factory.mktemp("extension")
    subprocess.run(
        [
            browser_tools["node"],
            str(ROOT / "extension" / "build.mjs"),
            "--out",
            str(out),
            "--browser",
            "chrome",
            "--no-pack",
            "--extra-host-permission",
            f"*://*.{ALLOWED}/*",
        ],
        check=True,
        capture_output=True,
    )
    return out / "chrome"


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory, e2e_env: dict[str, str]) -> Path:
    """A fresh Chromium user-data-dir with the real native host registered in its
    NativeMessagingHosts folder by `cloaker install`."""
    udd = tmp_path_factory.mktemp("profile")
    subprocess.run(
        [
            bin_path("cloaker"),
            "install",
            "--browser",
            "chromium",
            "--chromium-user-data-dir",
            str(udd),
            "--no-autostart",
            "--no-models",
        ],
        env=e2e_env,
        check=True,
        capture_output=True,
    )
    manifest = json.loads((udd / "NativeMessagingHosts" / "com.cloaker.host.json").read_text())
    assert manifest["allowed_origins"] == [f"chrome-extension://{EXTENSION_ID}/"]
    return udd


@pytest.fixture(scope="module")
def run_browser(
    browser_tools: dict[str, str],
    extension_dir: Path,
    profile: Path,
    e2e_env: dict[str, str],
    test_site: TestSite,
    tmp_path_factory: pytest.TempPathFactory,
) -> RunBrowser:
    """``run_browser(flow=..., files=[...], expect=..., host=ALLOWED, ...)``: one scenario in
    Chromium (tests/e2e/chromium.mjs); returns what the driver saw."""
    configs = tmp_path_factory.mktemp("driver")

    def run(
        *,
        flow: str,
        host: str = ALLOWED,
        timeout_s: float = 2 * JOB_TIMEOUT_S,
        env: dict[str, str] | None = None,
        **scenario: Any,
    ) -> dict[str, Any]:
        scenario = {
            "url": f"http://{host}:{test_site.port}/{flow}.html",
            "flow": flow,
            "host": host,
            "clipboardOrigin": f"http://127.0.0.1:{test_site.port}",
            "waitSites": [ALLOWED],
            **scenario,
        }
        scenario["files"] = [str(Path(f).resolve()) for f in scenario.get("files", [])]
        config = {
            "chromium": browser_tools["chromium"],
            "extension": str(extension_dir),
            "profile": str(profile),
            "extensionId": EXTENSION_ID,
            "timeoutMs": int(timeout_s * 1000),
            "scenario": scenario,
        }
        path = configs / f"{flow}-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(config))
        return run_driver(
            [browser_tools["node"], str(HERE / "chromium.mjs"), str(path)],
            env or e2e_env,
            timeout_s + 120,
        )

    return run
