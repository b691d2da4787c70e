"""bench/alignment.py: the gradient it takes points towards the owner, and the ensemble's
direction weighs the surrogates' gradients as ``mid`` draws its views."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cloaker.align import to_tensor
from cloaker.evaluation import geometry as geo

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def alignment():
    spec = importlib.util.spec_from_file_location(
        "bench_alignment", ROOT / "bench" / "alignment.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_alignment"] = module
    spec.loader.exec_module(module)
    return module


def _basis(alignment) -> dict[tuple[str, str], torch.Tensor]:
    """One orthonormal direction per (model, geometry) cell."""
    cells = [(m, g) for m in alignment.MODELS for g in alignment.EVALUATED]
    eye = torch.eye(len(cells))
    return {c: eye[i].reshape(1, 1, len(cells)) for i, c in enumerate(cells)}


def test_ensemble_direction_leaves_the_held_out_model_out_and_weighs_the_views(alignment):
    grads = _basis(alignment)
    d = alignment.ensemble_direction(grads, "dlib_resnet", 0.5)
    assert float(d.norm()) == pytest.approx(1.0)
    weight = {c: float((d * v).sum()) for c, v in grads.items()}
    assert all(w == 0 for (m, _), w in weight.items() if m == "dlib_resnet")
    aligned = weight[("sface", "aligned")]
    # Half of the views aligned, the other half over three box growths.
    assert weight[("sface", "box1.6")] == pytest.approx(aligned / 3)
    assert weight[("facenet_keras", "box1.0")] == pytest.approx(aligned / 3)
    assert weight[("mobilefacenet", "aligned")] == pytest.approx(aligned)
    lines = alignment.tables(
        {c: [w] for c, w in weight.items()},
        {c: [0.1] for c in grads if c != ("dlib_resnet", "box1.6")},
        ("dlib_resnet", "box1.6"),
    )
    rows = [line for line in lines if line.startswith("| dlib_resnet |")]
    # Its weight in the ensemble (none), then the target's own cell left blank.
    assert rows == [
        "| dlib_resnet | +0.000 | +0.000 | +0.000 | +0.000 |",
        "| dlib_resnet | +0.100 | +0.100 | +0.100 |  |",
    ]
    assert sum(line.startswith("| sface |") for line in lines) == 2  # one row per table


def test_a_step_along_the_gradient_makes_the_face_look_more_like_its_owner(
    alignment, models_dir, faces_dir
):
    from cloaker.detect import FaceDetector
    from cloaker.imageio import decode
    from cloaker.models.zoo import load_extractor

    detector = FaceDetector(device="cpu")
    sface = load_extractor("sface", "cpu")
    folder = faces_dir / "people" / "ariel_sharon"
    rgbs = [decode((folder / f"{i}.jpg").read_bytes()).rgb for i in (1, 2, 3)]
    faces = [max(detector.detect(rgb), key=lambda f: f.size) for rgb in rgbs]
    g = geo.BY_NAME["box1.3"]
    ref = np.mean(
        [
            geo.embed(sface, r, f.landmarks[None], f.box[None], g)[0]
            for r, f in zip(rgbs[1:], faces[1:], strict=True)
        ],
        0,
    )
    ref = ref / np.linalg.norm(ref)
    face = (np.asarray(faces[0].landmarks, np.float64), np.asarray(faces[0].box, np.float64))
    image = to_tensor(rgbs[0])
    grad = alignment.owner_gradient(sface, image, face, ref, g, sigma=4.0)
    assert grad.shape == image.shape[1:]
    assert float(grad.norm()) == pytest.approx(1.0, abs=1e-5)

    def similarity(x: torch.Tensor) -> float:
        with torch.no_grad():
            crops = geo.crops(sface, x, face[0][None], face[1][None], g)
            return float((sface.embed(crops)[0] * torch.as_tensor(ref)).sum())

    clean = similarity(image)
    assert similarity(image + grad[None]) > clean + 0.02
    assert similarity(image - grad[None]) < clean - 0.02
