"""The pystray tray icon: on / off / working; menu Protection, Mode, Sites, Open log folder,
Quit; the tooltip says the state. Callbacks are one-line calls into ``TrayActions``.
``Icon.run`` owns the main thread; the daemon (server and worker) starts from ``setup``.

pystray picks its backend at import time and, on Linux, needs a display for it;
``tray_loader`` picks it (StatusNotifierItem, XEmbed with a menu, or XEmbed without one) and
adapts pystray's GTK backends to a daemon.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from native_host.settings import MODES
from native_host.tray_loader import TrayUnavailableError, icon_class, load_pystray
from native_host.tray_menu import TrayActions, draw_icon, icon_state

if TYPE_CHECKING:
    import pystray

    from native_host.daemon import Daemon

__all__ = ["Tray", "TrayUnavailableError", "build_menu"]
log = logging.getLogger(__name__)


def build_menu(pystray_mod: Any, actions: TrayActions) -> pystray.Menu:
    """The menu; items read their checked state from the settings each time it is shown."""
    item, menu = pystray_mod.MenuItem, pystray_mod.Menu

    def mode_item(mode: str) -> Any:
        return item(
            mode,
            lambda: actions.set_mode(mode),
            checked=lambda _: actions.mode_is(mode),
            radio=True,
        )

    def site_item(host: str) -> Any:
        return item(
            host, lambda: actions.toggle_site(host), checked=lambda _: actions.site_enabled(host)
        )

    def sites() -> Iterator[Any]:
        return (site_item(host) for host in actions.site_hosts())

    return menu(
        item(
            "Protection",
            actions.toggle_protection,
            checked=lambda _: actions.protection_on(),
            default=True,
        ),
        item("Mode", menu(*(mode_item(mode) for mode in MODES))),
        item("Sites", menu(sites)),
        menu.SEPARATOR,
        item("Open log folder", actions.open_log_folder),
        item("Quit", actions.quit),
    )


class Tray:
    """The icon, hooked to the daemon's settings, activity and shutdown."""

    def __init__(self, daemon: Daemon, log_folder: Path, grace_s: float = 3.0) -> None:
        pystray_mod = load_pystray()
        self.daemon = daemon
        self.actions = TrayActions(daemon.settings, daemon.request_stop, log_folder)
        self.icon = icon_class(pystray_mod)(
            "cloaker",
            draw_icon("on"),
            self.actions.title(0),
            build_menu(pystray_mod, self.actions),
        )
        self._grace_s = grace_s
        self._watchdog: threading.Timer | None = None
        self._loop_done = False
        daemon.settings.subscribe(self.refresh)
        daemon.on_activity(self.refresh)
        daemon.on_stopped(self._daemon_stopped)
        self.refresh()

    def refresh(self) -> None:
        """Show the current state: icon colour, tooltip, menu checks."""
        self.icon.icon = draw_icon(icon_state(self.actions.protection_on(), self.daemon.busy))
        self.icon.title = self.actions.title(self.daemon.jobs)
        self.icon.update_menu()

    def run(self) -> None:
        """Run the icon on this (main) thread; the daemon starts in ``setup``. Returns after
        Quit (or a signal) once the daemon has shut down."""

        def setup(icon: pystray.Icon) -> None:
            icon.visible = True
            try:
                self.daemon.start()
            except RuntimeError:
                log.exception("the daemon failed to start; removing the tray icon")
                icon.stop()
                return
            log.info("tray icon shown")

        self.icon.run(setup=setup)
        self._loop_done = True
        if self._watchdog is not None:
            self._watchdog.cancel()  # the loop returned on its own
        self.daemon.request_stop()
        self.daemon.wait_for_quit()  # bounded: Quit ends within 2 s, as SIGTERM does

    def _daemon_stopped(self) -> None:
        """Stop the icon once the daemon has shut down (called from the daemon's loop thread).

        pystray's xorg backend was seen, now and then, to miss the event that ends its loop
        when stopped from another thread, leaving the process up with nothing to do. All is
        cleaned up by now (jobs ended, discovery file removed), so if the icon's loop has not
        returned after the grace period, the process exits by itself.
        """
        if self._loop_done:
            return
        self._watchdog = threading.Timer(self._grace_s, self._force_exit)
        self._watchdog.daemon = True
        self._watchdog.start()
        self.icon.stop()

    def _force_exit(self) -> None:
        log.warning("the tray icon did not stop within %.0f s; exiting", self._grace_s)
        logging.shutdown()
        os._exit(0)
