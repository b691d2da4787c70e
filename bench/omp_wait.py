"""12 MP mid cloak latency under one OpenMP waiting setting (run once per setting: OpenMP
reads its environment when torch loads).

    .venv/bin/python bench/omp_wait.py passive|default|SPINCOUNT [--runs 3]

``passive``: OMP_WAIT_POLICY=PASSIVE; ``default``: libgomp's own spin; a number: that
GOMP_SPINCOUNT. Prints the wall-clock seconds of each ``cloak_bytes`` call on the bench photo
after ``Engine.warm()``. Start competing load beside it (``yes > /dev/null &`` twice) to see
the setting under contention. A benchmark: it asserts nothing.
"""

from __future__ import annotations

import os
import sys
import time

setting = sys.argv[1] if len(sys.argv) > 1 else "passive"
runs = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--runs" else 3
os.environ.pop("OMP_WAIT_POLICY", None)
os.environ.pop("GOMP_SPINCOUNT", None)
if setting == "passive":
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
elif setting != "default":
    os.environ["GOMP_SPINCOUNT"] = str(int(setting))

import torch  # noqa: E402  (after the environment: OpenMP reads it once)

from cloaker.engine import Engine  # noqa: E402
from cloaker.evaluation import timing  # noqa: E402

engine = Engine(device="cpu")
engine.warm()
data = timing.bench_photo(timing.example_photo())
seconds = []
for _ in range(runs):
    t0 = time.perf_counter()
    engine.cloak_bytes(data, "mid", seed=0)
    seconds.append(round(time.perf_counter() - t0, 2))
print(f"{setting}: {seconds} s (torch {torch.__version__}, {torch.get_num_threads()} threads)")
