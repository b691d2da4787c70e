"""End to end in Debian's Chromium, no mocks: the unpacked extension in a fresh profile, the
real native host registered in that profile by `cloaker install`, the real daemon
(``--no-tray``) with real models, and a local test site that keeps the bytes it receives.

``social.test`` is on the daemon's allowlist, ``other.test`` is not; both resolve to the
test site on 127.0.0.1 (``--host-resolver-rules``). Screenshots of the progress overlay and
of the failure notice are saved in ``artifacts/``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from checks import FaceShift, decode, min_ssim, ssim
from harness import ALLOWED, ARTIFACTS, HERE, MODE, OTHER, Daemon, RunBrowser
from PIL import Image
from server import TestSite, Upload

pytestmark = pytest.mark.browser

# One photo per flow (../shared/faces, read in place). The paste flow pastes a PNG: the
# clipboard only carries PNG images.
FLOW_PHOTOS = {
    "form": "people/barack_obama/1.jpg",
    "app": "people/george_clooney/1.jpg",
    "hidden": "people/matt_damon/1.jpg",
    "drop": "people/jack_dorsey/1.jpg",
    "paste": "people/alex_lacamoire/3.png",
    "shadow": "people/katy_perry/8.jpg",
}
SEVERAL_PHOTOS = (
    "people/jennifer_aniston/2.jpg",
    "people/kit_harington/2.jpg",
    "people/elon_musk/3.jpg",
)
MIN_SSIM = min_ssim(MODE)  # whole photo, received vs original (luminance)
MIN_SHIFT = 0.15  # L2 between normalised embeddings, per ensemble model (and 5x the floor)


@pytest.fixture(scope="module")
def metrics() -> Iterator[dict[str, Any]]:
    """What each cloaked upload measured; written to artifacts/e2e-cloaks.json."""
    found: dict[str, Any] = {}
    yield found
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "e2e-cloaks.json").write_text(json.dumps(found, indent=2, sort_keys=True))


@pytest.fixture(scope="module")
def face_shift(models_dir: Path) -> FaceShift:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLOAKER_MODELS_DIR", str(models_dir))  # module scope: set it here too
        return FaceShift()


def assert_cloaked(original: bytes, upload: Upload, face_shift: FaceShift) -> dict[str, Any]:
    """Same format and size, different bytes, high SSIM, the face moved in every model."""
    fmt, got = decode(upload.data)
    ofmt, want = decode(original)
    assert fmt == ofmt, f"{upload.filename}: format {fmt}, sent {ofmt}"
    assert got.shape == want.shape, f"{upload.filename}: size {got.shape}, sent {want.shape}"
    assert upload.data != original, f"{upload.filename}: the site got the original bytes"
    score = ssim(want, got)
    assert score >= MIN_SSIM, f"{upload.filename}: whole-photo SSIM {score:.4f}"
    shift = face_shift.measure(want, got)
    for model, moved in shift.moved.items():
        need = max(MIN_SHIFT, 5 * shift.floor[model])
        assert moved >= need, f"{upload.filename}: {model} moved {moved:.3f} < {need:.3f}"
    return {
        "ssim": round(score, 4),
        "moved": shift.moved,
        "floor": shift.floor,
        "bytes": [len(original), len(upload.data)],
    }


def assert_page_never_saw(result: dict[str, Any], size: int) -> None:
    """No page listener ever saw a file of the original's size (the original itself)."""
    for event in result["seen"]:
        assert event["trusted"] is False, f"the page got the browser's own {event['type']}"
        assert all(f["size"] != size for f in event["files"]), f"page saw the original: {event}"


@pytest.mark.parametrize("flow", list(FLOW_PHOTOS))
def test_each_flow_uploads_a_cloaked_photo(
    flow: str,
    faces_dir: Path,
    daemon: Daemon,
    run_browser: RunBrowser,
    test_site: TestSite,
    face_shift: FaceShift,
    metrics: dict[str, Any],
) -> None:
    photo = faces_dir / FLOW_PHOTOS[flow]
    scenario: dict[str, Any] = {"flow": flow, "expect": "cloaked", "waitReady": True}
    if flow == "paste":
        # The clipboard re-encodes images: what the page would get is what a site off the
        # allowlist receives from the same paste.
        run_browser(flow=flow, host=OTHER, pastePng=str(photo), expect="untouched")
        (baseline,) = test_site.take(flow)
        original = baseline.data
        scenario["pastePng"] = str(photo)
    else:
        original = photo.read_bytes()
        scenario["files"] = [photo]
    if flow == "app":
        scenario["progressScreenshot"] = str(ARTIFACTS / "overlay-progress.png")
    result = run_browser(**scenario)

    assert result["injected"], "the content script was not injected on the allowlisted site"
    assert result["overlayShown"]
    (upload,) = test_site.take(flow)
    assert upload.host.split(":")[0] == ALLOWED
    if flow == "paste":
        assert upload.filename == baseline.filename == "image.png"
        assert upload.content_type == "image/png"
    else:
        assert upload.filename == photo.name
        assert upload.content_type == "image/jpeg"
    assert_page_never_saw(result, len(original))
    metrics[flow] = assert_cloaked(original, upload, face_shift)


def test_several_photos_in_one_selection_and_a_pdf(
    faces_dir: Path,
    tmp_path: Path,
    daemon: Daemon,
    run_browser: RunBrowser,
    test_site: TestSite,
    face_shift: FaceShift,
    metrics: dict[str, Any],
) -> None:
    photos = [faces_dir / p for p in SEVERAL_PHOTOS]
    pdf = tmp_path / "menu.pdf"
    Image.new("RGB", (200, 100), "white").save(pdf, "PDF")
    files = [photos[0], pdf, photos[1], photos[2]]
    result = run_browser(
        flow="app",
        files=files,
        expect="cloaked",
        waitReady=True,
        progressScreenshot=str(ARTIFACTS / "overlay-progress-several.png"),
    )

    uploads = test_site.take("app")
    assert [u.filename for u in uploads] == [f.name for f in files]
    assert uploads[1].data == pdf.read_bytes(), "the PDF was changed"
    assert uploads[1].content_type == "application/pdf"
    for upload, photo in zip([uploads[0], uploads[2], uploads[3]], photos, strict=True):
        metrics[f"several/{photo.parent.name}"] = assert_cloaked(
            photo.read_bytes(), upload, face_shift
        )
    (change,) = [e for e in result["seen"] if e["type"] == "change"]
    assert len(change["files"]) == 4


def test_site_not_on_the_allowlist_gets_the_original(
    faces_dir: Path, daemon: Daemon, run_browser: RunBrowser, test_site: TestSite
) -> None:
    photo = faces_dir / FLOW_PHOTOS["app"]
    result = run_browser(flow="app", host=OTHER, files=[photo], expect="untouched")

    assert result["injected"] is False, "the content script ran on a site off the allowlist"
    assert result["overlayShown"] is False
    assert [e["trusted"] for e in result["seen"]] == [True, True], "events were re-dispatched"
    (upload,) = test_site.take("app")
    assert upload.host.split(":")[0] == OTHER
    assert upload.data == photo.read_bytes()


def test_protection_switched_off_through_the_daemon_uploads_the_original(
    faces_dir: Path, daemon: Daemon, run_browser: RunBrowser, test_site: TestSite
) -> None:
    photo = faces_dir / FLOW_PHOTOS["form"]

    def tray(protection: bool) -> list[str]:
        data = json.dumps({"protection": protection})
        return [
            sys.executable,
            str(HERE / "daemon_client.py"),
            "--home",
            str(daemon.home),
            "set",
            data,
        ]

    try:
        result = run_browser(
            flow="form",
            files=[photo],
            expect="untouched",
            waitReady=True,
            beforeUpload=tray(False),
            waitProtection=False,
            afterUpload=tray(True),
            waitProtectionAfter=True,
        )
    finally:
        daemon.set(protection=True)
    assert json.loads(result["beforeUpload"])["protection"] is False
    assert result["injected"], "the site is allowlisted: the content script is there, idle"
    assert result["overlayShown"] is False
    (upload,) = test_site.take("form")
    assert upload.data == photo.read_bytes()


def test_popup_and_options_page_change_the_daemons_settings(
    daemon: Daemon, run_browser: RunBrowser
) -> None:
    settings = [sys.executable, str(HERE / "daemon_client.py"), "--home", str(daemon.home), "get"]
    result = run_browser(
        flow="app",
        kind="pages",
        waitReady=True,
        settingsCommand=settings,
        popupScreenshot=str(ARTIFACTS / "popup.png"),
        optionsScreenshot=str(ARTIFACTS / "options.png"),
    )
    assert result["popup"] == {
        "site": ALLOWED,
        "siteOn": True,
        "protection": True,
        "mode": MODE,
        "connection": "connected",
        "models": "ready",
        "device": daemon.status()["device"],
    }
    site = {"host": ALLOWED, "enabled": True}
    assert result["protectionOff"]["protection"] is False
    assert result["protectionOn"]["protection"] is True
    assert result["siteOff"]["sites"] == [{**site, "enabled": False}]
    assert result["siteOn"]["sites"] == [site]
    assert result["modeHigh"]["mode"] == "high"
    assert result["optionsSites"] == [ALLOWED]
    assert result["optionsSiteOff"]["sites"] == [{**site, "enabled": False}]
    assert result["optionsSiteOn"]["sites"] == [site]
    assert daemon.get()["mode"] == MODE


def test_daemon_dies_mid_job_fails_closed_then_upload_original_anyway(
    faces_dir: Path, daemon: Daemon, run_browser: RunBrowser, test_site: TestSite
) -> None:
    photo = faces_dir / FLOW_PHOTOS["app"]
    assert daemon.pid is not None
    kill = [sys.executable, "-c", f"import os, signal; os.kill({daemon.pid}, signal.SIGKILL)"]
    try:
        result = run_browser(
            flow="app",
            files=[photo],
            expect="notice",
            answer="original",
            waitReady=True,
            onProgress=kill,
            noticeScreenshot=str(ARTIFACTS / "notice-failure.png"),
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
    run_browser: RunBrowser,
    test_site: TestSite,
    e2e_env: dict[str, str],
) -> None:
    from native_host.discovery import InstanceLock

    photo = faces_dir / FLOW_PHOTOS["form"]
    env = {**e2e_env, "CLOAKER_HOST_WAIT_S": "3"}
    daemon.stop()
    # Hold the one-daemon lock: the host finds no daemon and cannot start one.
    lock = InstanceLock(daemon.home / "runtime" / "daemon.lock")
    lock.acquire()
    try:
        assert test_site.take() == []
        original = run_browser(
            flow="form", files=[photo], expect="notice", answer="original", env=env
        )
        cancelled = run_browser(
            flow="hidden", files=[photo], expect="notice", answer="cancel", env=env
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
