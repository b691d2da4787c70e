"""Bad input to cloaker.imageio.decode: every failure is a CloakerError with a clear
message, quickly, including decompression bombs and randomly corrupted files."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imageio_util import identifying_exif, load_photo, raw_png, save, with_mode
from PIL import Image, ImageFile

from cloaker.errors import BadImageError, CloakerError, ImageTooLargeError, UnsupportedImageError
from cloaker.imageio import DecodedImage, decode, encode, formats
from cloaker.imageio.header import peek_size


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return load_photo()


# ---------------------------------------------------------------- bad input


def _truncated(fmt: str, **options: Any) -> Callable[[Image.Image], bytes]:
    def make(photo: Image.Image) -> bytes:
        data = save(photo, fmt, **options)
        return data[: len(data) // 2]

    return make


def _bad_crc(photo: Image.Image) -> bytes:
    data = bytearray(save(photo, "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 40] ^= 0xFF  # inside the compressed pixels, so the chunk CRC no longer matches
    return bytes(data)


BAD_INPUTS: list[tuple[str, Callable[[Image.Image], bytes], type[CloakerError]]] = [
    ("empty", lambda _: b"", BadImageError),
    ("random-bytes", lambda _: np.random.default_rng(5).bytes(4000), BadImageError),
    ("pdf", lambda _: b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", BadImageError),
    ("text", lambda _: b"a plain note, not a photo\n" * 20, BadImageError),
    ("zip", lambda _: b"PK\x03\x04" + bytes(200), BadImageError),
    (
        "mp4",
        lambda _: b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(64),
        BadImageError,
    ),
    ("jpeg-truncated", _truncated("JPEG", quality=90), BadImageError),
    ("jpeg-progressive-truncated", _truncated("JPEG", progressive=True), BadImageError),
    ("jpeg-header-only", lambda p: save(p, "JPEG")[:200], BadImageError),
    ("jpeg-no-end-marker", lambda p: save(p, "JPEG")[:-2], BadImageError),
    ("png-truncated", _truncated("PNG"), BadImageError),
    ("png-signature-only", lambda _: b"\x89PNG\r\n\x1a\n", BadImageError),
    ("png-bad-crc", _bad_crc, BadImageError),
    ("gif-truncated", _truncated("GIF"), BadImageError),
    ("gif-header-only", lambda _: b"GIF89a" + bytes(7), BadImageError),
    ("webp-truncated", _truncated("WEBP"), BadImageError),
    ("bmp-truncated", _truncated("BMP"), BadImageError),
    ("tiff", lambda p: save(p, "TIFF"), UnsupportedImageError),
    (
        "svg",
        lambda _: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
        UnsupportedImageError,
    ),
]


@pytest.mark.parametrize(
    ("make", "error"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_raises_a_clear_error_quickly(
    photo: Image.Image, make: Callable[[Image.Image], bytes], error: type[CloakerError]
) -> None:
    data = make(photo)
    start = time.perf_counter()
    with pytest.raises(error) as caught:
        decode(data)
    assert time.perf_counter() - start < 1.0
    assert type(caught.value) is error and caught.value.message


def _mutations(draw: st.DrawFn, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(buf) - 1))
        buf[pos] = draw(st.integers(0, 255))
    return bytes(buf[: draw(st.integers(1, len(buf)))])


@pytest.fixture(scope="module")
def small_files(photo: Image.Image) -> list[bytes]:
    small = photo.resize((24, 16))
    rgba = with_mode(photo, "RGBA").resize((24, 16))
    return [
        save(small, "JPEG", quality=90),
        save(small, "JPEG", progressive=True),
        save(small, "PNG"),
        save(rgba, "PNG"),
        save(small.quantize(16), "PNG", transparency=2),
        save(small.quantize(16), "GIF"),
        save(rgba, "WEBP", lossless=True),
        save(small, "WEBP", quality=80),
        save(small, "BMP"),
        save(small, "PNG", exif=identifying_exif(6)),
    ]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def test_corrupted_files_give_an_image_or_a_cloaker_error(
    small_files: list[bytes], data: st.DataObject
) -> None:
    original = data.draw(st.sampled_from(small_files))
    mutated = data.draw(st.composite(lambda draw: _mutations(draw, original))())
    try:
        img = decode(mutated)
    except CloakerError:
        return
    assert isinstance(img, DecodedImage) and img.rgb.dtype == np.uint8
    encode(img, img.rgb)  # whatever decodes must also encode


def test_load_truncated_images_flag_is_refused(
    photo: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        decode(save(photo, "PNG"))


# ---------------------------------------------------------------- decompression bombs


def claimed_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height RGB pixels (valid CRCs)."""
    return raw_png(width, height, 8, 2, b"\x00" * 16)


def test_png_header_bomb_is_refused_before_decoding() -> None:
    data = claimed_png(100_000, 100_000)
    assert len(data) < 100
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match=r"100000x100000.*50,000,000 pixels") as caught:
        decode(data)
    assert time.perf_counter() - start < 0.2
    assert caught.value.code == "image_too_large"


@pytest.mark.parametrize(
    ("size", "max_pixels"),
    [((100_000, 100_000), 10**12), ((10_000, 9_000), 10**9)],
    ids=["pillow-error", "pillow-warning"],
)
def test_pillow_bomb_checks_become_image_too_large(size: tuple[int, int], max_pixels: int) -> None:
    """With a limit above Pillow's, Pillow's own check (error at 2x its limit, warning
    above it) still refuses, as ImageTooLargeError."""
    with pytest.raises(ImageTooLargeError, match="too large"):
        decode(claimed_png(*size), max_pixels=max_pixels)


HEADER_SIZE_CASES = [
    ("jpeg", "JPEG", {}),
    ("jpeg-progressive", "JPEG", {"progressive": True}),
    ("png", "PNG", {}),
    ("gif", "GIF", {}),
    ("bmp", "BMP", {}),
    ("webp-lossy", "WEBP", {}),
    ("webp-lossless", "WEBP", {"lossless": True}),
    ("webp-extended", "WEBP", {"icc_profile": b"\x00" * 8}),
]


@pytest.mark.parametrize(
    ("fmt", "options"),
    [c[1:] for c in HEADER_SIZE_CASES],
    ids=[c[0] for c in HEADER_SIZE_CASES],
)
def test_header_size_is_read_before_decoding(fmt: str, options: dict[str, Any]) -> None:
    data = save(Image.new("RGB", (301, 203), (5, 6, 7)), fmt, **options)
    assert peek_size(data, fmt) == (301, 203)
    with pytest.raises(ImageTooLargeError, match=r"301x203 pixels \(61,103\).* 60,000 pixels"):
        decode(data, max_pixels=60_000)
    assert decode(data, max_pixels=61_103).rgb.shape == (203, 301, 3)


def test_file_size_limit() -> None:
    data = save(Image.new("RGB", (64, 64)), "BMP")
    with pytest.raises(ImageTooLargeError, match="bytes"):
        decode(data, max_bytes=len(data) - 1)


def test_heif_without_pillow_heif_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "heif_available", lambda: False)
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    with pytest.raises(UnsupportedImageError, match="pillow-heif"):
        decode(heic)
