"""Image in / image out: cloaker.imageio.decode and encode (bad input and bombs are in
test_imageio_errors.py, JPEG size and quality in test_imageio_jpeg.py).

Images are made here with Pillow from the project's own photo (examples/astronaut.jpg) or
from numpy arrays; the shared face photos are only read in place.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from imageio_util import (
    SECRETS,
    XMP,
    add,
    identifying_exif,
    load_photo,
    png16,
    psnr,
    save,
    smooth_noise,
    srgb_profile,
    upright,
    with_mode,
)
from PIL import ExifTags, Image, PngImagePlugin

from cloaker.imageio import (
    decode,
    encode,
    encode_image,
    extension_for_format,
    heif_available,
    mime_for_format,
    sniff_format,
)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return load_photo()


@pytest.fixture(scope="module")
def srgb_icc() -> bytes:
    return srgb_profile()


# ---------------------------------------------------------------- round trips

# id, file format, mode, save options, output format, lossless, ICC written to the input
ROUND_TRIPS = [
    ("jpeg-rgb", "JPEG", "RGB", {"quality": 92}, "JPEG", False, True),
    ("jpeg-progressive", "JPEG", "RGB", {"quality": 88, "progressive": True}, "JPEG", False, True),
    ("jpeg-gray", "JPEG", "L", {"quality": 92}, "JPEG", False, False),
    ("png-rgb", "PNG", "RGB", {}, "PNG", True, True),
    ("png-rgba", "PNG", "RGBA", {}, "PNG", True, True),
    ("png-gray", "PNG", "L", {}, "PNG", True, False),
    ("png-la", "PNG", "LA", {}, "PNG", True, False),
    ("png-palette", "PNG", "P", {}, "PNG", True, True),
    ("webp-lossy-rgb", "WEBP", "RGB", {"quality": 90}, "WEBP", False, True),
    ("webp-lossy-rgba", "WEBP", "RGBA", {"quality": 90}, "WEBP", False, True),
    ("webp-lossless-rgba", "WEBP", "RGBA", {"lossless": True, "exact": True}, "WEBP", True, True),
    ("bmp-rgb", "BMP", "RGB", {}, "BMP", True, False),
    ("bmp-gray", "BMP", "L", {}, "BMP", True, False),
    ("bmp-palette", "BMP", "P", {}, "BMP", True, False),
    ("gif", "GIF", "P", {}, "GIF", True, False),
    ("avif-rgb", "AVIF", "RGB", {"quality": 90}, "AVIF", False, True),
]


@pytest.mark.parametrize(
    ("fmt", "mode", "options", "out_fmt", "lossless", "with_icc"),
    [case[1:] for case in ROUND_TRIPS],
    ids=[case[0] for case in ROUND_TRIPS],
)
def test_round_trip_keeps_size_mode_alpha_icc_and_pixels(
    photo: Image.Image,
    srgb_icc: bytes,
    fmt: str,
    mode: str,
    options: dict[str, Any],
    out_fmt: str,
    lossless: bool,
    with_icc: bool,
) -> None:
    source = with_mode(photo, mode)
    data = save(source, fmt, **options, **({"icc_profile": srgb_icc} if with_icc else {}))
    img = decode(data)
    assert (img.format, img.mime) == (fmt, mime_for_format(fmt))
    assert img.rgb.shape == (96, 128, 3) and img.rgb.dtype == np.uint8
    assert img.grayscale == (mode in ("L", "LA"))
    assert (img.alpha is not None) == ("A" in mode)
    if lossless:  # decode gives exactly the pixels that were saved
        expected = np.asarray(source.convert("RGBA" if "A" in mode else "RGB"))
        assert np.array_equal(img.rgb, expected[..., :3])
        if img.alpha is not None:
            assert np.array_equal(img.alpha, expected[..., 3])

    out = encode_image(img, img.rgb)
    assert out.format == out_fmt and out.mime == mime_for_format(out_fmt)
    again = decode(out.data)
    assert again.rgb.shape == img.rgb.shape
    assert again.grayscale == img.grayscale
    with Image.open(io.BytesIO(out.data)) as written:
        assert written.size == (128, 96)
        assert written.mode == mode  # gray stays gray, palette stays palette, alpha stays
        assert (written.info.get("icc_profile") or None) == (srgb_icc if with_icc else None)
    if lossless:
        assert np.array_equal(again.rgb, img.rgb)
    else:
        assert psnr(again.rgb, img.rgb) > 40
    if img.alpha is not None:
        assert again.alpha is not None and np.array_equal(again.alpha, img.alpha)


def test_encode_returns_bytes_and_checks_the_array(photo: Image.Image) -> None:
    img = decode(save(photo, "PNG"))
    assert encode(img, img.rgb) == encode_image(img, img.rgb).data
    with pytest.raises(ValueError, match="shape"):
        encode(img, img.rgb[:, :-1])
    with pytest.raises(ValueError, match="uint8"):
        encode(img, img.rgb.astype(np.float32))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12), st.just(4))))
def test_random_rgba_png_round_trips_exactly(arr: np.ndarray) -> None:
    img = decode(save(Image.fromarray(arr), "PNG"))
    assert np.array_equal(img.rgb, arr[..., :3]) and np.array_equal(img.alpha, arr[..., 3])
    again = decode(encode(img, img.rgb))
    assert np.array_equal(again.rgb, arr[..., :3]) and np.array_equal(again.alpha, arr[..., 3])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(*[st.integers(0, 255)] * 4), min_size=1, max_size=20, unique=True).flatmap(
        lambda colors: st.tuples(
            st.just(colors),
            hnp.arrays(
                np.uint8,
                st.tuples(st.integers(1, 10), st.integers(1, 10)),
                elements=st.integers(0, len(colors) - 1),
            ),
        )
    )
)
def test_random_palette_png_with_alpha_round_trips_exactly(
    case: tuple[list[tuple[int, int, int, int]], np.ndarray],
) -> None:
    colors, indices = case
    source = Image.fromarray(indices)
    source.putpalette(b"".join(bytes(c[:3]) for c in colors), "RGB")
    alphas = bytes(c[3] for c in colors)
    img = decode(save(source, "PNG", transparency=alphas))
    expected = np.array(colors, dtype=np.uint8)[indices]
    assert np.array_equal(img.rgb, expected[..., :3])
    assert np.array_equal(img.alpha, expected[..., 3])
    out = encode_image(img, img.rgb)
    with Image.open(io.BytesIO(out.data)) as written:
        assert written.mode == "P"  # still fits the palette, so it stays a palette PNG
    again = decode(out.data)
    assert np.array_equal(again.rgb, img.rgb) and np.array_equal(again.alpha, img.alpha)


# ---------------------------------------------------------------- metadata


def png_text() -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    return info


METADATA_CASES = [
    ("jpeg", "JPEG", {"exif": identifying_exif(), "xmp": XMP, "comment": b"Jane Doe"}),
    ("png", "PNG", {"exif": identifying_exif(), "pnginfo": png_text()}),
    ("webp", "WEBP", {"exif": identifying_exif(), "xmp": XMP}),
    ("avif", "AVIF", {"exif": identifying_exif(), "xmp": XMP}),
]


@pytest.mark.parametrize(
    ("fmt", "options"), [c[1:] for c in METADATA_CASES], ids=[c[0] for c in METADATA_CASES]
)
def test_gps_exif_xmp_and_text_are_removed(
    photo: Image.Image, srgb_icc: bytes, fmt: str, options: dict[str, Any]
) -> None:
    data = save(photo, fmt, icc_profile=srgb_icc, **options)
    assert all(secret in data for secret in (b"SN-0123456789", b"Secretville"))
    img = decode(data)
    assert {"EXIF", "GPS", "XMP"} <= set(img.metadata_removed) and img.exif_removed
    out = encode(img, img.rgb)
    assert not [secret for secret in SECRETS if secret in out]
    assert b"xmpmeta" not in out and b"adobe:ns:meta" not in out
    with Image.open(io.BytesIO(out)) as written:
        assert len(written.getexif()) == 0
        assert not {"exif", "xmp", "XML:com.adobe.xmp", "comment", "Author"} & set(written.info)
        assert written.info.get("icc_profile") == srgb_icc  # the colour profile survives


@pytest.mark.parametrize("orientation", range(1, 9), ids=lambda o: f"orientation-{o}")
def test_exif_orientation_is_applied_to_png_pixels(photo: Image.Image, orientation: int) -> None:
    stored = np.asarray(photo)
    img = decode(save(photo, "PNG", exif=identifying_exif(orientation)))
    assert img.exif_orientation == orientation
    assert np.array_equal(img.rgb, upright(stored, orientation))
    again = decode(encode(img, img.rgb))  # written upright, with no orientation tag
    assert again.exif_orientation == 1 and np.array_equal(again.rgb, img.rgb)


@pytest.mark.parametrize("orientation", [6, 8], ids=["rotate-cw", "rotate-ccw"])
@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "AVIF"])
def test_exif_orientation_is_applied_to_lossy_pixels(
    photo: Image.Image, fmt: str, orientation: int
) -> None:
    data = save(photo, fmt, quality=95, exif=identifying_exif(orientation))
    img = decode(data)
    assert img.exif_orientation == orientation
    assert img.rgb.shape == (128, 96, 3)  # width and height swapped
    assert psnr(img.rgb, upright(np.asarray(photo), orientation)) > 35
    assert any("orientation" in note for note in img.notes)
    with Image.open(io.BytesIO(encode(img, img.rgb))) as written:
        assert written.size == (96, 128)
        assert ExifTags.Base.Orientation not in written.getexif()


# ---------------------------------------------------------------- unusual modes


def test_cmyk_jpeg_becomes_rgb(srgb_icc: bytes) -> None:
    patches = [(0, 0, 0, 0), (0, 0, 0, 255), (255, 0, 0, 0), (0, 255, 0, 0)]
    cmyk = np.zeros((16, 64, 4), dtype=np.uint8)
    for i, value in enumerate(patches):
        cmyk[:, i * 16 : (i + 1) * 16] = value
    img = decode(save(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=95))
    assert img.mode_in == "CMYK" and any("CMYK" in note for note in img.notes)
    centres = [img.rgb[8, i * 16 + 8].astype(int) for i in range(4)]
    expected = [(255, 255, 255), (0, 0, 0), (0, 255, 255), (255, 0, 255)]
    for got, want in zip(centres, expected, strict=True):
        assert np.abs(got - want).max() <= 6
    with Image.open(io.BytesIO(encode(img, img.rgb))) as written:
        assert (written.format, written.mode) == ("JPEG", "RGB")


def test_16_bit_gray_png_is_rounded_to_8_bits() -> None:
    values = np.array([[0, 128, 129, 257], [32767, 32896, 65407, 65535]], dtype=np.uint16)
    img = decode(save(Image.fromarray(values), "PNG"))
    expected = np.round(values / 257).astype(np.uint8)
    assert img.bit_depth_16 and img.grayscale
    assert np.array_equal(img.rgb, np.repeat(expected[..., None], 3, axis=2))
    assert any("16-bit" in note for note in img.notes)
    with Image.open(io.BytesIO(encode(img, img.rgb))) as written:
        assert written.mode == "L" and np.array_equal(np.asarray(written), expected)


@pytest.mark.parametrize(
    ("color_type", "channels", "gray", "has_alpha"),
    [(2, 3, False, False), (6, 4, False, True), (4, 2, True, True)],
    ids=["rgb16", "rgba16", "gray-alpha16"],
)
def test_16_bit_colour_png_is_reduced_to_8_bits(
    color_type: int, channels: int, gray: bool, has_alpha: bool
) -> None:
    values = np.random.default_rng(3).integers(0, 65536, (6, 5, channels)).astype(np.uint16)
    img = decode(png16(values, color_type))
    assert img.bit_depth_16 and img.grayscale == gray and (img.alpha is not None) == has_alpha
    color = values[..., :1].repeat(3, axis=2) if gray else values[..., :3]
    assert np.abs(img.rgb.astype(int) - np.round(color / 257)).max() <= 1
    out = encode_image(img, img.rgb)
    assert out.format == "PNG" and any("8-bit" in note for note in out.notes)
    again = decode(out.data)
    assert np.array_equal(again.rgb, img.rgb) and not again.bit_depth_16


def test_palette_png_with_transparency(photo: Image.Image) -> None:
    indices = np.arange(48 * 64).reshape(48, 64) % 4
    source = Image.fromarray(indices.astype(np.uint8))
    source.putpalette(bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]), "RGB")
    img = decode(save(source, "PNG", transparency=3))
    assert img.palette and img.mode_in == "P"
    assert np.array_equal(img.alpha == 0, indices == 3)
    assert np.array_equal(img.rgb[0, 0], [255, 0, 0])
    # A cloak adds many colours: the result is a truecolor PNG with the same alpha.
    noise = np.random.default_rng(1).integers(-3, 4, img.rgb.shape).astype(np.int16)
    cloaked = add(img.rgb, noise)
    out = encode_image(img, cloaked)
    assert out.format == "PNG" and any("truecolor" in note for note in out.notes)
    with Image.open(io.BytesIO(out.data)) as written:
        assert written.mode == "RGBA"
    again = decode(out.data)
    assert np.array_equal(again.rgb, cloaked) and np.array_equal(again.alpha, img.alpha)


def test_gif_that_no_longer_fits_a_palette_is_written_as_png(photo: Image.Image) -> None:
    img = decode(save(photo.quantize(64), "GIF"))
    cloaked = add(img.rgb, smooth_noise(img.rgb.shape, 2, seed=2))
    out = encode_image(img, cloaked)
    assert (out.format, out.mime, out.extension) == ("PNG", "image/png", ".png")
    assert any("GIF written as PNG" in note for note in out.notes)
    assert np.array_equal(decode(out.data).rgb, cloaked)


def test_gif_transparency_survives(photo: Image.Image) -> None:
    indexed = photo.quantize(16)
    img = decode(save(indexed, "GIF", transparency=0))
    assert img.alpha is not None and (img.alpha == 0).any() and (img.alpha == 255).any()
    out = encode_image(img, img.rgb)
    assert out.format == "GIF"
    again = decode(out.data)
    assert np.array_equal(again.alpha, img.alpha)
    visible = img.alpha == 255
    assert np.array_equal(again.rgb[visible], img.rgb[visible])


def test_icc_profile_for_the_wrong_colour_space_is_dropped(
    photo: Image.Image, srgb_icc: bytes
) -> None:
    img = decode(save(photo.convert("L"), "PNG", icc_profile=srgb_icc))
    assert img.icc_profile is None and any("ICC profile dropped" in n for n in img.notes)
    with Image.open(io.BytesIO(encode(img, img.rgb))) as written:
        assert "icc_profile" not in written.info


def test_webp_lossless_flag() -> None:
    im = Image.new("RGB", (8, 8), (1, 2, 3))
    assert decode(save(im, "WEBP", lossless=True)).webp_lossless is True
    assert decode(save(im, "WEBP", quality=80)).webp_lossless is False
    frames = [Image.new("RGB", (8, 8), c) for c in ((9, 9, 9), (200, 0, 0))]
    animated = save(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert decode(animated).webp_lossless is True


# ---------------------------------------------------------------- animations

ANIMATED = [
    ("gif", "GIF", {}),
    ("webp", "WEBP", {"lossless": True}),
    ("apng", "PNG", {}),
    ("mpo", "MPO", {"quality": 95}),
]


@pytest.mark.parametrize(
    ("fmt", "options"), [c[1:] for c in ANIMATED], ids=[c[0] for c in ANIMATED]
)
def test_animated_input_keeps_the_first_frame(fmt: str, options: dict[str, Any]) -> None:
    colors = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    frames = [Image.new("RGB", (32, 24), c) for c in colors]
    data = save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **options)
    img = decode(data)
    assert img.animated and img.rgb.shape == (24, 32, 3)
    assert any("first frame" in n or "main image" in n for n in img.notes)
    assert np.abs(img.rgb.astype(int) - colors[0]).max() <= 3
    with Image.open(io.BytesIO(encode(img, img.rgb))) as written:
        assert getattr(written, "n_frames", 1) == 1
        assert written.format == ("JPEG" if fmt == "MPO" else fmt)


# ---------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("fmt", "mime", "ext"),
    [
        ("JPEG", "image/jpeg", ".jpg"),
        ("mpo", "image/jpeg", ".jpg"),
        ("PNG", "image/png", ".png"),
        ("WEBP", "image/webp", ".webp"),
        ("GIF", "image/gif", ".gif"),
        ("BMP", "image/bmp", ".bmp"),
        ("AVIF", "image/avif", ".avif"),
        ("HEIF", "image/heic", ".heic"),
    ],
)
def test_mime_and_extension(fmt: str, mime: str, ext: str) -> None:
    assert mime_for_format(fmt) == mime and extension_for_format(fmt) == ext


def test_unknown_format_names_are_refused() -> None:
    with pytest.raises(ValueError, match="TIFF"):
        mime_for_format("TIFF")
    with pytest.raises(ValueError, match="PDF"):
        extension_for_format("PDF")


def test_format_is_sniffed_from_the_bytes(photo: Image.Image) -> None:
    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "AVIF"):
        assert sniff_format(save(photo, fmt)) == fmt
    assert sniff_format(b"%PDF-1.4") is None


@pytest.mark.skipif(not heif_available(), reason="optional pillow-heif is not installed")
@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_heif_is_decoded_and_written_as_jpeg(
    photo: Image.Image, srgb_icc: bytes, orientation: int
) -> None:
    pytest.importorskip("pillow_heif").register_heif_opener()  # to write the test file
    exif = identifying_exif(orientation)
    data = save(photo, "HEIF", quality=95, icc_profile=srgb_icc, exif=exif)
    img = decode(data)
    assert (img.format, img.mime) == ("HEIF", "image/heic")
    assert img.exif_orientation == orientation  # turned upright once, not twice
    assert psnr(img.rgb, upright(np.asarray(photo), orientation)) > 35
    out = encode_image(img, img.rgb)
    assert (out.format, out.mime) == ("JPEG", "image/jpeg")
    assert out.notes[0] == "HEIF written as JPEG"
    assert not [secret for secret in SECRETS if secret in out.data]
    again = decode(out.data)
    assert again.icc_profile == srgb_icc and psnr(again.rgb, img.rgb) > 40
