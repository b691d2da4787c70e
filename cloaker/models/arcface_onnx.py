"""The standard ArcFace 112x112 crop, and the base of the extractors replayed from an ONNX
graph that take it (``sface``, ``arcface_mbf``).

A subclass sets ``name``, ``title`` (the model's name in error messages), ``embedding_dim``,
``threshold`` and ``_prepare``; the graph check, the build through ``OnnxModule`` and the
loader are here.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Self

import torch

from cloaker.device import pick_device
from cloaker.errors import ModelError
from cloaker.models.base import Extractor, GraphExtractor
from cloaker.models.manager import require
from cloaker.models.onnx_reader import OnnxModel, read_onnx
from cloaker.models.onnx_torch import OnnxModule

ARCFACE_SIZE = 112
# The standard ArcFace/InsightFace 112x112 five-point template (left eye, right eye, nose,
# left and right mouth corners, in crop pixels).
ARCFACE_TEMPLATE: tuple[tuple[float, float], ...] = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)


class ArcFaceOnnxExtractor(GraphExtractor):
    """An ONNX face model replayed by ``OnnxModule`` on ArcFace-aligned 112x112 crops;
    differentiable. Weights are frozen buffers; gradients flow to the input only."""

    title: ClassVar[str]
    embedding_dim: ClassVar[int]
    size: ClassVar[int] = ARCFACE_SIZE
    template: ClassVar[tuple[tuple[float, float], ...]] = ARCFACE_TEMPLATE
    differentiable: ClassVar[bool] = True

    def __init__(self, graph: OnnxModule) -> None:
        super().__init__(graph)

    @classmethod
    def check_graph(cls, module: OnnxModule, path: Path) -> None:
        """Raise ``ModelError`` unless the graph maps (N, 3, 112, 112) to
        (N, ``embedding_dim``)."""
        shape_in, shape_out = module.input_shape[1:], module.output_shape[1:]
        if shape_in != (3, cls.size, cls.size) or shape_out != (cls.embedding_dim,):
            raise ModelError(
                f"{path}: graph maps {module.input_shape} -> {module.output_shape}, expected "
                f"(N, 3, {cls.size}, {cls.size}) -> (N, {cls.embedding_dim}); not {cls.title}"
            )

    @classmethod
    def build(cls, model: OnnxModel, path: Path, fold_bn: bool = True) -> Self:
        module = OnnxModule(model, fold_bn=fold_bn)
        cls.check_graph(module, path)
        return cls(module)

    @classmethod
    def load(
        cls,
        path: Path | str | None = None,
        device: torch.device | str | None = None,
    ) -> Extractor:
        """Load the model from ``path`` (default: the models dir) on ``device`` (None picks
        CUDA, then MPS, then CPU). Raises ``ModelError`` when the file is missing,
        unreadable, corrupt or not this model."""
        if path is None:
            path = require(cls.name)  # present and checksum-verified, else how to fetch it
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{cls.title} model not found at {path}")
        model = cls.build(read_onnx(path), path)
        dev = device if isinstance(device, torch.device) else pick_device(device)
        return model.to(dev)
