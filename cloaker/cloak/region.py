"""Where the cloak lives: one region of interest (ROI) around all faces, optimized at a
working resolution that gives each face about twice its largest extractor crop's detail.

The perturbation is a smooth field over the ROI at working resolution, upsampled
bilinearly to native resolution at the end: no 112-px crop is ever blown up into blocks,
and on a 12 MP photo the optimization still touches only a few hundred thousand pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cloaker.align import crop_corners, crop_matrices, transform_scale

# Working resolution: face detail relative to the largest crop, and a cap on ROI pixels.
DETAIL = 2.0
# A cloak smoothed by construction (``Mode.smooth_cloak``) holds no detail finer than its
# blur, so it is computed on a coarser grid.
SMOOTH_DETAIL = 1.5
MAX_WORK_PIXELS = 1_500_000
PAD = 8
# The cloak is confined to the face box grown by this fraction on each side (forehead, jaw
# line): everything it changes lies inside the region whose visibility is budgeted.
GROW = 0.12
# When the optimizer takes detector-box views, the ROI also holds the detector box squared
# and grown this much: the loosest box crop a recognizer may take
# (``cloaker.cloak.eot.BOX_GROW``, plus its random shift), so that such views of the face see
# real pixels, not the ROI's replicated border. Modes without them skip it (13% of low's time).
VIEW_COVER = 1.75


@dataclass(frozen=True)
class Region:
    """ROI geometry.

    ``x0, y0, x1, y1``: ROI in native pixels (x1, y1 exclusive). ``scale``: working pixels
    per native pixel (<= 1). ``work_hw``: working-resolution size. ``matrices``: per
    extractor name, (F, 2, 3) working-ROI-to-crop transforms. ``boxes``: (F, 4) int
    budget boxes (face box grown by ``GROW``) in native ROI coordinates: the cloak lives
    inside them and its visibility is measured on them. ``faces``: (F, 4) float detector
    boxes in working-ROI coordinates (the crops of pipelines that skip the alignment).
    ``outer``: (F, 4) int, like ``boxes`` but grown by ``context`` (>= ``GROW``): where a
    cloak that reaches into the face's surroundings (hair, ears, neck: what loose box crops
    see) may go; the same as ``boxes`` when it does not.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float
    work_hw: tuple[int, int]
    matrices: dict[str, np.ndarray]
    boxes: np.ndarray
    faces: np.ndarray
    outer: np.ndarray

    @property
    def budget_boxes(self) -> np.ndarray:
        """Every box whose visibility is budgeted: the face regions, and the outer regions
        when the cloak reaches beyond them."""
        if np.array_equal(self.outer, self.boxes):
            return self.boxes
        return np.concatenate([self.boxes, self.outer])

    @property
    def native_hw(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


def plan_region(
    image_hw: tuple[int, int],
    landmarks: np.ndarray,
    boxes: np.ndarray,
    crops: dict[str, tuple[int, np.ndarray]],
    context: float = GROW,
    views: bool = False,
    detail: float = DETAIL,
    square: bool = False,
) -> Region:
    """Plan the ROI for faces with ``landmarks`` (F, 5, 2) and ``boxes`` (F, 4) in a native
    image of ``image_hw``; ``crops`` maps extractor name -> (crop size, (5, 2) template);
    ``context``: how far the cloak may reach beyond each box, per side, as a fraction of
    the box (``GROW`` at least); ``views``: the optimizer also takes detector-box views,
    so the ROI holds the loosest of them (``VIEW_COVER``); ``detail``: working pixels per
    pixel of the most detailed crop (``DETAIL``), before the cap on working pixels;
    ``square``: the context region is the box squared to its long side, then grown (the
    shape of a detector-box crop), not the box grown along each axis."""
    h, w = image_hw
    native = {name: crop_matrices(landmarks, tmpl) for name, (_, tmpl) in crops.items()}
    bx = np.asarray(boxes, np.float64).reshape(-1, 4)
    context = max(context, GROW)
    reach = _square(bx, 1 + 2 * context) if square else _grow(bx, context)
    pts = [bx.reshape(-1, 2), reach.reshape(-1, 2)]
    if views:
        pts.append(_square(bx, VIEW_COVER).reshape(-1, 2))
    scale = 0.0
    for name, mats in native.items():
        size = crops[name][0]
        for m in mats:
            pts.append(crop_corners(m, size))
            scale = max(scale, detail * transform_scale(m))
    allp = np.concatenate(pts)
    x0 = int(max(0, np.floor(allp[:, 0].min()) - PAD))
    y0 = int(max(0, np.floor(allp[:, 1].min()) - PAD))
    x1 = int(min(w, np.ceil(allp[:, 0].max()) + PAD + 1))
    y1 = int(min(h, np.ceil(allp[:, 1].max()) + PAD + 1))
    area = (x1 - x0) * (y1 - y0)
    scale = float(min(1.0, scale, np.sqrt(MAX_WORK_PIXELS / max(area, 1))))
    wh = max(16, round((y1 - y0) * scale))
    ww = max(16, round((x1 - x0) * scale))
    fx, fy = ww / (x1 - x0), wh / (y1 - y0)
    # native image -> working ROI: x_w = (x - x0 + 0.5) * fx - 0.5
    to_work = np.array([[fx, 0, (0.5 - x0) * fx - 0.5], [0, fy, (0.5 - y0) * fy - 0.5], [0, 0, 1]])
    from_work = np.linalg.inv(to_work)
    work = {
        name: np.stack([(np.vstack([m, [0, 0, 1.0]]) @ from_work)[:2] for m in mats])
        for name, mats in native.items()
    }
    faces = (bx.reshape(-1, 2) @ to_work[:2, :2].T + to_work[:2, 2]).reshape(-1, 4)

    def in_roi(b: np.ndarray) -> np.ndarray:
        b = np.round(b - [x0, y0, x0, y0]).astype(int)
        b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, x1 - x0)
        b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, y1 - y0)
        return b

    inner = in_roi(_grow(bx, GROW))
    outer = in_roi(reach) if context > GROW else inner
    return Region(x0, y0, x1, y1, scale, (wh, ww), work, inner, faces, outer)


def _square(boxes: np.ndarray, grow: float = 1.0) -> np.ndarray:
    """(F, 4) boxes squared to their long side and grown ``grow`` times about their centres
    (the window ``cloaker.align.box_matrices`` cuts)."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = np.max(boxes[:, 2:] - boxes[:, :2], axis=1, keepdims=True) * grow / 2
    return np.concatenate([centre - half, centre + half], 1)


def _grow(boxes: np.ndarray, k: float) -> np.ndarray:
    """(F, 4) boxes grown by ``k`` of their width / height on each side."""
    g = (boxes[:, 2:] - boxes[:, :2]) * k
    return boxes + np.concatenate([-g, g], 1)
