"""The real daemon's tray on a Linux desktop session under Xvfb with real tray hosts from
Debian's packages: trayer (an XEmbed tray, where the daemon shows a GTK XEmbed icon with a GTK
menu) and xfce4-panel (a StatusNotifier host that draws the menu it reads over
D-Bus). The menu is opened and clicked with the mouse through xdotool, and the daemon's
settings are read back over its websocket.

Set CLOAKER_TRAY_SCREENSHOTS=DIR to keep screenshots of the open menus and the tooltip
(docs/tray-*-linux-*.png come from there).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_util import ASTRONAUT, ROOT, Client, daemon_env, wait_for
from desktop_util import Desktop, Window

from native_host.discovery import Discovery
from native_host.tray_backend import probe

IDLE = "Cloaker: protection on, mode mid"
OFF = "Cloaker: protection off, mode mid"


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[Desktop]:
    found = probe(os.environ)
    if found.backend != "appindicator":
        pytest.skip(f"{found.summary()} (see .ci/run's apt-get line)")
    session = Desktop(tmp_path / "desktop-home")
    yield session
    session.close()


class TrayDaemon:
    """``cloaker daemon`` with its tray, on the desktop's display and session bus."""

    def __init__(self, desktop: Desktop, home: Path) -> None:
        env = daemon_env(home)
        env.update(
            DISPLAY=desktop.display,
            DBUS_SESSION_BUS_ADDRESS=desktop.env["DBUS_SESSION_BUS_ADDRESS"],
        )
        env.pop("PYSTRAY_BACKEND", None)
        self.home = home
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cloaker", "daemon"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        path = home / "runtime" / "daemon.json"
        self.discovery_path = path

        def ready() -> Discovery | None:
            assert self.proc.poll() is None, f"the daemon exited with {self.proc.returncode}"
            found = Discovery.read(path) if path.exists() else None
            return found if found is not None and found.pid == self.proc.pid else None

        self.discovery = wait_for(ready, 60, "the daemon (started from the tray's setup)")

    @property
    def log(self) -> str:
        return (self.home / "log" / "daemon.log").read_text("utf-8")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def tray_daemon(desktop: Desktop, _isolated_home: Path) -> Iterator[object]:
    def start() -> TrayDaemon:
        daemon = TrayDaemon(desktop, _isolated_home)
        started.append(daemon)
        return daemon

    started: list[TrayDaemon] = []
    yield start
    for daemon in started:
        daemon.kill()


def screenshot(desktop: Desktop, name: str, tmp_path: Path, *around: Window) -> Path:
    """The whole screen, in tmp; with CLOAKER_TRAY_SCREENSHOTS=DIR, the corner with the icon
    and the windows ``around`` (menus, tooltip) is kept there too."""
    from PIL import Image

    path = tmp_path / name
    desktop.screenshot(path)
    folder = os.environ.get("CLOAKER_TRAY_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with Image.open(path) as shot:
            left = min(w.x for w in around) - 120
            bottom = max(w.y + w.height for w in around) + 12
            box = (max(0, left), 0, shot.width, min(shot.height, bottom))
            shot.crop(box).save(Path(folder) / name)
    return path


def assert_menu_drawn(path: Path, menu: Window) -> None:
    """The menu's area holds drawn items (text and check marks), not one flat colour."""
    from PIL import Image

    with Image.open(path) as shot:
        area = shot.convert("L").crop((menu.x, menu.y, menu.x + menu.width, menu.y + menu.height))
        low, high = area.getextrema()
    assert high - low > 100, f"the menu at {menu} looks empty"


ROW = 25  # the height of a GTK menu item with the default theme and font


def click_item(desktop: Desktop, menu: Window, x: int, y: int) -> None:
    """Click the item at (x, y) of an open menu, and wait for the menu to close.

    GTK ignores a button release that comes within 500 ms of the menu's popup (the menu stays
    open), and a loaded machine can bring the first click inside that window: wait past it,
    and click again while the menu is still open.
    """
    time.sleep(0.6)
    for _ in range(3):
        desktop.click(x, y)
        try:
            wait_for(lambda: menu.wid not in {w.wid for w in desktop.windows()}, 3, "it to close")
            return
        except AssertionError:
            continue
    raise AssertionError(f"the menu at {menu} stayed open after three clicks at ({x}, {y})")


def click_protection(desktop: Desktop, menu: Window) -> None:
    """Protection is the menu's first item: GTK draws it just below the menu's top edge."""
    click_item(desktop, menu, menu.x + 40, menu.y + 16)


def test_xembed_tray_menu_toggles_protection_tooltip_counts_photos_and_quits(
    desktop: Desktop, tray_daemon: object, tmp_path: Path
) -> None:
    desktop.start_trayer()
    daemon: TrayDaemon = tray_daemon()  # type: ignore[operator]
    # No StatusNotifier host on the bus: the daemon docks a GTK XEmbed icon, whose window
    # carries the tooltip text as its title.
    icon = wait_for(lambda: desktop.find(IDLE), 60, "the XEmbed icon in trayer")
    assert "tray backend: gtk" in daemon.log

    with Client.open(daemon.discovery) as client:
        # Two photos in hand (one waiting for the engine or running, one queued): the tooltip
        # counts them, and goes back when the client leaves and its jobs are cancelled.
        client.send_cloak(ASTRONAUT.read_bytes())
        client.send_cloak(ASTRONAUT.read_bytes())
        wait_for(lambda: desktop.find(f"{IDLE}, working on 2 photos"), 20, "the tooltip's count")
        tooltip = desktop.hover(*icon.centre)
        screenshot(desktop, "tray-tooltip-linux-xembed.png", tmp_path, tooltip)
        assert tooltip.y >= icon.y + icon.height  # drawn below the icon, in the screen
        desktop.pointer_away(closes=tooltip)
    wait_for(lambda: desktop.find(IDLE), 60, "the tooltip once the jobs ended")

    with Client.open(daemon.discovery) as client:
        assert client.request("settings.get")["data"]["protection"] is True
        menu = desktop.open_menu(*icon.centre)
        shot = screenshot(desktop, "tray-menu-linux-xembed.png", tmp_path, menu)
        assert_menu_drawn(shot, menu)
        click_protection(desktop, menu)
        push = client.next_push(20)
        assert push["data"]["protection"] is False
        assert client.request("settings.get")["data"]["protection"] is False
    wait_for(lambda: desktop.find(OFF), 20, "the tooltip to say protection is off")

    # Quit is the menu's last item: open the menu, go up to it, press Enter.
    desktop.open_menu(*icon.centre)
    desktop.xdotool("key", "Up", "sleep", "0.2", "key", "Return")
    assert daemon.proc.wait(30) == 0
    assert not daemon.discovery_path.exists()
    assert "stopped" in daemon.log


def sni_property(desktop: Desktop, item: str, name: str) -> str:
    service, _, path = item.partition("/")
    out = desktop.gdbus(
        service,
        "/" + path,
        "org.freedesktop.DBus.Properties.Get",
        "org.kde.StatusNotifierItem",
        name,
    )
    match = re.fullmatch(r"\(<'(.*)'>,\)", out)
    assert match, out
    return match.group(1)


def registered_items(desktop: Desktop) -> list[str]:
    out = desktop.gdbus(
        "org.kde.StatusNotifierWatcher",
        "/StatusNotifierWatcher",
        "org.freedesktop.DBus.Properties.Get",
        "org.kde.StatusNotifierWatcher",
        "RegisteredStatusNotifierItems",
    )
    return re.findall(r"'([^']+)'", out)


def test_status_notifier_menu_in_xfce_panel_toggles_protection(
    desktop: Desktop, tray_daemon: object, tmp_path: Path
) -> None:
    desktop.start_xfce_panel()
    daemon: TrayDaemon = tray_daemon()  # type: ignore[operator]
    items = wait_for(lambda: registered_items(desktop), 60, "the StatusNotifierItem")
    assert len(items) == 1
    wait_for(lambda: sni_property(desktop, items[0], "Title") == IDLE, 20, "the item's title")

    # The panel draws the item as a button in its systray plugin's window; its menu is the
    # panel's rendering of the item's com.canonical.dbusmenu layout.
    plugin = wait_for(lambda: desktop.find("wrapper-2.0"), 20, "the panel's systray plugin")
    with Client.open(daemon.discovery) as client:
        menu = desktop.open_menu(*plugin.centre)
        shot = screenshot(desktop, "tray-menu-linux-statusnotifier.png", tmp_path, menu)
        assert_menu_drawn(shot, menu)
        click_protection(desktop, menu)
        assert client.next_push(20)["data"]["protection"] is False
        assert client.request("settings.get")["data"]["protection"] is False
    wait_for(lambda: sni_property(desktop, items[0], "Title") == OFF, 20, "the title to follow")

    # A submenu through the same path: Mode (the second item, one row down) > high (third).
    with Client.open(daemon.discovery) as client:
        menu = desktop.open_menu(*plugin.centre)
        modes = desktop.open_menu(menu.x + 40, menu.y + 16 + ROW)
        # Beside the menu (to the left here: the menu touches the screen's right edge).
        assert modes.x + modes.width <= menu.x + 10 or modes.x >= menu.x + menu.width - 10
        shot = screenshot(desktop, "tray-menu-linux-statusnotifier-mode.png", tmp_path, menu, modes)
        assert_menu_drawn(shot, modes)
        click_item(desktop, modes, modes.x + 40, modes.y + 16 + 2 * ROW)
        assert client.next_push(20)["data"]["mode"] == "high"
    high = "Cloaker: protection off, mode high"
    wait_for(lambda: sni_property(desktop, items[0], "Title") == high, 20, "the title's mode")

    daemon.proc.terminate()
    assert daemon.proc.wait(30) == 0
    assert not daemon.discovery_path.exists()
