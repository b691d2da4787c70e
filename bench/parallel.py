"""The default ensemble's forward and backward passes (batch 1, each surrogate at its own
input size), one surrogate after the other on every torch thread, against side by side on
worker threads as the optimizer runs them (``cloaker.cloak.optimizer.run_surrogates``).

    .venv/bin/python bench/parallel.py [--repeats 20]

Prints the median milliseconds per step of each. A benchmark: it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from cloaker.cloak.optimizer import run_surrogates
from cloaker.models.zoo import ENSEMBLE, load_extractor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    models = {n: load_extractor(n, "cpu") for n in ENSEMBLE}
    inputs = {n: torch.rand(1, 3, m.size, m.size) for n, m in models.items()}
    order = sorted(models, key=lambda n: -models[n].size)

    def one(name: str) -> torch.Tensor:
        x = inputs[name].clone().requires_grad_()
        (grad,) = torch.autograd.grad(models[name].embed(x).sum(), x)
        return grad

    def timed(step: Callable[[], object]) -> float:
        for _ in range(3):
            step()
        runs = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            step()
            runs.append(time.perf_counter() - t0)
        return statistics.median(runs) * 1000

    cpu = torch.device("cpu")
    after = timed(lambda: run_surrogates(order, one, cpu, allowed=False))
    beside = timed(lambda: run_surrogates(order, one, cpu))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, ensemble {', '.join(order)}"
    )
    print(f"one after the other: {after:.1f} ms per step")
    print(f"side by side:        {beside:.1f} ms per step")


if __name__ == "__main__":
    main()
