"""Everything an install would write, computed without touching anything.

The plan is the single source for ``--dry-run`` output, for the real install and for the
tests: manifests for each selected browser (validated against that browser's rules before
they ever reach a disk), the launcher they point at, and the autostart entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import PurePath

from installer import manifest
from installer.autostart import autostart_item
from installer.context import Context
from installer.ids import CHROME_EXTENSION_ID, FIREFOX_EXTENSION_ID, HOST_DESCRIPTION, HOST_NAME
from installer.items import AUTOSTART, FileItem, RegistryItem
from installer.launcher import (
    daemon_launcher,
    daemon_launcher_path,
    host_launcher,
    host_launcher_path,
)
from installer.table import BY_NAME, LocationError, locate


class PlanError(Exception):
    """The request cannot be planned (unknown browser, bad id, nothing to do)."""


@dataclass(frozen=True)
class Options:
    """What the user asked for. Empty id tuples mean the pinned defaults."""

    browsers: tuple[str, ...]
    chrome_ids: tuple[str, ...] = ()
    firefox_ids: tuple[str, ...] = ()
    autostart: bool = True
    chromium_user_data_dir: PurePath | None = None
    firefox_home: PurePath | None = None


@dataclass(frozen=True)
class Plan:
    """Files and registry values to write, plus notes on browsers that were skipped."""

    files: tuple[FileItem, ...]
    registry: tuple[RegistryItem, ...]
    notes: tuple[str, ...] = field(default=())


def split_extension_ids(ids: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Sort ``--extension-id`` values into Chrome IDs and gecko ids by their shape."""
    chrome: list[str] = []
    gecko: list[str] = []
    for value in ids:
        if manifest.CHROME_ID.match(value):
            chrome.append(value)
        elif manifest.GECKO_ID.match(value):
            gecko.append(value)
        else:
            raise PlanError(
                f"extension id {value!r} is neither a Chrome ID (32 letters a-p) "
                "nor a Firefox id (name@domain or {GUID})"
            )
    return tuple(chrome), tuple(gecko)


def build_plan(ctx: Context, options: Options) -> Plan:
    """The plan for ``options`` on ``ctx``; raises PlanError when nothing can be installed."""
    unknown = [name for name in options.browsers if name not in BY_NAME]
    if unknown:
        raise PlanError(f"unknown browser {', '.join(unknown)} (known: {', '.join(BY_NAME)})")
    files: dict[PurePath, FileItem] = {}
    registry: dict[tuple[str, str, str], RegistryItem] = {}
    notes: list[str] = []
    host = str(host_launcher_path(ctx))
    placed: set[str] = set()

    for name in options.browsers:
        browser = BY_NAME[name]
        try:
            locations = locate(
                browser,
                ctx,
                chromium_user_data_dir=options.chromium_user_data_dir,
                firefox_home=options.firefox_home,
            )
        except LocationError as exc:
            notes.append(f"skipped {browser.label}: {exc}")
            continue
        if browser.family == "chromium":
            ids = options.chrome_ids or (CHROME_EXTENSION_ID,)
        else:
            ids = options.firefox_ids or (FIREFOX_EXTENSION_ID,)
        doc = manifest.build(browser.family, HOST_NAME, HOST_DESCRIPTION, host, ids)
        content = manifest.render(doc)
        owners = frozenset({name})
        for loc in locations:
            manifest.check(doc, browser.family, ctx.platform, loc.manifest.name)
            _add_file(files, FileItem(loc.manifest, content, owners, "host manifest"))
            if loc.registry is not None:
                item = RegistryItem(
                    loc.registry.hive,
                    loc.registry.key,
                    "",
                    str(loc.manifest),
                    owners,
                    "host registration",
                )
                _add_registry(registry, item)
        placed.add(name)

    if not placed:
        raise PlanError("nothing to install: " + ("; ".join(notes) or "no browser selected"))
    launcher = FileItem(
        host_launcher_path(ctx), host_launcher(ctx), frozenset(placed), "host launcher", True
    )
    _add_file(files, launcher)

    if options.autostart:
        if ctx.platform != "windows":
            daemon = FileItem(
                daemon_launcher_path(ctx),
                daemon_launcher(ctx),
                frozenset({AUTOSTART}),
                "daemon launcher",
                True,
            )
            _add_file(files, daemon)
        entry = autostart_item(ctx)
        if isinstance(entry, FileItem):
            _add_file(files, entry)
        else:
            _add_registry(registry, entry)
    return Plan(tuple(files.values()), tuple(registry.values()), tuple(notes))


def _add_file(files: dict[PurePath, FileItem], item: FileItem) -> None:
    """Add ``item``; browsers that share a location share one file (owners merge)."""
    existing = files.get(item.path)
    if existing is None:
        files[item.path] = item
        return
    if existing.content != item.content:
        raise PlanError(f"two different files planned at {item.path}")
    files[item.path] = replace(existing, owners=existing.owners | item.owners)


def _add_registry(registry: dict[tuple[str, str, str], RegistryItem], item: RegistryItem) -> None:
    """Add ``item``; browsers that read the same key share one value (owners merge)."""
    slot = (item.hive, item.key.casefold(), item.name.casefold())
    existing = registry.get(slot)
    if existing is None:
        registry[slot] = item
        return
    if existing.data != item.data:
        raise PlanError(f"two different values planned at {item.display}")
    registry[slot] = replace(existing, owners=existing.owners | item.owners)
