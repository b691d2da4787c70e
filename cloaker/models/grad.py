"""Gradient surgery shared by the surrogates' code: values pass unchanged, gradients scaled."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


class _ScaleGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, gamma: float) -> torch.Tensor:  # type: ignore[override]
        ctx.gamma = gamma
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return g * ctx.gamma, None


def scale_grad(x: torch.Tensor, gamma: float) -> torch.Tensor:
    """``x`` itself in the forward pass; its gradient times ``gamma`` in the backward pass."""
    if gamma == 1.0 or not x.requires_grad:
        return x
    return _ScaleGrad.apply(x, gamma)


def mark_residual_adds(
    steps: Sequence[Any], add: str, source: object, is_const: Callable[[object], bool]
) -> None:
    """Once, when a graph is compiled: every ``add`` step of two activations gets
    ``attrs["branch"]``, the position (0 or 1) of the operand computed later, which is the
    residual branch (the other is its skip connection). ``source``: the graph's input."""
    made: dict[object, int] = {source: -1}  # the step each activation came from
    for i, step in enumerate(steps):
        if step.kind == add and len(step.inputs) == 2 and not any(map(is_const, step.inputs)):
            a, b = step.inputs
            step.attrs["branch"] = 0 if made[a] > made[b] else 1
        made[step.output] = i


def residual_add(a: torch.Tensor, b: torch.Tensor, branch: int, gamma: float) -> torch.Tensor:
    """``a + b`` where operand ``branch`` (0: ``a``, 1: ``b``) is a residual branch and the
    other its skip connection: the branch passes ``gamma`` of its gradient (the skip
    gradient method)."""
    if gamma == 1.0 or a.shape != b.shape:
        return a + b
    return scale_grad(a, gamma) + b if branch == 0 else a + scale_grad(b, gamma)
