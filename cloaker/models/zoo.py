"""Load extractors by registry name. One place that knows which loader builds which model."""

from __future__ import annotations

from collections.abc import Callable

import torch

from cloaker.models.base import Extractor

# The cloak is optimized against three models of three families (Inception-ResNet
# softmax/triplet, dlib's ResNet metric learning, MobileNet with a hypersphere margin loss);
# MobileFaceNet never joins the optimization and serves as the held-out judge in
# `cloaker verify` and `cloaker eval`. Transfer claims come from leave-one-model-out runs
# over all four (BENCHMARKS.md).
ENSEMBLE = ("facenet_keras", "dlib_resnet", "sface")
HELD_OUT = ("mobilefacenet",)
# Loadable by name (``--ensemble`` / ``--heldout``) but in neither default: arcface_mbf,
# insightface's ArcFace MobileFaceNet, a surrogate candidate whose weights are licensed for
# non-commercial research only.


def _loaders() -> dict[str, Callable[..., Extractor]]:
    # Imported lazily: each module pulls in torch and its own file readers.
    from cloaker.models.arcface_mbf import load_arcface_mbf
    from cloaker.models.dlib_resnet import load_dlib_resnet
    from cloaker.models.facenet import load_facenet
    from cloaker.models.mobilefacenet import load_mobilefacenet
    from cloaker.models.sface import load_sface

    return {
        "arcface_mbf": load_arcface_mbf,
        "dlib_resnet": load_dlib_resnet,
        "facenet_keras": load_facenet,
        "mobilefacenet": load_mobilefacenet,
        "sface": load_sface,
    }


def load_extractor(name: str, device: torch.device | str | None = None) -> Extractor:
    """Build the extractor ``name`` on ``device`` in eval mode, gradients off for weights.

    Raises ``cloaker.errors.ModelError`` when the weights are missing or corrupt and
    ``ValueError`` for an unknown name."""
    loaders = _loaders()
    if name not in loaders:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(loaders))}")
    model = loaders[name](device=device)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return _for_speed(model)


def _for_speed(model: Extractor) -> Extractor:
    """Inference-only rewrites that keep the embeddings (to float rounding): FaceNet's batch
    norms folded into its convolutions, and 4-D weights in channels-last order, which
    oneDNN's CPU convolutions run faster, forward and backward (FaceNet 15%, dlib 20% per
    step here; ``bench/embed_timing.py``)."""
    from cloaker.models.facenet import FaceNet

    if isinstance(model, FaceNet):
        model.fuse_batch_norms()
    device = next((t.device for t in (*model.parameters(), *model.buffers())), None)
    if device is not None and device.type == "cpu":
        model.to(memory_format=torch.channels_last)
    return model
