"""``cloaker daemon``: run the long-lived daemon (websocket server, job queue, tray icon)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "daemon",
        help="run the background daemon the browser extension talks to",
        description="Run the Cloaker daemon: one per user; loads the models once, serves the "
        "native host on 127.0.0.1, shows a tray icon unless --no-tray.",
    )
    # Imported here, not at module top: native_host.daemon pulls in websockets and PIL.
    from native_host.daemon import build_parser

    build_parser(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from native_host.daemon import run as run_daemon

    return run_daemon(args)
