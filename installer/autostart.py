"""The login entry that starts the daemon, so the first upload finds it warm.

- Linux: an XDG autostart desktop entry (``$XDG_CONFIG_HOME/autostart`` per user,
  ``/etc/xdg/autostart`` for everyone) running the daemon launcher.
- macOS: a LaunchAgent plist (``~/Library/LaunchAgents`` or ``/Library/LaunchAgents``),
  loaded by launchd at the next login.
- Windows: a value under ``Software\\Microsoft\\Windows\\CurrentVersion\\Run`` (HKCU or HKLM)
  running ``pythonw.exe -m cloaker daemon``.

The native host also starts the daemon on demand, so a missing entry only costs the first
upload the daemon's start-up time.
"""

from __future__ import annotations

import plistlib

from installer.context import Context
from installer.items import AUTOSTART, FileItem, RegistryItem
from installer.launcher import daemon_launcher_path, windows_daemon_command

LABEL = "com.cloaker.daemon"
DESKTOP_FILE = "cloaker-daemon.desktop"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "Cloaker"

OWNERS = frozenset({AUTOSTART})


def autostart_item(ctx: Context) -> FileItem | RegistryItem:
    """The one item that makes the daemon start at login for ``ctx``."""
    if ctx.platform == "windows":
        return RegistryItem(
            hive="HKCU" if ctx.scope == "user" else "HKLM",
            key=RUN_KEY,
            name=RUN_VALUE,
            data=windows_daemon_command(ctx),
            owners=OWNERS,
            what="daemon autostart (Run key)",
        )
    launcher = str(daemon_launcher_path(ctx))
    if ctx.platform == "macos":
        folder = (
            ctx.home() / "Library" / "LaunchAgents"
            if ctx.scope == "user"
            else ctx.system_path("/Library/LaunchAgents")
        )
        return FileItem(folder / f"{LABEL}.plist", launch_agent(launcher), OWNERS, "LaunchAgent")
    folder = (
        ctx.xdg_config_home() / "autostart"
        if ctx.scope == "user"
        else ctx.system_path("/etc/xdg/autostart")
    )
    return FileItem(folder / DESKTOP_FILE, desktop_entry(launcher), OWNERS, "XDG autostart entry")


def desktop_entry(launcher: str) -> bytes:
    """An XDG desktop entry whose Exec runs ``launcher``."""
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Name=Cloaker",
        "Comment=Cloaks faces in photos before they are uploaded",
        f"Exec={desktop_exec_quote(launcher)}",
        "Terminal=false",
        "NoDisplay=true",
        "X-GNOME-Autostart-enabled=true",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def desktop_exec_quote(arg: str) -> str:
    """Quote one Exec argument per the Desktop Entry spec: reserved characters need double
    quotes; inside them ``"`, `` ` ``, ``$`` and ``\\`` take a backslash; the file's string
    escaping then doubles every backslash; ``%`` is written ``%%`` (field codes)."""
    reserved = set(" \t\n\"'\\><~|&;$*?#()`")
    arg = arg.replace("%", "%%")
    if not any(c in reserved for c in arg):
        return arg
    inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return '"' + inner.replace("\\", "\\\\") + '"'


def launch_agent(launcher: str) -> bytes:
    """A LaunchAgent that runs ``launcher`` once at login (no restart loop)."""
    plist = {
        "Label": LABEL,
        "ProgramArguments": [launcher],
        "RunAtLoad": True,
        "KeepAlive": False,
        "ProcessType": "Interactive",
    }
    return plistlib.dumps(plist)
