"""Jobs through a real daemon subprocess: the bounded queue, quit, cloak with progress,
cancel, disconnect, timeout, and 20 concurrent jobs from 5 clients."""

from __future__ import annotations

import hashlib
import io
import signal
import threading
from pathlib import Path

import pytest
from daemon_util import (
    ASTRONAUT,
    Client,
    DaemonProcess,
    assert_error,
    needs_engine,
    start_daemon,
    wait_for,
    wait_ready,
)
from PIL import Image

from native_host.protocol import ERROR_CODES

# --- queue limits and shutdown (the engine is still warming, so jobs wait) -----------------


def test_busy_beyond_the_queue_limit_then_disconnect_cancels(fresh: DaemonProcess) -> None:
    photo = ASTRONAUT.read_bytes()
    with fresh.client() as c:
        ids = [c.send_cloak(photo) for _ in range(70)]
        first: dict[str, dict] = {}
        while len(first) < len(ids):
            msg = c.message()
            if msg["type"] == "error" or msg["data"].get("stage") == "queued":
                first[msg["id"]] = msg
        busy = [rid for rid, msg in first.items() if msg["type"] == "error"]
        for rid in busy:
            assert_error(first[rid], "busy", rid)
        queued = [msg["data"] for msg in first.values() if msg["type"] == "progress"]
        assert len(busy) >= 6 and len(queued) + len(busy) == 70
        assert [q["position"] for q in queued] == list(range(len(queued)))
    with fresh.client() as c:  # the disconnect emptied the queue
        wait_for(lambda: c.request("status")["data"]["queued"] == 0, 30, "an empty queue")


def test_quit_ends_queued_jobs_with_an_error_and_removes_discovery(fresh: DaemonProcess) -> None:
    with fresh.client() as c:
        ids = [c.send_cloak(ASTRONAUT.read_bytes()) for _ in range(3)]
        for rid in ids:
            assert c.recv_for(rid)["data"]["stage"] == "queued"
        fresh.proc.send_signal(signal.SIGTERM)
        for rid in ids:
            msg = c.recv_for(rid)
            while msg["type"] == "progress":
                msg = c.recv_for(rid)
            assert_error(msg, "shutting_down", rid)
    assert fresh.proc.wait(20) == 0
    assert not fresh.discovery_path.exists()


# --- cloak jobs with the real engine -----------------------------------------------------


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@needs_engine
def test_cloak_returns_a_cloaked_image_with_progress(client: Client) -> None:
    wait_ready(client)
    original = ASTRONAUT.read_bytes()
    job = client.wait_job(client.send_cloak(original, name="astronaut.jpg"))
    assert job.terminal is not None and job.terminal["type"] == "result", job.terminal
    data = job.terminal["data"]
    assert data["status"] == "cloaked" and data["faces"] >= 1
    assert data["mime"] == "image/jpeg" and (data["width"], data["height"]) == (512, 512)
    assert job.payload is not None and len(job.payload) == data["size"]
    assert hashlib.sha256(job.payload).hexdigest() == data["sha256"]
    assert job.payload != original
    assert decoded(job.payload).size == (512, 512)
    stages = [p["stage"] for p in job.progress]
    assert stages[0] == "queued" and "optimize" in stages
    fractions = [p["fraction"] for p in job.progress]
    assert fractions == sorted(fractions) and all(0 <= f <= 1 for f in fractions)


def big_photo(faces_dir: Path) -> bytes:
    return (faces_dir / "people" / "angelina_jolie" / "1.jpg").read_bytes()


@needs_engine
def test_cancel_a_running_job(client: Client, faces_dir: Path) -> None:
    wait_ready(client)
    request_id = client.send_cloak(big_photo(faces_dir))
    while client.recv_for(request_id)["data"].get("stage") in ("queued", "decode"):
        pass
    cancel_id = client.send("cancel", {"target": request_id})
    reply = client.recv_for(cancel_id, 60)
    assert reply["data"] == {"target": request_id, "cancelled": True}
    job = client.wait_job(request_id, 60)
    assert job.terminal is not None
    assert_error(job.terminal, "cancelled", request_id)
    assert client.request("status")["data"]["running"] == 0


@needs_engine
def test_disconnect_cancels_its_jobs(shared: DaemonProcess, faces_dir: Path) -> None:
    with shared.client() as watcher:
        wait_ready(watcher)
        leaving = shared.client()
        running = leaving.send_cloak(big_photo(faces_dir), request_id="leaving-running")
        queued = leaving.send_cloak(big_photo(faces_dir), request_id="leaving-queued")
        while leaving.recv_for(running)["data"]["stage"] in ("queued", "decode"):
            pass
        leaving.close()
        wait_for(lambda: watcher.request("status")["data"]["running"] == 0, 60, "the job to stop")
        assert watcher.request("status")["data"]["queued"] == 0
        wait_for(lambda: f"job {queued} ended: cancelled" in shared.log_text, 5, "log line")
        assert f"job {running} ended: cancelled" in shared.log_text


@needs_engine
def test_job_timeout(_isolated_home: Path) -> None:
    daemon = start_daemon(_isolated_home, "--job-timeout", "0.05")
    try:
        with daemon.client() as c:
            wait_ready(c)
            job = c.wait_job(c.send_cloak(ASTRONAUT.read_bytes()))
            assert job.error_name == "timeout"
            assert c.request("status")["data"]["version"]
    finally:
        daemon.kill()


@needs_engine
@pytest.mark.slow
def test_twenty_concurrent_jobs_from_five_clients(shared: DaemonProcess, faces_dir: Path) -> None:
    """5 clients x 4 uploads at once: real photos, truncated photos, non-images, empty files
    and cancelled jobs. Every job must end with a result or a clear error; nothing crashes."""
    small = sorted((faces_dir / "people").glob("*/*.jpg"), key=lambda p: p.stat().st_size)[:10]
    photos = [p.read_bytes() for p in small]
    payloads = (
        [("photo", data) for data in photos[:6]]
        + [("cancel", data) for data in photos[6:9]]
        + [("truncated", data[: len(data) // 2]) for data in photos[:4]]
        + [("not-image", b"%PDF-1.4 a document, not a photo")] * 4
        + [("empty", b"")] * 3
    )
    assert len(payloads) == 20
    expected = {
        "photo": {"cloaked", "no_face"},
        "cancel": {"cancelled", "cloaked", "no_face"},
        "truncated": {"bad_image"},
        "not-image": {"bad_image"},
        "empty": {"bad_image"},
    }
    with shared.client() as admin:
        wait_ready(admin)
    outcomes: dict[str, tuple[str, dict]] = {}
    failures: list[BaseException] = []

    def one_client(index: int) -> None:
        try:
            with shared.client() as c:
                mine = payloads[index::5]
                ids = [
                    c.send_cloak(data, request_id=f"c{index}-{kind}-{k}")
                    for k, (kind, data) in enumerate(mine)
                ]
                for request_id, (kind, _) in zip(ids, mine, strict=True):
                    if kind == "cancel":
                        c.send("cancel", {"target": request_id})
                pending = dict(zip(ids, (kind for kind, _ in mine), strict=True))
                while pending:
                    msg = c.message(1800)
                    if msg["type"] in ("result", "error") and msg["id"] in pending:
                        outcomes[msg["id"]] = (pending.pop(msg["id"]), msg)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=one_client, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(3600)
    assert not failures, failures
    assert len(outcomes) == 20
    for kind, msg in outcomes.values():
        if msg["type"] == "result":
            assert msg["data"]["status"] in expected[kind], (kind, msg)
            assert "payload" in msg
        else:
            assert msg["data"]["name"] in expected[kind], (kind, msg)
            assert msg["data"]["code"] == ERROR_CODES[msg["data"]["name"]]
    with shared.client() as c:
        status = c.request("status")["data"]
        assert status["queued"] == 0 and status["running"] == 0
    assert shared.proc.poll() is None
    assert "Traceback" not in shared.log_text
