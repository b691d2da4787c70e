"""MobileFaceNet run by Google's LiteRT interpreter (PyPI ``ai-edge-litert``): the reference
that the PyTorch port is checked against, and an independent evaluation-only extractor.

The .tflite graph has a fixed batch of 2, so a batch is run in chunks of 2 and an odd last
crop is padded with a copy of itself (its output is discarded). Runs on the CPU; crops may
live on any device and the embeddings come back on that device. Not differentiable.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from cloaker.errors import ModelError
from cloaker.models.base import Extractor
from cloaker.models.mobilefacenet import EMBEDDING_DIM, SIZE, TEMPLATE, THRESHOLD

GRAPH_BATCH = 2


class MobileFaceNetLiteRT(Extractor):
    """MobileFaceNet through ``ai_edge_litert.interpreter.Interpreter`` (XNNPACK, float32).

    Same interface as ``MobileFaceNetTorch``: ``embed(crops)`` takes (B, 3, 112, 112) RGB in
    [0, 1] and returns (B, 192) L2-normalised embeddings; same ``template`` and
    ``threshold``. ``differentiable`` is False: it cannot join the optimization.
    ``num_threads``: interpreter threads (None = LiteRT's default).
    """

    name: ClassVar[str] = "mobilefacenet"
    size: ClassVar[int] = SIZE
    template: ClassVar[tuple[tuple[float, float], ...]] = TEMPLATE
    threshold: ClassVar[float] = THRESHOLD
    differentiable: ClassVar[bool] = False

    def __init__(self, path: Path | str, num_threads: int | None = None) -> None:
        super().__init__()
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise ModelError(
                "the LiteRT reference needs ai-edge-litert: pip install 'cloaker[eval]'"
            ) from exc
        try:
            self._interp = Interpreter(model_path=str(path), num_threads=num_threads)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"LiteRT cannot load {path}: {exc}") from exc
        (inp,) = self._interp.get_input_details()
        (out,) = self._interp.get_output_details()
        if tuple(inp["shape"]) != (GRAPH_BATCH, SIZE, SIZE, 3) or tuple(out["shape"]) != (
            GRAPH_BATCH,
            EMBEDDING_DIM,
        ):
            raise ModelError(f"{path}: unexpected graph {inp['shape']} -> {out['shape']}")
        self._in, self._out = inp["index"], out["index"]

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (SIZE, SIZE):
            raise ValueError(f"expected {SIZE}x{SIZE} crops, got {tuple(x.shape)}")
        nhwc = x.detach().to("cpu", torch.float32).permute(0, 2, 3, 1).numpy()
        nhwc = (nhwc * 255.0 - 127.5) / 128.0
        outs = []
        for start in range(0, len(nhwc), GRAPH_BATCH):
            chunk = nhwc[start : start + GRAPH_BATCH]
            n = len(chunk)
            if n < GRAPH_BATCH:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], GRAPH_BATCH - n, 0)])
            self._interp.set_tensor(self._in, np.ascontiguousarray(chunk, dtype=np.float32))
            self._interp.invoke()
            outs.append(self._interp.get_tensor(self._out)[:n].copy())
        raw = np.concatenate(outs) if outs else np.zeros((0, EMBEDDING_DIM), np.float32)
        return torch.from_numpy(raw).to(x.device)
