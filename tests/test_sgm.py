"""The skip gradient method: residual branches pass a share of their gradient, every value
of the forward pass stays exact, and nothing is left behind once it ends."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cloaker.cloak.sgm import branch_ends, graphs, skip_gradients
from cloaker.models.grad import residual_add, scale_grad
from cloaker.models.zoo import load_extractor

# Residual blocks per model: dlib's ResNet and FaceNet's Inception-ResNet as modules,
# MobileFaceNet (TFLite) and InsightFace's MobileFaceNet (ONNX) as adds in their graphs.
# SFace is a plain chain of convolutions: SGM leaves it as it is.
RESIDUAL = {
    "dlib_resnet": True,
    "facenet_keras": True,
    "mobilefacenet": True,
    "arcface_mbf": True,
    "sface": False,
}


def test_scale_grad_keeps_values_and_scales_the_gradient() -> None:
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = scale_grad(x, 0.25)
    assert torch.equal(y, x)
    (g,) = torch.autograd.grad((y * torch.tensor([1.0, 2.0, 3.0])).sum(), x)
    assert torch.allclose(g, torch.tensor([0.25, 0.5, 0.75]))


def test_residual_add_scales_the_operand_computed_later() -> None:
    skip = torch.ones(3, requires_grad=True)
    res = torch.ones(3, requires_grad=True)
    out = residual_add(res, skip, branch=0, gamma=0.5)
    assert torch.equal(out, torch.full((3,), 2.0))
    gr, gs = torch.autograd.grad(out.sum(), (res, skip))
    assert torch.equal(gr, torch.full((3,), 0.5)) and torch.equal(gs, torch.ones(3))


@pytest.mark.parametrize("name", sorted(RESIDUAL))
def test_skip_gradients_changes_only_the_gradient_and_is_released(
    models_dir: Path, name: str
) -> None:
    ext = load_extractor(name, torch.device("cpu"))
    x = torch.rand(1, 3, ext.size, ext.size, generator=torch.Generator().manual_seed(0))
    x.requires_grad_(True)
    emb = ext.embed(x)
    (plain,) = torch.autograd.grad(emb[0].sum(), x)
    with skip_gradients(ext, 0.5):
        emb_sgm = ext.embed(x)
        (sgm,) = torch.autograd.grad(emb_sgm[0].sum(), x)
    assert torch.equal(emb_sgm, emb)  # forward values exact
    cos = float(F.cosine_similarity(plain.flatten(), sgm.flatten(), dim=0))
    if RESIDUAL[name]:
        assert len(branch_ends(ext)) + len(graphs(ext)) > 0
        assert cos < 0.99, f"{name}: the gradient did not change (cosine {cos:.4f})"
    else:
        assert cos > 0.9999
    # Released: no hook on the branch ends, every graph back to exact gradients.
    assert not any(end._forward_hooks for end in branch_ends(ext))
    assert all(g.residual_scale == 1.0 for g in graphs(ext))
    (after,) = torch.autograd.grad(ext.embed(x)[0].sum(), x)
    assert torch.allclose(after, plain, atol=1e-6)


@pytest.mark.parametrize("box_only", [False, True])
def test_optimizer_applies_sgm_to_the_views_the_mode_names(
    faces_dir: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch, box_only: bool
) -> None:
    """``sgm`` reaches every view of every surrogate; with ``sgm_box``, only the
    detector-box views (the aligned ones keep exact gradients)."""
    from dataclasses import replace

    from cloaker.cloak import optimizer
    from cloaker.cloak.modes import MODES
    from cloaker.engine import Engine
    from cloaker.imageio import decode

    calls: list[str] = []
    real_skip, real_box = optimizer.skip_gradients, optimizer.box_crops

    def skip(model: torch.nn.Module, gamma: float):  # type: ignore[no-untyped-def]
        assert gamma == 0.5
        calls.append("sgm")
        return real_skip(model, gamma)

    def box(*args: object) -> torch.Tensor:
        calls.append("box")
        return real_box(*args)

    monkeypatch.setattr(optimizer, "skip_gradients", skip)
    monkeypatch.setattr(optimizer, "box_crops", box)
    rgb = decode((faces_dir / "people/barack_obama/1.jpg").read_bytes()).rgb
    engine = Engine(device="cpu", ensemble=("dlib_resnet",))
    mode = replace(MODES["mid"], steps=10, target=99.0, sgm=0.5, sgm_box=box_only, balance=True)
    out, info = engine.cloak_array(rgb, mode, seed=0)
    boxes = calls.count("box")
    assert 0 < boxes < 10  # half the views are box crops, drawn at random
    assert calls.count("sgm") == (boxes if box_only else 10)
    if box_only:  # each SGM view is a box view: the box crop is cut just before it
        assert all(calls[i - 1] == "box" for i, c in enumerate(calls) if c == "sgm")
    assert info.faces == 1 and info.steps == 10 and out.shape == rgb.shape
    assert max(info.dssim) <= mode.dssim * 1.05  # within the budget, as without SGM
