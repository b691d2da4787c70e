"""Cloaker: protect the faces in a photo from face-recognition scraping."""

from __future__ import annotations

import os

# Must precede the first torch import. OpenMP threads that wait for work spin before they
# sleep. libgomp's default spin (300,000 rounds) makes torch 5-20x slower when another
# process (the browser, a second job) competes for the cores, the normal situation for a
# background helper on a laptop; no spin at all (OMP_WAIT_POLICY=PASSIVE) puts every
# thread to sleep between the hundreds of small kernels of a cloaking step and made a
# 12 MP cloak 45% slower on an idle 2-core machine (7.4 s against 5.1 s). 10,000 rounds
# kept the idle speed and, with two busy processes beside it, matched passive waiting
# within run-to-run noise (BENCHMARKS.md). An explicit user setting of either wins.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")

__version__ = "0.1.0"
