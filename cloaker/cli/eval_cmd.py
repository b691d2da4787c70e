"""``cloaker eval DIR [--modes mid,fawkes] [--limit-identities N] [--photos-per-identity N]
[--json] [--markdown FILE]``: the evaluation harness over ``DIR/<identity>/<photo>``.

Cloaks the main face of each selected photo in each mode and measures, with every model
(held-out ones reported apart from the ensemble), the share of faces that no longer verify
as their owner (raw, after JPEG q85, after 1080 px + JPEG q75), face and photo visibility,
and time. ``--ensemble``/``--heldout`` choose the models (leave-one-model-out runs).
Exit codes: 0 done, 1 nothing could be evaluated or the models are missing, 2 usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
from pathlib import Path

from cloaker.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from cloaker.cli.options import (
    add_device,
    add_models,
    device_arg,
    error,
    machine,
    mode_list,
    positive_int,
    resolve_models,
)
from cloaker.errors import CloakerError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="measure protection and visibility over a folder of known people",
        description=__doc__.split("\n\n")[1].split("Exit codes")[0].strip(),
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="folder of <identity>/<photo>")
    parser.add_argument(
        "--modes",
        type=mode_list,
        default=("mid",),
        metavar="M1,M2",
        help="modes to evaluate (default: mid)",
    )
    parser.add_argument(
        "--limit-identities",
        type=positive_int,
        default=None,
        metavar="N",
        help="first N identities (with two photos or more) only",
    )
    parser.add_argument(
        "--photos-per-identity",
        type=positive_int,
        default=None,
        metavar="N",
        help="cloak the first N photos of each identity (all of them still serve as references)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE",
        help="write/replace the eval section of FILE (e.g. BENCHMARKS.md)",
    )
    add_device(parser)
    add_models(parser)
    parser.set_defaults(func=run)


def command_line(args: argparse.Namespace) -> str:
    """The command, every option spelled out, that reproduces this run."""
    parts = ["cloaker", "eval", str(args.dir), "--modes", ",".join(args.modes)]
    if args.limit_identities is not None:
        parts += ["--limit-identities", str(args.limit_identities)]
    if args.photos_per_identity is not None:
        parts += ["--photos-per-identity", str(args.photos_per_identity)]
    if args.ensemble is not None:
        parts += ["--ensemble", ",".join(args.ensemble)]
    if args.heldout is not None:
        parts += ["--heldout", ",".join(args.heldout)]
    parts += ["--seed", str(args.seed), "--device", args.device]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    from cloaker.engine import Engine
    from cloaker.evaluation import harness, report

    try:
        ensemble, heldout = resolve_models(args)
        identities = harness.find_identities(args.dir)
    except (ValueError, FileNotFoundError) as exc:
        error("eval", str(exc))
        return EXIT_USAGE
    probes, gallery = harness.select_photos(
        identities,
        limit_identities=args.limit_identities,
        photos_per_identity=args.photos_per_identity,
    )
    if not probes:
        error("eval", f"no identity in {args.dir} has two photos or more")
        return EXIT_FAILED
    try:
        engine = Engine(device=device_arg(args), ensemble=ensemble)
        engine.warm()
        ev = harness.evaluate(
            engine,
            probes,
            args.modes,
            heldout=heldout,
            gallery=gallery,
            seed=args.seed,
            progress=_progress,
        )
    except (ValueError, CloakerError) as exc:
        error("eval", str(exc))
        return EXIT_FAILED
    if not ev.records:
        error(
            "eval",
            "no photo could be evaluated: " + "; ".join(f"{p} ({why})" for p, why in ev.skipped),
        )
        return EXIT_FAILED
    if args.json:
        print(
            json.dumps(
                {"command": command_line(args), "machine": machine(engine.device), **ev.to_json()},
                indent=2,
            )
        )
    else:
        print(report.tables(ev))
    if args.markdown is not None:
        date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = report.section(
            ev, command=command_line(args), date=date, machine=machine(engine.device)
        )
        try:
            report.write_section(args.markdown, text)
        except (OSError, ValueError) as exc:
            error("eval", f"cannot update {args.markdown}: {exc}")
            return EXIT_FAILED
        print(f"wrote the eval section of {args.markdown}", file=sys.stderr)
    return EXIT_OK


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
