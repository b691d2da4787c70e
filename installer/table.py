"""Where each browser looks for native-messaging host manifests, per OS and scope.

One row per browser, data only; ``locate`` turns a row into concrete places for a context.
Path templates: ``~/`` is the home folder, ``$XDG_CONFIG_HOME/`` falls back to ``~/.config``
(Chromium browsers on Linux follow it), ``%NAME%\\`` is a Windows known folder, and anything
else is an absolute system path. On Linux and macOS the manifest file goes into the
folder(s) listed; on Windows the manifest lives in Cloaker's own data folder and a registry
key (HKCU for a user install, HKLM for a system one) under ``windows_key`` names it.

Sources: the browsers' developer documentation (Chrome, Edge, MDN for Firefox, Opera's
extension docs), Chromium's and Firefox's own lookup code (the strings in Debian's chromium
and firefox-esr binaries), and the installers of browserpass and KeePassXC. Seen working on
this project's test machine: Chromium with ``<user-data-dir>/NativeMessagingHosts`` and
Firefox with ``$HOME/.mozilla/native-messaging-hosts``. The rest is documented, not tested
here; rows where sources disagree list every documented folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

from installer.context import Context
from installer.ids import HOST_NAME

Family = Literal["chromium", "firefox"]

CHROME_KEY = r"Software\Google\Chrome\NativeMessagingHosts"
MOZILLA_KEY = r"Software\Mozilla\NativeMessagingHosts"


@dataclass(frozen=True)
class Browser:
    """One browser's manifest locations and the signs that it is installed."""

    name: str
    label: str
    family: Family
    linux_user: str
    linux_system: tuple[str, ...]
    macos_user: str
    macos_system: tuple[str, ...]
    windows_key: str
    # Detection only: commands on PATH (Linux), app bundles (macOS), profile folders
    # (Windows). The parent of the per-user manifest folder (the profile root) counts too.
    linux_commands: tuple[str, ...]
    macos_apps: tuple[str, ...]
    windows_profile: str


BROWSERS: tuple[Browser, ...] = (
    Browser(
        name="chrome",
        label="Google Chrome",
        family="chromium",
        linux_user="$XDG_CONFIG_HOME/google-chrome/NativeMessagingHosts",
        linux_system=("/etc/opt/chrome/native-messaging-hosts",),
        macos_user="~/Library/Application Support/Google/Chrome/NativeMessagingHosts",
        macos_system=("/Library/Google/Chrome/NativeMessagingHosts",),
        windows_key=CHROME_KEY,
        linux_commands=("google-chrome", "google-chrome-stable"),
        macos_apps=("Google Chrome.app",),
        windows_profile=r"%LOCALAPPDATA%\Google\Chrome\User Data",
    ),
    Browser(
        name="chromium",
        label="Chromium",
        family="chromium",
        linux_user="$XDG_CONFIG_HOME/chromium/NativeMessagingHosts",
        linux_system=("/etc/chromium/native-messaging-hosts",),
        macos_user="~/Library/Application Support/Chromium/NativeMessagingHosts",
        macos_system=("/Library/Application Support/Chromium/NativeMessagingHosts",),
        windows_key=r"Software\Chromium\NativeMessagingHosts",
        linux_commands=("chromium", "chromium-browser"),
        macos_apps=("Chromium.app",),
        windows_profile=r"%LOCALAPPDATA%\Chromium\User Data",
    ),
    Browser(
        name="edge",
        label="Microsoft Edge",
        family="chromium",
        linux_user="$XDG_CONFIG_HOME/microsoft-edge/NativeMessagingHosts",
        linux_system=("/etc/opt/edge/native-messaging-hosts",),
        macos_user="~/Library/Application Support/Microsoft Edge/NativeMessagingHosts",
        macos_system=("/Library/Microsoft/Edge/NativeMessagingHosts",),
        windows_key=r"Software\Microsoft\Edge\NativeMessagingHosts",
        linux_commands=("microsoft-edge", "microsoft-edge-stable"),
        macos_apps=("Microsoft Edge.app",),
        windows_profile=r"%LOCALAPPDATA%\Microsoft\Edge\User Data",
    ),
    Browser(
        name="brave",
        label="Brave",
        family="chromium",
        linux_user="$XDG_CONFIG_HOME/BraveSoftware/Brave-Browser/NativeMessagingHosts",
        # Packagers use both spellings; Brave's own docs name neither.
        linux_system=(
            "/etc/opt/brave/native-messaging-hosts",
            "/etc/brave/native-messaging-hosts",
        ),
        macos_user="~/Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts",
        macos_system=(
            "/Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts",
        ),
        windows_key=CHROME_KEY,  # Brave on Windows reads Chrome's key
        linux_commands=("brave-browser", "brave", "brave-browser-stable"),
        macos_apps=("Brave Browser.app",),
        windows_profile=r"%LOCALAPPDATA%\BraveSoftware\Brave-Browser\User Data",
    ),
    Browser(
        name="vivaldi",
        label="Vivaldi",
        family="chromium",
        linux_user="$XDG_CONFIG_HOME/vivaldi/NativeMessagingHosts",
        linux_system=(
            "/etc/opt/vivaldi/native-messaging-hosts",
            "/etc/vivaldi/native-messaging-hosts",
        ),
        macos_user="~/Library/Application Support/Vivaldi/NativeMessagingHosts",
        macos_system=("/Library/Application Support/Vivaldi/NativeMessagingHosts",),
        windows_key=CHROME_KEY,  # Vivaldi on Windows reads Chrome's key
        linux_commands=("vivaldi", "vivaldi-stable"),
        macos_apps=("Vivaldi.app",),
        windows_profile=r"%LOCALAPPDATA%\Vivaldi\User Data",
    ),
    Browser(
        name="opera",
        label="Opera",
        family="chromium",
        linux_user="$XDG_CONFIG_HOME/opera/NativeMessagingHosts",
        linux_system=("/etc/opera/native-messaging-hosts",),
        macos_user="~/Library/Application Support/com.operasoftware.Opera/NativeMessagingHosts",
        macos_system=("/Library/Google/Chrome/NativeMessagingHosts",),  # Opera's docs
        windows_key=CHROME_KEY,  # Opera's docs: Chrome's key
        linux_commands=("opera", "opera-stable"),
        macos_apps=("Opera.app",),
        windows_profile=r"%APPDATA%\Opera Software\Opera Stable",
    ),
    Browser(
        name="firefox",
        label="Firefox",
        family="firefox",
        linux_user="~/.mozilla/native-messaging-hosts",
        linux_system=("/usr/lib/mozilla/native-messaging-hosts",),
        macos_user="~/Library/Application Support/Mozilla/NativeMessagingHosts",
        macos_system=("/Library/Application Support/Mozilla/NativeMessagingHosts",),
        windows_key=MOZILLA_KEY,
        linux_commands=("firefox", "firefox-esr"),
        macos_apps=("Firefox.app",),
        windows_profile=r"%APPDATA%\Mozilla\Firefox",
    ),
    Browser(
        name="librewolf",
        label="LibreWolf",
        family="firefox",
        linux_user="~/.librewolf/native-messaging-hosts",
        linux_system=(),  # no documented system folder
        macos_user="~/Library/Application Support/LibreWolf/NativeMessagingHosts",
        macos_system=("/Library/Application Support/LibreWolf/NativeMessagingHosts",),
        windows_key=MOZILLA_KEY,  # LibreWolf on Windows reads Mozilla's key
        linux_commands=("librewolf",),
        macos_apps=("LibreWolf.app",),
        windows_profile=r"%APPDATA%\librewolf",
    ),
)

BY_NAME: dict[str, Browser] = {b.name: b for b in BROWSERS}


class LocationError(Exception):
    """A browser has no manifest location for the requested OS, scope or override."""


@dataclass(frozen=True)
class RegistryKey:
    """A Windows registry key whose default value names the manifest file."""

    hive: Literal["HKCU", "HKLM"]
    key: str


@dataclass(frozen=True)
class Location:
    """Where one browser's manifest goes: a file, plus a registry key on Windows."""

    browser: Browser
    manifest: PurePath
    registry: RegistryKey | None = None


def locate(
    browser: Browser,
    ctx: Context,
    *,
    chromium_user_data_dir: PurePath | None = None,
    firefox_home: PurePath | None = None,
) -> list[Location]:
    """Every manifest location of ``browser`` for ``ctx``.

    ``chromium_user_data_dir`` sends a Chromium-family manifest to
    ``<dir>/NativeMessagingHosts`` (a browser started with ``--user-data-dir`` reads only
    that folder); ``firefox_home`` stands in for HOME in a Firefox-family per-user path.
    Both are per-user, Linux and macOS only.
    """
    filename = f"{HOST_NAME}.json"
    override = chromium_user_data_dir if browser.family == "chromium" else firefox_home
    if override is not None:
        if ctx.scope != "user" or ctx.platform == "windows":
            raise LocationError(
                "--chromium-user-data-dir and --firefox-home are for per-user installs on "
                "Linux and macOS (Windows browsers read the registry only)"
            )
        if browser.family == "chromium":
            return [Location(browser, ctx.path(override, "NativeMessagingHosts", filename))]
        template = browser.linux_user if ctx.platform == "linux" else browser.macos_user
        return [Location(browser, ctx.path(override, template.removeprefix("~/"), filename))]

    if ctx.platform == "windows":
        hive: Literal["HKCU", "HKLM"] = "HKCU" if ctx.scope == "user" else "HKLM"
        manifest = ctx.data_dir() / "manifests" / browser.family / filename
        key = RegistryKey(hive, f"{browser.windows_key}\\{HOST_NAME}")
        return [Location(browser, manifest, key)]

    if ctx.scope == "user":
        template = browser.linux_user if ctx.platform == "linux" else browser.macos_user
        return [Location(browser, ctx.expand(template) / filename)]
    folders = browser.linux_system if ctx.platform == "linux" else browser.macos_system
    if not folders:
        raise LocationError(f"{browser.label} has no system-wide manifest folder on {ctx.platform}")
    return [Location(browser, ctx.expand(folder) / filename) for folder in folders]


def profile_root(browser: Browser, ctx: Context) -> PurePath:
    """The folder whose presence shows the browser has been used by this user."""
    if ctx.platform == "windows":
        return ctx.expand(browser.windows_profile)
    template = browser.linux_user if ctx.platform == "linux" else browser.macos_user
    return ctx.expand(template).parent
