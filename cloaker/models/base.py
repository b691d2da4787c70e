"""The interface every face-recognition extractor exposes.

An extractor takes aligned face crops and returns L2-normalised embeddings. Alignment is
by a similarity transform from the detector's 5 landmarks (left eye, right eye, nose,
left mouth corner, right mouth corner, in image coordinates; "left" = image left) to the
extractor's ``template`` in crop pixel coordinates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import ClassVar

import torch
from torch import nn

# Sees the middle layer's output; a tensor it returns replaces that output.
Sink = Callable[[torch.Tensor], torch.Tensor | None]


class Extractor(nn.Module):
    """Base class. Subclasses set the class attributes and implement ``_forward``.

    - ``name``: registry name of the model.
    - ``size``: side of the square crop in pixels.
    - ``template``: (5, 2) landmark positions in crop pixels (x, y).
    - ``threshold``: two faces match iff the L2 distance between their *normalised*
      embeddings is below it (published value where one exists, else calibrated; the
      subclass docstring says which).
    - ``differentiable``: False for reference-only models that cannot join the optimization.
    """

    name: ClassVar[str]
    size: ClassVar[int]
    template: ClassVar[tuple[tuple[float, float], ...]]
    threshold: ClassVar[float]
    differentiable: ClassVar[bool] = True

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw embeddings for crops ``x`` (B, 3, size, size), RGB in [0, 1]."""
        raise NotImplementedError

    def embed(self, crops: torch.Tensor) -> torch.Tensor:
        """(B, 3, size, size) RGB in [0, 1] -> (B, D) L2-normalised embeddings."""
        if crops.ndim != 4 or crops.shape[1] != 3:
            raise ValueError(f"expected (B, 3, H, W) crops, got {tuple(crops.shape)}")
        raw = self._forward(crops)
        return torch.nn.functional.normalize(raw, dim=1)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return self.embed(crops)

    def embed_with_middle(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``embed(crops)`` and the activations (B, ...) of a layer about half-way through
        the network, for feature-level losses (layers of different networks agree more
        than their embeddings do)."""
        seen: list[torch.Tensor] = []
        with self._tap(seen.append):
            emb = self.embed(crops)
        if not seen:
            raise RuntimeError(f"{self.name}: the middle layer did not run")
        return emb, seen[-1]

    @contextlib.contextmanager
    def middle_dropout(self, p: float) -> Iterator[None]:
        """While active, the middle layer's feature maps go through dropout with rate ``p``
        (a new mask every forward pass): each step then attacks a slightly different model,
        which helps the cloak transfer to models it never saw (DFANet, Zhong & Deng 2020)."""
        with self._tap(lambda out: torch.nn.functional.dropout(out, p, training=True)):
            yield

    def middle_module(self) -> nn.Module:
        """The module whose output ``embed_with_middle`` returns (subclasses choose)."""
        raise NotImplementedError(f"{self.name} has no middle layer to tap")

    def residual_branch_ends(self) -> list[nn.Module]:
        """The last module of every residual branch, whose output the skip gradient method
        scales (``cloaker.cloak.sgm``); none for a plain chain. Replayed graphs scale their
        residual adds themselves (``residual_scale``)."""
        return []

    @contextlib.contextmanager
    def _tap(self, sink: Sink) -> Iterator[None]:
        handle = self.middle_module().register_forward_hook(lambda _m, _i, out: sink(out))
        try:
            yield
        finally:
            handle.remove()

    @classmethod
    def template_tensor(cls) -> torch.Tensor:
        return torch.tensor(cls.template, dtype=torch.float32)

    @classmethod
    def distance(cls, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """L2 distance between normalised embeddings (B, D) x (B, D) -> (B,)."""
        return (a - b).norm(dim=-1)

    @classmethod
    def matches(cls, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return cls.distance(a, b) < cls.threshold


class GraphExtractor(Extractor):
    """An extractor replayed from a foreign graph held as ``graph`` (our TFLite or ONNX
    replay: frozen buffers, any batch size). Subclasses map crops in [0, 1] to the graph's
    input in ``_prepare``. The middle layer is tapped inside the replay, which has no
    submodules to hook."""

    def __init__(self, graph: nn.Module) -> None:
        super().__init__()
        self.graph = graph
        self.eval()

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.size, self.size):
            raise ValueError(f"expected {self.size}x{self.size} crops, got {tuple(x.shape)}")
        return self.graph(self._prepare(x))

    @contextlib.contextmanager
    def _tap(self, sink: Sink) -> Iterator[None]:
        self.graph.tap = (self.graph.middle_output(), sink)
        try:
            yield
        finally:
            self.graph.tap = None
