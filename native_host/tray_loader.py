"""Loads pystray with the backend chosen for this machine, and adapts its GTK backends to a
daemon: no notification service needed, a tooltip on the XEmbed icon, the menu on a left
click, and GDK without OpenGL.

On Linux (see ``tray_backend``): with PyGObject and the AppIndicator data, the ``appindicator``
backend where a StatusNotifier host runs (KDE, XFCE, GNOME with its extension, and any Wayland
session), else the ``gtk`` backend (an XEmbed icon; the appindicator library would fall back
to one too, but without a tooltip); without them the ``xorg`` backend (an icon, no menu).
``PYSTRAY_BACKEND`` set by the user wins.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

from native_host import tray_backend
from native_host.system_gi import find_gi

log = logging.getLogger(__name__)


class TrayUnavailableError(Exception):
    """No tray can be shown here (no display, no backend)."""


def load_pystray(env: MutableMapping[str, str] = os.environ) -> Any:
    """pystray, with the backend chosen for this machine (Linux) set before its import."""
    if sys.platform.startswith("linux"):
        if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
            raise TrayUnavailableError("no display (DISPLAY and WAYLAND_DISPLAY are unset)")
        if "PYSTRAY_BACKEND" not in env:
            found = tray_backend.probe(env)
            if found.missing:
                add = f"; add it with: {found.command}" if found.command else ""
                log.warning("%s%s", found.summary(), add)
            else:
                log.info("%s", found.summary())
            env["PYSTRAY_BACKEND"] = tray_backend.runtime_backend(found, env)
        else:
            find_gi()  # the user's choice may be a GTK backend, which needs gi as well
        log.info("tray backend: %s", env["PYSTRAY_BACKEND"])
    try:
        with _gdk_without_gl(env):
            import pystray  # the GTK backends initialise Gtk on import
    except Exception as exc:  # pystray raises whatever its last backend raised
        backend = env.get("PYSTRAY_BACKEND", "default")
        where = f" on display {env['DISPLAY']}" if env.get("DISPLAY") else ""
        raise TrayUnavailableError(
            f"the {backend} tray backend did not start{where}: {type(exc).__name__}: {exc}"
        ) from exc
    return pystray


@contextlib.contextmanager
def _gdk_without_gl(env: MutableMapping[str, str]) -> Iterator[None]:
    """Initialise GDK with OpenGL off. With GL on, GDK opens the display's OpenGL driver
    (Mesa, and with it Mesa's LLVM), and loading torch's Triton (its own LLVM) later in the
    same process then crashes it (seen: SIGSEGV in the device thread while the models load).
    A tray icon and its menu draw without OpenGL. GDK reads the variable once, at start, so
    it is put back afterwards and programs the daemon starts (the file manager) keep GL."""
    before = env.get("GDK_GL")
    env["GDK_GL"] = "disable"
    try:
        yield
    finally:
        if before is None:
            del env["GDK_GL"]
        else:
            env["GDK_GL"] = before


class _NoNotifications:
    """Stands in for pystray's desktop-notification client, which Cloaker never uses."""

    def hide(self) -> None:
        """Nothing was shown, so there is nothing to hide."""


def icon_class(pystray_mod: Any) -> Any:
    """pystray's Icon, adapted for the GTK-based backends.

    pystray's GTK backends connect to the desktop's notification service when the icon
    starts and call it again when it stops, so a session without one (no D-Bus session bus,
    or no notification daemon) fails to start the icon or raises when it quits. They also
    reset SIGINT to its default, which would end the daemon without its clean shutdown.
    """
    base = pystray_mod.Icon
    if base.__module__ not in ("pystray._appindicator", "pystray._gtk"):
        return base  # importing pystray's GTK helpers would initialise Gtk for nothing

    class Icon(base):  # type: ignore[misc,valid-type]
        def _initialize(self) -> None:
            self._notifier = _NoNotifications()
            self._mark_ready()

    if base.__module__ == "pystray._appindicator":
        return Icon  # the StatusNotifier host shows the title as the tooltip

    from gi.repository import Gtk
    from pystray._util.gtk import mainloop

    class StatusIcon(Icon):
        """The ``gtk`` backend's XEmbed icon: the title as its tooltip too (pystray sets
        only the window title), and a left click opens the menu, as it does on
        StatusNotifier hosts, rather than toggling protection by accident."""

        @mainloop
        def _update_title(self) -> None:
            self._status_icon.set_title(self.title)
            self._status_icon.set_tooltip_text(self.title)

        @mainloop
        def _show(self) -> None:
            self._status_icon.set_title(self.title)
            self._status_icon.set_tooltip_text(self.title)
            self._status_icon.set_visible(True)

        def _on_status_icon_activate(self, status_icon: Any) -> None:
            self._on_status_icon_popup_menu(status_icon, 1, Gtk.get_current_event_time())

    return StatusIcon
