"""The engine's public face: bytes in, cloaked bytes out. The daemon and the CLI call this.

INTERFACE CONTRACT (implementation in progress by the lead; the signatures below are fixed):

    engine = Engine(device=None)          # "cpu" / "cuda" / "mps" / None = best available
    engine.warm()                          # load every model once (slow; call at start-up)
    engine.ready -> bool                   # True once warm() finished
    result = engine.cloak_bytes(data, mode="mid", progress=cb, cancel=event, seed=None)

``cb(fraction: float in [0, 1], stage: str)`` is called from the calling thread;
stages: "decode", "detect", "optimize", "encode", "done".
``cancel`` is a ``threading.Event``; when set, ``cloak_bytes`` raises
``cloaker.errors.CancelledError`` at the next step.
Errors: ``cloaker.errors.CloakerError`` subclasses (``BadImageError``, ``ImageTooLargeError``,
``UnsupportedImageError``, ``ModelError``, ``CancelledError``), each with a ``.code``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ProgressFn = Callable[[float, str], None]
MODES = ("low", "mid", "high", "fawkes")


@dataclass
class CloakResult:
    """What ``Engine.cloak_bytes`` returns.

    ``status`` is "cloaked" or "no_face" (pixels unchanged, metadata stripped).
    """

    data: bytes
    mime: str
    faces: int
    status: str
    seconds: float
    width: int
    height: int
