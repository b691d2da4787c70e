"""The Cloaker daemon: one per user; websocket server + job worker on a background event loop,
the tray icon (or a plain wait with ``--no-tray``) on the main thread.

Entry points: ``cloaker daemon`` and ``cloaker-daemon``. Exit codes: 0 (also when another
daemon is already running), 1 when it cannot start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cloaker import __version__, paths
from native_host.device_thread import DeviceThread
from native_host.discovery import (
    AlreadyRunningError,
    Discovery,
    InstanceLock,
    new_token,
    remove_discovery,
)
from native_host.jobs import EngineHost, EngineLike, JobQueue, Limits
from native_host.server import Server
from native_host.settings import SettingsStore

log = logging.getLogger(__name__)
# A quit ends within 2 s: the clean shutdown takes under 1 s (see server.CLOSE_S); past
# this many seconds after the request the process leaves without it.
HARD_QUIT_S = 1.4
EngineFactory = Callable[[], EngineLike]


def real_engine_factory(device: str | None) -> EngineFactory:
    """The product's engine; imported on the device thread so start-up stays fast."""

    def create() -> EngineLike:
        from cloaker.engine import Engine  # heavy (torch): load in the background

        return Engine(device=device)

    return create


class Daemon:
    """Owns the event loop thread, the server, the queue and the settings."""

    def __init__(self, engine_factory: EngineFactory, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.settings = SettingsStore(paths.config_dir() / "settings.json")
        self.token = new_token()
        self.port: int | None = None
        self.jobs = 0  # queued or running, for the tray
        self._engine_factory = engine_factory
        self._activity_listeners: list[Callable[[], None]] = []
        self._stopped_listeners: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested_at: float | None = None
        self._started = threading.Event()
        self._stopped = threading.Event()
        self._start_error: BaseException | None = None
        self._thread = threading.Thread(target=self._thread_main, name="cloaker-loop")

    @property
    def busy(self) -> bool:
        return self.jobs > 0

    def on_activity(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` (from the loop thread) when the number of jobs changes."""
        self._activity_listeners.append(listener)

    def on_stopped(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` once the daemon has shut down (from the loop thread)."""
        self._stopped_listeners.append(listener)

    def start(self, timeout_s: float = 30.0) -> None:
        """Start serving; returns once the discovery file is written."""
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise RuntimeError(f"the server did not start within {timeout_s} s")
        if self._start_error is not None:
            raise RuntimeError(f"the server failed to start: {self._start_error}")

    def request_stop(self) -> None:
        """Ask for a clean shutdown; safe from any thread and from signal handlers."""
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        elif not self._thread.is_alive():
            self._finish()  # never started: nothing to shut down

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until shut down; True when it has."""
        return self._stopped.wait(timeout_s)

    def wait_for_quit(self) -> None:
        """Block until shut down, or until ``HARD_QUIT_S`` after a stop was requested: when
        the event loop is starved (model loading holds the GIL for long stretches on a busy
        machine) the clean shutdown is left unfinished, the discovery file removed, and the
        caller exits the process, which closes every connection anyway."""
        while not self._stopped.wait(0.1):  # short waits keep signal handlers responsive
            requested = self._stop_requested_at
            if requested is not None and time.monotonic() - requested > HARD_QUIT_S:
                log.warning("the clean shutdown ran over %.1f s; quitting without it", HARD_QUIT_S)
                remove_discovery(os.getpid())
                return

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            log.exception("the daemon's event loop failed")
            self._start_error = exc
            self._started.set()
        finally:
            self._finish()

    def _finish(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        for listener in self._stopped_listeners:
            listener()

    def _set_jobs(self, count: int) -> None:
        if count != self.jobs:
            self.jobs = count
            for listener in self._activity_listeners:
                listener()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        device = DeviceThread()
        engine = EngineHost(self._engine_factory, device)
        queue = JobQueue(
            engine,
            device,
            self.limits,
            lambda: self.settings.get().mode,
            on_activity=self._set_jobs,
        )
        server = Server(self.token, self.settings, engine, queue, self.limits)
        self.port = await server.start()
        Discovery(self.port, self.token, os.getpid(), __version__).write()
        log.info(
            "listening on 127.0.0.1:%d (pid %d, version %s)", self.port, os.getpid(), __version__
        )
        engine.start()
        worker = asyncio.create_task(queue.run(), name="cloaker-worker")
        self._started.set()
        try:
            await self._stop.wait()
            log.info("shutting down")
            await server.close()
        finally:
            worker.cancel()
            remove_discovery(os.getpid())
            device.shutdown(wait=False, cancel_futures=True)
            log.info("stopped")


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the daemon's options (shared by ``cloaker daemon`` and ``cloaker-daemon``)."""
    parser.add_argument(
        "--no-tray",
        action="store_true",
        help="run without a tray icon (machines without a display, tests)",
    )
    parser.add_argument(
        "--device", default=None, help="torch device: cpu, cuda, mps (default: best available)"
    )
    parser.add_argument(
        "--job-timeout",
        type=float,
        default=Limits.job_timeout_s,
        help="seconds a cloak job may run (default: %(default)s)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the daemon until it is told to quit. Returns the process exit code."""
    lock = InstanceLock()
    try:
        lock.acquire()
    except AlreadyRunningError:
        current = Discovery.read()
        pid = f" (pid {current.pid})" if current else ""
        print(f"cloaker daemon: already running{pid}", flush=True)
        return 0
    from native_host.logs import setup_logging

    log_path = setup_logging("daemon", logging.DEBUG if args.verbose else logging.INFO)
    try:
        if args.job_timeout <= 0:
            log.error("--job-timeout must be positive")
            return 2
        daemon = Daemon(real_engine_factory(args.device), Limits(job_timeout_s=args.job_timeout))
        signal.signal(signal.SIGTERM, lambda *_: daemon.request_stop())
        signal.signal(signal.SIGINT, lambda *_: daemon.request_stop())
        if args.no_tray or not _run_tray(daemon, log_path.parent):
            daemon.start()
        daemon.wait_for_quit()
        # Everything of ours is closed (clients told, discovery file removed, settings are
        # written as they change; past HARD_QUIT_S the exit closes the connections), so
        # leave without finalizing the interpreter: with torch
        # and the models loaded that takes ~0.8 s on two cores, and it aborts the process
        # (exit -6) when the device thread is still inside torch (a quit during warm-up or
        # a cloak).
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        lock.release()
        os._exit(0)
    finally:
        lock.release()


def _run_tray(daemon: Daemon, log_folder: Path) -> bool:
    """Run the tray on this (main) thread until Quit; False when no tray can be shown."""
    from native_host import tray  # imports pystray, which needs a display on Linux

    try:
        icon = tray.Tray(daemon, log_folder)
    except tray.TrayUnavailableError as exc:
        log.warning("no tray icon (%s); running without one", exc)
        return False
    icon.run()
    return True


def main(argv: list[str] | None = None) -> int:
    """``cloaker-daemon`` console script."""
    parser = build_parser(argparse.ArgumentParser(prog="cloaker-daemon", description=__doc__))
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
