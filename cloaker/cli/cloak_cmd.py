"""``cloaker cloak PATH... [-o DIR] [--mode MODE] [--device DEV] [--seed N]``

Writes ``<name>.cloaked.<ext>`` next to each input (or into DIR, created if missing); the
extension follows the format actually written (a GIF that can no longer be a GIF comes out
as .png). The input is never overwritten; an existing ``.cloaked`` output is replaced.
One bad file prints an error line and makes the exit code 1, the others are still done.
Exit codes: 0 all written, 1 some file failed or the models are missing, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cloaker.cli import EXIT_FAILED, EXIT_OK
from cloaker.cli.options import (
    MODE_CHOICES,
    add_device,
    add_models,
    device_arg,
    error,
    resolve_models,
)
from cloaker.cli.progress import ProgressBar
from cloaker.errors import CloakerError

if TYPE_CHECKING:  # the engine imports torch: only at run time, inside run()
    from cloaker.engine import CloakResult, Engine

SUFFIX = ".cloaked"
log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cloak",
        help="cloak every face in photos (writes NAME.cloaked.EXT)",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="photos to cloak")
    parser.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="write the cloaked photos here (default: next to each input)",
    )
    parser.add_argument(
        "--mode",
        choices=MODE_CHOICES,
        default="mid",
        help="protection level (default: mid); fawkes, fawkes-low, fawkes-high = the Fawkes "
        "v1.0.2 baseline's own presets",
    )
    add_device(parser)
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    add_models(parser, heldout=False)
    parser.set_defaults(func=run)


def output_path(src: Path, extension: str, out_dir: Path | None) -> Path:
    """Where the cloaked copy of ``src`` goes: ``<stem>.cloaked<extension>`` in ``out_dir``
    or next to ``src``. ``extension`` has its dot (".jpg")."""
    return (out_dir if out_dir is not None else src.parent) / f"{src.stem}{SUFFIX}{extension}"


def is_same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file (same path, or a link to it)."""
    if a.resolve() == b.resolve():
        return True
    return a.exists() and b.exists() and os.path.samefile(a, b)


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file and rename, so no half-written photo is left behind
    (and a link at ``path`` is replaced, never followed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    from cloaker.engine import Engine

    try:
        ensemble, _ = resolve_models(args)
        engine = Engine(device=device_arg(args), ensemble=ensemble)
        engine.warm()  # once for all files
    except (ValueError, CloakerError) as exc:
        error("cloak", str(exc))
        return EXIT_FAILED
    out_dir: Path | None = args.output_dir
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            error("cloak", f"cannot create the output folder {out_dir}: {exc}")
            return EXIT_FAILED
    written: set[Path] = set()
    failed = 0
    for src in args.paths:
        problem = _cloak_one(engine, src, args, out_dir, written)
        if problem is not None:
            failed += 1
            error("cloak", f"{src}: {problem}")
    if failed:
        error("cloak", f"{failed} of {len(args.paths)} files failed")
        return EXIT_FAILED
    return EXIT_OK


def _cloak_one(
    engine: Engine, src: Path, args: argparse.Namespace, out_dir: Path | None, written: set[Path]
) -> str | None:
    """Cloak one file; print its result line. Returns an error message or None."""
    from cloaker.imageio import extension_for_format, sniff_format

    try:
        data = src.read_bytes()
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    bar = ProgressBar(str(src))
    try:
        result = engine.cloak_bytes(data, args.mode, progress=bar.update, seed=args.seed)
    except CloakerError as exc:
        return f"{exc.message} ({exc.code})"
    except Exception:  # a bug, not the photo's fault: a sentence here, the traceback on -v
        log.debug("cloaking %s failed unexpectedly", src, exc_info=True)
        return "unexpected failure (internal): `cloaker -v cloak ...` shows why"
    finally:
        bar.close()
    fmt = sniff_format(result.data)
    if fmt is None:
        return "internal error: the encoder wrote bytes of no known image format"
    dst = output_path(src, extension_for_format(fmt), out_dir)
    if is_same_file(dst, src):
        return f"refusing to overwrite the input with {dst}"
    if dst.resolve() in written:
        return f"another input was already written to {dst}; rename one of them"
    try:
        write_atomic(dst, result.data)
    except OSError as exc:
        return f"cannot write {dst}: {exc.strerror or exc}"
    written.add(dst.resolve())
    print(_summary(src, dst, result, converted_from=sniff_format(data), fmt=fmt), flush=True)
    return None


def _summary(src: Path, dst: Path, r: CloakResult, *, converted_from: str | None, fmt: str) -> str:
    """The file's result: faces, status, seconds, per-face DSSIM, output, and notes."""
    parts = [
        f"{src}: {r.faces} face{'s' if r.faces != 1 else ''}",
        "cloaked" if r.status == "cloaked" else "no face",
        f"{r.seconds:.1f} s",
    ]
    if r.info is not None and r.info.dssim:
        parts.append("DSSIM " + " ".join(f"{d:.4f}" for d in r.info.dssim))
    lines = [", ".join(parts) + f" -> {dst}"]
    if converted_from is not None and converted_from != fmt:
        lines.append(f"  note: written as {fmt} (the input was {converted_from})")
    lines += [f"  note: {n}" for n in r.notes]
    return "\n".join(lines)
