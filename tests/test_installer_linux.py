"""`cloaker install` / `cloaker uninstall` on this Linux machine, with HOME, the XDG folders
and CLOAKER_HOME in temporary folders: every location, idempotence, exact removal."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path, PurePath

import pytest
from installer_env import Sandbox, run_cli, sandbox_fixture  # noqa: F401

from cloaker.cli import build_parser
from installer import models_step
from installer.apply import Installer
from installer.cli import _needs_admin, run_install, run_uninstall
from installer.context import make_context
from installer.fsys import MemoryFileSystem, RealFileSystem
from installer.ids import CHROME_EXTENSION_ID, FIREFOX_EXTENSION_ID
from installer.manifest import validate
from installer.plan import Options, build_plan
from installer.registry import MemoryRegistry
from installer.table import BY_NAME

HOST = "com.cloaker.host.json"
USER_DIRS = {
    "chrome": ".config/google-chrome/NativeMessagingHosts",
    "chromium": ".config/chromium/NativeMessagingHosts",
    "edge": ".config/microsoft-edge/NativeMessagingHosts",
    "brave": ".config/BraveSoftware/Brave-Browser/NativeMessagingHosts",
    "vivaldi": ".config/vivaldi/NativeMessagingHosts",
    "opera": ".config/opera/NativeMessagingHosts",
    "firefox": ".mozilla/native-messaging-hosts",
    "librewolf": ".librewolf/native-messaging-hosts",
}
INSTALL_ALL = ("install", "--browser", "all", "--no-models")


def _verb(out: str, target: Path) -> str:
    """The summary's verb for ``target``."""
    for line in out.splitlines():
        verb, _, rest = line.strip().partition("  ")
        if rest.strip().startswith(f"{target}  ["):
            return verb
    raise AssertionError(f"{target} not in the summary:\n{out}")


def _mtimes(paths: set[str]) -> dict[str, int]:
    return {p: os.stat(p).st_mtime_ns for p in paths if os.path.isfile(p)}


def test_install_writes_every_linux_location(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, *INSTALL_ALL)
    assert code == 0, err
    launcher = sandbox.data / "bin" / "cloaker-native-host"
    for name, folder in USER_DIRS.items():
        path = sandbox.home / folder / HOST
        assert path.is_file(), name
        doc = json.loads(path.read_text())
        family = BY_NAME[name].family
        assert validate(doc, family, "linux", path.name) == [], name
        assert doc["path"] == str(launcher)
        if family == "chromium":
            assert doc["allowed_origins"] == [f"chrome-extension://{CHROME_EXTENSION_ID}/"]
        else:
            assert doc["allowed_extensions"] == [FIREFOX_EXTENSION_ID]
        assert oct(path.stat().st_mode & 0o777) == "0o644"
        assert str(path) in out

    assert os.access(launcher, os.X_OK)
    text = launcher.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert f"export CLOAKER_HOME={sandbox.cloaker_home}" in text
    assert "cloaker-native-host" in text.splitlines()[-1]
    assert subprocess.run(["sh", "-n", str(launcher)], check=False).returncode == 0

    desktop = sandbox.config / "autostart" / "cloaker-daemon.desktop"
    daemon = sandbox.data / "bin" / "cloaker-daemon"
    assert f"Exec={daemon}\n" in desktop.read_text()
    assert os.access(daemon, os.X_OK)
    assert "-m cloaker daemon" in daemon.read_text()

    receipt = json.loads((sandbox.data / "install-receipt.json").read_text())
    recorded = {r["target"] for r in receipt["records"] if r["kind"] == "file"}
    assert recorded == {str(sandbox.home / f / HOST) for f in USER_DIRS.values()} | {
        str(launcher),
        str(daemon),
        str(desktop),
    }
    assert "Next: load the Cloaker extension" in out


def test_reinstall_is_idempotent(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, *INSTALL_ALL)[0] == 0
    tree = sandbox.tree()
    mtimes = _mtimes(tree)
    code, out, _ = run_cli(capsys, *INSTALL_ALL)
    assert code == 0
    assert sandbox.tree() == tree
    assert _mtimes(tree) == mtimes  # nothing rewritten, the receipt included
    assert "created" not in out and "updated" not in out
    assert f"{len(USER_DIRS) + 3} unchanged" in out


def test_uninstall_leaves_nothing_behind(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sandbox.tree()
    assert run_cli(capsys, *INSTALL_ALL)[0] == 0
    assert sandbox.tree() != before
    code, out, _ = run_cli(capsys, "uninstall")
    assert code == 0
    assert sandbox.tree() == before
    assert "kept" not in out
    code, out, _ = run_cli(capsys, "uninstall")
    assert code == 0 and "Nothing to uninstall" in out


def test_uninstall_one_browser_keeps_the_others(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sandbox.tree()
    assert run_cli(capsys, "install", "--browser", "chromium,firefox", "--no-models")[0] == 0
    assert run_cli(capsys, "uninstall", "--browser", "firefox")[0] == 0
    assert not (sandbox.home / ".mozilla").exists()
    assert (sandbox.home / USER_DIRS["chromium"] / HOST).is_file()
    assert (sandbox.data / "bin" / "cloaker-native-host").is_file()  # chromium still uses it
    assert run_cli(capsys, "uninstall", "--browser", "chromium")[0] == 0
    # The autostart entry is not a browser's: it stays until a full uninstall.
    assert (sandbox.config / "autostart" / "cloaker-daemon.desktop").is_file()
    assert run_cli(capsys, "uninstall")[0] == 0
    assert sandbox.tree() == before


def test_uninstall_removes_only_what_install_wrote(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    hosts = sandbox.home / USER_DIRS["firefox"]
    hosts.mkdir(parents=True)
    other = hosts / "org.example.other.json"
    other.write_text("{}")
    assert run_cli(capsys, "install", "--browser", "firefox,chromium", "--no-models")[0] == 0
    changed = sandbox.home / USER_DIRS["chromium"] / HOST
    changed.write_text('{"edited": "by the user"}')
    code, out, _ = run_cli(capsys, "uninstall")
    assert code == 0
    assert other.read_text() == "{}"  # someone else's manifest, in a folder we did not make
    assert not (hosts / HOST).exists()
    assert changed.read_text() == '{"edited": "by the user"}'
    assert _verb(out, changed) == "kept" and "changed since install" in out
    assert not (sandbox.data / "install-receipt.json").exists()


def test_dry_run_writes_nothing_and_shows_every_file(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sandbox.tree()
    code, out, _ = run_cli(capsys, *INSTALL_ALL, "--dry-run")
    assert code == 0
    assert sandbox.tree() == before
    for folder in USER_DIRS.values():
        assert f"--- {sandbox.home / folder / HOST} (mode 0644" in out
        assert f"would create  {sandbox.home / folder / HOST}" in out
    assert f'"path": "{sandbox.data / "bin" / "cloaker-native-host"}"' in out
    assert "Exec=" in out and "nothing was written" in out


def test_no_autostart_removes_an_earlier_entry(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "install", "--browser", "chromium", "--no-models")[0] == 0
    desktop = sandbox.config / "autostart" / "cloaker-daemon.desktop"
    assert desktop.is_file()
    code, out, _ = run_cli(
        capsys, "install", "--browser", "chromium", "--no-models", "--no-autostart"
    )
    assert code == 0
    assert _verb(out, desktop) == "removed"
    assert not desktop.exists() and not (sandbox.data / "bin" / "cloaker-daemon").exists()
    assert (sandbox.home / USER_DIRS["chromium"] / HOST).is_file()


def test_extension_ids_override_the_defaults(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "abcdefghijklmnopabcdefghijklmnop"
    argv = ("--browser", "chromium,firefox", "--no-models", "--no-autostart")
    code, _, _ = run_cli(
        capsys, "install", *argv, "--extension-id", other, "--extension-id", "t@x.org"
    )
    assert code == 0
    chromium = json.loads((sandbox.home / USER_DIRS["chromium"] / HOST).read_text())
    firefox = json.loads((sandbox.home / USER_DIRS["firefox"] / HOST).read_text())
    assert chromium["allowed_origins"] == [f"chrome-extension://{other}/"]
    assert firefox["allowed_extensions"] == ["t@x.org"]
    code, _, err = run_cli(capsys, "install", *argv, "--extension-id", "nope")
    assert code == 2 and "neither a Chrome ID" in err


def test_test_profile_registration(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    """The command the browser end-to-end tests use."""
    udd, ffhome = sandbox.base / "chromium-profile", sandbox.base / "firefox-home"
    before = sandbox.tree()
    code, _, err = run_cli(
        capsys,
        "install",
        "--browser",
        "chromium,firefox",
        "--chromium-user-data-dir",
        str(udd),
        "--firefox-home",
        str(ffhome),
        "--no-autostart",
        "--no-models",
    )
    assert code == 0, err
    assert (udd / "NativeMessagingHosts" / HOST).is_file()
    assert (ffhome / ".mozilla" / "native-messaging-hosts" / HOST).is_file()
    assert not (sandbox.home / USER_DIRS["chromium"]).exists()
    assert run_cli(capsys, "uninstall")[0] == 0
    assert sandbox.tree() == before


def test_model_weights_fetched_by_install_are_recorded(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    models = sandbox.base / "models"
    monkeypatch.setenv("CLOAKER_MODELS_DIR", str(models))
    fetched: list[list[str]] = []

    def fake_fetch(names, dest=None, force=False, progress=None):  # the manager's signature
        fetched.append(list(names))
        models.mkdir(exist_ok=True)
        (models / "weights.bin").write_bytes(b"w")
        (models / ".weights.bin.verified").write_text("{}")
        return []

    monkeypatch.setattr(models_step.manager, "fetch", fake_fetch)
    before = sandbox.tree()
    assert run_cli(capsys, "install", "--browser", "chromium", "--no-autostart")[0] == 0
    assert fetched == [models_step.runtime_models()]
    (models / ".weights.bin.verified").write_text('{"changed": "by a later check"}')
    assert run_cli(capsys, "uninstall", "--keep-models")[0] == 0
    assert (models / "weights.bin").is_file()
    assert run_cli(capsys, "uninstall")[0] == 0
    assert sandbox.tree() == before  # the folder the fetch made is gone too

    models.mkdir()
    (models / "old.bin").write_bytes(b"already here")
    before = sandbox.tree()
    assert run_cli(capsys, "install", "--browser", "chromium", "--no-autostart")[0] == 0
    assert run_cli(capsys, "uninstall")[0] == 0
    assert sandbox.tree() == before  # old.bin and its folder stay: install did not make them


def test_models_already_present_are_not_fetched_again(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], models_dir: Path
) -> None:
    code, out, _ = run_cli(capsys, "install", "--browser", "chromium", "--no-autostart")
    assert code == 0
    for name in models_step.runtime_models():
        assert f"model {name}: present" in out
    receipt = (sandbox.data / "install-receipt.json").read_text()
    assert str(models_dir) not in receipt


def test_system_install_under_a_root(sandbox: Sandbox) -> None:
    """System scope writes /etc and /usr paths; here they are moved under a scratch root."""
    root = sandbox.base / "root"
    root.mkdir()
    ctx = make_context("linux", "system", host_command="/x/cloaker-native-host", root=str(root))
    plan = build_plan(ctx, Options(browsers=tuple(USER_DIRS)))
    installer = Installer(ctx, RealFileSystem(), MemoryRegistry())
    installer.install(plan)
    installer.save()
    for folder in (
        "etc/opt/chrome/native-messaging-hosts",
        "etc/chromium/native-messaging-hosts",
        "etc/opt/edge/native-messaging-hosts",
        "etc/opt/brave/native-messaging-hosts",
        "etc/brave/native-messaging-hosts",
        "etc/opt/vivaldi/native-messaging-hosts",
        "etc/opera/native-messaging-hosts",
        "usr/lib/mozilla/native-messaging-hosts",
    ):
        doc = json.loads((root / folder / HOST).read_text())
        assert doc["path"] == str(root / "usr/local/lib/cloaker/bin/cloaker-native-host")
    assert any("LibreWolf" in note for note in plan.notes)
    launcher = (root / "usr/local/lib/cloaker/bin/cloaker-native-host").read_text()
    assert f"CLOAKER_MODELS_DIR={root}/usr/local/lib/cloaker/models" in launcher
    assert "CLOAKER_HOME" not in launcher
    assert (root / "etc/xdg/autostart/cloaker-daemon.desktop").is_file()
    remover = Installer(ctx, RealFileSystem(), MemoryRegistry())
    remover.remove_owners(None)
    assert list(root.iterdir()) == []


def test_usage_errors(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = sandbox.base / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    code, _, err = run_cli(capsys, "install", "--no-models")
    assert code == 2 and "no supported browser found" in err
    code, _, err = run_cli(capsys, "install", "--browser", "netscape", "--no-models")
    assert code == 2 and "unknown browser" in err
    code, _, err = run_cli(capsys, "install", "--browser", "chrome", "--platform", "windows")
    assert code == 2 and "--dry-run" in err
    # Checked on the function, not through the CLI: these tests run as root here, and a
    # real system install must never happen in a test.
    ctx = make_context("linux", "system", host_command="/x/cloaker-native-host")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "root" in (_needs_admin(ctx, dry_run=False) or "")
    assert _needs_admin(ctx, dry_run=True) is None


class _RefusingFileSystem(MemoryFileSystem):
    """A disk that refuses one path, as a read-only folder would."""

    def __init__(self, refuse: Path, dirs: list[Path]) -> None:
        super().__init__(dirs)
        self.refuse = refuse

    def write(self, path: PurePath, content: bytes, executable: bool) -> None:
        if path == self.refuse:
            raise PermissionError(f"read-only: {path}")
        super().write(path, content, executable)

    def remove(self, path: PurePath) -> None:
        if path == self.refuse:
            raise PermissionError(f"read-only: {path}")
        super().remove(path)


def test_a_failed_write_still_records_what_was_written(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    firefox = sandbox.home / USER_DIRS["firefox"] / HOST
    fs = _RefusingFileSystem(firefox, [sandbox.config, sandbox.cloaker_home])
    args = build_parser().parse_args(["install", "--browser", "chromium,firefox", "--no-models"])
    assert run_install(args, fs, MemoryRegistry()) == 1
    _, err = capsys.readouterr()
    assert "read-only" in err
    receipt = json.loads(fs.read(sandbox.data / "install-receipt.json") or b"")
    recorded = {r["target"] for r in receipt["records"]}
    assert str(sandbox.home / USER_DIRS["chromium"] / HOST) in recorded
    assert str(firefox) not in recorded

    # Uninstall removes what was recorded; a removal that fails stays on record.
    chromium = sandbox.home / USER_DIRS["chromium"] / HOST
    fs.refuse = chromium
    args = build_parser().parse_args(["uninstall"])
    assert run_uninstall(args, fs, MemoryRegistry()) == 1
    receipt = json.loads(fs.read(sandbox.data / "install-receipt.json") or b"")
    assert [r["target"] for r in receipt["records"] if r["kind"] == "file"] == [str(chromium)]
    fs.refuse = firefox
    assert run_uninstall(args, fs, MemoryRegistry()) == 0
    assert fs.files == {}
    assert fs.dirs == MemoryFileSystem([sandbox.config, sandbox.cloaker_home]).dirs
