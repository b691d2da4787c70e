"""What the browser tests assert about a photo the test site received: the same format and
size as the original, different bytes, a high whole-photo SSIM, and the face's embedding
moved in every model of the engine's ensemble.

Embeddings are measured with the project's own detector, alignment and extractors, at the
landmarks found on the original photo, so both photos are compared on the same crop.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps
from skimage.metrics import structural_similarity


def decode(data: bytes) -> tuple[str, np.ndarray]:
    """(format, RGB uint8 array with EXIF orientation applied)."""
    with Image.open(io.BytesIO(data)) as im:
        fmt = im.format or ""
        rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    return fmt, rgb


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luminance, float in [0, 255] (what the engine's DSSIM budget measures)."""
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Whole-photo SSIM (luminance) of two RGB uint8 arrays of the same shape."""
    return float(structural_similarity(luma(a), luma(b), data_range=255.0))


def min_ssim(mode: str) -> float:
    """The lowest whole-photo SSIM the mode's budget allows: the budget bounds each face
    box's DSSIM = (1 - SSIM) / 2, the rest of the photo is untouched; minus 0.01 for the
    re-encode. Typical photos, where faces are small, score far higher."""
    from cloaker.cloak.modes import MODES

    return 1.0 - 2.0 * MODES[mode].dssim - 0.01


@dataclass
class Shift:
    """L2 distance between the normalised embeddings of the original and the received face,
    per model, and the same distance for a plain JPEG re-encode (the noise floor)."""

    moved: dict[str, float]
    floor: dict[str, float]


class FaceShift:
    """Loads the detector and the ensemble once (CPU) and measures embedding shifts."""

    def __init__(self) -> None:
        from cloaker.detect import FaceDetector
        from cloaker.models.zoo import ENSEMBLE, load_extractor

        self.detector = FaceDetector(device="cpu")
        self.models = {name: load_extractor(name, "cpu") for name in ENSEMBLE}

    def _embed(self, rgb: np.ndarray, landmarks: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        from cloaker.align import crop_matrices, to_tensor, warp

        out = {}
        with torch.no_grad():
            for name, model in self.models.items():
                m = crop_matrices(landmarks[None], model.template_tensor().numpy())
                crop = warp(to_tensor(rgb), m, model.size)
                out[name] = model.embed(crop)[0].numpy()
        return out

    def measure(self, original: np.ndarray, received: np.ndarray) -> Shift:
        faces = self.detector.detect(original)
        if not faces:
            raise AssertionError("no face found in the original photo")
        landmarks = np.asarray(faces[0].landmarks, np.float64)
        base = self._embed(original, landmarks)
        got = self._embed(received, landmarks)
        buf = io.BytesIO()
        Image.fromarray(original).save(buf, "JPEG", quality=92)
        _, reencoded = decode(buf.getvalue())
        noise = self._embed(reencoded, landmarks)
        return Shift(
            moved={n: float(np.linalg.norm(base[n] - got[n])) for n in base},
            floor={n: float(np.linalg.norm(base[n] - noise[n])) for n in base},
        )
