"""Native-messaging framing: a 4-byte unsigned length in native byte order, then that many
bytes of UTF-8 JSON. The one implementation shared by everything that speaks it."""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

HEADER = struct.Struct("=I")  # native byte order, exactly 4 bytes, no padding
MAX_INCOMING = 64 * 1024 * 1024  # browser -> host (Chrome's documented limit)
MAX_OUTGOING = 1024 * 1024  # host -> browser (Chrome's documented limit)


class FramingError(Exception):
    """A frame could not be read or written."""


class TruncatedFrameError(FramingError):
    """The stream ended inside a frame (header or body); the stream is unusable."""


class FrameTooLargeError(FramingError):
    """A length over the limit; on read the stream cannot be resynchronised."""


class FrameDecodeError(FramingError):
    """A complete frame whose body is not UTF-8 JSON; the stream is still in sync."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def encode(message: Any, limit: int = MAX_OUTGOING) -> bytes:
    """Return the frame (header + body) for ``message``; raise if the body exceeds ``limit``."""
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    raw = body.encode("utf-8")
    if len(raw) > limit:
        raise FrameTooLargeError(f"message of {len(raw)} bytes is over the {limit}-byte limit")
    return HEADER.pack(len(raw)) + raw


def decode(body: bytes) -> Any:
    """Parse one frame body (strict UTF-8, strict JSON: no NaN or Infinity)."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise FrameDecodeError(f"frame is not valid UTF-8: {exc}") from exc
    except ValueError as exc:
        raise FrameDecodeError(f"frame is not valid JSON: {exc}") from exc


def read_exact(stream: BinaryIO, size: int) -> bytes:
    """Read exactly ``size`` bytes; a short read raises ``TruncatedFrameError``."""
    parts: list[bytes] = []
    left = size
    while left > 0:
        part = stream.read(left)
        if not part:
            raise TruncatedFrameError(f"stream ended {left} bytes short of {size}")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_frame(stream: BinaryIO, limit: int = MAX_INCOMING) -> Any | None:
    """Read one message; ``None`` at a clean end of stream (no byte of a new frame read)."""
    first = stream.read(HEADER.size)
    if not first:
        return None
    header = first + read_exact(stream, HEADER.size - len(first))
    (length,) = HEADER.unpack(header)
    if length > limit:
        raise FrameTooLargeError(f"frame length {length} is over the {limit}-byte limit")
    return decode(read_exact(stream, length))


def write_frame(stream: BinaryIO, message: Any, limit: int = MAX_OUTGOING) -> None:
    """Write one message as a single frame and flush."""
    stream.write(encode(message, limit))
    stream.flush()
