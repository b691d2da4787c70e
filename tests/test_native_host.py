"""``cloaker-native-host`` as a subprocess, spoken to exactly as a browser does (framed JSON on
stdin/stdout), against a real daemon. Every test scans the host's raw stdout: it must be
nothing but complete frames, each under 1 MiB."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import queue
import shutil
import signal
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_util import (
    ASTRONAUT,
    ROOT,
    DaemonProcess,
    assert_error,
    daemon_env,
    needs_engine,
    start_daemon,
    wait_for,
)
from PIL import Image

from native_host import chunks, framing, host
from native_host.discovery import Discovery, InstanceLock

HOST = shutil.which("cloaker-native-host") or str(ROOT / ".venv" / "bin" / "cloaker-native-host")
UPLOAD_CHUNK = 256 * 1024


class StdoutScanner:
    """Reads the host's stdout raw and splits it into frames itself, so anything that is not
    a well-formed frame (a stray print, a torn frame, an oversize frame) fails the test."""

    def __init__(self, stream: Any) -> None:
        self.frames: queue.Queue[dict[str, Any]] = queue.Queue()
        self.raw = bytearray()
        self.problems: list[str] = []
        self._stream = stream
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pos = 0
        while chunk := self._stream.read1(1 << 16):
            self.raw += chunk
            while len(self.raw) - pos >= 4:
                (length,) = struct.unpack("=I", self.raw[pos : pos + 4])
                if length > framing.MAX_OUTGOING:
                    self.problems.append(f"frame of {length} bytes over 1 MiB")
                    return
                if len(self.raw) - pos - 4 < length:
                    break
                body = bytes(self.raw[pos + 4 : pos + 4 + length])
                try:
                    self.frames.put(framing.decode(body))
                except framing.FrameDecodeError as exc:
                    self.problems.append(f"bad frame {body[:80]!r}: {exc}")
                pos += 4 + length
        if pos != len(self.raw):
            self.problems.append(f"{len(self.raw) - pos} stray bytes after the last frame")

    def finish(self, timeout_s: float = 10.0) -> None:
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "stdout never closed"
        assert not self.problems, self.problems


class Browser:
    """Plays the browser: starts the host the way Chrome or Firefox does."""

    def __init__(self, home: Path, args: list[str] | None = None, **env: str) -> None:
        args = (
            args if args is not None else ["chrome-extension://abcdefghijklmnopabcdefghijklmnop/"]
        )
        self.stderr_path = home / "host-stderr.txt"
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [HOST, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=daemon_env(home, **env),
            )
        self.out = StdoutScanner(self.proc.stdout)
        self._seq = 0

    def send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(framing.encode(msg, limit=framing.MAX_INCOMING))
        self.proc.stdin.flush()

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def request(self, type_: str, data: dict[str, Any] | None = None) -> str:
        self._seq += 1
        request_id = f"b{self._seq}"
        self.send({"v": 1, "id": request_id, "type": type_, "data": data or {}})
        return request_id

    def recv(self, timeout_s: float = 60.0) -> dict[str, Any]:
        try:
            return self.out.frames.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no frame from the host within {timeout_s} s") from None

    def recv_for(self, request_id: str | None, timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            msg = self.recv(max(deadline - time.monotonic(), 0.01))
            if msg["id"] == request_id:
                return msg
            assert msg["type"] in ("settings.changed", "progress"), msg

    def upload(self, data: bytes, site: str = "www.instagram.com", name: str = "p.png") -> str:
        self._seq += 1
        request_id = f"b{self._seq}"
        transfer = chunks.describe(data, f"up-{request_id}", UPLOAD_CHUNK)
        self.send(
            {
                "v": 1,
                "id": request_id,
                "type": "cloak",
                "data": {"name": name, "mime": "image/png", "site": site, "transfer": transfer},
            }
        )
        for piece in chunks.split(request_id, data, transfer["id"], UPLOAD_CHUNK):
            self.send(piece)
        return request_id

    def download(self, request_id: str, timeout_s: float = 600.0) -> tuple[dict, list, bytes]:
        """Collect progress, the result and its chunks; return (result, progress, bytes)."""
        progress = []
        while (msg := self.recv_for(request_id, timeout_s))["type"] == "progress":
            progress.append(msg["data"])
        assert msg["type"] == "result", msg
        transfer = msg["data"]["transfer"]
        assembler = chunks.Assembler()
        assembler.start(request_id, transfer)
        data = None
        for _ in range(transfer["chunks"]):
            piece = self.recv_for(request_id, 60)
            assert piece["type"] == "chunk"
            _, data = assembler.add(request_id, piece["data"])
        assert data is not None
        return msg, progress, data

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def finish(self, timeout_s: float = 10.0) -> int:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.close_stdin()
        code = self.proc.wait(timeout_s)
        self.out.finish()
        return code


@pytest.fixture
def daemon(_isolated_home: Path) -> Iterator[DaemonProcess]:
    d = start_daemon(_isolated_home)
    yield d
    d.kill()


@pytest.fixture
def browser(_isolated_home: Path, daemon: DaemonProcess) -> Iterator[Browser]:
    b = Browser(_isolated_home)
    yield b
    if b.proc.poll() is None:
        b.finish()
    b.out.finish()


# --- relaying --------------------------------------------------------------------------


def test_status(browser: Browser) -> None:
    reply = browser.recv_for(browser.request("status"))
    assert reply["type"] == "status" and reply["data"]["state"] in ("warming", "ready")
    assert browser.finish() == 0


def test_firefox_arguments(_isolated_home: Path, daemon: DaemonProcess) -> None:
    b = Browser(_isolated_home, ["/home/u/.mozilla/native-messaging-hosts/x.json", "a@b.org"])
    assert b.recv_for(b.request("settings.get"))["data"]["mode"] == "mid"
    assert b.finish() == 0


def test_settings_push_passes_through(browser: Browser, daemon: DaemonProcess) -> None:
    browser.recv_for(browser.request("status"))  # connected
    with daemon.client() as other:
        other.request("settings.set", {"mode": "high"})
    push = browser.recv_for(None)
    assert push["type"] == "settings.changed" and push["data"]["mode"] == "high"


def test_skipped_upload_has_no_transfer(browser: Browser) -> None:
    request_id = browser.upload(ASTRONAUT.read_bytes(), site="example.org")
    reply = browser.recv_for(request_id)
    assert reply["type"] == "result"
    assert reply["data"] == {"status": "skipped", "reason": "site_not_listed"}


def test_upload_errors_reach_the_daemon_checks(browser: Browser) -> None:
    request_id = browser.upload(b"definitely not an image " * 100_000)  # 2.4 MB, 10 chunks
    while (msg := browser.recv_for(request_id))["type"] == "progress":
        pass
    assert_error(msg, "bad_image", request_id)


@pytest.mark.parametrize(
    "order", [[0, 2, 1], [0, 0, 1, 2], [1, 0, 2]], ids=["missing", "duplicate", "out-of-order"]
)
def test_bad_chunk_order(browser: Browser, order: list[int]) -> None:
    data = os.urandom(3 * UPLOAD_CHUNK)
    transfer = chunks.describe(data, "t", UPLOAD_CHUNK)
    browser.send(
        {"v": 1, "id": "u1", "type": "cloak", "data": {"site": "x.com", "transfer": transfer}}
    )
    pieces = list(chunks.split("u1", data, "t", UPLOAD_CHUNK))
    for index in order:
        browser.send(pieces[index])
    assert_error(browser.recv_for("u1"), "transfer_error", "u1")
    assert browser.recv_for(browser.request("status"))["type"] == "status"  # still relaying


def test_checksum_mismatch(browser: Browser) -> None:
    data = ASTRONAUT.read_bytes()
    transfer = chunks.describe(data, "t", UPLOAD_CHUNK)
    transfer["sha256"] = hashlib.sha256(b"other").hexdigest()
    browser.send(
        {"v": 1, "id": "u2", "type": "cloak", "data": {"site": "x.com", "transfer": transfer}}
    )
    for piece in chunks.split("u2", data, "t", UPLOAD_CHUNK):
        browser.send(piece)
    assert_error(browser.recv_for("u2"), "transfer_error", "u2")


def test_cancel_during_upload(browser: Browser) -> None:
    data = os.urandom(3 * UPLOAD_CHUNK)
    transfer = chunks.describe(data, "t", UPLOAD_CHUNK)
    browser.send(
        {"v": 1, "id": "u3", "type": "cloak", "data": {"site": "x.com", "transfer": transfer}}
    )
    pieces = list(chunks.split("u3", data, "t", UPLOAD_CHUNK))
    browser.send(pieces[0])
    cancel_id = browser.request("cancel", {"target": "u3"})
    assert_error(browser.recv_for("u3"), "cancelled", "u3")
    assert browser.recv_for(cancel_id)["data"] == {"target": "u3", "cancelled": False}
    for piece in pieces[1:]:
        browser.send(piece)  # late chunks are dropped, not reported again
    assert browser.recv_for(browser.request("status"))["type"] == "status"


# --- garbage, closing, failures --------------------------------------------------------


def test_stdin_closed_exits_within_a_second(browser: Browser) -> None:
    browser.recv_for(browser.request("status"))
    started = time.monotonic()
    browser.close_stdin()
    assert browser.proc.wait(5) == 0
    assert time.monotonic() - started < 1.0


def test_invalid_json_frame_gives_an_error_and_relaying_goes_on(browser: Browser) -> None:
    body = b"{this is not json"
    browser.send_raw(struct.pack("=I", len(body)) + body)
    assert_error(browser.recv(), "frame_error", None)
    browser.send_raw(struct.pack("=I", 3) + b'"\xff"')  # invalid UTF-8
    assert_error(browser.recv(), "frame_error", None)
    assert browser.recv_for(browser.request("status"))["type"] == "status"


def test_length_over_64_mib_is_fatal(browser: Browser) -> None:
    browser.send_raw(struct.pack("=I", 0xFFFFFFF0) + b"xxxx")
    msg = browser.recv(30)
    assert_error(msg, "frame_error", None)
    assert msg["data"]["fatal"] is True
    assert browser.proc.wait(5) == 0


@pytest.mark.parametrize(
    "garbage",
    [b"\x01", b'\x10\x00\x00\x00{"v"', os.urandom(3)],
    ids=["short-header", "short-body", "random"],
)
def test_garbage_then_close_exits(browser: Browser, garbage: bytes) -> None:
    browser.send_raw(garbage)
    browser.close_stdin()
    assert browser.proc.wait(5) == 0


def test_daemon_killed_mid_job(browser: Browser, daemon: DaemonProcess) -> None:
    request_id = browser.upload(ASTRONAUT.read_bytes(), site="facebook.com")
    assert browser.recv_for(request_id)["data"]["stage"] == "queued"
    os.kill(daemon.proc.pid, signal.SIGKILL)
    while (msg := browser.recv(10))["type"] == "progress":
        pass
    assert_error(msg, "daemon_lost", None)
    assert msg["data"]["fatal"] is True
    # The host stays until the browser closes the port (the extension does on a fatal error),
    # so a request still being written never meets a closed pipe.
    time.sleep(0.5)
    assert browser.proc.poll() is None
    browser.close_stdin()
    assert browser.proc.wait(5) == 1


def test_no_daemon_the_host_starts_one(_isolated_home: Path) -> None:
    assert Discovery.read(_isolated_home / "runtime" / "daemon.json") is None
    b = Browser(_isolated_home)
    started_pid = None
    try:
        reply = b.recv_for(b.request("status"), 90)
        assert reply["type"] == "status"
        found = Discovery.read(_isolated_home / "runtime" / "daemon.json")
        assert found is not None
        started_pid = found.pid
        assert b.finish() == 0
        time.sleep(0.5)
        os.kill(started_pid, 0)  # the daemon outlives the host
        assert os.getpgid(started_pid) != os.getpgid(0)  # and is not in our process group
    finally:
        if started_pid is not None:
            os.kill(started_pid, signal.SIGTERM)
            wait_for(
                lambda: not (_isolated_home / "runtime" / "daemon.json").exists(),
                20,
                "the started daemon to quit",
            )


def test_daemon_that_never_comes_gives_a_clear_error(_isolated_home: Path) -> None:
    # Hold the instance lock so the daemon the host starts says "already running" and exits.
    (_isolated_home / "runtime").mkdir(mode=0o700, exist_ok=True)
    with InstanceLock(_isolated_home / "runtime" / "daemon.lock"):
        b = Browser(_isolated_home, CLOAKER_HOST_WAIT_S="2")
        request_id = b.request("status")
        msg = b.recv(30)
        assert_error(msg, "daemon_unavailable", None)
        assert msg["data"]["fatal"] is True
        b.close_stdin()  # as the extension does on a fatal error
        assert b.proc.wait(5) == 1
        b.out.finish()
    del request_id


def test_no_daemon_while_a_photo_is_still_being_sent_gives_the_error_not_a_broken_pipe(
    _isolated_home: Path,
) -> None:
    """The browser writes a whole photo (several frames, more than a pipe holds) while the host
    finds no daemon: the host reads it all, the browser gets the host's own error (not a
    broken pipe, which Chrome reports as its generic "Error when communicating with the native
    messaging host"), and the host leaves once the port is closed."""
    (_isolated_home / "runtime").mkdir(mode=0o700, exist_ok=True)
    with InstanceLock(_isolated_home / "runtime" / "daemon.lock"):
        b = Browser(_isolated_home, CLOAKER_HOST_WAIT_S="1")
        b.upload(os.urandom(3 * UPLOAD_CHUNK + 1000))  # blocks until the host has read it
        msg = b.recv(30)
        assert_error(msg, "daemon_unavailable", None)
        assert msg["data"]["fatal"] is True
        b.close_stdin()
        assert b.proc.wait(5) == 1
        b.out.finish()


# --- chunked download of a real photo over 1 MiB -----------------------------------------


@needs_engine
def test_large_photo_round_trip_is_chunked(
    browser: Browser, daemon: DaemonProcess, faces_dir: Path, tmp_path: Path
) -> None:
    source = Image.open(faces_dir / "people" / "angelina_jolie" / "1.jpg").convert("RGB")
    png = tmp_path / "large.png"
    source.save(png, "PNG")
    photo = png.read_bytes()
    assert len(photo) > 1024 * 1024
    with daemon.client() as c:
        wait_for(
            lambda: c.request("status")["data"]["state"] == "ready",
            180,
            "a warm engine",
            interval_s=0.5,
        )
        c.request("settings.set", {"mode": "low"})
    request_id = browser.upload(photo, site="www.instagram.com", name="large.png")
    result, progress, data = browser.download(request_id)
    transfer = result["data"]["transfer"]
    assert transfer["size"] == len(data) > 1024 * 1024 and transfer["chunks"] > 1
    assert result["data"]["status"] == "cloaked" and result["data"]["mime"] == "image/png"
    assert progress and progress[0]["stage"] == "queued"
    # Identical to what the daemon produced: the daemon logs the sha256 of what it sent.
    digest = hashlib.sha256(data).hexdigest()
    assert transfer["sha256"] == digest
    assert f"sha256 {digest}" in daemon.log_text
    with Image.open(io.BytesIO(data)) as out:
        assert out.size == source.size
    assert browser.finish() == 0  # the scanner checked every frame was under 1 MiB


# --- the host's pieces, in process -------------------------------------------------------


def test_reply_just_over_one_mib_becomes_chunks_under_it() -> None:
    stream = io.BytesIO()
    payload = os.urandom(framing.MAX_OUTGOING + 1)
    msg = {
        "v": 1,
        "id": "r1",
        "type": "result",
        "data": {
            "status": "cloaked",
            "size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        },
    }
    host._download(msg, payload, host.FrameWriter(stream))
    stream.seek(0)
    frames = []
    while (frame := framing.read_frame(stream)) is not None:
        frames.append(frame)
    sizes = [len(framing.encode(f, limit=framing.MAX_INCOMING)) - 4 for f in frames]
    assert max(sizes) < framing.MAX_OUTGOING
    assert frames[0]["data"]["transfer"]["chunks"] == len(frames) - 1 == 3
    joined = b"".join(base64.b64decode(f["data"]["data"]) for f in frames[1:])
    assert joined == payload


def test_a_json_reply_over_one_mib_becomes_an_error_frame() -> None:
    stream = io.BytesIO()
    host.FrameWriter(stream).write(
        {"v": 1, "id": "r9", "type": "status", "data": {"pad": "x" * framing.MAX_OUTGOING}}
    )
    stream.seek(0)
    assert_error(framing.read_frame(stream), "message_too_large", "r9")
