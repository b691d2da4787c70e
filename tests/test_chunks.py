"""Chunked transfers: split/reassemble, and every way a transfer can go wrong."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from native_host import chunks, framing


def send(data: bytes, chunk_bytes: int, tid: str = "t1", rid: str = "r1"):
    return chunks.describe(data, tid, chunk_bytes), list(chunks.split(rid, data, tid, chunk_bytes))


@given(st.binary(max_size=5000), st.integers(min_value=1, max_value=700))
@settings(max_examples=60)
def test_property_round_trip(data: bytes, chunk_bytes: int) -> None:
    transfer, pieces = send(data, chunk_bytes)
    assert transfer["chunks"] == len(pieces)
    assembler = chunks.Assembler()
    result = assembler.start("r1", transfer)
    for piece in pieces:
        assert result is None
        _, result = assembler.add("r1", piece["data"])
    assert result == data
    assert len(assembler) == 0


def test_download_chunks_fit_the_browser_limit() -> None:
    data = os.urandom(3 * chunks.DOWNLOAD_CHUNK_BYTES + 17)
    transfer, pieces = send(data, chunks.DOWNLOAD_CHUNK_BYTES)
    assert transfer["chunks"] == 4 == len(pieces)
    for piece in pieces:
        assert len(framing.encode(piece)) - 4 < framing.MAX_OUTGOING


def test_empty_transfer_completes_at_start() -> None:
    assert chunks.Assembler().start("r1", chunks.describe(b"", "t")) == b""


def open_transfer(data: bytes, chunk_bytes: int = 4):
    transfer, pieces = send(data, chunk_bytes)
    assembler = chunks.Assembler()
    assembler.start("r1", transfer)
    return assembler, pieces


@pytest.mark.parametrize(
    ("order", "words"),
    [([0, 2], "missing"), ([0, 0], "duplicate"), ([1], "missing"), ([0, 1, 0], "duplicate")],
    ids=["skip", "repeat", "start-late", "back"],
)
def test_out_of_order_chunks_fail(order: list[int], words: str) -> None:
    assembler, pieces = open_transfer(b"0123456789abcdef")
    with pytest.raises(chunks.TransferError, match=words) as info:
        for index in order:
            assembler.add("r1", pieces[index]["data"])
    assert info.value.request_id == "r1"
    assert "t1" not in assembler  # a failed transfer is dropped


def test_unknown_transfer() -> None:
    with pytest.raises(chunks.TransferError, match="unknown transfer"):
        chunks.Assembler().add("r1", {"transfer": "nope", "index": 0, "data": "AAAA"})


def test_checksum_mismatch() -> None:
    transfer, pieces = send(b"hello world", 4)
    transfer["sha256"] = hashlib.sha256(b"something else").hexdigest()
    assembler = chunks.Assembler()
    assembler.start("r1", transfer)
    with pytest.raises(chunks.TransferError, match="sha256"):
        for piece in pieces:
            assembler.add("r1", piece["data"])


def test_more_bytes_than_announced() -> None:
    transfer, pieces = send(b"hello world", 4)
    transfer["size"] = 9
    assembler = chunks.Assembler()
    assembler.start("r1", transfer)
    with pytest.raises(chunks.TransferError, match="longer than announced"):
        for piece in pieces:
            assembler.add("r1", piece["data"])


def test_fewer_bytes_than_announced() -> None:
    transfer, pieces = send(b"hello world", 4)
    transfer["size"] = 12
    assembler = chunks.Assembler()
    assembler.start("r1", transfer)
    with pytest.raises(chunks.TransferError, match="announced 12"):
        for piece in pieces:
            assembler.add("r1", piece["data"])


@pytest.mark.parametrize(
    "bad", ["not base64!", "", 5, None], ids=["garbage", "empty", "int", "none"]
)
def test_bad_chunk_data(bad: object) -> None:
    assembler, _ = open_transfer(b"hello world")
    with pytest.raises(chunks.TransferError):
        assembler.add("r1", {"transfer": "t1", "index": 0, "data": bad})


def test_chunk_with_another_request_id() -> None:
    assembler, pieces = open_transfer(b"hello world")
    with pytest.raises(chunks.TransferError, match="id differs"):
        assembler.add("r2", pieces[0]["data"])


@pytest.mark.parametrize(
    "transfer",
    [
        None,
        {"id": "", "chunks": 1, "size": 1, "sha256": "0" * 64},
        {"id": "t", "chunks": -1, "size": 1, "sha256": "0" * 64},
        {"id": "t", "chunks": 2, "size": 1, "sha256": "0" * 64},
        {"id": "t", "chunks": 0, "size": 5, "sha256": "0" * 64},
        {"id": "t", "chunks": 1, "size": 1, "sha256": "short"},
        {"id": "t", "chunks": 1, "size": chunks.MAX_TRANSFER_BYTES + 1, "sha256": "0" * 64},
        {"id": "t", "chunks": True, "size": 1, "sha256": "0" * 64},
    ],
    ids=["none", "no-id", "negative", "too-many-chunks", "no-chunks", "bad-sha", "too-big", "bool"],
)
def test_bad_announcements(transfer: object) -> None:
    with pytest.raises(chunks.TransferError):
        chunks.Assembler().start("r1", transfer)


def test_duplicate_transfer_id() -> None:
    assembler, _ = open_transfer(b"hello world")
    with pytest.raises(chunks.TransferError, match="already open"):
        assembler.start("r1", chunks.describe(b"x", "t1"))


def test_interleaved_transfers() -> None:
    a, b = os.urandom(40), os.urandom(33)
    assembler = chunks.Assembler()
    assembler.start("ra", chunks.describe(a, "ta", 8))
    assembler.start("rb", chunks.describe(b, "tb", 8))
    pa, pb = list(chunks.split("ra", a, "ta", 8)), list(chunks.split("rb", b, "tb", 8))
    done = {}
    for i in range(max(len(pa), len(pb))):
        for rid, pieces in (("ra", pa), ("rb", pb)):
            if i < len(pieces):
                tid, data = assembler.add(rid, pieces[i]["data"])
                if data is not None:
                    done[tid] = data
    assert done == {"ta": a, "tb": b}


def test_chunks_after_a_failure_are_dropped_quietly() -> None:
    assembler, pieces = open_transfer(b"0123456789abcdef")
    with pytest.raises(chunks.TransferError):
        assembler.add("r1", pieces[1]["data"])
    assert assembler.add("r1", pieces[2]["data"]) == ("t1", None)
    with pytest.raises(chunks.TransferError, match="unknown transfer"):
        assembler.add("r1", {"transfer": "never-opened", "index": 0, "data": "AAAA"})


def test_drop_request() -> None:
    assembler, pieces = open_transfer(b"0123456789abcdef")
    assert assembler.drop_request("other") == []
    assert assembler.drop_request("r1") == ["t1"]
    assert "t1" not in assembler
    assert assembler.add("r1", pieces[0]["data"]) == ("t1", None)  # late chunks: dropped


def test_chunks_after_a_bad_announcement_are_dropped_quietly() -> None:
    assembler = chunks.Assembler()
    with pytest.raises(chunks.TransferError):
        assembler.start("r1", {"id": "bad", "chunks": 1, "size": -1, "sha256": "0" * 64})
    assert assembler.add("r1", {"transfer": "bad", "index": 0, "data": "AAAA"}) == ("bad", None)
