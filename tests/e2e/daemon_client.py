"""Talk to a running daemon the way the tray and the native host do: discovery file, token,
websocket, protocol envelope (PROTOCOL.md). The browser tests use it to set the allowlist,
to switch protection off "as the tray would", and to wait for the models.

Command line (the browser driver calls it mid-scenario):
    python tests/e2e/daemon_client.py --home DIR set '{"protection": false}'
    python tests/e2e/daemon_client.py --home DIR status
    python tests/e2e/daemon_client.py --home DIR get
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

_ids = itertools.count(1)


def discovery(home: Path) -> dict[str, Any] | None:
    """The daemon's discovery file under ``home`` (CLOAKER_HOME), or None."""
    path = home / "runtime" / "daemon.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def request(home: Path, type_: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send one request; return the reply's ``data`` (raises RuntimeError on an error reply)."""
    found = discovery(home)
    if found is None:
        raise RuntimeError(f"no daemon discovery file under {home}")
    with connect(
        f"ws://127.0.0.1:{found['port']}/",
        additional_headers={"Authorization": f"Bearer {found['token']}"},
        open_timeout=10,
        proxy=None,
    ) as ws:
        rid = f"t{next(_ids)}"
        ws.send(json.dumps({"v": 1, "id": rid, "type": type_, "data": data or {}}))
        while True:
            msg = json.loads(ws.recv(timeout=30))
            if msg.get("id") != rid:
                continue  # a push
            if msg["type"] == "error":
                raise RuntimeError(f"daemon error: {msg['data']}")
            return msg["data"]


def wait_ready(home: Path, timeout_s: float) -> dict[str, Any]:
    """Wait until the daemon answers with models loaded; returns its status."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = request(home, "status")
            if last["state"] == "ready":
                return last
            if last["state"] == "failed":
                raise RuntimeError(f"daemon models failed to load: {last.get('error')}")
        except (OSError, RuntimeError, TimeoutError) as exc:
            if "failed to load" in str(exc):
                raise
            last = exc
        time.sleep(0.5)
    raise TimeoutError(f"daemon not ready after {timeout_s:.0f} s (last: {last})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="the daemon's CLOAKER_HOME")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status")
    sub.add_parser("get")
    setter = sub.add_parser("set")
    setter.add_argument("json", help="settings.set data, as JSON")
    args = parser.parse_args(argv)
    if args.command == "status":
        reply = request(args.home, "status")
    elif args.command == "get":
        reply = request(args.home, "settings.get")
    else:
        reply = request(args.home, "settings.set", json.loads(args.json))
    print(json.dumps(reply))
    return 0


if __name__ == "__main__":
    sys.exit(main())
