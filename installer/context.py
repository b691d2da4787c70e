"""The machine an install is planned for: OS, scope, environment and Python environment.

Planning is pure: every path is computed from a ``Context``, so the macOS and Windows
branches can be planned (and checked) on Linux. Paths use the target OS's flavour
(``PureWindowsPath`` for Windows), so a Windows plan made on Linux prints real Windows paths.
For the OS we run on, per-user data lives where platformdirs says (or under ``CLOAKER_HOME``);
for a simulated OS the same folders are derived from the environment, as platformdirs would
on that OS (it can only answer for the one it runs on).
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Literal

import platformdirs

Platform = Literal["linux", "macos", "windows"]
Scope = Literal["user", "system"]
PLATFORMS: tuple[Platform, ...] = ("linux", "macos", "windows")

APP = "cloaker"
HOST_SCRIPT = "cloaker-native-host"
# Environment overrides baked into per-user launchers so the browser-started host and the
# autostarted daemon use the same folders as the shell that ran `cloaker install`.
BAKED_ENV = ("CLOAKER_HOME", "CLOAKER_MODELS_DIR")


class ContextError(Exception):
    """The environment cannot be planned for (missing host program, unknown folder)."""


def current_platform() -> Platform:
    """The OS this process runs on, as the table names it."""
    if sys.platform == "darwin":
        return "macos"
    if sys.platform.startswith("win"):
        return "windows"
    return "linux"


@dataclass(frozen=True)
class Context:
    """Everything a plan depends on. ``root`` prefixes system paths on Linux and macOS (a
    DESTDIR for tests and packagers); ``python`` and ``host_command`` are the interpreter and
    the ``cloaker-native-host`` script of the environment the package is installed in."""

    platform: Platform
    scope: Scope
    python: PurePath
    host_command: PurePath
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    root: PurePath | None = None

    @property
    def simulated(self) -> bool:
        """True when planning for an OS other than the one we run on (dry runs only)."""
        return self.platform != current_platform()

    def path(self, *parts: str | PurePath) -> PurePath:
        """A path in the target OS's flavour (concrete ``Path`` when not simulated)."""
        if not self.simulated:
            return Path(*parts)
        if self.platform == "windows":
            return PureWindowsPath(*parts)
        return PurePosixPath(*parts)

    def system_path(self, absolute: str) -> PurePath:
        """An absolute system location, moved under ``root`` when one is set (POSIX only)."""
        if self.root is not None and self.platform != "windows":
            return self.path(self.root, absolute.lstrip("/"))
        return self.path(absolute)

    def home(self) -> PurePath:
        """The user's home folder (``HOME``; ``USERPROFILE`` on Windows)."""
        if self.platform == "windows":
            value = self.env.get("USERPROFILE")
            if value:
                return self.path(value)
            user = self.env.get("USERNAME") or self.env.get("USER") or "user"
            return self.path("C:\\Users", user)
        value = self.env.get("HOME")
        if value:
            return self.path(value)
        if not self.simulated:
            return Path.home()
        raise ContextError("HOME is not set")

    def xdg_config_home(self) -> PurePath:
        """``XDG_CONFIG_HOME`` or ``~/.config`` (where Chromium browsers keep profiles)."""
        value = self.env.get("XDG_CONFIG_HOME")
        return self.path(value) if value else self.home() / ".config"

    def windows_folder(self, name: str) -> PurePath:
        """``LOCALAPPDATA``, ``APPDATA`` or ``PROGRAMDATA``, with Windows' defaults."""
        value = self.env.get(name)
        if value:
            return self.path(value)
        defaults = {
            "LOCALAPPDATA": self.home() / "AppData" / "Local",
            "APPDATA": self.home() / "AppData" / "Roaming",
            "PROGRAMDATA": self.path("C:\\ProgramData"),
        }
        return defaults[name]

    def expand(self, template: str) -> PurePath:
        """Expand a table path: ``~/...``, ``$XDG_CONFIG_HOME/...``, ``%LOCALAPPDATA%\\...``
        or an absolute system path."""
        if template.startswith("~/"):
            return self.home() / template[2:]
        if template.startswith("$XDG_CONFIG_HOME/"):
            return self.xdg_config_home() / template[len("$XDG_CONFIG_HOME/") :]
        if template.startswith("%"):
            name, _, rest = template[1:].partition("%")
            return self.windows_folder(name) / rest.lstrip("\\")
        return self.system_path(template)

    def data_dir(self) -> PurePath:
        """Where launchers, Windows manifests and the receipt live for this scope."""
        if self.scope == "system":
            return {
                "linux": lambda: self.system_path("/usr/local/lib/cloaker"),
                "macos": lambda: self.system_path("/Library/Application Support/Cloaker"),
                "windows": lambda: self.windows_folder("PROGRAMDATA") / "Cloaker",
            }[self.platform]()
        if not self.simulated:
            home = self.env.get("CLOAKER_HOME")
            if home:
                return Path(home) / "data"
            return Path(platformdirs.user_data_dir(APP, appauthor=False))
        if self.platform == "windows":
            return self.windows_folder("LOCALAPPDATA") / APP
        if self.platform == "macos":
            return self.home() / "Library" / "Application Support" / APP
        value = self.env.get("XDG_DATA_HOME")
        return (self.path(value) if value else self.home() / ".local" / "share") / APP

    def standard_folders(self) -> list[PurePath]:
        """Folders every installation of the target OS has (seed for a simulated disk)."""
        if self.platform == "windows":
            names = ("LOCALAPPDATA", "APPDATA", "PROGRAMDATA")
            return [self.home(), *(self.windows_folder(n) for n in names)]
        if self.platform == "macos":
            library = ("Library/Application Support", "Library/LaunchAgents")
            return [
                *(self.home() / sub for sub in library),
                *(self.system_path("/" + sub) for sub in library),
            ]
        return [self.xdg_config_home(), self.system_path("/etc/xdg"), self.system_path("/usr/lib")]

    def models_dir(self) -> PurePath | None:
        """Where install fetches weights: a shared folder for a system install (every user's
        daemon reads it through the launchers), None (the user's own) otherwise."""
        return self.data_dir() / "models" if self.scope == "system" else None

    def baked_env(self) -> dict[str, str]:
        """Variables the launchers set. Per user: the ``CLOAKER_*`` overrides of the shell
        that ran install. System-wide: only the shared models folder. None when the target
        OS is simulated (this machine's values mean nothing there)."""
        if self.simulated:
            return {}
        if self.scope == "system":
            return {"CLOAKER_MODELS_DIR": str(self.models_dir())}
        return {name: self.env[name] for name in BAKED_ENV if self.env.get(name)}


def make_context(
    platform: Platform | None = None,
    scope: Scope = "user",
    *,
    host_command: str | None = None,
    root: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Context:
    """Build the context for this machine (or a simulated ``platform`` for dry runs)."""
    target = platform or current_platform()
    environ = dict(os.environ if env is None else env)
    if target != current_platform():
        python, host = _example_python(target, environ)
    else:
        python = Path(sys.executable)
        host = Path(host_command) if host_command else find_host_command(target)
    return Context(
        platform=target,
        scope=scope,
        python=python,
        host_command=host,
        env=environ,
        root=PurePosixPath(root) if root and target != "windows" else None,
    )


def find_host_command(platform: Platform) -> Path:
    """The ``cloaker-native-host`` script of this Python environment.

    Looks next to the interpreter's scripts first (a venv or a system install), then in the
    user scheme's scripts (``pip install --user``), then on PATH. The interpreter path is not
    resolved: resolving a venv's python symlink would leave the venv.
    """
    name = HOST_SCRIPT + (".exe" if platform == "windows" else "")
    candidates = [Path(sysconfig.get_path("scripts")) / name]
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        candidates.append(Path(sysconfig.get_path("scripts", scheme=user_scheme)) / name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    found = shutil.which(HOST_SCRIPT)
    if found:
        return Path(found)
    raise ContextError(
        f"{HOST_SCRIPT} was not found in {candidates[0].parent} or on PATH; "
        "reinstall the package (pip install cloaker) or pass --host-command PATH"
    )


def _example_python(platform: Platform, env: Mapping[str, str]) -> tuple[PurePath, PurePath]:
    """Stand-in interpreter and host paths for a simulated OS (printed as examples)."""
    if platform == "windows":
        probe = Context(platform, "user", PureWindowsPath(), PureWindowsPath(), env)
        scripts = probe.home() / ".venvs" / APP / "Scripts"
        return scripts / "python.exe", scripts / f"{HOST_SCRIPT}.exe"
    probe = Context(platform, "user", PurePosixPath(), PurePosixPath(), env)
    bindir = probe.home() / ".venvs" / APP / "bin"
    return bindir / "python", bindir / HOST_SCRIPT
