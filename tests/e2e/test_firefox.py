"""End to end in firefox-esr, no mocks: the extension installed as a temporary add-on in a fresh
profile (puppeteer-core over WebDriver BiDi), the real native host registered by
``cloaker install --browser firefox --firefox-home`` (Firefox runs with HOME pointed there),
the real daemon (``--no-tray``) with real models, and the local test site.

The same proof as test_chromium.py, with its photos and checks: every upload flow cloaked on
an allowlisted site; the original on a site off the allowlist and with protection switched
off through the daemon; fail-closed on daemon failure, with "Upload original anyway" sending
the original. Headless, except the paste flow: headless Firefox's clipboard carries text
only, so that one runs headful under xvfb-run (tests/e2e/README.md has the details).
Screenshots go to ``artifacts/firefox-*.png``.
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
from checks import FaceShift
from harness import (
    ALLOWED,
    ARTIFACTS,
    HERE,
    JOB_TIMEOUT_S,
    MODE,
    OTHER,
    ROOT,
    Daemon,
    bin_path,
    run_driver,
)
from server import TestSite
from test_chromium import FLOW_PHOTOS, assert_cloaked, assert_page_never_saw

pytestmark = pytest.mark.browser

FIREFOX = Path(os.environ.get("CLOAKER_FIREFOX", "/usr/bin/firefox-esr"))
FIREFOX_ID = json.loads((ROOT / "extension" / "ids.json").read_text())["firefox_id"]
XVFB_SCREEN = "-screen 0 1280x1024x24"
# Firefox's internal UUID for the add-on (its moz-extension:// host), pinned so that the
# storage of one run is found by the next.
EXTENSION_UUID = "6c1d2a8e-0d3b-4b7e-9a51-c10a4e2e0001"


@pytest.fixture(scope="session")
def firefox_tools() -> dict[str, str | None]:
    """Paths of firefox-esr, node and xvfb-run (None when missing), or skip."""
    node = shutil.which("node")
    if not FIREFOX.exists():
        pytest.skip(f"firefox-esr not found at {FIREFOX}: `apt-get install firefox-esr` (CI does)")
    if node is None:
        pytest.skip("node not found: the Firefox tests drive firefox-esr with puppeteer-core")
    if not (ROOT / "node_modules" / "puppeteer-core").is_dir():
        pytest.skip("node_modules/puppeteer-core missing: run `npm ci` (CI does)")
    return {"firefox": str(FIREFOX), "node": node, "xvfb_run": shutil.which("xvfb-run")}


@pytest.fixture(scope="module")
def daemon(
    e2e_home: Path, e2e_env: dict[str, str], firefox_tools: dict[str, str | None]
) -> Iterator[Daemon]:
    """The real daemon with real models, allowlisting only ``social.test`` (this module's own:
    the conftest one needs Chromium)."""
    ARTIFACTS.mkdir(exist_ok=True)
    running = Daemon(e2e_home, e2e_env, e2e_home / "daemon-stdout.log")
    running.start()
    running.set(sites=[{"host": ALLOWED, "enabled": True}], protection=True, mode=MODE)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def face_shift(models_dir: Path) -> FaceShift:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLOAKER_MODELS_DIR", str(models_dir))  # module scope: set it here too
        return FaceShift()


@pytest.fixture(scope="module")
def firefox_extension(
    tmp_path_factory: pytest.TempPathFactory, firefox_tools: dict[str, str | None]
) -> Path:
    """The Firefox build, with the test site's host permission granted up front."""
    out = tmp_path_factory.mktemp("extension")
    subprocess.run(
        [
            str(firefox_tools["node"]),
            str(ROOT / "extension" / "build.mjs"),
            "--out",
            str(out),
            "--browser",
            "firefox",
            "--no-pack",
            "--extra-host-permission",
            f"*://*.{ALLOWED}/*",
        ],
        check=True,
        capture_output=True,
    )
    return out / "firefox"


@pytest.fixture(scope="module")
def firefox_home(tmp_path_factory: pytest.TempPathFactory, e2e_env: dict[str, str]) -> Path:
    """A HOME for Firefox whose .mozilla/native-messaging-hosts/ holds the real host manifest,
    written by `cloaker install`."""
    home = tmp_path_factory.mktemp("firefox_home")
    subprocess.run(
        [
            bin_path("cloaker"),
            "install",
            "--browser",
            "firefox",
            "--firefox-home",
            str(home),
            "--no-autostart",
            "--no-models",
        ],
        env=e2e_env,
        check=True,
        capture_output=True,
    )
    manifest_path = home / ".mozilla" / "native-messaging-hosts" / "com.cloaker.host.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["allowed_extensions"] == [FIREFOX_ID]
    return home


def firefox_config(
    firefox_tools: dict[str, str | None],
    extension: Path,
    home: Path,
    profile: Path,
    timeout_s: float,
) -> dict[str, Any]:
    """What every Firefox driver's config holds (firefox_lib.mjs's launchFirefox)."""
    return {
        "firefox": firefox_tools["firefox"],
        "extension": str(extension),
        "home": str(home),
        "profile": str(profile),
        "extensionId": FIREFOX_ID,
        "extensionUuid": EXTENSION_UUID,
        "timeoutMs": int(timeout_s * 1000),
    }


def headful(firefox_tools: dict[str, str | None], argv: list[str]) -> list[str]:
    """`argv` under xvfb-run: Firefox headful, with a real clipboard."""
    return [str(firefox_tools["xvfb_run"]), "-a", "-s", XVFB_SCREEN, *argv]


@pytest.fixture(scope="module")
def run_firefox(
    firefox_tools: dict[str, str | None],
    firefox_extension: Path,
    firefox_home: Path,
    e2e_env: dict[str, str],
    test_site: TestSite,
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    """``run_firefox(flow=..., files=[...], expect=..., host=ALLOWED, ...)``: one scenario in
    firefox-esr (tests/e2e/firefox.mjs); returns what the driver saw."""
    configs = tmp_path_factory.mktemp("driver")
    # One Firefox profile for the module, kept between runs as a user's is: the extension
    # remembers the daemon's settings (the allowlist) when the daemon is gone.
    profile = tmp_path_factory.mktemp("firefox_profile")

    def run(
        *,
        flow: str,
        host: str = ALLOWED,
        timeout_s: float = 2 * JOB_TIMEOUT_S,
        env: dict[str, str] | None = None,
        **scenario: Any,
    ) -> dict[str, Any]:
        headless = flow != "paste"
        if not headless and firefox_tools["xvfb_run"] is None:
            pytest.skip(
                "the paste flow needs a real clipboard (headless Firefox's carries text only): "
                "`apt-get install xvfb xauth` (CI does)"
            )
        scenario = {
            "url": f"http://{host}:{test_site.port}/{flow}.html",
            "flow": flow,
            "host": host,
            "clipboardOrigin": f"http://127.0.0.1:{test_site.port}",
            "waitSites": [ALLOWED],
            "finalScreenshot": str(ARTIFACTS / f"firefox-{flow}-{host.split('.')[0]}.png"),
            **scenario,
        }
        scenario["files"] = [str(Path(f).resolve()) for f in scenario.get("files", [])]
        config = {
            **firefox_config(firefox_tools, firefox_extension, firefox_home, profile, timeout_s),
            "headless": headless,
            "scenario": scenario,
        }
        path = configs / f"{flow}-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(config))
        argv = [str(firefox_tools["node"]), str(HERE / "firefox.mjs"), str(path)]
        if not headless:
            argv = headful(firefox_tools, argv)
        return run_driver(argv, env or e2e_env, timeout_s + 180)

    return run


def tray(daemon: Daemon, protection: bool) -> list[str]:
    """The command line that switches protection through the daemon, as the tray does."""
    data = json.dumps({"protection": protection})
    return [sys.executable, str(HERE / "daemon_client.py"), "--home", str(daemon.home), "set", data]


@pytest.mark.parametrize("flow", list(FLOW_PHOTOS))
def test_each_flow_uploads_a_cloaked_photo(
    flow: str,
    faces_dir: Path,
    daemon: Daemon,
    run_firefox: Any,
    test_site: TestSite,
    face_shift: FaceShift,
) -> None:
    photo = faces_dir / FLOW_PHOTOS[flow]
    scenario: dict[str, Any] = {"flow": flow, "expect": "cloaked", "waitReady": True}
    if flow == "paste":
        scenario.update(files=[], pastePng=str(photo))
    else:
        scenario["files"] = [photo]
    if flow == "app":
        scenario["progressScreenshot"] = str(ARTIFACTS / "firefox-overlay-progress.png")
    result = run_firefox(**scenario)

    assert result["extensionId"] == FIREFOX_ID
    assert result["injected"], "the content script was not injected on the allowlisted site"
    assert result["overlayShown"]
    (upload,) = test_site.take(flow)
    assert upload.host.split(":")[0] == ALLOWED
    original = photo.read_bytes()
    if flow == "paste":
        assert upload.filename == "image.png" and upload.content_type == "image/png"
    else:
        assert upload.filename == photo.name
        assert upload.content_type == "image/jpeg"
        assert_page_never_saw(result, len(original))
    assert_cloaked(original, upload, face_shift)


def test_site_not_on_the_allowlist_gets_the_original(
    faces_dir: Path, daemon: Daemon, run_firefox: Any, test_site: TestSite
) -> None:
    photo = faces_dir / FLOW_PHOTOS["app"]
    result = run_firefox(flow="app", host=OTHER, files=[photo], expect="untouched")

    assert result["injected"] is False, "the content script ran on a site off the allowlist"
    assert result["overlayShown"] is False
    assert [e["trusted"] for e in result["seen"]] == [True, True], "events were re-dispatched"
    (upload,) = test_site.take("app")
    assert upload.host.split(":")[0] == OTHER
    assert upload.data == photo.read_bytes()


def test_protection_switched_off_through_the_daemon_uploads_the_original(
    faces_dir: Path, daemon: Daemon, run_firefox: Any, test_site: TestSite
) -> None:
    photo = faces_dir / FLOW_PHOTOS["form"]
    try:
        result = run_firefox(
            flow="form",
            files=[photo],
            expect="untouched",
            waitReady=True,
            beforeUpload=tray(daemon, False),
            waitProtection=False,
            afterUpload=tray(daemon, True),
            waitProtectionAfter=True,
            finalScreenshot=str(ARTIFACTS / "firefox-protection-off.png"),
        )
    finally:
        daemon.set(protection=True)
    assert json.loads(result["beforeUpload"])["protection"] is False
    assert result["injected"], "the site is allowlisted: the content script is there, idle"
    assert result["overlayShown"] is False
    assert [e["trusted"] for e in result["seen"]] == [True, True], "events were re-dispatched"
    (upload,) = test_site.take("form")
    assert upload.data == photo.read_bytes()


def test_daemon_dies_mid_job_fails_closed_then_upload_original_anyway(
    faces_dir: Path, daemon: Daemon, run_firefox: Any, test_site: TestSite
) -> None:
    photo = faces_dir / FLOW_PHOTOS["app"]
    assert daemon.pid is not None
    kill = [sys.executable, "-c", f"import os, signal; os.kill({daemon.pid}, signal.SIGKILL)"]
    try:
        result = run_firefox(
            flow="app",
            files=[photo],
            expect="notice",
            answer="original",
            waitReady=True,
            onProgress=kill,
            noticeScreenshot=str(ARTIFACTS / "firefox-notice-failure.png"),
            finalScreenshot=str(ARTIFACTS / "firefox-notice-original-uploaded.png"),
        )
    finally:
        daemon.stop()
        daemon.start()
    assert "Upload original anyway" in result["notice"]
    assert "stopped while working" in result["notice"] or "not running" in result["notice"]
    assert result["statusBeforeAnswer"] == "" and result["seenBeforeAnswer"] == []
    assert result["inputFilesBeforeAnswer"] == 0, "the page kept a file while failing closed"
    (upload,) = test_site.take("app")
    assert upload.data == photo.read_bytes()


def test_daemon_unreachable_fails_closed_then_upload_original_or_cancel(
    faces_dir: Path,
    daemon: Daemon,
    run_firefox: Any,
    test_site: TestSite,
    e2e_env: dict[str, str],
) -> None:
    from native_host.discovery import InstanceLock

    photo = faces_dir / FLOW_PHOTOS["form"]
    env = {**e2e_env, "CLOAKER_HOST_WAIT_S": "3"}
    # The profile has met the daemon before (as any user's has): it knows the allowlist.
    run_firefox(flow="form", kind="install", waitReady=True)
    daemon.stop()
    # Hold the one-daemon lock: the host finds no daemon and cannot start one.
    lock = InstanceLock(daemon.home / "runtime" / "daemon.lock")
    lock.acquire()
    try:
        assert test_site.take() == []
        original = run_firefox(
            flow="form", files=[photo], expect="notice", answer="original", env=env
        )
        cancelled = run_firefox(
            flow="hidden",
            files=[photo],
            expect="notice",
            answer="cancel",
            env=env,
            noticeScreenshot=str(ARTIFACTS / "firefox-notice-unreachable.png"),
        )
    finally:
        lock.release()
        daemon.start()
    for result in (original, cancelled):
        assert "Upload original anyway" in result["notice"]
        assert "not running" in result["notice"] or "could not be started" in result["notice"]
        assert result["seenBeforeAnswer"] == []
        assert result["inputFilesBeforeAnswer"] == 0
    (upload,) = test_site.take("form")
    assert upload.data == photo.read_bytes()
    assert cancelled["seen"] == [] and cancelled["overlayGone"]
    assert test_site.take("hidden") == []
