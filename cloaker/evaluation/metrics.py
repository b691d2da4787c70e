"""Visibility and verification metrics on uint8 photos.

Visibility: SSIM on luminance (BT.601) with the engine's own window (``cloaker.cloak.ssim``:
11-tap Gaussian, sigma 1.5, "valid" positions), so the numbers here are the ones the
mode budgets are defined on; DSSIM = (1 - SSIM) / 2; PSNR over the three RGB channels.

Verification: a face is embedded by aligning its 5 landmarks to the extractor's template
(the same alignment the engine optimizes through) and two faces match iff the L2 distance
of their normalised embeddings is below the extractor's ``threshold``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from cloaker.align import crop_matrices, to_tensor, warp
from cloaker.cloak.ssim import gaussian_blur, luminance, ssim_map
from cloaker.models.base import Extractor

WINDOW = 11  # SSIM window side: regions smaller than this are grown to fit


def _luma(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 1, H, W) float32 luma in [0, 1]."""
    _check_rgb(rgb)
    return luminance(to_tensor(rgb))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean luminance SSIM of two (H, W, 3) uint8 photos of the same size (>= 11 px)."""
    _check_pair(a, b)
    if min(a.shape[:2]) < WINDOW:
        raise ValueError(f"SSIM needs at least {WINDOW}x{WINDOW} px, got {a.shape[:2]}")
    with torch.no_grad():
        return float(ssim_map(_luma(a), _luma(b)).mean())


def dssim(a: np.ndarray, b: np.ndarray) -> float:
    """(1 - SSIM) / 2 of two photos: 0 = identical."""
    return (1.0 - ssim(a, b)) / 2.0


def box_pixels(box: np.ndarray, hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """Float box (x1, y1, x2, y2) -> integer (x0, y0, x1, y1), rounded as the engine rounds
    its budget boxes, clipped to the image and grown to at least the SSIM window."""
    h, w = hw
    x0, y0, x1, y1 = (round(float(v)) for v in box)
    x0, x1 = _fit(max(0, x0), min(w, x1), w)
    y0, y1 = _fit(max(0, y0), min(h, y1), h)
    return x0, y0, x1, y1


def grow_box(box: np.ndarray, k: float) -> np.ndarray:
    """Box (x1, y1, x2, y2) grown by ``k`` of its width / height on each side."""
    x0, y0, x1, y1 = (float(v) for v in box)
    gw, gh = (x1 - x0) * k, (y1 - y0) * k
    return np.array([x0 - gw, y0 - gh, x1 + gw, y1 + gh])


def face_ssim(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> float:
    """Luminance SSIM of the face box ``box`` (x1, y1, x2, y2, native pixels) of two photos."""
    _check_pair(a, b)
    x0, y0, x1, y1 = box_pixels(box, a.shape[:2])
    return ssim(a[y0:y1, x0:x1], b[y0:y1, x0:x1])


def face_colour_shift(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> float:
    """How far the face's colours moved, 0-255 units: the 99th percentile over the face box
    of the change in chroma (Cb, Cr; BT.601), after a blur the size of SSIM's window at face
    scale (colour is seen at low resolution, so chroma noise that averages out is not
    counted). A changed iris or lip colour shows here; luminance SSIM cannot see it."""
    _check_pair(a, b)
    x0, y0, x1, y1 = box_pixels(box, a.shape[:2])
    diff = to_tensor(b[y0:y1, x0:x1]) - to_tensor(a[y0:y1, x0:x1])
    cb = -0.168736 * diff[:, 0] - 0.331264 * diff[:, 1] + 0.5 * diff[:, 2]
    cr = 0.5 * diff[:, 0] - 0.418688 * diff[:, 1] - 0.081312 * diff[:, 2]
    sigma = max(0.5, 1.5 * min(x1 - x0, y1 - y0) / 112)
    chroma = gaussian_blur(torch.stack([cb, cr], 1), sigma).norm(dim=1)
    return float(torch.quantile(chroma.flatten(), 0.99)) * 255


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over RGB (peak 255); ``inf`` for identical photos."""
    _check_pair(a, b)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


def embed_faces(extractor: Extractor, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Embeddings of the faces at ``landmarks`` (F, 5, 2) in ``rgb`` (H, W, 3) uint8.

    Returns (F, D) float32, L2-normalised, computed on the extractor's device without
    gradients."""
    _check_rgb(rgb)
    lm = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    device = device_of(extractor)
    mats = crop_matrices(lm, np.asarray(extractor.template, np.float64))
    with torch.no_grad():
        crops = warp(to_tensor(rgb, device), mats, extractor.size)
        return extractor.embed(crops).float().cpu().numpy()


def mean_embedding(embeddings: np.ndarray) -> np.ndarray:
    """Renormalised mean of (N, D) normalised embeddings -> (D,), the identity's centre.

    Renormalised because thresholds are defined on distances between unit vectors."""
    emb = np.asarray(embeddings, np.float64)
    if emb.ndim != 2 or len(emb) == 0:
        raise ValueError(f"need (N>=1, D) embeddings, got {emb.shape}")
    centre = emb.mean(axis=0)
    norm = float(np.linalg.norm(centre))
    if norm == 0.0:
        raise ValueError("embeddings cancel out: their mean is the zero vector")
    return centre / norm


@dataclass(frozen=True)
class Match:
    """How one face compares with a reference embedding in one model."""

    cosine: float
    distance: float
    threshold: float

    @property
    def match(self) -> bool:
        """The model would say "same person"."""
        return self.distance < self.threshold

    def to_json(self) -> dict[str, float | bool]:
        return {"cosine": self.cosine, "distance": self.distance, "match": self.match}


def compare(reference: np.ndarray, embedding: np.ndarray, threshold: float) -> Match:
    """Compare two embeddings (D,) (normalised or not; both are normalised here)."""
    a = np.asarray(reference, np.float64).ravel()
    b = np.asarray(embedding, np.float64).ravel()
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    return Match(
        cosine=float(a @ b), distance=float(np.linalg.norm(a - b)), threshold=float(threshold)
    )


def device_of(extractor: Extractor) -> torch.device:
    """Where the extractor's weights live (graph extractors hold buffers only)."""
    for tensor in (*extractor.parameters(), *extractor.buffers()):
        return tensor.device
    return torch.device("cpu")


def _fit(a: int, b: int, n: int) -> tuple[int, int]:
    if b - a >= WINDOW or n < WINDOW:
        return a, b
    c = (a + b) // 2
    a = max(0, min(n - WINDOW, c - WINDOW // 2))
    return a, a + WINDOW


def _check_rgb(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    _check_rgb(a)
    _check_rgb(b)
    if a.shape != b.shape:
        raise ValueError(f"photos differ in size: {a.shape} vs {b.shape}")
