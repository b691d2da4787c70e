"""JPEG output of cloaker.imageio: quality estimate, file size against the input, and
what survives of a small perturbation."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from imageio_util import ASTRONAUT, add, load_photo, save, smooth_noise
from PIL import Image

from cloaker.imageio import decode, encode, encode_image
from cloaker.imageio.jpeg_quality import estimate_quality


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return load_photo()


# ---------------------------------------------------------------- JPEG size and quality


@pytest.mark.parametrize("quality", [50, 75, 85, 92, 95])
def test_jpeg_quality_estimate(photo: Image.Image, quality: int) -> None:
    img = decode(save(photo, "JPEG", quality=quality, subsampling="4:2:0"))
    assert img.jpeg_quality_estimate == quality and img.jpeg_subsampling == 2
    with Image.open(io.BytesIO(save(photo, "JPEG", quality=quality))) as im:
        assert estimate_quality(im.quantization) == quality


def _jpeg_size_ratio_checks(data: bytes) -> None:
    img = decode(data)
    assert len(encode(img, img.rgb)) <= 1.5 * len(data)
    cloaked = add(img.rgb, smooth_noise(img.rgb.shape, 2, seed=4))
    assert len(encode(img, cloaked)) <= 1.5 * len(data)


def test_jpeg_output_within_1_5x_of_the_project_photo() -> None:
    _jpeg_size_ratio_checks(ASTRONAUT.read_bytes())


@pytest.mark.parametrize("index", range(4))
def test_jpeg_output_within_1_5x_of_real_photos(faces_dir: Path, index: int) -> None:
    photos = sorted((faces_dir / "people").glob("*/*.jpg"))
    if index >= len(photos):
        pytest.skip("not enough photos in the shared folder")
    _jpeg_size_ratio_checks(photos[index].read_bytes())  # read in place, never copied


def test_low_quality_jpeg_is_not_written_below_the_floor() -> None:
    with Image.open(ASTRONAUT) as im:
        data = save(im, "JPEG", quality=10)
    img = decode(data)
    out = encode_image(img, img.rgb)
    assert decode(out.data).jpeg_quality_estimate == 80  # the floor that keeps the cloak
    assert "quality 80, 4:2:0" in out.notes[-1] and "x the input's size" in out.notes[-1]


def test_small_perturbation_survives_jpeg() -> None:
    img = decode(ASTRONAUT.read_bytes())
    clean = decode(encode(img, img.rgb)).rgb.astype(np.float64)

    def surviving(delta: np.ndarray) -> tuple[float, float]:
        """(mean |perturbation after encode/decode|, share of it along what was added)."""
        added = (add(img.rgb, delta).astype(np.float64) - img.rgb).ravel()
        after = (decode(encode(img, add(img.rgb, delta))).rgb - clean).ravel()
        return float(np.abs(after).mean() / np.abs(added).mean()), float(
            after @ added / (added @ added)
        )

    rng = np.random.default_rng(7)
    iid_size, iid_share = surviving(rng.integers(-2, 3, img.rgb.shape).astype(np.int16))
    assert iid_size >= 0.5  # pixel-level +-2 noise: the magnitude survives ...
    assert iid_share > 0.1  # ... but JPEG keeps only a small part of white noise itself
    smooth_size, smooth_share = surviving(smooth_noise(img.rgb.shape, 2, seed=8))
    assert smooth_size >= 0.5 and smooth_share >= 0.7  # a band-limited one mostly survives
