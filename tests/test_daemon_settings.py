"""The daemon's settings over real websockets: pushes to every client, persistence across
restarts, a corrupt file, and SIGKILL while writing."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from daemon_util import (
    Client,
    DaemonProcess,
    start_daemon,
)
from websockets.exceptions import ConnectionClosed

from native_host.settings import Settings

# --- settings --------------------------------------------------------------------------


def test_settings_changes_reach_every_client(fresh: DaemonProcess) -> None:
    clients = [fresh.client() for _ in range(3)]
    try:
        reply = clients[0].request("settings.set", {"mode": "high", "site": {"host": "a.example"}})
        assert reply["type"] == "settings.set" and reply["data"]["mode"] == "high"
        for c in clients:
            push = c.next_push()
            assert push["type"] == "settings.changed"
            assert push["data"] == reply["data"]
        assert clients[2].request("settings.get")["data"] == reply["data"]
    finally:
        for c in clients:
            c.close()


def test_settings_survive_a_restart(_isolated_home: Path) -> None:
    first = start_daemon(_isolated_home)
    with first.client() as c:
        c.request("settings.set", {"protection": False, "mode": "low"})
        c.request("settings.set", {"site": {"host": "facebook.com", "enabled": False}})
        expected = c.request("settings.get")["data"]
    assert first.stop() == 0
    second = start_daemon(_isolated_home)
    try:
        with second.client() as c:
            assert c.request("settings.get")["data"] == expected
        assert expected["protection"] is False and expected["mode"] == "low"
    finally:
        second.kill()


def test_corrupt_settings_file_is_kept_aside(_isolated_home: Path) -> None:
    config = _isolated_home / "config"
    config.mkdir(exist_ok=True)
    (config / "settings.json").write_text('{"version": 1, "protection": tru')
    daemon = start_daemon(_isolated_home)
    try:
        with daemon.client() as c:
            assert c.request("settings.get")["data"] == Settings().to_json()
        assert (config / "settings.json.bak").read_text() == '{"version": 1, "protection": tru'
        assert "kept as" in daemon.log_text
    finally:
        daemon.kill()


def test_sigkill_while_writing_settings_leaves_a_readable_file(_isolated_home: Path) -> None:
    settings_path = _isolated_home / "config" / "settings.json"
    many_sites = [{"host": f"site{i}.example", "enabled": i % 2 == 0} for i in range(2000)]
    for round_ in range(4):
        daemon = start_daemon(_isolated_home)
        client = daemon.client()
        # One answered change first: the models start loading as the daemon starts, and
        # torch's import can hold the GIL for ~0.5 s, longer than the window below.
        client.request("settings.set", {"mode": "high"})
        stop = threading.Event()

        def hammer(c: Client = client, stop: threading.Event = stop) -> None:
            i = 0
            while not stop.is_set():
                try:
                    c.send(
                        "settings.set",
                        {
                            "mode": ("low", "mid", "high")[i % 3],
                            "sites": many_sites[: 1000 + i % 1000],
                        },
                    )
                except ConnectionClosed:
                    return
                i += 1

        thread = threading.Thread(target=hammer)
        thread.start()
        time.sleep(0.3 + 0.13 * round_)
        os.kill(daemon.proc.pid, signal.SIGKILL)
        daemon.proc.wait(10)
        stop.set()
        thread.join(10)
        client.ws.close_socket()
        assert settings_path.exists(), "no save completed before the kill"
        Settings.from_json(json.loads(settings_path.read_text()))  # whole and valid
    restarted = start_daemon(_isolated_home)
    try:
        assert not settings_path.with_name("settings.json.bak").exists()
        assert not list(settings_path.parent.glob(".settings.json.*.tmp"))
    finally:
        restarted.kill()
