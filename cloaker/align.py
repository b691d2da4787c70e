"""Alignment: similarity transforms from detected landmarks to an extractor's template,
and a differentiable warp that cuts aligned crops out of an image tensor.

Pixel convention: a pixel's centre is at integer coordinates (pixel (0, 0) covers
[-0.5, 0.5]^2), the same for image and crop; ``grid_sample`` is used with
``align_corners=False``, whose normalised coordinates match that convention.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping ``src`` to
    ``dst`` (Umeyama 1991). ``src``, ``dst``: (N, 2) float points. Returns (2, 3) float64
    ``M`` with ``dst ~= src @ M[:, :2].T + M[:, 2]``."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need matching (N>=2, 2) point sets, got {src.shape} {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0**2).sum() / len(src)
    if var_s <= 1e-12:
        raise ValueError("degenerate landmarks (all points coincide)")
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0  # no reflections
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / var_s
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def crop_matrices(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    """(F, 5, 2) image landmarks + (5, 2) template -> (F, 2, 3) image-to-crop transforms."""
    return np.stack([similarity_transform(lm, template) for lm in np.asarray(landmarks)])


def box_matrices(
    boxes: np.ndarray,
    grow: float | np.ndarray,
    size: int,
    shift: np.ndarray | None = None,
    angle: np.ndarray | None = None,
) -> np.ndarray:
    """(F, 4) boxes (x1, y1, x2, y2) -> (F, 2, 3) image-to-crop transforms of a square crop
    ``size`` px wide: the box squared to its long side, grown ``grow`` times about its centre,
    moved by ``shift`` (F, 2) box sides, and turned by ``angle`` (F,) radians about its
    centre, the angle of the crop's axes in the image as ``atan2(M[1, 0], M[0, 0])`` reads it
    off an aligned crop's matrix ``M`` (default 0: no rotation, as a pipeline that skips the
    alignment cuts it)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    n = len(b)
    side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * np.broadcast_to(grow, (n,))
    centre = (b[:, :2] + b[:, 2:]) / 2 - 0.5  # box edges -> pixel-centre coordinates
    if shift is not None:
        centre = centre + np.asarray(shift, np.float64).reshape(n, 2) * side[:, None]
    a = np.zeros(n) if angle is None else np.asarray(angle, np.float64).reshape(n)
    c = (size - 1) / 2
    out = np.empty((n, 2, 3))
    for k in range(n):
        s = size / side[k]
        rot = s * np.array([[np.cos(a[k]), -np.sin(a[k])], [np.sin(a[k]), np.cos(a[k])]])
        out[k, :, :2] = rot
        out[k, :, 2] = c - rot @ centre[k]
    return out


def _invert(m: np.ndarray) -> np.ndarray:
    full = np.vstack([m, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def _theta(m_img_to_crop: np.ndarray, img_hw: tuple[int, int], size: int) -> np.ndarray:
    """``affine_grid`` theta (2, 3): crop normalised coords -> image normalised coords."""
    h, w = img_hw
    crop_from_norm = np.array(
        [[size / 2, 0, (size - 1) / 2], [0, size / 2, (size - 1) / 2], [0, 0, 1.0]]
    )
    norm_from_img = np.array([[2 / w, 0, 1 / w - 1], [0, 2 / h, 1 / h - 1], [0, 0, 1.0]])
    img_from_crop = np.vstack([_invert(m_img_to_crop), [0, 0, 1.0]])
    return (norm_from_img @ img_from_crop @ crop_from_norm)[:2]


def transform_scale(m: np.ndarray) -> float:
    """Scale factor of a similarity transform (crop pixels per image pixel)."""
    return float(np.sqrt(abs(np.linalg.det(np.asarray(m)[:2, :2]))))


def warp(image: torch.Tensor, matrices: np.ndarray, size: int) -> torch.Tensor:
    """Cut aligned crops out of ``image``, differentiably.

    ``image``: (1, 3, H, W) float in [0, 1] (any device; gradients flow back to it).
    ``matrices``: (F, 2, 3) image-to-crop similarity transforms (see ``crop_matrices``).
    Returns (F, 3, size, size). When a face is much larger than the crop, the image is first
    downscaled with antialiasing (area-like) so that every source pixel contributes to the
    crop: plain bilinear sampling would read only a sparse grid of pixels, alias, and put
    the gradient (hence the cloak) on that grid only.
    """
    if image.ndim != 4 or image.shape[0] != 1:
        raise ValueError(f"expected a (1, 3, H, W) image, got {tuple(image.shape)}")
    h, w = image.shape[-2:]
    crops = []
    for m in np.asarray(matrices, np.float64):
        src, mm, hw = image, m, (h, w)
        scale = transform_scale(m)
        if scale < 0.75:
            # Downscale so the face is about 1.5x the crop resolution, then sample. Only
            # the crop's footprint is downscaled (with a margin for the filter): the image
            # is often a region several times larger than one crop.
            f = min(1.0, scale * 1.5)
            x0, y0, x1, y1 = _footprint(m, size, (h, w), margin=2 / f + 2)
            sh, sw = h, w
            if (x1 - x0) * (y1 - y0) < 0.8 * h * w:
                src = image[..., y0:y1, x0:x1]
                mm = m.copy()
                mm[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)
                sh, sw = y1 - y0, x1 - x0
            nh, nw = max(1, round(sh * f)), max(1, round(sw * f))
            src = F.interpolate(
                src, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False
            )
            # Pixel centres map as x' = (x + 0.5) * nw / sw - 0.5.
            fx, fy = nw / sw, nh / sh
            pre = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1.0]])
            mm = (np.vstack([mm, [0, 0, 1.0]]) @ np.linalg.inv(pre))[:2]
            hw = (nh, nw)
        theta = torch.tensor(_theta(mm, hw, size), dtype=image.dtype, device=image.device)
        grid = F.affine_grid(theta[None], [1, 3, size, size], align_corners=False)
        crops.append(
            F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)
        )
    if not crops:
        return image.new_zeros((0, 3, size, size))
    return torch.cat(crops)


def crop_corners(m: np.ndarray, size: int) -> np.ndarray:
    """The four corners (pixel edges) of a ``size`` crop cut by the (2, 3) image-to-crop
    transform ``m``, in image coordinates: (4, 2)."""
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1.0]]))[:2]
    c = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]])
    return c @ inv[:, :2].T + inv[:, 2]


def _footprint(
    m: np.ndarray, size: int, hw: tuple[int, int], margin: float
) -> tuple[int, int, int, int]:
    """The pixels a (2, 3) image-to-crop transform reads for a ``size`` crop: its corners
    grown by ``margin`` px and clipped to ``hw``; x0, y0, x1, y1 (exclusive)."""
    pts = crop_corners(m, size)
    h, w = hw
    x0 = int(np.clip(np.floor(pts[:, 0].min() - margin), 0, w - 1))
    y0 = int(np.clip(np.floor(pts[:, 1].min() - margin), 0, h - 1))
    x1 = int(np.clip(np.ceil(pts[:, 0].max() + margin) + 1, x0 + 1, w))
    y1 = int(np.clip(np.ceil(pts[:, 1].max() + margin) + 1, y0 + 1, h))
    return x0, y0, x1, y1


def to_tensor(rgb: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1]."""
    arr = rgb if rgb.flags.writeable and rgb.flags.c_contiguous else np.array(rgb, order="C")
    t = torch.from_numpy(arr).to(device)
    return t.permute(2, 0, 1)[None].float().div_(255.0)
