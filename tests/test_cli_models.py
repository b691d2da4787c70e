"""`cloaker models list|fetch|verify` through the real argument parser (no downloads here:
the pre-populated models folder from conftest makes `fetch` a no-op)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cloaker.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from cloaker.models.registry import ARTIFACTS, BUNDLED


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["models", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_reports_every_model(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "list", "--json")
    assert code == EXIT_OK
    doc = json.loads(out)
    assert Path(doc["dir"]) == models_dir
    rows = {row["name"]: row for row in doc["models"]}
    assert set(rows) == set(ARTIFACTS) | set(BUNDLED)
    for name, art in ARTIFACTS.items():
        row = rows[name]
        assert row["status"] == "ok"
        assert row["size"] == art.size
        assert row["role"] == art.role
        assert row["licence"] == art.licence
        assert row["source"].startswith(f"{art.registry}:{art.package}")
        assert row["source"].endswith(f":{art.member}")
        assert Path(row["path"]) == models_dir / art.filename
        # what a user or packager checks: the file's hash and the package it comes from
        assert row["sha256"] == hashlib.sha256(Path(row["path"]).read_bytes()).hexdigest()
        sep = "@" if art.registry == "npm" else "=="
        assert row["package"] == {
            "registry": art.registry,
            "name": art.package,
            "version": art.version,
            "spec": f"{art.package}{sep}{art.version}",
            "file": art.member,
        }


def test_list_json_includes_the_detector_installed_with_facenet_pytorch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from importlib.metadata import version

    code, out, _ = _run(capsys, "list", "--json")
    assert code == EXIT_OK
    rows = {row["name"]: row for row in json.loads(out)["models"]}
    installed = version("facenet-pytorch")
    for name, item in BUNDLED.items():
        row = rows[name]
        assert row["role"] == "detector" and row["status"] == "ok"
        path = Path(row["path"])
        assert path.as_posix().endswith(item.member)
        assert row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert row["package"]["spec"] == f"facenet-pytorch=={installed}"
        assert row["package"]["file"] == item.member


def test_list_follows_models_dir_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOAKER_MODELS_DIR", str(tmp_path))
    code, out, _ = _run(capsys, "list", "--json")
    assert code == EXIT_OK  # a listing succeeds even when models are missing
    doc = json.loads(out)
    assert Path(doc["dir"]) == tmp_path
    fetched = [row for row in doc["models"] if row["name"] in ARTIFACTS]
    assert {row["status"] for row in fetched} == {"missing"}


def test_list_text_names_every_model(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "list")
    assert code == EXIT_OK
    for name, art in ARTIFACTS.items():
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert " ok " in line
        assert str(models_dir / art.filename) in out
        assert f"sha256: {art.sha256}" in out
    for name, item in BUNDLED.items():
        assert any(line.startswith(name) for line in out.splitlines())
        assert f"sha256: {item.sha256}" in out and item.member in out


@pytest.mark.parametrize("action", ["fetch", "verify"])
def test_unknown_model_name_fails_clearly(action: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, action, "mobilefacenet", "nope")
    assert code == EXIT_FAILED
    assert out == ""
    assert "unknown model 'nope'" in err
    for name in ARTIFACTS:
        assert name in err


def test_fetch_when_everything_is_present(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "fetch")
    assert code == EXIT_OK
    lines = out.splitlines()
    assert len(lines) == len(ARTIFACTS)
    for name in ARTIFACTS:
        assert f"{name}: already present" in out


def test_fetch_failure_is_reported_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = _run(capsys, "fetch", "mobilefacenet", "--dir", str(blocker / "models"))
    assert code == EXIT_FAILED
    assert out == ""
    assert "mobilefacenet: failed: cannot write model files in" in err


def test_verify_json(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "verify", "--json")
    assert code == EXIT_OK
    doc = json.loads(out)
    assert doc["ok"] is True
    assert doc["models"] == dict.fromkeys(ARTIFACTS, "ok")


def test_verify_finds_missing_and_corrupt(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    art = ARTIFACTS["mobilefacenet"]
    target = tmp_path / art.filename
    shutil.copyfile(models_dir / art.filename, target)
    with target.open("r+b") as f:
        f.seek(123)
        f.write(b"\x00\x01\x02\x03")
    code, out, _ = _run(capsys, "verify", "--json", "--dir", str(tmp_path))
    assert code == EXIT_FAILED
    doc = json.loads(out)
    assert doc["ok"] is False
    assert doc["models"] == {
        **{name: "missing" for name in ARTIFACTS},
        "mobilefacenet": "corrupt",
    }


def test_models_without_action_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys)
    assert code == EXIT_USAGE
    assert "list" in err and "fetch" in err and "verify" in err


def test_module_import_stays_light() -> None:
    # `cloaker --help` imports every subcommand module; this one must not pull in torch.
    probe = "import sys, cloaker.cli.models_cmd; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
