"""The native host's way to the daemon: read the discovery file, connect and authenticate;
when no daemon answers, start one (detached, so it outlives the host) and wait for it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

from websockets.exceptions import InvalidHandshake
from websockets.sync.client import ClientConnection, connect

from native_host.discovery import Discovery
from native_host.protocol import MAX_WS_FRAME

log = logging.getLogger(__name__)
DEFAULT_WAIT_S = 60.0
WAIT_ENV = "CLOAKER_HOST_WAIT_S"  # override of the bound on waiting for a new daemon


class DaemonUnavailableError(Exception):
    """No daemon could be found, started or reached in time."""


def has_display() -> bool:
    """Whether a tray icon can be shown (X11 or Wayland on Linux/BSD; always elsewhere)."""
    if sys.platform.startswith(("win", "darwin")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def daemon_command() -> list[str]:
    """How to start the daemon: this interpreter, so the same install runs it."""
    command = [sys.executable, "-m", "native_host.daemon"]
    if not has_display():
        command.append("--no-tray")
    return command


def start_daemon() -> subprocess.Popen[bytes]:
    """Start a daemon detached from this process (own session, no inherited stdio)."""
    command = daemon_command()
    log.info("starting the daemon: %s", " ".join(command))
    extra: dict[str, object] = {}
    if os.name == "nt":
        extra["creationflags"] = (
            subprocess.DETACHED_PROCESS
            | subprocess.CREATE_NEW_PROCESS_GROUP
            | subprocess.CREATE_NO_WINDOW
        )
    else:
        extra["start_new_session"] = True  # survives the browser killing the host
    # stdout must never be inherited: it is the browser's frame stream.
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        **extra,
    )


def try_connect(found: Discovery, timeout_s: float = 5.0) -> ClientConnection | None:
    """Connect and authenticate; ``None`` when that daemon does not answer or refuses us."""
    try:
        return connect(
            f"ws://127.0.0.1:{found.port}/",
            additional_headers={"Authorization": f"Bearer {found.token}"},
            max_size=MAX_WS_FRAME,
            compression=None,
            proxy=None,
            open_timeout=timeout_s,
            close_timeout=1.0,
            user_agent_header=None,
            legacy=True,  # a plain connection, not the reconnecting iterator
        )
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        log.info("daemon at port %d (pid %d) did not answer: %s", found.port, found.pid, exc)
        return None


def wait_bound_s() -> float:
    raw = os.environ.get(WAIT_ENV)
    return float(raw) if raw else DEFAULT_WAIT_S


def connect_daemon() -> ClientConnection:
    """A connection to the running daemon, starting one if needed."""
    found = Discovery.read()
    if found is not None:
        conn = try_connect(found)
        if conn is not None:
            return conn
    process = start_daemon()
    deadline = time.monotonic() + wait_bound_s()
    tried, retry_at = found, time.monotonic() + 1.0
    while time.monotonic() < deadline:
        found = Discovery.read()
        # A new file is tried at once; the same one again after a pause (a daemon that is
        # busy loading models may answer a handshake late).
        if found is not None and (found != tried or time.monotonic() >= retry_at):
            conn = try_connect(found)
            if conn is not None:
                return conn
            tried, retry_at = found, time.monotonic() + 1.0
        if process.poll() not in (None, 0):
            raise DaemonUnavailableError(f"the daemon exited with status {process.returncode}")
        time.sleep(0.05)
    raise DaemonUnavailableError(f"no daemon answered within {wait_bound_s():.0f} s")
