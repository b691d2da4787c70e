"""A differentiable approximation of JPEG compression for expectation over transforms.

Social sites re-encode uploads (JPEG, quality about 75-85). The forward pass here does what
a JPEG encoder does to the pixels (YCbCr, 4:2:0 chroma, 8x8 DCT, quantization with the
standard IJG tables scaled by quality); the rounding uses a straight-through estimator so
the gradient passes as if rounding were the identity.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_LUMA = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]  # fmt: skip
_CHROMA = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
] + [99] * 32  # fmt: skip


def _dct_matrix(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    m = torch.empty(8, 8, dtype=torch.float64)
    for k in range(8):
        for n in range(8):
            c = math.sqrt(1 / 8) if k == 0 else math.sqrt(2 / 8)
            m[k, n] = c * math.cos(math.pi * (2 * n + 1) * k / 16)
    return m.to(device=device, dtype=dtype)


def _qtable(base: list[int], quality: int, device: torch.device, dtype: torch.dtype):
    q = max(1, min(100, int(quality)))
    scale = 5000 / q if q < 50 else 200 - 2 * q
    t = torch.tensor([max(1, min(255, (b * scale + 50) // 100)) for b in base], dtype=dtype)
    return t.view(8, 8).to(device)


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def _blocks_codec(ch: torch.Tensor, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) one channel in 0..255 (H, W multiples of 8) -> same, after DCT-quantize."""
    b, _, h, w = ch.shape
    x = ch.view(b, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4) - 128.0
    coef = d @ x @ d.T
    coef = _round_ste(coef / q) * q
    x = d.T @ coef @ d + 128.0
    return x.permute(0, 1, 3, 2, 4).reshape(b, 1, h, w)


def jpeg_approx(x: torch.Tensor, quality: int) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> the same after a simulated JPEG round trip at
    ``quality`` (1-100), 4:2:0 chroma subsampling. Differentiable (straight-through)."""
    _b, _, h, w = x.shape
    ph, pw = (-h) % 16, (-w) % 16
    xp = F.pad(x, (0, pw, 0, ph), mode="replicate") * 255.0
    r, g, bl = xp[:, 0:1], xp[:, 1:2], xp[:, 2:3]
    y = 0.299 * r + 0.587 * g + 0.114 * bl
    cb = -0.168736 * r - 0.331264 * g + 0.5 * bl + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * bl + 128
    d = _dct_matrix(x.device, x.dtype)
    qy = _qtable(_LUMA, quality, x.device, x.dtype)
    qc = _qtable(_CHROMA, quality, x.device, x.dtype)
    y = _blocks_codec(y, qy, d)
    chans = []
    for c in (cb, cr):
        small = F.avg_pool2d(c, 2)
        sp = F.pad(small, (0, (-small.shape[-1]) % 8, 0, (-small.shape[-2]) % 8), mode="replicate")
        rec = _blocks_codec(sp, qc, d)[..., : small.shape[-2], : small.shape[-1]]
        chans.append(F.interpolate(rec, scale_factor=2, mode="bilinear", align_corners=False))
    cb, cr = chans
    r = y + 1.402 * (cr - 128)
    g = y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128)
    bl = y + 1.772 * (cb - 128)
    out = torch.cat([r, g, bl], 1)[..., :h, :w] / 255.0
    return out.clamp(0, 1)
