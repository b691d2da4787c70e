"""The tray: menu state and callbacks without a display, then the real pystray icon (xorg
backend) on Xvfb, with this test acting as the system-tray manager that docks it."""

from __future__ import annotations

import importlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_util import ROOT, daemon_env, wait_for

from native_host.discovery import Discovery
from native_host.settings import SettingsStore
from native_host.tray_menu import (
    COLOURS,
    TrayActions,
    draw_icon,
    icon_state,
    open_folder_command,
)

# --- without a display ---------------------------------------------------------------------


@pytest.fixture
def actions(tmp_path: Path) -> tuple[TrayActions, list[Any]]:
    calls: list[Any] = []
    store = SettingsStore(tmp_path / "settings.json")
    tray = TrayActions(store, lambda: calls.append("quit"), tmp_path / "logs", calls.append)
    return tray, calls


def test_protection_toggle(actions: tuple[TrayActions, list[Any]]) -> None:
    tray, _ = actions
    pushed: list[bool] = []
    tray.settings.subscribe(lambda: pushed.append(tray.settings.get().protection))
    assert tray.protection_on()
    tray.toggle_protection()
    assert not tray.protection_on() and pushed == [False]
    tray.toggle_protection()
    assert tray.protection_on() and pushed == [False, True]
    assert SettingsStore(tray.settings.path).get().protection  # saved


@pytest.mark.parametrize("mode", ["low", "mid", "high"])
def test_mode_radio(actions: tuple[TrayActions, list[Any]], mode: str) -> None:
    tray, _ = actions
    tray.set_mode(mode)
    assert [m for m in ("low", "mid", "high") if tray.mode_is(m)] == [mode]


def test_site_toggle(actions: tuple[TrayActions, list[Any]]) -> None:
    tray, _ = actions
    hosts = tray.site_hosts()
    assert "facebook.com" in hosts and all(tray.site_enabled(h) for h in hosts)
    tray.toggle_site("facebook.com")
    assert not tray.site_enabled("facebook.com")
    assert tray.site_hosts() == hosts  # unchecked, not removed
    assert tray.settings.get().skip_reason("www.facebook.com") == "site_not_listed"
    tray.toggle_site("facebook.com")
    assert tray.settings.get().skip_reason("www.facebook.com") is None


def test_open_log_folder_and_quit(actions: tuple[TrayActions, list[Any]], tmp_path: Path) -> None:
    tray, calls = actions
    tray.open_log_folder()
    tray.quit()
    assert calls == [tmp_path / "logs", "quit"]


@pytest.mark.parametrize(
    ("platform", "command"),
    [("linux", ["xdg-open", "/x"]), ("darwin", ["open", "/x"]), ("win32", None)],
)
def test_open_folder_command(platform: str, command: list[str] | None) -> None:
    assert open_folder_command(Path("/x"), platform) == command


def test_icon_states_and_images() -> None:
    assert icon_state(True, False) == "on"
    assert icon_state(False, False) == "off"
    assert icon_state(False, True) == icon_state(True, True) == "working"
    for state, colour in COLOURS.items():
        image = draw_icon(state)
        assert image.size == (64, 64) and image.mode == "RGBA"
        assert image.getpixel((32, 40))[:3] == colour  # the shield's middle
        assert image.getpixel((1, 1))[3] == 0  # transparent corner


def test_titles(actions: tuple[TrayActions, list[Any]]) -> None:
    tray, _ = actions
    assert tray.title(0) == "Cloaker: protection on, mode mid"
    tray.set_mode("high")
    assert tray.title(1) == "Cloaker: protection on, mode high, working on 1 photo"
    tray.toggle_protection()
    assert tray.title(0) == "Cloaker: protection off, mode high"
    # Jobs taken before protection was switched off still run, and are still counted.
    assert tray.title(3) == "Cloaker: protection off, mode high, working on 3 photos"


# --- on Xvfb, with the real pystray icon ---------------------------------------------------


@pytest.fixture(scope="module")
def xvfb() -> Iterator[str]:
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    assert number, "Xvfb did not report a display"
    yield f":{number}"
    proc.terminate()
    proc.wait(10)


class TrayManager:
    """A minimal system-tray manager: owns _NET_SYSTEM_TRAY_S0 and records dock requests."""

    def __init__(self, display_name: str) -> None:
        from Xlib import X, display

        self.X = X
        self.display = display.Display(display_name)
        screen = self.display.screen()
        self.root = screen.root
        self.window = self.root.create_window(0, 0, 1, 1, 0, screen.root_depth)
        self.opcode = self.display.intern_atom("_NET_SYSTEM_TRAY_OPCODE")
        selection = self.display.intern_atom("_NET_SYSTEM_TRAY_S0")
        self.window.set_selection_owner(selection, X.CurrentTime)
        self.display.sync()
        self.dock_requests: queue.Queue[int] = queue.Queue()
        threading.Thread(target=self._events, daemon=True).start()

    def _events(self) -> None:
        from Xlib.error import ConnectionClosedError

        while True:
            try:
                event = self.display.next_event()
            except ConnectionClosedError:
                return  # Xvfb went away at the end of the module
            if event.type == self.X.ClientMessage and event.client_type == self.opcode:
                _, data = event.data
                if data[1] == 0:  # SYSTEM_TRAY_REQUEST_DOCK
                    self.dock_requests.put(data[2])

    def window_name(self, window_id: int) -> str:
        from Xlib import display

        other = display.Display(self.display.get_display_name())
        try:
            name = other.create_resource_object("window", window_id).get_wm_name()
        finally:
            other.close()
        return name if isinstance(name, str) else name.decode()

    def click(self, window_id: int) -> None:
        """A left click on the icon (sent to the window's creator: pystray)."""
        from Xlib import display
        from Xlib.protocol import event

        other = display.Display(self.display.get_display_name())
        try:
            target = other.create_resource_object("window", window_id)
            press = event.ButtonPress(
                time=self.X.CurrentTime,
                root=other.screen().root,
                window=target,
                same_screen=1,
                child=self.X.NONE,
                root_x=1,
                root_y=1,
                event_x=1,
                event_y=1,
                state=0,
                detail=1,
            )
            target.send_event(press, event_mask=0)
            other.flush()
        finally:
            other.close()


def test_pystray_menu_objects_on_xvfb(
    xvfb: str, actions: tuple[TrayActions, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPLAY", xvfb)
    monkeypatch.setenv("PYSTRAY_BACKEND", "xorg")
    pystray = importlib.import_module("pystray")
    from native_host.tray import build_menu

    tray, calls = actions
    menu = build_menu(pystray, tray)
    items = {str(item.text): item for item in menu.items if item is not pystray.Menu.SEPARATOR}
    assert list(items) == ["Protection", "Mode", "Sites", "Open log folder", "Quit"]
    assert items["Protection"].default and items["Protection"].checked is True
    items["Protection"](None)
    assert items["Protection"].checked is False and not tray.protection_on()
    modes = {str(i.text): i for i in items["Mode"].submenu.items}
    modes["high"](None)
    assert modes["high"].checked and not modes["mid"].checked and tray.mode_is("high")
    sites = {str(i.text): i for i in items["Sites"].submenu.items}
    assert set(sites) == set(tray.site_hosts())
    sites["x.com"](None)
    assert not tray.site_enabled("x.com")
    assert not {str(i.text): i for i in items["Sites"].submenu.items}["x.com"].checked
    items["Open log folder"](None)
    items["Quit"](None)
    assert calls[-2:] == [tray.log_folder, "quit"]


def test_real_tray_icon_starts_docks_toggles_and_quits(xvfb: str, _isolated_home: Path) -> None:
    manager = TrayManager(xvfb)
    env = daemon_env(_isolated_home)
    env.update(DISPLAY=xvfb, PYSTRAY_BACKEND="xorg")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloaker", "daemon"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    path = _isolated_home / "runtime" / "daemon.json"
    try:
        found = wait_for(lambda: Discovery.read(path), 60, "the daemon (started from setup)")
        assert found.pid == proc.pid
        window_id = manager.dock_requests.get(timeout=30)
        assert manager.window_name(window_id) == "Cloaker: protection on, mode mid"

        from daemon_util import Client

        with Client.open(found) as client:
            assert client.request("settings.get")["data"]["protection"] is True
            # Clicks sent while the models load were seen to be lost or delayed by pystray's
            # xorg backend, so click once the daemon has finished warming.
            wait_for(
                lambda: client.request("status")["data"]["state"] != "warming",
                120,
                "the end of warm-up",
                interval_s=0.5,
            )
            # xorg backend: a click runs the default item. On a loaded machine its event
            # loop was seen to drop a click now and then (1 run in ~10 of the whole suite);
            # a user clicks again, and so does the test, only when nothing came of it.
            push = None
            for _ in range(3):
                manager.click(window_id)
                try:
                    push = client.next_push(8)
                    break
                except TimeoutError:
                    continue
            assert push is not None, "three clicks on the tray icon changed nothing"
            assert push["data"]["protection"] is False
        wait_for(
            lambda: manager.window_name(window_id) == "Cloaker: protection off, mode mid",
            10,
            "the icon title to follow the setting",
        )

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert not path.exists()
        log = (_isolated_home / "log" / "daemon.log").read_text()
        assert "tray icon shown" in log and "stopped" in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
