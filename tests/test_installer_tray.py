"""``cloaker install`` on Linux says whether the tray will have its menu, what is missing and
the one command that adds it."""

from __future__ import annotations

import pytest
from installer_env import Sandbox, run_cli, sandbox_fixture  # noqa: F401

from installer import tray_step
from native_host.tray_backend import TrayProbe

INSTALL = ("install", "--browser", "chromium", "--no-models", "--no-autostart")


def test_full_menu_is_one_line() -> None:
    found = TrayProbe("appindicator", True, (), None, "/usr/lib/python3/dist-packages")
    assert tray_step.tray_lines(found) == [found.summary()]


def test_missing_packages_come_with_the_command_and_the_restart() -> None:
    command = "sudo apt install python3-gi gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1"
    found = TrayProbe("xorg", False, ("PyGObject (python3-gi)",), command, "not found")
    assert tray_step.tray_lines(found) == [
        "tray: icon only, a click toggles protection; missing: PyGObject (python3-gi)",
        f"  add it with: {command}",
        "  then log out and back in, so the daemon starts again with its menu",
    ]


def test_gnome_extension_and_unknown_distribution() -> None:
    found = TrayProbe("appindicator", True, ("GNOME Shell's AppIndicator extension",), None, "x")
    lines = tray_step.tray_lines(found)
    assert lines[1] == "  install those with your distribution's package manager"
    assert lines[2] == tray_step.GNOME_STEP


def test_install_reports_the_tray_of_this_machine(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = tray_step.check("linux")
    assert expected and expected[0].startswith("tray: ")
    code, out, err = run_cli(capsys, *INSTALL)
    assert code == 0, err
    assert "\n".join(expected) in out
    code, out, err = run_cli(capsys, *INSTALL, "--dry-run")
    assert code == 0, err
    assert "\n".join(expected) in out


def test_no_tray_lines_for_other_systems(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tray_step.check("windows") == tray_step.check("macos") == []
    code, out, err = run_cli(capsys, *INSTALL, "--platform", "windows", "--dry-run")
    assert code == 0, err
    assert "tray:" not in out
