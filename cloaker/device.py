"""Pick the torch device: CUDA when present, Apple MPS when present, else CPU."""

from __future__ import annotations

import torch


def pick_device(name: str | None = None) -> torch.device:
    """Return ``torch.device(name)``, or the best available one when ``name`` is None/"auto".

    Raises ``ValueError`` with a clear message when the named device is not available.
    """
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but no CUDA device is available")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("MPS was asked for but it is not available on this machine")
    return dev
