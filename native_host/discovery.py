"""How the native host finds the daemon: ``<runtime dir>/daemon.json`` (0600) with
``{port, token, pid, version}``, and the one-daemon-per-user lock ``daemon.lock``."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from cloaker import paths
from native_host.atomic import atomic_write

DISCOVERY_NAME = "daemon.json"
LOCK_NAME = "daemon.lock"


def discovery_path() -> Path:
    return paths.runtime_dir() / DISCOVERY_NAME


def new_token() -> str:
    """A fresh random token: 32 bytes from ``secrets``, as 64 hex digits."""
    return secrets.token_hex(32)


@dataclass(frozen=True)
class Discovery:
    port: int
    token: str
    pid: int
    version: str

    def write(self, path: Path | None = None) -> None:
        """Atomically write the file, readable by the user only."""
        data = json.dumps(asdict(self)).encode("utf-8")
        atomic_write(path or discovery_path(), data, mode=0o600)

    @classmethod
    def read(cls, path: Path | None = None) -> Discovery | None:
        """The current file, or ``None`` when there is none or it is not a discovery file."""
        try:
            obj: Any = json.loads((path or discovery_path()).read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (UnicodeDecodeError, ValueError):
            return None  # half-written by a foreign tool; the daemon rewrites it at start
        if not isinstance(obj, dict):
            return None
        port, token, pid = obj.get("port"), obj.get("token"), obj.get("pid")
        if not (isinstance(port, int) and isinstance(token, str) and isinstance(pid, int)):
            return None
        return cls(port, token, pid, str(obj.get("version", "")))


def remove_discovery(pid: int, path: Path | None = None) -> None:
    """Remove the file if it still belongs to process ``pid`` (a newer daemon may own it)."""
    target = path or discovery_path()
    current = Discovery.read(target)
    if current is not None and current.pid == pid:
        target.unlink(missing_ok=True)


class AlreadyRunningError(Exception):
    """Another daemon of this user holds the lock."""


class InstanceLock:
    """An exclusive, non-blocking OS file lock, released automatically if the process dies."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.runtime_dir() / LOCK_NAME
        self._handle: IO[bytes] | None = None

    def acquire(self) -> None:
        handle = open(self.path, "a+b")  # noqa: SIM115 - held open for the daemon's lifetime
        try:
            _lock(handle)
        except OSError as exc:
            handle.close()
            raise AlreadyRunningError(f"another daemon holds {self.path}") from exc
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            _unlock(self._handle)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
