"""Cloak the faces of one decoded photo: detect, plan the region, optimize, merge.

The merge upsamples the working-resolution perturbation to native resolution, adds it,
rounds to 8 bits, and then enforces the mode's budget on the final pixels: DSSIM of each
face region (see ``face_dssim``). If the rounded result is over budget, the whole
perturbation is scaled down (bisection) until every face is within it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from cloaker.align import to_tensor
from cloaker.cloak.fawkes import fawkes_cloak
from cloaker.cloak.modes import AnyMode, FawkesMode, Mode, resolve_mode
from cloaker.cloak.optimizer import OptimizeReport, face_dssim, optimize
from cloaker.cloak.region import DETAIL, GROW, SMOOTH_DETAIL, Region, plan_region
from cloaker.detect import Face
from cloaker.models.base import Extractor

StepFn = Callable[[int, int], None]


@dataclass
class CloakInfo:
    """What happened to one photo: faces cloaked, steps run, per-face DSSIM at native
    resolution, L-infinity of the change (0-255 units) and the scale applied to meet the
    budget (1.0 = none)."""

    faces: int
    mode: str
    steps: int = 0
    early_stop: bool = False
    dssim: list[float] = field(default_factory=list)
    linf: int = 0
    budget_scale: float = 1.0
    report: OptimizeReport | None = None


def region_dssim(rgb: np.ndarray, out: np.ndarray, boxes: np.ndarray) -> list[float]:
    """DSSIM of each face region (box grown by ``GROW``), as the budgets define it, between
    two (H, W, 3) uint8 photos; (F, 4) native face boxes -> F floats."""
    h, w = rgb.shape[:2]
    result = []
    for x0, y0, x1, y1 in np.asarray(boxes, np.float64):
        gx, gy = (x1 - x0) * GROW, (y1 - y0) * GROW
        bx0, by0 = max(0, int(x0 - gx)), max(0, int(y0 - gy))
        bx1, by1 = min(w, int(np.ceil(x1 + gx))), min(h, int(np.ceil(y1 + gy)))
        a = to_tensor(rgb[by0:by1, bx0:bx1])
        b = to_tensor(out[by0:by1, bx0:bx1])
        box = np.array([[0, 0, bx1 - bx0, by1 - by0]])
        result.append(float(face_dssim(a, b, box)[0]))
    return result


def _linf(a: np.ndarray, b: np.ndarray) -> int:
    """Largest per-pixel change, 0-255 units. int16, not int64: on a 12 MP photo the int64
    temporaries cost a second and half a gigabyte."""
    return int(np.abs(np.subtract(a, b, dtype=np.int16)).max())


def _apply(roi: torch.Tensor, delta: torch.Tensor, s: float) -> torch.Tensor:
    return torch.round((roi + s * delta).clamp(0, 1) * 255) / 255


def merge(
    rgb: np.ndarray,
    region: Region,
    delta_work: torch.Tensor,
    mode: Mode,
) -> tuple[np.ndarray, list[float], float]:
    """Add the upsampled perturbation to ``rgb`` (H, W, 3) uint8 within ``region``; scale it
    down until every budgeted region is within its budget (``Mode.limits``). Returns (uint8
    image, per-face DSSIM, scale used)."""
    roi_np = rgb[region.y0 : region.y1, region.x0 : region.x1]
    roi = to_tensor(roi_np)
    delta = F.interpolate(
        delta_work.cpu(), size=region.native_hw, mode="bilinear", align_corners=False
    ).clamp(-mode.linf, mode.linf)
    s = 1.0
    budget = region.budget_boxes
    limits = torch.tensor(mode.limits(len(region.boxes), len(budget)))
    with torch.no_grad():
        out = _apply(roi, delta, s)
        ds = face_dssim(roi, out, budget)
        if bool((ds > limits).any()):
            lo, hi = 0.0, 1.0
            for _ in range(7):
                mid = (lo + hi) / 2
                if bool((face_dssim(roi, _apply(roi, delta, mid), budget) > limits).any()):
                    hi = mid
                else:
                    lo = mid
            s = lo
            out = _apply(roi, delta, s)
            ds = face_dssim(roi, out, budget)
    result = rgb.copy()
    patch = (out[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    result[region.y0 : region.y1, region.x0 : region.x1] = patch
    return result, [float(v) for v in ds[: len(region.boxes)]], s


def cloak_faces(
    rgb: np.ndarray,
    faces: list[Face],
    extractors: Mapping[str, Extractor],
    mode_name: AnyMode,
    *,
    device: torch.device,
    seed: int = 0,
    on_step: StepFn | None = None,
    cancel: threading.Event | None = None,
    gray: bool = False,
) -> tuple[np.ndarray, CloakInfo]:
    """Cloak ``faces`` in ``rgb`` (H, W, 3) uint8 with the ensemble ``extractors``.
    ``mode_name``: a mode name or a ``Mode`` / ``FawkesMode`` object.
    ``gray``: one perturbation shared by the three channels (grayscale photos)."""
    mode = resolve_mode(mode_name)
    if not faces:
        return rgb, CloakInfo(faces=0, mode=mode.name)
    boxes = np.stack([f.box for f in faces])
    if isinstance(mode, FawkesMode):
        out = fawkes_cloak(
            rgb,
            boxes,
            extractors,
            th=mode.th,
            steps=mode.steps,
            lr=mode.lr,
            seed=seed,
            on_step=on_step,
            cancel=cancel,
        )
        return out, CloakInfo(
            faces=len(faces),
            mode=mode.name,
            steps=mode.steps,
            linf=_linf(out, rgb),
            dssim=region_dssim(rgb, out, boxes),
        )
    landmarks = np.stack([f.landmarks for f in faces])
    crops = {n: (e.size, np.asarray(e.template, np.float64)) for n, e in extractors.items()}
    region = plan_region(
        rgb.shape[:2],
        landmarks,
        boxes,
        crops,
        context=mode.context,
        square=mode.square_context,
        views=mode.geometry > 0,
        detail=SMOOTH_DETAIL if mode.smoothed_cloak else DETAIL,
    )
    roi = to_tensor(rgb[region.y0 : region.y1, region.x0 : region.x1])
    base = (
        F.interpolate(
            roi, size=region.work_hw, mode="bilinear", antialias=True, align_corners=False
        )
        .clamp(0, 1)
        .to(device)
    )
    delta, report = optimize(
        base, region, extractors, mode, seed=seed, on_step=on_step, cancel=cancel, gray=gray
    )
    out, ds, s = merge(rgb, region, delta, mode)
    window = (slice(region.y0, region.y1), slice(region.x0, region.x1))
    linf = _linf(out[window], rgb[window])  # nothing outside the ROI changed
    return out, CloakInfo(
        faces=len(faces),
        mode=mode.name,
        steps=report.steps,
        early_stop=report.early_stop,
        dssim=ds,
        linf=linf,
        budget_scale=s,
        report=report,
    )
