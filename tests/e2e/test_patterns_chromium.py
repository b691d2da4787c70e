"""The plain upload patterns (site/p-*.html) end to end in Debian's Chromium, one browser for
the whole module: detached inputs, inputs attached after click() or removed before their
change, showPicker(), a closed shadow root, composers in same-origin / about:blank / srcdoc
frames, drops read through webkitGetAsEntry() (a folder too), a paste into a contenteditable,
and a page that prefers showOpenFilePicker(). Each on the allowlisted site (cloaked), on a
site off the list and with protection off (the original). Real host, daemon and models.
Seconds per case go to artifacts/patterns-chromium.json."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from checks import FaceShift
from harness import (
    ARTIFACTS,
    EXTENSION_ID,
    HERE,
    JOB_TIMEOUT_S,
    ROOT,
    Daemon,
    driver_result,
    run_driver,
)
from patterns import (
    PATTERNS,
    WHERE,
    build_cases,
    case_id,
    check_pattern,
    run_batch,
    selected,
    write_timings,
)
from server import TestSite
from test_chromium import face_shift  # noqa: F401 - a fixture
from websockets.exceptions import WebSocketException

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def batch(
    browser_tools: dict[str, str],
    extension_dir: Path,
    profile: Path,
    e2e_env: dict[str, str],
    test_site: TestSite,
    daemon: Daemon,
    faces_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    """Every case, in one Chromium: the driver's per-case results."""
    scratch = tmp_path_factory.mktemp("patterns")
    cases = build_cases(selected(PATTERNS), faces_dir, scratch, test_site.port, daemon)
    for case in cases:
        if case["id"] == "detachedsocial":
            case["overlayScreenshot"] = str(ARTIFACTS / "patterns-overlay-cloaked.png")
            case["helpLink"] = True
    config = {
        "chromium": browser_tools["chromium"],
        "extension": str(extension_dir),
        "profile": str(profile),
        "extensionId": EXTENSION_ID,
        "timeoutMs": int(JOB_TIMEOUT_S * 1000),
        "clipboardOrigin": f"http://127.0.0.1:{test_site.port}",
        "waitSites": ["social.test"],
        "secureOrigins": [f"http://{h}:{test_site.port}" for h in sorted(set(WHERE.values()))],
        "cases": cases,
    }
    argv = [browser_tools["node"], str(HERE / "patterns_chromium.mjs")]
    batch = run_batch(argv, config, scratch, e2e_env, daemon)
    yield batch
    write_timings("chromium", batch["rows"])


@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.name)
def test_pattern(
    pattern: Any,
    where: str,
    batch: dict[str, Any],
    test_site: TestSite,
    faces_dir: Path,
    face_shift: FaceShift,  # noqa: F811
) -> None:
    result = check_pattern(batch, pattern, where, test_site, faces_dir, face_shift)
    if case_id(pattern, where) == "detachedsocial":
        assert "help" in result, "the panel's link was not followed"
        url = f"chrome-extension://{EXTENSION_ID}/pages/cloaking.html"
        assert result["help"]["url"] == url, result["help"]
        assert "does not do" in result["help"]["title"]


def test_popup_says_how_to_install_a_missing_helper(
    browser_tools: dict[str, str],
    extension_dir: Path,
    e2e_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """A profile where `cloaker install` never ran: the popup says what to do, not the
    browser's "Specified native messaging host not found."."""
    config = {
        "kind": "missing-helper",
        "chromium": browser_tools["chromium"],
        "extension": str(extension_dir),
        "profile": str(tmp_path / "profile"),
        "extensionId": EXTENSION_ID,
        "popupScreenshot": str(ARTIFACTS / "popup-helper-missing.png"),
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    argv = [browser_tools["node"], str(HERE / "patterns_chromium.mjs"), str(path)]
    result = run_driver(argv, e2e_env, 180)
    assert "not found" in result["helper"]["error"]["message"]  # what the browser said
    popup = result["popup"]
    assert "cloaker install" in popup["message"]
    assert "native messaging" not in popup["message"].lower()
    assert popup["install"] and popup["link"] == "../pages/install.html"
    assert "cloaker install" in result["installPage"]


def test_stored_helper_state_follows_the_daemon_without_the_popup(
    browser_tools: dict[str, str],
    extension_dir: Path,
    profile: Path,
    e2e_env: dict[str, str],
    daemon: Daemon,
    tmp_path: Path,
) -> None:
    """The browser starts while the daemon loads its models: the state the extension stores
    (badge, popup) goes from warming to ready without the popup open, soon after the daemon
    is ready (it used to stay "warming" until the popup was opened)."""
    daemon.stop()
    config = {
        "kind": "warm-up",
        "chromium": browser_tools["chromium"],
        "extension": str(extension_dir),
        "profile": str(profile),
        "extensionId": EXTENSION_ID,
        "timeoutMs": int(JOB_TIMEOUT_S * 1000),
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    try:
        proc = subprocess.Popen(
            [browser_tools["node"], str(HERE / "patterns_chromium.mjs"), str(path)],
            env=e2e_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        # The host starts the daemon; note when the daemon itself says it is ready.
        ready_at = None
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while ready_at is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                if daemon.status()["state"] == "ready":
                    ready_at = time.time()
            except (RuntimeError, OSError, WebSocketException):
                pass  # not up yet (no discovery file, refused, closed): ask again
            time.sleep(0.2)
        stdout, stderr = proc.communicate(timeout=JOB_TIMEOUT_S)
    finally:
        daemon.stop()
        daemon.start()
    result = driver_result(proc.returncode, stdout, stderr)
    states = result["states"]
    assert ready_at is not None, f"the daemon never said ready; extension saw {states}"
    assert any(s["state"] == "connected/warming" for s in states), states
    assert states[-1]["state"] == "connected/ready"
    lag = states[-1]["at"] - ready_at
    assert lag < 10, f"the stored state caught up {lag:.1f} s after the daemon was ready"
