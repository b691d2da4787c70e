"""The macOS and Windows branches, exercised on Linux through the same table: the CLI's
``--dry-run --platform`` output, and full install/reinstall/uninstall cycles against an
in-memory disk and an in-memory registry."""

from __future__ import annotations

import json
import plistlib
from pathlib import PurePosixPath, PureWindowsPath

import pytest
from installer_env import Sandbox, run_cli, sandbox_fixture  # noqa: F401

from installer.apply import Installer
from installer.autostart import desktop_exec_quote
from installer.context import Platform, Scope, make_context
from installer.fsys import MemoryFileSystem
from installer.ids import HOST_NAME
from installer.launcher import LauncherError, render_bat
from installer.manifest import validate
from installer.plan import Options, build_plan
from installer.registry import MemoryRegistry
from installer.table import BY_NAME, CHROME_KEY

ALL = tuple(BY_NAME)
LOCAL = r"C:\Users\ann\AppData\Local"


@pytest.fixture
def windows_env(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox) -> None:
    monkeypatch.setenv("USERPROFILE", r"C:\Users\ann")
    monkeypatch.setenv("LOCALAPPDATA", LOCAL)
    monkeypatch.setenv("APPDATA", r"C:\Users\ann\AppData\Roaming")
    monkeypatch.setenv("PROGRAMDATA", r"C:\ProgramData")


def _cycle(platform: Platform, scope: Scope) -> tuple[Installer, MemoryFileSystem, MemoryRegistry]:
    ctx = make_context(platform, scope)
    fs, registry = MemoryFileSystem(ctx.standard_folders()), MemoryRegistry()
    installer = Installer(ctx, fs, registry)
    installer.install(build_plan(ctx, Options(browsers=ALL)))
    installer.save()
    return installer, fs, registry


@pytest.mark.parametrize("scope", ["user", "system"])
def test_windows_install_reinstall_uninstall(windows_env: None, scope: Scope) -> None:
    installer, fs, registry = _cycle("windows", scope)
    hive = "HKCU" if scope == "user" else "HKLM"
    data = (
        PureWindowsPath(LOCAL, "cloaker")
        if scope == "user"
        else PureWindowsPath(r"C:\ProgramData\Cloaker")
    )
    launcher = data / "bin" / "cloaker-native-host.bat"
    for name, browser in BY_NAME.items():
        key = f"{browser.windows_key}\\{HOST_NAME}"
        manifest_path = registry.get_value(hive, key, "")
        assert manifest_path == str(data / "manifests" / browser.family / f"{HOST_NAME}.json")
        doc = json.loads(fs.read(PureWindowsPath(manifest_path)) or b"")
        assert validate(doc, browser.family, "windows") == [], name
        assert doc["path"] == str(launcher)
    bat = (fs.read(launcher) or b"").decode()
    lines = bat.split("\r\n")
    assert lines[0] == "@echo off"  # nothing but frames may reach stdout
    assert lines[-2].endswith('cloaker-native-host.exe" %*')
    assert "\n" not in bat.replace("\r\n", "")
    run = registry.get_value(hive, r"Software\Microsoft\Windows\CurrentVersion\Run", "Cloaker")
    assert run is not None and run.endswith('pythonw.exe" -m cloaker daemon')

    snapshot = (dict(fs.files), set(fs.dirs), sorted(registry.keys.items()))
    again = Installer(installer.ctx, fs, registry)
    again.install(build_plan(installer.ctx, Options(browsers=ALL)))
    again.save()
    assert {c.verb for c in again.changes} == {"unchanged"}
    assert (dict(fs.files), set(fs.dirs), sorted(registry.keys.items())) == snapshot

    remover = Installer(installer.ctx, fs, registry)
    remover.remove_owners(None)
    assert fs.files == {}
    assert fs.dirs == MemoryFileSystem(installer.ctx.standard_folders()).dirs
    assert registry.keys == MemoryRegistry().keys


def test_windows_shared_keys_survive_a_partial_uninstall(windows_env: None) -> None:
    installer, fs, registry = _cycle("windows", "user")
    key = f"{CHROME_KEY}\\{HOST_NAME}"
    remover = Installer(installer.ctx, fs, registry)
    remover.remove_owners({"chrome", "brave", "vivaldi"})
    remover.save()
    assert registry.get_value("HKCU", key, "") is not None  # Opera still reads this key
    Installer(installer.ctx, fs, registry).remove_owners({"opera"})
    assert registry.get_value("HKCU", key, "") is None
    assert registry.get_value("HKCU", rf"Software\Chromium\NativeMessagingHosts\{HOST_NAME}", "")


def test_windows_uninstall_keeps_a_value_changed_since(windows_env: None) -> None:
    installer, fs, registry = _cycle("windows", "user")
    key = rf"Software\Mozilla\NativeMessagingHosts\{HOST_NAME}"
    registry.set_value("HKCU", key, "", r"D:\elsewhere.json")
    remover = Installer(installer.ctx, fs, registry)
    remover.remove_owners(None)
    assert registry.get_value("HKCU", key, "") == r"D:\elsewhere.json"
    assert any(c.verb == "kept" and "Mozilla" in c.target for c in remover.changes)


def test_windows_dry_run_output(
    windows_env: None, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sandbox.tree()
    code, out, err = run_cli(capsys, "install", "--platform", "windows", "--dry-run")
    assert code == 0, err
    assert sandbox.tree() == before
    chromium_manifest = rf"{LOCAL}\cloaker\manifests\chromium\{HOST_NAME}.json"
    for key in (
        r"Software\Google\Chrome",
        r"Software\Chromium",
        r"Software\Microsoft\Edge",
    ):
        line = rf"HKCU\{key}\NativeMessagingHosts\{HOST_NAME} [(Default)] = {chromium_manifest}"
        assert f"--- registry {line} (REG_SZ" in out
        assert f"would create  {line}" in out
    assert rf"HKCU\Software\Mozilla\NativeMessagingHosts\{HOST_NAME} [(Default)] = " in out
    assert rf"--- {LOCAL}\cloaker\bin\cloaker-native-host.bat (mode 0755" in out
    assert r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run [Cloaker]" in out
    code, out, _ = run_cli(capsys, "install", "--platform", "windows", "--system", "--dry-run")
    assert code == 0 and rf"HKLM\Software\Mozilla\NativeMessagingHosts\{HOST_NAME}" in out
    assert r"C:\ProgramData\Cloaker\manifests" in out


@pytest.mark.parametrize("scope", ["user", "system"])
def test_macos_install_and_uninstall(sandbox: Sandbox, scope: Scope) -> None:
    installer, fs, _ = _cycle("macos", scope)
    home = PurePosixPath(sandbox.home)
    if scope == "user":
        chrome = home / "Library/Application Support/Google/Chrome/NativeMessagingHosts"
        agent = home / "Library/LaunchAgents/com.cloaker.daemon.plist"
        data = home / "Library/Application Support/cloaker"
    else:
        chrome = PurePosixPath("/Library/Google/Chrome/NativeMessagingHosts")
        agent = PurePosixPath("/Library/LaunchAgents/com.cloaker.daemon.plist")
        data = PurePosixPath("/Library/Application Support/Cloaker")
    doc = json.loads(fs.read(chrome / f"{HOST_NAME}.json") or b"")
    assert validate(doc, "chromium", "macos", f"{HOST_NAME}.json") == []
    assert doc["path"] == str(data / "bin/cloaker-native-host")
    assert fs.is_executable(data / "bin/cloaker-native-host")
    plist = plistlib.loads(fs.read(agent) or b"")
    assert plist["ProgramArguments"] == [str(data / "bin/cloaker-daemon")]
    assert plist["RunAtLoad"] is True and plist["Label"] == "com.cloaker.daemon"
    Installer(installer.ctx, fs, MemoryRegistry()).remove_owners(None)
    assert fs.files == {}


def test_macos_dry_run_output(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "install", "--platform", "macos", "--dry-run", "--browser", "edge"
    )
    assert code == 0
    path = sandbox.home / "Library/Application Support/Microsoft Edge/NativeMessagingHosts"
    assert f"would create  {path / (HOST_NAME + '.json')}" in out
    assert "<key>RunAtLoad</key>" in out


def test_desktop_exec_quoting() -> None:
    assert (
        desktop_exec_quote("/opt/cloaker/bin/cloaker-daemon") == "/opt/cloaker/bin/cloaker-daemon"
    )
    assert desktop_exec_quote("/home/a b/run") == '"/home/a b/run"'
    assert desktop_exec_quote('/x/$a"b') == '"/x/\\\\$a\\\\"b"'
    assert desktop_exec_quote("/x/100%") == "/x/100%%"


def test_bat_escaping() -> None:
    text = render_bat([r"C:\100%\host.exe"], {"CLOAKER_HOME": r"C:\h"}, "t").decode()
    assert r'"C:\100%%\host.exe" %*' in text
    assert r'set "CLOAKER_HOME=C:\h"' in text
    with pytest.raises(LauncherError):
        render_bat(['C:\\a"b'], {}, "t")
