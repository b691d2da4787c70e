"""The protocol envelope shared by both legs, its validation, and the error-code table.

Every JSON message is ``{"v": 1, "id": str | None, "type": str, "data": {...}}``. Error codes
are numbers that are never reused; each also has a stable name (equal to the matching
``cloaker.errors`` code where one applies). PROTOCOL.md is the human-readable copy of this.
"""

from __future__ import annotations

import json
from typing import Any

VERSION = 1
MAX_ID_LENGTH = 128
MAX_TEXT_BYTES = 1024 * 1024  # control messages on the websocket leg
MAX_TRANSFER_BYTES = 64 * 1024 * 1024  # image bytes in one transfer (both legs)
MAX_WS_FRAME = MAX_TRANSFER_BYTES + 64 * 1024  # hard cap: larger frames close the socket

# name -> number. Append only: a number, once used, is never given another meaning.
ERROR_CODES: dict[str, int] = {
    "internal": 100,
    "bad_request": 101,
    "unknown_type": 102,
    "unsupported_version": 103,
    "message_too_large": 104,
    "duplicate_id": 105,
    "busy": 200,
    "timeout": 201,
    "cancelled": 202,
    "shutting_down": 203,
    "bad_image": 210,
    "unsupported_image": 211,
    "image_too_large": 212,
    "model_unavailable": 213,
    "daemon_unavailable": 300,
    "daemon_lost": 301,
    "transfer_error": 302,
    "frame_error": 303,
}

REQUEST_TYPES = ("status", "settings.get", "settings.set", "cloak", "cancel")


class ProtocolError(Exception):
    """A failure to report to the peer as an ``error`` message."""

    def __init__(self, name: str, message: str, request_id: str | None = None) -> None:
        if name not in ERROR_CODES:
            raise ValueError(f"unknown error name {name!r}")
        super().__init__(message)
        self.name = name
        self.message = message
        self.request_id = request_id


def code_of(name: str) -> int:
    """The number for an error name (``internal`` for names from newer engine versions)."""
    return ERROR_CODES.get(name, ERROR_CODES["internal"])


def message(type_: str, request_id: str | None, data: dict[str, Any] | None = None) -> dict:
    """Build an envelope."""
    return {"v": VERSION, "id": request_id, "type": type_, "data": data or {}}


def error(request_id: str | None, name: str, text: str, *, fatal: bool = False) -> dict[str, Any]:
    """Build an ``error`` envelope."""
    data: dict[str, Any] = {"code": code_of(name), "name": name, "message": text}
    if fatal:
        data["fatal"] = True
    return message("error", request_id, data)


def dumps(msg: dict[str, Any]) -> str:
    """Serialise an envelope for a websocket text frame."""
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_text(text: str) -> dict[str, Any]:
    """Parse and validate one JSON envelope from a websocket text frame."""
    if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
        raise ProtocolError(
            "message_too_large", f"control messages are limited to {MAX_TEXT_BYTES} bytes"
        )
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ProtocolError("bad_request", f"message is not valid JSON: {exc}") from exc
    return validate(obj)


def validate(obj: Any) -> dict[str, Any]:
    """Check the envelope fields; return it with ``data`` defaulted to ``{}``."""
    if not isinstance(obj, dict):
        raise ProtocolError("bad_request", "message must be a JSON object")
    request_id = obj.get("id")
    if request_id is not None and (
        not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_ID_LENGTH
    ):
        raise ProtocolError("bad_request", f"id must be a string of 1-{MAX_ID_LENGTH} characters")
    version = obj.get("v")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ProtocolError("bad_request", "v must be an integer", request_id)
    if version != VERSION:
        raise ProtocolError(
            "unsupported_version",
            f"protocol version {version} (this side speaks {VERSION})",
            request_id,
        )
    type_ = obj.get("type")
    if not isinstance(type_, str) or not type_:
        raise ProtocolError("bad_request", "type must be a non-empty string", request_id)
    data = obj.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProtocolError("bad_request", "data must be an object", request_id)
    return {"v": version, "id": request_id, "type": type_, "data": data}


def require_id(msg: dict[str, Any]) -> str:
    """Requests must carry an id so their replies can be matched."""
    if msg["id"] is None:
        raise ProtocolError("bad_request", f"{msg['type']} needs an id")
    return msg["id"]


def field(
    data: dict[str, Any],
    name: str,
    kind: type | tuple[type, ...],
    request_id: str | None,
    *,
    required: bool = True,
) -> Any:
    """Fetch a typed field from ``data`` or raise ``bad_request``."""
    if name not in data:
        if required:
            raise ProtocolError("bad_request", f"data.{name} is missing", request_id)
        return None
    value = data[name]
    if (
        isinstance(value, bool)
        and kind is not bool
        and bool not in (kind if isinstance(kind, tuple) else (kind,))
    ):
        raise ProtocolError("bad_request", f"data.{name} has the wrong type", request_id)
    if not isinstance(value, kind):
        raise ProtocolError("bad_request", f"data.{name} has the wrong type", request_id)
    return value
