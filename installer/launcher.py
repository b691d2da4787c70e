"""The small scripts that browser manifests and autostart entries point at.

A browser starts the ``path`` of a host manifest directly, with no shell profile and no
activated virtual environment, and cannot start a Python module. The launcher therefore
names the exact ``cloaker-native-host`` script of the environment the user installed into
(its shebang names that environment's interpreter), and repeats the ``CLOAKER_*`` overrides
that were set at install time. POSIX gets ``/bin/sh`` scripts; Windows gets a ``.bat`` file
(Chrome and Firefox start those through ``cmd.exe``; ``@echo off`` keeps cmd from writing
anything to stdout, which belongs to the protocol).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import PurePath

from installer.context import Context

HEADER = "Written by `cloaker install`; `cloaker uninstall` removes it."


class LauncherError(Exception):
    """A path cannot be written safely into a launcher."""


def host_launcher_path(ctx: Context) -> PurePath:
    """Where the native-host launcher goes (the manifests' ``path``)."""
    name = "cloaker-native-host.bat" if ctx.platform == "windows" else "cloaker-native-host"
    return ctx.data_dir() / "bin" / name


def host_launcher(ctx: Context) -> bytes:
    """The native-host launcher's bytes for ``ctx``."""
    argv = [str(ctx.host_command)]
    purpose = "Starts the Cloaker native-messaging host for the browser."
    if ctx.platform == "windows":
        return render_bat(argv, ctx.baked_env(), purpose)
    return render_sh(argv, ctx.baked_env(), purpose)


def daemon_launcher_path(ctx: Context) -> PurePath:
    """Where the POSIX daemon launcher goes (autostart entries point at it)."""
    return ctx.data_dir() / "bin" / "cloaker-daemon"


def daemon_launcher(ctx: Context) -> bytes:
    """A POSIX script that starts ``cloaker daemon`` in the installed environment."""
    argv = [str(ctx.python), "-m", "cloaker", "daemon"]
    return render_sh(argv, ctx.baked_env(), "Starts the Cloaker daemon at login.")


def windows_daemon_command(ctx: Context) -> str:
    """The HKCU/HKLM Run value: ``pythonw.exe`` (no console window) ``-m cloaker daemon``."""
    pythonw = ctx.python.with_name("pythonw.exe")
    _no_quote(str(pythonw))
    return f'"{pythonw}" -m cloaker daemon'


def render_sh(argv: Sequence[str], env: Mapping[str, str], purpose: str) -> bytes:
    """``#!/bin/sh`` that exports ``env`` and execs ``argv`` with the caller's arguments."""
    lines = ["#!/bin/sh", f"# {HEADER}", f"# {purpose}"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    lines.append("exec " + " ".join(shlex.quote(a) for a in argv) + ' "$@"')
    return ("\n".join(lines) + "\n").encode("utf-8")


def render_bat(argv: Sequence[str], env: Mapping[str, str], purpose: str) -> bytes:
    """A ``.bat`` (CRLF) that sets ``env`` and runs ``argv`` with the caller's arguments."""
    lines = ["@echo off", f"rem {HEADER}", f"rem {purpose}"]
    lines += [f'set "{name}={_bat(value)}"' for name, value in env.items()]
    lines.append(" ".join(f'"{_bat(a)}"' for a in argv) + " %*")
    text = "\r\n".join(lines) + "\r\n"
    # cmd.exe reads batch files in the OEM code page; "oem" exists only on Windows, and a
    # plan made elsewhere is only printed.
    encoding = "oem" if sys.platform == "win32" else "utf-8"
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise LauncherError(f"a path cannot be written in the console code page: {exc}") from exc


def _bat(value: str) -> str:
    """Escape for a double-quoted .bat word: ``%`` doubles; a quote cannot appear."""
    _no_quote(value)
    return value.replace("%", "%%")


def _no_quote(value: str) -> None:
    if '"' in value:
        raise LauncherError(f"cannot write a path containing a double quote: {value}")
