"""What the tray shows and does, without pystray: menu state, thin actions that call into the
settings and the daemon, and the icon images. Tested without a display; ``tray.py`` wires it
to pystray."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

from native_host.settings import SettingsStore

COLOURS = {"on": (34, 139, 84), "off": (128, 128, 128), "working": (230, 150, 20)}


def icon_state(protection: bool, busy: bool) -> str:
    """``working`` while a job runs, else ``on`` or ``off`` (the protection switch)."""
    if busy:
        return "working"
    return "on" if protection else "off"


def draw_icon(state: str, size: int = 64) -> Image.Image:
    """A filled shield in the state's colour (green on, grey off, amber working)."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    s = size
    shield = [
        (s * 0.5, s * 0.06),
        (s * 0.9, s * 0.2),
        (s * 0.84, s * 0.62),
        (s * 0.5, s * 0.94),
        (s * 0.16, s * 0.62),
        (s * 0.1, s * 0.2),
    ]
    draw.polygon(shield, fill=(*COLOURS[state], 255))
    if state == "off":
        draw.line([(s * 0.25, s * 0.25), (s * 0.75, s * 0.78)], fill=(255, 255, 255, 255), width=6)
    return img


def open_folder_command(path: Path, platform: str = sys.platform) -> list[str] | None:
    """The command that opens ``path`` in the file manager (``None``: use ``os.startfile``)."""
    if platform.startswith("win"):
        return None
    if platform == "darwin":
        return ["open", str(path)]
    return ["xdg-open", str(path)]


def open_folder(path: Path) -> None:
    """Open ``path`` in the desktop's file manager (does not wait for it)."""
    command = open_folder_command(path)
    if command is None:
        os.startfile(path)  # type: ignore[attr-defined]  # Windows only
    else:
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


class TrayActions:
    """The tray menu's state and callbacks: each one line into the settings or the daemon."""

    def __init__(
        self,
        settings: SettingsStore,
        quit: Callable[[], None],
        log_folder: Path,
        opener: Callable[[Path], None] = open_folder,
    ) -> None:
        self.settings = settings
        self._quit = quit
        self.log_folder = log_folder
        self._opener = opener

    def protection_on(self) -> bool:
        return self.settings.get().protection

    def toggle_protection(self) -> None:
        self.settings.update({"protection": not self.protection_on()})

    def mode_is(self, mode: str) -> bool:
        return self.settings.get().mode == mode

    def set_mode(self, mode: str) -> None:
        self.settings.update({"mode": mode})

    def site_hosts(self) -> list[str]:
        return [site.host for site in self.settings.get().sites]

    def site_enabled(self, host: str) -> bool:
        return any(s.host == host and s.enabled for s in self.settings.get().sites)

    def toggle_site(self, host: str) -> None:
        self.settings.update({"site": {"host": host, "enabled": not self.site_enabled(host)}})

    def open_log_folder(self) -> None:
        self._opener(self.log_folder)

    def quit(self) -> None:
        self._quit()

    def title(self, jobs: int) -> str:
        """The tooltip: protection, mode, and the photos in hand (queued or being cloaked)."""
        settings = self.settings.get()
        state = "on" if settings.protection else "off"
        text = f"Cloaker: protection {state}, mode {settings.mode}"
        if jobs > 0:
            text += f", working on {jobs} photo{'s' if jobs != 1 else ''}"
        return text
