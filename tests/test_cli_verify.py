"""`cloaker verify --json` with the real detector and every model. The "cloaked" photo is
the example with faint noise: verifying a real cloak is the harness's job (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cloaker.cli import EXIT_FAILED, EXIT_OK, main

ROOT = Path(__file__).resolve().parent.parent
ASTRONAUT = ROOT / "examples" / "astronaut.jpg"


@pytest.fixture
def noisy_copy(tmp_path: Path) -> Path:
    rgb = np.asarray(Image.open(ASTRONAUT).convert("RGB"), np.int16)
    noise = np.random.default_rng(0).integers(-4, 5, rgb.shape)
    path = tmp_path / "noisy.png"
    Image.fromarray(np.clip(rgb + noise, 0, 255).astype(np.uint8)).save(path)
    return path


def test_verify_json_reports_every_model(
    noisy_copy: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cloaker.models.zoo import ENSEMBLE, HELD_OUT

    code = main(["verify", str(ASTRONAUT), str(noisy_copy), "--json"])
    out, err = capsys.readouterr()
    assert code == EXIT_OK, err
    doc = json.loads(out)
    assert doc["ensemble"] == list(ENSEMBLE) and doc["heldout"] == list(HELD_OUT)
    assert [t["name"] for t in doc["transforms"]] == ["raw", "jpeg85", "resize1080_jpeg75"]
    assert 0.5 < doc["photo"]["ssim"] < 1.0
    assert 30.0 < doc["photo"]["psnr"] < 60.0
    assert len(doc["faces"]) == 1
    face = doc["faces"][0]
    assert 0.9 < face["face_ssim"] < 1.0
    assert face["face_dssim"] == pytest.approx((1 - face["face_ssim"]) / 2)
    roles = {m["name"]: m["role"] for m in face["models"]}
    assert roles == {**dict.fromkeys(ENSEMBLE, "ensemble"), **dict.fromkeys(HELD_OUT, "held-out")}
    for m in face["models"]:
        raw_before = m["transforms"]["raw"]["before"]
        assert raw_before["distance"] == pytest.approx(0.0, abs=1e-5)
        assert raw_before["cosine"] == pytest.approx(1.0, abs=1e-5)
        for pair in m["transforms"].values():
            for side in pair.values():
                assert side["match"] == (side["distance"] < m["threshold"])
                # cosine and L2 of unit vectors agree: d^2 = 2 - 2 cos
                assert side["distance"] ** 2 == pytest.approx(2 - 2 * side["cosine"], abs=1e-6)
            assert pair["after"]["match"]  # faint noise hides nobody


def test_verify_refuses_photos_of_different_sizes(
    tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "small.png"
    Image.new("RGB", (64, 64)).save(other)
    assert main(["verify", str(ASTRONAUT), str(other)]) == EXIT_FAILED
    assert "differ in size" in capsys.readouterr().err
