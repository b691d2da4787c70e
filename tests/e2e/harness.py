"""Shared pieces of the end-to-end browser tests (imported by conftest.py and the tests):
names, paths, and the real daemon as a process a test can stop and start again."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daemon_client import discovery, request, wait_ready

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHROMIUM = Path(os.environ.get("CLOAKER_CHROMIUM", "/usr/lib/chromium/chromium"))
EXTENSION_ID = json.loads((ROOT / "extension" / "ids.json").read_text())["chrome_id"]
ALLOWED = "social.test"  # on the daemon's allowlist in these tests
OTHER = "other.test"  # not on it
ARTIFACTS = ROOT / "artifacts"
READY_TIMEOUT_S = 600.0  # first model load on a cold, 2-core machine
# The cloak's speed is the engine's business (BENCHMARKS.md); these tests only need every job
# to finish, on a slow shared CI machine too. Both can be overridden for local runs.
JOB_TIMEOUT_S = float(os.environ.get("CLOAKER_E2E_JOB_TIMEOUT", "900"))
MODE = os.environ.get("CLOAKER_E2E_MODE", "mid")

RunBrowser = Callable[..., dict[str, Any]]


def driver_result(returncode: int | None, stdout: str, stderr: str) -> dict[str, Any]:
    """The driver's last ``RESULT {...}`` line; fails the test when there is none or it says
    the driver did not finish."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        raise AssertionError(f"driver failed (rc {returncode}):\n{stdout}\n{stderr[-4000:]}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    if not result.get("ok"):
        raise AssertionError(f"driver error: {result.get('error')}\nevents: {result.get('events')}")
    return result


def run_driver(argv: list[str], env: dict[str, str], timeout_s: float) -> dict[str, Any]:
    """Run a one-shot browser driver (tests/e2e/*.mjs) to its end; returns its result."""
    proc = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT
    )
    return driver_result(proc.returncode, proc.stdout, proc.stderr)


def bin_path(name: str) -> str:
    found = Path(sys.executable).parent / name
    return str(found) if found.exists() else name


class Daemon:
    """The real daemon (``cloaker daemon --no-tray``), startable and stoppable by a test."""

    def __init__(self, home: Path, env: dict[str, str], log_path: Path) -> None:
        self.home = home
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> dict[str, Any]:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [bin_path("cloaker"), "daemon", "--no-tray", "--job-timeout", str(JOB_TIMEOUT_S)],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while discovery(self.home) is None or discovery(self.home)["pid"] != self.process.pid:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daemon did not start; see {self.log_path}")
            time.sleep(0.1)
        return wait_ready(self.home, READY_TIMEOUT_S)

    @property
    def pid(self) -> int | None:
        found = discovery(self.home)
        return found["pid"] if found else None

    def stop(self) -> None:
        """Stop our daemon and any daemon a native host started in this home meanwhile."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        other = self.pid
        if other is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(other, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while discovery(self.home) is not None and time.monotonic() < deadline:
                time.sleep(0.1)
        (self.home / "runtime" / "daemon.json").unlink(missing_ok=True)

    def status(self) -> dict[str, Any]:
        """The daemon's status reply."""
        return request(self.home, "status")

    def get(self) -> dict[str, Any]:
        """settings.get."""
        return request(self.home, "settings.get")

    def set(self, **data: Any) -> dict[str, Any]:
        """settings.set, as the tray does."""
        return request(self.home, "settings.set", data)
