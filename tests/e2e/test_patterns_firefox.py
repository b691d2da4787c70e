"""The plain upload patterns (site/p-*.html) end to end in firefox-esr, one browser for the
whole module, headful under xvfb-run (the paste case needs a real clipboard): the same cases
and checks as test_patterns_chromium.py, but the ones Firefox has no API for (dropping a
folder: a page script cannot put one in a drag; showOpenFilePicker: Firefox lacks it). Real
host, daemon and models. Seconds per case go to artifacts/patterns-firefox.json."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from checks import FaceShift
from harness import ALLOWED, HERE, JOB_TIMEOUT_S, Daemon
from patterns import (
    PATTERNS,
    WHERE,
    build_cases,
    check_pattern,
    run_batch,
    selected,
    write_timings,
)
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

pytestmark = pytest.mark.browser
FIREFOX_PATTERNS = [p for p in PATTERNS if not p.chromium_only]


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
    profile = tmp_path_factory.mktemp("firefox_profile")
    config = {
        **firefox_config(firefox_tools, firefox_extension, firefox_home, profile, JOB_TIMEOUT_S),
        "clipboardOrigin": f"http://127.0.0.1:{test_site.port}",
        "waitSites": [ALLOWED],
        "cases": cases,
    }
    argv = headful(firefox_tools, [str(firefox_tools["node"]), str(HERE / "patterns_firefox.mjs")])
    batch = run_batch(argv, config, scratch, e2e_env, daemon)
    yield batch
    write_timings("firefox", batch["rows"])


@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("pattern", FIREFOX_PATTERNS, ids=lambda p: p.name)
def test_pattern(
    pattern: Any,
    where: str,
    batch: dict[str, Any],
    test_site: TestSite,
    faces_dir: Path,
    face_shift: FaceShift,  # noqa: F811
) -> None:
    check_pattern(batch, pattern, where, test_site, faces_dir, face_shift)
