"""Chunked transfers of image bytes over native messaging (base64 in ``chunk`` messages).

A message announces a transfer with ``data.transfer = {id, chunks, size, sha256}``; then
``chunks`` messages of type ``chunk`` follow with ``data = {transfer, index, data}``. Indexes
run 0..chunks-1 in order; anything else is a ``TransferError``. See PROTOCOL.md section 4.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from native_host.protocol import MAX_TRANSFER_BYTES, message

log = logging.getLogger(__name__)
DOWNLOAD_CHUNK_BYTES = 512 * 1024  # base64 grows it to 683 KiB: well under the 1 MiB limit


class TransferError(Exception):
    """A chunked transfer went wrong; reported as ``transfer_error`` for ``request_id``."""

    def __init__(self, request_id: str | None, text: str) -> None:
        super().__init__(text)
        self.request_id = request_id


def describe(data: bytes, transfer_id: str, chunk_bytes: int = DOWNLOAD_CHUNK_BYTES) -> dict:
    """The ``transfer`` object announcing ``data``."""
    return {
        "id": transfer_id,
        "chunks": -(-len(data) // chunk_bytes),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def split(
    request_id: str | None, data: bytes, transfer_id: str, chunk_bytes: int = DOWNLOAD_CHUNK_BYTES
) -> Iterator[dict[str, Any]]:
    """Yield the ``chunk`` messages that carry ``data`` (matching ``describe``)."""
    for index, start in enumerate(range(0, len(data), chunk_bytes)):
        piece = base64.b64encode(data[start : start + chunk_bytes]).decode("ascii")
        yield message("chunk", request_id, {"transfer": transfer_id, "index": index, "data": piece})


@dataclass
class _Open:
    request_id: str | None
    chunks: int
    size: int
    sha256: str
    received: int = 0
    parts: list[bytes] = field(default_factory=list)
    length: int = 0


def _check_transfer(request_id: str | None, transfer: Any) -> tuple[str, _Open]:
    if not isinstance(transfer, dict):
        raise TransferError(request_id, "data.transfer must be an object")
    tid, chunks = transfer.get("id"), transfer.get("chunks")
    size, digest = transfer.get("size"), transfer.get("sha256")
    if not isinstance(tid, str) or not tid:
        raise TransferError(request_id, "transfer.id must be a non-empty string")
    for name, value in (("chunks", chunks), ("size", size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise TransferError(request_id, f"transfer.{name} must be a non-negative integer")
    if size > MAX_TRANSFER_BYTES:
        raise TransferError(
            request_id, f"transfer of {size} bytes is over the {MAX_TRANSFER_BYTES}-byte limit"
        )
    if (chunks == 0) != (size == 0) or chunks > size:
        raise TransferError(request_id, f"{chunks} chunks cannot carry {size} bytes")
    if not isinstance(digest, str) or len(digest) != 64:
        raise TransferError(request_id, "transfer.sha256 must be 64 hex digits")
    return tid, _Open(request_id, chunks, size, digest.lower())


class Assembler:
    """Reassembles incoming transfers; several may be open at once, each strictly in order."""

    def __init__(self) -> None:
        self._open: dict[str, _Open] = {}
        # Transfers that failed: their remaining chunks are dropped quietly, so a request
        # gets one transfer_error, not one per chunk still in flight.
        self._failed: dict[str, None] = {}

    def __len__(self) -> int:
        return len(self._open)

    def __contains__(self, transfer_id: object) -> bool:
        return transfer_id in self._open

    def start(self, request_id: str | None, transfer: Any) -> bytes | None:
        """Open a transfer; returns ``b""`` at once for an empty one, else ``None``."""
        try:
            tid, state = _check_transfer(request_id, transfer)
        except TransferError:
            if isinstance(transfer, dict) and isinstance(transfer.get("id"), str):
                self._forget(transfer["id"])
            raise
        if tid in self._open:
            raise TransferError(request_id, f"transfer {tid!r} is already open")
        if state.chunks == 0:
            return self._finish(tid, state)
        self._open[tid] = state
        return None

    def add(self, request_id: str | None, data: dict[str, Any]) -> tuple[str, bytes | None]:
        """Take one ``chunk`` message's data; return (transfer id, bytes once complete)."""
        tid, index, piece = data.get("transfer"), data.get("index"), data.get("data")
        state = self._open.get(tid) if isinstance(tid, str) else None
        if state is None and tid in self._failed:
            log.debug("dropped a chunk of failed transfer %r", tid)
            return tid, None
        if state is None:
            raise TransferError(request_id, f"chunk for unknown transfer {tid!r}")
        try:
            if state.request_id != request_id:
                raise TransferError(request_id, f"chunk id differs from transfer {tid!r}'s id")
            if not isinstance(index, int) or isinstance(index, bool):
                raise TransferError(request_id, "chunk index must be an integer")
            if index != state.received:
                kind = "duplicate or out-of-order" if index < state.received else "missing"
                raise TransferError(
                    request_id, f"{kind} chunk: got index {index}, expected {state.received}"
                )
            if not isinstance(piece, str) or not piece:
                raise TransferError(request_id, "chunk data must be a non-empty base64 string")
            try:
                raw = base64.b64decode(piece, validate=True)
            except binascii.Error as exc:
                raise TransferError(request_id, f"chunk {index} is not valid base64") from exc
            state.length += len(raw)
            if state.length > state.size or index >= state.chunks:
                raise TransferError(request_id, f"transfer {tid!r} is longer than announced")
        except TransferError:
            del self._open[tid]
            self._forget(tid)
            raise
        state.parts.append(raw)
        state.received += 1
        if state.received < state.chunks:
            return tid, None
        del self._open[tid]
        return tid, self._finish(tid, state)

    def drop_request(self, request_id: str) -> list[str]:
        """Drop the open transfers of a request (it was cancelled); returns their ids."""
        dropped = [tid for tid, state in self._open.items() if state.request_id == request_id]
        for tid in dropped:
            del self._open[tid]
            self._forget(tid)
        return dropped

    def _forget(self, transfer_id: str) -> None:
        self._failed[transfer_id] = None
        while len(self._failed) > 1000:
            del self._failed[next(iter(self._failed))]

    @staticmethod
    def _finish(tid: str, state: _Open) -> bytes:
        data = b"".join(state.parts)
        if len(data) != state.size:
            raise TransferError(
                state.request_id, f"transfer {tid!r} has {len(data)} bytes, announced {state.size}"
            )
        if hashlib.sha256(data).hexdigest() != state.sha256:
            raise TransferError(state.request_id, f"transfer {tid!r} failed its sha256 check")
        return data
