"""The Windows registry, behind a small interface the tests replace.

Only what the installer needs: keys under HKCU/HKLM and REG_SZ values. ``WinRegistry``
uses ``winreg`` (imported only on Windows); ``MemoryRegistry`` keeps keys in a dict with
Windows' case-insensitive key and value names.
"""

from __future__ import annotations

from typing import Protocol

from installer.items import Hive


class Registry(Protocol):
    """The registry operations the installer uses. Keys are backslash paths under a hive."""

    def key_exists(self, hive: Hive, key: str) -> bool:
        """True when the key exists."""

    def create_key(self, hive: Hive, key: str) -> None:
        """Create the key (its parent exists)."""

    def get_value(self, hive: Hive, key: str, name: str) -> str | None:
        """A string value ("" = the default value), or None when absent."""

    def set_value(self, hive: Hive, key: str, name: str, data: str) -> None:
        """Write a REG_SZ value into an existing key."""

    def delete_value(self, hive: Hive, key: str, name: str) -> None:
        """Remove a value."""

    def delete_key(self, hive: Hive, key: str) -> bool:
        """Remove a key with no subkeys and no values; False (nothing done) otherwise."""


def parent_keys(key: str) -> list[str]:
    """``A\\B\\C`` -> ``["A", "A\\B", "A\\B\\C"]``: the keys to create, outermost first."""
    parts = key.split("\\")
    return ["\\".join(parts[: i + 1]) for i in range(len(parts))]


class MemoryRegistry:
    """An in-memory registry for tests and for plans made on other OSes."""

    # Keys every Windows installation has.
    STANDARD_KEYS = (r"Software\Microsoft\Windows\CurrentVersion\Run",)

    def __init__(self) -> None:
        # (hive, casefolded key) -> {casefolded value name: (name, data)}
        self.keys: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
        hives: tuple[Hive, ...] = ("HKCU", "HKLM")
        for hive in hives:
            for key in self.STANDARD_KEYS:
                for part in parent_keys(key):
                    self.create_key(hive, part)

    def _slot(self, hive: Hive, key: str) -> tuple[str, str]:
        return hive, key.casefold()

    def key_exists(self, hive: Hive, key: str) -> bool:
        return self._slot(hive, key) in self.keys

    def create_key(self, hive: Hive, key: str) -> None:
        self.keys.setdefault(self._slot(hive, key), {})

    def get_value(self, hive: Hive, key: str, name: str) -> str | None:
        entry = self.keys.get(self._slot(hive, key), {}).get(name.casefold())
        return entry[1] if entry else None

    def set_value(self, hive: Hive, key: str, name: str, data: str) -> None:
        values = self.keys.get(self._slot(hive, key))
        if values is None:
            raise FileNotFoundError(f"{hive}\\{key}")
        values[name.casefold()] = (name, data)

    def delete_value(self, hive: Hive, key: str, name: str) -> None:
        values = self.keys.get(self._slot(hive, key))
        if values is None or name.casefold() not in values:
            raise FileNotFoundError(f"{hive}\\{key} [{name}]")
        del values[name.casefold()]

    def delete_key(self, hive: Hive, key: str) -> bool:
        slot = self._slot(hive, key)
        prefix = slot[1] + "\\"
        has_children = any(h == hive and k.startswith(prefix) for h, k in self.keys)
        if self.keys.get(slot) or has_children:
            return False
        self.keys.pop(slot, None)
        return True


class WinRegistry:
    """The real registry (Windows only), default 64-bit view."""

    def __init__(self) -> None:
        import winreg  # Windows only; imported here so the module loads everywhere

        self._winreg = winreg
        self._hives = {"HKCU": winreg.HKEY_CURRENT_USER, "HKLM": winreg.HKEY_LOCAL_MACHINE}

    def key_exists(self, hive: Hive, key: str) -> bool:
        try:
            self._winreg.OpenKey(self._hives[hive], key).Close()
        except FileNotFoundError:
            return False
        return True

    def create_key(self, hive: Hive, key: str) -> None:
        self._winreg.CreateKeyEx(self._hives[hive], key, 0, self._winreg.KEY_WRITE).Close()

    def get_value(self, hive: Hive, key: str, name: str) -> str | None:
        try:
            with self._winreg.OpenKey(self._hives[hive], key) as handle:
                data, kind = self._winreg.QueryValueEx(handle, name)
        except FileNotFoundError:
            return None
        return data if kind == self._winreg.REG_SZ else None

    def set_value(self, hive: Hive, key: str, name: str, data: str) -> None:
        with self._winreg.OpenKey(self._hives[hive], key, 0, self._winreg.KEY_SET_VALUE) as h:
            self._winreg.SetValueEx(h, name, 0, self._winreg.REG_SZ, data)

    def delete_value(self, hive: Hive, key: str, name: str) -> None:
        with self._winreg.OpenKey(self._hives[hive], key, 0, self._winreg.KEY_SET_VALUE) as h:
            self._winreg.DeleteValue(h, name)

    def delete_key(self, hive: Hive, key: str) -> bool:
        with self._winreg.OpenKey(self._hives[hive], key) as handle:
            subkeys, values, _ = self._winreg.QueryInfoKey(handle)
        if subkeys or values:
            return False
        self._winreg.DeleteKey(self._hives[hive], key)
        return True
