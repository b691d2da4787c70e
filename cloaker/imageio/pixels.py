"""Turn a decoded Pillow image of any mode into the engine's form: 8-bit RGB plus an
optional alpha plane, with an ICC profile that matches those pixels."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageCms

_SIXTEEN_BIT_GRAY = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})


@dataclass
class Pixels:
    """``rgb``: (H, W, 3) uint8; ``alpha``: (H, W) uint8 or None; ``icc_profile``: the
    profile of ``rgb`` (None: sRGB); ``notes``: what the conversion changed."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    grayscale: bool
    palette: bool
    icc_profile: bytes | None
    notes: list[str] = field(default_factory=list)


def icc_color_space(icc: bytes) -> str | None:
    """The colour space an ICC profile applies to ("RGB", "GRAY", "CMYK", ...), or None
    when LittleCMS cannot read the profile."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        # A damaged header may hold non-ASCII bytes here (UnicodeDecodeError, a ValueError).
        return profile.profile.xcolor_space.strip()
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None


def to_pixels(im: Image.Image, icc: bytes | None, *, gray_source: bool = False) -> Pixels:
    """Convert a loaded image (EXIF orientation already applied) to 8-bit RGB + alpha.

    ``gray_source`` marks a grayscale file that Pillow opened in a colour mode (a 16-bit
    gray + alpha PNG opens as RGBA). CMYK goes through its embedded ICC profile to sRGB
    when it has one; 16-bit gray is rounded to 8 bits; palette and colour-key transparency
    become an alpha plane.
    """
    notes: list[str] = []
    mode = im.mode
    palette = mode in ("P", "PA")
    if mode == "CMYK":
        im, icc = _cmyk_to_rgb(im, icc, notes)
    elif mode in _SIXTEEN_BIT_GRAY:
        im = _sixteen_bit_gray_to_la(im)
    elif mode == "1":
        im = im.convert("L")
        notes.append("1-bit black-and-white image converted to 8-bit grayscale")
    elif palette:
        im = im.convert("RGBA" if mode == "PA" or im.has_transparency_data else "RGB")
    elif mode in ("L", "RGB") and im.info.get("transparency") is not None:
        im = im.convert("LA" if mode == "L" else "RGBA")  # colour-key transparency
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGBA" if im.has_transparency_data else "RGB")
        notes.append(f"{mode} image converted to RGB")

    arr = np.asarray(im)
    grayscale = gray_source or im.mode in ("L", "LA")
    if im.mode in ("L", "LA"):
        gray = arr if im.mode == "L" else arr[..., 0]
        rgb = np.repeat(gray[..., None], 3, axis=2)
        alpha = np.ascontiguousarray(arr[..., 1]) if im.mode == "LA" else None
    else:
        rgb = np.ascontiguousarray(arr[..., :3])
        alpha = np.ascontiguousarray(arr[..., 3]) if im.mode == "RGBA" else None
    if not rgb.flags.writeable:
        rgb = rgb.copy()
    icc = _matching_icc(icc, grayscale, notes)
    return Pixels(rgb, alpha, grayscale, palette, icc, notes)


def _cmyk_to_rgb(
    im: Image.Image, icc: bytes | None, notes: list[str]
) -> tuple[Image.Image, bytes | None]:
    """CMYK -> sRGB. Returns the RGB image and its profile (None: sRGB)."""
    if icc is not None and icc_color_space(icc) == "CMYK":
        try:
            rgb = ImageCms.profileToProfile(
                im,
                ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                ImageCms.createProfile("sRGB"),
                outputMode="RGB",
            )
        except ImageCms.PyCMSError as exc:
            notes.append(f"CMYK profile unusable ({exc}); CMYK converted to RGB without it")
        else:
            assert rgb is not None  # inPlace=False always returns the new image
            notes.append("CMYK converted to sRGB with the image's ICC profile")
            return rgb, None
    else:
        notes.append("CMYK converted to RGB (no CMYK ICC profile: uncalibrated conversion)")
    return im.convert("RGB"), None


def _sixteen_bit_gray_to_la(im: Image.Image) -> Image.Image:
    """16-bit gray -> 8-bit L (or LA for a colour-key transparency), rounding to nearest."""
    values = np.clip(np.asarray(im).astype(np.int64), 0, 65535)
    gray = ((values * 255 + 32767) // 65535).astype(np.uint8)
    key = im.info.get("transparency")
    if isinstance(key, int):
        alpha = np.where(values == key, 0, 255).astype(np.uint8)
        return Image.fromarray(np.stack([gray, alpha], axis=2))
    return Image.fromarray(gray)


def _matching_icc(icc: bytes | None, grayscale: bool, notes: list[str]) -> bytes | None:
    """Keep a profile only when it fits the pixels it will be written with: a GRAY profile
    on an RGB file (or one LittleCMS cannot read) makes viewers misrender or reject it."""
    if icc is None:
        return None
    space = icc_color_space(icc)
    expected = "GRAY" if grayscale else "RGB"
    if space == expected:
        return icc
    reason = "unreadable" if space is None else f"for {space}, not {expected}"
    notes.append(f"ICC profile dropped ({reason})")
    return None
