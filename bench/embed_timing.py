"""Time face-embedding extractors: forward, and forward + backward to the input pixels.

``bench_forward_backward(extractor, batch, repeats)`` times ``embed`` on random crops of the
extractor's size, on the extractor's device, and reports the median seconds per face
(forward under ``no_grad``; forward + backward with the input requiring grad, the cost of
one cloaking step). Extractors with ``differentiable = False`` get forward only.

    .venv/bin/python bench/embed_timing.py mobilefacenet mobilefacenet-litert \
        [--batch 1 8] [--repeats 5] [--device cpu]

Benchmarks are not tests: they print figures for BENCHMARKS.md and assert nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from cloaker.evaluation.metrics import device_of
from cloaker.evaluation.timing import sync
from cloaker.models.base import Extractor


def _median_seconds(
    fn: Callable[[], None], device: torch.device, repeats: int
) -> tuple[float, float]:
    """Median wall-clock and median process CPU seconds (all threads) of ``fn``."""
    fn()  # warm-up: first-call allocations, kernel selection, lazy init
    sync(device)
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        sync(device)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def bench_forward_backward(
    extractor: Extractor, batch: int, repeats: int = 5, seed: int = 0
) -> dict[str, float | None]:
    """Median seconds per face over ``repeats`` timed runs (after one warm-up run).

    ``extractor``: any ``Extractor``; crops (batch, 3, size, size) uniform in [0, 1] on its
    device. Returns wall-clock ``{"forward": s, "forward_backward": s or None}`` (None when
    the extractor is not differentiable) plus the same as process CPU time, all threads
    summed, under ``"forward_cpu"`` and ``"forward_backward_cpu"``: on a shared machine
    the CPU time is the steadier figure.
    """
    device = device_of(extractor)
    gen = torch.Generator().manual_seed(seed)
    crops = torch.rand(batch, 3, extractor.size, extractor.size, generator=gen).to(device)

    def forward() -> None:
        with torch.no_grad():
            extractor.embed(crops)

    def forward_backward() -> None:
        x = crops.clone().requires_grad_(True)
        extractor.embed(x).sum().backward()

    wall, cpu = _median_seconds(forward, device, repeats)
    result: dict[str, float | None] = {
        "forward": wall / batch,
        "forward_cpu": cpu / batch,
        "forward_backward": None,
        "forward_backward_cpu": None,
    }
    if extractor.differentiable:
        wall, cpu = _median_seconds(forward_backward, device, repeats)
        result["forward_backward"] = wall / batch
        result["forward_backward_cpu"] = cpu / batch
    return result


def _load(name: str, device: str | None) -> Extractor:
    if name == "mobilefacenet-litert":
        from cloaker.models.mobilefacenet import load_mobilefacenet

        return load_mobilefacenet(device=device, backend="litert")
    from cloaker.models.zoo import load_extractor

    return load_extractor(name, device=device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help="registry names, or mobilefacenet-litert")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in args.models:
        extractor = _load(name, args.device)
        for batch in args.batch:
            r = bench_forward_backward(extractor, batch, args.repeats)
            fb, fbc = r["forward_backward"], r["forward_backward_cpu"]
            fb_text = "n/a" if fb is None or fbc is None else f"{fb * 1e3:.1f} ({fbc * 1e3:.1f})"
            print(
                f"{name:22s} {device_of(extractor)!s:6s} batch {batch:2d}, ms/face wall "
                f"(CPU): forward {r['forward'] * 1e3:.1f} ({r['forward_cpu'] * 1e3:.1f}), "
                f"forward+backward {fb_text}"
            )


if __name__ == "__main__":
    main()
