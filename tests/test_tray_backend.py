"""Which tray the daemon shows on Linux and what ``cloaker install`` says is missing: the
probe over every combination of what a machine can lack, the distribution's PyGObject loaded
into this venv, and the daemon's own start where no tray can be shown."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import pytest
from daemon_util import ROOT, Client, daemon_env, wait_for

from native_host.discovery import Discovery
from native_host.system_gi import GiFound, find_system_gi, system_site_dirs
from native_host.tray_backend import (
    PYGOBJECT_PIP,
    TrayProbe,
    os_family,
    probe,
    runtime_backend,
    session_bus_address,
)

DEBIAN_ALL = "sudo apt install python3-gi gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1"


class FakeGi(ModuleType):
    """A stand-in for ``gi`` that knows a fixed set of introspection namespaces (the real
    one answers from the typelibs installed on this machine, which a test cannot vary)."""

    def __init__(self, namespaces: set[str]) -> None:
        super().__init__("gi")
        self.namespaces = namespaces

    def require_version(self, namespace: str, version: str) -> None:
        if namespace not in self.namespaces:
            raise ValueError(f"Namespace {namespace} not available")


def gi_with(*namespaces: str) -> GiFound:
    return GiFound(FakeGi(set(namespaces)), "test")


NO_GI = GiFound(None, "not found")


@pytest.mark.parametrize(
    ("text", "family"),
    [
        ('ID=debian\nVERSION_ID="12"\n', "debian"),
        ("ID=ubuntu\nID_LIKE=debian\n", "debian"),
        ('ID=linuxmint\nID_LIKE="ubuntu debian"\n', "debian"),
        ('ID="fedora"\n', "fedora"),
        ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "fedora"),
        ("ID=manjaro\nID_LIKE=arch\n", "arch"),
        ("ID=gentoo\n", None),
    ],
)
def test_os_family(tmp_path: Path, text: str, family: str | None) -> None:
    path = tmp_path / "os-release"
    path.write_text(text)
    assert os_family(path) == family


def test_os_family_without_os_release(tmp_path: Path) -> None:
    assert os_family(tmp_path / "missing") is None


def test_everything_there_gives_the_full_menu() -> None:
    found = probe({}, gi_with("Gtk", "AyatanaAppIndicator3"), "debian", True, [])
    assert found == TrayProbe("appindicator", True, (), None, "test")
    assert found.summary().startswith("tray: full menu")


def test_nothing_there_on_debian_names_the_packages_and_one_command() -> None:
    found = probe({}, NO_GI, "debian", True, [])
    assert found.backend == "xorg" and not found.menu
    assert found.missing == (
        "PyGObject (python3-gi)",
        "Gtk 3 introspection data (gir1.2-gtk-3.0)",
        "AppIndicator introspection data (gir1.2-ayatanaappindicator3-0.1)",
    )
    assert found.command == DEBIAN_ALL
    assert "icon only, a click toggles protection" in found.summary()


def test_only_the_indicator_missing_keeps_the_menu_on_an_xembed_icon() -> None:
    found = probe({}, gi_with("Gtk"), "debian", True, [])
    assert (found.backend, found.menu) == ("gtk", True)
    assert found.command == "sudo apt install gir1.2-ayatanaappindicator3-0.1"


def test_the_older_appindicator_library_counts_too() -> None:
    found = probe({}, gi_with("Gtk", "AppIndicator3"), "debian", True, [])
    assert (found.backend, found.missing) == ("appindicator", ())


def test_a_venv_on_another_python_than_the_system_compiles_pygobject() -> None:
    found = probe({}, NO_GI, "debian", False, [])
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert found.missing[0].startswith(f"PyGObject for Python {version} (gcc pkg-config")
    assert found.command is not None
    apt, pip = found.command.split(" && ")
    assert apt.startswith("sudo apt install gcc pkg-config python3-dev libgirepository1.0-dev")
    assert apt.endswith("gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1")
    assert pip == f"{sys.executable} -m pip install '{PYGOBJECT_PIP}'"


def test_a_system_gi_built_for_another_python_means_compiling_pygobject(tmp_path: Path) -> None:
    foreign = GiFound(None, "not found", tmp_path)
    found = probe({}, foreign, "debian", True, [])
    assert found.command is not None and found.command.endswith(f"install '{PYGOBJECT_PIP}'")


@pytest.mark.parametrize(
    ("family", "command"),
    [
        ("fedora", "sudo dnf install python3-gobject gtk3 libayatana-appindicator-gtk3"),
        ("arch", "sudo pacman -S --needed python-gobject gtk3 libayatana-appindicator"),
        ("other", None),  # a family Cloaker does not know: the parts are named, no command
    ],
)
def test_other_distributions(family: str, command: str | None) -> None:
    found = probe({}, NO_GI, family, True, [])
    assert found.command == command
    assert found.missing[0].startswith("PyGObject")


def test_gnome_without_the_appindicator_extension(tmp_path: Path) -> None:
    env = {"XDG_CURRENT_DESKTOP": "ubuntu:GNOME"}
    everything = gi_with("Gtk", "AyatanaAppIndicator3")
    found = probe(env, everything, "debian", True, [tmp_path])
    assert found.missing == (
        "GNOME Shell's AppIndicator extension (gnome-shell-extension-appindicator)",
    )
    assert found.command == "sudo apt install gnome-shell-extension-appindicator"
    (tmp_path / "appindicatorsupport@rgcjonas.gmail.com").mkdir()
    assert probe(env, everything, "debian", True, [tmp_path]).missing == ()
    assert probe({"XDG_CURRENT_DESKTOP": "KDE"}, everything, "debian", True, []).missing == ()


def test_runtime_backend_without_a_session_bus_or_without_x() -> None:
    full = TrayProbe("appindicator", True, (), None, "test")
    # No session bus, so no StatusNotifier host: an XEmbed icon (with tooltip and menu).
    assert runtime_backend(full, {"DISPLAY": ":5"}) == "gtk"
    # Wayland without X: StatusNotifier is the only tray there is.
    assert runtime_backend(full, {"WAYLAND_DISPLAY": "wayland-0"}) == "appindicator"
    xorg = TrayProbe("xorg", False, ("PyGObject",), None, "test")
    assert runtime_backend(xorg, {"DISPLAY": ":5"}) == "xorg"


def test_session_bus_address(tmp_path: Path) -> None:
    assert session_bus_address({"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}) == "unix:path=/x"
    assert session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)}) is None  # no socket there
    assert session_bus_address({}) is None


def test_a_system_gi_for_another_python_is_reported_not_loaded(tmp_path: Path) -> None:
    gi = tmp_path / "gi"
    gi.mkdir()
    (gi / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    (gi / "_gi.cpython-30-x86_64-linux-gnu.so").write_bytes(b"")
    found = find_system_gi([tmp_path])
    assert found.module is None and found.foreign == tmp_path


def test_a_broken_system_gi_is_reported_not_raised(tmp_path: Path) -> None:
    gi = tmp_path / "gi"
    gi.mkdir()
    (gi / "__init__.py").write_text("from . import _gi\n")
    (gi / f"_gi{sysconfig.get_config_var('EXT_SUFFIX')}").write_bytes(b"not a shared library")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from native_host.system_gi import find_system_gi\n"
        f"found = find_system_gi([Path({str(tmp_path)!r})])\n"
        "print(found.module, found.foreign, 'gi' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", str(tmp_path), "False"]
    assert "does not import here" in out.stderr


def test_distribution_gi_loads_into_this_venv_without_its_folder_on_sys_path() -> None:
    if not any((d / "gi").is_dir() for d in system_site_dirs()):
        pytest.skip("no distribution PyGObject here (apt install python3-gi)")
    script = (
        "import sys\n"
        "from native_host.system_gi import find_gi\n"
        "found = find_gi()\n"
        "assert found.module is not None, found\n"
        "from gi.repository import GLib\n"
        "print(found.source)\n"
        "print(GLib.MAJOR_VERSION)\n"
        "print(any(p == found.source for p in sys.path))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    if out.returncode != 0 and "AssertionError" in out.stderr:
        pytest.skip(f"the distribution's PyGObject is for another Python: {out.stderr[-200:]}")
    assert out.returncode == 0, out.stderr
    source, glib_major, on_path = out.stdout.split()
    assert Path(source) in system_site_dirs() and glib_major == "2" and on_path == "False"


# --- the daemon where no tray can be shown ---------------------------------------------------


@pytest.mark.parametrize(
    ("display", "reason"),
    [
        (None, "no tray icon (no display (DISPLAY and WAYLAND_DISPLAY are unset))"),
        # No X server there: GTK cannot open it.
        (":4242", "no tray icon (the gtk tray backend did not start on display :4242: Import"),
    ],
    ids=["no-display", "display-unreachable"],
)
def test_daemon_without_a_tray_says_why_and_serves(
    _isolated_home: Path, display: str | None, reason: str
) -> None:
    env = daemon_env(_isolated_home)
    if display is not None:
        env["DISPLAY"] = display
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloaker", "daemon"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    path = _isolated_home / "runtime" / "daemon.json"
    try:
        found = wait_for(lambda: Discovery.read(path) if path.exists() else None, 60, "serving")
        with Client.open(found) as client:
            assert client.request("settings.get")["data"]["protection"] is True
        log = (_isolated_home / "log" / "daemon.log").read_text("utf-8")
        assert reason in log and "running without one" in log
        proc.terminate()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
