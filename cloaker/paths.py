"""Where Cloaker keeps its files: platformdirs only, with overrides for tests and offline use.

``CLOAKER_HOME`` puts every directory (config, cache, logs, runtime) under one folder; tests
point it at a temporary directory so they never touch the user's own files.
``CLOAKER_MODELS_DIR`` names a pre-populated folder of model artifacts (offline machines).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "cloaker"


def _home() -> Path | None:
    home = os.environ.get("CLOAKER_HOME")
    return Path(home) if home else None


def _dir(kind: str) -> Path:
    home = _home()
    if home is not None:
        path = home / kind
    else:
        getter = {
            "config": platformdirs.user_config_dir,
            "cache": platformdirs.user_cache_dir,
            "log": platformdirs.user_log_dir,
            "runtime": platformdirs.user_runtime_dir,
        }[kind]
        path = Path(getter(APP, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """Settings (owned by the daemon)."""
    return _dir("config")


def cache_dir() -> Path:
    """Downloaded model artifacts and other re-creatable data."""
    return _dir("cache")


def log_dir() -> Path:
    """Rotating log files."""
    return _dir("log")


def runtime_dir() -> Path:
    """The daemon's discovery file and instance lock."""
    path = _dir("runtime")
    if os.name == "posix":
        path.chmod(0o700)
    return path


def models_dir() -> Path:
    """Model artifacts: ``CLOAKER_MODELS_DIR`` if set, else ``<cache>/models``."""
    override = os.environ.get("CLOAKER_MODELS_DIR")
    if override:
        return Path(override)
    path = cache_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
