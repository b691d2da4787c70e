"""The daemon as a real subprocess (``cloaker daemon --no-tray``, all dirs in a temporary
CLOAKER_HOME) and real websocket clients: start, discovery, authentication, protocol errors."""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from daemon_util import (
    ASTRONAUT,
    ROOT,
    Client,
    DaemonProcess,
    assert_error,
    assert_still_serving,
    daemon_env,
)
from PIL import Image
from websockets.exceptions import ConnectionClosed, InvalidStatus


def test_limits_agree_with_the_engine_and_transport() -> None:
    from cloaker.imageio import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
    from native_host.jobs import Limits
    from native_host.protocol import MAX_TRANSFER_BYTES

    assert Limits().max_pixels == DEFAULT_MAX_PIXELS
    assert Limits().max_image_bytes <= min(DEFAULT_MAX_BYTES, MAX_TRANSFER_BYTES)


# --- start, discovery, single instance ---------------------------------------------------


def test_discovery_file(shared: DaemonProcess) -> None:
    path = shared.discovery_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    found = json.loads(path.read_text())
    assert set(found) == {"port", "token", "pid", "version"}
    assert found["pid"] == shared.proc.pid
    assert len(bytes.fromhex(found["token"])) == 32


def test_second_start_says_already_running(shared: DaemonProcess) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "cloaker", "daemon", "--no-tray"],
        cwd=ROOT,
        env=daemon_env(shared.home),
        capture_output=True,
        timeout=60,
    )
    assert second.returncode == 0
    assert b"already running" in second.stdout
    assert json.loads(shared.discovery_path.read_text())["pid"] == shared.proc.pid


def test_status_while_warming_then_ready(fresh: DaemonProcess) -> None:
    with fresh.client() as c:
        status = c.request("status")
        assert status["type"] == "status"
        assert status["data"]["state"] in ("warming", "ready")
        assert status["data"]["limits"]["queue_size"] == 64
        assert status["data"]["version"]


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
def test_listens_on_loopback_only(shared: DaemonProcess) -> None:
    port = f"{shared.discovery.port:04X}"
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and local.endswith(":" + port):  # 0A = LISTEN
                listening.append(local.split(":")[0])
    assert listening == ["0100007F"]  # 127.0.0.1 only, no IPv6, no wildcard


# --- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer " + "0" * 64}, 401),
        ({"Authorization": "Basic abc"}, 401),
    ],
    ids=["no-token", "wrong-token", "wrong-scheme"],
)
def test_refused_without_the_token(shared: DaemonProcess, headers: dict, status: int) -> None:
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as info:
        connect(
            f"ws://127.0.0.1:{shared.discovery.port}/",
            additional_headers=headers,
            proxy=None,
            legacy=True,
        )
    assert info.value.response.status_code == status


def test_refused_with_an_origin_header_even_with_the_token(shared: DaemonProcess) -> None:
    with pytest.raises(InvalidStatus) as info:
        Client.open(shared.discovery, origin="https://evil.example")
    assert info.value.response.status_code == 403


# --- protocol errors: each answered, and the daemon keeps serving --------------------------


@pytest.mark.parametrize(
    ("frame", "name", "request_id"),
    [
        ("{not json", "bad_request", None),
        ("[1, 2]", "bad_request", None),
        ('{"v": 1, "id": "x", "type": "status", "data": [1]}', "bad_request", "x"),
        ('{"v": 1, "id": 5, "type": "status"}', "bad_request", None),
        ('{"v": 1, "id": "x", "type": "fly"}', "unknown_type", "x"),
        ('{"v": 2, "id": "x", "type": "status"}', "unsupported_version", "x"),
        ('{"id": "x", "type": "status"}', "bad_request", "x"),
        ('{"v": 1, "type": "status"}', "bad_request", None),
        (
            '{"v": 1, "id": "x", "type": "settings.set", "data": {"mode": "ultra"}}',
            "bad_request",
            "x",
        ),
        (
            '{"v": 1, "id": "x", "type": "settings.set", "data": {"colour": "red"}}',
            "bad_request",
            "x",
        ),
        ('{"v": 1, "id": "x", "type": "cloak", "data": {"site": "a.com"}}', "bad_request", "x"),
        ('{"v": 1, "id": "x", "type": "cancel", "data": {}}', "bad_request", "x"),
    ],
    ids=[
        "not-json",
        "not-object",
        "data-not-object",
        "id-not-string",
        "unknown-type",
        "version",
        "no-version",
        "no-id",
        "bad-setting",
        "unknown-setting",
        "cloak-no-size",
        "cancel-no-target",
    ],
)
def test_bad_messages(client: Client, frame: str, name: str, request_id: str | None) -> None:
    client.ws.send(frame)
    assert_error(client.recv_for(request_id), name, request_id)
    assert_still_serving(client)


def test_oversize_text_frame(client: Client) -> None:
    client.ws.send(json.dumps({"v": 1, "id": "big", "type": "status", "pad": "x" * 2_000_000}))
    assert_error(client.recv_for(None), "message_too_large", None)
    assert_still_serving(client)


def test_oversize_image(client: Client) -> None:
    limit = client.request("status")["data"]["limits"]["max_image_bytes"]
    request_id = client.send_cloak(b"\xff" * (limit + 1))
    assert_error(client.recv_for(request_id), "image_too_large", request_id)
    assert_still_serving(client)


def test_frame_over_the_hard_cap_closes_only_that_connection(shared: DaemonProcess) -> None:
    from native_host.protocol import MAX_WS_FRAME

    with shared.client() as c:
        c.ws.send(b"\0" * (MAX_WS_FRAME + 1))
        with pytest.raises(ConnectionClosed) as info:
            c.recv(10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    with shared.client() as c:
        assert_still_serving(c)


def test_too_many_pixels_refused_before_decoding(client: Client) -> None:
    # A real PNG header claiming 20000 x 20000 pixels; the body is never decoded.
    buf = io.BytesIO()
    Image.new("L", (20000, 20000)).save(buf, "PNG", compress_level=9)
    request_id = client.send_cloak(buf.getvalue(), name="huge.png", mime="image/png")
    assert_error(client.recv_for(request_id), "image_too_large", request_id)
    assert_still_serving(client)


@pytest.mark.parametrize(
    "payload",
    [b"", b"%PDF-1.4 not an image at all", ASTRONAUT.read_bytes()[:20]],
    ids=["empty", "pdf", "truncated-header"],
)
def test_non_image_payload(client: Client, payload: bytes) -> None:
    request_id = client.send_cloak(payload)
    assert_error(client.recv_for(request_id), "bad_image", request_id)
    assert_still_serving(client)


def test_bytes_without_a_cloak(client: Client) -> None:
    client.ws.send(b"loose bytes")
    assert_error(client.recv_for(None), "bad_request", None)
    assert_still_serving(client)


def test_cloak_not_followed_by_bytes(client: Client) -> None:
    client.send("cloak", {"site": "facebook.com", "size": 3}, "c1")
    status_id = client.send("status")
    assert_error(client.recv_for("c1"), "bad_request", "c1")
    assert client.recv_for(status_id)["type"] == "status"


def test_size_and_checksum_mismatch(client: Client) -> None:
    data = ASTRONAUT.read_bytes()
    client.send("cloak", {"site": "facebook.com", "size": len(data) + 1}, "m1")
    client.ws.send(data)
    assert_error(client.recv_for("m1"), "bad_request", "m1")
    client.send("cloak", {"site": "facebook.com", "size": len(data), "sha256": "0" * 64}, "m2")
    client.ws.send(data)
    assert_error(client.recv_for("m2"), "bad_request", "m2")


def test_cancel_of_unknown_job(client: Client) -> None:
    reply = client.request("cancel", {"target": "nothing"})
    assert reply["data"] == {"target": "nothing", "cancelled": False}


def test_skipped_when_site_not_listed(client: Client) -> None:
    request_id = client.send_cloak(ASTRONAUT.read_bytes(), site="example.org")
    job = client.wait_job(request_id)
    assert job.terminal is not None and job.terminal["type"] == "result"
    assert job.terminal["data"] == {"status": "skipped", "reason": "site_not_listed"}
    assert job.payload is None


def test_skipped_when_protection_off(fresh: DaemonProcess) -> None:
    with fresh.client() as c:
        c.request("settings.set", {"protection": False})
        job = c.wait_job(c.send_cloak(ASTRONAUT.read_bytes()))
        assert job.terminal is not None
        assert job.terminal["data"] == {"status": "skipped", "reason": "protection_off"}
