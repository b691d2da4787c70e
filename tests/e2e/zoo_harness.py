"""The upload-widget zoo's side of the browser tests: the pages built from npm packages
(``zoo/build.mjs``), one long-lived browser driver per test module (``zoo/chromium.mjs``,
``zoo/firefox.mjs``), the cases (every widget x every way it takes photos), the photos, and
the checks and the table (``artifacts/zoo-*.json``) shared by test_zoo_chromium.py and
test_zoo_firefox.py.

A case's result is judged here, not in the driver: the driver only acts like a user and
reports what the page and the overlay showed; the test site keeps the bytes.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest
from checks import FaceShift, decode
from harness import ALLOWED, ARTIFACTS, HERE, JOB_TIMEOUT_S, OTHER, ROOT, Daemon
from PIL import Image
from server import TestSite, Upload

ZOO = HERE / "zoo"
WIDGETS: dict[str, dict[str, Any]] = {
    k: v for k, v in json.loads((ZOO / "widgets.json").read_text()).items() if k != "_comment"
}
# "folder": a dropped folder, read through webkitGetAsEntry() and directory readers. Chromium
# only: a page script cannot put a folder into a Firefox drag, and WebDriver has no OS drag.
FLOWS = ("pick", "drop", "folder", "paste")
# Every widget x every way it accepts photos, in the order the table lists them.
CASES: list[tuple[str, str]] = [(w, f) for w, spec in WIDGETS.items() for f in FLOWS if f in spec]
FIREFOX_CASES = [c for c in CASES if c[1] != "folder"]
SITES = {
    "allowlisted": ALLOWED,
    "off the list": OTHER,
    "protection off": ALLOWED,
    "helper missing": ALLOWED,  # then "Upload original anyway" is clicked
}
# The fail-closed path on real widgets: one pick and one drop.
HELPER_MISSING_CASES = ("uppy/pick", "dropzone/drop")

# Small photos from ../shared/faces (read in place), taken in turn by the cases. Pastes
# carry a PNG (the clipboard carries PNG images only) made from PASTE_SOURCE in a temporary
# folder: a PNG without a colour profile, which the clipboard keeps pixel for pixel in both
# browsers (Firefox colour-converts a PNG with an ICC profile on its way through).
PHOTOS = (
    "people/ariel_sharon/1.jpg",
    "people/colin_powell/1.jpg",
    "people/george_w_bush/1.jpg",
    "people/gerhard_schroeder/1.jpg",
    "people/hugo_chavez/1.jpg",
    "people/donald_rumsfeld/1.jpg",
    "people/arnold_schwarzenegger/1.jpg",
)
PASTE_SOURCE = "people/george_w_bush/2.jpg"
IDLE_S = 15  # the drivers' wait for an upload once nothing is going on (driver.mjs)
CheckCloaked = Callable[[bytes, Upload], dict[str, Any]]


def photo_for(faces_dir: Path, widget: str, flow: str) -> Path:
    return faces_dir / PHOTOS[CASES.index((widget, flow)) % len(PHOTOS)]


def dropped_folder(photo: Path, scratch: Path, widget: str) -> Path:
    """A folder of two levels (the widget must recurse) holding a copy of ``photo``, in a
    temporary folder; the user drops the outer one."""
    inner = scratch / f"folder-{widget}" / "holiday" / "day1"
    inner.mkdir(parents=True, exist_ok=True)
    (inner / photo.name).write_bytes(photo.read_bytes())
    return inner.parent


def paste_png(faces_dir: Path, folder: Path) -> Path:
    """The PNG the paste cases put on the clipboard (see PASTE_SOURCE)."""
    out = folder / f"{Path(PASTE_SOURCE).parent.name}.png"
    with Image.open(faces_dir / PASTE_SOURCE) as im:
        im.convert("RGB").save(out, "PNG")
    return out


def fnv1a(data: bytes) -> str:
    """32-bit FNV-1a, hex: what the zoo pages record of every file page script got."""
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{value:08x}"


def same_pixels(data: bytes, original: bytes) -> bool:
    """Whether ``data`` is the original photo: the same bytes, or the same pixels in another
    encoding (the clipboard re-encodes a pasted image)."""
    if data == original:
        return True
    try:
        _, got = decode(data)
    except OSError:
        return False
    _, want = decode(original)
    return got.shape == want.shape and bool(np.array_equal(got, want))


def build_zoo(node: str, out: Path) -> Path:
    """Bundle the zoo's pages into ``out`` (esbuild from node_modules; about a second)."""
    proc = subprocess.run(
        [node, str(ZOO / "build.mjs"), str(out)], capture_output=True, text=True, cwd=ROOT
    )
    if proc.returncode != 0:
        raise RuntimeError(f"zoo build failed:\n{proc.stdout}\n{proc.stderr}")
    return out


def zoo_site(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestSite]:
    """The test site with the zoo, freshly built, under /zoo/ (for a module's fixture)."""
    built = build_zoo(node, tmp_path_factory.mktemp("zoo"))
    with TestSite(mounts={"/zoo/": built}) as site:
        yield site


class Driver:
    """One browser driver process for a whole module: commands in, one RESULT line out each."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.ready = self._read("READY", timeout_s=JOB_TIMEOUT_S + 120)

    def _read(self, kind: str, timeout_s: float) -> dict[str, Any]:
        """The next ``kind`` line on the driver's stdout (other lines are logged)."""
        stdout: IO[str] = self.process.stdout  # type: ignore[assignment]
        found: list[str] = []

        def read() -> None:
            for line in stdout:
                if line.startswith(f"{kind} "):
                    found.append(line)
                    return
                self._log.write(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout_s)
        if not found:
            self._log.flush()
            self.process.kill()  # its state is unknown now: later cases fail fast
            raise AssertionError(
                f"the zoo driver gave no {kind} line within {timeout_s:.0f} s "
                f"(exit {self.process.poll()}); its log:\n{self.log_path.read_text()[-4000:]}"
            )
        return json.loads(found[0].removeprefix(f"{kind} "))

    def send(self, command: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        if self.process.poll() is not None:
            raise AssertionError(f"the zoo driver exited ({self.process.returncode})")
        stdin: IO[str] = self.process.stdin  # type: ignore[assignment]
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        result = self._read("RESULT", timeout_s)
        if not result.get("ok"):
            raise AssertionError(f"zoo driver error: {result.get('error')}")
        return result

    def close(self) -> None:
        stdin: IO[str] = self.process.stdin  # type: ignore[assignment]
        if self.process.poll() is None:
            with contextlib.suppress(OSError):  # a broken pipe: the driver is gone already
                stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                stdin.close()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@dataclass
class Case:
    """One widget x flow x site run, with what the site received during it."""

    widget: str
    flow: str
    site: str
    photo: Path
    result: dict[str, Any]
    uploads: list[Upload]
    protection: bool

    @property
    def original(self) -> bytes:
        return self.photo.read_bytes()

    @property
    def leaks(self) -> list[Upload]:
        """Uploads that are the original photo."""
        return [u for u in self.uploads if same_pixels(u.data, self.original)]


@dataclass
class ZooRun:
    """A module's zoo: the driver, the test site, the daemon, and every case run so far (the
    allowlisted ones cached, so the regression test reuses what the per-case tests ran)."""

    browser: str
    driver: Driver
    site: TestSite
    daemon: Daemon
    faces_dir: Path
    scratch: Path  # a temporary folder: the paste PNG, the dropped folders
    protection: bool = True
    daemon_down: bool = False
    cases: list[Case] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    _allowlisted: dict[tuple[str, str], Case] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.paste_photo = paste_png(self.faces_dir, self.scratch)

    def set_protection(self, value: bool) -> None:
        """Switch protection through the daemon (as the tray does) and wait for the extension."""
        if value == self.protection:
            return
        self.daemon.set(protection=value)
        self.driver.send({"cmd": "protection", "value": value}, timeout_s=60)
        self.protection = value

    def run(self, widget: str, flow: str, site: str) -> Case:
        if self.daemon_down:  # after run_without_helper
            self.daemon.start()
            self.daemon_down = False
        return self._play(widget, flow, site)

    def _play(self, widget: str, flow: str, site: str, answer: str | None = None) -> Case:
        want_protection = site != "protection off"
        self.set_protection(want_protection)
        photo = self.paste_photo if flow == "paste" else photo_for(self.faces_dir, widget, flow)
        if flow == "paste":
            files = []
        elif flow == "folder":
            files = [str(dropped_folder(photo, self.scratch, widget))]
        else:
            files = [str(photo)]
        host = SITES[site]
        self.collect_late()
        label = "notice" if site == "helper missing" else host.split(".")[0]
        shot = ARTIFACTS / f"zoo-{self.browser}-{widget}-{flow}-{label}.png"
        command = {
            "cmd": "case",
            "id": f"{widget}/{flow}/{site}",
            "url": f"http://{host}:{self.site.port}/zoo/{WIDGETS[widget]['page']}",
            "widget": widget,
            "flow": flow,
            "files": files,
            "count": 1,  # photos the widget should upload
            "pastePng": str(photo) if flow == "paste" else None,
            "screenshot": str(shot) if site in ("allowlisted", "helper missing") else None,
            "answer": answer,
        }
        try:
            result = self.driver.send(command, timeout_s=JOB_TIMEOUT_S + 4 * IDLE_S + 120)
        except AssertionError as err:  # the driver could not play the case through
            result = {"outcome": "error", "error": str(err), "seen": [], "errors": []}
        case = Case(widget, flow, site, photo, result, self.site.take(), want_protection)
        self.cases.append(case)
        return case

    def run_without_helper(self, widget: str, flow: str) -> Case:
        """The daemon stopped and kept from starting (its lock held), as when the helper is
        missing: the widget must get nothing while the notice shows, and the original once
        "Upload original anyway" is clicked. The daemon starts again before the next case."""
        from native_host.discovery import InstanceLock

        self.set_protection(True)
        if not self.daemon_down:
            self.daemon.stop()
            self.daemon_down = True
        lock = InstanceLock(self.daemon.home / "runtime" / "daemon.lock")
        lock.acquire()
        try:
            return self._play(widget, flow, "helper missing", answer="original")
        finally:
            lock.release()

    def collect_late(self) -> None:
        """Uploads that arrived after their case ended belong to it (and to its checks)."""
        late = self.site.take()
        if late:
            assert self.cases, f"uploads before any case: {[u.filename for u in late]}"
            self.cases[-1].uploads.extend(late)

    def allowlisted(self, widget: str, flow: str) -> Case:
        key = (widget, flow)
        if key not in self._allowlisted:
            self._allowlisted[key] = self.run(widget, flow, "allowlisted")
        return self._allowlisted[key]

    def record(self, case: Case, result: str) -> None:
        """One row of the table (replacing an earlier row of the same case)."""
        row = {
            "browser": self.browser,
            "widget": case.widget,
            "library": WIDGETS[case.widget]["library"],
            "flow": case.flow,
            "site": case.site,
            "result": result,
            # pick: which chooser the widget opened ("input" or "showOpenFilePicker")
            "via": case.result.get("via"),
            # hand-over to upload; to the notice, where one came
            "seconds": round((case.result.get("notice") or case.result).get("seconds", 0.0), 2),
            "case_seconds": round(case.result.get("caseSeconds", 0.0), 2),
            # what reached page listeners (type, trusted, files), and what the widget reported
            "page_events": case.result.get("events"),
            "page_errors": case.result.get("errors"),
        }
        metrics = case.result.get("metrics")
        if metrics:  # a cloaked upload: whole-photo SSIM, and the least any model moved
            row["ssim"] = metrics["ssim"]
            row["least_moved"] = round(min(metrics["moved"].values()), 3)
        key = (case.widget, case.flow, case.site)
        self.rows[:] = [r for r in self.rows if (r["widget"], r["flow"], r["site"]) != key]
        self.rows.append(row)

    def write_table(self) -> Path:
        return write_table(self.browser, self.rows)


def zoo_run(
    browser: str,
    argv: list[str],
    config: dict[str, Any],
    folder: Path,
    e2e_env: dict[str, str],
    site: TestSite,
    daemon: Daemon,
    faces_dir: Path,
) -> Iterator[ZooRun]:
    """A module's ZooRun over the driver `argv` (its config path appended); the table is
    written at the end (for the module's ``zoo`` fixture)."""
    (folder / "config.json").write_text(json.dumps(config))
    ARTIFACTS.mkdir(exist_ok=True)
    # When the helper is missing, the host gives up on a daemon after 5 s, not 60.
    env = {**e2e_env, "CLOAKER_HOST_WAIT_S": "5"}
    driver = Driver(
        [*argv, str(folder / "config.json")], env, ARTIFACTS / f"zoo-{browser}-driver.log"
    )
    run = ZooRun(browser, driver, site, daemon, faces_dir, folder)
    try:
        yield run
    finally:
        driver.close()
        run.write_table()


def describe(case: Case) -> str:
    """What happened, for assertion messages."""
    r = case.result
    return (
        f"{case.widget}/{case.flow} on {case.site}: outcome {r.get('outcome')}, "
        f"overlay {'shown' if r.get('overlayShown') else 'not shown'} "
        f"({r.get('overlayText', '')!r}), page errors {r.get('errors')}, "
        f"events {r.get('events')}, received {[(u.filename, len(u.data)) for u in case.uploads]}"
        + (f", driver error: {r['error']}" if r.get("error") else "")
    )


def judge(case: Case, check_cloaked: CheckCloaked | None) -> tuple[str, str | None]:
    """(result for the table, failure message or None). ``check_cloaked`` is given for the
    allowlisted cases and raises AssertionError when the upload is not a proper cloak of the
    original; without it, the original is expected."""
    r = case.result
    if check_cloaked is None:
        if r["outcome"] != "uploaded" or len(case.uploads) != 1 or not case.leaks:
            return f"not the original ({r['outcome']})", f"expected the original: {describe(case)}"
        if r.get("overlayShown"):
            return "original, with overlay", f"the overlay showed: {describe(case)}"
        return "original", None
    if case.leaks:
        return "LEAK: original uploaded", f"LEAK on the allowlisted site: {describe(case)}"
    if r["outcome"] != "uploaded" or not case.uploads:
        label = {
            "nothing": "nothing received",
            "notice": "fail-closed notice",
            "error": f"driver error: {r.get('error', '')[:200]}",
        }.get(r["outcome"], r["outcome"])
        return label, f"{label}: {describe(case)}"
    if len(case.uploads) != 1:
        return "several uploads", f"expected one upload: {describe(case)}"
    upload = case.uploads[0]
    held = [s for s in r["seen"] if s["hash"] != fnv1a(upload.data)]
    if held:
        return "page held another file", f"page script held files it never uploaded: {held}"
    try:
        case.result["metrics"] = check_cloaked(case.original, upload)
    except AssertionError as err:
        return "not cloaked", f"{describe(case)}: {err}"
    return "cloaked", None


def judge_notice(case: Case) -> tuple[str, str | None]:
    """(result, failure) of a helper-missing case: nothing reached the page or the site
    while the notice showed; the original did after the click."""
    r = case.result
    notice = r.get("notice")
    if notice is None:
        return f"no notice ({r['outcome']})", f"the notice never showed: {describe(case)}"
    if notice["uploads"] or notice["seen"]:
        return "got a file before the click", f"the page got a file before the click: {notice}"
    if r["outcome"] != "uploaded" or len(case.uploads) != 1 or not case.leaks:
        return f"not the original ({r['outcome']})", f"expected the original: {describe(case)}"
    return "notice, then original on click", None


def write_table(browser: str, rows: list[dict[str, Any]]) -> Path:
    """artifacts/zoo-<browser>.json, then artifacts/zoo-table.json and .md from every
    browser's file there (one row per widget x flow x site x browser, with seconds)."""
    ARTIFACTS.mkdir(exist_ok=True)
    order = {c: i for i, c in enumerate(CASES)}
    sites = list(SITES)
    rows = sorted(rows, key=lambda r: (sites.index(r["site"]), order[(r["widget"], r["flow"])]))
    (ARTIFACTS / f"zoo-{browser}.json").write_text(json.dumps(rows, indent=1))
    merged: list[dict[str, Any]] = []
    for path in sorted(ARTIFACTS.glob("zoo-*.json")):
        if path.stem in ("zoo-table",):
            continue
        merged.extend(json.loads(path.read_text()))
    merged.sort(
        key=lambda r: (
            sites.index(r["site"]),
            order[(r["widget"], r["flow"])],
            r["browser"],
        )
    )
    table = ARTIFACTS / "zoo-table.json"
    table.write_text(json.dumps(merged, indent=1))
    lines = [
        "| widget | flow | site | browser | result | seconds |",
        "| --- | --- | --- | --- | --- | ---: |",
    ]
    for r in merged:
        lines.append(
            f"| {r['library']} | {r['flow']} | {r['site']} | {r['browser']} | {r['result']} "
            f"| {r['seconds']:.1f} |"
        )
    (ARTIFACTS / "zoo-table.md").write_text("\n".join(lines) + "\n")
    return table


class ZooSuite:
    """The zoo's tests; each browser's module subclasses it (``class TestZooChromium``),
    sets ``CASES`` (the widget x flow pairs that browser can play), and provides the fixtures
    ``zoo`` (a ZooRun) and ``face_shift``."""

    CASES: list[tuple[str, str]] = CASES

    @pytest.fixture(scope="class")
    @classmethod
    def check_cloaked(cls, face_shift: FaceShift) -> CheckCloaked:
        """(original, upload) -> metrics: test_chromium.assert_cloaked, for both browsers."""
        from test_chromium import assert_cloaked

        def check(original: bytes, upload: Upload) -> dict[str, Any]:
            return assert_cloaked(original, upload, face_shift)

        return check

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if {"widget", "flow"} <= set(metafunc.fixturenames):
            metafunc.parametrize(
                ("widget", "flow"), self.CASES, ids=[f"{w}-{f}" for w, f in self.CASES]
            )

    def test_allowlisted_site_receives_a_cloaked_photo(
        self, zoo: ZooRun, check_cloaked: CheckCloaked, widget: str, flow: str
    ) -> None:
        case = zoo.allowlisted(widget, flow)
        result, failure = judge(case, check_cloaked)
        zoo.record(case, result)
        assert failure is None, failure
        assert case.result["injected"], "the content script was not in the allowlisted page"
        assert case.result["overlayShown"], "the overlay never showed"

    def test_site_off_the_list_receives_the_original(
        self, zoo: ZooRun, widget: str, flow: str
    ) -> None:
        case = zoo.run(widget, flow, "off the list")
        result, failure = judge(case, None)
        zoo.record(case, result)
        assert failure is None, failure
        assert case.result["injected"] is False, "the content script ran on a site off the list"

    def test_protection_off_uploads_the_original(self, zoo: ZooRun, widget: str, flow: str) -> None:
        case = zoo.run(widget, flow, "protection off")
        result, failure = judge(case, None)
        zoo.record(case, result)
        assert failure is None, failure

    def test_no_widget_ever_receives_an_uncloaked_photo_on_an_allowlisted_site(
        self, zoo: ZooRun
    ) -> None:
        """The regression test: every widget x flow on the allowlisted site with protection
        on (the cases above ran already are reused), and every byte the site received while
        protection was on there, in or after any case. No one clicks "upload original" in
        the zoo, so an original photo reaching that site, or held by its page script, is a
        leak. A case the driver could not play through fails too: it proves nothing."""
        for widget, flow in self.CASES:
            zoo.allowlisted(widget, flow)
        zoo.collect_late()
        watched = [c for c in zoo.cases if c.site == "allowlisted" and c.protection]
        assert {(c.widget, c.flow) for c in watched} == set(self.CASES)
        # Against every photo of the module: a late upload counts for the case it came in.
        originals = {c.photo: c.original for c in zoo.cases}
        leaks = [
            f"{u.filename} ({photo.name}) during {describe(c)}"
            for c in watched
            for u in c.uploads
            for photo, data in originals.items()
            if same_pixels(u.data, data)
        ]
        held = [
            f"{c.widget}/{c.flow}: page script held {s}"
            for c in watched
            if c.flow != "paste"  # the clipboard re-encodes: the uploads' pixels tell
            for s in c.result["seen"]
            if s["hash"] == fnv1a(c.original)
        ]
        unplayed = [describe(c) for c in watched if c.result["outcome"] == "error"]
        assert not leaks, "LEAK: the allowlisted site received an original photo:\n" + "\n".join(
            leaks
        )
        assert not held, "LEAK: page script held an original photo:\n" + "\n".join(held)
        assert not unplayed, "cases that could not be played through:\n" + "\n".join(unplayed)

    @pytest.mark.parametrize("held", HELPER_MISSING_CASES)
    def test_without_the_helper_nothing_until_upload_original_is_clicked(
        self, zoo: ZooRun, held: str
    ) -> None:
        """Never silent, on real widgets: the notice instead of an upload, then the
        original only on the user's (trusted) click. Last in the suite: it stops the daemon."""
        widget, flow = held.split("/")
        case = zoo.run_without_helper(widget, flow)
        result, failure = judge_notice(case)
        zoo.record(case, result)
        assert failure is None, failure
        assert "Upload original anyway" in case.result["notice"]["overlayText"]
