"""Face detection: facenet-pytorch's MTCNN on a downscaled copy, results mapped back to
full resolution.

Detection runs under ``no_grad`` on a copy whose long side is at most ``max_side`` pixels
(MTCNN's cost grows with the pixel count; faces small enough to vanish at 1024 px are too
small to be recognised anyway). Boxes and the 5 landmarks are scaled back to the original
image's pixel coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from cloaker.device import pick_device


@dataclass(frozen=True)
class Face:
    """One detected face, in full-resolution pixel coordinates.

    ``box``: (4,) float32 x1, y1, x2, y2. ``landmarks``: (5, 2) float32 (x, y) of left eye,
    right eye, nose, left mouth corner, right mouth corner ("left" = image left).
    ``score``: detector confidence in [0, 1].
    """

    box: np.ndarray
    landmarks: np.ndarray
    score: float

    @property
    def size(self) -> float:
        """Geometric mean of box width and height, in pixels."""
        w = float(self.box[2] - self.box[0])
        h = float(self.box[3] - self.box[1])
        return float(np.sqrt(max(w, 1.0) * max(h, 1.0)))


class FaceDetector:
    """MTCNN wrapper. ``detect(rgb)`` takes (H, W, 3) uint8 RGB and returns ``list[Face]``
    sorted by score, highest first.

    Defaults: ``max_side=1024`` (long side of the detection copy), ``min_score=0.9``
    (drops MTCNN's weak candidates, which are mostly false positives on textures),
    ``min_face=20`` (MTCNN minimum face size on the detection copy, in pixels).
    """

    def __init__(
        self,
        device: str | torch.device | None = None,
        max_side: int = 1024,
        min_score: float = 0.9,
        min_face: int = 20,
    ) -> None:
        from facenet_pytorch import MTCNN  # heavy import: only when a detector is built

        self.device = pick_device(str(device) if device is not None else None)
        self.max_side = max_side
        self.min_score = min_score
        # MTCNN's own device handling covers CUDA/CPU; MPS lacks some of its ops.
        mtcnn_device = self.device if self.device.type != "mps" else torch.device("cpu")
        self._mtcnn = MTCNN(keep_all=True, min_face_size=min_face, device=mtcnn_device)

    def detect(self, rgb: np.ndarray) -> list[Face]:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        img = Image.fromarray(rgb)
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            img = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        # Ratios per axis: rounding of the copy's size makes them differ slightly.
        sx, sy = w / img.width, h / img.height
        with torch.no_grad():
            boxes, probs, points = self._mtcnn.detect(img, landmarks=True)
        faces: list[Face] = []
        if boxes is None:
            return faces
        for box, prob, pts in zip(boxes, probs, points, strict=True):
            if prob is None or float(prob) < self.min_score:
                continue
            b = np.array([box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy], np.float32)
            b[[0, 2]] = np.clip(b[[0, 2]], 0, w)
            b[[1, 3]] = np.clip(b[[1, 3]], 0, h)
            lm = (np.asarray(pts, np.float32) * np.array([sx, sy], np.float32)).astype(np.float32)
            faces.append(Face(box=b, landmarks=lm, score=float(prob)))
        faces.sort(key=lambda f: f.score, reverse=True)
        return faces
