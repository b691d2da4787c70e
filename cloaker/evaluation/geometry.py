"""Crop geometries a recognition pipeline may use, and thresholds calibrated for each.

A model's published threshold holds for the crop it was trained on (its 5-point aligned
template). Scrapers often skip the alignment: they cut the detector's box, squared and
grown by a margin, with no rotation, and resize it to the model's input (facenet-pytorch's
own examples, dlib chips, whole-box crops). The same model then sees a differently framed
face, so a cloak tuned to one framing may not hold, and the model's threshold no longer
fits: each geometry gets its own, calibrated on clean photos of known people.

Geometries (``GEOMETRIES``): ``aligned`` (the model's template, the engine's own crop) and
``box<k>`` / ``box<k>@2x``: the detector box squared to its long side, grown ``k`` times
about its centre, no rotation, cut at the model's input size (antialiased) or cut at twice
that size and then shrunk with plain bilinear interpolation (no antialiasing, as
``cv2.resize`` does) — two resamplings a pipeline may use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cloaker.align import box_matrices, crop_matrices, to_tensor, warp
from cloaker.evaluation.metrics import device_of
from cloaker.models.base import Extractor


@dataclass(frozen=True)
class Geometry:
    """One way to cut a face for a model. ``box``: None for the aligned template, else the
    growth factor of the squared detector box. ``supersample``: cut at this multiple of the
    input size, then shrink (bilinear, no antialias)."""

    name: str
    box: float | None = None
    supersample: int = 1


ALIGNED = Geometry("aligned")
GEOMETRIES: tuple[Geometry, ...] = (
    ALIGNED,
    *(Geometry(f"box{k}", k) for k in (1.0, 1.3, 1.6)),
    *(Geometry(f"box{k}@2x", k, 2) for k in (1.0, 1.3, 1.6)),
)
BY_NAME = {g.name: g for g in GEOMETRIES}


def crops(
    extractor: Extractor,
    image: torch.Tensor,
    landmarks: np.ndarray,
    boxes: np.ndarray,
    geometry: Geometry,
) -> torch.Tensor:
    """Crops (F, 3, size, size) of the faces at ``landmarks`` (F, 5, 2) / ``boxes`` (F, 4)
    in ``image`` (1, 3, H, W), cut as ``geometry`` says."""
    size = extractor.size
    if geometry.box is None:
        mats = crop_matrices(landmarks, np.asarray(extractor.template, np.float64))
        return warp(image, mats, size)
    big = size * geometry.supersample
    out = warp(image, box_matrices(boxes, geometry.box, big), big)
    if geometry.supersample > 1:
        out = F.interpolate(out, size=(size, size), mode="bilinear", align_corners=False)
    return out


def embed(
    extractor: Extractor,
    rgb: np.ndarray,
    landmarks: np.ndarray,
    boxes: np.ndarray,
    geometry: Geometry,
) -> np.ndarray:
    """(F, D) normalised embeddings of the faces in ``rgb`` (H, W, 3) uint8, no gradients."""
    device = device_of(extractor)
    lm = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    bx = np.asarray(boxes, np.float64).reshape(-1, 4)
    with torch.no_grad():
        c = crops(extractor, to_tensor(rgb, device), lm, bx, geometry)
        return extractor.embed(c).float().cpu().numpy()


@dataclass(frozen=True)
class Calibration:
    """A geometry's operating point on clean photos: ``threshold`` (match iff distance <
    threshold), and the share of genuine pairs it accepts (``tpr``) and of impostor pairs
    it accepts (``fpr``), over ``genuine`` / ``impostor`` pairs."""

    threshold: float
    tpr: float
    fpr: float
    genuine: int
    impostor: int

    def to_json(self) -> dict[str, float | int]:
        return {
            "threshold": self.threshold,
            "tpr": self.tpr,
            "fpr": self.fpr,
            "genuine": self.genuine,
            "impostor": self.impostor,
        }


def operating_point(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> Calibration:
    """TPR and FPR of ``threshold`` on genuine and impostor distances."""
    g, i = np.asarray(genuine, float), np.asarray(impostor, float)
    if not len(g) or not len(i):
        raise ValueError("calibration needs genuine and impostor pairs")
    return Calibration(
        float(threshold),
        float((g < threshold).mean()),
        float((i < threshold).mean()),
        len(g),
        len(i),
    )


def calibrate(genuine: np.ndarray, impostor: np.ndarray) -> Calibration:
    """The threshold that best separates genuine from impostor distances (the largest
    TPR - FPR, Youden's J; ties go to the larger threshold, the more lenient recognizer,
    which makes protection harder, not easier). Candidates lie half-way between sorted
    distances."""
    g, i = np.asarray(genuine, float), np.asarray(impostor, float)
    if not len(g) or not len(i):
        raise ValueError("calibration needs genuine and impostor pairs")
    d = np.unique(np.concatenate([g, i]))
    cands = np.concatenate([[d[0] - 1e-6], (d[1:] + d[:-1]) / 2, [d[-1] + 1e-6]])
    tpr = (g[None, :] < cands[:, None]).mean(1)
    fpr = (i[None, :] < cands[:, None]).mean(1)
    j = tpr - fpr
    best = np.flatnonzero(j >= j.max() - 1e-12)[-1]
    return operating_point(g, i, float(cands[best]))


def pair_distances(
    embeddings: dict[str, list[np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Genuine and impostor distances from clean embeddings {identity: [(D,) ...]}, the way
    the evaluation verifies: each photo against the renormalised mean of its owner's other
    photos (genuine) and of every other identity's photos (impostor)."""

    def centre(vs: list[np.ndarray]) -> np.ndarray:
        c = np.mean(vs, axis=0)
        return c / np.linalg.norm(c)

    means = {k: centre(v) for k, v in embeddings.items() if v}
    genuine, impostor = [], []
    for ident, vs in embeddings.items():
        for j, v in enumerate(vs):
            others = vs[:j] + vs[j + 1 :]
            if others:
                genuine.append(float(np.linalg.norm(centre(others) - v)))
            impostor += [float(np.linalg.norm(m - v)) for k, m in means.items() if k != ident]
    return np.asarray(genuine), np.asarray(impostor)
