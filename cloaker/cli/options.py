"""Options and small helpers shared by the engine subcommands (cloak, verify, bench, eval).

Light at import (no torch): ``cloaker --help`` must stay fast.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

from cloaker.cloak.modes import MODE_NAMES

DEVICES = ("auto", "cpu", "cuda", "mps")
MODE_CHOICES = MODE_NAMES


def comma_list(text: str) -> tuple[str, ...]:
    """argparse type: "a,b" -> ("a", "b"); empty items dropped; "" -> ()."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def mode_list(text: str) -> tuple[str, ...]:
    """argparse type for --modes: a comma list of known modes, at least one."""
    modes = comma_list(text)
    bad = [m for m in modes if m not in MODE_CHOICES]
    if bad or not modes:
        raise argparse.ArgumentTypeError(
            f"unknown mode(s) {', '.join(bad) or '(none given)'}; "
            f"choose from {', '.join(MODE_CHOICES)}"
        )
    return modes


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where the models run (default: auto = CUDA, else MPS, else CPU)",
    )


def add_models(parser: argparse.ArgumentParser, *, heldout: bool = True) -> None:
    """--ensemble (the models the cloak is optimized against) and --heldout (models used
    only to measure), both comma lists; None means the built-in defaults."""
    parser.add_argument(
        "--ensemble",
        type=comma_list,
        default=None,
        metavar="A,B",
        help="optimization ensemble (default: the built-in one)",
    )
    if heldout:
        parser.add_argument(
            "--heldout",
            type=comma_list,
            default=None,
            metavar="C",
            help="models used only to measure (default: mobilefacenet)",
        )


def resolve_models(args: argparse.Namespace) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(ensemble, held-out) names from the options, defaults from the model zoo. Raises
    ValueError for an empty ensemble or a model in both lists."""
    from cloaker.models.zoo import ENSEMBLE, HELD_OUT

    ensemble = args.ensemble if args.ensemble is not None else ENSEMBLE
    heldout = getattr(args, "heldout", None)
    heldout = heldout if heldout is not None else tuple(n for n in HELD_OUT if n not in ensemble)
    if not ensemble:
        raise ValueError("the ensemble needs at least one model")
    both = sorted(set(ensemble) & set(heldout))
    if both:
        raise ValueError(f"in both --ensemble and --heldout: {', '.join(both)}")
    return tuple(ensemble), tuple(heldout)


def device_arg(args: argparse.Namespace) -> str | None:
    return None if args.device == "auto" else args.device


def machine(device: object) -> str:
    """One line: OS, CPU count, torch version and threads, device."""
    import torch

    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, device {device}"
    )


def error(command: str, message: str) -> None:
    """One clear error line on stderr."""
    print(f"cloaker {command}: {message}", file=sys.stderr, flush=True)
