"""The engine's public face: bytes in, cloaked bytes out. The daemon and the CLI call this.

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

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cloaker.cloak.modes import DEFAULT_MODE, MODE_NAMES, AnyMode
from cloaker.cloak.pipeline import CloakInfo, cloak_faces
from cloaker.detect import Face, FaceDetector
from cloaker.device import pick_device
from cloaker.errors import CancelledError
from cloaker.models.base import Extractor
from cloaker.models.zoo import ENSEMBLE, load_extractor

ProgressFn = Callable[[float, str], None]


@dataclass
class CloakResult:
    """What ``Engine.cloak_bytes`` returns.

    ``status`` is "cloaked" or "no_face" (pixels unchanged, metadata stripped).
    ``notes`` carries what decoding had to change (e.g. "first frame of an animated GIF").
    """

    data: bytes
    mime: str
    faces: int
    status: str
    seconds: float
    width: int
    height: int
    info: CloakInfo | None = None
    notes: tuple[str, ...] = ()
    extension: str = ""


class Engine:
    """Holds the detector and the ensemble, warm, and cloaks photos one at a time.

    ``ensemble``: extractor names the cloak is optimized against (default: FaceNet + dlib;
    MobileFaceNet stays held out for evaluation). Not thread-safe: one job at a time.
    """

    def __init__(
        self, device: str | torch.device | None = None, ensemble: Sequence[str] = ENSEMBLE
    ) -> None:
        self.device = pick_device(str(device) if device is not None else None)
        self.ensemble_names = tuple(ensemble)
        self._detector: FaceDetector | None = None
        self._extractors: dict[str, Extractor] = {}
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._detector is not None and len(self._extractors) == len(self.ensemble_names)

    def warm(self) -> None:
        """Load the detector and every ensemble model (raises ModelError if one is missing)."""
        with self._lock:
            if self._detector is None:
                self._detector = FaceDetector(device=self.device)
            for name in self.ensemble_names:
                if name not in self._extractors:
                    self._extractors[name] = load_extractor(name, self.device)

    def detect(self, rgb: np.ndarray) -> list[Face]:
        self.warm()
        assert self._detector is not None
        return self._detector.detect(rgb)

    @property
    def extractors(self) -> dict[str, Extractor]:
        self.warm()
        return dict(self._extractors)

    def cloak_array(
        self,
        rgb: np.ndarray,
        mode: AnyMode = DEFAULT_MODE,
        *,
        seed: int | None = None,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        gray: bool = False,
    ) -> tuple[np.ndarray, CloakInfo]:
        """Cloak every face of ``rgb`` (H, W, 3) uint8. Progress fractions span 0.1-0.9.
        ``gray``: the photo is grayscale and will be written as such, so the perturbation
        must be the same on all three channels (a colour part would be lost)."""
        if isinstance(mode, str) and mode not in MODE_NAMES:
            raise ValueError(f"unknown mode {mode!r}; choose one of: {', '.join(MODE_NAMES)}")
        report = progress or (lambda f, s: None)
        faces = self.detect(rgb)
        report(0.15, "detect")

        def on_step(i: int, n: int) -> None:
            report(0.15 + 0.75 * i / n, "optimize")

        return cloak_faces(
            rgb,
            faces,
            self.extractors,
            mode,
            device=self.device,
            seed=0 if seed is None else seed,
            on_step=on_step,
            cancel=cancel,
            gray=gray,
        )

    def cloak_bytes(
        self,
        data: bytes,
        mode: str = DEFAULT_MODE,
        *,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        seed: int | None = None,
    ) -> CloakResult:
        """Decode, cloak every face, encode in the input's format. See the module doc."""
        from cloaker.imageio import decode, encode_image, encode_unchanged

        t0 = time.perf_counter()
        report = progress or (lambda f, s: None)
        report(0.0, "decode")
        img = decode(data)
        if cancel is not None and cancel.is_set():
            raise CancelledError("cancelled")
        out, info = self.cloak_array(
            img.rgb, mode, seed=seed, progress=report, cancel=cancel, gray=img.grayscale
        )
        report(0.9, "encode")
        # No face: the pixels stay the input's exactly (metadata stripped without re-encoding).
        encoded = encode_image(img, out) if info.faces else encode_unchanged(data, img)
        report(1.0, "done")
        h, w = img.rgb.shape[:2]
        return CloakResult(
            data=encoded.data,
            mime=encoded.mime,
            faces=info.faces,
            status="cloaked" if info.faces else "no_face",
            seconds=time.perf_counter() - t0,
            width=w,
            height=h,
            info=info,
            notes=(*img.notes, *encoded.notes),
            extension=encoded.extension,
        )
