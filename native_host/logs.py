"""Logging for the daemon and the native host: a rotating file in the user log dir plus stderr.
(The native host's stdout carries protocol frames only, so nothing here touches stdout.)"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from cloaker import paths

FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def setup_logging(name: str, level: int = logging.INFO) -> Path:
    """Send the root logger to ``<log dir>/<name>.log`` (rotated at 1 MB, 3 kept) and stderr."""
    path = paths.log_dir() / f"{name}.log"
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = logging.Formatter(FORMAT)
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
    )
    stderr_handler = logging.StreamHandler(sys.stderr)
    for handler in (file_handler, stderr_handler):
        handler.setFormatter(formatter)
        root.addHandler(handler)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    return path
