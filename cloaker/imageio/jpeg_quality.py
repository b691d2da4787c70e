"""Estimate the quality setting a JPEG was saved with, from its quantization tables.

Most encoders (libjpeg, libjpeg-turbo, Pillow, most phones) scale the example tables of the
JPEG standard (ITU-T T.81 Annex K) by the IJG quality formula. We find the quality 1..100
whose scaled tables are nearest to the file's. Other encoders (Photoshop, some cameras) get
the nearest IJG quality, which is what matters here: a re-encode at that quality gives a
file of about the same size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# T.81 Annex K, tables K.1 (luminance) and K.2 (chrominance), in natural (row) order.
_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.int64,
).ravel()
_CHROMA = np.full((8, 8), 99, dtype=np.int64)
_CHROMA[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]
_CHROMA = _CHROMA.ravel()


def ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """``base`` (64 ints) scaled for ``quality`` in 1..100 as libjpeg's jpeg_quality_scaling
    and jpeg_add_quant_table do (baseline: entries clamped to 1..255)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((base * scale + 50) // 100, 1, 255)


# Sorted copies: Pillow versions have differed on zigzag vs natural order, and a sorted
# comparison does not depend on it.
_SORTED = {q: (np.sort(ijg_table(_LUMA, q)), np.sort(ijg_table(_CHROMA, q))) for q in range(1, 101)}


def estimate_quality(qtables: Mapping[int, Sequence[int]]) -> int | None:
    """IJG quality (1..100) nearest to a JPEG's quantization tables.

    ``qtables`` is Pillow's ``JpegImageFile.quantization``: table id -> 64 ints (id 0 is
    luminance, id 1 chrominance when present). Returns None when there is no usable
    luminance table. Ties (high qualities whose tables are all ones) go to the highest.
    """
    luma = qtables.get(0)
    if luma is None or len(luma) != 64:
        return None
    luma_sorted = np.sort(np.asarray(luma, dtype=np.int64))
    chroma = qtables.get(1)
    chroma_sorted = (
        np.sort(np.asarray(chroma, dtype=np.int64))
        if chroma is not None and len(chroma) == 64
        else None
    )
    best_quality, best_error = 0, None
    for quality in range(100, 0, -1):
        ref_luma, ref_chroma = _SORTED[quality]
        error = int(np.abs(luma_sorted - ref_luma).sum())
        if chroma_sorted is not None:
            error += int(np.abs(chroma_sorted - ref_chroma).sum())
        if best_error is None or error < best_error:
            best_quality, best_error = quality, error
    return best_quality
