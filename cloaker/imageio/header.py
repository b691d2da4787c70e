"""Facts read straight from a file's header bytes, before Pillow decodes anything.

``peek_size`` lets the decompression-bomb guard refuse a huge image while only a few
bytes have been looked at; the others answer questions Pillow does not (a PNG's bit depth,
whether a WebP is lossless). Every function returns None when the header is not the
expected shape: the full decoder then decides whether the file is broken.
"""

from __future__ import annotations

import struct

# JPEG start-of-frame markers carry the dimensions: C0-CF except DHT (C4), JPG (C8), DAC (CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers with no length field: TEM, RST0-7, SOI, EOI.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xDA)})


def peek_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """(width, height) in pixels from the header of a JPEG, PNG, GIF, BMP or WebP file."""
    reader = _SIZE_READERS.get(fmt)
    return reader(data) if reader is not None else None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _gif_size(data: bytes) -> tuple[int, int] | None:
    # Logical screen size; Pillow grows the canvas for a larger first frame, and decode
    # checks Pillow's size again after opening.
    return struct.unpack("<HH", data[6:10]) if len(data) >= 10 else None


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    header_size = int.from_bytes(data[14:18], "little")
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit dimensions
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)  # negative height means top-down rows


def _webp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 30:
        return None
    fourcc = data[12:16]
    if fourcc == b"VP8X":  # canvas size, 24-bit little-endian, minus one
        return (
            1 + int.from_bytes(data[24:27], "little"),
            1 + int.from_bytes(data[27:30], "little"),
        )
    if fourcc == b"VP8L" and data[20] == 0x2F:  # 14-bit width-1 and height-1
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if fourcc == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2  # after SOI
    end = len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in _JPEG_SOF:
            if pos + 9 > end:
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return (width, height) if height else None  # height 0: set later by DNL
        if marker == 0xDA or length < 2:  # scan data before any frame header: malformed
            return None
        pos += 2 + length
    return None


_SIZE_READERS = {
    "JPEG": _jpeg_size,
    "PNG": _png_size,
    "GIF": _gif_size,
    "BMP": _bmp_size,
    "WEBP": _webp_size,
}


def png_bit_depth_and_color_type(data: bytes) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR. Colour types: 0 gray, 2 RGB, 3 palette,
    4 gray + alpha, 6 RGBA. Pillow reduces 16-bit RGB(A) to 8 bits without saying so."""
    if len(data) < 26 or data[12:16] != b"IHDR":
        return None
    return data[24], data[25]


def webp_is_lossless(data: bytes) -> bool | None:
    """True for lossless (VP8L), False for lossy (VP8) WebP, from the first image chunk
    (inside the first animation frame for animated files); None if none is found."""
    return _webp_chunks_lossless(data, 12, len(data))


def _webp_chunks_lossless(data: bytes, pos: int, end: int) -> bool | None:
    while pos + 8 <= end:
        fourcc = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if fourcc == b"VP8L":
            return True
        if fourcc == b"VP8 ":
            return False
        if fourcc == b"ANMF":  # 16 bytes of frame header, then the frame's own chunks
            return _webp_chunks_lossless(data, pos + 24, min(pos + 8 + size, end))
        pos += 8 + size + (size & 1)  # chunks are padded to an even size
    return None
