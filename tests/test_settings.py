"""Settings: site matching, validation, the store's file handling and change listeners."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from native_host.settings import (
    DEFAULT_SITES,
    Settings,
    SettingsStore,
    Site,
    normalize_host,
    site_matches,
)


@pytest.mark.parametrize(
    ("host", "entry", "expected"),
    [
        ("facebook.com", "facebook.com", True),
        ("www.facebook.com", "facebook.com", True),
        ("m.upload.facebook.com", "facebook.com", True),
        ("notfacebook.com", "facebook.com", False),
        ("facebook.com.evil.example", "facebook.com", False),
        ("facebook.co", "facebook.com", False),
        ("com", "facebook.com", False),
        ("x.com", "x.com", True),
        ("box.com", "x.com", False),
    ],
    ids=lambda v: str(v),
)
def test_site_matches(host: str, entry: str, expected: bool) -> None:
    assert site_matches(host, entry) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Facebook.COM", "facebook.com"),
        ("www.x.com.", "www.x.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("localhost", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_normalize_host(text: str, expected: str) -> None:
    assert normalize_host(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "https://facebook.com",
        "facebook.com/path",
        "face book.com",
        "a..b",
        "x.com:443",
        "-bad.com",
        42,
        None,
    ],
)
def test_normalize_host_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        normalize_host(text)


def test_defaults() -> None:
    settings = Settings()
    assert settings.protection is True and settings.mode == "mid"
    hosts = [s.host for s in settings.sites]
    for required in (
        "facebook.com",
        "instagram.com",
        "x.com",
        "twitter.com",
        "linkedin.com",
        "tiktok.com",
        "reddit.com",
        "pinterest.com",
        "tumblr.com",
        "flickr.com",
        "vk.com",
        "threads.net",
        "bsky.app",
        "mastodon.social",
    ):
        assert required in hosts
    assert len(set(hosts)) == len(hosts) == len(DEFAULT_SITES)
    assert all(s.enabled for s in settings.sites)


def test_skip_reason() -> None:
    settings = Settings(sites=(Site("example.com"), Site("photos.example.com", enabled=False)))
    assert settings.skip_reason("example.com") is None
    assert settings.skip_reason("www.example.com") is None
    assert settings.skip_reason("photos.example.com") == "site_not_listed"  # most specific wins
    assert settings.skip_reason("a.photos.example.com") == "site_not_listed"
    assert settings.skip_reason("example.org") == "site_not_listed"
    off = Settings(protection=False, sites=settings.sites)
    assert off.skip_reason("example.com") == "protection_off"


def test_changed_site_upsert() -> None:
    settings = Settings(sites=(Site("a.com"), Site("b.com")))
    disabled = settings.changed({"site": {"host": "B.com", "enabled": False}})
    assert disabled.sites == (Site("a.com"), Site("b.com", enabled=False))
    added = settings.changed({"site": {"host": "c.com"}})
    assert added.sites[-1] == Site("c.com", enabled=True)


@pytest.mark.parametrize(
    "changes",
    [
        {"protection": "yes"},
        {"protection": 1},
        {"mode": "fawkes"},
        {"mode": "ultra"},
        {"sites": "facebook.com"},
        {"sites": [{"host": "a.com"}, {"host": "A.com"}]},
        {"sites": ["a.com"]},
        {"site": {"host": "http://a.com"}},
        {"site": {"host": "a.com", "enabled": "no"}},
    ],
)
def test_changed_rejects(changes: dict) -> None:
    with pytest.raises(ValueError):
        Settings().changed(changes)


def test_json_round_trip() -> None:
    settings = Settings(protection=False, mode="high", sites=(Site("a.com", False), Site("b.org")))
    assert Settings.from_json(json.loads(json.dumps(settings.to_json()))) == settings
    assert settings.to_json()["version"] == 1


def test_store_saves_atomically_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    store = SettingsStore(path)
    assert not path.exists()  # defaults are not written until something changes
    store.update({"mode": "low", "site": {"host": "example.org"}})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]  # no temp files left
    reloaded = SettingsStore(path).get()
    assert reloaded.mode == "low" and reloaded.covering_site("www.example.org") is not None


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"version": 2, "protection": true}',
        b'{"version": 1, "protection": true, "mode": "mid"}',
        b'{"version": 1, "protection": true, "mode": "nope", "sites": []}',
        b"",
    ],
    ids=["garbage", "binary", "list", "future-version", "missing-sites", "bad-mode", "empty"],
)
def test_corrupt_file_is_kept_aside(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="native_host.settings"):
        store = SettingsStore(path)
    assert store.get() == Settings()
    assert (tmp_path / "settings.json.bak").read_bytes() == content
    assert not path.exists()
    assert any("unreadable" in r.getMessage() for r in caplog.records)


def test_listeners_run_on_real_changes_only(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "settings.json")
    seen: list[bool] = []
    unsubscribe = store.subscribe(lambda: seen.append(store.get().protection))
    store.update({"protection": False})
    store.update({"protection": False})  # no change: no save, no call
    store.update({"protection": True})
    unsubscribe()
    store.update({"protection": False})
    assert seen == [False, True]


def test_rejected_update_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    store = SettingsStore(path)
    store.update({"mode": "high"})
    before = path.read_bytes()
    with pytest.raises(ValueError):
        store.update({"mode": "high", "sites": [{"host": "bad host"}]})
    assert store.get().mode == "high" and path.read_bytes() == before


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_settings_file_is_private(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "settings.json")
    store.update({"protection": False})
    assert stat.S_IMODE((tmp_path / "settings.json").stat().st_mode) == 0o600
