"""Skip gradient method (SGM, Wu et al. 2020): in a surrogate's residual blocks the
gradient through the residual branch is scaled by ``gamma`` < 1, the skip connection's
kept, forward values unchanged.

Why: gradients through the skip connections carry the lower-level features that networks
of other families share; weighted up, the cloak transfers better, most of all to crops the
surrogates were not aligned for (BENCHMARKS.md, issue 13).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from torch import nn

from cloaker.models.base import Extractor
from cloaker.models.grad import scale_grad


def branch_ends(model: nn.Module) -> list[nn.Module]:
    """The last module of every residual branch in ``model``'s extractors (each model names
    its own: ``Extractor.residual_branch_ends``)."""
    return [
        end for m in model.modules() if isinstance(m, Extractor) for end in m.residual_branch_ends()
    ]


def graphs(model: nn.Module) -> list[nn.Module]:
    """The replayed graphs in ``model`` (ONNX and TFLite surrogates), whose residual adds
    take ``residual_scale``."""
    return [m for m in model.modules() if hasattr(m, "residual_scale")]


@contextmanager
def skip_gradients(model: nn.Module, gamma: float) -> Iterator[None]:
    """While active, ``model``'s residual branches pass ``gamma`` of their gradient. A model
    is used by one thread at a time, so its hooks and graph settings are its own."""
    with ExitStack() as stack:
        for end in branch_ends(model):
            h = end.register_forward_hook(lambda _m, _i, out: scale_grad(out, gamma))
            stack.callback(h.remove)
        for g in graphs(model):
            g.residual_scale = gamma
            stack.callback(setattr, g, "residual_scale", 1.0)
        yield
