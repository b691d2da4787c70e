"""The ``cloaker`` command line. Each subcommand lives in its own module that exposes
``register(subparsers)``; the module's ``run`` is attached with ``set_defaults(func=...)``.

Exit codes (documented in the README):
  0 success, 1 a job failed (bad image, model missing, ...), 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from cloaker import __version__

# Modules whose import must stay light (no torch at top level) so `cloaker --help` is fast.
SUBCOMMAND_MODULES = [
    "cloaker.cli.cloak_cmd",
    "cloaker.cli.verify_cmd",
    "cloaker.cli.eval_cmd",
    "cloaker.cli.bench_cmd",
    "cloaker.cli.models_cmd",
    "cloaker.cli.daemon_cmd",
    "installer.cli",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloaker",
        description="Cloak the faces in your photos against face-recognition scraping.",
    )
    parser.add_argument("--version", action="version", version=f"cloaker {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
