"""Protection modes and their budgets.

Every mode bounds the change twice: an L-infinity cap per pixel and a DSSIM budget measured
on each face box at native resolution (luminance). ``target`` is how far past each
ensemble model's match threshold a face must be pushed before optimization may stop early
(a margin: surrogates that are only just fooled transfer poorly).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mode:
    """One protection level.

    linf: per-pixel cap, in [0, 1] units (8/255 = 0.031).
    dssim: budget on each face box, (1 - SSIM) / 2 at native resolution, luminance.
    steps: maximum optimization steps. target: stop when every face's distance in every
    ensemble model exceeds ``target * threshold``. eot: transforms per step (0 = none).
    """

    name: str
    linf: float
    dssim: float
    steps: int
    target: float
    eot: int = 1


MODES: dict[str, Mode] = {
    "low": Mode("low", linf=5 / 255, dssim=0.015, steps=20, target=1.3),
    "mid": Mode("mid", linf=8 / 255, dssim=0.025, steps=30, target=1.6),
    "high": Mode("high", linf=12 / 255, dssim=0.04, steps=40, target=2.0),
}
DEFAULT_MODE = "mid"


def get_mode(name: str) -> Mode:
    try:
        return MODES[name]
    except KeyError:
        known = ", ".join([*MODES, "fawkes"])
        raise ValueError(f"unknown mode {name!r}; choose one of: {known}") from None
