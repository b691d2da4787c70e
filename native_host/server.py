"""The daemon's websocket server: handshake authentication, per-connection message dispatch,
ordered sending, settings pushes. Runs on the daemon's event loop (see PROTOCOL.md)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server as WsServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from cloaker import __version__
from native_host.jobs import EngineHost, Job, JobQueue, Limits, check_image
from native_host.protocol import (
    MAX_WS_FRAME,
    ProtocolError,
    dumps,
    error,
    field,
    message,
    parse_text,
    require_id,
)
from native_host.settings import SettingsStore, normalize_host

log = logging.getLogger(__name__)
SETTINGS_FIELDS = {"protection", "mode", "sites", "site"}
# Quit (tray, SIGTERM) must end within 2 s whatever clients do: CLOSE_S for ending jobs,
# flushing and closing handshakes (all connections together), CUT_S after cutting the rest.
CLOSE_S = 0.6
CUT_S = 0.2


class Client:
    """One connection: an ordered outbox drained by one writer task, and its open jobs."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.outbox: asyncio.Queue[tuple[dict[str, Any], bytes | None]] = asyncio.Queue()
        self.jobs: dict[str, Job] = {}
        self.awaiting_bytes: dict[str, Any] | None = None  # a cloak whose binary frame is next
        self.closed = False

    def send(self, msg: dict[str, Any], payload: bytes | None = None) -> None:
        """Queue a message (and the binary frame that goes with it). Loop thread only."""
        if msg["type"] in ("result", "error") and msg["id"] in self.jobs:
            del self.jobs[msg["id"]]
        if not self.closed:
            self.outbox.put_nowait((msg, payload))

    async def writer(self) -> None:
        """Send queued messages in order; a JSON message and its binary frame stay together."""
        while True:
            msg, payload = await self.outbox.get()
            try:
                await self.ws.send(dumps(msg))
                if payload is not None:
                    await self.ws.send(payload)
            except ConnectionClosed:
                self.closed = True
                return
            finally:
                self.outbox.task_done()


class Server:
    """Accepts authenticated clients and serves the protocol for them."""

    def __init__(
        self,
        token: str,
        settings: SettingsStore,
        engine: EngineHost,
        queue: JobQueue,
        limits: Limits,
    ) -> None:
        self._token = f"Bearer {token}".encode()
        self.settings = settings
        self.engine = engine
        self.queue = queue
        self.limits = limits
        self.clients: set[Client] = set()
        self._ws_server: WsServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> int:
        """Listen on a free loopback port; returns the port."""
        self._loop = asyncio.get_running_loop()
        self._ws_server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._check_handshake,
            max_size=MAX_WS_FRAME,
            compression=None,
            server_header=None,
        )
        self.settings.subscribe(self._settings_changed)
        return self._ws_server.sockets[0].getsockname()[1]

    async def close(self, timeout_s: float = CLOSE_S) -> None:
        """Stop accepting, end all jobs with an error event, give clients a moment to take
        their last messages, then close every connection at once. Bounded by ``timeout_s``
        whatever the clients do: a client that does not read or answer the closing handshake
        has its TCP connection cut."""
        if self._ws_server is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        self._ws_server.close(close_connections=False)  # stop accepting; we close them below
        await self.queue.close(grace_s=timeout_s * 0.3)
        outboxes = [c.outbox.join() for c in self.clients if not c.closed]
        if outboxes:
            flush_s = deadline - timeout_s * 0.3 - loop.time()
            try:
                await asyncio.wait_for(asyncio.gather(*outboxes), max(flush_s, 0.01))
            except TimeoutError:
                log.warning("some clients did not take their last messages in time")
        # all_connections includes those still in their opening handshake.
        connections = list(self._ws_server.all_connections)
        closing = [asyncio.create_task(ws.close(1001, "daemon quitting")) for ws in connections]
        if closing:
            _, late = await asyncio.wait(closing, timeout=max(deadline - loop.time(), 0.01))
            if late:
                log.warning("%d clients did not finish the closing handshake; cut", len(late))
            for ws in connections:
                ws.transport.abort()  # no-op for those already closed
            await asyncio.wait(closing, timeout=CUT_S)
        try:
            await asyncio.wait_for(self._ws_server.wait_closed(), CUT_S)
        except TimeoutError:
            log.warning("some connection handlers had not returned %.1f s after the cut", CUT_S)

    def _check_handshake(self, conn: ServerConnection, request: Request) -> Response | None:
        # Browsers always send Origin on websocket handshakes; our own clients never do.
        if "Origin" in request.headers:
            log.warning("refused a connection with Origin %s", request.headers["Origin"])
            return conn.respond(HTTPStatus.FORBIDDEN, "connections from web pages are refused\n")
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, self._token):
            log.warning("refused a connection without the right token")
            return conn.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
        return None

    def _settings_changed(self) -> None:
        # Called on whatever thread changed the settings (the tray's, or this loop's).
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._push_settings)

    def _push_settings(self) -> None:
        push = message("settings.changed", None, self.settings.get().to_json())
        for client in self.clients:
            client.send(push)

    async def _handle(self, ws: ServerConnection) -> None:
        client = Client(ws)
        self.clients.add(client)
        writer = asyncio.create_task(client.writer())
        log.info("client connected from port %s", ws.remote_address[1])
        try:
            async for frame in ws:
                self._on_frame(client, frame)
        except ConnectionClosed as exc:
            log.info("client connection closed abnormally: %s", exc)
        finally:
            client.closed = True
            self.clients.discard(client)
            for job in list(client.jobs.values()):
                self.queue.cancel(job, "cancelled")
            writer.cancel()
            log.info("client disconnected; %d left", len(self.clients))

    def _on_frame(self, client: Client, frame: str | bytes) -> None:
        """Handle one frame; every failure becomes an error message, never an exception."""
        request_id: str | None = None
        try:
            if isinstance(frame, bytes):
                announced, client.awaiting_bytes = client.awaiting_bytes, None
                if announced is None:
                    raise ProtocolError("bad_request", "binary frame without a cloak message")
                request_id = announced["id"]
                self._start_cloak(client, announced, frame)
                return
            if client.awaiting_bytes is not None:
                orphan, client.awaiting_bytes = client.awaiting_bytes, None
                client.send(error(orphan["id"], "bad_request", "cloak not followed by its bytes"))
            msg = parse_text(frame)
            request_id = msg["id"]
            self._dispatch(client, msg)
        except ProtocolError as exc:
            client.send(error(exc.request_id or request_id, exc.name, exc.message))
        except Exception:
            log.exception("request %s failed unexpectedly", request_id)
            client.send(error(request_id, "internal", "unexpected failure; see the daemon log"))

    def _dispatch(self, client: Client, msg: dict[str, Any]) -> None:
        kind, data = msg["type"], msg["data"]
        handlers = {
            "status": self._status,
            "settings.get": self._settings_get,
            "settings.set": self._settings_set,
            "cloak": self._cloak,
            "cancel": self._cancel,
        }
        handler = handlers.get(kind)
        if handler is None:
            raise ProtocolError("unknown_type", f"unknown message type {kind!r}", msg["id"])
        request_id = require_id(msg)
        reply = handler(client, request_id, data)
        if reply is not None:
            client.send(message(kind, request_id, reply))

    def status(self) -> dict[str, Any]:
        """The ``status`` reply's data."""
        settings = self.settings.get()
        state = self.engine.state
        data: dict[str, Any] = {
            "state": state,
            "version": __version__,
            "device": self.engine.device,
            "queued": self.queue.queued,
            "running": int(self.queue.running is not None),
            "protection": settings.protection,
            "mode": settings.mode,
            "limits": {
                "max_image_bytes": self.limits.max_image_bytes,
                "max_pixels": self.limits.max_pixels,
                "queue_size": self.limits.queue_size,
                "job_timeout_s": self.limits.job_timeout_s,
            },
        }
        failure = self.engine.error
        if failure is not None:
            data["error"] = error(None, failure.code, failure.message)["data"]
        return data

    def _status(self, client: Client, request_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return self.status()

    def _settings_get(self, client: Client, request_id: str, data: dict[str, Any]) -> dict:
        return self.settings.get().to_json()

    def _settings_set(self, client: Client, request_id: str, data: dict[str, Any]) -> dict:
        unknown = set(data) - SETTINGS_FIELDS
        if unknown or not data:
            raise ProtocolError(
                "bad_request", f"settings.set takes {sorted(SETTINGS_FIELDS)}", request_id
            )
        try:
            return self.settings.update(data).to_json()
        except ValueError as exc:
            raise ProtocolError("bad_request", str(exc), request_id) from exc

    def _cloak(self, client: Client, request_id: str, data: dict[str, Any]) -> None:
        """Validate the header; the job starts when its binary frame arrives."""
        if request_id in client.jobs:
            raise ProtocolError("duplicate_id", f"request {request_id!r} is still open", request_id)
        size = field(data, "size", int, request_id)
        digest = field(data, "sha256", str, request_id, required=False)
        name = field(data, "name", str, request_id, required=False) or ""
        field(data, "mime", str, request_id, required=False)
        try:
            site = normalize_host(field(data, "site", str, request_id))
        except ValueError as exc:
            raise ProtocolError("bad_request", f"data.site: {exc}", request_id) from exc
        client.awaiting_bytes = {
            "id": request_id,
            "size": size,
            "sha256": digest,
            "name": name,
            "site": site,
        }

    def _start_cloak(self, client: Client, announced: dict[str, Any], payload: bytes) -> None:
        request_id = announced["id"]
        if len(payload) != announced["size"]:
            raise ProtocolError(
                "bad_request",
                f"got {len(payload)} bytes, announced {announced['size']}",
                request_id,
            )
        digest = announced["sha256"]
        if digest is not None and hashlib.sha256(payload).hexdigest() != digest.lower():
            raise ProtocolError("bad_request", "the bytes do not match data.sha256", request_id)
        reason = self.settings.get().skip_reason(announced["site"])
        if reason is not None:
            log.info("job %s skipped for %s: %s", request_id, announced["site"], reason)
            client.send(message("result", request_id, {"status": "skipped", "reason": reason}))
            return
        try:
            check_image(payload, self.limits)
        except ProtocolError as exc:
            exc.request_id = request_id
            raise
        job = Job(request_id, client, payload, announced["name"], announced["site"])
        self.queue.submit(job)  # raises busy / shutting_down
        client.jobs[request_id] = job

    def _cancel(self, client: Client, request_id: str, data: dict[str, Any]) -> dict[str, Any]:
        target = field(data, "target", str, request_id)
        job = client.jobs.get(target)
        if job is not None:
            self.queue.cancel(job, "cancelled")
        return {"target": target, "cancelled": job is not None}
