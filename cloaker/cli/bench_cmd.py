"""``cloaker bench [--json] [--device DEV] [--repeats N]``: the timing table.

Per model (ensemble and held-out): embed forward, and forward + backward to the pixels
(one optimization step), at batch 1 and 8. Face detection and end-to-end cloak latency
(decode, detect, optimize, encode) on a 12 MP JPEG with one face, made at run time from
examples/astronaut.jpg, for each of ``--modes`` (default mid and the fawkes preset).
Every time is the median of N runs after one untimed warm-up run. Also: peak RSS and the
machine (CPUs, torch threads, device).
Exit codes: 0 done, 1 models or the example photo missing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from cloaker.cli import EXIT_FAILED, EXIT_OK
from cloaker.cli.options import (
    add_device,
    add_models,
    device_arg,
    error,
    machine,
    mode_list,
    positive_int,
    resolve_models,
)
from cloaker.errors import CloakerError

BATCHES = (1, 8)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="time the models, detection and end-to-end cloaking",
        description=__doc__.split("\n\n")[1].split("Exit codes")[0].strip(),
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=3,
        metavar="N",
        help="timed runs per figure, after one warm-up run (default: 3)",
    )
    parser.add_argument(
        "--modes",
        type=mode_list,
        default=("mid", "fawkes"),
        metavar="M1,M2",
        help="modes for the end-to-end latency (default: mid,fawkes)",
    )
    parser.add_argument(
        "--photo",
        type=Path,
        default=None,
        metavar="FILE",
        help="end-to-end photo (default: astronaut.jpg upscaled to 12 MP)",
    )
    add_device(parser)
    add_models(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        doc = measure(args)
    except (ValueError, CloakerError) as exc:
        error("bench", str(exc))
        return EXIT_FAILED
    except OSError as exc:
        error("bench", f"cannot read the photo: {exc}")
        return EXIT_FAILED
    print(json.dumps(doc, indent=2) if args.json else format_text(doc))
    return EXIT_OK


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run every timing; returns the bench document (seconds, bytes)."""
    import torch

    from cloaker.engine import Engine
    from cloaker.evaluation import timing
    from cloaker.models.zoo import load_extractor

    ensemble, heldout = resolve_models(args)
    t0 = time.perf_counter()
    engine = Engine(device=device_arg(args), ensemble=ensemble)
    engine.warm()
    models = {name: ("ensemble", m) for name, m in engine.extractors.items()}
    models.update({n: ("held-out", load_extractor(n, engine.device)) for n in heldout})
    load_s = time.perf_counter() - t0
    _say(f"models loaded in {load_s:.1f} s; timing embeddings")

    embed_rows = []
    for name, (role, model) in models.items():
        for batch in BATCHES:
            r = timing.embed_timings(model, engine.device, batch, args.repeats)
            embed_rows.append(
                {
                    "model": name,
                    "role": role,
                    "size": model.size,
                    "batch": batch,
                    "forward_s": r["forward"],
                    "forward_backward_s": r["forward_backward"],
                }
            )

    if args.photo is not None:
        data, source = args.photo.read_bytes(), str(args.photo)
    else:
        example = timing.example_photo()
        data, source = timing.bench_photo(example), f"{example.name} upscaled to 4000x3000"
    rgb = timing.pixels(data)
    _say("timing detection")
    detect_s = timing.median_seconds(lambda: engine.detect(rgb), engine.device, args.repeats)
    faces = len(engine.detect(rgb))
    e2e = {}
    for mode in args.modes:
        _say(f"timing end-to-end cloak, mode {mode} ({args.repeats} + 1 warm-up runs)")
        e2e[mode] = timing.median_seconds(
            lambda m=mode: engine.cloak_bytes(data, m, seed=0), engine.device, args.repeats
        )
    return {
        "machine": {
            "description": machine(engine.device),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "device": str(engine.device),
            "torch": torch.__version__,
        },
        "repeats": args.repeats,
        "model_load_s": load_s,
        "embed": embed_rows,
        "photo": {
            "source": source,
            "width": int(rgb.shape[1]),
            "height": int(rgb.shape[0]),
            "bytes": len(data),
            "faces": faces,
        },
        "detect_s": detect_s,
        "cloak_s": e2e,
        "peak_rss_bytes": timing.peak_rss_bytes(),
    }


def format_text(doc: dict[str, Any]) -> str:
    """The bench document as tables."""
    p = doc["photo"]
    lines = [
        f"machine: {doc['machine']['description']}",
        f"median of {doc['repeats']} runs after one warm-up; models loaded in "
        f"{doc['model_load_s']:.1f} s",
        "",
        "| model | role | crop | batch | forward ms | forward+backward ms "
        "| forward ms/face | forward+backward ms/face |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["embed"]:
        fb = r["forward_backward_s"]
        lines.append(
            f"| {r['model']} | {r['role']} | {r['size']} | {r['batch']} "
            f"| {r['forward_s'] * 1e3:.1f} | {_ms(fb)} "
            f"| {r['forward_s'] * 1e3 / r['batch']:.1f} "
            f"| {_ms(None if fb is None else fb / r['batch'])} |"
        )
    lines += [
        "",
        f"photo: {p['source']}, {p['width']}x{p['height']}, {p['bytes'] / 1e6:.1f} MB, "
        f"{p['faces']} face(s)",
        f"detection: {doc['detect_s']:.2f} s",
    ]
    lines += [f"end-to-end cloak, mode {m}: {s:.2f} s" for m, s in doc["cloak_s"].items()]
    rss = doc["peak_rss_bytes"]
    lines.append("peak RSS: " + ("n/a on this OS" if rss is None else f"{rss / 2**20:.0f} MiB"))
    return "\n".join(lines)


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:.1f}"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
