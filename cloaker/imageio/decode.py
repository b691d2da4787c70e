"""Bytes -> ``DecodedImage``: sniff, guard against bombs, decode the first frame, apply
EXIF orientation, and record what ``encode`` must know (quality, ICC, alpha, metadata)."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image, ImageFile, ImageOps, JpegImagePlugin

from cloaker.errors import BadImageError, ImageTooLargeError

from .formats import mime_for_format, require_supported
from .header import peek_size, png_bit_depth_and_color_type, webp_is_lossless
from .jpeg_quality import estimate_quality
from .pixels import to_pixels
from .types import DecodedImage

DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_BYTES = 64 * 2**20

# What Pillow raises on corrupt or truncated data (its own parsers use all of these; the
# AVIF and HEIF decoders raise RuntimeError). Only Pillow calls run under this guard.
_PILLOW_ERRORS = (
    OSError,
    RuntimeError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
)
_FORMAT_LABELS = {"WEBP": "WebP"}
_GPS_IFD = 0x8825
_ORIENTATION_TAG = 0x0112
_ANIMATED_NOTES = {
    "GIF": "animated GIF: only the first frame was kept",
    "PNG": "animated PNG (APNG): only the first frame was kept",
    "WEBP": "animated WebP: only the first frame was kept",
    "AVIF": "animated AVIF: only the first frame was kept",
    "JPEG": "multi-picture JPEG (MPO): only the main image was kept",
    "HEIF": "HEIF file with several images: only the primary image was kept",
}


def decode(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DecodedImage:
    """Decode an uploaded image file (the first frame of an animation).

    Args:
        data: the whole file. Its format is sniffed from the bytes; names are not used.
        max_pixels: refuse images with more pixels (width * height) than this. Checked on
            the header before any pixel is decoded. Pillow's own limit
            (``PIL.Image.MAX_IMAGE_PIXELS``) applies too.
        max_bytes: refuse files larger than this.

    Returns:
        A ``DecodedImage`` (see its docstring for shapes and fields).

    Truncated pixel data is always an error (Pillow's LOAD_TRUNCATED_IMAGES must be off);
    a PNG or GIF that lacks only its end marker decodes, since every pixel is there.

    Raises:
        BadImageError: empty, truncated, corrupt, or not an image at all.
        UnsupportedImageError: an image format Cloaker does not handle.
        ImageTooLargeError: over ``max_bytes`` or ``max_pixels`` (decompression bomb).
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Another module flipped this global; truncated uploads would then decode silently.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set; Cloaker needs it off")
    fmt = _check_before_pillow(data, max_pixels, max_bytes)

    with _pillow_errors(fmt, max_pixels):
        # Not a `with Image.open`: closing would free the pixels that `upright` may share,
        # and an in-memory file holds no OS resource.
        im = Image.open(io.BytesIO(data), formats=[fmt])
        _check_pixels(im.size, max_pixels)
        animated = bool(getattr(im, "is_animated", False))
        im.load()
        exif = im.getexif()
        exif_orientation = _orientation(exif.get(_ORIENTATION_TAG))
        upright = ImageOps.exif_transpose(im) if exif_orientation else im
        # pillow-heif turns the image upright itself and resets the tag to 1.
        orientation = exif_orientation or _orientation(im.info.get("original_orientation"))
        metadata = _metadata_kinds(im, exif)
        quality = estimate_quality(im.quantization) if fmt == "JPEG" else None
        sampling = JpegImagePlugin.get_sampling(im) if fmt == "JPEG" else None

    ihdr = png_bit_depth_and_color_type(data) if fmt == "PNG" else None
    pixels = to_pixels(
        upright,
        im.info.get("icc_profile") or None,
        gray_source=ihdr is not None and ihdr[1] in (0, 4),
    )
    decoder_depth = im.info.get("bit_depth")  # pillow-heif: bits per channel of the file
    bit_depth_16 = (ihdr is not None and ihdr[0] == 16) or (
        isinstance(decoder_depth, int) and decoder_depth > 8
    )
    notes: list[str] = []
    if animated:
        notes.append(_ANIMATED_NOTES[fmt])
    if bit_depth_16:
        notes.append(f"{_bit_depth_label(fmt)} reduced to 8 bits per channel")
    notes += pixels.notes
    if orientation > 1:
        notes.append(f"EXIF orientation {orientation} applied to the pixels")
    if metadata:
        notes.append("metadata removed: " + ", ".join(metadata))
    return DecodedImage(
        rgb=pixels.rgb,
        alpha=pixels.alpha,
        format=fmt,
        mime=mime_for_format(fmt),
        mode_in=im.mode,
        input_bytes=len(data),
        grayscale=pixels.grayscale,
        palette=pixels.palette or fmt == "GIF",
        bit_depth_16=bit_depth_16,
        icc_profile=pixels.icc_profile,
        dpi=_dpi(im.info.get("dpi")),
        jpeg_quality_estimate=quality,
        jpeg_subsampling=sampling,
        progressive=bool(im.info.get("progressive") or im.info.get("progression")),
        webp_lossless=webp_is_lossless(data) if fmt == "WEBP" else None,
        animated=animated,
        exif_orientation=orientation or 1,
        metadata_removed=tuple(metadata),
        notes=notes,
    )


def check_header(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[int, int]:
    """What ``decode`` refuses before decoding any pixel, for callers that must answer at
    once (the daemon, before queueing a job): byte size, format, and the dimensions from the
    header, by Cloaker's limits before Pillow's. Returns (width, height); raises as
    ``decode`` does."""
    fmt = _check_before_pillow(data, max_pixels, max_bytes)
    with _pillow_errors(fmt, max_pixels), Image.open(io.BytesIO(data), formats=[fmt]) as im:
        _check_pixels(im.size, max_pixels)
        return im.size


def _check_before_pillow(data: bytes, max_pixels: int, max_bytes: int) -> str:
    """Size limit, sniffed format and header dimensions; returns the format."""
    if len(data) > max_bytes:
        raise ImageTooLargeError(
            f"the file is {len(data):,} bytes, over Cloaker's limit of {max_bytes:,} bytes "
            f"({max_bytes / 2**20:g} MiB)"
        )
    fmt = require_supported(data)
    header_size = peek_size(data, fmt)
    if header_size is not None:
        _check_pixels(header_size, max_pixels)
    if fmt == "HEIF":
        _register_heif()
    return fmt


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"the image is {width}x{height} pixels ({width * height:,}), over Cloaker's "
            f"limit of {max_pixels:,} pixels (max_pixels)"
        )


@contextmanager
def _pillow_errors(fmt: str, max_pixels: int) -> Iterator[None]:
    """Turn Pillow's failures into Cloaker's errors. The message is for a person: Pillow's
    own text (which may hold a Python repr or Pillow's internal limits) stays in the chained
    cause, for logs."""
    try:
        # The warnings filter is process-wide: another thread may briefly see this warning
        # as an error too, which is harmless.
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice its limit: make that fatal too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's limit is above Cloaker's default, so with the default it trips only on
        # sizes the header did not show (a GIF frame larger than its screen, AVIF, HEIF).
        limit = (
            f", over Cloaker's limit of {max_pixels:,} pixels (max_pixels)"
            if max_pixels <= Image.MAX_IMAGE_PIXELS
            else ""
        )
        raise ImageTooLargeError(f"the image is too large to decode safely{limit}") from exc
    except _PILLOW_ERRORS as exc:
        raise BadImageError(
            f"this {_FORMAT_LABELS.get(fmt, fmt)} file is damaged or cut short, so it cannot "
            "be read"
        ) from exc


def _register_heif() -> None:
    """Teach Pillow to open HEIF (optional pillow-heif; availability checked by the sniff)."""
    import pillow_heif  # optional dependency: imported only when a HEIF file arrives

    pillow_heif.register_heif_opener()


def _metadata_kinds(im: Image.Image, exif: Image.Exif) -> list[str]:
    """Names of the metadata blocks present in the input (none of them is written back)."""
    info = im.info
    kinds = []
    if len(exif) or info.get("exif"):
        kinds.append("EXIF")
        if exif.get_ifd(_GPS_IFD):
            kinds.append("GPS")
    if info.get("xmp") or "XML:com.adobe.xmp" in info:
        kinds.append("XMP")
    if info.get("photoshop") or info.get("iptc"):
        kinds.append("IPTC")
    if info.get("comment"):
        kinds.append("comment")
    text = getattr(im, "text", None)  # PNG tEXt/zTXt/iTXt chunks
    if isinstance(text, dict) and set(text) - {"XML:com.adobe.xmp"}:
        kinds.append("PNG text")
    return kinds


def _orientation(value: object) -> int:
    """An EXIF orientation 2..8 that changes the pixels, else 0."""
    return value if isinstance(value, int) and 2 <= value <= 8 else 0


def _dpi(value: object) -> tuple[float, float] | None:
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) and 0 < v < 100_000 for v in value)
    ):
        return float(value[0]), float(value[1])
    return None


def _bit_depth_label(fmt: str) -> str:
    return {"PNG": "16-bit PNG"}.get(fmt, f"high-bit-depth {fmt}")
