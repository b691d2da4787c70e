"""Test helpers: a real daemon in a subprocess (``cloaker daemon --no-tray``) with all its
dirs under one temporary CLOAKER_HOME, and a real websocket client that speaks PROTOCOL.md."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from native_host.discovery import Discovery
from native_host.protocol import ERROR_CODES, MAX_WS_FRAME

ROOT = Path(__file__).resolve().parent.parent
TERMINAL = ("result", "error")


def wait_for(predicate: Any, timeout_s: float, what: str, interval_s: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@dataclass
class DaemonProcess:
    """A daemon subprocess and where to find it."""

    home: Path
    proc: subprocess.Popen[bytes]
    discovery: Discovery

    @property
    def discovery_path(self) -> Path:
        return self.home / "runtime" / "daemon.json"

    @property
    def log_text(self) -> str:
        path = self.home / "log" / "daemon.log"
        return path.read_text("utf-8") if path.exists() else ""

    def client(self, **kwargs: Any) -> Client:
        return Client.open(self.discovery, **kwargs)

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGTERM (the clean quit path) and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def daemon_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, CLOAKER_HOME=str(home), **extra)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def start_daemon(home: Path, *args: str, wait_s: float = 60.0) -> DaemonProcess:
    """Start ``cloaker daemon --no-tray`` and wait until its discovery file names it."""
    command = [sys.executable, "-m", "cloaker", "daemon", "--no-tray", *args]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=daemon_env(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    path = home / "runtime" / "daemon.json"

    def ready() -> Discovery | None:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited early with {proc.returncode}")
        found = Discovery.read(path) if path.exists() else None
        return found if found is not None and found.pid == proc.pid else None

    try:
        discovery = wait_for(ready, wait_s, "the daemon's discovery file")
    except BaseException:
        proc.kill()
        raise
    return DaemonProcess(home, proc, discovery)


@dataclass
class Client:
    """A protocol client over a real websocket; pushes are collected on the side."""

    ws: ClientConnection
    pushes: list[dict[str, Any]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: (f"r{i}" for i in itertools.count(1)))
    _backlog: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def open(cls, found: Discovery, token: str | None = None, **kwargs: Any) -> Client:
        headers = {"Authorization": f"Bearer {found.token if token is None else token}"}
        ws = connect(
            f"ws://127.0.0.1:{found.port}/",
            additional_headers=headers,
            max_size=MAX_WS_FRAME,
            compression=None,
            proxy=None,
            legacy=True,
            **kwargs,
        )
        return cls(ws)

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next_id(self) -> str:
        return next(self._ids)

    def send(self, type_: str, data: dict[str, Any] | None = None, request_id: str | None = None):
        request_id = request_id or self.next_id()
        self.ws.send(json.dumps({"v": 1, "id": request_id, "type": type_, "data": data or {}}))
        return request_id

    def recv(self, timeout_s: float = 30.0) -> dict[str, Any] | bytes:
        """The next raw frame (JSON parsed)."""
        frame = self.ws.recv(timeout_s)
        return frame if isinstance(frame, bytes) else json.loads(frame)

    def message(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """The next JSON message (set-aside ones first); a result's bytes are attached as
        ``msg["payload"]``."""
        if self._backlog:
            return self._backlog.pop(0)
        return self._read(timeout_s)

    def _read(self, timeout_s: float) -> dict[str, Any]:
        msg = self.recv(timeout_s)
        assert isinstance(msg, dict), "binary frame without a result before it"
        if msg["type"] == "result" and "size" in msg["data"]:
            payload = self.recv(timeout_s)
            assert isinstance(payload, bytes), "result not followed by its bytes"
            msg["payload"] = payload
        return msg

    def recv_for(self, request_id: str | None, timeout_s: float = 30.0) -> dict[str, Any]:
        """The next message for ``request_id``; pushes and other ids' messages wait aside."""
        for index, msg in enumerate(self._backlog):
            if msg["id"] == request_id:
                return self._backlog.pop(index)
        deadline = time.monotonic() + timeout_s
        while True:
            msg = self._read(max(deadline - time.monotonic(), 0.01))
            if msg["id"] is None and msg["type"] == "settings.changed":
                self.pushes.append(msg)
            elif msg["id"] == request_id:
                return msg
            else:
                self._backlog.append(msg)

    def next_push(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """The next ``settings.changed`` push (others' messages wait aside)."""
        deadline = time.monotonic() + timeout_s
        while not self.pushes:
            msg = self._read(max(deadline - time.monotonic(), 0.01))
            if msg["id"] is None and msg["type"] == "settings.changed":
                self.pushes.append(msg)
            else:
                self._backlog.append(msg)
        return self.pushes.pop(0)

    def request(self, type_: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.recv_for(self.send(type_, data))

    def send_cloak(
        self,
        data: bytes,
        site: str = "www.facebook.com",
        name: str = "photo.jpg",
        request_id: str | None = None,
        mime: str = "image/jpeg",
    ) -> str:
        request_id = request_id or self.next_id()
        header = {
            "name": name,
            "mime": mime,
            "site": site,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        self.send("cloak", header, request_id)
        self.ws.send(data)
        return request_id

    def wait_job(self, request_id: str, timeout_s: float = 300.0) -> Job:
        """Collect a job's events until its terminal message (and bytes)."""
        job = Job(request_id)
        while True:
            msg = self.recv_for(request_id, timeout_s)
            if msg["type"] == "progress":
                job.progress.append(msg["data"])
                continue
            job.payload = msg.pop("payload", None)
            job.terminal = msg
            return job


@dataclass
class Job:
    request_id: str
    progress: list[dict[str, Any]] = field(default_factory=list)
    terminal: dict[str, Any] | None = None
    payload: bytes | None = None

    @property
    def error_name(self) -> str | None:
        if self.terminal and self.terminal["type"] == "error":
            return self.terminal["data"]["name"]
        return None


ASTRONAUT = ROOT / "examples" / "astronaut.jpg"


def engine_available() -> bool:
    from cloaker.engine import Engine

    return hasattr(Engine, "cloak_bytes")


needs_engine = pytest.mark.skipif(not engine_available(), reason="cloaker.engine not landed yet")


def shared_daemon(home: Path) -> Iterator[DaemonProcess]:
    """Body of a module-scoped fixture: one daemon for tests that need no fresh start (mode
    low: cloak tests check the path through the daemon, not the engine's strength)."""
    daemon = start_daemon(home)
    with daemon.client() as c:
        c.request("settings.set", {"mode": "low"})
    yield daemon
    code = daemon.stop()
    assert code == 0, f"daemon exit code {code}"


def wait_ready(client: Client, timeout_s: float = 180.0) -> dict[str, Any]:
    """Wait until the daemon's engine is warm; fail at once if it failed to load."""

    def ready() -> dict[str, Any] | None:
        status = client.request("status")["data"]
        assert status["state"] != "failed", status.get("error")
        return status if status["state"] == "ready" else None

    return wait_for(ready, timeout_s, "the engine to warm", interval_s=0.5)


def assert_error(msg: dict[str, Any], name: str, request_id: str | None) -> None:
    """``msg`` is the documented error ``name`` for ``request_id``."""
    assert msg["type"] == "error", msg
    assert msg["id"] == request_id
    assert msg["data"]["name"] == name
    assert msg["data"]["code"] == ERROR_CODES[name]
    assert msg["data"]["message"]


def assert_still_serving(client: Client) -> None:
    assert client.request("status")["data"]["version"]
