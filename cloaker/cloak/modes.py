"""Protection modes and their budgets.

Every mode bounds the change twice: an L-infinity cap per pixel and a DSSIM budget measured
on each face region (the face box grown by 12 % a side, where all of the cloak lies), in
colour, seen at 112 px (see ``cloaker.cloak.optimizer.face_dssim``). ``target`` is how far past each
ensemble model's match threshold a face must be pushed before optimization may stop early
(a margin: surrogates that are only just fooled transfer poorly).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mode:
    """One protection level.

    linf: per-pixel cap, in [0, 1] units (8/255 = 0.031).
    dssim: budget on each face region, (1 - SSIM) / 2, colour, at 112 px.
    steps: maximum optimization steps. target: stop when every face's distance in every
    ensemble model exceeds ``target * threshold``. eot: transforms per step (0 = none).
    hinge: a face stops pulling on a model once it is past that model's target, so the
    effort goes to the model and face that are still close (per-model loss weighting).
    """

    name: str
    linf: float
    dssim: float
    steps: int
    target: float
    eot: int = 1
    hinge: bool = False


# The DSSIM budget (colour SSIM of the face region seen at 112 px, the scale of Fawkes's
# own budget) is the binding constraint, projected at every step; the L-inf cap is a
# backstop. Leave-one-model-out measurements behind these values are in BENCHMARKS.md.
MODES: dict[str, Mode] = {
    "low": Mode("low", linf=8 / 255, dssim=0.006, steps=20, target=1.3),
    "mid": Mode("mid", linf=12 / 255, dssim=0.012, steps=30, target=1.6),
    "high": Mode("high", linf=16 / 255, dssim=0.02, steps=40, target=2.0),
}
DEFAULT_MODE = "mid"


def get_mode(name: str) -> Mode:
    try:
        return MODES[name]
    except KeyError:
        known = ", ".join([*MODES, "fawkes"])
        raise ValueError(f"unknown mode {name!r}; choose one of: {known}") from None
