"""Small parts of the optimizer that need no model: gradient smoothing, mode lookup, the
budget's projection and the surrogates' worker threads."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from cloaker.cloak import ssim as ssim_mod
from cloaker.cloak.modes import FAWKES_MODES, MODE_NAMES, MODES, FawkesMode, resolve_mode
from cloaker.cloak.optimizer import (
    _onto_budget,
    _project_apart,
    box_mask,
    face_crops,
    face_dssim,
    limit_chroma,
    photometric_jitter,
    run_surrogates,
    smooth,
)
from cloaker.cloak.ssim import gaussian_blur, luminance, ssim_map


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


def test_the_matrix_filters_match_the_convolutions_large_images_take(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Up to ``MATMUL_MAX`` px a side the blur and SSIM's window run as products with banded
    matrices; beyond it as grouped convolutions. Both give the same numbers, borders (the
    blur replicates them) and a blur wider than the image included."""
    g = torch.Generator().manual_seed(2)
    for shape, sigma in (((1, 3, 37, 52), 2.2), ((2, 1, 9, 13), 4.0)):
        x = torch.rand(*shape, generator=g)
        assert torch.allclose(gaussian_blur(x, sigma), ssim_mod._blur_conv(x, sigma), atol=1e-6)
    a = torch.rand(2, 1, 40, 31, generator=g)
    b = (a + 0.2 * torch.rand(2, 1, 40, 31, generator=g)).clamp(0, 1)
    by_matrix = ssim_map(a, b)
    monkeypatch.setattr(ssim_mod, "MATMUL_MAX", 8)
    assert torch.allclose(by_matrix, ssim_map(a, b), atol=1e-5)
    x = torch.rand(1, 2, 20, 20, generator=g)  # past the (patched) limit: the convolutions
    assert torch.equal(gaussian_blur(x, 1.5), ssim_mod._blur_conv(x, 1.5))


def test_ssim_map_keeps_a_batch_s_images_apart() -> None:
    # The local means of a batch are taken as the channels of one image: each image's SSIM
    # must still be its own, and identical images score 1.
    g = torch.Generator().manual_seed(1)
    a = torch.rand(3, 1, 30, 26, generator=g)
    b = (a + 0.3 * torch.randn(3, 1, 30, 26, generator=g)).clamp(0, 1)
    b[1] = a[1]
    both = ssim_map(a, b)
    assert both.shape == (3, 1, 20, 16)
    for i in range(3):
        assert torch.allclose(both[i : i + 1], ssim_map(a[i : i + 1], b[i : i + 1]), atol=1e-6)
    assert torch.allclose(both[1], torch.ones_like(both[1]), atol=1e-5)
    assert float(both[0].mean()) < 0.9


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


def test_photometric_jitter_changes_lighting_within_its_strength_and_passes_gradients() -> None:
    crops = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    crops.requires_grad_()
    out = photometric_jitter(crops, 0.2, np.random.default_rng(3))
    (grad,) = torch.autograd.grad(out.sum(), crops)
    out, crops = out.detach(), crops.detach()
    assert out.shape == crops.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert not torch.allclose(out, crops)
    # Inside (0, 1) each crop is moved by at most 0.1 of brightness plus 0.2 of its
    # deviation from its mean (at most 1).
    inside = (out > 0) & (out < 1)
    assert float((out - crops)[inside].abs().max()) <= 0.1 + 0.2 + 1e-6
    assert float(grad.abs().sum()) > 0
    same = photometric_jitter(crops, 0.0, np.random.default_rng(3))
    assert torch.allclose(same, crops)


def test_a_repeated_rescale_lands_a_capped_cloak_just_within_budget() -> None:
    """Where the cloak sits at its cap, DSSIM shrinks more slowly than the square of its
    amplitude and one square-root rescale leaves the face over budget; more rounds
    (``Mode.settle``) land it just under."""
    g = torch.Generator().manual_seed(0)
    base = gaussian_blur(torch.rand(1, 3, 96, 96, generator=g), 2.0)
    face = np.array([[28, 28, 68, 68]])
    budget = np.array([[28, 28, 68, 68], [16, 16, 80, 80]])  # the face, then the ring's
    mask = inner = box_mask(face, (96, 96))
    base_crops = face_crops(base, budget)

    def cloak(v: torch.Tensor) -> torch.Tensor:
        return v.clamp(-0.03, 0.03)

    def field(d: torch.Tensor) -> torch.Tensor:
        return d.clone()

    dssim = 0.03
    results = []
    for rounds in (1, 4):
        noise = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(1))
        delta = 0.1 * gaussian_blur(noise, 1.5)
        x = (base + cloak(delta) * mask).clamp(0, 1)
        assert float(face_dssim(base, x, budget, base_crops)[0]) > 1.25 * dssim
        limits = torch.full((2,), dssim)
        args = (base, cloak, field, mask, inner, budget, base_crops, limits, rounds)
        _, known = _project_apart(delta, field(delta), *args)
        x = (base + cloak(delta) * mask).clamp(0, 1)
        results.append((known, face_dssim(base, x, budget, base_crops)))
    (once, after_once), (settled, after) = results
    assert once is None and float(after_once[0]) > dssim
    assert settled is not None and torch.equal(settled, after)
    assert bool((after <= dssim).all()) and float(after[0]) > 0.95 * dssim


def test_an_averaged_cloak_is_scaled_up_or_down_just_within_budget() -> None:
    """``Mode.average`` returns a mean of cloaks, smaller than each; it is scaled onto the
    budget, from below or from above, and stays under the cap."""
    base = gaussian_blur(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)), 2)
    budget = np.array([[16, 16, 48, 48]])
    mask = box_mask(budget, (64, 64))
    crops = face_crops(base, budget)
    limits = torch.tensor([0.02])
    noise = gaussian_blur(torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2)), 2)
    for amplitude in (0.02, 0.3):
        c = (amplitude * noise).clamp(-0.1, 0.1)
        out = _onto_budget(c, base, mask, budget, crops, limits, 0.1)
        ds = float(face_dssim(base, (base + out * mask).clamp(0, 1), budget, crops)[0])
        assert 0.97 * 0.02 <= ds <= 0.02
        assert float(out.abs().max()) <= 0.1


def test_outer_regions_take_their_own_budget() -> None:
    mid = MODES["mid"]
    assert mid.limits(1, 2) == [mid.dssim, mid.dssim]
    wider = replace(mid, ring_budget=1.5)
    assert wider.limits(2, 4) == [mid.dssim] * 2 + [1.5 * mid.dssim] * 2
    assert wider.limits(2, 2) == [mid.dssim] * 2  # no ring: face regions only


def test_resolve_mode_takes_names_and_objects() -> None:
    assert resolve_mode("mid") is MODES["mid"]
    assert isinstance(resolve_mode("fawkes-high"), FawkesMode)
    assert resolve_mode(FAWKES_MODES["fawkes"]) is FAWKES_MODES["fawkes"]
    assert set(MODE_NAMES) == {"low", "mid", "high", "fawkes-low", "fawkes", "fawkes-high"}
    with pytest.raises(ValueError, match=r"unknown mode .ultra.*fawkes-low"):
        resolve_mode("ultra")


def test_wide_smoothing_at_half_resolution_matches_the_full_blur_on_smooth_fields() -> None:
    flat = torch.full((1, 3, 61, 64), -0.5)
    assert torch.allclose(smooth(flat, 6.0), flat, atol=1e-6)
    yy, xx = torch.meshgrid(torch.arange(121.0), torch.arange(130.0), indexing="ij")
    field = torch.sin(xx / 9) * torch.cos(yy / 13)  # detail coarser than the blur
    field = field.expand(1, 3, -1, -1).contiguous()
    want, got = gaussian_blur(field, 6.0), smooth(field, 6.0)
    assert got.shape == field.shape
    inner = (slice(None), slice(None), slice(20, -20), slice(20, -20))  # borders replicate
    assert (got - want)[inner].abs().max() < 0.02 * want[inner].abs().max()
    small = torch.randn(1, 1, 30, 30, generator=torch.Generator().manual_seed(1))
    assert torch.equal(smooth(small, 2.0), gaussian_blur(small, 2.0))  # narrow: full res


def test_surrogates_run_side_by_side_on_a_multi_threaded_cpu_in_order() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen: dict[str, tuple[str, int]] = {}

        def fn(name: str) -> str:
            seen[name] = (threading.current_thread().name, torch.get_num_threads())
            return name.upper()

        names = ["facenet_keras", "dlib_resnet", "sface"]
        assert run_surrogates(names, fn, torch.device("cpu")) == [
            "FACENET_KERAS",
            "DLIB_RESNET",
            "SFACE",
        ]
        assert all(t.startswith("cloaker-surrogate") for t, _ in seen.values())
        assert {n for _, n in seen.values()} == {1}  # two workers share the two threads
        assert torch.get_num_threads() == 2  # given back
        # The costliest are handed out first: with two workers the cheapest starts last.
        started: list[str] = []
        lock = threading.Lock()

        def record(name: str) -> str:
            with lock:
                started.append(name)
            return name

        costs = {"facenet_keras": 1.0, "dlib_resnet": 3.0, "sface": 2.0}
        got = run_surrogates(names, record, torch.device("cpu"), cost=costs.__getitem__)
        assert got == names and started[-1] == "facenet_keras"
        seen.clear()
        assert run_surrogates(names, fn, torch.device("cpu"), allowed=False)[2] == "SFACE"
        assert {t for t, _ in seen.values()} == {threading.current_thread().name}
        torch.set_num_threads(1)
        seen.clear()
        run_surrogates(names, fn, torch.device("cpu"))
        assert {t for t, _ in seen.values()} == {threading.current_thread().name}
    finally:
        torch.set_num_threads(threads)


def test_a_failing_surrogate_fails_the_step_and_gives_the_threads_back() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:

        def fn(name: str) -> int:
            if name == "b":
                raise RuntimeError("boom in b")
            return 1

        with pytest.raises(RuntimeError, match="boom in b"):
            run_surrogates(["a", "b", "c"], fn, torch.device("cpu"))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
