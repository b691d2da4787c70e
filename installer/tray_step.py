"""The tray check during ``cloaker install`` on Linux: whether the daemon's tray icon will
have its menu on this desktop, and if not, what is missing and the one command that adds it.
Nothing is installed here (system packages need the user's package manager and sudo)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from native_host.tray_backend import TrayProbe, probe

GNOME_STEP = (
    "  then turn on the AppIndicator extension (Extensions app, or "
    "`gnome-extensions enable appindicatorsupport@rgcjonas.gmail.com`) and log in again"
)


def tray_lines(found: TrayProbe) -> list[str]:
    """What ``cloaker install`` prints about the tray."""
    lines = [found.summary()]
    if found.command:
        lines.append(f"  add it with: {found.command}")
    elif found.missing:
        lines.append("  install those with your distribution's package manager")
    if any(item.startswith("GNOME Shell") for item in found.missing):
        lines.append(GNOME_STEP)
    if found.missing:
        lines.append("  then log out and back in, so the daemon starts again with its menu")
    return lines


def check(platform: str, env: Mapping[str, str] | None = None) -> list[str]:
    """The tray lines for this machine; nothing on macOS and Windows, whose trays pystray
    serves without extra packages."""
    if platform != "linux":
        return []
    return tray_lines(probe(os.environ if env is None else env))
