"""The Fawkes v1.0.2 baseline, as its code does it, on our extractors (``--mode fawkes``).

Shan et al., "Fawkes: Protecting Privacy against Unauthorized Deep Learning Models",
USENIX Security 2020. Its presets are ``cloaker.cloak.modes.FAWKES_MODES`` (low, mid, high);
the defaults here are mid's: DSSIM threshold 0.012, 75 Adadelta steps at lr 20. Per-pixel
clip +-15/255. Per face:
  crop   MTCNN box (no landmark alignment) padded to a square with a 30-px margin, resized to
         112 x 112; each extractor sees that crop resized to its own input size
  param  x = (tanh(w) / (2 - 1e-6) + 0.5) * 255, w = atanh(...) + U(-1e-4, 1e-4)
  loss   c * max(DSSIM - th, 0)^2 - c_diff * sum_m ||f_m(x') - f_m(x)||^2 / ||f_m(x)||,
         c = 1e6; c_diff doubled while DSSIM < th, halved otherwise, within [1/129, 129]
  step   Adadelta(lr); after the first iteration one extra -0.01 * sign(grad) step
  keep   the iterate with the largest feature shift among those with DSSIM <= 1.1 * th
  merge  resize(cloaked) - resize(original) at the padded-square size, cropped to the
         box, added to the full-resolution original; per-pixel clip +-15/255
All faces of a photo are optimized together (one batch).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from cloaker.cloak.ssim import ssim_map
from cloaker.errors import CancelledError
from cloaker.models.base import Extractor

TH = 0.012
STEPS = 75
LR = 20.0
MARGIN = 30
CROP = 112
CLIP = 15 / 255
C = 1e6


def _square(box: np.ndarray, hw: tuple[int, int]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) + 2 * MARGIN
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2))


def _cut(rgb: np.ndarray, sq: tuple[int, int, int, int]) -> np.ndarray:
    """The padded square; parts outside the image are zero, as Fawkes pads."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = sq
    out = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return out


def _to_t(a: np.ndarray, size: int | None = None) -> torch.Tensor:
    t = torch.from_numpy(np.array(a, np.float32)).permute(2, 0, 1)[None] / 255
    if size is not None:
        t = F.interpolate(
            t, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    return t


def _dssim_rgb(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image DSSIM over RGB channels (as Fawkes computes it on its crops): (B,)."""
    per = [ssim_map(a[:, c : c + 1], b[:, c : c + 1]).mean(dim=(1, 2, 3)) for c in range(3)]
    return (1 - torch.stack(per, 1).mean(1)) / 2


def fawkes_cloak(
    rgb: np.ndarray,
    boxes: np.ndarray,
    extractors: Mapping[str, Extractor],
    *,
    th: float = TH,
    steps: int = STEPS,
    lr: float = LR,
    seed: int = 0,
    on_step: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """Cloak the faces in ``boxes`` (F, 4) of ``rgb`` (H, W, 3) uint8; returns uint8."""
    gen = torch.Generator().manual_seed(seed)
    squares = [_square(b, rgb.shape[:2]) for b in boxes]
    crops = torch.cat([_to_t(_cut(rgb, sq), CROP) for sq in squares])  # (F, 3, 112, 112)
    x0 = crops * 255
    w = torch.atanh(((x0 / 255) - 0.5) * (2 - 1e-6))
    w = (w + (torch.rand(w.shape, generator=gen) * 2e-4 - 1e-4)).requires_grad_(True)

    def render(wt: torch.Tensor) -> torch.Tensor:
        return torch.tanh(wt) / (2 - 1e-6) + 0.5  # in [0, 1]

    def feats(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            n: e._forward(
                F.interpolate(x, size=(e.size, e.size), mode="bilinear", align_corners=False)
            )
            for n, e in extractors.items()
        }

    with torch.no_grad():
        f0 = feats(crops)
    opt = torch.optim.Adadelta([w], lr=lr)
    c_diff = torch.ones(len(squares))
    best = crops.clone()
    best_shift = torch.full((len(squares),), -1.0)
    for step in range(steps):
        if cancel is not None and cancel.is_set():
            raise CancelledError("cancelled")
        x = render(w)
        ds = _dssim_rgb(crops, x)
        f = feats(x)
        shift = sum((f[n] - f0[n]).pow(2).sum(1) / f0[n].norm(dim=1) for n in f)
        loss = (C * torch.relu(ds - th) ** 2 - c_diff * shift).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad = w.grad.detach().clone()
        opt.step()
        with torch.no_grad():
            if step == 0:
                w -= 0.01 * grad.sign()
            c_diff = torch.where(ds.detach() < th, c_diff * 2, c_diff / 2).clamp(1 / 129, 129)
            ok = (ds.detach() <= 1.1 * th) & (shift.detach() > best_shift)
            best[ok] = x.detach()[ok]
            best_shift = torch.where(ok, shift.detach(), best_shift)
        if on_step is not None:
            on_step(step + 1, steps)
    out = rgb.astype(np.float32) / 255
    h, wd = rgb.shape[:2]
    for i, sq in enumerate(squares):
        side = sq[2] - sq[0]
        diff = F.interpolate(
            best[i : i + 1], size=(side, side), mode="bilinear", align_corners=False
        ) - F.interpolate(crops[i : i + 1], size=(side, side), mode="bilinear", align_corners=False)
        diff = diff.clamp(-CLIP, CLIP)[0].permute(1, 2, 0).numpy()
        bx0, by0, bx1, by1 = (round(v) for v in boxes[i])
        bx0, by0, bx1, by1 = max(0, bx0), max(0, by0), min(wd, bx1), min(h, by1)
        out[by0:by1, bx0:bx1] += diff[by0 - sq[1] : by1 - sq[1], bx0 - sq[0] : bx1 - sq[0]]
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)
