"""Metadata removal without re-encoding, for photos whose pixels stay as they are (no face).

The compressed image data is copied byte for byte; only the containers' metadata blocks are
dropped, so the decoded pixels are exactly the input's. Each format keeps an allowlist of
blocks that describe how to decode or colour the pixels; everything else (EXIF with GPS,
XMP, IPTC, comments, text, thumbnails, unknown blocks, data after the end marker) is left
out, so an unknown kind of metadata fails closed.

Every function returns None when the file is not laid out as expected; the caller then
re-encodes the decoded pixels instead.
"""

from __future__ import annotations

import struct

import numpy as np

from cloaker.errors import CloakerError

from .decode import decode
from .encode import encode_image
from .formats import extension_for_format, mime_for_format
from .types import DecodedImage, EncodedImage

# --- JPEG ------------------------------------------------------------------------------

_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
_APP0, _APP2, _APP14 = 0xE0, 0xE2, 0xEE
_APP_MARKERS = frozenset(range(0xE0, 0xF0))
_COM = 0xFE
_RST = frozenset(range(0xD0, 0xD8))


def strip_jpeg(data: bytes) -> bytes | None:
    """JPEG without APP1 (EXIF, XMP), APP13 (IPTC/Photoshop), COM, other APPn segments,
    thumbnails and whatever follows the end-of-image marker (e.g. the further pictures of an
    MPO). Kept: JFIF (its thumbnail dropped), ICC profile chunks (APP2 ``ICC_PROFILE``),
    Adobe APP14 (it tells decoders how to convert colours), and every segment and scan of the
    image data as it is."""
    if not data.startswith(b"\xff\xd8"):
        return None
    out = [b"\xff\xd8"]
    pos, end = 2, len(data)
    while pos + 2 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == _EOI:
            out.append(b"\xff\xd9")
            return b"".join(out)
        if marker in _RST or marker == _SOI or pos + 4 > end:
            return None  # restart markers only occur inside scans
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        segment_end = pos + 2 + length
        if length < 2 or segment_end > end:
            return None
        if marker == _SOS:
            scan_end = _entropy_end(data, segment_end)
            if scan_end is None:
                return None
            out.append(data[pos:scan_end])
            pos = scan_end
            continue
        kept = _kept_jpeg_segment(marker, data[pos + 4 : segment_end])
        if kept is not None:
            out.append(kept if kept else data[pos:segment_end])
        pos = segment_end
    return None  # no end-of-image marker: truncated


def _kept_jpeg_segment(marker: int, payload: bytes) -> bytes | None:
    """None to drop the segment, b"" to keep it as it is, or a replacement segment."""
    if marker == _APP0:
        if not payload.startswith(b"JFIF\x00") or len(payload) < 14:
            return None  # JFXX thumbnails and others
        if payload[12:14] == b"\x00\x00":
            return b""
        # Keep version, units and density; drop the thumbnail.
        return b"\xff\xe0" + struct.pack(">H", 16) + payload[:12] + b"\x00\x00"
    if marker == _APP2:
        return b"" if payload.startswith(b"ICC_PROFILE\x00") else None
    if marker == _APP14:
        return b"" if payload.startswith(b"Adobe") else None
    if marker in _APP_MARKERS or marker == _COM:
        return None
    return b""  # tables, frame header, restart interval, ...: the image itself


def _entropy_end(data: bytes, pos: int) -> int | None:
    """Offset of the first marker after a scan's entropy-coded data (stuffed 0xFF00 and
    restart markers belong to the data)."""
    end = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= end:
            return None
        following = data[pos + 1]
        if following == 0x00 or following in _RST or following == 0xFF:
            pos += 1
            continue
        return pos


# --- PNG -------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks that make up the image or say how to show its colours (and its pixel density,
# which DPI-keeping re-encodes keep too). tEXt, zTXt, iTXt, eXIf, tIME and every unknown
# chunk are dropped.
_PNG_KEPT = frozenset(
    {
        b"IHDR",
        b"PLTE",
        b"IDAT",
        b"IEND",
        b"tRNS",
        b"gAMA",
        b"cHRM",
        b"sRGB",
        b"iCCP",
        b"sBIT",
        b"cICP",
        b"mDCV",
        b"cLLI",
        b"bKGD",
        b"pHYs",
    }
)


def strip_png(data: bytes) -> bytes | None:
    """PNG with only the allowlisted chunks, each copied with its CRC; nothing after IEND.
    Animated PNGs (acTL) are refused: only their first frame is checked for faces."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    out = [_PNG_SIGNATURE]
    pos, end = len(_PNG_SIGNATURE), len(data)
    while pos + 12 <= end:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        chunk_end = pos + 12 + length
        if chunk_end > end:
            return None
        if kind == b"acTL":
            return None
        if kind in _PNG_KEPT:
            out.append(data[pos:chunk_end])
        elif not kind[:1].islower():
            return None  # an unknown critical chunk: not ours to drop
        if kind == b"IEND":
            return b"".join(out)
        pos = chunk_end
    return None


# --- WebP ------------------------------------------------------------------------------

_VP8X_ICC = 0x20
_VP8X_ALPHA = 0x10
_VP8X_ANIMATION = 0x02
_WEBP_KEPT = frozenset({b"VP8 ", b"VP8L", b"ALPH", b"ICCP"})


def strip_webp(data: bytes) -> bytes | None:
    """WebP with its EXIF and XMP chunks (and unknown ones) dropped, the VP8X flags and the
    RIFF size fixed; ICC profile, alpha and the bitstream kept. Animated files are refused:
    only their first frame is checked for faces."""
    if len(data) < 20 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    end = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    chunks: list[tuple[bytes, bytes]] = []
    pos = 12
    while pos + 8 <= end:
        kind = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        chunk_end = pos + 8 + size
        if chunk_end > end:
            return None
        chunks.append((kind, data[pos:chunk_end] + (b"\x00" if size & 1 else b"")))
        pos = chunk_end + (size & 1)
    if not chunks:
        return None
    first_kind, first = chunks[0]
    if first_kind != b"VP8X":
        return _riff([c for k, c in chunks if k in _WEBP_KEPT])  # simple format
    if len(first) < 18 or first[8] & _VP8X_ANIMATION:
        return None
    kept = [c for k, c in chunks[1:] if k in _WEBP_KEPT]
    kinds = {k for k, _ in chunks[1:] if k in _WEBP_KEPT}
    flags = (first[8] & (_VP8X_ICC | _VP8X_ALPHA)) & ~(0 if b"ICCP" in kinds else _VP8X_ICC)
    header = first[:8] + bytes([flags]) + first[9:]
    return _riff([header, *kept])


def _riff(chunks: list[bytes]) -> bytes:
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


STRIPPERS = {"JPEG": strip_jpeg, "PNG": strip_png, "WEBP": strip_webp}


def strip_metadata(data: bytes, fmt: str) -> bytes | None:
    """``data`` without its metadata blocks, image data untouched; None when the format has
    no lossless stripper here or the file is not laid out as expected."""
    stripper = STRIPPERS.get(fmt)
    return stripper(data) if stripper is not None else None


def encode_unchanged(data: bytes, img: DecodedImage) -> EncodedImage:
    """The file for a photo whose pixels stay as they are (no face): the input with its
    metadata stripped losslessly where the format allows, else ``encode_image(img, img.rgb)``.

    Re-encoding is the fallback when the pixels must change (an EXIF orientation other than
    1 is applied to them, see DESIGN.md), for an animation (only its first frame was checked
    for faces), for formats without a stripper here (GIF, BMP, AVIF, HEIF: their re-encodes
    are lossless or the container is not handled), and when the stripped file does not
    decode to exactly the same pixels with no metadata left (checked every time, so a
    stripper bug cannot leak metadata or change a photo).
    """
    lossless_possible = img.exif_orientation == 1 and (not img.animated or img.format == "JPEG")
    stripped = strip_metadata(data, img.format) if lossless_possible else None
    if stripped is not None and _same_pixels_no_metadata(_decode_or_none(stripped), img):
        note = "metadata removed without re-encoding: the image data is the input's, byte for byte"
        return EncodedImage(
            stripped,
            img.format,
            mime_for_format(img.format),
            extension_for_format(img.format),
            [note],
        )
    return encode_image(img, img.rgb)


def _decode_or_none(data: bytes) -> DecodedImage | None:
    try:
        return decode(data)
    except CloakerError:  # a stripped file that no longer decodes: re-encode instead
        return None


def _same_pixels_no_metadata(again: DecodedImage | None, img: DecodedImage) -> bool:
    if again is None or again.metadata_removed or again.animated:
        return False
    if not np.array_equal(again.rgb, img.rgb):
        return False
    if (again.alpha is None) != (img.alpha is None):
        return False
    return again.alpha is None or np.array_equal(again.alpha, img.alpha)
