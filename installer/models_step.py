"""Model weights during install, through the model manager, so the first upload does not
wait on a download. Only the ensemble models the daemon cloaks with are fetched; held-out
evaluation models are left to ``cloaker models fetch``.

Files the fetch creates are handed back so the receipt can record them: uninstall removes
weights that install downloaded, and never weights that were there before.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from cloaker.models import manager
from cloaker.models.registry import ARTIFACTS


@dataclass(frozen=True)
class ModelsResult:
    """What the fetch did: one line per model, new folders (outermost first) and files, and
    failures (empty if none)."""

    lines: list[str]
    new_dirs: list[Path]
    new_files: list[Path]
    failures: list[str]


def runtime_models() -> list[str]:
    """The models the daemon needs at upload time."""
    return [a.name for a in ARTIFACTS.values() if a.role == "ensemble"]


def describe_missing(dest: Path | None) -> list[str]:
    """For a dry run: which models would be downloaded, and where."""
    lines = []
    for row in manager.status(runtime_models(), directory=dest):
        if row.status == "ok":
            lines.append(f"{row.name}: present at {row.path}")
        else:
            lines.append(f"{row.name}: would fetch {row.size / 1e6:.0f} MB into {row.path}")
    return lines


def fetch(dest: Path | None) -> ModelsResult:
    """Fetch the runtime models into ``dest`` (default: the models folder)."""
    names = runtime_models()
    folder = manager.model_path(names[0], dest).parent
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    before = _listing(folder)
    reports = manager.fetch(names, dest=dest, progress=_progress)
    lines = [f"{r.name}: {r.outcome}" + (f" ({r.message})" if r.message else "") for r in reports]
    failures = [f"{r.name}: {r.message}" for r in reports if not r.ok]
    new_dirs = [p for p in reversed(missing) if p.is_dir()]
    new_files = sorted(_listing(folder) - before)
    return ModelsResult(lines, new_dirs, new_files, failures)


def _listing(folder: Path) -> set[Path]:
    return {p for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()


def _progress(name: str, stage: str) -> None:
    print(f"  model {name}: {stage}", file=sys.stderr, flush=True)
