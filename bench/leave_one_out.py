"""Leave-one-model-out protection: optimize against all models but one, measure on the one
left out, for each model in turn; report the mean and the worst (MODELS.md, "Holding a
model out"). Writes the table into BENCHMARKS.md between <!-- loo:start --> and
<!-- loo:end -->.

    .venv/bin/python bench/leave_one_out.py ../shared/faces/people \
        --modes mid,fawkes --limit-identities 8 --photos-per-identity 2

A benchmark, not a test: it asserts nothing and takes minutes on a CPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import sys
from pathlib import Path

import torch

from cloaker.engine import Engine
from cloaker.evaluation import harness
from cloaker.evaluation.summary import HELD_OUT

MODELS = ("facenet_keras", "dlib_resnet", "sface", "mobilefacenet")
START, END = "<!-- loo:start -->", "<!-- loo:end -->"


def run(args: argparse.Namespace) -> str:
    identities = harness.find_identities(args.dir)
    probes, gallery = harness.select_photos(
        identities,
        limit_identities=args.limit_identities,
        photos_per_identity=args.photos_per_identity,
    )
    rows = []
    per_mode: dict[str, dict[str, list[float]]] = {}
    for held in MODELS:
        ensemble = tuple(m for m in MODELS if m != held)
        engine = Engine(device=args.device, ensemble=ensemble)
        engine.warm()
        ev = harness.evaluate(engine, probes, args.modes, heldout=(held,), gallery=gallery)
        for mode in args.modes:
            s = ev.summary(mode)
            score = next(x for x in s.role_scores(HELD_OUT) if x.name == held)
            cells = []
            for t, _label in ev.transforms:
                p = score.protection(t)
                per_mode.setdefault(mode, {}).setdefault(t, []).append(p if p is not None else 0)
                cells.append(
                    f"{p:.0%} ({score.protected.get(t, 0)}/{score.eligible.get(t, 0)})"
                    if p is not None
                    else "n/a"
                )
            rows.append(
                f"| {mode} | {held} | {', '.join(ensemble)} | "
                + " | ".join(cells)
                + f" | {s.face_ssim_mean:.4f} ({s.face_ssim_min:.4f}) | {s.face_dssim_mean:.4f}"
                + f" | {s.seconds_mean:.1f} |"
            )
            print(rows[-1], file=sys.stderr, flush=True)
    labels = [label for _t, label in ev.transforms]
    head = (
        "| mode | held out | ensemble | "
        + " | ".join(labels)
        + " | face SSIM mean (min) | face DSSIM mean | s/photo |\n"
        + "|"
        + " --- |" * (6 + len(labels))
    )
    summary = []
    for mode, by_t in per_mode.items():
        parts = [
            f"{t}: mean {statistics.fmean(v):.0%}, worst {min(v):.0%}" for t, v in by_t.items()
        ]
        summary.append(f"- **{mode}**: " + "; ".join(parts))
    cmd = " ".join(["bench/leave_one_out.py", *sys.argv[1:]])
    return "\n".join(
        [
            START,
            f"Command: `.venv/bin/python {cmd}`  ",
            f"Date: {dt.date.today()}; machine: {platform.machine()}, {torch.get_num_threads()} "
            f"torch threads, device {args.device or 'auto'}; {len(probes)} probe photos.",
            "Face SSIM: luminance, face box, native resolution; face DSSIM = (1 - SSIM) / 2 of "
            "the same box (the budget itself is measured at 112 px in colour).",
            "",
            head,
            *rows,
            "",
            *summary,
            END,
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--modes", default="mid,fawkes", type=lambda s: s.split(","))
    ap.add_argument("--limit-identities", type=int, default=8)
    ap.add_argument("--photos-per-identity", type=int, default=2)
    ap.add_argument("--device", default=None)
    ap.add_argument("--markdown", type=Path, default=Path("BENCHMARKS.md"))
    args = ap.parse_args()
    text = run(args)
    old = args.markdown.read_text() if args.markdown.exists() else ""
    if START in old and END in old:
        new = old[: old.index(START)] + text + old[old.index(END) + len(END) :]
    else:
        new = old + ("\n" if old else "") + text + "\n"
    args.markdown.write_text(new)
    print(text)


if __name__ == "__main__":
    main()
