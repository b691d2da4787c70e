"""Cloaker: protect the faces in a photo from face-recognition scraping."""

from __future__ import annotations

import os

# Must precede the first torch import: OpenMP's default spin-waiting makes torch 5-20x
# slower when another process (the browser, a second job) competes for the cores, which
# is the normal situation for a background helper on a laptop. Passive waiting costs a
# few percent on an idle machine. An explicit user setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
