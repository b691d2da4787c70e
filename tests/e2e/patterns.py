"""The plain upload patterns (site/p-*.html) shared by test_patterns_chromium.py and
test_patterns_firefox.py: which page, how the user hands the photo over, which photo, and the
checks on what the site received. Each case runs on the allowlisted site (cloaked), on a site
off the list (original) and with protection switched off through the daemon (original)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from checks import FaceShift
from harness import ALLOWED, ARTIFACTS, HERE, JOB_TIMEOUT_S, OTHER, Daemon, run_driver
from server import TestSite, Upload


@dataclass(frozen=True)
class Pattern:
    name: str  # letters only: also the upload path
    page: str
    action: str  # pick | drop | paste
    photos: tuple[str, ...]  # under the faces folder; a "dir/" prefix makes a dropped folder
    frame: bool = False  # the control is inside the page's frame
    chromium_only: bool = False


PATTERNS = [
    Pattern("detached", "p-detached.html", "pick", ("people/george_clooney/1.jpg",)),
    Pattern("attachafter", "p-attach-after.html", "pick", ("people/matt_damon/1.jpg",)),
    Pattern("removed", "p-removed.html", "pick", ("people/katy_perry/8.jpg",)),
    Pattern("showpicker", "p-showpicker.html", "pick", ("people/jack_dorsey/1.jpg",)),
    Pattern("closedshadow", "p-closed-shadow.html", "pick", ("people/barack_obama/1.jpg",)),
    Pattern("iframesame", "p-iframe-same.html", "pick", ("people/elon_musk/3.jpg",), frame=True),
    Pattern("iframeblank", "p-iframe-blank.html", "pick", ("people/kit_harington/2.jpg",), True),
    Pattern(
        "iframesrcdoc", "p-iframe-srcdoc.html", "pick", ("people/jennifer_aniston/2.jpg",), True
    ),
    Pattern("dropentry", "p-drop-entries.html", "drop", ("people/george_clooney/1.jpg",)),
    Pattern(
        "dropfolder",
        "p-drop-entries.html",
        "drop",
        ("dir/people/matt_damon/1.jpg", "dir/people/jack_dorsey/1.jpg"),
        chromium_only=True,
    ),
    Pattern("paste", "p-paste.html", "paste", ("people/alex_lacamoire/3.png",)),
    Pattern("fsa", "p-fsa.html", "pick", ("people/katy_perry/8.jpg",), chromium_only=True),
    Pattern("foreignclick", "p-foreign-click.html", "pick", ("people/elon_musk/3.jpg",)),
    Pattern("early", "p-early-listener.html", "pick", ("people/matt_damon/1.jpg",)),
]
WHERE = {"other": OTHER, "social": ALLOWED, "off": ALLOWED}  # run in this order


def selected(patterns: list[Pattern]) -> list[Pattern]:
    """All patterns, or those named in CLOAKER_E2E_PATTERNS (comma-separated; for local runs)."""
    names = os.environ.get("CLOAKER_E2E_PATTERNS")
    if not names:
        return patterns
    return [p for p in patterns if p.name in names.split(",")]


def case_id(pattern: Pattern, where: str) -> str:
    return f"{pattern.name}{where}"


def hand_over(pattern: Pattern, faces: Path, scratch: Path) -> list[Path]:
    """The files the user hands over: the photos, or one folder holding them."""
    if not pattern.photos[0].startswith("dir/"):
        return [faces / p for p in pattern.photos]
    folder = scratch / "holiday" / "day1"  # two levels: the page must recurse
    folder.mkdir(parents=True, exist_ok=True)
    for p in pattern.photos:
        src = faces / p.removeprefix("dir/")
        shutil.copyfile(src, folder / f"{src.parent.name}.jpg")
    return [scratch / "holiday"]


def originals(pattern: Pattern, faces: Path) -> dict[str, bytes]:
    """Upload file name -> the original bytes."""
    out = {}
    for p in pattern.photos:
        src = faces / p.removeprefix("dir/")
        name = f"{src.parent.name}.jpg" if p.startswith("dir/") else src.name
        out[name] = src.read_bytes()
    return out


def tray(daemon: Daemon, protection: bool) -> list[str]:
    """The command line that switches protection through the daemon, as the tray does."""
    data = json.dumps({"protection": protection})
    return [sys.executable, str(HERE / "daemon_client.py"), "--home", str(daemon.home), "set", data]


def build_cases(
    patterns: list[Pattern], faces: Path, scratch: Path, port: int, daemon: Daemon
) -> list[dict[str, Any]]:
    cases = []
    for where, host in WHERE.items():
        for k, pattern in enumerate(patterns):
            case: dict[str, Any] = {
                "id": case_id(pattern, where),
                "url": f"http://{host}:{port}/{pattern.page}?to={case_id(pattern, where)}",
                "action": pattern.action,
                "files": [str(f) for f in hand_over(pattern, faces, scratch)],
                "frame": pattern.frame,
                "expect": "cloaked" if where == "social" else "untouched",
            }
            if pattern.name == "fsa" and where == "other":
                # No driver can answer a File System Access picker: off the list, only check
                # that the page has the API (nothing hides it there).
                case.update(action="probe", files=[])
            if where == "off" and k == 0:
                case.update(beforeCase=tray(daemon, False), protection=False)
            cases.append(case)
    return cases


def check_case(
    result: dict[str, Any],
    pattern: Pattern,
    where: str,
    site: TestSite,
    faces: Path,
    face_shift: FaceShift,
    paste_baseline: dict[str, bytes],
) -> dict[str, Any]:
    """Assert what the site received for one case; returns the measurements."""
    from test_chromium import assert_cloaked

    cid = case_id(pattern, where)
    assert not result.get("error"), f"{cid}: {result.get('error')}"
    uploads: list[Upload] = site.take(cid)
    if pattern.name == "fsa" and where == "other":
        # Off the list nothing is hidden: the page has the API (and would use it).
        assert result["fsaPresent"] is True, f"{cid}: showOpenFilePicker is missing"
        assert uploads == [] and result["seen"] == []
        return {"seconds": round(result["seconds"], 2)}
    want = originals(pattern, faces)
    if pattern.action == "paste":
        if where == "other":
            paste_baseline.update({u.filename: u.data for u in uploads})
        want = dict(paste_baseline) or want
    assert sorted(u.filename for u in uploads) == sorted(want), f"{cid}: got {uploads}"
    measured: dict[str, Any] = {"seconds": round(result["seconds"], 2)}
    for upload in uploads:
        original = want[upload.filename]
        if where == "social":
            measured[upload.filename] = assert_cloaked(original, upload, face_shift)
            for event in result["seen"]:
                # The browser's own event may reach a page listener that runs before ours
                # (pattern "early"), but never with a file in it.
                assert event["trusted"] is False or event["files"] == [], (
                    f"{cid}: the page got the browser's own event with files: {event}"
                )
                for f in event["files"]:
                    assert f["size"] != len(original) or f["name"] != upload.filename, (
                        f"{cid}: the page saw the original {f}"
                    )
        else:
            assert upload.data == original, f"{cid}: {upload.filename} was changed"
    if where == "social":
        text = result.get("overlay", "") + result.get("overlayFinal", "")
        assert "Cloaked" in text and "protected" not in text, f"{cid}: overlay said {text!r}"
    if pattern.name == "early" and where == "social":
        trusted = [e for e in result["seen"] if e["trusted"]]
        assert trusted and all(e["files"] == [] for e in trusted), f"{cid}: {result['seen']}"
    if pattern.name == "fsa":
        # Hidden on the listed site, so the page fell back to an input.
        assert result["fsaPresent"] is False, f"{cid}: showOpenFilePicker is there"
        assert {e["how"] for e in result["seen"]} == {"input.files"}, f"{cid}: {result['seen']}"
    if pattern.name == "dropfolder":
        paths = sorted(f["path"] for e in result["seen"] for f in e["files"])
        assert paths == sorted(f"/holiday/day1/{n}" for n in want), f"{cid}: paths {paths}"
    return measured


def run_batch(
    argv: list[str], config: dict[str, Any], scratch: Path, env: dict[str, str], daemon: Daemon
) -> dict[str, Any]:
    """Every case of `config` in one run of the driver `argv` (its config path appended); then
    protection back on. The batch the module's tests read: {result, rows, paste}."""
    path = scratch / "config.json"
    path.write_text(json.dumps(config))
    t0 = time.monotonic()
    try:
        result = run_driver([*argv, str(path)], env, len(config["cases"]) * JOB_TIMEOUT_S)
    finally:
        daemon.set(protection=True)
    rows: dict[str, Any] = {"_browser_wall_seconds": round(time.monotonic() - t0, 1)}
    return {"result": result, "rows": rows, "paste": {}}


def check_pattern(
    batch: dict[str, Any],
    pattern: Pattern,
    where: str,
    site: TestSite,
    faces: Path,
    face_shift: FaceShift,
) -> dict[str, Any]:
    """One test_pattern: check_case on the batch's result (skipped when not selected), its
    measurements in the timings; returns the driver's result for the case."""
    cid = case_id(pattern, where)
    if cid not in batch["result"]["cases"]:
        pytest.skip("not selected (CLOAKER_E2E_PATTERNS)")
    result: dict[str, Any] = batch["result"]["cases"][cid]
    batch["rows"][cid] = {"seconds": round(result["seconds"], 2)}
    batch["rows"][cid] = check_case(result, pattern, where, site, faces, face_shift, batch["paste"])
    return result


def write_timings(browser: str, rows: dict[str, Any]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"patterns-{browser}.json"
    path.write_text(json.dumps(rows, indent=2, sort_keys=True))
