"""``DecodedImage`` + new pixels -> file bytes in the input's format.

Policy (DESIGN.md "Format is preserved"): same format as the input; ICC profile and alpha
kept; EXIF orientation already in the pixels; no EXIF, GPS, XMP, IPTC or comments written
(every image is built fresh from arrays, so nothing of the input's metadata can leak);
pixel dimensions unchanged; DPI kept where the format has it.

Lossy formats try a ladder of settings from the one that best keeps the cloak down to a
floor, and take the first whose file is at most ``SIZE_FACTOR`` times the input's size:

* JPEG: quality q0 = the input's estimated quality clamped to 90..95, 4:4:4; then q0 at
  4:2:0; then q0-3, q0-6, ... down to 80 at 4:2:0. Social sites re-encode at 4:2:0 anyway
  (the engine optimizes for that), so chroma resolution goes before luma quality. If even
  quality 80 is too large, that file is used and a note gives the ratio: below 80 the
  cloak itself would be damaged.
* WebP (lossy) and AVIF: quality 90, 85, 80. Lossless WebP stays lossless.

Lossless formats: PNG stays PNG (8-bit; palette only when the pixels still fit a palette
exactly, else truecolor). GIF stays GIF when the pixels fit its 256-colour palette exactly
(a photo with no face), else it is written as PNG: re-quantizing would erase the cloak and
dithering is visible damage. BMP stays BMP (8-bit when the pixels still fit the palette;
PNG if it had alpha, which Pillow's BMP writer drops). HEIF is written as JPEG (x265
encoding takes tens of seconds per photo, and few sites accept HEIC), starting at quality
95 with a 3x size allowance since HEVC is about twice as efficient.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from .formats import extension_for_format, mime_for_format
from .palette import fit_palette
from .types import DecodedImage, EncodedImage

SIZE_FACTOR = 1.5
HEIF_AS_JPEG_SIZE_FACTOR = 3.0
JPEG_START_QUALITY = (90, 95)  # the input's estimate is clamped into this range
JPEG_FLOOR_QUALITY = 80
JPEG_QUALITY_STEP = 3
LOSSY_QUALITIES = (90, 85, 80)  # WebP and AVIF
PNG_COMPRESS_LEVEL = 3  # level 6 is 3-4x slower on a 12 MP photo for ~10% smaller files
WEBP_METHOD = 2  # 0 fastest .. 6 smallest; 2 is ~2x faster than the default 4, ~2% larger
# Lossless effort (method, quality): the defaults (4, 80) take ~40 s on a 12 MP photo; the
# fastest setting takes ~2 s for a file ~15% larger.
WEBP_LOSSLESS_EFFORT = {"method": 0, "quality": 0}
WEBP_MAX_SIDE = 16383  # the WebP bitstream stores 14-bit dimensions
AVIF_SPEED = 8  # 0 slowest .. 10 fastest; the default 6 takes ~7 s on a 12 MP photo

# Formats that can store one gray channel; the others get the gray replicated to RGB.
_GRAY_CAPABLE = frozenset({"JPEG", "PNG", "BMP", "GIF", "HEIF"})


def encode(img: DecodedImage, rgb: np.ndarray) -> bytes:
    """Encode ``rgb`` as the file ``img`` came from (see ``encode_image``); bytes only."""
    return encode_image(img, rgb).data


def encode_image(img: DecodedImage, rgb: np.ndarray) -> EncodedImage:
    """Write ``rgb`` with ``img``'s format, ICC profile, alpha and DPI, and no metadata.

    Args:
        img: what ``decode`` returned for the input file.
        rgb: (H, W, 3) uint8 of the same shape as ``img.rgb`` (the cloaked pixels, or
            ``img.rgb`` itself for a photo with no face).

    Returns:
        ``EncodedImage``: the bytes, their format/MIME/extension (which may differ from the
        input's, see the module docstring) and notes on the choices made.

    Raises:
        ValueError: ``rgb`` has the wrong shape or dtype (a programming error).
    """
    if rgb.dtype != np.uint8 or rgb.shape != img.rgb.shape:
        raise ValueError(
            f"rgb must be uint8 with shape {img.rgb.shape}, got {rgb.dtype} {rgb.shape}"
        )
    im = _compose(img, rgb)
    return _WRITERS[img.format](img, im)


def _compose(img: DecodedImage, rgb: np.ndarray) -> Image.Image:
    """RGB, RGBA, L or LA image from the new pixels and the original alpha."""
    im = Image.fromarray(np.ascontiguousarray(rgb))
    if img.grayscale and img.format in _GRAY_CAPABLE:
        im = im.convert("L")  # exact for equal channels: Pillow's luma weights sum to 1
    if img.alpha is not None:
        im.putalpha(Image.fromarray(img.alpha))
    return im


def _save(im: Image.Image, fmt: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


def _result(data: bytes, fmt: str, notes: list[str]) -> EncodedImage:
    return EncodedImage(data, fmt, mime_for_format(fmt), extension_for_format(fmt), notes)


def _common(img: DecodedImage) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if img.icc_profile:
        params["icc_profile"] = img.icc_profile
    return params


def _first_fitting(
    im: Image.Image,
    fmt: str,
    ladder: Sequence[dict[str, Any]],
    input_bytes: int,
    size_factor: float,
    describe: Callable[[dict[str, Any]], str],
) -> tuple[bytes, list[str]]:
    """Save with each setting of ``ladder`` in turn; return the first file of at most
    ``size_factor * input_bytes`` bytes, or the last one tried, with a note on the
    settings used."""
    data = b""
    for params in ladder:
        data = _save(im, fmt, **params)
        if len(data) <= size_factor * input_bytes:
            return data, [f"{fmt} written at {describe(params)}"]
    return data, [
        f"{fmt} written at {describe(ladder[-1])}, the lowest setting that keeps the cloak; "
        f"the file is {len(data) / input_bytes:.2f}x the input's size (target {size_factor}x)"
    ]


def _jpeg_ladder(estimate: int | None) -> list[tuple[int, str]]:
    low, high = JPEG_START_QUALITY
    q0 = min(max(estimate or low, low), high)
    qualities = [*range(q0, JPEG_FLOOR_QUALITY, -JPEG_QUALITY_STEP), JPEG_FLOOR_QUALITY]
    return [(q0, "4:4:4")] + [(q, "4:2:0") for q in qualities]


def _write_jpeg(
    img: DecodedImage,
    im: Image.Image,
    size_factor: float = SIZE_FACTOR,
    quality_estimate: int | None = None,
) -> EncodedImage:
    base = _common(img) | {"optimize": True, "progressive": img.progressive}
    if img.dpi:
        base["dpi"] = tuple(round(v) for v in img.dpi)
    steps = _jpeg_ladder(quality_estimate or img.jpeg_quality_estimate)
    if im.mode == "L":  # no chroma: only the quality steps matter
        steps = [step for step in steps if step[1] == "4:2:0"]
    ladder = [base | {"quality": q, "subsampling": s} for q, s in steps]

    def describe(p: dict[str, Any]) -> str:
        chroma = "gray" if im.mode == "L" else p["subsampling"]
        return f"quality {p['quality']}, {chroma}"

    data, notes = _first_fitting(im, "JPEG", ladder, img.input_bytes, size_factor, describe)
    return _result(data, "JPEG", notes)


def _write_png(img: DecodedImage, im: Image.Image, notes: list[str] | None = None) -> EncodedImage:
    notes = list(notes or [])
    params = _common(img) | {"compress_level": PNG_COMPRESS_LEVEL}
    if img.dpi:
        params["dpi"] = img.dpi
    if img.palette and img.format == "PNG" and im.mode in ("RGB", "RGBA"):
        indexed = fit_palette(im)
        if indexed is not None:
            if "transparency" in indexed.info:
                params["transparency"] = indexed.info["transparency"]
            return _result(_save(indexed, "PNG", **params), "PNG", notes)
        notes.append("palette PNG written as truecolor PNG (the cloak needs more colours)")
    if img.bit_depth_16:
        notes.append("written as an 8-bit PNG")
    return _result(_save(im, "PNG", **params), "PNG", notes)


def _write_gif(img: DecodedImage, im: Image.Image) -> EncodedImage:
    rgb_im = im.convert("RGBA" if im.mode in ("LA", "RGBA") else "RGB")
    indexed = fit_palette(rgb_im, gif=True)
    if indexed is not None:
        params: dict[str, Any] = {}
        if "transparency" in indexed.info:
            params["transparency"] = indexed.info["transparency"]
        return _result(_save(indexed, "GIF", **params), "GIF", [])
    note = "GIF written as PNG: a GIF holds 256 colours, too few to keep the cloak"
    return _write_png(img, im, [note])


def _write_webp(img: DecodedImage, im: Image.Image) -> EncodedImage:
    if max(im.size) > WEBP_MAX_SIDE:  # an animated WebP's canvas can exceed what VP8 holds
        return _write_png(img, im, [f"WebP larger than {WEBP_MAX_SIDE} px written as PNG"])
    base = _common(img) | {"exact": True}  # exact: keep colours under transparent pixels
    if img.webp_lossless:
        data = _save(im, "WEBP", **base, **WEBP_LOSSLESS_EFFORT, lossless=True)
        return _result(data, "WEBP", ["WebP lossless"])
    ladder = [
        base | {"method": WEBP_METHOD, "quality": q, "alpha_quality": 100} for q in LOSSY_QUALITIES
    ]
    data, notes = _first_fitting(
        im, "WEBP", ladder, img.input_bytes, SIZE_FACTOR, lambda p: f"quality {p['quality']}"
    )
    return _result(data, "WEBP", notes)


def _write_avif(img: DecodedImage, im: Image.Image) -> EncodedImage:
    if im.mode in ("L", "LA"):
        im = im.convert("RGBA" if im.mode == "LA" else "RGB")
    ladder = [_common(img) | {"quality": q, "speed": AVIF_SPEED} for q in LOSSY_QUALITIES]
    data, notes = _first_fitting(
        im, "AVIF", ladder, img.input_bytes, SIZE_FACTOR, lambda p: f"quality {p['quality']}"
    )
    return _result(data, "AVIF", notes)


def _write_bmp(img: DecodedImage, im: Image.Image) -> EncodedImage:
    if im.mode in ("RGBA", "LA"):
        return _write_png(img, im, ["BMP with transparency written as PNG to keep the alpha"])
    params: dict[str, Any] = {"dpi": img.dpi} if img.dpi else {}
    if img.palette and im.mode == "RGB":
        indexed = fit_palette(im)
        if indexed is not None:
            return _result(_save(indexed, "BMP", **params), "BMP", [])
    return _result(_save(im, "BMP", **params), "BMP", [])


def _write_heif(img: DecodedImage, im: Image.Image) -> EncodedImage:
    if im.mode in ("RGBA", "LA"):
        return _write_png(img, im, ["HEIF with transparency written as PNG"])
    # Start at the top of the range: HEIF pixels are not on JPEG's 8x8 grid yet, so a
    # first JPEG compression costs more than re-encoding a JPEG does.
    out = _write_jpeg(
        img, im, size_factor=HEIF_AS_JPEG_SIZE_FACTOR, quality_estimate=JPEG_START_QUALITY[1]
    )
    out.notes.insert(0, "HEIF written as JPEG")
    return out


_WRITERS: dict[str, Callable[[DecodedImage, Image.Image], EncodedImage]] = {
    "JPEG": _write_jpeg,
    "PNG": _write_png,
    "GIF": _write_gif,
    "WEBP": _write_webp,
    "AVIF": _write_avif,
    "BMP": _write_bmp,
    "HEIF": _write_heif,
}
