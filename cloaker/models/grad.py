"""Gradient surgery shared by the surrogates' code: values pass unchanged, gradients scaled."""

from __future__ import annotations

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


def residual_add(a: torch.Tensor, b: torch.Tensor, a_later: bool, gamma: float) -> torch.Tensor:
    """``a + b`` where one operand is a residual branch and the other its skip connection:
    the operand computed later (``a`` when ``a_later``) is the branch, and passes ``gamma`` of
    its gradient (the skip gradient method)."""
    if gamma == 1.0 or a.shape != b.shape:
        return a + b
    return scale_grad(a, gamma) + b if a_later else a + scale_grad(b, gamma)
