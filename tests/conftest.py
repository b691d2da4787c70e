"""Shared fixtures. Every test runs with CLOAKER_HOME in a temporary directory so it never
touches the user's config, cache, logs or runtime files. Real model weights come from a
pre-populated folder (``make models`` fills ``.models/``; override with
CLOAKER_TEST_MODELS_DIR). Real photos come from ../shared/faces (override with
CLOAKER_FACES_DIR); tests that need them skip with a clear message when it is absent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import cloaker  # noqa: F401  (sets OMP_WAIT_POLICY before any test module imports torch)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _session_home(tmp_path_factory: pytest.TempPathFactory):
    """Session-wide isolation too, so module- and session-scoped fixtures (a warm engine,
    a daemon) never see the user's real directories."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLOAKER_HOME", str(tmp_path_factory.mktemp("cloaker_session_home")))
        mp.setenv("CLOAKER_MODELS_DIR", str(_models_dir()))
        yield


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path_factory.mktemp("cloaker_home")
    monkeypatch.setenv("CLOAKER_HOME", str(home))
    monkeypatch.setenv("CLOAKER_MODELS_DIR", str(_models_dir()))
    return home


def _models_dir() -> Path:
    return Path(os.environ.get("CLOAKER_TEST_MODELS_DIR", ROOT / ".models"))


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """Folder holding the verified model artifacts (filled by `make models`)."""
    path = _models_dir()
    if not path.is_dir():
        pytest.skip(f"model artifacts not found in {path}: run `make models` first")
    return path


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """../shared/faces (third-party photos: read in place, never copied into the project)."""
    path = Path(os.environ.get("CLOAKER_FACES_DIR", ROOT.parent / "shared" / "faces"))
    if not (path / "people").is_dir():
        pytest.skip(f"shared face photos not found at {path} (set CLOAKER_FACES_DIR)")
    return path


# Daemon fixtures shared by the daemon test modules (a module-wide daemon, a client of it,
# and a daemon of a test's own). Imported lazily: most tests never start a daemon.
@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from daemon_util import shared_daemon

    yield from shared_daemon(tmp_path_factory.mktemp("shared_home"))


@pytest.fixture
def client(shared) -> Iterator[object]:
    with shared.client() as c:
        yield c


@pytest.fixture
def fresh(_isolated_home: Path) -> Iterator[object]:
    """A daemon of its own, in this test's CLOAKER_HOME."""
    from daemon_util import start_daemon

    daemon = start_daemon(_isolated_home)
    yield daemon
    daemon.kill()
