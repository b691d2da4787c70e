"""`cloaker cloak` through the real parser, engine and models: files written where they
should be, inputs never touched, one bad file does not stop the others."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cloaker.cli import EXIT_FAILED, EXIT_OK, main
from cloaker.cli.cloak_cmd import is_same_file, output_path
from cloaker.cli.progress import ProgressBar

ROOT = Path(__file__).resolve().parent.parent
ASTRONAUT = ROOT / "examples" / "astronaut.jpg"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _plain_png(path: Path, size: tuple[int, int] = (96, 64)) -> Path:
    """A photo with no face: cloaking it is fast and leaves the pixels alone."""
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def astronaut_run(
    tmp_path_factory: pytest.TempPathFactory, models_dir: Path
) -> Iterator[tuple[int, str, str, Path, str]]:
    """One real cloak of examples/astronaut.jpg in mode low (shared by the tests below)."""
    out_dir = tmp_path_factory.mktemp("cloak") / "new" / "dir"  # created by the command
    gif = tmp_path_factory.mktemp("gif") / "small.gif"
    with Image.open(ASTRONAUT) as im:  # a palette photo: the cloak cannot stay in 256 colours
        im.convert("RGB").resize((256, 256)).quantize(256).save(gif)
    before = _sha(ASTRONAUT)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLOAKER_MODELS_DIR", str(models_dir))
        mp.setenv("CLOAKER_HOME", str(tmp_path_factory.mktemp("home")))
        out, err = io.StringIO(), io.StringIO()
        mp.setattr("sys.stdout", out)
        mp.setattr("sys.stderr", err)
        code = main(["cloak", str(ASTRONAUT), str(gif), "-o", str(out_dir), "--mode", "low"])
    yield code, out.getvalue(), err.getvalue(), out_dir, before


def test_cloak_writes_next_to_name_with_same_size_and_format(
    astronaut_run: tuple[int, str, str, Path, str],
) -> None:
    code, out, err, out_dir, _ = astronaut_run
    assert code == EXIT_OK, err
    dst = out_dir / "astronaut.cloaked.jpg"
    assert dst.is_file()
    with Image.open(ASTRONAUT) as a, Image.open(dst) as b:
        assert b.format == "JPEG"
        assert b.size == a.size
        diff = np.abs(np.asarray(b.convert("RGB"), int) - np.asarray(a.convert("RGB"), int))
    assert diff.max() > 0  # the face was changed
    line = out.splitlines()[0]
    assert "1 face" in line and "cloaked" in line and str(dst) in line
    assert "DSSIM" in line
    assert "%" in err  # progress went to stderr, not stdout


def test_extension_follows_the_written_format(
    astronaut_run: tuple[int, str, str, Path, str],
) -> None:
    _, out, _, out_dir, _ = astronaut_run
    dst = out_dir / "small.cloaked.png"
    with Image.open(dst) as im:
        assert im.format == "PNG" and im.size == (256, 256)
    assert not (out_dir / "small.cloaked.gif").exists()
    assert "written as PNG (the input was GIF)" in out


def test_cloak_leaves_the_input_byte_for_byte(
    astronaut_run: tuple[int, str, str, Path, str],
) -> None:
    assert _sha(ASTRONAUT) == astronaut_run[4]


def test_bad_file_among_good_ones_fails_at_the_end(
    tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    good = _plain_png(tmp_path / "plain.png")
    missing = tmp_path / "missing.png"
    code = main(["cloak", str(bad), str(missing), str(good), "--mode", "low"])
    out, err = capsys.readouterr()
    assert code == EXIT_FAILED
    written = tmp_path / "plain.cloaked.png"
    assert written.is_file()  # processed after the failures
    with Image.open(written) as im, Image.open(good) as src:
        assert np.array_equal(np.asarray(im), np.asarray(src))  # no face: pixels unchanged
    assert "no face" in out
    assert f"{bad}:" in err and "bad_image" in err
    assert f"{missing}: cannot read" in err
    assert "2 of 3 files failed" in err
    assert not (tmp_path / "broken.cloaked.jpg").exists()


def test_existing_output_is_replaced_but_a_link_to_the_input_is_refused(
    tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _plain_png(tmp_path / "a.png")
    original = _sha(src)
    stale = tmp_path / "a.cloaked.png"
    stale.write_bytes(b"old output")
    assert main(["cloak", str(src), "--mode", "low"]) == EXIT_OK
    assert stale.read_bytes() != b"old output"
    assert _sha(src) == original

    stale.unlink()
    os.symlink(src, stale)  # the output name now points at the input
    code = main(["cloak", str(src), "--mode", "low"])
    _, err = capsys.readouterr()
    assert code == EXIT_FAILED
    assert "refusing to overwrite the input" in err
    assert _sha(src) == original


def test_output_path_and_same_file(tmp_path: Path) -> None:
    src = tmp_path / "photo.GIF"
    assert output_path(src, ".png", None) == tmp_path / "photo.cloaked.png"
    assert output_path(src, ".png", tmp_path / "o") == tmp_path / "o" / "photo.cloaked.png"
    src.write_bytes(b"x")
    assert is_same_file(src, tmp_path / "." / "photo.GIF")
    assert not is_same_file(src, tmp_path / "photo.cloaked.png")


@pytest.mark.parametrize("tty", [True, False], ids=["terminal", "log"])
def test_progress_bar(tty: bool) -> None:
    stream = io.StringIO()
    bar = ProgressBar("x.jpg", stream=stream, tty=tty)
    for i in range(101):
        bar.update(i / 100, "optimize")
    bar.update(1.0, "done")
    bar.close()
    text = stream.getvalue()
    if tty:
        assert "\n" not in text and text.count("\r") >= 2
        assert text.endswith("\r")  # the line is cleared for the result line
    else:
        lines = text.splitlines()
        assert 3 <= len(lines) <= 7  # periodic, not one per update
        assert lines[-1].endswith("100% done")
