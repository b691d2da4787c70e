"""Detection on real photos: faces found at full-resolution coordinates, none on a
photo without faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cloaker.detect import FaceDetector

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(device="cpu")


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_astronaut_has_one_face(detector: FaceDetector) -> None:
    faces = detector.detect(_rgb(ROOT / "examples" / "astronaut.jpg"))
    assert len(faces) == 1
    f = faces[0]
    x1, y1, x2, y2 = f.box
    assert 0 <= x1 < x2 <= 512 and 0 <= y1 < y2 <= 512
    # Landmarks sit inside the box, eyes above the mouth.
    assert np.all((f.landmarks[:, 0] > x1) & (f.landmarks[:, 0] < x2))
    assert f.landmarks[0, 1] < f.landmarks[3, 1] and f.landmarks[1, 1] < f.landmarks[4, 1]


def test_downscaled_detection_maps_back_to_full_resolution(detector: FaceDetector) -> None:
    rgb = _rgb(ROOT / "examples" / "astronaut.jpg")
    big = np.asarray(Image.fromarray(rgb).resize((2048, 2048), Image.Resampling.LANCZOS))
    small_face = detector.detect(rgb)[0]
    big_face = detector.detect(big)[0]
    np.testing.assert_allclose(big_face.landmarks / 4, small_face.landmarks, atol=3.0)


def test_no_face_on_texture(detector: FaceDetector) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert detector.detect(noise) == []


def test_group_photo_finds_several_faces(detector: FaceDetector, faces_dir: Path) -> None:
    faces = detector.detect(_rgb(faces_dir / "groups" / "03_friends_cast_stairs.jpg"))
    assert len(faces) >= 5


def test_rejects_wrong_input(detector: FaceDetector) -> None:
    with pytest.raises(ValueError):
        detector.detect(np.zeros((10, 10), np.uint8))
