"""Shared helpers for the image I/O tests: files made with Pillow, hand-written PNGs,
band-limited perturbations, EXIF with identifying fields."""

from __future__ import annotations

import functools
import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageCms

ASTRONAUT = Path(__file__).resolve().parent.parent / "examples" / "astronaut.jpg"
SECRETS = (b"SN-0123456789", b"Jane Doe", b"TestCam", b"Secretville", b"Exif\x00\x00")
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:City="Secretville"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def save(im: Image.Image, fmt: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def raw_png(width: int, height: int, depth: int, color_type: int, rows: bytes) -> bytes:
    """A PNG written by hand: lets a test claim any size or use 16-bit colour."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def png16(arr: np.ndarray, color_type: int) -> bytes:
    """(H, W[, C]) uint16 -> 16-bit PNG (filter 0 on every row)."""
    height, width = arr.shape[:2]
    rows = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(height))
    return raw_png(width, height, 16, color_type, rows)


def smooth_noise(shape: tuple[int, ...], amplitude: float, seed: int) -> np.ndarray:
    """Integer perturbation in [-amplitude, amplitude], band-limited like a real cloak
    (random values on a 4x coarser grid, bilinearly upsampled)."""
    rng = np.random.default_rng(seed)
    height, width, channels = shape
    coarse = rng.uniform(-amplitude - 0.49, amplitude + 0.49, (height // 4 + 1, width // 4 + 1))
    planes = [
        np.asarray(
            Image.fromarray(np.roll(coarse, c, axis=1).astype(np.float32)).resize(
                (width, height), Image.Resampling.BILINEAR
            )
        )
        for c in range(channels)
    ]
    return np.clip(np.round(np.stack(planes, axis=2)), -amplitude, amplitude).astype(np.int16)


def add(rgb: np.ndarray, delta: np.ndarray) -> np.ndarray:
    return np.clip(rgb.astype(np.int16) + delta, 0, 255).astype(np.uint8)


@functools.cache
def _photo() -> Image.Image:
    with Image.open(ASTRONAUT) as im:
        return im.convert("RGB").crop((150, 40, 278, 136))


def load_photo() -> Image.Image:
    """A 128x96 RGB crop of the project's photo (not square, so transposes show)."""
    return _photo().copy()


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def with_mode(photo: Image.Image, mode: str) -> Image.Image:
    """The photo in ``mode``; alpha is a diagonal gradient with fully clear corners."""
    height, width = photo.height, photo.width
    ramp = np.add.outer(np.arange(height) * 2, np.arange(width) * 2)
    alpha = Image.fromarray(np.clip(ramp - 20, 0, 255).astype(np.uint8))
    if mode == "RGB":
        return photo
    if mode == "RGBA":
        out = photo.copy()
        out.putalpha(alpha)
        return out
    if mode == "L":
        return photo.convert("L")
    if mode == "LA":
        out = photo.convert("L")
        out.putalpha(alpha)
        return out
    if mode == "P":
        return photo.quantize(48)
    raise AssertionError(mode)


def identifying_exif(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.Base.Artist] = "Jane Doe"
    exif[ExifTags.Base.Orientation] = orientation
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.BodySerialNumber] = "SN-0123456789"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 30.0)
    return exif.tobytes()


def upright(stored: np.ndarray, orientation: int) -> np.ndarray:
    """What a viewer shows for pixels stored with an EXIF orientation (EXIF 2.3, 4.6.4)."""
    transforms: dict[int, Callable[[np.ndarray], np.ndarray]] = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, k=-1),  # rotate 90 degrees clockwise
        7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
        8: lambda a: np.rot90(a, k=1),  # rotate 90 degrees counter-clockwise
    }
    return transforms[orientation](stored)
