"""Test helpers: a Linux desktop session under Xvfb with its own D-Bus session bus and a real
tray host from Debian's packages (trayer: an XEmbed system tray; xfce4-panel: its systray
plugin hosts StatusNotifierItems and XEmbed icons), driven with xdotool as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from daemon_util import wait_for

PANEL_CONFIG = """<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="32"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
        <value type="int" value="2"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="separator">
      <property name="expand" type="bool" value="true"/>
      <property name="style" type="uint" value="0"/>
    </property>
    <property name="plugin-2" type="string" value="systray">
      <property name="square-icons" type="bool" value="true"/>
    </property>
  </property>
</channel>
"""


@dataclass(frozen=True)
class Window:
    wid: int
    name: str
    x: int
    y: int
    width: int
    height: int

    @property
    def centre(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2


def require(*programs: str) -> None:
    """Skip unless every program is installed (CI installs them: see .ci/run)."""
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (see .ci/run's apt-get line)")


class Desktop:
    """Xvfb, a private session bus and the processes started on them; ``close`` ends them."""

    def __init__(self, home: Path, width: int = 800, height: int = 600) -> None:
        require("Xvfb", "dbus-daemon", "xdotool")
        self.home = home  # HOME and XDG_CONFIG_HOME of the bus and the tray host
        (home / ".config").mkdir(parents=True, exist_ok=True)
        self._procs: list[subprocess.Popen[bytes]] = []
        number = self._start_reporting(
            [
                "Xvfb",
                "-displayfd",
                "{fd}",
                "-screen",
                "0",
                f"{width}x{height}x24",
                "-nolisten",
                "tcp",
            ],
            dict(os.environ),
        )
        self.display = f":{number}"
        base = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
        base.update(DISPLAY=self.display)
        for name in ("WAYLAND_DISPLAY", "XDG_CURRENT_DESKTOP", "PYSTRAY_BACKEND"):
            base.pop(name, None)
        # The bus starts services on demand (xfconfd for the panel) with its own environment.
        address = self._start_reporting(
            ["dbus-daemon", "--session", "--nofork", "--print-address={fd}"], base
        )
        self.env = dict(base, DBUS_SESSION_BUS_ADDRESS=address)

    def _start_reporting(self, argv: list[str], env: dict[str, str]) -> str:
        """Start a program that writes one line (display number, bus address) to a fd."""
        read_fd, write_fd = os.pipe()
        argv = [a.replace("{fd}", str(write_fd)) for a in argv]
        proc = subprocess.Popen(
            argv,
            pass_fds=(write_fd,),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._procs.append(proc)
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            line = pipe.readline().strip()
        assert line, f"{argv[0]} reported nothing"
        return line

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            argv,
            env=env or self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._procs.append(proc)
        return proc

    def start_trayer(self) -> None:
        """trayer: an XEmbed system tray (no StatusNotifier host), top right."""
        require("trayer")
        self.start(
            [
                "trayer",
                "--edge",
                "top",
                "--align",
                "right",
                "--widthtype",
                "request",
                "--height",
                "32",
            ]
        )
        wait_for(lambda: self.find("panel"), 20, "trayer's panel")

    def start_xfce_panel(self) -> None:
        """xfce4-panel with only its systray plugin, which hosts StatusNotifierItems (it owns
        org.kde.StatusNotifierWatcher) and XEmbed icons, along the top edge."""
        require("xfce4-panel", "gdbus")
        channel = self.home / ".config" / "xfce4" / "xfconf" / "xfce-perchannel-xml"
        channel.mkdir(parents=True, exist_ok=True)
        (channel / "xfce4-panel.xml").write_text(PANEL_CONFIG, encoding="utf-8")
        self.start(["xfce4-panel", "--disable-wm-check"])
        wait_for(
            lambda: self.gdbus_ok("org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher"),
            30,
            "xfce4-panel's StatusNotifierWatcher",
            interval_s=0.3,
        )

    def gdbus(self, dest: str, path: str, method: str, *args: str) -> str:
        call = ["gdbus", "call", "--session", "--dest", dest, "--object-path", path]
        out = subprocess.run(
            [*call, "--method", method, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        return out.stdout.strip()

    def gdbus_ok(self, dest: str, path: str) -> bool:
        try:
            self.gdbus(dest, path, "org.freedesktop.DBus.Peer.Ping")
        except subprocess.CalledProcessError:
            return False
        return True

    def xdotool(self, *args: str) -> str:
        out = subprocess.run(
            ["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=20
        )
        return out.stdout

    def windows(self) -> list[Window]:
        """Every mapped window, with its name and position on the screen."""
        found = []
        for line in self.xdotool("search", "--onlyvisible", "--name", "").split():
            geometry = dict(
                part.split("=", 1)
                for part in self.xdotool("getwindowgeometry", "--shell", line).split()
                if "=" in part
            )
            if "X" not in geometry:
                continue  # gone between the search and the query
            name = self.xdotool("getwindowname", line).rstrip("\n")
            found.append(
                Window(
                    int(line),
                    name,
                    int(geometry["X"]),
                    int(geometry["Y"]),
                    int(geometry["WIDTH"]),
                    int(geometry["HEIGHT"]),
                )
            )
        return found

    def find(self, name: str) -> Window | None:
        return next((w for w in self.windows() if w.name == name), None)

    def click(self, x: int, y: int) -> None:
        self.xdotool("mousemove", str(x), str(y), "sleep", "0.2", "click", "1")

    def hover(self, x: int, y: int) -> Window:
        """Rest the pointer at (x, y) and return the tooltip window that appears."""
        before = {w.wid for w in self.windows()}
        self.xdotool("mousemove", str(x - 2), str(y), "sleep", "0.2", "mousemove", str(x), str(y))

        def tooltip() -> Window | None:
            new = [w for w in self.windows() if w.wid not in before and w.height > 10]
            return new[0] if new else None

        return wait_for(tooltip, 10, "the tooltip", interval_s=0.2)

    def pointer_away(self, closes: Window | None = None) -> None:
        """Move the pointer to the bottom left, and wait for ``closes`` (a tooltip) to go."""
        self.xdotool("mousemove", "0", "590")
        if closes is not None:
            wait_for(lambda: closes.wid not in {w.wid for w in self.windows()}, 10, "it to close")

    def open_menu(self, x: int, y: int) -> Window:
        """Click at (x, y) and return the popup menu that opens."""
        before = {w.wid for w in self.windows()}

        def menu() -> Window | None:
            new = [w for w in self.windows() if w.wid not in before and w.height > 40]
            return new[0] if new else None

        self.click(x, y)
        return wait_for(menu, 20, "the tray menu to open", interval_s=0.2)

    def screenshot(self, path: Path) -> None:
        from PIL import ImageGrab

        ImageGrab.grab(xdisplay=self.display).save(path)

    def close(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self._procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
