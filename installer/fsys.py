"""The file operations the installer needs, behind a small interface.

``RealFileSystem`` acts on this machine (atomic writes: temp file, fsync, rename).
``MemoryFileSystem`` keeps everything in a dict, so a plan for another OS (Windows paths
on Linux) can be applied and undone in tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePath
from typing import Protocol

CHUNK = 1 << 20


class FileSystem(Protocol):
    """What the installer may do to files and folders."""

    def read(self, path: PurePath) -> bytes | None:
        """The file's bytes, or None when it does not exist."""

    def sha256(self, path: PurePath) -> str | None:
        """The file's sha256 (streamed), or None when it does not exist."""

    def is_executable(self, path: PurePath) -> bool:
        """True when the file exists and its owner may execute it."""

    def is_dir(self, path: PurePath) -> bool:
        """True for an existing folder."""

    def write(self, path: PurePath, content: bytes, executable: bool) -> None:
        """Replace the file atomically with ``content``; mode 0755 or 0644."""

    def mkdir(self, path: PurePath) -> None:
        """Create one folder whose parent exists."""

    def remove(self, path: PurePath) -> None:
        """Delete a file."""

    def rmdir(self, path: PurePath) -> bool:
        """Delete an empty folder; False (and nothing done) when it is not empty."""


class RealFileSystem:
    """This machine's files."""

    def read(self, path: PurePath) -> bytes | None:
        try:
            return Path(path).read_bytes()
        except FileNotFoundError:
            return None

    def sha256(self, path: PurePath) -> str | None:
        digest = hashlib.sha256()
        try:
            with Path(path).open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
        except FileNotFoundError:
            return None
        return digest.hexdigest()

    def is_executable(self, path: PurePath) -> bool:
        return Path(path).is_file() and os.access(path, os.X_OK)

    def is_dir(self, path: PurePath) -> bool:
        return Path(path).is_dir()

    def write(self, path: PurePath, content: bytes, executable: bool) -> None:
        target = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o755 if executable else 0o644)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)  # only the temp file; the error itself propagates
            raise

    def mkdir(self, path: PurePath) -> None:
        Path(path).mkdir()

    def remove(self, path: PurePath) -> None:
        Path(path).unlink()

    def rmdir(self, path: PurePath) -> bool:
        target = Path(path)
        if any(target.iterdir()):
            return False
        target.rmdir()
        return True


class MemoryFileSystem:
    """Files and folders in memory; every path's anchor (``/``, ``C:\\``) exists."""

    def __init__(self, dirs: Iterable[PurePath] = ()) -> None:
        self.files: dict[PurePath, tuple[bytes, bool]] = {}
        self.dirs: set[PurePath] = set()
        for folder in dirs:  # pre-existing folders, with their parents
            self.dirs.update(p for p in (folder, *folder.parents) if p != p.parent)

    def read(self, path: PurePath) -> bytes | None:
        entry = self.files.get(path)
        return entry[0] if entry else None

    def sha256(self, path: PurePath) -> str | None:
        data = self.read(path)
        return None if data is None else hashlib.sha256(data).hexdigest()

    def is_executable(self, path: PurePath) -> bool:
        entry = self.files.get(path)
        return bool(entry and entry[1])

    def is_dir(self, path: PurePath) -> bool:
        return path in self.dirs or path == path.parent  # an anchor is its own parent

    def write(self, path: PurePath, content: bytes, executable: bool) -> None:
        if not self.is_dir(path.parent):
            raise FileNotFoundError(f"no folder {path.parent}")
        self.files[path] = (content, executable)

    def mkdir(self, path: PurePath) -> None:
        if not self.is_dir(path.parent):
            raise FileNotFoundError(f"no folder {path.parent}")
        if self.is_dir(path) or path in self.files:
            raise FileExistsError(str(path))
        self.dirs.add(path)

    def remove(self, path: PurePath) -> None:
        if path not in self.files:
            raise FileNotFoundError(str(path))
        del self.files[path]

    def rmdir(self, path: PurePath) -> bool:
        if any(p.parent == path for p in (*self.files, *self.dirs)):
            return False
        self.dirs.discard(path)
        return True
