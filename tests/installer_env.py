"""Shared set-up for the installer tests: a scratch home (HOME and the XDG folders in a
temporary directory) and helpers to run the CLI and list what is on disk. Imported by the
``test_installer*`` modules; never touches the real home."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloaker.cli import main

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sandbox:
    """A scratch machine: ``home`` (HOME), ``cloaker_home`` (CLOAKER_HOME, from conftest)."""

    base: Path
    home: Path
    cloaker_home: Path

    @property
    def config(self) -> Path:
        return self.home / ".config"

    @property
    def data(self) -> Path:
        """Where a per-user install puts launchers and the receipt (CLOAKER_HOME/data)."""
        return self.cloaker_home / "data"

    def tree(self) -> set[str]:
        """Every path under the scratch folders, relative and sorted into a set."""
        found: set[str] = set()
        for top in (self.base, self.cloaker_home):
            for dirpath, dirnames, filenames in os.walk(top):
                for name in (*dirnames, *filenames):
                    found.add(str(Path(dirpath, name)))
        return found


@pytest.fixture(name="sandbox")
def sandbox_fixture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_home: Path
) -> Sandbox:
    """HOME, XDG_CONFIG_HOME, XDG_DATA_HOME and XDG_CACHE_HOME in a temporary folder, as a
    fresh account has them (home and ~/.config exist, nothing else)."""
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    for name in ("USERPROFILE", "LOCALAPPDATA", "APPDATA", "PROGRAMDATA"):
        monkeypatch.delenv(name, raising=False)
    return Sandbox(tmp_path, home, _isolated_home)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``cloaker ARGV`` in-process; return (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
