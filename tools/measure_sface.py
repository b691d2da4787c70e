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

from measure_common import measure_rgb_bgr, model_file

from cloaker.models.sface import THRESHOLD, load_sface


def main() -> None:
    measure_rgb_bgr(__doc__, lambda: load_sface(model_file("sface"), "cpu"), (1.0, THRESHOLD))


if __name__ == "__main__":
    main()
