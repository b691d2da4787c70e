"""Write a palette image back as a palette image only when that loses nothing.

A cloak adds small changes to many pixels, so a cloaked photo rarely fits in 256 colours;
re-quantizing it would erase the cloak (every pixel snaps back to a palette colour). A
photo with no face, or a flat graphic, usually still fits exactly and keeps its small,
palette-sized file.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

MAX_COLORS = 256


def fit_palette(im: Image.Image, *, gif: bool = False) -> Image.Image | None:
    """Mode "P" image with exactly the pixels of ``im`` (RGB or RGBA), or None when it has
    more than 256 distinct colours.

    PNG palettes carry one alpha value per entry (returned in ``info["transparency"]`` as
    bytes). GIF has a single fully transparent index (``gif=True``): alpha must be 0 or 255,
    and every fully transparent pixel takes the colour of the first one (viewers never
    show it). Then ``info["transparency"]`` is that index (an int).
    """
    if im.mode not in ("RGB", "RGBA"):
        raise ValueError(f"fit_palette needs RGB or RGBA, got {im.mode}")
    arr = np.asarray(im)
    if gif and im.mode == "RGBA":
        alpha = arr[..., 3]
        if not np.isin(alpha, (0, 255)).all():
            return None
        clear = alpha == 0
        if clear.any():
            first = np.unravel_index(np.argmax(clear), clear.shape)
            arr = arr.copy()
            arr[clear] = arr[first]
    colors = Image.fromarray(arr).getcolors(MAX_COLORS)  # [(count, colour)] or None
    if colors is None:
        return None

    entries = np.array(sorted(color for _, color in colors), dtype=np.uint8)  # (N, channels)
    indices = np.searchsorted(_pack(entries), _pack(arr)).astype(np.uint8)

    channels = entries.shape[1]
    out = Image.fromarray(indices)
    out.putpalette(entries[:, :3].tobytes(), "RGB")
    if channels == 4:
        alphas = entries[:, 3]
        if gif:
            clear_entries = np.flatnonzero(alphas == 0)
            if clear_entries.size:
                out.info["transparency"] = int(clear_entries[0])
        else:  # even when all opaque: the input had an alpha channel, so keep one
            out.info["transparency"] = alphas.tobytes()
    return out


def _pack(arr: np.ndarray) -> np.ndarray:
    """(..., C) uint8 -> (...) uint32 with the channels in big-endian order, so sorting
    packed values sorts colours lexicographically."""
    keys = np.zeros(arr.shape[:-1], dtype=np.uint32)
    for c in range(arr.shape[-1]):
        keys = (keys << np.uint32(8)) | arr[..., c].astype(np.uint32)
    return keys
