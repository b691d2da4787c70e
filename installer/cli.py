"""``cloaker install`` and ``cloaker uninstall``.

  cloaker install   [--browser NAME ...] [--system] [--dry-run] [--extension-id ID ...]
                    [--no-autostart] [--no-models] [--chromium-user-data-dir DIR]
                    [--firefox-home DIR] [--host-command PATH] [--platform OS]
  cloaker uninstall [--browser NAME ...] [--system] [--dry-run] [--keep-models]

Exit codes: 0 done, 1 something failed (a write was refused, a model could not be fetched),
2 usage (unknown browser, malformed id, nothing to install).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from installer.apply import Change, Installer
from installer.context import PLATFORMS, Context, ContextError, current_platform, make_context
from installer.detect import found_browsers
from installer.fsys import FileSystem, MemoryFileSystem, RealFileSystem
from installer.items import AUTOSTART, MODELS
from installer.launcher import LauncherError
from installer.manifest import ManifestError
from installer.plan import Options, Plan, PlanError, build_plan, split_extension_ids
from installer.receipt import ReceiptError
from installer.registry import MemoryRegistry, Registry, WinRegistry
from installer.table import BY_NAME

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``install`` and ``uninstall`` to the top-level parser."""
    browsers = ", ".join(BY_NAME)
    install = subparsers.add_parser(
        "install",
        help="register the native host with your browsers, autostart the daemon, fetch models",
        description="Register Cloaker's native-messaging host with each browser, start the "
        "daemon at login and fetch the model weights. Safe to run again.",
    )
    _common(install, browsers)
    install.add_argument(
        "--extension-id",
        action="append",
        default=[],
        metavar="ID",
        help="allow this extension instead of the pinned one (repeatable; a 32-letter "
        "Chrome ID replaces the Chromium default, a name@domain id the Firefox default)",
    )
    install.add_argument(
        "--no-autostart",
        action="store_true",
        help="do not start the daemon at login (removes an earlier install's entry)",
    )
    install.add_argument("--no-models", action="store_true", help="do not fetch model weights")
    install.add_argument(
        "--chromium-user-data-dir",
        type=Path,
        metavar="DIR",
        help="write Chromium-family manifests into DIR/NativeMessagingHosts (a browser "
        "started with --user-data-dir=DIR reads only that folder)",
    )
    install.add_argument(
        "--firefox-home",
        type=Path,
        metavar="DIR",
        help="use DIR as HOME for Firefox-family manifests (DIR/.mozilla/native-messaging-hosts)",
    )
    install.add_argument(
        "--host-command",
        metavar="PATH",
        help="the cloaker-native-host program to launch (default: this environment's)",
    )
    install.add_argument(
        "--platform",
        choices=PLATFORMS,
        help="plan for another OS (only with --dry-run)",
    )
    install.set_defaults(func=run_install)

    uninstall = subparsers.add_parser(
        "uninstall",
        help="remove exactly what `cloaker install` wrote",
        description="Remove what `cloaker install` recorded in its receipt, and nothing else.",
    )
    _common(uninstall, browsers)
    uninstall.add_argument(
        "--keep-models", action="store_true", help="keep model weights that install fetched"
    )
    uninstall.set_defaults(func=run_uninstall)


def _common(parser: argparse.ArgumentParser, browsers: str) -> None:
    parser.add_argument(
        "--browser",
        action="append",
        default=[],
        metavar="NAME",
        help=f"one of {browsers}, or all (repeatable or comma-separated; "
        "install default: every supported browser found)",
    )
    parser.add_argument(
        "--system", action="store_true", help="for every user of this machine (needs admin)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would change, do nothing"
    )


def run_install(
    args: argparse.Namespace,
    fs: FileSystem | None = None,
    registry: Registry | None = None,
) -> int:
    """Plan, apply and summarise an install. ``fs`` and ``registry`` are for tests."""
    platform = args.platform or current_platform()
    if platform != current_platform() and not args.dry_run:
        return _usage(f"--platform {platform} plans for another OS: add --dry-run")
    scope = "system" if args.system else "user"
    if (args.chromium_user_data_dir or args.firefox_home) and not args.browser:
        return _usage("name the browsers (--browser) when using a test-profile folder")
    try:
        ctx = make_context(platform, scope, host_command=args.host_command)
    except ContextError as exc:
        return _fail(str(exc))
    try:
        names = _browser_names(args.browser, ctx)
        chrome_ids, firefox_ids = split_extension_ids(args.extension_id)
        options = Options(
            browsers=names,
            chrome_ids=chrome_ids,
            firefox_ids=firefox_ids,
            autostart=not args.no_autostart,
            chromium_user_data_dir=_absolute(args.chromium_user_data_dir),
            firefox_home=_absolute(args.firefox_home),
        )
        plan = build_plan(ctx, options)
    except (PlanError, ManifestError, LauncherError) as exc:
        return _usage(str(exc))
    if refusal := _needs_admin(ctx, args.dry_run):
        return _fail(refusal)

    fs, registry = _backends(ctx, fs, registry)
    try:
        installer = Installer(ctx, fs, registry, dry_run=args.dry_run)
    except (OSError, ReceiptError) as exc:
        return _fail(str(exc))
    model_lines: list[str] = []
    failures: list[str] = []
    try:
        installer.install(plan)
        if not options.autostart and AUTOSTART in installer.receipt.owners():
            installer.remove_owners({AUTOSTART})
        model_lines, failures = _models(args, ctx, installer)
    except OSError as exc:
        failures.append(f"install stopped: {exc}")
    finally:
        # Even a failed or interrupted install records what it did write, so uninstall
        # can remove it.
        failures += _save(installer)

    if args.dry_run:
        _print_plan(ctx, plan)
    _print_summary("install", ctx, installer.changes, args.dry_run)
    for note in plan.notes:
        print(f"note: {note}")
    for line in model_lines:
        print(f"  model {line}")
    if not ctx.simulated:
        from installer import tray_step  # probes PyGObject: only for the OS we run on

        for line in tray_step.check(ctx.platform):
            print(line)
    if failures:
        return _fail(
            "; ".join(failures) + " (run `cloaker install` again once this is fixed; "
            "model weights can also be fetched later with `cloaker models fetch`)"
        )
    if not args.dry_run:
        print("Next: load the Cloaker extension in your browser (see INSTALL.md).")
    return EXIT_OK


def run_uninstall(
    args: argparse.Namespace,
    fs: FileSystem | None = None,
    registry: Registry | None = None,
) -> int:
    """Remove what the receipt lists (for the named browsers, or everything)."""
    scope = "system" if args.system else "user"
    try:
        names = _expand(args.browser) if args.browser else None
    except PlanError as exc:
        return _usage(str(exc))
    try:
        # Uninstall never launches the host, so this interpreter stands in for it.
        ctx = make_context(current_platform(), scope, host_command=sys.executable)
    except ContextError as exc:
        return _fail(str(exc))
    if refusal := _needs_admin(ctx, args.dry_run):
        return _fail(refusal)
    fs, registry = _backends(ctx, fs, registry)
    try:
        installer = Installer(ctx, fs, registry, dry_run=args.dry_run)
    except (OSError, ReceiptError) as exc:
        return _fail(str(exc))
    if not installer.receipt.records:
        print(f"Nothing to uninstall: no receipt at {installer.receipt_file}.")
        return EXIT_OK
    if names is None:
        owners = None if not args.keep_models else installer.receipt.owners() - {MODELS}
    else:
        owners = set(names)
    failures: list[str] = []
    try:
        installer.remove_owners(owners)
    except OSError as exc:
        failures.append(f"uninstall stopped: {exc}")
    finally:
        if installer.receipt.records:
            failures += _save(installer)
    _print_summary("uninstall", ctx, installer.changes, args.dry_run)
    return _fail("; ".join(failures)) if failures else EXIT_OK


def _save(installer: Installer) -> list[str]:
    """Save the receipt; a failure comes back as a message (the summary still prints)."""
    try:
        installer.save()
    except OSError as exc:
        return [f"the receipt {installer.receipt_file} could not be saved: {exc}"]
    return []


def _browser_names(requested: Sequence[str], ctx: Context) -> tuple[str, ...]:
    if requested:
        return _expand(requested)
    found = tuple(b.name for b in found_browsers(ctx))
    if not found:
        raise PlanError(
            f"no supported browser found; name one with --browser ({', '.join(BY_NAME)})"
        )
    return found


def _expand(requested: Sequence[str]) -> tuple[str, ...]:
    """``--browser`` values: repeatable, comma-separated, ``all``; unknown names rejected."""
    names: list[str] = []
    for value in requested:
        for name in (part.strip().lower() for part in value.split(",")):
            if name == "all":
                names.extend(BY_NAME)
            elif name in BY_NAME:
                names.append(name)
            elif name:
                raise PlanError(f"unknown browser {name!r} (known: {', '.join(BY_NAME)}, all)")
    return tuple(dict.fromkeys(names))


def _absolute(path: Path | None) -> Path | None:
    return path.expanduser().absolute() if path is not None else None


def _needs_admin(ctx: Context, dry_run: bool) -> str | None:
    """A message when a system-wide change cannot work without admin rights."""
    if ctx.scope != "system" or dry_run or ctx.root is not None or ctx.platform == "windows":
        return None  # Windows refuses HKLM writes itself; that error is reported as is
    if os.geteuid() != 0:
        return "--system writes to system folders: run it as root (sudo), or drop --system"
    return None


def _backends(
    ctx: Context, fs: FileSystem | None, registry: Registry | None
) -> tuple[FileSystem, Registry]:
    if fs is None:
        fs = MemoryFileSystem(ctx.standard_folders()) if ctx.simulated else RealFileSystem()
    if registry is None:
        use_windows = ctx.platform == "windows" and not ctx.simulated
        registry = WinRegistry() if use_windows else MemoryRegistry()
    return fs, registry


def _models(
    args: argparse.Namespace, ctx: Context, installer: Installer
) -> tuple[list[str], list[str]]:
    """Fetch (or, in a dry run, list) the runtime model weights."""
    if args.no_models or ctx.simulated:
        return [], []
    from installer import models_step  # the model manager is only needed here

    dest = Path(ctx.models_dir()) if ctx.models_dir() is not None else None
    if args.dry_run:
        return models_step.describe_missing(dest), []
    print("Fetching model weights (this can take a few minutes the first time)...")
    result = models_step.fetch(dest)
    installer.record_dirs(result.new_dirs, {MODELS})
    installer.record_files(result.new_files, {MODELS}, "model weights")
    return result.lines, result.failures


def _print_plan(ctx: Context, plan: Plan) -> None:
    print(f"Dry run for {ctx.platform} ({ctx.scope}): nothing was written.")
    if ctx.simulated:
        print(f"(planned on {current_platform()}: the Python environment path is an example)")
    for item in plan.files:
        mode = "0755" if item.executable else "0644"
        print(f"--- {item.path} (mode {mode}, {item.what})")
        text = item.content.decode("utf-8", errors="replace")
        print("".join(f"    {line}\n" for line in text.splitlines()), end="")
    for value in plan.registry:
        print(f"--- registry {value.display} = {value.data} (REG_SZ, {value.what})")


def _print_summary(action: str, ctx: Context, changes: list[Change], dry_run: bool) -> None:
    title = f"cloaker {action} ({ctx.scope}, {ctx.platform})" + (" - dry run" if dry_run else "")
    print(title)
    width = max((len(c.verb) for c in changes), default=0)
    for change in changes:
        print(f"  {change.verb:<{width}}  {change.target}  [{change.detail}]")
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.verb] = counts.get(change.verb, 0) + 1
    print("  " + (", ".join(f"{n} {verb}" for verb, n in counts.items()) or "nothing to do"))


def _usage(message: str) -> int:
    print(f"cloaker: {message}", file=sys.stderr)
    return EXIT_USAGE


def _fail(message: str) -> int:
    print(f"cloaker: {message}", file=sys.stderr)
    return EXIT_FAILED
