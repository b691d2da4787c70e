"""Carry out a plan, or undo a receipt, through the file-system and registry interfaces.

Every step is reported as a ``Change`` (the summary printed at the end). Installing is
idempotent: an item already in place is reported ``unchanged`` and not rewritten. With
``dry_run`` nothing is written and the same report says what would happen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import cast

from installer.context import Context
from installer.fsys import FileSystem
from installer.items import RECEIPT, FileItem, Hive, RegistryItem
from installer.plan import Plan
from installer.receipt import Receipt, Record, load, receipt_path
from installer.registry import Registry, parent_keys

# Removal order: values and files first, then the keys and folders that held them.
_ORDER = {"value": 0, "file": 1, "key": 2, "dir": 3}


@dataclass(frozen=True)
class Change:
    """One line of the summary."""

    verb: str
    target: str
    detail: str = ""


class Installer:
    """Applies plans and removals for one context, keeping its receipt up to date."""

    def __init__(
        self, ctx: Context, fs: FileSystem, registry: Registry, *, dry_run: bool = False
    ) -> None:
        self.ctx = ctx
        self.fs = fs
        self.registry = registry
        self.dry_run = dry_run
        self.receipt_file = receipt_path(ctx)
        existing = load(fs, self.receipt_file, ctx.platform, ctx.scope)
        self.receipt = existing or Receipt(ctx.platform, ctx.scope)
        self.changes: list[Change] = []
        self._planned_dirs: set[PurePath] = set()  # folders a dry run would have made
        self._planned_keys: set[tuple[str, str]] = set()

    # ---- install -------------------------------------------------------------------

    def install(self, plan: Plan) -> None:
        """Write every item of ``plan`` that is not already in place."""
        for item in plan.files:
            self.write_file(item)
        for value in plan.registry:
            self.write_value(value)

    def write_file(self, item: FileItem) -> None:
        """Write one file (creating its folders), unless it already holds ``content``."""
        self._ensure_dir(item.path.parent, item.owners)
        current = self.fs.read(item.path)
        mode_ok = not item.executable or self.fs.is_executable(item.path)
        if current == item.content and mode_ok:
            verb = "unchanged"
        else:
            verb = "created" if current is None else "updated"
            if not self.dry_run:
                self.fs.write(item.path, item.content, item.executable)
        self._report(verb, str(item.path), item.what, item.owners)
        self.receipt.add(
            Record("file", str(item.path), set(item.owners), item.what, _sha(item.content))
        )

    def write_value(self, item: RegistryItem) -> None:
        """Write one registry value (creating its keys), unless it already holds ``data``."""
        for key in parent_keys(item.key):
            if self._key_exists(item.hive, key):
                continue
            if self.dry_run:
                self._planned_keys.add((item.hive, key.casefold()))
            else:
                self.registry.create_key(item.hive, key)
            self._report("created", f"{item.hive}\\{key}", "registry key", item.owners)
            self.receipt.add(Record("key", f"{item.hive}\\{key}", set(item.owners)))
        current = None
        if (item.hive, item.key.casefold()) not in self._planned_keys:
            current = self.registry.get_value(item.hive, item.key, item.name)
        if current == item.data:
            verb = "unchanged"
        else:
            verb = "created" if current is None else "updated"
            if not self.dry_run:
                self.registry.set_value(item.hive, item.key, item.name, item.data)
        self._report(verb, f"{item.display} = {item.data}", item.what, item.owners)
        target = f"{item.hive}\\{item.key}"
        self.receipt.add(
            Record("value", target, set(item.owners), item.what, name=item.name, data=item.data)
        )

    def record_dirs(self, paths: Iterable[PurePath], owners: set[str]) -> None:
        """Add folders created by someone else on our behalf (the models folder)."""
        for path in paths:
            self.receipt.add(Record("dir", str(path), set(owners)))

    def record_files(self, paths: Iterable[PurePath], owners: set[str], what: str) -> None:
        """Add files written by someone else on our behalf (fetched model weights).
        Hidden files (the model manager's verification stamps) are recorded without a
        hash: their content changes after install and they are ours either way."""
        for path in paths:
            sha = None if path.name.startswith(".") else self.fs.sha256(path)
            self.receipt.add(Record("file", str(path), set(owners), what, sha))

    def _ensure_dir(self, folder: PurePath, owners: frozenset[str]) -> None:
        missing: list[PurePath] = []
        probe = folder
        while not self._is_dir(probe):
            missing.append(probe)
            probe = probe.parent
        for path in reversed(missing):
            if self.dry_run:
                self._planned_dirs.add(path)
            else:
                self.fs.mkdir(path)
            self._report("created", str(path), "folder", owners)
            self.receipt.add(Record("dir", str(path), set(owners)))

    def _is_dir(self, path: PurePath) -> bool:
        return path in self._planned_dirs or self.fs.is_dir(path)

    def _key_exists(self, hive: Hive, key: str) -> bool:
        planned = (hive, key.casefold()) in self._planned_keys
        return planned or self.registry.key_exists(hive, key)

    # ---- uninstall -----------------------------------------------------------------

    def remove_owners(self, owners: set[str] | None) -> None:
        """Take ``owners`` (None: all) off every record; remove what is left with none.

        When nothing but the receipt's own folders would remain, everything goes, the
        receipt included. Folders and keys go only when empty; a file or value that changed
        since we wrote it is left in place and reported.
        """
        records = self.receipt.records
        for record in records:
            record.owners -= owners if owners is not None else set(record.owners)
        keep_receipt = any(r.owners - {RECEIPT} for r in records)
        if not keep_receipt:
            for record in records:
                record.owners.discard(RECEIPT)
        doomed = [r for r in records if not self._effective_owners(r, keep_receipt)]
        receipt_removed = keep_receipt
        for record in sorted(doomed, key=_removal_key):
            if record.kind in ("key", "dir") and not receipt_removed:
                self._remove_receipt()  # before the folders: it may live in one of them
                receipt_removed = True
            self._remove(record)
            # Dropped one at a time: if a removal fails, the rest stay on record.
            self.receipt.records.remove(record)
        if not receipt_removed:
            self._remove_receipt()

    def _effective_owners(self, record: Record, keep_receipt: bool) -> set[str]:
        """A folder or key is owned by everything still installed beneath it (and a folder
        holding a surviving receipt by the receipt)."""
        owners = set(record.owners)
        if record.kind not in ("dir", "key"):
            return owners
        prefix = record.target.rstrip("\\/")
        for other in self.receipt.records:
            if other is not record and _is_under(other.target, prefix, record.kind):
                owners |= other.owners
        holds_receipt = _is_under(str(self.receipt_file), prefix, "dir")
        if record.kind == "dir" and keep_receipt and holds_receipt:
            owners.add(RECEIPT)
        return owners

    def _remove(self, record: Record) -> None:
        would = "would remove" if self.dry_run else "removed"
        if record.kind == "file":
            path = self.ctx.path(record.target)
            sha = self.fs.sha256(path)
            if sha is None:
                self._report("already gone", record.target, record.what)
            elif record.sha256 is not None and sha != record.sha256:
                self._report("kept", record.target, "changed since install; not removed")
            else:
                if not self.dry_run:
                    self.fs.remove(path)
                self._report(would, record.target, record.what)
        elif record.kind == "dir":
            path = self.ctx.path(record.target)
            if not self.fs.is_dir(path):
                self._report("already gone", record.target, "folder")
            elif self.dry_run:
                self._report("would remove", record.target, "folder, if empty")
            elif self.fs.rmdir(path):
                self._report("removed", record.target, "folder")
            else:
                self._report("kept", record.target, "folder not empty")
        elif record.kind == "key":
            hive, key = _split_key(record.target)
            if not self.registry.key_exists(hive, key):
                self._report("already gone", record.target, "registry key")
            elif self.dry_run:
                self._report("would remove", record.target, "registry key, if empty")
            elif self.registry.delete_key(hive, key):
                self._report("removed", record.target, "registry key")
            else:
                self._report("kept", record.target, "registry key not empty")
        else:
            hive, key = _split_key(record.target)
            name = record.name or ""
            shown = f"{record.target} [{name or '(Default)'}]"
            current = self.registry.get_value(hive, key, name)
            if current is None:
                self._report("already gone", shown, record.what)
            elif current != record.data:
                self._report("kept", shown, "changed since install; not removed")
            else:
                if not self.dry_run:
                    self.registry.delete_value(hive, key, name)
                self._report(would, shown, record.what)

    def _remove_receipt(self) -> None:
        if self.fs.read(self.receipt_file) is None:
            return
        if not self.dry_run:
            self.fs.remove(self.receipt_file)
        verb = "would remove" if self.dry_run else "removed"
        self._report(verb, str(self.receipt_file), "receipt")

    # ---- receipt -------------------------------------------------------------------

    def save(self) -> None:
        """Write the receipt (creating its folder), or drop it when it is empty."""
        if not self.receipt.records:
            self._remove_receipt()
            return
        self._ensure_dir(self.receipt_file.parent, frozenset({RECEIPT}))
        content = self.receipt.to_bytes()
        if self.fs.read(self.receipt_file) == content:
            return
        if not self.dry_run:
            self.fs.write(self.receipt_file, content, False)

    def _report(self, verb: str, target: str, what: str, owners: Iterable[str] = ()) -> None:
        if self.dry_run and verb in ("created", "updated"):
            verb = f"would {'create' if verb == 'created' else 'update'}"
        shown = sorted(o for o in owners if o != RECEIPT)
        detail = f"{what}: {', '.join(shown)}" if shown else what
        self.changes.append(Change(verb, target, detail))


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _split_key(target: str) -> tuple[Hive, str]:
    hive, _, key = target.partition("\\")
    return cast(Hive, hive), key


def _is_under(target: str, prefix: str, kind: str) -> bool:
    if kind == "key":
        return target.casefold().startswith(prefix.casefold() + "\\")
    return target.startswith(prefix + "/") or target.startswith(prefix + "\\")


def _removal_key(record: Record) -> tuple[int, int]:
    """Values and files first; then keys and folders, deepest first."""
    depth = record.target.count("/") + record.target.count("\\")
    return _ORDER[record.kind], -depth
