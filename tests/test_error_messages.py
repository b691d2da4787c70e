"""Errors are written for people: every bad input gives a sentence that names Cloaker's own
limits, through the decoder, the daemon's protocol and the CLI, and never shows a Python
repr (``<_io.BytesIO object at 0x...>``), a Pillow constant (its 178,956,970-pixel limit) or
a raw exception class name."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from daemon_util import ROOT, DaemonProcess, assert_error, wait_ready
from imageio_util import load_photo, raw_png, save

from cloaker.errors import CloakerError
from cloaker.imageio import DEFAULT_MAX_PIXELS, decode

REPR = re.compile(r"<[^<>]*\bat 0x[0-9a-fA-F]+>|\bat 0x[0-9a-fA-F]{4,}")
PILLOW_CONSTANTS = ("178956970", "178,956,970", "89478485", "89,478,485")
INTERNALS = re.compile(
    r"\b[A-Z][A-Za-z]*(?:Error|Exception|Warning)\b|\b_io\.|BytesIO|Traceback|PIL\b|Pillow"
)
OUR_PIXEL_LIMIT = f"{DEFAULT_MAX_PIXELS:,} pixels (max_pixels)"


def gif(screen: tuple[int, int], frame: tuple[int, int], frames: int = 1) -> bytes:
    """A GIF of one-pixel LZW frames whose header and image descriptors claim any size."""
    out = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, *frame, 0) + b"\x02\x02\x44\x01\x00"
    return out + descriptor * frames + b"\x3b"


def _jpeg() -> bytes:
    return save(load_photo(), "JPEG", quality=90)


BAD_INPUTS: dict[str, tuple[Callable[[], bytes], str]] = {
    "empty": (lambda: b"", "bad_image"),
    "random-bytes": (lambda: np.random.default_rng(5).bytes(4000), "bad_image"),
    "text": (lambda: b"a plain note, not a photo\n" * 20, "bad_image"),
    "jpeg-magic-then-garbage": (lambda: b"\xff\xd8\xff\xe0" + bytes(100), "bad_image"),
    "jpeg-truncated": (lambda: _jpeg()[: len(_jpeg()) // 2], "bad_image"),
    "png-truncated": (lambda: save(load_photo(), "PNG")[:600], "bad_image"),
    "png-100000x100000": (lambda: raw_png(100_000, 100_000, 8, 2, b"\x00" * 16), "image_too_large"),
    "gif-huge-screen": (lambda: gif((65535, 65535), (1, 1)), "image_too_large"),
    "gif-huge-frame-on-small-screen": (lambda: gif((100, 100), (65535, 65535)), "image_too_large"),
}
IDS = list(BAD_INPUTS)


def assert_for_people(text: str, code: str) -> None:
    assert text.strip(), "empty message"
    assert not REPR.search(text), f"a Python repr in {text!r}"
    assert not [c for c in PILLOW_CONSTANTS if c in text], f"a Pillow constant in {text!r}"
    assert not INTERNALS.search(text), f"internals in {text!r}"
    if code == "image_too_large":
        assert OUR_PIXEL_LIMIT in text, f"our limit is not named in {text!r}"


@pytest.mark.parametrize("name", IDS)
def test_decoder_messages(name: str) -> None:
    make, code = BAD_INPUTS[name]
    with pytest.raises(CloakerError) as caught:
        decode(make())
    assert caught.value.code == code
    assert_for_people(caught.value.message, code)


def test_a_gif_with_many_frames_is_its_first_frame_quickly() -> None:
    img = decode(gif((10, 10), (1, 1), frames=100_000))
    assert img.rgb.shape == (10, 10, 3) and img.animated
    assert_for_people(" ".join(img.notes), "")


# --- through the daemon (real process, real websocket) ---------------------------------


def test_daemon_messages(shared: DaemonProcess) -> None:
    with shared.client() as c:
        wait_ready(c)  # truncated pixel data is found by the engine's decoder
        for name in IDS:
            make, code = BAD_INPUTS[name]
            request_id = c.send_cloak(make(), request_id=name)
            msg = c.recv_for(request_id)
            while msg["type"] == "progress":
                msg = c.recv_for(request_id)
            assert_error(msg, code, request_id)
            assert_for_people(msg["data"]["message"], code)
        limit = c.request("status")["data"]["limits"]["max_image_bytes"]
        request_id = c.send_cloak(b"\xff\xd8\xff" + bytes(limit), request_id="over-bytes")
        msg = c.recv_for(request_id)
        assert_error(msg, "image_too_large", request_id)
        assert_for_people(msg["data"]["message"], "")
        assert f"{limit:,} bytes" in msg["data"]["message"]
        assert "max_image_bytes" in msg["data"]["message"]


# --- through the CLI -------------------------------------------------------------------


def test_cli_messages(tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cloaker.cli import EXIT_FAILED, main

    paths = []
    for name in IDS:
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(BAD_INPUTS[name][0]())
        paths.append(path)
    code = main(["cloak", *map(str, paths), "--mode", "low"])
    out, err = capsys.readouterr()
    assert code == EXIT_FAILED
    assert not out.strip()  # nothing was written
    lines = [line for line in err.splitlines() if line.startswith("cloaker cloak: ")]
    for name, path in zip(IDS, paths, strict=True):
        line = next(line for line in lines if f"{path}: " in line)
        expected = BAD_INPUTS[name][1]
        assert line.endswith(f"({expected})"), line
        assert_for_people(line.split(f"{path}: ", 1)[1], expected)


def test_protocol_doc_shows_no_internals() -> None:
    text = (ROOT / "PROTOCOL.md").read_text("utf-8")
    messages = re.findall(r'"message": "([^"]*)"', text)
    assert messages
    for message in messages:
        assert_for_people(message, "")
    assert not [c for c in PILLOW_CONSTANTS if c in text]
    assert "cannot identify image file" not in text


def test_daemon_header_check_reads_heic_in_a_fresh_process(tmp_path: Path) -> None:
    """The daemon checks headers before the engine ever decoded a HEIF: the check must
    register the HEIF reader itself (it used to refuse every iPhone photo as bad_image)."""
    pytest.importorskip("pillow_heif")
    make = (
        "import io, sys, pillow_heif; from PIL import Image; pillow_heif.register_heif_opener();"
        "buf = io.BytesIO(); Image.new('RGB', (64, 48)).save(buf, 'HEIF');"
        "open(sys.argv[1], 'wb').write(buf.getvalue())"
    )
    heic = tmp_path / "photo.heic"
    subprocess.run([sys.executable, "-c", make, str(heic)], check=True, timeout=60)
    check = (
        "import sys; from native_host.jobs import Limits, check_image;"
        "check_image(open(sys.argv[1], 'rb').read(), Limits()); print('accepted')"
    )
    result = subprocess.run(
        [sys.executable, "-c", check, str(heic)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "accepted", result.stderr


def test_cli_turns_an_unexpected_failure_into_a_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fault injection: a bug inside the engine (not a bad photo) still gives one line."""
    from cloaker.cli import EXIT_FAILED, main
    from cloaker.engine import Engine

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("state of <_io.BytesIO object at 0x7f00deadbeef>")

    monkeypatch.setattr(Engine, "warm", lambda self: None)
    monkeypatch.setattr(Engine, "cloak_bytes", broken)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(_jpeg())
    assert main(["cloak", str(photo)]) == EXIT_FAILED
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if f"{photo}: " in line)
    assert "unexpected failure" in line and line.endswith("shows why")
    assert_for_people(line, "internal")
