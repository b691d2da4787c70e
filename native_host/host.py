"""``cloaker-native-host``: the program the browser starts for the extension's native port.

A dumb relay with two pumps: stdin -> daemon and daemon -> stdout. It reassembles uploaded
chunks into one binary websocket frame and splits result bytes into chunks under 1 MiB; it
changes nothing else. stdout carries native-messaging frames only. Chrome passes the
caller's origin as the argument; Firefox passes the host manifest's path and the add-on id.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from typing import Any, BinaryIO, NoReturn

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from native_host import chunks, framing
from native_host.connect import DaemonUnavailableError, connect_daemon
from native_host.logs import setup_logging
from native_host.protocol import dumps, error

log = logging.getLogger(__name__)


class FrameWriter:
    """Writes frames to the browser; the lock keeps frames from the two pumps whole."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, msg: dict[str, Any]) -> None:
        try:
            frame = framing.encode(msg)
        except framing.FrameTooLargeError as exc:
            log.error("reply for %s dropped: %s", msg.get("id"), exc)
            frame = framing.encode(error(msg.get("id"), "message_too_large", str(exc)))
        with self._lock:
            self._stream.write(frame)
            self._stream.flush()


def _upload(ws: ClientConnection, msg: dict[str, Any], payload: bytes) -> None:
    """Forward a completed upload: the announcing message, then the bytes as one frame."""
    data = {k: v for k, v in msg["data"].items() if k != "transfer"}
    data["size"], data["sha256"] = len(payload), msg["data"]["transfer"]["sha256"]
    ws.send(dumps({**msg, "data": data}))
    ws.send(payload)


def pump_stdin(stdin: BinaryIO, ws: ClientConnection, out: FrameWriter) -> None:
    """Browser -> daemon, until stdin closes or the stream breaks."""
    assembler = chunks.Assembler()
    announced: dict[str, dict[str, Any]] = {}  # transfer id -> the message that announced it
    while True:
        try:
            msg = framing.read_frame(stdin)
        except framing.FrameDecodeError as exc:
            out.write(error(None, "frame_error", str(exc)))
            continue
        except framing.FrameTooLargeError as exc:
            out.write(error(None, "frame_error", str(exc), fatal=True))
            return
        except framing.TruncatedFrameError as exc:
            log.info("stdin ended inside a frame: %s", exc)
            return
        if msg is None:
            log.info("stdin closed")
            return
        data = msg.get("data") if isinstance(msg, dict) else None
        request_id = msg.get("id") if isinstance(msg, dict) else None
        try:
            if msg_type(msg) == "chunk":
                tid, payload = assembler.add(request_id, data if isinstance(data, dict) else {})
                if payload is not None:
                    _upload(ws, announced.pop(tid), payload)
            elif isinstance(data, dict) and "transfer" in data:
                payload = assembler.start(request_id, data["transfer"])
                if payload is not None:
                    _upload(ws, msg, payload)
                else:
                    announced[data["transfer"]["id"]] = msg
            else:
                if msg_type(msg) == "cancel" and isinstance(data, dict):
                    _cancel_upload(assembler, announced, data.get("target"), out)
                ws.send(json.dumps(msg, ensure_ascii=False))
        except chunks.TransferError as exc:
            for tid in [t for t in announced if t not in assembler]:
                del announced[tid]  # the assembler dropped the failed transfer
            out.write(error(exc.request_id, "transfer_error", str(exc)))


def _cancel_upload(
    assembler: chunks.Assembler, announced: dict[str, Any], target: Any, out: FrameWriter
) -> None:
    """A cancel for a request still uploading: the daemon has no job for it yet, so the
    upload ends here (its terminal error); the cancel still goes on to the daemon."""
    if isinstance(target, str) and assembler.drop_request(target):
        for tid in [t for t in announced if t not in assembler]:
            del announced[tid]
        out.write(error(target, "cancelled", "cancelled before the upload finished"))


def msg_type(msg: Any) -> Any:
    return msg.get("type") if isinstance(msg, dict) else None


def pump_socket(ws: ClientConnection, out: FrameWriter) -> None:
    """Daemon -> browser, until the connection closes."""
    waiting: dict[str, Any] | None = None  # a result whose bytes come in the next frame
    for frame in ws:
        if isinstance(frame, bytes):
            if waiting is None:
                log.error("daemon sent %d bytes with no result before them", len(frame))
                out.write(error(None, "internal", "daemon sent bytes without a result"))
                continue
            _download(waiting, frame, out)
            waiting = None
            continue
        msg = json.loads(frame)
        if msg_type(msg) == "result" and "size" in msg.get("data", {}):
            waiting = msg
        else:
            out.write(msg)


def _download(msg: dict[str, Any], payload: bytes, out: FrameWriter) -> None:
    """Send a result's bytes to the browser as the result message plus chunks under 1 MiB."""
    request_id = msg.get("id")
    transfer_id = str(request_id)
    transfer = chunks.describe(payload, transfer_id)
    if transfer["sha256"] != msg["data"].get("sha256", transfer["sha256"]):
        out.write(error(request_id, "transfer_error", "result bytes failed their sha256 check"))
        return
    data = {k: v for k, v in msg["data"].items() if k not in ("size", "sha256")}
    out.write({**msg, "data": {**data, "transfer": transfer}})
    for piece in chunks.split(request_id, payload, transfer_id):
        out.write(piece)


LINGER_S = 10.0


def linger(stdin: BinaryIO, timeout_s: float = LINGER_S) -> None:
    """After a fatal error frame, keep reading (and dropping) what the browser sends until it
    closes the port, as the extension does on a fatal error, or ``timeout_s`` pass.

    Exiting at once closes the pipe under a browser that is still writing a request (a photo
    is several frames): Chrome then reports its own "Error when communicating with the native
    messaging host" and the page's notice loses our reason."""
    closed = threading.Event()

    def drain() -> None:
        try:
            while stdin.read(1 << 16):
                pass
        except (OSError, ValueError):
            pass  # closed under us: the port is gone either way
        finally:
            closed.set()

    threading.Thread(target=drain, name="linger", daemon=True).start()
    if not closed.wait(timeout_s):
        log.info("the browser kept the port open %.0f s after a fatal error", timeout_s)


def _private_stdout() -> BinaryIO:
    """Take fd 1 for frames only and point fd 1 (and sys.stdout) at stderr, so a stray print
    anywhere in the process can never corrupt the frame stream."""
    frames = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return frames


def run_host(stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Connect, run both pumps, and return once stdin or the daemon connection ends."""
    out = FrameWriter(stdout)
    try:
        ws = connect_daemon()
    except DaemonUnavailableError as exc:
        log.error("daemon unavailable: %s", exc)
        out.write(error(None, "daemon_unavailable", str(exc), fatal=True))
        linger(stdin)
        return 1
    done = threading.Event()
    outcome: dict[str, str] = {}

    def run(name: str, target: Any, *args: Any) -> None:
        try:
            target(*args)
        except ConnectionClosed as exc:
            # The websocket library's wording is for the log, not for the page's notice.
            log.error("connection to the daemon closed: %s", exc)
            outcome.setdefault(
                "lost", "The Cloaker helper closed the connection before it answered."
            )
        except BrokenPipeError:
            outcome.setdefault("stdout", "the browser closed the port")
        finally:
            outcome.setdefault("ended", name)
            done.set()

    threads = {
        name: threading.Thread(target=run, args=(name, target, *args), name=name, daemon=True)
        for name, target, args in (
            ("stdin", pump_stdin, (stdin, ws, out)),
            ("socket", pump_socket, (ws, out)),
        )
    }
    for thread in threads.values():
        thread.start()
    done.wait()
    if outcome.get("ended") == "socket" and "stdout" not in outcome:
        reason = outcome.get("lost", "The Cloaker helper closed the connection.")
        log.error("%s", reason)
        out.write(error(None, "daemon_lost", reason, fatal=True))
        # The stdin pump still reads (it ends at the port's close, or at its next frame, which
        # it cannot send); once it has ended, the rest is drained here.
        deadline = time.monotonic() + LINGER_S
        threads["stdin"].join(LINGER_S)
        if not threads["stdin"].is_alive():
            linger(stdin, max(0.0, deadline - time.monotonic()))
        return 1
    ws.close()
    return 0


def main(argv: list[str] | None = None) -> NoReturn:
    """Console script entry point."""
    args = sys.argv[1:] if argv is None else argv
    frames = _private_stdout()
    setup_logging("native-host")
    log.info("started by %s", " ".join(args) or "no caller")
    if os.name == "nt":  # pragma: no cover - binary stdio on Windows
        import msvcrt

        msvcrt.setmode(sys.stdin.fileno(), os.O_BINARY)
    try:
        code = run_host(sys.stdin.buffer, frames)
    except BrokenPipeError:
        log.info("the browser closed the port")
        code = 0
    # A pump thread may still be blocked reading stdin; a normal interpreter shutdown would
    # then abort on stdin's lock. Everything is flushed (frames are unbuffered), so leave now.
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
