"""Alignment: the similarity fit is exact on exact data, and the warp cuts the right pixels
and passes gradients back to the image."""

from __future__ import annotations

import numpy as np
import pytest

from cloaker.align import crop_matrices, similarity_transform, to_tensor, transform_scale, warp

TEMPLATE = np.array(
    [(38.29, 51.70), (73.53, 51.50), (56.03, 71.74), (41.55, 92.37), (70.73, 92.20)]
)


@pytest.mark.parametrize("angle,scale", [(0.0, 1.0), (0.3, 2.5), (-1.0, 0.4)], ids=str)
def test_similarity_recovers_exact_transform(angle: float, scale: float) -> None:
    c, s = np.cos(angle), np.sin(angle)
    m = np.array([[scale * c, -scale * s, 10.0], [scale * s, scale * c, -4.0]])
    src = np.random.default_rng(0).uniform(0, 200, (5, 2))
    dst = src @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(similarity_transform(src, dst), m, atol=1e-9)
    assert transform_scale(m) == pytest.approx(scale)


def test_degenerate_landmarks_rejected() -> None:
    with pytest.raises(ValueError, match="degenerate"):
        similarity_transform(np.ones((5, 2)), TEMPLATE)


def test_identity_warp_reproduces_pixels() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    m = crop_matrices(TEMPLATE[None], TEMPLATE)
    crop = warp(to_tensor(rgb), m, 112)
    np.testing.assert_allclose(crop[0].permute(1, 2, 0).numpy() * 255, rgb, atol=1e-2)


def test_translation_warp_cuts_the_right_region() -> None:
    rgb = np.random.default_rng(2).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    m = np.array([[[1.0, 0.0, -50.0], [0.0, 1.0, -20.0]]])  # crop (0,0) = image (50,20)
    crop = warp(to_tensor(rgb), m, 64)[0].permute(1, 2, 0).numpy() * 255
    np.testing.assert_allclose(crop, rgb[20:84, 50:114], atol=1e-2)


def test_downscaling_warp_is_antialiased_and_differentiable() -> None:
    # A fine checkerboard: plain bilinear sampling at 1/8 scale would alias to a pattern;
    # an area-like downscale gives flat grey.
    yy, xx = np.mgrid[0:896, 0:896]
    board = (((yy + xx) % 2) * 255).astype(np.uint8)
    rgb = np.repeat(board[..., None], 3, axis=2)
    m = np.array([[[1 / 8, 0.0, 0.0], [0.0, 1 / 8, 0.0]]])
    img = to_tensor(rgb).requires_grad_(True)
    crop = warp(img, m, 112)
    assert abs(float(crop[:, :, 4:-4, 4:-4].mean()) - 0.5) < 0.02
    assert float(crop[:, :, 4:-4, 4:-4].std()) < 0.05
    crop.sum().backward()
    assert img.grad is not None
    # Every source pixel receives gradient, not only a sparse sampling grid.
    assert float((img.grad[0, 0, 64:-64, 64:-64] != 0).float().mean()) > 0.99
