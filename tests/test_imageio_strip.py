"""A photo with no face comes back bit-identical in its pixels: metadata is stripped without
re-encoding (cloaker.imageio.strip), through the engine, the CLI's engine call and the daemon.

The photos are scikit-image's coffee cup and rocket (no face: the detector's verdict is
checked) saved with Pillow with GPS EXIF, XMP, IPTC, comments or text, and an ICC profile.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imageio_util import SECRETS, XMP, identifying_exif, save, srgb_profile, upright
from PIL import Image, PngImagePlugin
from skimage import data as skdata

from cloaker.errors import CloakerError
from cloaker.imageio import decode, encode_unchanged, strip_metadata

LOSSLESS_NOTE = "metadata removed without re-encoding"
SRGB = srgb_profile()  # made once: a profile carries its creation time
_IPTC = b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00" + b"\x00\x00\x00\x0a"
_IPTC += b"\x1c\x02\x5a\x00\x05Paris"  # IPTC record 2, dataset 90 (city): Paris
IPTC_SEGMENT = b"\xff\xed" + (2 + len(_IPTC)).to_bytes(2, "big") + _IPTC


def _coffee() -> Image.Image:
    return Image.fromarray(skdata.coffee())


def _rocket_rgba() -> Image.Image:
    im = Image.fromarray(skdata.rocket())
    ramp = np.add.outer(np.arange(im.height), np.arange(im.width)) % 256
    im.putalpha(Image.fromarray(ramp.astype(np.uint8)))
    return im


def _jpeg() -> bytes:
    data = save(
        _coffee(),
        "JPEG",
        quality=90,
        exif=identifying_exif(),
        xmp=XMP,
        icc_profile=SRGB,
        comment=b"Jane Doe's camera",
    )
    return data[:2] + IPTC_SEGMENT + data[2:]  # an APP13 IPTC block (city: Paris)


def _png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    info.add(b"tIME", b"\x07\xe8\x05\x01\x0c\x00\x00")
    return save(_coffee(), "PNG", pnginfo=info, exif=identifying_exif(), icc_profile=SRGB)


def _webp(**options: Any) -> bytes:
    return save(
        options.pop("image"),
        "WEBP",
        exif=identifying_exif(),
        xmp=XMP,
        icc_profile=SRGB,
        **options,
    )


CASES = {
    "jpeg": _jpeg,
    "png": _png,
    "webp": lambda: _webp(image=_coffee(), quality=90),
    "webp-alpha": lambda: _webp(image=_rocket_rgba(), quality=90),
    "webp-lossless": lambda: _webp(image=_rocket_rgba(), lossless=True),
}


@pytest.fixture(scope="module", params=list(CASES))
def photo(request: pytest.FixtureRequest) -> bytes:
    return CASES[request.param]()


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def _assert_clean(out: bytes) -> None:
    assert not [secret for secret in (*SECRETS, b"Paris") if secret in out]
    assert b"xmpmeta" not in out and b"Photoshop" not in out
    with Image.open(io.BytesIO(out)) as im:
        assert len(im.getexif()) == 0
        assert not {"exif", "xmp", "XML:com.adobe.xmp", "photoshop", "comment", "Author"} & set(
            im.info
        )
        assert im.info.get("icc_profile") == SRGB  # the colour profile survives


def test_stripped_file_has_the_same_pixels_no_metadata_and_is_smaller(photo: bytes) -> None:
    assert b"Jane Doe" in photo and b"Secretville" in photo  # the input carries them
    img = decode(photo)
    assert {"EXIF", "GPS", "XMP"} <= set(img.metadata_removed)
    out = strip_metadata(photo, img.format)
    assert out is not None
    np.testing.assert_array_equal(_pixels(out), _pixels(photo))  # bit-identical pixels
    _assert_clean(out)
    assert len(out) < len(photo)
    written = encode_unchanged(photo, img)
    assert written.data == out and written.format == img.format
    assert any(LOSSLESS_NOTE in note for note in written.notes)


def test_jpeg_image_data_is_copied_byte_for_byte() -> None:
    photo = _jpeg()
    out = strip_metadata(photo, "JPEG")
    assert out is not None
    first_table = photo.index(b"\xff\xdb")  # DQT: from here on it is the image itself
    assert out.endswith(photo[first_table:])


def test_jpeg_trailer_after_the_end_marker_is_dropped() -> None:
    # e.g. the further pictures of an MPO, or a maker's trailer with its own metadata
    photo = _jpeg() + b"\xff\xd8 a second picture with Jane Doe's EXIF \xff\xd9"
    out = strip_metadata(photo, "JPEG")
    assert out is not None and out.endswith(b"\xff\xd9") and b"Jane Doe" not in out


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_orientation_other_than_1_is_applied_by_re_encoding(fmt: str) -> None:
    """The policy puts the orientation into the pixels, which a lossless strip cannot do."""
    stored = _coffee()
    data = save(stored, fmt, exif=identifying_exif(orientation=6), icc_profile=SRGB)
    img = decode(data)
    written = encode_unchanged(data, img)
    assert not any(LOSSLESS_NOTE in note for note in written.notes)
    _assert_clean(written.data)
    shown = _pixels(written.data)
    assert shown.shape[:2] == (stored.width, stored.height)  # turned upright
    if fmt == "PNG":  # lossless: exactly the stored pixels turned
        np.testing.assert_array_equal(shown, upright(np.asarray(stored), 6))


def test_animated_png_is_re_encoded_as_its_first_frame() -> None:
    frames = [_coffee(), _coffee().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    data = save(frames[0], "PNG", save_all=True, append_images=frames[1:])
    assert strip_metadata(data, "PNG") is None  # later frames were never checked for faces
    written = encode_unchanged(data, decode(data))
    with Image.open(io.BytesIO(written.data)) as im:
        assert not getattr(im, "is_animated", False)


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("JPEG", b"\xff\xd8\xff\xe1\x00\x10short"),
        ("PNG", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"),
        ("WEBP", b"RIFF\x20\x00\x00\x00WEBPVP8X\x40\x00\x00\x00"),
        ("GIF", b"GIF89a"),
    ],
    ids=["jpeg", "png", "webp", "gif"],
)
def test_files_not_laid_out_as_expected_are_left_to_the_encoder(fmt: str, data: bytes) -> None:
    assert strip_metadata(data, fmt) is None


def _small_files() -> list[bytes]:
    small = _coffee().resize((24, 16))
    meta = {"exif": identifying_exif(), "icc_profile": SRGB}
    rgba = _rocket_rgba().resize((24, 16))
    return [
        save(small, "JPEG", quality=90, comment=b"Jane Doe", **meta),
        save(small, "JPEG", progressive=True, **meta),
        save(small, "PNG", **meta),
        save(rgba, "WEBP", quality=80, xmp=XMP, **meta),
        save(rgba, "WEBP", lossless=True, **meta),
    ]


SMALL_FILES = _small_files()


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_files_are_stripped_or_re_encoded_never_broken(data: st.DataObject) -> None:
    """Whatever decodes gets a file back: stripped with the same pixels, or re-encoded."""
    original = data.draw(st.sampled_from(SMALL_FILES))
    buf = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    mutated = bytes(buf)
    try:
        img = decode(mutated)
    except CloakerError:
        return
    written = encode_unchanged(mutated, img)
    again = decode(written.data)
    if any(LOSSLESS_NOTE in note for note in written.notes):
        np.testing.assert_array_equal(again.rgb, img.rgb)
        assert not again.metadata_removed


# --- through the engine (the CLI's and the daemon's path) --------------------------------


@pytest.fixture(scope="module")
def engine(models_dir: Path) -> Any:
    from cloaker.engine import Engine

    eng = Engine(device="cpu")
    eng.warm()
    return eng


def test_engine_returns_no_face_photos_stripped_not_re_encoded(engine: Any, photo: bytes) -> None:
    result = engine.cloak_bytes(photo, "low")
    assert result.status == "no_face" and result.faces == 0  # the detector found none
    assert result.data == strip_metadata(photo, decode(photo).format)
    np.testing.assert_array_equal(_pixels(result.data), _pixels(photo))
    _assert_clean(result.data)


def test_daemon_returns_the_same_bytes(shared: Any) -> None:
    from daemon_util import wait_ready

    photo = _jpeg()
    with shared.client() as c:
        wait_ready(c)
        job = c.wait_job(c.send_cloak(photo))
    assert job.terminal is not None and job.terminal["type"] == "result", job.terminal
    assert job.terminal["data"]["status"] == "no_face"
    assert job.payload == strip_metadata(photo, "JPEG")
    np.testing.assert_array_equal(_pixels(job.payload), _pixels(photo))
