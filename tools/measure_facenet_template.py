"""Measure FaceNet's landmark template and check its threshold on real photos.

FaceNet (Keras, MS-Celeb-1M) was trained on MTCNN box crops with a margin, not on
landmark-aligned crops. This tool:

1. detects the largest face of every photo under ``<faces>/people/<identity>/`` with the
   engine's detector (``cloaker.detect``, facenet-pytorch's MTCNN) and, for each margin m,
   maps its 5 landmarks into the 160-px crop that facenet-pytorch's
   ``MTCNN(image_size=160, margin=m)`` cuts (box grown by m/2 crop pixels on each side,
   stretched to 160 x 160), then averages them over all faces: the template candidate;
2. embeds every face two ways, the plain box crop and the engine's similarity warp
   (``cloaker.align``) onto the candidate template, and prints same-person and
   different-person distances, the equal error rate and the rates at candidate thresholds.

    .venv/bin/python tools/measure_facenet_template.py [--faces ../shared/faces]

Coordinates follow ``cloaker.align``: pixel centres at integers. facenet-pytorch uses the
MTCNN box as a Pillow crop box (pixel edges), so a landmark p lands in its box crop at
(p + 0.5 - box_origin) * 160 / box_extent - 0.5.

Reads the photos in place; writes nothing except the optional ``--cache`` of detections.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch
from measure_common import largest_faces
from PIL import Image, ImageOps

from cloaker.align import crop_matrices, to_tensor, warp
from cloaker.models.facenet import FaceNet, load_facenet

ROOT = Path(__file__).resolve().parent.parent
SIZE = FaceNet.size
MARGINS = (0, 16, 32, 44, 64)
THRESHOLDS = (1.0, 1.1, 1.242)


def box_crop_matrix(box: np.ndarray, margin: float) -> np.ndarray:
    """(2, 3) image-to-crop map of facenet-pytorch's margin crop (per-axis scale + shift)."""
    w, h = box[2] - box[0], box[3] - box[1]
    grow = np.array([margin * w / (SIZE - margin), margin * h / (SIZE - margin)]) / 2
    origin = box[:2] - grow
    scale = SIZE / (np.array([w, h]) + 2 * grow)
    shift = (0.5 - origin) * scale - 0.5
    return np.array([[scale[0], 0.0, shift[0]], [0.0, scale[1], shift[1]]])


def apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ m[:, :2].T + m[:, 2]


def load_faces(
    faces_dir: Path, cache: Path | None
) -> list[tuple[str, Path, np.ndarray, np.ndarray]]:
    """(identity, photo path, box (4,), landmarks (5, 2)) for the largest face of each photo."""
    if cache is not None and cache.is_file():
        data = np.load(cache)
        return [
            (str(i), Path(str(p)), b, lm)
            for i, p, b, lm in zip(
                data["ids"], data["paths"], data["boxes"], data["landmarks"], strict=True
            )
        ]
    faces = [
        (identity, path, face.box.astype(np.float64), face.landmarks.astype(np.float64))
        for identity, path, _, face in largest_faces(faces_dir, "*/*.jpg")
    ]
    if cache is not None:
        np.savez(
            cache,
            ids=[f[0] for f in faces],
            paths=[str(f[1]) for f in faces],
            boxes=np.stack([f[2] for f in faces]),
            landmarks=np.stack([f[3] for f in faces]),
        )
    return faces


def report(name: str, emb: torch.Tensor, ids: list[str]) -> None:
    same, diff = [], []
    for i, j in itertools.combinations(range(len(ids)), 2):
        d = float((emb[i] - emb[j]).norm())
        (same if ids[i] == ids[j] else diff).append(d)
    s, d = np.array(same), np.array(diff)
    grid = np.linspace(0.5, 1.6, 1101)
    frr = np.array([(s >= t).mean() for t in grid])
    far = np.array([(d < t).mean() for t in grid])
    k = int(np.argmin(np.abs(frr - far)))
    print(
        f"{name}: same mean {s.mean():.3f} max {s.max():.3f} (n {len(s)}); "
        f"diff mean {d.mean():.3f} min {d.min():.3f} (n {len(d)}); "
        f"EER {(frr[k] + far[k]) / 2:.4f} at {grid[k]:.3f}"
    )
    for t in THRESHOLDS:
        print(
            f"  threshold {t}: same-person pairs accepted {(s < t).mean():.4f}, "
            f"different-person pairs rejected {(d >= t).mean():.4f}"
        )


def embed(model: FaceNet, crops: list[torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model.embed(b) for b in torch.cat(crops).split(16)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "faces")
    parser.add_argument("--cache", type=Path, help="npz to save/reuse the detections")
    args = parser.parse_args()
    model = load_facenet(ROOT / ".models" / "facenet_keras_2024.h5", device="cpu")
    faces = load_faces(args.faces, args.cache)
    ids = [f[0] for f in faces]
    print(f"{len(faces)} faces, {len(set(ids))} identities")
    images = {
        p: to_tensor(np.asarray(ImageOps.exif_transpose(Image.open(p)).convert("RGB")))
        for _, p, _, _ in faces
    }

    templates = {}
    for margin in MARGINS:
        pts = np.stack([apply(box_crop_matrix(b, margin), lm) for _, _, b, lm in faces])
        templates[margin] = pts.mean(axis=0)
        print(
            f"margin {margin}: mean landmarks {np.round(templates[margin], 2).tolist()}, "
            f"mean per-point std {pts.std(axis=0).mean():.2f}"
        )
    for margin in MARGINS:
        box_crops = [
            warp(images[p], box_crop_matrix(b, margin)[None], SIZE) for _, p, b, _ in faces
        ]
        report(f"box crop, margin {margin}", embed(model, box_crops), ids)
        aligned = [
            warp(images[p], crop_matrices(lm[None], templates[margin]), SIZE)
            for _, p, _, lm in faces
        ]
        report(f"aligned to margin-{margin} template", embed(model, aligned), ids)


if __name__ == "__main__":
    main()
