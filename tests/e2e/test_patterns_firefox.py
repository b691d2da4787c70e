"""The plain upload patterns (site/p-*.html) end to end in firefox-esr, one browser for the
whole module, headful under xvfb-run (the paste case needs a real clipboard): the same cases
and checks as test_patterns_chromium.py, but the ones Firefox has no API for (dropping a
folder: a page script cannot put one in a drag; showOpenFilePicker: Firefox lacks it). Real
host, daemon and models. Seconds per case go to artifacts/patterns-firefox.json."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from checks import FaceShift
from harness import ALLOWED, JOB_TIMEOUT_S, ROOT, Daemon
from patterns import (
    PATTERNS,
    WHERE,
    build_cases,
    case_id,
    check_case,
    selected,
    write_timings,
)
from server import TestSite
from test_firefox import (  # noqa: F401 - fixtures shared with test_firefox.py
    EXTENSION_UUID,
    FIREFOX_ID,
    XVFB_SCREEN,
    daemon,
    firefox_extension,
    firefox_home,
    firefox_tools,
)

pytestmark = pytest.mark.browser
FIREFOX_PATTERNS = [p for p in PATTERNS if not p.chromium_only]


@pytest.fixture(scope="module")
def face_shift(models_dir: Path) -> FaceShift:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLOAKER_MODELS_DIR", str(models_dir))
        return FaceShift()


@pytest.fixture(scope="module")
def batch(
    firefox_tools: dict[str, str | None],  # noqa: F811
    firefox_extension: Path,  # noqa: F811
    firefox_home: Path,  # noqa: F811
    e2e_env: dict[str, str],
    test_site: TestSite,
    daemon: Daemon,  # noqa: F811
    faces_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    """Every case, in one Firefox: the driver's per-case results."""
    if firefox_tools["xvfb_run"] is None:
        pytest.skip("the paste case needs a real clipboard: `apt-get install xvfb xauth`")
    scratch = tmp_path_factory.mktemp("patterns")
    cases = build_cases(selected(FIREFOX_PATTERNS), faces_dir, scratch, test_site.port, daemon)
    config = {
        "firefox": firefox_tools["firefox"],
        "extension": str(firefox_extension),
        "home": str(firefox_home),
        "profile": str(tmp_path_factory.mktemp("firefox_profile")),
        "extensionId": FIREFOX_ID,
        "extensionUuid": EXTENSION_UUID,
        "timeoutMs": int(JOB_TIMEOUT_S * 1000),
        "clipboardOrigin": f"http://127.0.0.1:{test_site.port}",
        "waitSites": [ALLOWED],
        "cases": cases,
    }
    path = scratch / "config.json"
    path.write_text(json.dumps(config))
    argv = [
        str(firefox_tools["xvfb_run"]),
        "-a",
        "-s",
        XVFB_SCREEN,
        str(firefox_tools["node"]),
        str(Path(__file__).parent / "patterns_firefox.mjs"),
        str(path),
    ]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            argv,
            env=e2e_env,
            capture_output=True,
            text=True,
            timeout=len(cases) * JOB_TIMEOUT_S,
            cwd=ROOT,
        )
    finally:
        daemon.set(protection=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        raise AssertionError(
            f"driver failed (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"
        )
    result = json.loads(lines[-1].removeprefix("RESULT "))
    if not result.get("ok"):
        raise AssertionError(f"driver error: {result.get('error')}\nevents: {result['events']}")
    rows: dict[str, Any] = {"_browser_wall_seconds": round(time.monotonic() - t0, 1)}
    yield {"result": result, "rows": rows, "paste": {}}
    write_timings("firefox", rows)


@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("pattern", FIREFOX_PATTERNS, ids=lambda p: p.name)
def test_pattern(
    pattern: Any,
    where: str,
    batch: dict[str, Any],
    test_site: TestSite,
    faces_dir: Path,
    face_shift: FaceShift,
) -> None:
    if case_id(pattern, where) not in batch["result"]["cases"]:
        pytest.skip("not selected (CLOAKER_E2E_PATTERNS)")
    result = batch["result"]["cases"][case_id(pattern, where)]
    batch["rows"][case_id(pattern, where)] = {"seconds": round(result["seconds"], 2)}
    measured = check_case(result, pattern, where, test_site, faces_dir, face_shift, batch["paste"])
    batch["rows"][case_id(pattern, where)] = measured
