"""Expectation over transforms: random versions of what a social site does to a photo
(JPEG re-encode, resize) and of what a scraper's pipeline does (slightly different
alignment), sampled anew at every step so the cloak does not hinge on one exact rendering.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cloaker.cloak.jpeg import jpeg_approx


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
