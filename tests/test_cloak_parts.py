"""Small parts of the optimizer that need no model: gradient smoothing and mode lookup."""

from __future__ import annotations

import pytest
import torch

from cloaker.cloak.modes import FAWKES_MODES, MODE_NAMES, MODES, FawkesMode, resolve_mode
from cloaker.cloak.optimizer import limit_chroma
from cloaker.cloak.ssim import gaussian_blur, luminance


def test_gaussian_blur_keeps_constants_and_mass_and_spreads_a_spike() -> None:
    flat = torch.full((1, 3, 20, 24), 0.25)
    assert torch.allclose(gaussian_blur(flat, 2.0), flat, atol=1e-6)
    spike = torch.zeros(1, 1, 41, 41)
    spike[0, 0, 20, 20] = 1.0
    out = gaussian_blur(spike, 3.0)
    assert out.shape == spike.shape
    assert out.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert out[0, 0, 20, 20] < 0.05 and out[0, 0, 20, 23] > 0.01  # spread over ~sigma
    assert torch.allclose(out, out.flip(-1), atol=1e-7)  # symmetric


def test_limit_chroma_keeps_luminance_and_scales_colour() -> None:
    d = torch.randn(1, 3, 8, 9, generator=torch.Generator().manual_seed(0))
    for factor in (0.0, 0.3, 1.0):
        out = limit_chroma(d, factor)
        assert torch.allclose(luminance(out), luminance(d), atol=1e-6)
    grey = limit_chroma(d, 0.0)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    assert torch.allclose(limit_chroma(d, 1.0), d, atol=1e-6)
    y = luminance(d)
    assert torch.allclose(limit_chroma(d, 0.3) - y, 0.3 * (d - y), atol=1e-6)


def test_resolve_mode_takes_names_and_objects() -> None:
    assert resolve_mode("mid") is MODES["mid"]
    assert isinstance(resolve_mode("fawkes-high"), FawkesMode)
    assert resolve_mode(FAWKES_MODES["fawkes"]) is FAWKES_MODES["fawkes"]
    assert set(MODE_NAMES) == {"low", "mid", "high", "fawkes-low", "fawkes", "fawkes-high"}
    with pytest.raises(ValueError, match=r"unknown mode .ultra.*fawkes-low"):
        resolve_mode("ultra")
