"""Image in / image out for the cloaking engine.

``decode(bytes) -> DecodedImage`` gives the engine upright 8-bit RGB pixels (plus alpha)
and remembers what the file was; ``encode(img, rgb) -> bytes`` writes the changed pixels
back in the same format, with the ICC profile and alpha kept and every other piece of
metadata (EXIF, GPS, XMP, IPTC, comments) left out. A photo with no face is written with
``encode_unchanged(data, img)``: the input with its metadata blocks dropped and its image
data copied byte for byte (JPEG, PNG, WebP), so its pixels are exactly the input's.
"""

from __future__ import annotations

from .decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, check_header, decode
from .encode import encode, encode_image
from .formats import extension_for_format, heif_available, mime_for_format, sniff_format
from .strip import encode_unchanged, strip_metadata
from .types import DecodedImage, EncodedImage

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DecodedImage",
    "EncodedImage",
    "check_header",
    "decode",
    "encode",
    "encode_image",
    "encode_unchanged",
    "extension_for_format",
    "heif_available",
    "mime_for_format",
    "sniff_format",
    "strip_metadata",
]
