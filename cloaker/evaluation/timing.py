"""Timings for ``cloaker bench``: embed forward and forward + backward per model, face
detection, and end-to-end cloak latency on a synthetic 12 MP photo.

Every figure is the median of ``repeats`` timed runs after one untimed warm-up run
(first-call allocations, kernel selection, lazy initialisation).
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cloaker.models.base import Extractor

# The end-to-end photo: 12 MP, 4:3, one face (the project's public-domain example).
BENCH_SIZE = (4000, 3000)


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so wall-clock times are real."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def median_seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall-clock seconds of ``fn`` over ``repeats`` runs after one warm-up run."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def embed_timings(
    extractor: Extractor,
    device: torch.device,
    batch: int,
    repeats: int,
) -> dict[str, float | None]:
    """Median seconds per call (not per face) of ``embed`` on ``batch`` random crops:
    ``forward`` under no_grad and ``forward_backward`` (input requires grad, the cost of
    one optimization step; None for a model that is not differentiable)."""
    gen = torch.Generator().manual_seed(0)
    crops = torch.rand(batch, 3, extractor.size, extractor.size, generator=gen).to(device)

    def forward() -> None:
        with torch.no_grad():
            extractor.embed(crops)

    def forward_backward() -> None:
        x = crops.clone().requires_grad_(True)
        extractor.embed(x).sum().backward()

    fb = median_seconds(forward_backward, device, repeats) if extractor.differentiable else None
    return {"forward": median_seconds(forward, device, repeats), "forward_backward": fb}


def bench_photo(example: Path, size: tuple[int, int] = BENCH_SIZE, quality: int = 92) -> bytes:
    """A ``size`` (W, H) JPEG made from ``example``: its top 4:3 part, upscaled (bicubic)."""
    with Image.open(example) as im:
        rgb = im.convert("RGB")
    w, h = rgb.size
    ratio = size[0] / size[1]
    crop_h = min(h, round(w / ratio))
    crop_w = min(w, round(crop_h * ratio))
    big = rgb.crop((0, 0, crop_w, crop_h)).resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def peak_rss_bytes() -> int | None:
    """Peak resident set size of this process so far, in bytes (None where the OS has no
    ``resource`` module, i.e. Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def example_photo() -> Path:
    """examples/astronaut.jpg of a source checkout (FileNotFoundError when absent)."""
    path = Path(__file__).resolve().parents[2] / "examples" / "astronaut.jpg"
    if not path.is_file():
        raise FileNotFoundError(f"the example photo is missing: {path}")
    return path


def pixels(data: bytes) -> np.ndarray:
    """Decode a JPEG made by ``bench_photo`` to (H, W, 3) uint8."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))
