"""What social sites do to an uploaded photo, with Pillow's real codec: JPEG re-encode and
downscale. A cloak that only survives lossless delivery protects nobody.

Each ``SiteTransform`` maps (H, W, 3) uint8 to (H', W', 3) uint8 and says how pixel
coordinates move (``scale_points``), so faces can be embedded at the same place afterwards.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

# Sites re-encode at 4:2:0 chroma subsampling (the libjpeg default); quality 75-85.
JPEG_SUBSAMPLING = "4:2:0"


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Encode ``rgb`` (H, W, 3) uint8 as a baseline 4:2:0 JPEG at ``quality`` (1-95) with
    Pillow and decode it again."""
    if not 1 <= quality <= 95:
        raise ValueError(f"JPEG quality must be within 1..95, got {quality}")
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, subsampling=JPEG_SUBSAMPLING)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        return np.asarray(im.convert("RGB"))


def resized_size(hw: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(H, W) after scaling the long side down to ``long_side`` (never up), rounded."""
    h, w = hw
    if max(h, w) <= long_side:
        return h, w
    f = long_side / max(h, w)
    return max(1, round(h * f)), max(1, round(w * f))


def resize_long_side(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """Downscale so the long side is at most ``long_side`` px (Lanczos, antialiased, as
    image services do); smaller photos are returned unchanged."""
    h, w = resized_size(rgb.shape[:2], long_side)
    if (h, w) == rgb.shape[:2]:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.LANCZOS))


def scale_points(
    points: np.ndarray, src_hw: tuple[int, int], dst_hw: tuple[int, int]
) -> np.ndarray:
    """Map (..., 2) pixel coordinates (x, y) of a ``src_hw`` image to a resized ``dst_hw``
    one (pixel centres at integers: x' = (x + 0.5) * W'/W - 0.5)."""
    sy, sx = dst_hw[0] / src_hw[0], dst_hw[1] / src_hw[1]
    pts = np.asarray(points, np.float64)
    out = np.empty_like(pts)
    out[..., 0] = (pts[..., 0] + 0.5) * sx - 0.5
    out[..., 1] = (pts[..., 1] + 0.5) * sy - 0.5
    return out


@dataclass(frozen=True)
class SiteTransform:
    """Optional downscale to ``long_side`` px, then optional JPEG at ``quality``.

    ``name`` is a stable key (JSON, tables); ``label`` is for people."""

    name: str
    label: str
    long_side: int | None = None
    quality: int | None = None

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        out = rgb
        if self.long_side is not None:
            out = resize_long_side(out, self.long_side)
        if self.quality is not None:
            out = jpeg_roundtrip(out, self.quality)
        return out

    def output_hw(self, hw: tuple[int, int]) -> tuple[int, int]:
        return hw if self.long_side is None else resized_size(hw, self.long_side)


RAW = SiteTransform("raw", "raw")
JPEG85 = SiteTransform("jpeg85", "JPEG q85", quality=85)
RESIZE1080_JPEG75 = SiteTransform(
    "resize1080_jpeg75", "1080 px + JPEG q75", long_side=1080, quality=75
)
# The transforms every report measures, in table order.
SITE_TRANSFORMS: tuple[SiteTransform, ...] = (RAW, JPEG85, RESIZE1080_JPEG75)
