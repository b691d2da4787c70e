"""What the tests of bench/ scripts share: importing a script as a module."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent.parent / "bench"


def import_bench(name: str) -> ModuleType:
    """The bench/ script ``name`` as a module (bench/ on the path while it imports, since
    the scripts import each other by name)."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))
