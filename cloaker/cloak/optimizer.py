"""Cloaker's optimizer: push every face away from its own identity in every ensemble model,
under an L-infinity cap and a DSSIM budget, in expectation over site transforms.

Algorithm (per photo, all faces in one batch per model):
  e0 = embed(align(x))                             clean embeddings, once
  for each step (at most ``mode.steps``):
      x' = clip(x + delta)                         delta: (1, 3, h, w) at working resolution
      for each model m (side by side on worker threads on a multi-core CPU; each model
                        draws its views from its own random stream):
                        crops = EOT(warp(x', jittered alignment)), or, with probability
                        ``mode.geometry``, EOT(a detector-box crop) with the clean face's
                        embedding through that crop as e0_m (``mode.geometry_sweep``:
                        that probability moves over the steps)
                        g_m = d/dx' mean_faces cos(embed_m(crops), e0_m)
                        (``mode.sgm``: residual branches pass that share of g_m back)
      g = sum_m g_m (``mode.balance``: each g_m scaled to the models' mean norm first)
      loss = <x', g> + lam * sum_faces relu(DSSIM_face(x, x') - budget)
      Adam step on delta (its gradient Gaussian-smoothed); clip delta to [-linf, linf];
      rescale it so every face box is within the DSSIM budget (projection)
      lam doubles while any face is over budget and halves otherwise (as Fawkes adapts c)
      stop early once every face is past ``target * threshold`` in every model and within
      budget
Returns delta and per-step statistics. Shapes: x (1, 3, h, w) float in [0, 1].
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from cloaker.align import warp
from cloaker.cloak.eot import box_crops, box_presets, jitter_matrices, random_transform
from cloaker.cloak.modes import Mode
from cloaker.cloak.region import Region
from cloaker.cloak.sgm import skip_gradients
from cloaker.cloak.ssim import gaussian_blur, luminance, ssim_map
from cloaker.errors import CancelledError
from cloaker.models.base import Extractor

StepFn = Callable[[int, int], None]
T = TypeVar("T")


@dataclass
class OptimizeReport:
    """What the optimization did: steps run, whether it stopped early, and the final
    (EOT-sampled) distance of every face in every model, (F,) per model name."""

    steps: int = 0
    early_stop: bool = False
    distances: dict[str, list[float]] = field(default_factory=dict)
    dssim: list[float] = field(default_factory=list)


BUDGET_SCALE = 112


def face_dssim(
    base: torch.Tensor,
    x: torch.Tensor,
    boxes: np.ndarray,
    base_crops: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Colour DSSIM of each box seen at face scale: images (1, 3, h, w), ``boxes`` (F, 4)
    int in the same pixel grid -> (F,).

    Each box is resized (antialiased) so its long side is ``BUDGET_SCALE`` = 112 px, the
    scale at which face recognisers and people take in a face, and SSIM is taken on R, G and
    B separately and averaged. Measured at native resolution, SSIM's 11-px window sees a
    large face's cloak as smooth shading and lets visible blotches through; a luminance-only
    budget lets the optimizer recolour eyes and lips. Resolution-independent: the same
    number at working and at native resolution.
    ``base_crops``: ``face_crops(base, boxes)``, when the caller has it already (the
    optimizer's ``base`` does not change between steps, so it is resized once).
    """
    ref = face_crops(base, boxes) if base_crops is None else base_crops
    out = []
    for a, b in zip(ref, face_crops(x, boxes), strict=True):
        # channels as a batch of 1-channel images
        out.append((1 - ssim_map(a[0].unsqueeze(1), b[0].unsqueeze(1)).mean()) / 2)
    return torch.stack(out)


def face_crops(image: torch.Tensor, boxes: np.ndarray) -> list[torch.Tensor]:
    """Each box of ``image`` (1, 3, h, w) cut and resized as ``face_dssim`` compares it."""
    h, w = image.shape[-2:]
    crops = []
    for x0, y0, x1, y1 in boxes:
        x0, x1 = _fit(int(x0), int(x1), w)
        y0, y1 = _fit(int(y0), int(y1), h)
        crop = image[..., y0:y1, x0:x1]
        f = BUDGET_SCALE / max(y1 - y0, x1 - x0)
        if f < 1:
            size = (max(11, round((y1 - y0) * f)), max(11, round((x1 - x0) * f)))
            crop = F.interpolate(
                crop, size=size, mode="bilinear", antialias=True, align_corners=False
            )
        crops.append(crop)
    return crops


def box_mask(boxes: np.ndarray, hw: tuple[int, int], feather: float = 0.08) -> torch.Tensor:
    """(1, 1, h, w) mask: 1 inside each box, falling linearly to 0 over the outer
    ``feather`` fraction of the box, so the cloak has no visible edge."""
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mask = np.zeros((h, w), np.float32)
    for x0, y0, x1, y1 in boxes:
        ramp = max(1.0, feather * min(x1 - x0, y1 - y0))
        edge = np.minimum.reduce([xx - x0, x1 - 1 - xx, yy - y0, y1 - 1 - yy])
        mask = np.maximum(mask, np.clip((edge + 1) / ramp, 0, 1))
    return torch.from_numpy(mask.astype(np.float32))[None, None]


def limit_chroma(d: torch.Tensor, factor: float) -> torch.Tensor:
    """Scale the colour part of an RGB perturbation (1, 3, h, w): its luminance part
    (the same change on R, G and B, of the perturbation's luma) is kept, the rest is
    multiplied by ``factor``."""
    y = luminance(d)
    return y + factor * (d - y)


def photometric_jitter(
    crops: torch.Tensor, strength: float, rng: np.random.Generator
) -> torch.Tensor:
    """(B, 3, S, S) crops in [0, 1] with their contrast scaled about each crop's mean by up
    to ``1 +- strength`` and their brightness moved by up to ``strength / 2``, one draw for
    the batch. Differentiable."""
    contrast = 1 + rng.uniform(-strength, strength)
    brightness = rng.uniform(-strength / 2, strength / 2)
    mean = crops.mean(dim=(1, 2, 3), keepdim=True)
    return ((crops - mean) * contrast + mean + brightness).clamp(0, 1)


TEXTURE_FLOOR = 0.2


def texture_mask(base: torch.Tensor, boxes: np.ndarray, power: float) -> torch.Tensor:
    """(1, 1, h, w) amplitude mask from local luminance contrast: 1 where the face is most
    textured (hair, brows, eyes, beard), down to ``TEXTURE_FLOOR`` on flat skin.

    Contrast masking: a change hides in texture and shows on flat skin, and SSIM, the
    budget, says the same. Without a mask Adam's per-pixel step sizes spread the cloak
    evenly, the flat skin uses up the budget first, and the projection shrinks it
    everywhere. Local contrast is the standard deviation in a Gaussian window the size of
    SSIM's at face scale (sigma 1.5 px at 112 px); it is raised to ``power`` and divided by
    its 90th percentile inside the face boxes."""
    y = luminance(base).detach()
    short = float(np.min(boxes[:, 2:] - boxes[:, :2]))
    sigma = max(0.5, 1.5 * short / 112)
    mu = gaussian_blur(y, sigma)
    std = (gaussian_blur(y * y, sigma) - mu * mu).clamp_min(0).sqrt()
    m = std.pow(power)
    inside = torch.zeros_like(m, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        inside[..., y0:y1, x0:x1] = True
    top = torch.quantile(m[inside], 0.9).clamp_min(1e-6)
    return (m / top).clamp(TEXTURE_FLOOR, 1.0)


def smooth(g: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of a field (1, C, h, w): a gradient, or the field of a smoothed cloak. A
    wide one (sigma >= 4 px) is taken at half resolution (2x2 mean, blur, bilinear back), an
    eighth of the work for a field that has no detail at that scale anyway (the 2x2 mean
    adds 0.5 px of sigma, taken off)."""
    h, w = g.shape[-2:]
    if sigma < 4 or min(h, w) < 8:
        return gaussian_blur(g, sigma)
    # An even size first, so that the half-resolution grid sits exactly on the full one.
    half = F.avg_pool2d(F.pad(g, (0, w % 2, 0, h % 2), mode="replicate"), 2)
    half = gaussian_blur(half, (sigma**2 - 0.25) ** 0.5 / 2)
    full = F.interpolate(half, scale_factor=2.0, mode="bilinear", align_corners=False)
    return full[..., :h, :w]


def _fit(a: int, b: int, n: int, k: int = 11) -> tuple[int, int]:
    if b - a >= k:
        return a, b
    c = (a + b) // 2
    a = max(0, min(n - k, c - k // 2))
    return a, min(n, a + k)


def _shrink(worst: float, k: int) -> float:
    """The factor of the ``k``-th rescale of a cloak whose worst region is at ``worst`` times
    its budget. DSSIM grows about quadratically with the cloak's amplitude, so a square-root
    rescale lands near the budget; the first one aims 4% under, a later one (the first
    landed over) just under."""
    return (0.98 if k == 0 else 0.995) / worst**0.5


def _project_apart(
    delta: torch.Tensor,
    blurred: torch.Tensor,
    base: torch.Tensor,
    cloak: Callable[[torch.Tensor], torch.Tensor],
    field: Callable[[torch.Tensor], torch.Tensor],
    mask: torch.Tensor,
    inner: torch.Tensor,
    budget: np.ndarray,
    base_crops: list[torch.Tensor],
    limits: torch.Tensor,
    rounds: int = 1,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The projection of ``optimize`` with the context ring apart: the face regions (the
    first half of ``budget``, weight ``inner``) are rescaled onto the budget first, then the
    ring alone if the outer regions (the second half) are still over, each at most ``rounds``
    times. ``limits``: each region's budget. ``delta`` in place; ``blurred`` is
    ``field(delta)``. Returns the new ``field(delta)``, and the DSSIM of every region of the
    result when it is known and within budget (else None)."""
    n = len(budget) // 2
    now = None  # the DSSIM of every region, while the cloak has not changed since
    for part, sl in ((inner, slice(0, n)), (1 - inner, slice(n, None))):
        for k in range(rounds):
            if now is None:
                x = (base + cloak(blurred) * mask).clamp(0, 1)
                now = face_dssim(base, x, budget, base_crops)
            worst = float((now[sl] / limits[sl]).max())
            if worst <= 1:
                break
            delta.mul_(1 - part * (1 - _shrink(worst, k)))
            blurred = field(delta)  # a weighted rescale: the blur does not commute with it
            now = None
    return blurred, now if now is not None and bool((now <= limits).all()) else None


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    with _POOLS_LOCK:
        if workers not in _POOLS:
            _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="cloaker-surrogate")
        return _POOLS[workers]


def run_surrogates(
    names: Sequence[str],
    fn: Callable[[str], T],
    device: torch.device,
    allowed: bool = True,
    cost: Callable[[str], float] = lambda name: 0.0,
) -> list[T]:
    """``fn(name)`` for every surrogate, results in ``names``' order.

    On a CPU with more than one torch thread the surrogates run side by side on worker
    threads, the torch threads shared out among them: a surrogate's forward and backward
    pass at batch 1 keeps two threads only partly busy, so two surrogates at once on one
    thread each take 25% less time than one after the other on two (``bench/parallel.py``).
    The costliest (by ``cost``) are handed out first, so the workers end about level."""
    threads = torch.get_num_threads()
    workers = min(len(names), threads) if allowed and device.type == "cpu" else 1
    if workers < 2:
        return [fn(n) for n in names]
    pool = _pool(workers)
    torch.set_num_threads(max(1, threads // workers))  # process-wide: every worker's share
    try:
        futures = {n: pool.submit(fn, n) for n in sorted(names, key=cost, reverse=True)}
        return [futures[n].result() for n in names]
    finally:
        torch.set_num_threads(threads)


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
    if mode.feature and mode.dropout:
        raise ValueError("the middle-layer loss and feature-map dropout share one tap")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    boxes = np.round(region.boxes * region.scale).astype(int)
    # Budgeted boxes: the face regions, then the outer regions if the cloak reaches them.
    budget = np.round(region.budget_boxes * region.scale).astype(int)
    spread = np.round(region.outer * region.scale).astype(int)
    # Box-crop geometries and the clean face's embedding through each (its reference there: a
    # box crop of the clean face is not where its aligned crop lands).
    presets = {
        n: box_presets(region.faces, region.matrices[n], e.size) if mode.geometry else []
        for n, e in extractors.items()
    }

    def input_size(name: str) -> float:  # a surrogate's cost per view, roughly
        return float(extractors[name].size)

    def references(name: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The clean face's embeddings through surrogate ``name``'s aligned crop and through
        each of its box presets."""
        e = extractors[name]
        with torch.no_grad():  # grad mode is per thread: set where the passes run
            aligned = e.embed(warp(base, region.matrices[name], e.size))
            if not presets[name]:
                return aligned, []
            crops = warp(base, np.concatenate(presets[name]), e.size)
            return aligned, list(e.embed(crops).split(len(boxes)))

    # Side by side on the surrogates' worker threads, one torch thread each, as every step's
    # passes run (and as the curves, at one thread, compute them).
    names = list(extractors)
    refs = run_surrogates(names, references, base.device, cost=input_size)
    clean = {n: r[0] for n, r in zip(names, refs, strict=True)}
    clean_box = {n: r[1] for n, r in zip(names, refs, strict=True)}
    if mode.reference not in ("view", "exact"):
        for n in extractors:
            if mode.reference == "centroid":
                ref = F.normalize(torch.stack([clean[n], *clean_box[n]]).mean(0), dim=1)
                clean[n] = ref
            elif mode.reference == "aligned":
                ref = clean[n]
            else:
                raise ValueError(f"unknown reference {mode.reference!r}")
            clean_box[n] = [ref] * len(clean_box[n])
    mask = box_mask(spread, tuple(base.shape[-2:])).to(base.device, base.dtype)
    # The face region's share of the cloak (1 inside it), for projecting the ring apart.
    ring = mode.ring and len(budget) > len(boxes)
    inner = box_mask(boxes, tuple(base.shape[-2:])).to(base.device, base.dtype) if ring else None
    with torch.no_grad():
        base_crops = face_crops(base, budget)
    limits = torch.tensor(
        mode.limits(len(boxes), len(budget)), dtype=base.dtype, device=base.device
    )
    limit = limits * (1 + mode.slack)  # where the penalty starts to pull
    if mode.texture:
        mask = mask * texture_mask(base, boxes, mode.texture)
    short = float(np.min(boxes[:, 2:] - boxes[:, :2])) if len(boxes) else 0.0
    sigma = mode.smooth * short
    # With ``smooth_cloak`` the cloak is the blur of delta, capped; its gradient, blurred
    # (a Gaussian is its own adjoint, up to the borders and the half-resolution resampling),
    # is delta's. Otherwise each step's gradient is blurred, and Adam's per-pixel step
    # sharpens it again.
    smooth_cloak = mode.smoothed_cloak and sigma > 0
    # A two-scale cloak (``smooth_wide``) is the sum of two fields, each blurred at its own
    # scale: delta holds them as a batch of two.
    sigmas = [sigma] + ([mode.smooth_wide * short] if smooth_cloak and mode.smooth_wide else [])
    delta = base.new_zeros((len(sigmas), 1 if gray else 3, *base.shape[-2:]), requires_grad=True)
    if mode.random_start:
        noise = torch.Generator(device=base.device).manual_seed(seed)
        with torch.no_grad():
            delta.normal_(0.0, mode.random_start * mode.linf, generator=noise)
    opt = torch.optim.Adam([delta], lr=mode.linf * mode.rate)
    lam = 10.0

    # A smoothed cloak is capped after the blur; the field under it may be larger, since the
    # blur takes the amplitude of its fine detail.
    cap = 4 * mode.linf if smooth_cloak else mode.linf

    def cloak(v: torch.Tensor) -> torch.Tensor:
        """The cloak from ``v``: delta itself, or the blurred delta (then capped)."""
        if smooth_cloak:
            v = v.clamp(-mode.linf, mode.linf)
        return v if mode.chroma == 1 or v.shape[1] == 1 else limit_chroma(v, mode.chroma)

    def field(d: torch.Tensor) -> torch.Tensor:
        if not smooth_cloak:
            return d
        out = smooth(d[:1], sigmas[0])
        for i, s in enumerate(sigmas[1:], 1):
            out = out + smooth(d[i : i + 1], s)
        return out

    # The blurred delta, kept in step with delta: the blur is linear, so it follows a rescale.
    blurred = field(delta.detach())

    report = OptimizeReport()
    # The steps whose cloaks are averaged into the one returned (``mode.average``).
    first_averaged = mode.steps - round(mode.steps * mode.average) if mode.average else mode.steps
    mean: torch.Tensor | None = None
    averaged = 0
    beyond: dict[str, bool] = {}
    known: torch.Tensor | None = None  # DSSIM of the next step's x, when the projection has it
    # One random stream per surrogate: its views are the same whether the surrogates run one
    # after the other or side by side on worker threads.
    rngs = {n: np.random.default_rng([seed, i]) for i, n in enumerate(extractors)}

    def view_grad(name: str, xv: torch.Tensor, chance: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One view of every face through surrogate ``name``: the gradient of its loss on
        ``xv`` and each face's embedding distance from its clean reference."""
        ext, r = extractors[name], rngs[name]
        ref = clean[name]
        box = bool(mode.geometry) and r.random() < chance
        if box:
            k = int(r.integers(len(presets[name])))
            if mode.loose and r.random() < mode.loose:
                k = len(presets[name]) - 2 + k % 2  # the loosest growth, level or turned
            mats = presets[name][k]
            ref = clean_box[name][k]
        else:
            mats = jitter_matrices(region.matrices[name], ext.size, r)

        def view(image: torch.Tensor) -> torch.Tensor:
            if box:
                return random_transform(box_crops(image, mats, ext.size, r), r)
            return random_transform(warp(image, mats, ext.size), r)

        if mode.reference == "exact":
            # The clean face through this very view (same shift, resampling, resize and
            # JPEG quality): the random draws are replayed for it.
            state = r.bit_generator.state
            with torch.no_grad():
                ref = ext.embed(view(base))
            r.bit_generator.state = state
        crops = view(xv)
        if mode.flip and r.random() < mode.flip:
            crops = crops.flip(-1)
        if mode.photometric:
            crops = photometric_jitter(crops, mode.photometric, r)
        if mode.noise:
            crops = crops + mode.noise * torch.randn_like(crops)
        model_loss = xv.new_zeros(())
        if mode.feature:
            # Feature-level loss: push a middle layer away from the clean face's (seen
            # through the same view).
            emb, mid = ext.embed_with_middle(crops)
            with torch.no_grad():
                _, mid0 = ext.embed_with_middle(warp(base, mats, ext.size))
            sim = F.cosine_similarity(mid.flatten(1), mid0.flatten(1), dim=1)
            model_loss = mode.feature * sim.mean()
        elif mode.dropout:
            with ext.middle_dropout(mode.dropout):
                emb = ext.embed(crops)
        elif mode.sgm and (box or not mode.sgm_box):
            with skip_gradients(ext, mode.sgm):
                emb = ext.embed(crops)
        else:
            emb = ext.embed(crops)
        cos = (emb * ref).sum(1)
        if mode.hinge:
            # cos <-> distance on unit vectors: d^2 = 2 - 2 cos.
            cos_target = 1 - (mode.target * ext.threshold) ** 2 / 2
            cos = torch.relu(cos - cos_target)
        (grad,) = torch.autograd.grad(model_loss + cos.mean(), xv)
        return grad, (emb - ref).norm(dim=1).detach()

    def geometry_at(step: int) -> float:
        """The chance of a box view at ``step``: ``mode.geometry``, swept by
        ``mode.geometry_sweep`` from the first step to the last."""
        if not mode.geometry_sweep or mode.steps < 2:
            return mode.geometry
        return mode.geometry + mode.geometry_sweep * (step / (mode.steps - 1) - 0.5)

    # Torch's global generator (model noise, dropout) would be drawn in thread order.
    side_by_side = not (mode.noise or mode.dropout)

    for step in range(mode.steps):
        if cancel is not None and cancel.is_set():
            raise CancelledError("cancelled")
        v = blurred.detach().requires_grad_() if smooth_cloak else delta
        x = (base + cloak(v) * mask).clamp(0, 1)
        # The surrogates see a detached copy; each one's gradient on it is taken apart
        # (on worker threads when that is faster), then summed in a fixed order and sent
        # back to delta in one pass.
        xv = x.detach().requires_grad_()
        names = list(extractors)
        if mode.subset and mode.subset < len(names):
            names = list(rng.choice(names, mode.subset, replace=False))
        results = run_surrogates(
            names,
            partial(view_grad, xv=xv, chance=geometry_at(step)),
            base.device,
            side_by_side,
            cost=input_size,
        )
        grads = []
        for name, (grad, dist) in zip(names, results, strict=True):
            grads.append(grad)
            report.distances[name] = dist.tolist()
            beyond[name] = bool((dist > mode.target * extractors[name].threshold).all())
        # Every surrogate past its target when last seen (with a subset per step, some
        # were seen a step or two ago).
        past = len(beyond) == len(extractors) and all(beyond.values())
        if mode.balance:
            norms = [g.norm().clamp_min(1e-12) for g in grads]
            level = torch.stack(norms).mean()
            grads = [g * (level / n) for g, n in zip(grads, norms, strict=True)]
        total = grads[0]
        for g in grads[1:]:
            total = total + g
        loss = (x * total).sum()  # its gradient on delta: the surrogates' gradient, chained
        # The penalty takes the cloak back where it costs the most SSIM; the projection alone
        # shrinks it everywhere, so without the penalty the cloak ends small and protects
        # far less at the same budget (BENCHMARKS.md, "How `mid` spends its budget").
        # The penalty only pulls when a face is over budget. When the last projection left
        # the cloak as it was, its DSSIM is this x's and within budget: nothing to compute.
        # Otherwise it is computed once, with the graph the penalty needs if a face is over.
        ds = face_dssim(base, x, budget, base_crops) if known is None else known
        over = ds.detach() - limit
        if bool((over > 0).any()):
            loss = loss + lam * torch.relu(ds - limit).sum() * 100
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if smooth_cloak:
            grads = [smooth(v.grad, s) for s in sigmas]
            delta.grad = grads[0] if len(grads) == 1 else torch.cat(grads)
        elif sigma:
            delta.grad = smooth(delta.grad, sigma)
        opt.step()
        known = None
        with torch.no_grad():
            delta.clamp_(-cap, cap)
            blurred = field(delta)
            # Project onto the DSSIM budget: DSSIM grows about quadratically with the
            # perturbation's amplitude, so a square-root rescale lands near the budget.
            # (A penalty alone oscillates and wastes steps; the projection lets the L-inf cap
            # stay loose so that SSIM, which tolerates change in texture, shapes the cloak.)
            if inner is not None:
                blurred, known = _project_apart(
                    delta,
                    blurred,
                    base,
                    cloak,
                    field,
                    mask,
                    inner,
                    budget,
                    base_crops,
                    limits,
                    1 + mode.settle,
                )
            else:
                for k in range(1 + mode.settle):
                    x = (base + cloak(blurred) * mask).clamp(0, 1)
                    now = face_dssim(base, x, budget, base_crops)
                    worst = float((now / limits).max())
                    if worst <= 1:
                        known = now
                        break
                    delta.mul_(_shrink(worst, k))
                    if smooth_cloak:
                        blurred.mul_(_shrink(worst, k))
        within = bool((over <= 0).all())
        lam = min(lam * 2, 1e4) if not within else max(lam / 2, 1e-2)
        report.steps = step + 1
        report.dssim = ds.detach()[: len(boxes)].tolist()
        if step >= first_averaged:
            with torch.no_grad():
                now_cloak = cloak(blurred)
                mean = now_cloak.clone() if mean is None else mean.add_(now_cloak)
                averaged += 1
        if on_step is not None:
            on_step(step + 1, mode.steps)
        if past and within:
            report.early_stop = True
            break
    if not report.steps:  # no step ran: the start alone (a control), onto the budget
        with torch.no_grad():
            out = _onto_budget(cloak(blurred), base, mask, budget, base_crops, limits, mode.linf)
        return (out * mask).expand_as(base).contiguous(), report
    if mean is not None and averaged > 1:
        with torch.no_grad():
            out = _onto_budget(mean / averaged, base, mask, budget, base_crops, limits, mode.linf)
        return (out * mask).expand_as(base).contiguous(), report
    return (cloak(blurred.detach()) * mask).expand_as(base).contiguous(), report


def _onto_budget(
    c: torch.Tensor,
    base: torch.Tensor,
    mask: torch.Tensor,
    budget: np.ndarray,
    base_crops: list[torch.Tensor],
    limits: torch.Tensor,
    linf: float,
) -> torch.Tensor:
    """The cloak ``c`` scaled, up or down, until its worst region is within 2% under its
    budget (a mean of cloaks is smaller than each of them), capped at ``linf``."""
    for _ in range(4):
        x = (base + c * mask).clamp(0, 1)
        worst = float((face_dssim(base, x, budget, base_crops) / limits).max())
        if 0.98 <= worst <= 1:
            break
        c = (c * _shrink(worst, 1)).clamp(-linf, linf)
    return c  # if still over, the pipeline's final rescale of the rounded photo takes it in
