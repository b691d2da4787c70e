"""cloaker.evaluation: metrics on synthetic data, site transforms, counting, the Markdown
section, and the harness on real photos (a stand-in cloak for the fast tests, the real
engine in the slow one)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from cloaker.evaluation import metrics, report
from cloaker.evaluation.harness import Photo, evaluate, find_identities, select_photos
from cloaker.evaluation.summary import Evaluation, Record
from cloaker.evaluation.transforms import (
    JPEG85,
    RAW,
    RESIZE1080_JPEG75,
    jpeg_roundtrip,
    resize_long_side,
    scale_points,
)


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# --- metrics -------------------------------------------------------------------------


def test_ssim_of_identical_photos_is_one_and_drops_with_noise() -> None:
    a = _noise(64, 80)
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert metrics.dssim(a, a) == pytest.approx(0.0, abs=1e-6)
    b = np.clip(a.astype(int) + _noise(64, 80, 1) // 3 - 42, 0, 255).astype(np.uint8)
    assert metrics.ssim(a, b) < 0.99
    assert metrics.ssim(a, b) == pytest.approx(metrics.ssim(b, a), abs=1e-6)


def test_psnr_known_value() -> None:
    a = np.zeros((20, 30, 3), np.uint8)
    b = np.full_like(a, 5)  # MSE 25
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 25))
    assert metrics.psnr(a, a) == math.inf


def test_face_ssim_only_sees_the_box() -> None:
    a = _noise(100, 100)
    b = a.copy()
    b[:, 60:] = 0  # changed outside the box
    box = np.array([5.2, 10.0, 50.4, 60.0], np.float32)
    assert metrics.face_ssim(a, b, box) == pytest.approx(1.0, abs=1e-6)
    assert metrics.ssim(a, b) < 0.9
    assert metrics.box_pixels(np.array([40, 40, 42, 43]), (100, 100)) == (36, 36, 47, 47)


def test_colour_shift_sees_chroma_in_the_box_and_not_luminance() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(60, 190, (120, 120, 3), dtype=np.uint8)
    box = np.array([10, 10, 110, 110])
    assert metrics.face_colour_shift(a, a, box) == 0.0
    brighter = a + np.uint8(12)  # the same change on R, G and B: no chroma
    assert metrics.face_colour_shift(a, brighter, box) < 0.05
    greener = a.astype(int)
    greener[40:60, 40:60, 1] += 20  # a green patch (an iris going green)
    greener = greener.astype(np.uint8)
    assert 5 < metrics.face_colour_shift(a, greener, box) < 20
    assert metrics.face_colour_shift(a, greener, np.array([70, 70, 110, 110])) < 0.5


def test_compare_and_mean_embedding() -> None:
    e = np.array([1.0, 0.0, 0.0])
    same = metrics.compare(e, e * 3, threshold=0.5)
    assert (same.cosine, same.distance, same.match) == (pytest.approx(1.0), 0.0, True)
    ortho = metrics.compare(e, np.array([0.0, 2.0, 0.0]), threshold=0.5)
    assert ortho.distance == pytest.approx(math.sqrt(2)) and not ortho.match
    centre = metrics.mean_embedding(np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert np.linalg.norm(centre) == pytest.approx(1.0)
    assert centre == pytest.approx([math.sqrt(0.5)] * 2)
    with pytest.raises(ValueError, match="zero vector"):
        metrics.mean_embedding(np.array([[1.0, 0.0], [-1.0, 0.0]]))


# --- transforms ----------------------------------------------------------------------


def test_site_transforms_give_the_right_sizes() -> None:
    big = _noise(1500, 2000)
    assert RAW.apply(big) is big
    assert JPEG85.apply(big).shape == big.shape
    assert RESIZE1080_JPEG75.apply(big).shape == (810, 1080, 3)
    assert RESIZE1080_JPEG75.output_hw((1500, 2000)) == (810, 1080)
    small = _noise(300, 200)
    assert resize_long_side(small, 1080) is small  # never upscaled
    assert RESIZE1080_JPEG75.apply(small).shape == small.shape


def test_jpeg_roundtrip_is_lossy_and_quality_matters() -> None:
    img = _noise(64, 64)
    q85, q75 = jpeg_roundtrip(img, 85), jpeg_roundtrip(img, 75)
    assert q85.shape == img.shape and q85.dtype == np.uint8
    assert metrics.psnr(img, q85) > metrics.psnr(img, q75)
    with pytest.raises(ValueError):
        jpeg_roundtrip(img, 100)


def test_scale_points_maps_pixel_centres() -> None:
    pts = np.array([[-0.5, -0.5], [1999.5, 1499.5], [999.5, 749.5]])
    out = scale_points(pts, (1500, 2000), (810, 1080))
    assert out == pytest.approx(np.array([[-0.5, -0.5], [1079.5, 809.5], [539.5, 404.5]]))


# --- counting and reports ------------------------------------------------------------


def _record(mode: str, clean: float, cloaked: float, psnr: float = 40.0) -> Record:
    d = {"m": {"raw": clean, "jpeg85": clean}}
    c = {"m": {"raw": cloaked, "jpeg85": clean}}
    return Record("id", f"id/{clean}.jpg", mode, 1, 2, 1.0, 0.97, 0.015, 0.99, psnr, d, c)


def test_summary_counts_only_faces_that_verified_clean() -> None:
    ev = Evaluation(
        models={"m": ("held-out", 1.0)},
        transforms=[("raw", "raw"), ("jpeg85", "JPEG q85")],
        modes=["mid"],
        device="cpu",
        seed=0,
    )
    ev.records += [
        _record("mid", 0.5, 1.2),  # verified, now hidden
        _record("mid", 0.6, 0.9),  # verified, still matches
        _record("mid", 1.3, 1.5),  # never verified: not counted
        _record("mid", 0.4, 1.0, psnr=math.inf),  # at the threshold = no match
    ]
    s = ev.summary("mid")
    score = s.scores[0]
    assert score.eligible == {"raw": 3, "jpeg85": 3}
    assert score.protected == {"raw": 2, "jpeg85": 0}
    assert score.protection("raw") == pytest.approx(2 / 3)
    assert s.held_out_mean_and_worst("raw") == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert s.psnr_mean == pytest.approx(40.0)  # the infinite one is left out
    doc = json.loads(json.dumps(ev.to_json(), allow_nan=False))
    assert doc["modes"]["mid"]["scores"][0]["protection"]["jpeg85"] == 0.0
    assert doc["records"][3]["photo_psnr"] is None
    table = report.tables(ev)
    assert "| m | held-out | 1.00 | 67% (2/3) | 0% (0/3) |" in table


def test_markdown_section_is_replaced_in_place(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nintro\n")
    report.write_section(path, f"{report.START}\nfirst\n{report.END}")
    path.write_text(path.read_text() + "\n## Later section\n")
    report.write_section(path, f"{report.START}\nsecond\n{report.END}")
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\nintro\n")
    assert "second" in text and "first" not in text
    assert text.count(report.START) == 1 and text.rstrip().endswith("## Later section")
    path.write_text(f"{report.START} only a start")
    with pytest.raises(ValueError, match="unbalanced"):
        report.write_section(path, "x")


def test_find_and_select_photos(tmp_path: Path) -> None:
    for name, files in {
        "b": ["10.jpg", "2.jpg", "notes.txt"],
        "a": ["1.png"],
        "c": ["1.jpg"],
    }.items():
        (tmp_path / name).mkdir()
        for f in files:
            (tmp_path / name / f).write_bytes(b"")
    found = find_identities(tmp_path)
    assert list(found) == ["a", "b", "c"]
    assert [p.name for p in found["b"]] == ["2.jpg", "10.jpg"]
    probes, gallery = select_photos(found, limit_identities=1, photos_per_identity=1)
    assert [p.key for p in probes] == ["b/2.jpg"]  # a and c have one photo: no reference
    assert [p.key for p in gallery] == ["b/2.jpg", "b/10.jpg"]


# --- the harness on real photos ------------------------------------------------------


class _StandInEngine:
    """The real detector and a real extractor, with a stand-in cloak (the harness must not
    care what made the pixels)."""

    def __init__(self, cloak: str) -> None:
        from cloaker.detect import FaceDetector
        from cloaker.models.zoo import load_extractor

        self.device = "cpu"
        self.ensemble_names = ("dlib_resnet",)
        self._detector = FaceDetector(device="cpu")
        self._models = {"dlib_resnet": load_extractor("dlib_resnet", "cpu")}
        self._cloak = cloak

    @property
    def extractors(self) -> dict:
        return dict(self._models)

    def detect(self, rgb: np.ndarray) -> list:
        return self._detector.detect(rgb)

    def cloak_array(self, rgb: np.ndarray, mode: str = "mid", *, seed: int | None = None):
        if self._cloak == "none":
            return rgb, None
        out = rgb.copy()  # grey out every face box: nobody can recognise that
        for f in self.detect(rgb):
            x0, y0, x1, y1 = (int(v) for v in f.box)
            out[y0:y1, x0:x1] = 128
        return out, None


def _two_by_two(faces_dir: Path) -> list[Photo]:
    probes, _ = select_photos(
        find_identities(faces_dir / "people"), limit_identities=2, photos_per_identity=2
    )
    return probes


@pytest.mark.parametrize("cloak", ["none", "grey"])
def test_harness_measures_every_model(faces_dir: Path, models_dir: Path, cloak: str) -> None:
    photos = _two_by_two(faces_dir)
    lines: list[str] = []
    ev = evaluate(_StandInEngine(cloak), photos, ["low"], gallery=photos, progress=lines.append)
    assert ev.models == {
        "dlib_resnet": ("ensemble", pytest.approx(0.417, abs=0.01)),
        "mobilefacenet": ("held-out", 1.05),
    }
    assert len(ev.records) + len(ev.skipped) == 4
    assert sum(line.startswith("[") for line in lines) == 4  # one line per photo and mode
    assert len(ev.records) >= 3
    s = ev.summary("low")
    assert [sc.name for sc in s.scores] == ["mobilefacenet", "dlib_resnet"]  # held-out first
    for rec in ev.records:
        assert rec.references == 1
        for model in ev.models:
            assert set(rec.clean[model]) == {"raw", "jpeg85", "resize1080_jpeg75"}
    if cloak == "none":
        # An unchanged photo is measured exactly like the clean one: nothing is protected.
        for rec in ev.records:
            assert rec.cloaked == rec.clean
            assert rec.face_ssim == pytest.approx(1.0, abs=1e-6) and rec.photo_psnr == math.inf
            assert rec.face_colour_shift == 0.0
        assert all(sum(sc.protected.values()) == 0 for sc in s.scores)
        assert all(sc.eligible["raw"] >= 3 for sc in s.scores)  # real people verify clean
    else:
        for rec in ev.records:
            assert rec.face_ssim < 0.8 and rec.face_ssim < rec.photo_ssim < 1.0
            for model in ev.models:
                assert rec.cloaked[model]["raw"] > rec.clean[model]["raw"]
        for sc in s.scores:
            assert sc.protection("raw") == 1.0


@pytest.mark.slow
def test_harness_with_the_real_engine(faces_dir: Path, models_dir: Path) -> None:
    from cloaker.engine import Engine

    photos = _two_by_two(faces_dir)
    engine = Engine(device="cpu")
    ev = evaluate(engine, photos, ["low"], gallery=photos)
    assert ev.records
    s = ev.summary("low")
    assert {sc.role for sc in s.scores} == {"ensemble", "held-out"}
    assert s.face_dssim_max is not None and s.face_dssim_max <= 0.015 + 1e-3
    assert s.photo_ssim_min is not None and s.photo_ssim_min > 0.9
    for rec in ev.records:
        for model in engine.ensemble_names:  # the optimizer pushed every ensemble model
            assert rec.cloaked[model]["raw"] > rec.clean[model]["raw"]
