"""The extension and the daemon agree: the extension's default allowlist (used until the
daemon has answered once) and its manifests' host permissions are the daemon's defaults."""

from __future__ import annotations

import json
import re
from pathlib import Path

from native_host.settings import DEFAULT_SITES

EXTENSION = Path(__file__).resolve().parent.parent / "extension"


def test_extension_defaults_are_the_daemons() -> None:
    source = (EXTENSION / "src" / "shared" / "defaults.js").read_text()
    block = source.split("DEFAULT_SITES = [", 1)[1].split("]", 1)[0]
    assert re.findall(r'"([^"]+)"', block) == list(DEFAULT_SITES)


def test_manifests_grant_exactly_the_default_sites() -> None:
    expected = [f"*://*.{host}/*" for host in DEFAULT_SITES]
    for browser in ("chrome", "firefox"):
        manifest = json.loads((EXTENSION / "manifests" / f"{browser}.json").read_text())
        assert manifest["host_permissions"] == expected, browser
        assert "<all_urls>" not in json.dumps(manifest)
