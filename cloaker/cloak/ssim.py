"""Differentiable SSIM (Wang et al. 2004) with the usual 11-tap Gaussian window, sigma 1.5.

Visibility is measured on luminance (ITU-R BT.601 Y), the channel people see detail in.
DSSIM = (1 - SSIM) / 2, the convention Fawkes uses for its budgets.
"""

from __future__ import annotations

import functools

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


# Up to this many pixels a side, a separable filter runs as two products with a banded
# matrix: on a 2-core CPU a grouped 1-D convolution of 100-600 px a side took 3-6x as long
# (BENCHMARKS.md, Speed). Beyond it the dense matrices (n^2 entries, n^3 work) would not pay.
MATMUL_MAX = 1024


# A few sizes and sigmas serve each photo (the field at half resolution, two regions' SSIM
# windows); a dense matrix is up to 4 MB, so the daemon keeps only the recent ones.
@functools.lru_cache(maxsize=16)
def _filter_matrix(
    n: int, size: int, sigma: float, valid: bool, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """A 1-D Gaussian window of ``size`` taps along a side of n pixels, as a matrix: (n, n),
    each border pixel's weight folded back onto it (replicated borders), or with ``valid``
    only the (n - size + 1) rows whose window lies inside."""
    r = size // 2
    g = _window(size, sigma, device, dtype)
    cols = torch.arange(n, device=device)[:, None] + torch.arange(-r, r + 1, device=device)
    m = torch.zeros(n, n, device=device, dtype=dtype)
    m.scatter_add_(1, cols.clamp(0, n - 1), g.expand(n, -1))
    return m[r : n - r] if valid else m


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, h, w) over 3 sigma a side, borders replicated."""
    h, w = x.shape[-2:]
    if max(h, w) <= MATMUL_MAX:
        size = 2 * max(1, round(3 * sigma)) + 1
        rows = _filter_matrix(h, size, sigma, False, x.device, x.dtype)
        cols = _filter_matrix(w, size, sigma, False, x.device, x.dtype)
        return rows @ x @ cols.T
    return _blur_conv(x, sigma)


def _blur_conv(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``gaussian_blur`` as two grouped 1-D convolutions (large images)."""
    r = max(1, round(3 * sigma))
    g = _window(2 * r + 1, sigma, x.device, x.dtype)
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim_map(a: torch.Tensor, b: torch.Tensor, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM of single-channel images ``a``, ``b``: (B, 1, H, W) in [0, 1] ->
    (B, 1, H - size + 1, W - size + 1) ("valid" window positions only)."""
    # The five local means of every image in one separable pass.
    n = a.shape[0]
    stats = torch.cat([a, b, a * a, b * b, a * b])  # (5B, 1, H, W)
    h, w = stats.shape[-2:]
    if max(h, w) <= MATMUL_MAX:
        rows = _filter_matrix(h, size, sigma, True, a.device, a.dtype)
        cols = _filter_matrix(w, size, sigma, True, a.device, a.dtype)
        means = rows @ stats @ cols.T
    else:
        means = _means_conv(stats, size, sigma)
    mu_a, mu_b, m_aa, m_bb, m_ab = means.split(n)
    saa = m_aa - mu_a**2
    sbb = m_bb - mu_b**2
    sab = m_ab - mu_a * mu_b
    num = (2 * mu_a * mu_b + _C1) * (2 * sab + _C2)
    den = (mu_a**2 + mu_b**2 + _C1) * (saa + sbb + _C2)
    return num / den


def _means_conv(stats: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """``ssim_map``'s local means of (K, 1, H, W) as grouped 1-D convolutions (large images):
    the images as the channels of one, since a grouped call over channels costs half of a
    plain one over a batch of 1-channel images."""
    g = _window(size, sigma, stats.device, stats.dtype)
    c = stats.shape[0]
    x = stats.transpose(0, 1)  # (1, K, H, W)
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c).transpose(0, 1)


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean luminance SSIM per image: (B, 3, H, W) RGB in [0, 1] x 2 -> (B,)."""
    if min(a.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 px, got {tuple(a.shape[-2:])}")
    return ssim_map(luminance(a), luminance(b)).mean(dim=(1, 2, 3))


def dssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(1 - SSIM) / 2 per image, (B,)."""
    return (1 - ssim(a, b)) / 2
