"""Which supported browsers are on this machine (the default for ``--browser``).

A browser counts as found when its profile folder exists for this user, or (Linux) one of its
commands is on PATH, or (macOS) its app bundle is in /Applications or ~/Applications. Only
the OS we run on is probed; a simulated OS has nothing to probe, so every browser counts.
Snap and Flatpak browsers are not probed: they cannot start a host outside their sandbox.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from installer.context import Context
from installer.table import BROWSERS, Browser, profile_root


def found_browsers(ctx: Context) -> list[Browser]:
    """The table's browsers that look installed, in table order."""
    if ctx.simulated:
        return list(BROWSERS)
    return [b for b in BROWSERS if _present(b, ctx)]


def _present(browser: Browser, ctx: Context) -> bool:
    if Path(profile_root(browser, ctx)).is_dir():
        return True
    if ctx.platform == "linux":
        path = ctx.env.get("PATH")
        return any(shutil.which(command, path=path) for command in browser.linux_commands)
    if ctx.platform == "macos":
        folders = (Path("/Applications"), Path(ctx.home()) / "Applications")
        return any((folder / app).is_dir() for folder in folders for app in browser.macos_apps)
    return False
