"""The native-messaging framing alone: round trips and every malformed input."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from native_host import framing

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


def frame(body: bytes) -> bytes:
    return struct.pack("=I", len(body)) + body


@pytest.mark.parametrize(
    "message",
    [
        {"v": 1, "id": "r1", "type": "status"},
        {"text": "héllo wörld ✓ 写真 🙂", "id": "ü"},
        [],
        "just a string",
    ],
    ids=["ascii", "non-ascii", "empty-list", "string"],
)
def test_round_trip(message: object) -> None:
    stream = io.BytesIO()
    framing.write_frame(stream, message)
    stream.seek(0)
    assert framing.read_frame(stream) == message
    assert framing.read_frame(stream) is None  # clean end of stream


def test_length_counts_bytes_in_native_order() -> None:
    data = framing.encode({"k": "é🙂"})
    (length,) = struct.unpack("=I", data[:4])
    assert length == len(data) - 4 == len('{"k":"é🙂"}'.encode())
    assert data[4:].decode("utf-8") == '{"k":"é🙂"}'


def test_several_frames_in_one_stream() -> None:
    stream = io.BytesIO(b"".join(framing.encode({"n": i}) for i in range(5)))
    assert [framing.read_frame(stream) for _ in range(5)] == [{"n": i} for i in range(5)]


class TrickleStream(io.RawIOBase):
    """Returns at most one byte per read, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 1) if size > 0 else 1)


def test_partial_reads_are_joined() -> None:
    message = {"x": "y" * 100}
    assert framing.read_frame(TrickleStream(framing.encode(message))) == message


@pytest.mark.parametrize("header", [b"\x05", b"\x05\x00", b"\x05\x00\x00"])
def test_truncated_header(header: bytes) -> None:
    with pytest.raises(framing.TruncatedFrameError):
        framing.read_frame(io.BytesIO(header))


def test_short_body() -> None:
    data = framing.encode({"long": "x" * 50})[:-10]
    with pytest.raises(framing.TruncatedFrameError):
        framing.read_frame(io.BytesIO(data))


def test_incoming_length_over_limit_is_refused_before_reading() -> None:
    stream = io.BytesIO(struct.pack("=I", framing.MAX_INCOMING + 1))
    with pytest.raises(framing.FrameTooLargeError):
        framing.read_frame(stream)


def test_incoming_at_limit_is_accepted() -> None:
    body = b'"' + b"a" * 98 + b'"'
    assert framing.read_frame(io.BytesIO(frame(body)), limit=100) == "a" * 98


def test_outgoing_over_one_mib_is_refused() -> None:
    just_over = "a" * (framing.MAX_OUTGOING - 1)  # plus two quotes: 1 MiB + 1 byte
    with pytest.raises(framing.FrameTooLargeError):
        framing.encode(just_over)
    assert len(framing.encode("a" * (framing.MAX_OUTGOING - 2))) == framing.MAX_OUTGOING + 4


def test_non_ascii_counts_bytes_against_the_limit() -> None:
    # 350,000 three-byte characters: under 1 Mi characters but over 1 MiB of UTF-8.
    with pytest.raises(framing.FrameTooLargeError):
        framing.encode("写" * 350_000)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"NaN", b'{"a": Infinity}', b"[1, 2"],
    ids=["garbage", "empty", "nan", "infinity", "unclosed"],
)
def test_invalid_json(body: bytes) -> None:
    stream = io.BytesIO(frame(body) + framing.encode({"next": True}))
    with pytest.raises(framing.FrameDecodeError):
        framing.read_frame(stream)
    assert framing.read_frame(stream) == {"next": True}  # still in sync after a bad body


@pytest.mark.parametrize(
    "body", [b'"\xff"', b'"\xc3"', b'"\xed\xa0\x80"'], ids=["ff", "cut-sequence", "surrogate"]
)
def test_invalid_utf8(body: bytes) -> None:
    with pytest.raises(framing.FrameDecodeError):
        framing.read_frame(io.BytesIO(frame(body)))


def test_nan_is_never_written() -> None:
    with pytest.raises(ValueError):
        framing.encode({"x": float("nan")})


@given(json_values)
def test_property_round_trip(value: object) -> None:
    stream = io.BytesIO()
    framing.write_frame(stream, value, limit=framing.MAX_INCOMING)
    stream.seek(0)
    assert framing.read_frame(stream) == value


@given(st.lists(st.text(), max_size=8))
def test_property_stream_of_frames(texts: list[str]) -> None:
    stream = io.BytesIO(b"".join(framing.encode(t) for t in texts))
    assert [framing.read_frame(stream) for _ in texts] == texts
    assert framing.read_frame(stream) is None


@given(st.binary(max_size=64))
def test_property_garbage_never_hangs_or_crashes(data: bytes) -> None:
    stream = io.BytesIO(data)
    for _ in range(len(data) + 1):  # each read consumes at least one byte or ends
        try:
            if framing.read_frame(stream, limit=1024) is None:
                return
        except framing.FrameDecodeError:
            continue
        except (framing.TruncatedFrameError, framing.FrameTooLargeError):
            return
    pytest.fail("read_frame did not consume the stream")
