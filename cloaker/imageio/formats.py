"""Which image formats Cloaker reads and writes, and how to recognise them from their bytes.

The file name and the browser's claimed MIME type are never trusted: ``sniff_format`` looks
at the first bytes only. Format names are Pillow's (``"JPEG"``, ``"PNG"``, ...).
"""

from __future__ import annotations

import importlib.util

from cloaker.errors import BadImageError, UnsupportedImageError

# name -> (MIME type, file extension). Every format decode() accepts and encode() writes.
_FORMATS: dict[str, tuple[str, str]] = {
    "JPEG": ("image/jpeg", ".jpg"),
    "PNG": ("image/png", ".png"),
    "WEBP": ("image/webp", ".webp"),
    "GIF": ("image/gif", ".gif"),
    "BMP": ("image/bmp", ".bmp"),
    "AVIF": ("image/avif", ".avif"),
    "HEIF": ("image/heic", ".heic"),
}
# Pillow names some files by a sub-format; they are the same container to a user.
_ALIASES = {"JPG": "JPEG", "MPO": "JPEG", "HEIC": "HEIF"}

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}

# Real images in a form we do not handle: (magic prefix, name).
_UNSUPPORTED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (b"\xff\x0a", "JPEG XL"),
    (b"8BPS", "Photoshop PSD"),
    (b"\x00\x00\x01\x00", "Windows icon"),
    (b"qoif", "QOI"),
)
# Common non-images, named so the error message says what the file is.
_NON_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an office document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "a program (ELF)"),
    (b"MZ", "a Windows program"),
)


def _canonical(fmt: str) -> str:
    name = fmt.upper()
    return _ALIASES.get(name, name)


def mime_for_format(fmt: str) -> str:
    """MIME type for a Pillow format name, e.g. ``"JPEG"`` -> ``"image/jpeg"``.

    Case-insensitive; ``"MPO"`` counts as JPEG. Raises ``ValueError`` for a format Cloaker
    does not read or write.
    """
    try:
        return _FORMATS[_canonical(fmt)][0]
    except KeyError:
        raise ValueError(f"unknown image format {fmt!r}") from None


def extension_for_format(fmt: str) -> str:
    """File extension, with its dot, for a Pillow format name, e.g. ``"PNG"`` -> ``".png"``."""
    try:
        return _FORMATS[_canonical(fmt)][1]
    except KeyError:
        raise ValueError(f"unknown image format {fmt!r}") from None


def heif_available() -> bool:
    """True when the optional pillow-heif package (``cloaker[heif]``) is installed."""
    return importlib.util.find_spec("pillow_heif") is not None


def _iso_bmff_format(data: bytes) -> str | None:
    """AVIF or HEIF from an ISO-BMFF ``ftyp`` box (major and compatible brands), else None."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return None
    box_size = min(int.from_bytes(data[0:4], "big"), len(data), 4096)
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, box_size - 3, 4)}
    if brands & _AVIF_BRANDS:
        return "AVIF"
    if brands & _HEIF_BRANDS:
        return "HEIF"
    return None


def sniff_format(data: bytes) -> str | None:
    """The format Cloaker reads for these bytes, or None when they are not one of them.

    Looks at the leading bytes only (never at a file name). Returns a key of the format
    table: "JPEG", "PNG", "WEBP", "GIF", "BMP", "AVIF" or "HEIF".
    """
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM" and len(data) >= 26:
        return "BMP"
    return _iso_bmff_format(data)


def require_supported(data: bytes) -> str:
    """``sniff_format`` that explains a refusal.

    Raises ``BadImageError`` for bytes that are not an image (empty, PDF, text, random) and
    ``UnsupportedImageError`` for a real image in a format Cloaker does not handle (TIFF,
    JPEG XL, ..., or HEIF when pillow-heif is not installed).
    """
    if not data:
        raise BadImageError("the file is empty (0 bytes)")
    fmt = sniff_format(data)
    if fmt == "HEIF" and not heif_available():
        raise UnsupportedImageError(
            "HEIF/HEIC images need the optional pillow-heif package: pip install 'cloaker[heif]'"
        )
    if fmt is not None:
        return fmt
    supported = ", ".join(_FORMATS)
    for magic, name in _UNSUPPORTED_MAGIC:
        if data.startswith(magic):
            raise UnsupportedImageError(f"{name} images are not supported (supported: {supported})")
    if b"<svg" in data[:1024].lower():
        raise UnsupportedImageError(
            f"SVG (vector) images are not supported (supported: {supported})"
        )
    if data[4:8] == b"ftyp":
        raise BadImageError("the file is a video or other ISO media file, not an image")
    raise BadImageError(f"the file is {_describe_non_image(data)}, not an image")


def _describe_non_image(data: bytes) -> str:
    for magic, name in _NON_IMAGE_MAGIC:
        if data.startswith(magic):
            return name
    # A cut at 512 bytes may split one UTF-8 character: allow one bad character at the end.
    text = data[:512].decode("utf-8", errors="replace")
    if "\x00" not in text and "\ufffd" not in text[:-1]:
        return "text"
    return f"unrecognised data (first bytes {data[:8].hex(' ')})"
