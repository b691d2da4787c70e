"""The manifest-location table, resolved for each OS and scope (no writes)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest
from installer_env import Sandbox, sandbox_fixture  # noqa: F401

from installer.context import make_context
from installer.detect import found_browsers
from installer.table import BROWSERS, BY_NAME, LocationError, locate, profile_root

HOST = "com.cloaker.host.json"

LINUX_USER = {
    "chrome": ".config/google-chrome/NativeMessagingHosts",
    "chromium": ".config/chromium/NativeMessagingHosts",
    "edge": ".config/microsoft-edge/NativeMessagingHosts",
    "brave": ".config/BraveSoftware/Brave-Browser/NativeMessagingHosts",
    "vivaldi": ".config/vivaldi/NativeMessagingHosts",
    "opera": ".config/opera/NativeMessagingHosts",
    "firefox": ".mozilla/native-messaging-hosts",
    "librewolf": ".librewolf/native-messaging-hosts",
}
LINUX_SYSTEM = {
    "chrome": ["/etc/opt/chrome/native-messaging-hosts"],
    "chromium": ["/etc/chromium/native-messaging-hosts"],
    "edge": ["/etc/opt/edge/native-messaging-hosts"],
    "brave": ["/etc/opt/brave/native-messaging-hosts", "/etc/brave/native-messaging-hosts"],
    "vivaldi": ["/etc/opt/vivaldi/native-messaging-hosts", "/etc/vivaldi/native-messaging-hosts"],
    "opera": ["/etc/opera/native-messaging-hosts"],
    "firefox": ["/usr/lib/mozilla/native-messaging-hosts"],
}
MACOS_USER = {
    "chrome": "Google/Chrome",
    "chromium": "Chromium",
    "edge": "Microsoft Edge",
    "brave": "BraveSoftware/Brave-Browser",
    "vivaldi": "Vivaldi",
    "opera": "com.operasoftware.Opera",
    "firefox": "Mozilla",
    "librewolf": "LibreWolf",
}
WINDOWS_KEYS = {
    "chrome": r"Software\Google\Chrome\NativeMessagingHosts",
    "chromium": r"Software\Chromium\NativeMessagingHosts",
    "edge": r"Software\Microsoft\Edge\NativeMessagingHosts",
    "brave": r"Software\Google\Chrome\NativeMessagingHosts",
    "vivaldi": r"Software\Google\Chrome\NativeMessagingHosts",
    "opera": r"Software\Google\Chrome\NativeMessagingHosts",
    "firefox": r"Software\Mozilla\NativeMessagingHosts",
    "librewolf": r"Software\Mozilla\NativeMessagingHosts",
}


def test_table_covers_the_required_browsers() -> None:
    assert set(BY_NAME) == set(LINUX_USER)
    assert {b.family for b in BROWSERS} == {"chromium", "firefox"}


@pytest.mark.parametrize("name", list(LINUX_USER))
def test_linux_user_location(sandbox: Sandbox, name: str) -> None:
    ctx = make_context("linux", "user", host_command="/x/host")
    [loc] = locate(BY_NAME[name], ctx)
    assert loc.manifest == sandbox.home / LINUX_USER[name] / HOST
    assert loc.registry is None


@pytest.mark.parametrize("name", ["chrome", "brave", "opera"])
def test_linux_chromium_family_follows_xdg_config_home(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(sandbox.base / "cfg"))
    ctx = make_context("linux", "user", host_command="/x/host")
    [loc] = locate(BY_NAME[name], ctx)
    assert loc.manifest.is_relative_to(sandbox.base / "cfg")
    monkeypatch.delenv("XDG_CONFIG_HOME")
    [loc] = locate(BY_NAME[name], make_context("linux", "user", host_command="/x/host"))
    assert loc.manifest == sandbox.home / LINUX_USER[name] / HOST


@pytest.mark.parametrize("name", list(LINUX_USER))
def test_linux_system_locations(sandbox: Sandbox, name: str) -> None:
    ctx = make_context("linux", "system", host_command="/x/host")
    if name not in LINUX_SYSTEM:
        with pytest.raises(LocationError):
            locate(BY_NAME[name], ctx)
        return
    got = [loc.manifest for loc in locate(BY_NAME[name], ctx)]
    assert got == [Path(d) / HOST for d in LINUX_SYSTEM[name]]


def test_system_locations_move_under_root(sandbox: Sandbox) -> None:
    ctx = make_context("linux", "system", host_command="/x/host", root=str(sandbox.base))
    [loc] = locate(BY_NAME["chrome"], ctx)
    assert loc.manifest == sandbox.base / "etc/opt/chrome/native-messaging-hosts" / HOST


@pytest.mark.parametrize("name", list(MACOS_USER))
def test_macos_user_location(sandbox: Sandbox, name: str) -> None:
    ctx = make_context("macos", "user")
    [loc] = locate(BY_NAME[name], ctx)
    expected = sandbox.home / "Library/Application Support" / MACOS_USER[name]
    assert str(loc.manifest) == str(expected / "NativeMessagingHosts" / HOST)
    assert isinstance(loc.manifest, PurePosixPath)


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("chrome", "/Library/Google/Chrome/NativeMessagingHosts"),
        ("chromium", "/Library/Application Support/Chromium/NativeMessagingHosts"),
        ("edge", "/Library/Microsoft/Edge/NativeMessagingHosts"),
        ("firefox", "/Library/Application Support/Mozilla/NativeMessagingHosts"),
    ],
)
def test_macos_system_location(sandbox: Sandbox, name: str, folder: str) -> None:
    [loc] = locate(BY_NAME[name], make_context("macos", "system"))
    assert str(loc.manifest) == f"{folder}/{HOST}"


@pytest.mark.parametrize("scope", ["user", "system"])
@pytest.mark.parametrize("name", list(WINDOWS_KEYS))
def test_windows_registry_keys(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, name: str, scope: str
) -> None:
    monkeypatch.setenv("LOCALAPPDATA", r"C:\Users\ann\AppData\Local")
    monkeypatch.setenv("PROGRAMDATA", r"C:\ProgramData")
    ctx = make_context("windows", scope)  # type: ignore[arg-type]
    [loc] = locate(BY_NAME[name], ctx)
    assert loc.registry is not None
    assert loc.registry.hive == ("HKCU" if scope == "user" else "HKLM")
    assert loc.registry.key == WINDOWS_KEYS[name] + r"\com.cloaker.host"
    base = r"C:\Users\ann\AppData\Local\cloaker" if scope == "user" else r"C:\ProgramData\Cloaker"
    family = BY_NAME[name].family
    assert loc.manifest == PureWindowsPath(base, "manifests", family, HOST)


def test_overrides_send_manifests_to_a_test_profile(sandbox: Sandbox) -> None:
    ctx = make_context("linux", "user", host_command="/x/host")
    udd, ffhome = sandbox.base / "udd", sandbox.base / "ffhome"
    for name in ("chrome", "chromium", "brave"):
        [loc] = locate(BY_NAME[name], ctx, chromium_user_data_dir=udd, firefox_home=ffhome)
        assert loc.manifest == udd / "NativeMessagingHosts" / HOST
    [loc] = locate(BY_NAME["firefox"], ctx, chromium_user_data_dir=udd, firefox_home=ffhome)
    assert loc.manifest == ffhome / ".mozilla/native-messaging-hosts" / HOST


def test_overrides_are_refused_where_browsers_ignore_them(sandbox: Sandbox) -> None:
    for ctx in (
        make_context("windows", "user"),
        make_context("linux", "system", host_command="/x"),
    ):
        with pytest.raises(LocationError):
            locate(BY_NAME["chromium"], ctx, chromium_user_data_dir=Path("/tmp/udd"))


def test_detection_uses_profiles_and_path(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = sandbox.base / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))
    ctx = make_context("linux", "user", host_command="/x/host")
    assert found_browsers(ctx) == []
    (sandbox.home / ".mozilla").mkdir()  # Firefox has been run
    fake = bindir / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    ctx = make_context("linux", "user", host_command="/x/host")
    assert [b.name for b in found_browsers(ctx)] == ["chromium", "firefox"]
    assert profile_root(BY_NAME["firefox"], ctx) == sandbox.home / ".mozilla"
