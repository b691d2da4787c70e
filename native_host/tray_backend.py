"""Which tray the daemon can show on this Linux machine, what is missing for the full menu,
and the one command that adds it. Used by the tray (to pick pystray's backend) and by
``cloaker install`` (to tell the user); ``probe`` needs no display.

The menu needs PyGObject (``gi``, see ``system_gi``) and the Gtk 3 introspection data. With the
AppIndicator data too, pystray's ``appindicator`` backend publishes a StatusNotifierItem and its
menu over D-Bus for the desktop's StatusNotifier host (KDE, XFCE, Cinnamon, LXQt, GNOME with
the AppIndicator extension); where no host runs, pystray's ``gtk`` backend docks an XEmbed icon
with a GTK menu (``runtime_backend``). Without PyGObject, pystray's ``xorg`` backend still docks
an XEmbed icon, but with no menu: a click toggles protection.
"""

from __future__ import annotations

import logging
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from native_host.system_gi import GiFound, find_gi

log = logging.getLogger(__name__)

# PyGObject 3.51 and later build against girepository-2.0 (GLib 2.80), newer than Debian 12
# and Ubuntu 22.04 ship; 3.50 builds on those and on newer systems alike.
PYGOBJECT_PIP = "PyGObject<3.51"


@dataclass(frozen=True)
class Packages:
    """One distribution family's package names and install command."""

    install: str
    gi: str
    gtk: str
    indicator: str
    gnome_extension: str
    build: str  # what pip needs to compile PyGObject


FAMILIES = {
    "debian": Packages(
        install="sudo apt install",
        gi="python3-gi",
        gtk="gir1.2-gtk-3.0",
        indicator="gir1.2-ayatanaappindicator3-0.1",
        gnome_extension="gnome-shell-extension-appindicator",
        build="gcc pkg-config python3-dev libgirepository1.0-dev libcairo2-dev",
    ),
    "fedora": Packages(
        install="sudo dnf install",
        gi="python3-gobject",
        gtk="gtk3",
        indicator="libayatana-appindicator-gtk3",
        gnome_extension="gnome-shell-extension-appindicator",
        build="gcc pkgconf python3-devel gobject-introspection-devel cairo-gobject-devel",
    ),
    "arch": Packages(
        install="sudo pacman -S --needed",
        gi="python-gobject",
        gtk="gtk3",
        indicator="libayatana-appindicator",
        gnome_extension="gnome-shell-extension-appindicator",
        build="gcc pkgconf gobject-introspection cairo",
    ),
}
_FAMILY_OF = {
    "debian": "debian",
    "ubuntu": "debian",
    "fedora": "fedora",
    "rhel": "fedora",
    "centos": "fedora",
    "arch": "arch",
}


@dataclass(frozen=True)
class TrayProbe:
    """What the tray can be here. ``backend`` is pystray's backend name; ``missing`` names
    what the full menu still needs (empty: nothing), ``command`` the one command that adds
    it (``None`` when nothing is missing or the distribution is unknown)."""

    backend: str
    menu: bool
    missing: tuple[str, ...]
    command: str | None
    gi_source: str

    def summary(self) -> str:
        """One line for the log and for ``cloaker install``."""
        if self.menu and not self.missing:
            return (
                "tray: full menu (StatusNotifierItem where the desktop hosts one, "
                f"XEmbed tray otherwise; PyGObject from {self.gi_source})"
            )
        what = ", ".join(self.missing)
        shown = "full menu" if self.menu else "icon only, a click toggles protection"
        return f"tray: {shown}; missing: {what}"


def os_family(os_release: Path = Path("/etc/os-release")) -> str | None:
    """``debian``, ``fedora`` or ``arch`` from os-release's ID and ID_LIKE; ``None`` if none."""
    try:
        text = os_release.read_text(encoding="utf-8")
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip("\"'")
    for name in [fields.get("ID", ""), *fields.get("ID_LIKE", "").split()]:
        if name in _FAMILY_OF:
            return _FAMILY_OF[name]
    return None


def _has_typelib(gi: object, namespace: str, version: str) -> bool:
    require = getattr(gi, "require_version", None)
    if require is None:
        return False
    try:
        require(namespace, version)
    except ValueError:  # gi's "Namespace X not available"
        return False
    return True


def system_python_matches(system_python: Path = Path("/usr/bin/python3")) -> bool:
    """True when the distribution's python3 is this CPython minor version, so the
    distribution's PyGObject package is built for the ABI this venv uses."""
    try:
        name = system_python.resolve(strict=True).name
    except OSError:
        return False
    return name == f"python{sys.version_info.major}.{sys.version_info.minor}"


def gnome_without_extension(env: Mapping[str, str], extension_dirs: list[Path]) -> bool:
    """GNOME Shell shows no tray icons at all without the AppIndicator extension."""
    desktop = env.get("XDG_CURRENT_DESKTOP", "").split(":")
    if "GNOME" not in desktop:
        return False
    names = ("appindicatorsupport@rgcjonas.gmail.com", "ubuntu-appindicators@ubuntu.com")
    return not any((folder / name).is_dir() for folder in extension_dirs for name in names)


def probe(
    env: Mapping[str, str],
    gi_found: GiFound | None = None,
    family: str | None = None,
    python_matches: bool | None = None,
    extension_dirs: list[Path] | None = None,
) -> TrayProbe:
    """What the tray can be with this environment; the keyword arguments are for tests."""
    found = gi_found if gi_found is not None else find_gi()
    family = family if family is not None else os_family()
    matches = python_matches if python_matches is not None else system_python_matches()
    if extension_dirs is None:
        home = Path(env.get("HOME", "~")).expanduser()
        extension_dirs = [
            Path("/usr/share/gnome-shell/extensions"),
            home / ".local/share/gnome-shell/extensions",
        ]
    pkgs = FAMILIES.get(family or "")
    gi = found.module
    have_gtk = gi is not None and _has_typelib(gi, "Gtk", "3.0")
    have_indicator = gi is not None and (
        _has_typelib(gi, "AyatanaAppIndicator3", "0.1") or _has_typelib(gi, "AppIndicator3", "0.1")
    )

    # (what is missing, the package that adds it); pip compiles PyGObject when the
    # distribution's package is built for another Python.
    needs: list[tuple[str, str]] = []
    pip = gi is None and pkgs is not None and (found.foreign is not None or not matches)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if gi is None and pip:
        needs.append((f"PyGObject for Python {version}", pkgs.build if pkgs else ""))
    elif gi is None:
        needs.append(("PyGObject", pkgs.gi if pkgs else ""))
    if not have_gtk:
        needs.append(("Gtk 3 introspection data", pkgs.gtk if pkgs else ""))
    if not have_indicator:
        needs.append(("AppIndicator introspection data", pkgs.indicator if pkgs else ""))
    if gnome_without_extension(env, extension_dirs):
        needs.append(("GNOME Shell's AppIndicator extension", pkgs.gnome_extension if pkgs else ""))

    command = None
    if needs and pkgs is not None:
        command = f"{pkgs.install} {' '.join(package for _, package in needs)}"
        if pip:
            command += f" && {shlex.quote(sys.executable)} -m pip install '{PYGOBJECT_PIP}'"
    if have_gtk and have_indicator:
        backend = "appindicator"
    elif have_gtk:
        backend = "gtk"  # GtkStatusIcon: an XEmbed icon with the full menu
    else:
        backend = "xorg"
    missing = tuple(f"{what} ({package})" if package else what for what, package in needs)
    return TrayProbe(backend, backend != "xorg", missing, command, found.source)


WATCHER = "org.kde.StatusNotifierWatcher"


def session_bus_address(env: Mapping[str, str]) -> str | None:
    """The session bus the desktop runs, or ``None``. Asking GIO without one would make it
    try to start a bus of its own (dbus-launch), which outlives the daemon."""
    if env.get("DBUS_SESSION_BUS_ADDRESS"):
        return env["DBUS_SESSION_BUS_ADDRESS"]
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime, "bus").is_socket():
        return f"unix:path={Path(runtime, 'bus')}"
    return None


def status_notifier_host_running(env: Mapping[str, str]) -> bool:
    """True when a StatusNotifierWatcher (the desktop's tray host) is on the session bus."""
    address = session_bus_address(env)
    if address is None:
        log.info("no D-Bus session bus: no StatusNotifier host")
        return False
    from gi.repository import Gio, GLib

    try:
        flags = (
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION
        )
        bus = Gio.DBusConnection.new_for_address_sync(address, flags, None, None)
        reply = bus.call_sync(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "NameHasOwner",
            GLib.Variant("(s)", (WATCHER,)),
            GLib.VariantType("(b)"),
            Gio.DBusCallFlags.NONE,
            2000,
            None,
        )
        bus.close_sync(None)
    except GLib.Error as exc:
        log.warning("the D-Bus session bus did not answer (%s): no StatusNotifier host", exc)
        return False
    return bool(reply.unpack()[0])


def runtime_backend(found: TrayProbe, env: Mapping[str, str]) -> str:
    """pystray's backend for this session: ``appindicator`` where a StatusNotifier host runs
    (or where there is no X display, on Wayland), ``gtk`` for an XEmbed tray."""
    if found.backend != "appindicator" or not env.get("DISPLAY"):
        return found.backend
    return "appindicator" if status_notifier_host_running(env) else "gtk"
