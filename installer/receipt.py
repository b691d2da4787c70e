"""The record of everything an install wrote, so uninstall removes exactly that.

One JSON file per scope in the scope's data folder. Each record is a file (with the sha256
of what we wrote, so a file changed since is left alone), a folder or registry key we
created (removed only when empty), or a registry value (with the data we wrote). Records
carry owners (see ``items``); installs merge into the receipt, uninstalls take owners away.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Literal

from installer.context import Context
from installer.fsys import FileSystem

FILENAME = "install-receipt.json"
VERSION = 1

Kind = Literal["file", "dir", "key", "value"]


class ReceiptError(Exception):
    """The receipt exists but cannot be read."""


@dataclass
class Record:
    """One thing we wrote. ``target`` is a path (file, dir) or ``HIVE\\key`` (key, value)."""

    kind: Kind
    target: str
    owners: set[str]
    what: str = ""
    sha256: str | None = None  # files: what we wrote; None = derived file, any content
    name: str | None = None  # values: the value name ("" = default)
    data: str | None = None  # values: the data we wrote

    @property
    def slot(self) -> tuple[str, str, str]:
        """Identity: kind, target and value name (registry names are case-insensitive)."""
        if self.kind in ("key", "value"):
            return self.kind, self.target.casefold(), (self.name or "").casefold()
        return self.kind, self.target, ""

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind, "target": self.target}
        doc["owners"] = sorted(self.owners)
        for key in ("what", "sha256", "name", "data"):
            value = getattr(self, key)
            if value is not None and value != "":
                doc[key] = value
        if self.kind == "value":
            doc["name"] = self.name or ""
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Record:
        return cls(
            kind=doc["kind"],
            target=doc["target"],
            owners=set(doc["owners"]),
            what=doc.get("what", ""),
            sha256=doc.get("sha256"),
            name=doc.get("name"),
            data=doc.get("data"),
        )


@dataclass
class Receipt:
    """All records for one platform and scope."""

    platform: str
    scope: str
    records: list[Record] = field(default_factory=list)

    def add(self, record: Record) -> None:
        """Add ``record``, or merge it into the record for the same thing (owners union,
        latest content)."""
        for existing in self.records:
            if existing.slot == record.slot:
                existing.owners |= record.owners
                existing.sha256 = record.sha256
                existing.data = record.data
                existing.what = record.what or existing.what
                return
        self.records.append(record)

    def owners(self) -> set[str]:
        """Every owner that still has something installed."""
        return set().union(*(r.owners for r in self.records)) if self.records else set()

    def to_bytes(self) -> bytes:
        doc = {
            "version": VERSION,
            "platform": self.platform,
            "scope": self.scope,
            "records": [r.to_json() for r in self.records],
        }
        return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def receipt_path(ctx: Context) -> PurePath:
    """Where the receipt for ``ctx``'s scope lives."""
    return ctx.data_dir() / FILENAME


def load(fs: FileSystem, path: PurePath, platform: str, scope: str) -> Receipt | None:
    """The receipt at ``path``, or None when there is none."""
    raw = fs.read(path)
    if raw is None:
        return None
    try:
        doc = json.loads(raw.decode("utf-8"))
        if doc.get("version") != VERSION:
            raise ReceiptError(f"receipt {path} has version {doc.get('version')!r}")
        records = [Record.from_json(r) for r in doc["records"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ReceiptError(f"receipt {path} is damaged ({exc}); nothing was changed") from exc
    return Receipt(doc.get("platform", platform), doc.get("scope", scope), records)
