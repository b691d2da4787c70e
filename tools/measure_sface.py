"""Check SFace's published threshold on real photos and time the PyTorch port.

SFace's threshold is published (OpenCV Zoo: L2 distance between normalised features
<= 1.128, i.e. cosine >= 0.363), for crops aligned by OpenCV on the ArcFace template and fed
as RGB. This tool:

1. detects the largest face of every photo under ``<faces>/people/<identity>/`` with the
   project's detector and cuts 112-px crops on the ArcFace template (``cloaker.align``);
2. embeds them with the PyTorch port, as RGB (OpenCV's ``blobFromImage(..., swapRB=true)``
   on a BGR image) and, as a check of the channel order, as BGR;
3. reports over all photo pairs ROC AUC, leave-one-out nearest-neighbour identification,
   the equal-error rate, the threshold maximising TPR - FPR (Youden's J) with its TPR and
   FPR, and TPR / FPR at the published threshold;
4. with ``--timing``, times forward and forward+backward at batch 1 on one thread.

    .venv/bin/python tools/measure_sface.py [--faces ../shared/faces] [--timing]

Reads the photos in place; writes nothing.

Result (../shared/faces/people: 126 faces, 23 identities, 307 same-person and 7,568
different-person pairs): RGB AUC 1.000, nearest-neighbour identification 126/126,
same-person distances at most 0.993, different-person at least 1.055; at the published
1.128: TPR 1.000 (307/307), FPR 0.0024 (18/7,568). Fed as BGR the model is worse (same-
person mean 0.773 vs 0.717), which confirms RGB. Timing on the shared 2-core machine:
forward 20 ms, forward+backward 53 ms at batch 1 on one thread.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from cloaker.align import crop_matrices, to_tensor, warp
from cloaker.detect import FaceDetector
from cloaker.models.sface import SIZE, TEMPLATE, THRESHOLD, load_sface

ROOT = Path(__file__).resolve().parent.parent


def pair_stats(emb: torch.Tensor, ids: list[str], fixed: tuple[float, ...]) -> dict[str, object]:
    dist = torch.cdist(emb, emb).numpy()
    labels = np.array(ids)
    iu = np.triu_indices(len(ids), 1)
    d = dist[iu]
    same = (labels[:, None] == labels[None, :])[iu]
    s, o = d[same], d[~same]
    auc = float((s[:, None] < o[None, :]).mean())
    np.fill_diagonal(dist, np.inf)
    nn_acc = float((labels[dist.argmin(1)] == labels).mean())
    grid = np.linspace(0.3, 1.6, 1301)
    tpr = np.array([(s < t).mean() for t in grid])
    fpr = np.array([(o < t).mean() for t in grid])
    j = int(np.argmax(tpr - fpr))
    e = int(np.argmin(np.abs(fpr - (1 - tpr))))
    return {
        "pairs": f"{len(s)} same / {len(o)} different",
        "auc": round(auc, 5),
        "nn_acc": round(nn_acc, 4),
        "eer": f"{(fpr[e] + 1 - tpr[e]) / 2:.4f} at t={grid[e]:.3f}",
        "youden": f"t={grid[j]:.3f}: TPR {tpr[j]:.4f} FPR {fpr[j]:.4f}",
        "same d": f"mean {s.mean():.3f} max {s.max():.3f}",
        "diff d": f"mean {o.mean():.3f} min {o.min():.3f}",
        **{
            f"at {t}": f"TPR {(s < t).mean():.4f} ({(s < t).sum()}/{len(s)}) "
            f"FPR {(o < t).mean():.4f} ({(o < t).sum()}/{len(o)})"
            for t in fixed
        },
    }


def timing(model) -> None:
    x = torch.rand(1, 3, SIZE, SIZE)
    with torch.no_grad():
        for _ in range(3):
            model.embed(x)
        t = time.perf_counter()
        for _ in range(10):
            model.embed(x)
        fwd = (time.perf_counter() - t) / 10
    xg = x.clone().requires_grad_(True)
    for _ in range(2):
        model.embed(xg).sum().backward()
    t = time.perf_counter()
    for _ in range(10):
        model.embed(xg).sum().backward()
    both = (time.perf_counter() - t) / 10
    print(f"batch 1, 1 thread: forward {fwd * 1e3:.1f} ms, forward+backward {both * 1e3:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "faces")
    parser.add_argument("--timing", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_sface(ROOT / ".models" / "face_recognition_sface_2021dec_int8bq.onnx", "cpu")
    if args.timing:
        timing(model)
    torch.set_grad_enabled(False)
    detector = FaceDetector(device="cpu")
    template = np.array(TEMPLATE)
    ids: list[str] = []
    crops: list[torch.Tensor] = []
    for path in sorted((args.faces / "people").glob("*/*")):
        rgb = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        faces = detector.detect(rgb)
        if not faces:
            print(f"no face: {path}")
            continue
        face = max(faces, key=lambda f: f.size)
        ids.append(path.parent.name)
        crops.append(warp(to_tensor(rgb), crop_matrices(face.landmarks[None], template), SIZE))
    print(f"{len(ids)} faces, {len(set(ids))} identities")
    x = torch.cat(crops)
    for order, batch in (("RGB", x), ("BGR", x.flip(1))):
        emb = torch.cat([model.embed(b) for b in batch.split(16)])
        print(f"{order}:")
        for key, value in pair_stats(emb, ids, (1.0, THRESHOLD)).items():
            print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
