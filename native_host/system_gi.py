"""PyGObject (``gi``) for the tray, from the virtual environment or else from the Linux
distribution's package (Debian's ``python3-gi``, Fedora's ``python3-gobject``).

A venv made with ``python3 -m venv`` does not see the system's site-packages, and PyGObject
from PyPI has no wheels: pip compiles it against C headers most desktops lack. The
distribution's ``gi`` is a compiled extension built for the distribution's Python; when its
ABI tag matches this interpreter's (same CPython minor version) it loads here as it is. Only
the ``gi`` package is loaded from that folder, never the folder as a whole, so the venv's own
packages are not shadowed by the system's older copies.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GiFound:
    """``gi`` and the folder it comes from (``module`` ``None``: found nowhere) and, when the
    system has one this Python cannot load, the folder it is in."""

    module: ModuleType | None
    source: str
    foreign: Path | None = None


def system_site_dirs(version: tuple[int, int] | None = None) -> list[Path]:
    """The folders distributions put their Python packages in, for CPython ``version``."""
    major, minor = version or sys.version_info[:2]
    return [
        Path("/usr/lib/python3/dist-packages"),  # Debian, Ubuntu
        Path(f"/usr/lib/python{major}.{minor}/site-packages"),  # Arch
        Path(f"/usr/lib64/python{major}.{minor}/site-packages"),  # Fedora, openSUSE
    ]


def _abi_suffix() -> str:
    return str(sysconfig.get_config_var("EXT_SUFFIX") or "")


def _loadable(folder: Path) -> bool:
    """True when ``folder/gi`` holds the compiled part built for this interpreter."""
    return (folder / "gi" / f"_gi{_abi_suffix()}").is_file()


def find_gi(dirs: list[Path] | None = None) -> GiFound:
    """Import ``gi``: the venv's own first, then a distribution's that matches this ABI."""
    if "gi" in sys.modules or importlib.util.find_spec("gi") is not None:
        try:
            import gi
        except ImportError as exc:  # a broken install: no menu, and the log says why
            log.warning("PyGObject in this environment does not import: %s", exc)
            return GiFound(None, f"broken ({exc})")
        return GiFound(gi, _folder_of(gi))
    return find_system_gi(dirs if dirs is not None else system_site_dirs())


def find_system_gi(dirs: list[Path]) -> GiFound:
    """Import the first ``gi`` in ``dirs`` built for this ABI; else say where a foreign one is."""
    foreign: Path | None = None
    for folder in dirs:
        if _loadable(folder):
            try:
                return GiFound(_load_from(folder), str(folder))
            except ImportError as exc:  # e.g. built against a libgirepository not installed
                log.warning("PyGObject in %s does not import here: %s", folder, exc)
        if foreign is None and (folder / "gi" / "__init__.py").is_file():
            foreign = folder
    return GiFound(None, "not found", foreign)


def _folder_of(module: ModuleType) -> str:
    """The site folder a package was imported from."""
    return str(Path(module.__file__ or ".").resolve().parent.parent)


def _load_from(folder: Path) -> ModuleType:
    """Import the ``gi`` package found in ``folder`` without adding ``folder`` to sys.path."""
    spec = importlib.machinery.PathFinder.find_spec("gi", [str(folder)])
    if spec is None or spec.loader is None:
        raise ImportError(f"no gi package in {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gi"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        for name in [n for n in sys.modules if n == "gi" or n.startswith("gi.")]:
            del sys.modules[name]
        raise
    return module
