"""A plain-text progress bar on stderr, no dependencies.

On a terminal one line per file is redrawn in place (carriage return), at most ten times a
second. Elsewhere (a log, a pipe, CI) a line is printed when the stage changes and every
quarter of the way, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 24
REDRAW_SECONDS = 0.1
LINE_STEP = 0.25


class ProgressBar:
    """``update(fraction, stage)`` matches the engine's progress callback; call ``close()``
    when the file is done (it ends the in-place line)."""

    def __init__(self, label: str, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self._last_draw = 0.0
        self._last_stage = ""
        self._last_fraction = -1.0
        self._drawn = 0  # characters of the current in-place line

    def update(self, fraction: float, stage: str) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if self.tty:
            now = time.monotonic()
            if (
                stage == self._last_stage
                and now - self._last_draw < REDRAW_SECONDS
                and fraction < 1.0
            ):
                return
            self._last_draw, self._last_stage = now, stage
            text = self._text(fraction, stage)
            pad = " " * max(0, self._drawn - len(text))
            self.stream.write("\r" + text + pad)
            self._drawn = len(text)
        else:
            if stage == self._last_stage and fraction - self._last_fraction < LINE_STEP:
                return
            self._last_stage, self._last_fraction = stage, fraction
            self.stream.write(self._text(fraction, stage) + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Clear the in-place line (the caller prints the file's result instead)."""
        if self.tty and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0

    def _text(self, fraction: float, stage: str) -> str:
        filled = round(fraction * WIDTH)
        return f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {fraction:4.0%} {stage}"
