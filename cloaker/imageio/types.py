"""The values that cross the image I/O boundary: a decoded photo and an encoded file."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class DecodedImage:
    """A photo as the engine works on it, plus what ``encode`` needs to write it back.

    Pixels:
      ``rgb``: (H, W, 3) uint8, 0..255, C-contiguous, EXIF orientation already applied
        (so H, W are the displayed height and width). Grayscale inputs are replicated to
        three equal channels; 16-bit inputs are reduced to 8 bits; CMYK is converted to RGB.
        It is the original: copy it before perturbing. A photo with no face is written by
        ``encode_unchanged`` (the input's bytes, metadata stripped) instead.
      ``alpha``: (H, W) uint8 (255 = opaque), or None when the input has no transparency.
        ``encode`` re-attaches it; the engine never changes it.

    Input description (read by ``encode``):
      ``format``: container sniffed from the bytes: "JPEG", "PNG", "WEBP", "GIF", "BMP",
        "AVIF" or "HEIF". ``mime``: its MIME type.
      ``mode_in``: Pillow's mode as opened ("RGB", "P", "CMYK", "I;16", "LA", ...).
      ``grayscale``: the input had no colour; ``encode`` writes gray (L/LA) where the format
        allows, keeping the luma of ``rgb`` (the engine should keep its perturbation equal
        across the three channels of such photos, or the colour part is dropped).
      ``palette``: the input was a palette image (PNG mode P, GIF).
      ``bit_depth_16``: the input had more than 8 bits per channel.
      ``icc_profile``: ICC profile describing ``rgb`` (None: sRGB); written back.
      ``dpi``: pixel density, kept where the format stores it; not identifying.
      ``jpeg_quality_estimate``: IJG quality 1..100 from the JPEG's quantization tables.
      ``jpeg_subsampling``: Pillow's ``JpegImagePlugin.get_sampling``: 0 = 4:4:4,
        1 = 4:2:2, 2 = 4:2:0, -1 = other/grayscale; None for non-JPEG.
      ``progressive``: progressive JPEG (written progressive again).
      ``webp_lossless``: for WebP, whether the input was lossless (VP8L).
      ``animated``: more than one frame (or a multi-picture JPEG); only the first is kept.
      ``exif_orientation``: EXIF orientation 1..8 that was applied to the pixels.
      ``metadata_removed``: kinds of metadata the input carried that ``encode`` never writes
        (e.g. "EXIF", "GPS", "XMP", "IPTC", "comment", "PNG text").
      ``input_bytes``: size of the input file, the reference for output size limits.
      ``notes``: human-readable sentences on everything changed besides the cloak.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    format: str
    mime: str
    mode_in: str
    input_bytes: int
    grayscale: bool = False
    palette: bool = False
    bit_depth_16: bool = False
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    jpeg_quality_estimate: int | None = None
    jpeg_subsampling: int | None = None
    progressive: bool = False
    webp_lossless: bool | None = None
    animated: bool = False
    exif_orientation: int = 1
    metadata_removed: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def exif_removed(self) -> bool:
        """The input carried EXIF data (it is never written back)."""
        return "EXIF" in self.metadata_removed


@dataclass
class EncodedImage:
    """What ``encode_image`` wrote: the file bytes and how they differ from the input.

    ``format`` may differ from the input's (e.g. a GIF that no longer fits a 256-colour
    palette is written as PNG); ``mime`` and ``extension`` follow ``format``. ``notes``
    explains every such choice and the quality settings of lossy formats (what decoding
    changed is in ``DecodedImage.notes``).
    """

    data: bytes
    format: str
    mime: str
    extension: str
    notes: list[str] = field(default_factory=list)
