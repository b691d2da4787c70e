"""The installed launcher really starts the native host: a native-messaging ``status`` round
trip through it, started the way each browser starts a host (Chromium: the caller's origin as
the argument; Firefox: the manifest's path and the add-on id), with a bare environment (no
activated venv, no CLOAKER_* variables) to show the launcher brings its own."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from installer_env import ROOT, Sandbox, run_cli, sandbox_fixture  # noqa: F401

from installer.ids import CHROME_EXTENSION_ID, FIREFOX_EXTENSION_ID, HOST_NAME

pytestmark = pytest.mark.skipif(
    not (ROOT / "native_host" / "host.py").is_file(),
    reason="native_host/host.py (the native host) is not written yet",
)

HEADER = struct.Struct("=I")  # native byte order, as browsers frame messages
REPLY_TIMEOUT_S = 60.0


def _exchange(argv: list[str], env: dict[str, str], message: dict) -> dict:
    """Start the host like a browser does, send one frame, read one frame, close stdin."""
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        body = json.dumps(message).encode("utf-8")
        proc.stdin.write(HEADER.pack(len(body)) + body)
        proc.stdin.flush()
        header = _read(proc.stdout, HEADER.size)
        (length,) = HEADER.unpack(header)
        reply = json.loads(_read(proc.stdout, length))
        proc.stdin.close()
        assert proc.wait(timeout=REPLY_TIMEOUT_S) == 0
        return reply
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _read(stream: IO[bytes], size: int) -> bytes:
    data = b""
    deadline = time.monotonic() + REPLY_TIMEOUT_S
    while len(data) < size:
        assert time.monotonic() < deadline, "no reply from the host"
        chunk = stream.read(size - len(data))
        assert chunk, f"host closed stdout after {len(data)} of {size} bytes"
        data += chunk
    return data


def _stop_daemon(cloaker_home: Path) -> None:
    """Stop the daemon the host started (it outlives the host by design)."""
    discovery = cloaker_home / "runtime" / "daemon.json"
    if not discovery.is_file():
        return
    pid = json.loads(discovery.read_text())["pid"]
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def installed(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> Iterator[Sandbox]:
    code, _, err = run_cli(
        capsys, "install", "--browser", "chromium,firefox", "--no-models", "--no-autostart"
    )
    assert code == 0, err
    yield sandbox
    _stop_daemon(sandbox.cloaker_home)


def _bare_env(sandbox: Sandbox) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(sandbox.home), "LANG": "C.UTF-8"}


def test_status_round_trip_as_chromium_starts_it(installed: Sandbox) -> None:
    manifest = installed.config / "chromium" / "NativeMessagingHosts" / f"{HOST_NAME}.json"
    launcher = json.loads(manifest.read_text())["path"]
    assert os.access(launcher, os.X_OK)
    origin = f"chrome-extension://{CHROME_EXTENSION_ID}/"
    reply = _exchange(
        [launcher, origin], _bare_env(installed), {"v": 1, "id": "s1", "type": "status"}
    )
    assert reply["type"] == "status" and reply["id"] == "s1"
    assert reply["data"]["state"] in ("warming", "ready", "failed")
    # The launcher's baked CLOAKER_HOME reached the host: the daemon it started is there.
    assert (installed.cloaker_home / "runtime" / "daemon.json").is_file()


def test_status_round_trip_as_firefox_starts_it(installed: Sandbox) -> None:
    manifest = installed.home / ".mozilla" / "native-messaging-hosts" / f"{HOST_NAME}.json"
    launcher = json.loads(manifest.read_text())["path"]
    argv = [launcher, str(manifest), FIREFOX_EXTENSION_ID]
    reply = _exchange(argv, _bare_env(installed), {"v": 1, "id": "s2", "type": "status"})
    assert reply["type"] == "status" and reply["id"] == "s2"
