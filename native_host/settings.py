"""The daemon's settings: protection on/off, mode, per-site allowlist. One owner (the daemon),
one file (``<config dir>/settings.json``, written atomically), change listeners for the
websocket pushes and the tray. ``site_matches`` is the one place a host is matched to a site.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from native_host.atomic import atomic_write

log = logging.getLogger(__name__)

SETTINGS_VERSION = 1
MODES = ("low", "mid", "high")
DEFAULT_MODE = "mid"
# Sites whose photos are public or widely visible and have been scraped for face data.
DEFAULT_SITES = (
    "facebook.com",
    "instagram.com",
    "threads.net",
    "x.com",
    "twitter.com",
    "linkedin.com",
    "tiktok.com",
    "reddit.com",
    "pinterest.com",
    "tumblr.com",
    "flickr.com",
    "vk.com",
    "bsky.app",
    "mastodon.social",
    "snapchat.com",
    "weibo.com",
    "ok.ru",
    "vsco.co",
    "500px.com",
    "okcupid.com",
)
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


def normalize_host(text: Any) -> str:
    """Lower-case, IDNA-encode and validate a bare host name; raise ``ValueError`` if bad."""
    if not isinstance(text, str):
        raise ValueError("a host name must be a string")
    host = text.strip().rstrip(".").lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"{text!r} is not a valid host name") from exc
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{text!r} is not a bare host name (no scheme, port or path)")
    return host


def site_matches(host: str, entry: str) -> bool:
    """True when allowlist ``entry`` covers ``host``: the same host or one of its subdomains."""
    return host == entry or host.endswith("." + entry)


@dataclass(frozen=True)
class Site:
    """One allowlist entry."""

    host: str
    enabled: bool = True


@dataclass(frozen=True)
class Settings:
    """An immutable snapshot of the settings."""

    protection: bool = True
    mode: str = DEFAULT_MODE
    sites: tuple[Site, ...] = tuple(Site(host) for host in DEFAULT_SITES)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": SETTINGS_VERSION,
            "protection": self.protection,
            "mode": self.mode,
            "sites": [{"host": s.host, "enabled": s.enabled} for s in self.sites],
        }

    @classmethod
    def from_json(cls, obj: Any) -> Settings:
        """Parse a whole settings object (the file); raise ``ValueError`` when invalid."""
        if not isinstance(obj, dict) or obj.get("version") != SETTINGS_VERSION:
            raise ValueError(f"settings must be an object with version {SETTINGS_VERSION}")
        missing = {"protection", "mode", "sites"} - obj.keys()
        if missing:
            raise ValueError(f"settings lack {sorted(missing)}")
        return cls().changed(obj)

    def changed(self, changes: dict[str, Any]) -> Settings:
        """Return a copy with ``changes`` (a ``settings.set`` payload) applied, or raise."""
        new = self
        if "protection" in changes:
            if not isinstance(changes["protection"], bool):
                raise ValueError("protection must be true or false")
            new = replace(new, protection=changes["protection"])
        if "mode" in changes:
            if changes["mode"] not in MODES:
                raise ValueError(f"mode must be one of {', '.join(MODES)}")
            new = replace(new, mode=changes["mode"])
        if "sites" in changes:
            if not isinstance(changes["sites"], list):
                raise ValueError("sites must be a list")
            sites = tuple(_parse_site(item) for item in changes["sites"])
            hosts = [s.host for s in sites]
            if len(set(hosts)) != len(hosts):
                raise ValueError("sites lists a host twice")
            new = replace(new, sites=sites)
        if "site" in changes:
            site = _parse_site(changes["site"])
            kept = [s for s in new.sites if s.host != site.host]
            if len(kept) == len(new.sites):
                new = replace(new, sites=(*new.sites, site))
            else:
                new = replace(
                    new, sites=tuple(site if s.host == site.host else s for s in new.sites)
                )
        return new

    def covering_site(self, host: str) -> Site | None:
        """The most specific allowlist entry covering ``host`` (enabled or not), if any."""
        matches = [s for s in self.sites if site_matches(host, s.host)]
        return max(matches, key=lambda s: len(s.host)) if matches else None

    def skip_reason(self, host: str) -> str | None:
        """``None`` when uploads from ``host`` must be cloaked, else why not."""
        if not self.protection:
            return "protection_off"
        site = self.covering_site(host)
        return None if site is not None and site.enabled else "site_not_listed"


def _parse_site(item: Any) -> Site:
    if not isinstance(item, dict):
        raise ValueError('a site must be an object {"host": str, "enabled": bool}')
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValueError("site.enabled must be true or false")
    return Site(normalize_host(item.get("host")), enabled)


Listener = Callable[[], None]


class SettingsStore:
    """Thread-safe owner of the settings file; calls listeners after every real change.

    Listeners take no argument and read ``get()`` themselves, and run outside the lock, so a
    listener that waits on another thread (the tray) cannot deadlock with an update from it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._settings = self._load()

    def _load(self) -> Settings:
        # A process killed inside atomic_write leaves its temp file; the real file is intact.
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            log.info("removing %s left by an interrupted save", stale.name)
            stale.unlink(missing_ok=True)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            log.info("no settings file at %s; using defaults", self.path)
            return Settings()
        try:
            return Settings.from_json(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, ValueError) as exc:
            backup = self.path.with_name(self.path.name + ".bak")
            self.path.replace(backup)
            log.warning(
                "settings file %s is unreadable (%s); kept as %s, using defaults",
                self.path,
                exc,
                backup,
            )
            return Settings()

    def get(self) -> Settings:
        with self._lock:
            return self._settings

    def update(self, changes: dict[str, Any]) -> Settings:
        """Apply a ``settings.set`` payload; save and notify when it changes anything."""
        with self._lock:
            new = self._settings.changed(changes)
            changed = new != self._settings
            if changed:
                data = json.dumps(new.to_json(), indent=2).encode("utf-8") + b"\n"
                atomic_write(self.path, data, mode=0o600)
                self._settings = new
        if changed:
            log.info("settings changed: %s", sorted(changes))
            for listener in list(self._listeners):
                listener()
        return new

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener()`` after each change; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)
