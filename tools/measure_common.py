"""What the ``measure_*`` tools share: the largest face of every photo under
``<faces>/people/<identity>/``, pair statistics over all photo pairs, a batch-1 timing, and
the RGB / BGR measuring loop of a model fed ArcFace crops.

Imported by the tools as a sibling module (``python tools/measure_*.py`` puts ``tools/`` on
the path).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from cloaker.align import crop_matrices, to_tensor, warp
from cloaker.detect import Face, FaceDetector
from cloaker.models.base import Extractor
from cloaker.models.registry import ARTIFACTS

ROOT = Path(__file__).resolve().parent.parent


def model_file(name: str) -> Path:
    """The registry model ``name``'s artifact in the project's ``.models``."""
    return ROOT / ".models" / ARTIFACTS[name].filename


def largest_faces(
    faces_dir: Path, pattern: str = "*/*"
) -> Iterator[tuple[str, Path, np.ndarray, Face]]:
    """(identity, photo path, RGB photo, its largest face) for every photo under
    ``<faces_dir>/people`` matching ``pattern`` in which the project's detector finds a
    face; the others are printed and skipped."""
    detector = FaceDetector(device="cpu")
    for path in sorted((faces_dir / "people").glob(pattern)):
        rgb = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        faces = detector.detect(rgb)
        if not faces:
            print(f"no face: {path}")
            continue
        yield path.parent.name, path, rgb, max(faces, key=lambda f: f.size)


def pair_stats(emb: torch.Tensor, ids: list[str], fixed: tuple[float, ...]) -> dict[str, object]:
    """Over all pairs: counts, ROC AUC, leave-one-out nearest-neighbour identification,
    the equal-error rate, Youden's J and best pair accuracy on a threshold grid, distance
    extremes, and (same-person, different-person) counts below each ``fixed`` threshold."""
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
    acc = np.array([((s < t).sum() + (o >= t).sum()) / len(d) for t in grid])
    j = int(np.argmax(tpr - fpr))
    e = int(np.argmin(np.abs(fpr - (1 - tpr))))
    a = int(np.argmax(acc))
    return {
        "same_pairs": len(s),
        "diff_pairs": len(o),
        "auc": auc,
        "nn_acc": nn_acc,
        "eer": float((fpr[e] + 1 - tpr[e]) / 2),
        "eer_t": float(grid[e]),
        "youden_t": float(grid[j]),
        "youden_tpr": float(tpr[j]),
        "youden_fpr": float(fpr[j]),
        "acc_t": float(grid[a]),
        "acc": float(acc[a]),
        "acc_tpr": float(tpr[a]),
        "acc_fpr": float(fpr[a]),
        "same_mean": float(s.mean()),
        "same_max": float(s.max()),
        "diff_mean": float(o.mean()),
        "diff_min": float(o.min()),
        "below": {t: (int((s < t).sum()), int((o < t).sum())) for t in fixed},
    }


def summary(st: dict) -> dict[str, object]:
    """``pair_stats`` as the lines the ArcFace-crop tools print."""
    n_same, n_diff = st["same_pairs"], st["diff_pairs"]
    return {
        "pairs": f"{n_same} same / {n_diff} different",
        "auc": round(st["auc"], 5),
        "nn_acc": round(st["nn_acc"], 4),
        "eer": f"{st['eer']:.4f} at t={st['eer_t']:.3f}",
        "youden": f"t={st['youden_t']:.3f}: TPR {st['youden_tpr']:.4f} FPR {st['youden_fpr']:.4f}",
        "same d": f"mean {st['same_mean']:.3f} max {st['same_max']:.3f}",
        "diff d": f"mean {st['diff_mean']:.3f} min {st['diff_min']:.3f}",
        **{
            f"at {t}": f"TPR {ts / n_same:.4f} ({ts}/{n_same}) "
            f"FPR {to / n_diff:.4f} ({to}/{n_diff})"
            for t, (ts, to) in st["below"].items()
        },
    }


def timing(model: Extractor) -> None:
    x = torch.rand(1, 3, model.size, model.size)
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


def measure_rgb_bgr(
    doc: str,
    load: Callable[[], Extractor],
    fixed: tuple[float, ...],
    reference: Callable[[Extractor, torch.Tensor], str] | None = None,
) -> None:
    """The tool ``doc`` describes: parse ``--faces`` and ``--timing`` (and ``--reference``
    when ``reference`` is given), optionally time the model, cut crops on its template and
    print ``summary`` for them fed as RGB and, as a check of the channel order, as BGR."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "faces")
    parser.add_argument("--timing", action="store_true")
    if reference is not None:
        parser.add_argument("--reference", action="store_true", help="compare with onnxruntime")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load()
    if args.timing:
        timing(model)
    torch.set_grad_enabled(False)
    template = np.array(model.template)
    ids: list[str] = []
    crops: list[torch.Tensor] = []
    for identity, _, rgb, face in largest_faces(args.faces):
        ids.append(identity)
        m = crop_matrices(face.landmarks[None], template)
        crops.append(warp(to_tensor(rgb), m, model.size))
    print(f"{len(ids)} faces, {len(set(ids))} identities")
    x = torch.cat(crops)
    for order, batch in (("RGB", x), ("BGR", x.flip(1))):
        emb = torch.cat([model.embed(b) for b in batch.split(16)])
        print(f"{order}:")
        if reference is not None and args.reference:
            print(f"  {reference(model, batch)}")
        for key, value in summary(pair_stats(emb, ids, fixed)).items():
            print(f"  {key}: {value}")
