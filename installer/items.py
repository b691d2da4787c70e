"""What an install writes, as plain values: files and registry values.

``owners`` says why an item exists: browser names for manifests and the host launcher,
``autostart`` for the login entry, ``models`` for fetched weights. Uninstalling a browser
removes its name from every item; an item with no owner left is removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

Hive = Literal["HKCU", "HKLM"]

AUTOSTART = "autostart"
MODELS = "models"
RECEIPT = "receipt"


@dataclass(frozen=True)
class FileItem:
    """A file with exact contents; ``executable`` sets mode 0755 (else 0644)."""

    path: PurePath
    content: bytes
    owners: frozenset[str]
    what: str
    executable: bool = False


@dataclass(frozen=True)
class RegistryItem:
    """A REG_SZ value (``name`` "" is the key's default value)."""

    hive: Hive
    key: str
    name: str
    data: str
    owners: frozenset[str]
    what: str

    @property
    def display(self) -> str:
        return f"{self.hive}\\{self.key} [{self.name or '(Default)'}]"
