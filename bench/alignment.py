"""Whether the surrogates push a face the way a held-out model would have it pushed.

    CLOAKER_MODELS_DIR=.models .venv/bin/python bench/alignment.py ../shared/faces/people

A cloak transfers to a model it never saw only as far as that model's gradient shares a
direction with the surrogates'. For each probe photo (the first photo of each identity),
every model and crop geometry, this takes the gradient, with respect to the photo's pixels,
of the cosine between the face's embedding and its owner's (the mean of the owner's other
photos through the same geometry): the direction that makes the face look more like its
owner. Each gradient is blurred as ``mid`` blurs its cloak (a cloak cannot follow what the
blur removes) and scaled to unit length. Two tables, means over the photos:

- per held-out model and geometry, the cosine between its gradient and the leave-one-out
  ensemble's direction: the other three models' unit gradients, summed with ``mid``'s share
  of views (half aligned, half spread over the box growths);
- for one held-out cell (``--target``, default dlib's ResNet through box x1.6), the cosine
  with every model through every geometry (its own model through the others included), box
  growths beyond the evaluated ones included; ``--candidates`` adds models that are not in
  the curves' ensembles to this table, to screen a would-be surrogate before the curves.

0 is no shared direction (two random directions in a photo's pixels are near 0); 1 the
same. Clean photos only: the cloak moves the point where the gradients are taken, so this
is a local, first-step picture. Measures nothing that the curves use.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloaker.align import to_tensor  # noqa: E402
from cloaker.cloak.modes import MODES  # noqa: E402
from cloaker.cloak.optimizer import smooth  # noqa: E402
from cloaker.evaluation import geometry as geo  # noqa: E402
from cloaker.models.base import Extractor  # noqa: E402

MODELS = ("mobilefacenet", "dlib_resnet", "sface", "facenet_keras")
EVALUATED = ("aligned", "box1.0", "box1.3", "box1.6")
# Growths the second table adds beyond the evaluated ones.
WIDER = (1.9, 2.2)

Cell = tuple[str, str]  # (model, geometry name)


def geometry_of(name: str) -> geo.Geometry:
    """An evaluated geometry by name, or ``box<k>`` for any growth ``k``."""
    if name in geo.BY_NAME:
        return geo.BY_NAME[name]
    return geo.Geometry(name, float(name.removeprefix("box")))


def owner_gradient(
    extractor: Extractor,
    image: torch.Tensor,
    face: tuple[np.ndarray, np.ndarray],
    reference: np.ndarray,
    geometry: geo.Geometry,
    sigma: float,
) -> torch.Tensor:
    """The unit gradient (3, H, W), blurred at ``sigma`` px, of the cosine between the face's
    embedding through ``geometry`` and ``reference`` (a unit embedding), with respect to
    ``image`` (1, 3, H, W). ``face``: its 5 landmarks and detector box."""
    landmarks, box = face
    x = image.detach().requires_grad_()
    crops = geo.crops(extractor, x, landmarks[None], box[None], geometry)
    ref = torch.as_tensor(reference, dtype=x.dtype)
    (grad,) = torch.autograd.grad((extractor.embed(crops)[0] * ref).sum(), x)
    low = smooth(grad, sigma)[0] if sigma > 0 else grad[0]
    return low / low.norm().clamp_min(1e-12)


def ensemble_direction(
    grads: Mapping[Cell, torch.Tensor], held: str, box_share: float
) -> torch.Tensor:
    """The direction of the leave-one-out ensemble without ``held``: every other model's unit
    gradients, the aligned one weighted ``1 - box_share`` and the box growths sharing
    ``box_share`` evenly, summed and scaled to unit length."""
    boxes = [g for g in EVALUATED if g != "aligned"]
    weights = {"aligned": 1 - box_share, **{g: box_share / len(boxes) for g in boxes}}
    total = sum(weights[g] * grads[(m, g)] for m in MODELS if m != held for g in EVALUATED)
    assert isinstance(total, torch.Tensor)
    return total / total.norm().clamp_min(1e-12)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


def measure(
    root: Path, identities: int, photos: int, target: Cell, candidates: Sequence[str] = ()
) -> tuple[dict[Cell, list[float]], dict[Cell, list[float]], list[str]]:
    """(ensemble cosines per held-out cell, the target cell's cosine with every other cell,
    the probe photos used)."""
    from cloaker.detect import FaceDetector
    from cloaker.errors import CloakerError
    from cloaker.evaluation import harness
    from cloaker.imageio import decode
    from cloaker.models.zoo import load_extractor

    extractors = {n: load_extractor(n) for n in (*MODELS, *candidates)}
    detector = FaceDetector(device="cpu")
    mode = MODES["mid"]
    wide = [f"box{k}" for k in WIDER]
    per_held: dict[Cell, list[float]] = {}
    to_target: dict[Cell, list[float]] = {}
    used: list[str] = []
    for name, paths in list(harness.find_identities(root).items())[:identities]:
        paths = paths[:photos]
        if len(paths) < 2:
            continue
        try:
            rgbs = [decode(p.read_bytes()).rgb for p in paths]
        except CloakerError as exc:  # a bad file in the folder is reported, not fatal
            print(f"  {name}: cannot decode a photo ({exc.message}), skipped", file=sys.stderr)
            continue
        found = [detector.detect(rgb) for rgb in rgbs]
        if any(not f for f in found):
            print(f"  {name}: no face in one of its photos, skipped", file=sys.stderr)
            continue
        # The largest face of each photo is its owner's (as the curves take it).
        faces = [max(f, key=lambda f: f.size) for f in found]
        marks = [
            (np.asarray(f.landmarks, np.float64), np.asarray(f.box, np.float64)) for f in faces
        ]
        box = marks[0][1]
        sigma = mode.smooth * float(min(box[2] - box[0], box[3] - box[1]))
        image = to_tensor(rgbs[0])
        grads: dict[Cell, torch.Tensor] = {}
        for m, ext in extractors.items():
            for g in (*EVALUATED, *wide):
                geometry = geometry_of(g)
                refs = [
                    geo.embed(ext, rgb, lm[None], bx[None], geometry)[0]
                    for rgb, (lm, bx) in zip(rgbs[1:], marks[1:], strict=True)
                ]
                ref = np.mean(refs, 0)
                ref = ref / np.linalg.norm(ref)
                grads[(m, g)] = owner_gradient(ext, image, marks[0], ref, geometry, sigma)
        for held in MODELS:
            direction = ensemble_direction(grads, held, mode.geometry)
            for g in EVALUATED:
                per_held.setdefault((held, g), []).append(cosine(grads[(held, g)], direction))
        for cell, grad in grads.items():
            if cell != target:
                to_target.setdefault(cell, []).append(cosine(grads[target], grad))
        used.append(paths[0].relative_to(root).as_posix())
        print(f"  {name}: done", file=sys.stderr, flush=True)
    return per_held, to_target, used


def tables(
    per_held: Mapping[Cell, Sequence[float]],
    to_target: Mapping[Cell, Sequence[float]],
    target: Cell,
) -> list[str]:
    """The two markdown tables (means over photos)."""
    lines = [
        "Cosine between each held-out model's gradient and the leave-one-out ensemble's"
        " direction (mean over photos):",
        "",
        "| held out | " + " | ".join(EVALUATED) + " |",
        "| --- |" + " --- |" * len(EVALUATED),
    ]
    for m in MODELS:
        cells = [f"{np.mean(per_held[(m, g)]):+.3f}" for g in EVALUATED if (m, g) in per_held]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    growths = sorted({g for _, g in to_target}, key=lambda g: (g != "aligned", g))
    lines += [
        "",
        f"Cosine between {target[0]} through {target[1]} and each model through each"
        " geometry (mean over photos; its own cell left blank):",
        "",
        "| model | " + " | ".join(growths) + " |",
        "| --- |" + " --- |" * len(growths),
    ]
    for m in dict.fromkeys(c[0] for c in to_target):
        row = [f"{np.mean(to_target[(m, g)]):+.3f}" if (m, g) in to_target else "" for g in growths]
        lines.append(f"| {m} | " + " | ".join(row) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path, help="<dir>/<identity>/<photo>")
    ap.add_argument("--identities", type=int, default=8, help="first N identities (default 8)")
    ap.add_argument(
        "--photos", type=int, default=4, help="photos per identity: the probe and its owner's"
    )
    ap.add_argument("--target", default="dlib_resnet,box1.6", help="model,geometry")
    ap.add_argument(
        "--candidates",
        default="",
        type=lambda s: [m for m in s.split(",") if m],
        help="models to compare with the target only (e.g. arcface_mbf)",
    )
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, _, geometry = args.target.partition(",")
    target = (model, geometry)
    growths = (*EVALUATED, *(f"box{k}" for k in WIDER))
    if model not in (*MODELS, *args.candidates) or geometry not in growths:
        ap.error(
            f"--target: a model of {', '.join(MODELS)} (or a candidate), then one of "
            f"{', '.join(growths)}"
        )
    from cloaker.errors import CloakerError

    try:
        per_held, to_target, used = measure(
            args.dir, args.identities, args.photos, target, args.candidates
        )
    except (OSError, ValueError, CloakerError) as exc:  # no folder, unknown or missing model
        sys.exit(f"alignment: {exc}")
    if not used:
        sys.exit("no identity with a face in each of its photos")
    print(f"{len(used)} probe photos: {', '.join(used)}\n")
    print("\n".join(tables(per_held, to_target, target)))


if __name__ == "__main__":
    main()
