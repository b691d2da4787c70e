"""Native-messaging host manifests, and a validator that encodes each browser family's rules.

Chromium family (Chrome, Chromium, Edge, Brave, Vivaldi, Opera), from Chrome's docs and
Chromium's manifest parser: ``name`` is lowercase letters, digits, ``_`` and dots, not at
either end and never two in a row; ``path`` is absolute on Linux and macOS;
``type`` is ``stdio``; ``allowed_origins`` lists ``chrome-extension://<id>/`` with the trailing
slash and no wildcard, where an id is 32 letters a-p.

Firefox family (Firefox, LibreWolf), from Firefox's schema (native_manifest.json) and
NativeManifests.sys.mjs: ``name`` matches ``^\\w+(\\.\\w+)*$``; ``description``, ``path``,
``type`` and ``allowed_extensions`` are all required and nothing else is allowed (an
unexpected property makes Firefox reject the file); ``allowed_extensions`` holds at least
one id, an ``x@y`` id or a ``{GUID}``; ``path`` is absolute on Linux and macOS.

Both: on Linux and macOS the file must be named ``<name>.json``. We also require an
absolute ``path`` on Windows (both browsers would accept one relative to the manifest) and
a non-empty description, so every manifest we write works the same everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from installer.context import Platform
from installer.table import Family

CHROMIUM_NAME = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
FIREFOX_NAME = re.compile(r"^\w+(\.\w+)*$", re.ASCII)
CHROME_ID = re.compile(r"^[a-p]{32}$")
CHROME_ORIGIN = re.compile(r"^chrome-extension://([a-p]{32})/$")
GECKO_ID = re.compile(
    r"^(\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}|[a-z0-9\-._]*@[a-z0-9\-._]+)$",
    re.IGNORECASE,
)

FIREFOX_KEYS = frozenset({"name", "description", "path", "type", "allowed_extensions"})
CHROMIUM_KEYS = frozenset({"name", "description", "path", "type", "allowed_origins"})


class ManifestError(Exception):
    """A manifest we were about to write breaks a browser's rules."""


def build(family: Family, name: str, description: str, path: str, ids: Sequence[str]) -> dict:
    """The manifest for ``family``: ``ids`` are Chrome IDs or gecko ids respectively."""
    manifest: dict[str, Any] = {
        "name": name,
        "description": description,
        "path": path,
        "type": "stdio",
    }
    if family == "chromium":
        manifest["allowed_origins"] = [f"chrome-extension://{i}/" for i in ids]
    else:
        manifest["allowed_extensions"] = list(ids)
    return manifest


def render(manifest: Mapping[str, Any]) -> bytes:
    """The file's bytes: indented UTF-8 JSON with a final newline."""
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def validate(
    manifest: Mapping[str, Any],
    family: Family,
    platform: Platform,
    filename: str | None = None,
) -> list[str]:
    """Every rule ``manifest`` breaks for ``family`` on ``platform`` (empty when valid)."""
    problems: list[str] = []
    allowed = CHROMIUM_KEYS if family == "chromium" else FIREFOX_KEYS
    for key in sorted(allowed - manifest.keys()):
        problems.append(f"missing {key!r}")
    for key in sorted(manifest.keys() - allowed):
        problems.append(f"unexpected property {key!r} in a {family} manifest")

    name = manifest.get("name")
    pattern = CHROMIUM_NAME if family == "chromium" else FIREFOX_NAME
    if not isinstance(name, str) or not pattern.match(name):
        problems.append(f"name {name!r} does not match {pattern.pattern}")
    elif filename is not None and platform != "windows" and filename != f"{name}.json":
        problems.append(f"file is named {filename!r}, browsers look for {name}.json")

    description = manifest.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append("description must be a non-empty string")

    path = manifest.get("path")
    if not isinstance(path, str) or not _absolute(path, platform):
        problems.append(f"path {path!r} is not an absolute {platform} path")

    if manifest.get("type") != "stdio":
        problems.append(f"type {manifest.get('type')!r} is not 'stdio'")

    if family == "chromium":
        problems += _check_list(manifest.get("allowed_origins"), "allowed_origins", _origin_ok)
    else:
        problems += _check_list(manifest.get("allowed_extensions"), "allowed_extensions", _gecko_ok)
    return problems


def check(manifest: Mapping[str, Any], family: Family, platform: Platform, filename: str) -> None:
    """Raise ManifestError listing every broken rule."""
    problems = validate(manifest, family, platform, filename)
    if problems:
        raise ManifestError(f"invalid {family} host manifest {filename}: " + "; ".join(problems))


def _absolute(path: str, platform: Platform) -> bool:
    if platform == "windows":
        return PureWindowsPath(path).is_absolute()
    return PurePosixPath(path).is_absolute()


def _origin_ok(value: object) -> bool:
    return isinstance(value, str) and CHROME_ORIGIN.match(value) is not None


def _gecko_ok(value: object) -> bool:
    return isinstance(value, str) and GECKO_ID.match(value) is not None


def _check_list(value: object, key: str, ok: Callable[[object], bool]) -> list[str]:
    if value is None:
        return []  # already reported as missing
    if not isinstance(value, list) or not value:
        return [f"{key} must be a non-empty list"]
    return [f"{key} entry {item!r} is not valid" for item in value if not ok(item)]
