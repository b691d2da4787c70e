"""Every extractor exposes a middle layer for feature-level losses, without changing its
embeddings and without leaving a hook behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cloaker.models.zoo import load_extractor

NAMES = ("facenet_keras", "dlib_resnet", "sface", "mobilefacenet", "arcface_mbf")


@pytest.mark.parametrize("name", NAMES)
def test_middle_layer_is_tapped_and_released(models_dir: Path, name: str) -> None:
    ext = load_extractor(name, torch.device("cpu"))
    x = torch.rand(2, 3, ext.size, ext.size, generator=torch.Generator().manual_seed(0))
    x.requires_grad_(True)
    emb, mid = ext.embed_with_middle(x)
    assert torch.allclose(emb, ext.embed(x), atol=1e-6)
    assert mid.ndim == 4 and mid.shape[0] == 2 and mid.shape[-1] < ext.size // 4
    mid.square().mean().backward()  # the feature loss reaches the pixels
    assert x.grad is not None and x.grad.abs().sum() > 0
    # Released: no hook or tap is left to fire on the next plain forward.
    graph = getattr(ext, "graph", None)
    if graph is not None:  # replayed graphs tap inside their own forward
        assert graph.tap is None
    else:
        assert not ext.middle_module()._forward_hooks
