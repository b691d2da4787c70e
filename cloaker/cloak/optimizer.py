"""Cloaker's optimizer: push every face away from its own identity in every ensemble model,
under an L-infinity cap and a DSSIM budget, in expectation over site transforms.

Algorithm (per photo, all faces in one batch per model):
  e0 = embed(align(x))                             clean embeddings, once
  for each step (at most ``mode.steps``):
      x' = clip(x + delta)                         delta: (1, 3, h, w) at working resolution
      for each model m: crops = EOT(warp(x', jittered alignment))
                        loss += mean_faces cos(embed_m(crops), e0_m)
      loss += lam * sum_faces relu(DSSIM_face(x, x') - budget)
      Adam step on delta; project delta to [-linf, linf] and x' to [0, 1]
      lam doubles while any face is over budget and halves otherwise (as Fawkes adapts c)
      stop early once every face is past ``target * threshold`` in every model and within
      budget
Returns delta and per-step statistics. Shapes: x (1, 3, h, w) float in [0, 1].
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from cloaker.align import warp
from cloaker.cloak.eot import jitter_matrices, random_transform
from cloaker.cloak.modes import Mode
from cloaker.cloak.region import Region
from cloaker.cloak.ssim import luminance, ssim_map
from cloaker.errors import CancelledError
from cloaker.models.base import Extractor

StepFn = Callable[[int, int], None]


@dataclass
class OptimizeReport:
    """What the optimization did: steps run, whether it stopped early, and the final
    (EOT-sampled) distance of every face in every model, (F,) per model name."""

    steps: int = 0
    early_stop: bool = False
    distances: dict[str, list[float]] = field(default_factory=dict)
    dssim: list[float] = field(default_factory=list)


def face_dssim(base: torch.Tensor, x: torch.Tensor, boxes: np.ndarray) -> torch.Tensor:
    """Luminance DSSIM of each face box: images (1, 3, h, w), ``boxes`` (F, 4) int in the
    same pixel grid -> (F,). Boxes smaller than the 11-px window are grown to fit."""
    h, w = base.shape[-2:]
    yb, yx = luminance(base), luminance(x)
    out = []
    for x0, y0, x1, y1 in boxes:
        x0, x1 = _fit(int(x0), int(x1), w)
        y0, y1 = _fit(int(y0), int(y1), h)
        s = ssim_map(yb[..., y0:y1, x0:x1], yx[..., y0:y1, x0:x1]).mean()
        out.append((1 - s) / 2)
    return torch.stack(out)


def _fit(a: int, b: int, n: int, k: int = 11) -> tuple[int, int]:
    if b - a >= k:
        return a, b
    c = (a + b) // 2
    a = max(0, min(n - k, c - k // 2))
    return a, min(n, a + k)


def optimize(
    base: torch.Tensor,
    region: Region,
    extractors: Mapping[str, Extractor],
    mode: Mode,
    *,
    seed: int = 0,
    on_step: StepFn | None = None,
    cancel: threading.Event | None = None,
    gray: bool = False,
) -> tuple[torch.Tensor, OptimizeReport]:
    """Compute the perturbation for the working ROI ``base`` (1, 3, h, w) in [0, 1].

    Returns ``delta`` (1, 3, h, w), |delta| <= mode.linf, base + delta in [0, 1] (up to
    the final clamp). ``gray``: delta is shared by the three channels."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    boxes = np.round(region.boxes * region.scale).astype(int)
    with torch.no_grad():
        clean = {n: e.embed(warp(base, region.matrices[n], e.size)) for n, e in extractors.items()}
    delta = base.new_zeros((1, 1 if gray else 3, *base.shape[-2:]), requires_grad=True)
    opt = torch.optim.Adam([delta], lr=mode.linf / 4)
    lam = 10.0
    report = OptimizeReport()
    for step in range(mode.steps):
        if cancel is not None and cancel.is_set():
            raise CancelledError("cancelled")
        x = (base + delta).clamp(0, 1)
        loss = x.new_zeros(())
        past = True
        for name, ext in extractors.items():
            mats = jitter_matrices(region.matrices[name], ext.size, rng)
            emb = ext.embed(random_transform(warp(x, mats, ext.size), rng))
            loss = loss + (emb * clean[name]).sum(1).mean()
            dist = (emb - clean[name]).norm(dim=1).detach()
            report.distances[name] = dist.tolist()
            past = past and bool((dist > mode.target * ext.threshold).all())
        ds = face_dssim(base, x, boxes)
        over = ds - mode.dssim
        loss = loss + lam * torch.relu(over).sum() * 100
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            delta.clamp_(-mode.linf, mode.linf)
        within = bool((over <= 0).all())
        lam = min(lam * 2, 1e4) if not within else max(lam / 2, 1e-2)
        report.steps = step + 1
        report.dssim = ds.detach().tolist()
        if on_step is not None:
            on_step(step + 1, mode.steps)
        if past and within:
            report.early_stop = True
            break
    return delta.detach().expand_as(base).contiguous(), report
