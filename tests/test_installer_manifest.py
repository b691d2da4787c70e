"""Host manifests and the validator of each browser family's rules; the pinned IDs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from installer_env import ROOT

from installer import manifest
from installer.context import Platform
from installer.ids import (
    CHROME_EXTENSION_ID,
    FIREFOX_EXTENSION_ID,
    HOST_DESCRIPTION,
    HOST_NAME,
    chrome_id_from_key,
)
from installer.table import Family

GOOD_PATH = {"linux": "/opt/c/host", "macos": "/Users/a/Library/x host", "windows": r"C:\c\h.bat"}


def _chromium(**changes: Any) -> dict[str, Any]:
    doc = manifest.build(
        "chromium", HOST_NAME, HOST_DESCRIPTION, "/opt/c/host", [CHROME_EXTENSION_ID]
    )
    doc.update(changes)
    return doc


def _firefox(**changes: Any) -> dict[str, Any]:
    doc = manifest.build(
        "firefox", HOST_NAME, HOST_DESCRIPTION, "/opt/c/host", [FIREFOX_EXTENSION_ID]
    )
    doc.update(changes)
    return doc


@pytest.mark.parametrize("platform", ["linux", "macos", "windows"])
@pytest.mark.parametrize("family", ["chromium", "firefox"])
def test_built_manifests_are_valid(platform: Platform, family: Family) -> None:
    ids = [CHROME_EXTENSION_ID if family == "chromium" else FIREFOX_EXTENSION_ID]
    doc = manifest.build(family, HOST_NAME, HOST_DESCRIPTION, GOOD_PATH[platform], ids)
    assert manifest.validate(doc, family, platform, f"{HOST_NAME}.json") == []


def test_chromium_manifest_shape() -> None:
    doc = _chromium()
    assert doc == {
        "name": "com.cloaker.host",
        "description": HOST_DESCRIPTION,
        "path": "/opt/c/host",
        "type": "stdio",
        "allowed_origins": [f"chrome-extension://{CHROME_EXTENSION_ID}/"],
    }
    assert json.loads(manifest.render(doc)) == doc


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"name": "Com.Cloaker.Host"}, "name"),  # uppercase: Chromium refuses
        ({"name": ".com.cloaker"}, "name"),
        ({"name": "com..cloaker"}, "name"),
        ({"name": "com.cloaker."}, "name"),
        ({"name": "com-cloaker"}, "name"),
        ({"path": "bin/host"}, "absolute"),
        ({"path": ""}, "absolute"),
        ({"type": "pipe"}, "stdio"),
        ({"description": ""}, "description"),
        ({"allowed_origins": []}, "non-empty"),
        ({"allowed_origins": [f"chrome-extension://{CHROME_EXTENSION_ID}"]}, "not valid"),
        ({"allowed_origins": ["chrome-extension://*/"]}, "not valid"),
        ({"allowed_origins": ["chrome-extension://abcdefghijklmnopqrstuvwxyz123456/"]}, "valid"),
        ({"allowed_origins": [f"https://{CHROME_EXTENSION_ID}/"]}, "not valid"),
        ({"allowed_extensions": [FIREFOX_EXTENSION_ID]}, "unexpected"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_chromium_rules(changes: dict[str, Any], fragment: str) -> None:
    problems = manifest.validate(_chromium(**changes), "chromium", "linux", f"{HOST_NAME}.json")
    assert problems
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"name": "com-cloaker"}, "name"),
        ({"name": "com.cloaker host"}, "name"),
        ({"path": "host"}, "absolute"),
        ({"allowed_extensions": []}, "non-empty"),
        ({"allowed_extensions": ["cloaker"]}, "not valid"),
        ({"allowed_extensions": ["{not-a-guid}"]}, "not valid"),
        ({"allowed_origins": ["chrome-extension://x/"]}, "unexpected"),  # Firefox rejects it
    ],
    ids=lambda v: str(v)[:40],
)
def test_firefox_rules(changes: dict[str, Any], fragment: str) -> None:
    problems = manifest.validate(_firefox(**changes), "firefox", "linux", f"{HOST_NAME}.json")
    assert any(fragment in p for p in problems), problems


def test_firefox_accepts_what_its_schema_accepts() -> None:
    guid = "{12345678-9abc-def0-1234-56789abcdef0}"
    doc = _firefox(name="Com.Cloaker_Host", allowed_extensions=[guid, "a.b-c_d@e.f"])
    assert manifest.validate(doc, "firefox", "linux", "Com.Cloaker_Host.json") == []


def test_missing_keys_and_file_name() -> None:
    doc = _firefox()
    del doc["description"]
    assert "missing 'description'" in manifest.validate(doc, "firefox", "linux")
    problems = manifest.validate(_firefox(), "firefox", "macos", "other.json")
    assert any("com.cloaker.host.json" in p for p in problems)
    # Windows finds the file through the registry, so its name is free there.
    assert manifest.validate(_firefox(path=r"C:\h.bat"), "firefox", "windows", "x.json") == []


def test_windows_paths_must_be_absolute_windows_paths() -> None:
    assert manifest.validate(_chromium(path="/opt/c/host"), "chromium", "windows")
    assert manifest.validate(_chromium(path=r"C:\c\host.bat"), "chromium", "linux")


def test_check_raises_with_every_problem() -> None:
    with pytest.raises(manifest.ManifestError, match=r"name.*path"):
        manifest.check(_chromium(name="X", path="rel"), "chromium", "linux", "X.json")


def test_pinned_ids_match_the_extension() -> None:
    ids_file = ROOT / "extension" / "ids.json"
    if not ids_file.is_file():
        pytest.skip("extension/ids.json not present")
    ids = json.loads(ids_file.read_text())
    assert ids["chrome_id"] == CHROME_EXTENSION_ID
    assert ids["firefox_id"] == FIREFOX_EXTENSION_ID


def test_chrome_id_is_derived_from_the_manifest_key() -> None:
    chrome = ROOT / "extension" / "manifests" / "chrome.json"
    firefox = ROOT / "extension" / "manifests" / "firefox.json"
    if not (chrome.is_file() and firefox.is_file()):
        pytest.skip("extension manifests not present")
    key = json.loads(chrome.read_text())["key"]
    assert chrome_id_from_key(key) == CHROME_EXTENSION_ID
    gecko = json.loads(firefox.read_text())["browser_specific_settings"]["gecko"]["id"]
    assert gecko == FIREFOX_EXTENSION_ID


def test_extension_id_splitting() -> None:
    from installer.plan import PlanError, split_extension_ids

    chrome, gecko = split_extension_ids([CHROME_EXTENSION_ID, "x@y.z", "a" * 32])
    assert chrome == (CHROME_EXTENSION_ID, "a" * 32)
    assert gecko == ("x@y.z",)
    with pytest.raises(PlanError):
        split_extension_ids(["not-an-id"])
