"""Expectation over transforms: random versions of what a social site does to a photo
(JPEG re-encode, resize) and of what a scraper's pipeline does (slightly different
alignment), sampled anew at every step so the cloak does not hinge on one exact rendering.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cloaker.align import box_matrices, warp
from cloaker.cloak.jpeg import jpeg_approx

# Crop geometries of pipelines that skip the 5-point alignment: the detector box squared
# and grown by each factor, cut level or turned with the face (each box cut both ways).
BOX_GROW = (1.0, 1.3, 1.6)
BOX_SHIFT = 0.04  # random centre shift, fraction of the crop side


def box_presets(faces: np.ndarray, aligned: np.ndarray, size: int) -> list[np.ndarray]:
    """The box-crop geometries for faces ``faces`` (F, 4) whose aligned crops are
    ``aligned`` (F, 2, 3): one (F, 2, 3) matrix stack per (growth, rotation) preset."""
    roll = np.arctan2(aligned[:, 1, 0], aligned[:, 0, 0])
    return [
        box_matrices(faces, g, size, angle=a)
        for g in BOX_GROW
        for a in (np.zeros(len(faces)), roll)
    ]


def box_crops(
    image: torch.Tensor, preset: np.ndarray, size: int, rng: np.random.Generator
) -> torch.Tensor:
    """Crops (F, 3, size, size) through one box ``preset`` (F, 2, 3), its centre moved at
    random by up to ``BOX_SHIFT`` of the crop, cut either at ``size`` (antialiased) or at
    twice that and shrunk bilinearly (the two resamplings pipelines use). Differentiable."""
    t = rng.uniform(-BOX_SHIFT, BOX_SHIFT, (len(preset), 2)) * size
    m = preset.copy()
    m[:, :, 2] += t
    if rng.random() < 0.5:
        return warp(image, m, size)
    m2 = m * 2
    m2[:, :, 2] += 0.5  # pixel centres: x2 = 2 x + 0.5
    big = warp(image, m2, 2 * size)
    return F.interpolate(big, size=(size, size), mode="bilinear", align_corners=False)


def jitter_matrices(
    m: np.ndarray,
    size: int,
    rng: np.random.Generator,
    shift: float = 0.03,
    scale: float = 0.04,
    angle: float = 0.05,
) -> np.ndarray:
    """Compose each (2, 3) image-to-crop transform in ``m`` (F, 2, 3) with a small random
    similarity about the crop centre: shift up to ``shift * size`` px, scale by up to
    ``1 +- scale``, rotate up to ``angle`` radians. A different face aligner lands a few
    pixels off ours; the cloak must not depend on our exact crop."""
    out = []
    c = (size - 1) / 2
    for mi in m:
        s = 1 + rng.uniform(-scale, scale)
        a = rng.uniform(-angle, angle)
        t = rng.uniform(-shift, shift, 2) * size
        ca, sa = s * np.cos(a), s * np.sin(a)
        j = np.array(
            [
                [ca, -sa, c - ca * c + sa * c + t[0]],
                [sa, ca, c - sa * c - ca * c + t[1]],
                [0, 0, 1.0],
            ]
        )
        out.append((j @ np.vstack([mi, [0, 0, 1.0]]))[:2])
    return np.stack(out)


def random_transform(
    crops: torch.Tensor, rng: np.random.Generator, p_resize: float = 0.5, p_jpeg: float = 0.7
) -> torch.Tensor:
    """(B, 3, S, S) crops in [0, 1] -> the same after a random resize round trip (down to
    50-100 %, as a site that shrinks the long side to 1080 px does) and a random JPEG
    re-encode (quality 70-95), each applied with its probability. Differentiable."""
    x = crops
    s = x.shape[-1]
    if rng.random() < p_resize:
        k = max(8, round(s * rng.uniform(0.5, 1.0)))
        x = F.interpolate(x, size=(k, k), mode="bilinear", antialias=True, align_corners=False)
        x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
    if rng.random() < p_jpeg:
        x = jpeg_approx(x, int(rng.integers(70, 96)))
    return x
