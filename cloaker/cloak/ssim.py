"""Differentiable SSIM (Wang et al. 2004) with the usual 11-tap Gaussian window, sigma 1.5.

Visibility is measured on luminance (ITU-R BT.601 Y), the channel people see detail in.
DSSIM = (1 - SSIM) / 2, the convention Fawkes uses for its budgets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_C1 = 0.01**2
_C2 = 0.03**2


def luminance(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 1, H, W) BT.601 luma in [0, 1]."""
    w = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _window(size: int, sigma: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    ax = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(ax**2) / (2 * sigma**2))
    return g / g.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, h, w) over 3 sigma a side, borders replicated."""
    r = max(1, round(3 * sigma))
    g = _window(2 * r + 1, sigma, x.device, x.dtype)
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim_map(a: torch.Tensor, b: torch.Tensor, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM of single-channel images ``a``, ``b``: (B, 1, H, W) in [0, 1] ->
    (B, 1, H - size + 1, W - size + 1) ("valid" window positions only)."""
    g = _window(size, sigma, a.device, a.dtype)
    gx, gy = g.view(1, 1, 1, -1), g.view(1, 1, -1, 1)

    # The five local means of every image in one separable pass, as the channels of one
    # image and grouped 1-D convolutions: small images make a convolution call's overhead
    # the larger part of its cost, and a grouped call over channels costs half of a plain
    # one over a batch of 1-channel images (112-px face crops, 2 cores).
    n = a.shape[0]
    stats = torch.cat([a, b, a * a, b * b, a * b]).transpose(0, 1)  # (1, 5B, H, W)
    c = stats.shape[1]
    rows = F.conv2d(stats, gx.expand(c, 1, 1, -1), groups=c)
    means = F.conv2d(rows, gy.expand(c, 1, -1, 1), groups=c)
    mu_a, mu_b, m_aa, m_bb, m_ab = means.transpose(0, 1).split(n)
    saa = m_aa - mu_a**2
    sbb = m_bb - mu_b**2
    sab = m_ab - mu_a * mu_b
    num = (2 * mu_a * mu_b + _C1) * (2 * sab + _C2)
    den = (mu_a**2 + mu_b**2 + _C1) * (saa + sbb + _C2)
    return num / den


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean luminance SSIM per image: (B, 3, H, W) RGB in [0, 1] x 2 -> (B,)."""
    if min(a.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 px, got {tuple(a.shape[-2:])}")
    return ssim_map(luminance(a), luminance(b)).mean(dim=(1, 2, 3))


def dssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(1 - SSIM) / 2 per image, (B,)."""
    return (1 - ssim(a, b)) / 2
