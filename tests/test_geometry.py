"""Crop geometries: box crops cut the right region, calibration picks a separating
threshold, the harness judges each geometry with its own threshold, and the optimizer's
geometry views, feature dropout and surrogate subsets do what their modes say."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from cloaker.align import box_matrices, warp
from cloaker.evaluation import geometry as geo
from cloaker.evaluation.harness import calibrate_models, evaluate, find_identities, select_photos
from cloaker.evaluation.summary import Evaluation, Record


def test_box_matrices_square_grow_and_turn() -> None:
    box = np.array([[10.0, 20.0, 110.0, 100.0]])  # 100 x 80: squared to 100
    m = box_matrices(box, 1.0, 50)[0]
    centre = np.array([59.5, 59.5])  # box centre in pixel-centre coordinates
    assert m[:, :2] @ centre + m[:, 2] == pytest.approx([24.5, 24.5])
    assert np.linalg.det(m[:, :2]) == pytest.approx(0.25)  # 100 px -> 50 px
    grown = box_matrices(box, 1.6, 50)[0]
    assert np.linalg.det(grown[:, :2]) == pytest.approx((0.5 / 1.6) ** 2)
    turned = box_matrices(box, 1.0, 50, angle=np.array([0.3]))[0]
    assert np.arctan2(turned[1, 0], turned[0, 0]) == pytest.approx(0.3)
    assert turned[:, :2] @ centre + turned[:, 2] == pytest.approx([24.5, 24.5])


def test_box_crop_cuts_the_box() -> None:
    img = torch.zeros(1, 3, 120, 160)
    img[..., 40:80, 60:100] = 1.0  # a white 40 px square
    crop = warp(img, box_matrices(np.array([[60.0, 40.0, 100.0, 80.0]]), 1.0, 40), 40)
    assert float(crop[..., 1:-1, 1:-1].min()) > 0.99  # the box fills the crop
    wide = warp(img, box_matrices(np.array([[60.0, 40.0, 100.0, 80.0]]), 2.0, 40), 40)
    assert float(wide[0, 0, 20, 20]) > 0.99 and float(wide[0, 0, 2, 2]) < 0.01


def test_calibration_separates_and_prefers_the_lenient_tie() -> None:
    genuine = np.array([0.2, 0.3, 0.4, 0.5])
    impostor = np.array([0.8, 0.9, 1.0, 0.45])
    cal = geo.calibrate(genuine, impostor)
    # Best J: accept the four genuine pairs and the one impostor at 0.45 (J 0.75), or
    # the three below 0.45 (J 0.75): the tie goes to the larger threshold.
    assert 0.5 < cal.threshold < 0.8
    assert (cal.tpr, cal.fpr, cal.genuine, cal.impostor) == (1.0, 0.25, 4, 4)
    point = geo.operating_point(genuine, impostor, 0.35)
    assert (point.tpr, point.fpr) == (0.5, 0.0)
    with pytest.raises(ValueError):
        geo.calibrate(genuine, np.array([]))


def test_pair_distances_use_the_others_mean() -> None:
    e = np.eye(3)
    g, i = geo.pair_distances({"a": [e[0], e[0]], "b": [e[1]]})
    assert g.tolist() == [0.0, 0.0]  # b has no other photo: no genuine pair
    assert i == pytest.approx([np.sqrt(2)] * 3)


def test_summary_judges_each_geometry_with_its_threshold() -> None:
    rec = Record(
        "a", "a/1.jpg", "mid", 1, 1, 1.0, 0.97, 0.015, 0.99, 40.0,
        clean={"m": {"raw": 0.5, "raw@box1.3": 0.8}},
        cloaked={"m": {"raw": 1.2, "raw@box1.3": 0.95}},
    )  # fmt: skip
    ev = Evaluation(
        models={"m": ("held-out", 1.0)},
        transforms=[("raw", "raw")],
        modes=["mid"],
        device="cpu",
        seed=0,
        records=[rec],
        geometry_keys=["raw@box1.3"],
        calibration={"m": {"box1.3": {"threshold": 0.9}}},
    )
    score = ev.summary("mid").scores[0]
    assert score.protection("raw") == 1.0  # 1.2 >= 1.0
    assert score.protection("raw@box1.3") == 1.0  # 0.8 < 0.9 clean, 0.95 >= 0.9 cloaked
    assert ev.threshold("m", "raw@box1.3") == 0.9 and ev.threshold("m", "raw") == 1.0


class _GreyEngine:
    """The real detector and dlib's model; the "cloak" greys the face box out."""

    def __init__(self) -> None:
        from cloaker.detect import FaceDetector
        from cloaker.models.zoo import load_extractor

        self.device = "cpu"
        self.ensemble_names = ("dlib_resnet",)
        self._detector = FaceDetector(device="cpu")
        self._models = {"dlib_resnet": load_extractor("dlib_resnet", "cpu")}

    @property
    def extractors(self) -> dict:
        return dict(self._models)

    def detect(self, rgb: np.ndarray) -> list:
        return self._detector.detect(rgb)

    def cloak_array(self, rgb: np.ndarray, mode: str = "mid", *, seed: int | None = None):
        out = rgb.copy()
        for f in self.detect(rgb):
            x0, y0, x1, y1 = (int(v) for v in f.box)
            out[y0:y1, x0:x1] = 128
        return out, None


def test_harness_measures_held_out_geometries(faces_dir: Path, models_dir: Path) -> None:
    from cloaker.models.zoo import load_extractor

    probes, gallery = select_photos(
        find_identities(faces_dir / "people"), limit_identities=3, photos_per_identity=1
    )
    engine = _GreyEngine()
    judge = {"mobilefacenet": load_extractor("mobilefacenet", "cpu")}
    geos = (geo.ALIGNED, geo.BY_NAME["box1.3"], geo.BY_NAME["box1.0@2x"])
    cal = calibrate_models(engine, judge, gallery, geos)
    assert cal["mobilefacenet"]["aligned"].threshold == judge["mobilefacenet"].threshold
    assert all(c.genuine > 0 and c.impostor > 0 for c in cal["mobilefacenet"].values())
    with pytest.raises(ValueError, match="no calibrated threshold"):
        evaluate(engine, probes, ["mid"], gallery=gallery, geometries=geos)
    ev = evaluate(engine, probes, ["mid"], gallery=gallery, geometries=geos, calibration=cal)
    assert ev.geometry_keys == [
        f"{t}@{g}" for t in ("jpeg85", "resize1080_jpeg75") for g in ("box1.3", "box1.0@2x")
    ]
    for rec in ev.records:
        assert set(rec.clean["mobilefacenet"]) == {"raw", "jpeg85", "resize1080_jpeg75"} | set(
            ev.geometry_keys
        )
        assert set(rec.clean["dlib_resnet"]) == {"raw", "jpeg85", "resize1080_jpeg75"}
        for key in ev.geometry_keys:  # a greyed-out face is far from its owner everywhere
            assert rec.cloaked["mobilefacenet"][key] > rec.clean["mobilefacenet"][key]
    score = ev.summary("mid").scores[0]
    assert score.name == "mobilefacenet"
    assert score.protection("jpeg85@box1.3") == 1.0


@pytest.mark.slow
def test_geometry_views_dropout_and_subsets_cloak(faces_dir: Path, models_dir: Path) -> None:
    """Each lever runs the real optimizer and moves the face away in every surrogate,
    through box crops too, within the budget."""
    from cloaker.cloak.modes import MODES
    from cloaker.engine import Engine
    from cloaker.imageio import decode

    rgb = decode((faces_dir / "people/barack_obama/1.jpg").read_bytes()).rgb
    engine = Engine(device="cpu", ensemble=("dlib_resnet", "sface"))
    face = max(engine.detect(rgb), key=lambda f: f.size)
    mid = replace(MODES["mid"], steps=6)
    for mode in (
        replace(mid, geometry=1.0),
        replace(mid, dropout=0.2),
        replace(mid, subset=1, geometry=0.5),
        replace(mid, geometry=1.0, context=0.3),
    ):
        out, info = engine.cloak_array(rgb, mode, seed=0)
        assert info.report.steps == 6 and max(info.dssim) <= mode.dssim * 1.05
        for name, model in engine.extractors.items():
            for g in (geo.ALIGNED, geo.BY_NAME["box1.3"]):
                a = geo.embed(model, rgb, face.landmarks, face.box, g)
                b = geo.embed(model, out, face.landmarks, face.box, g)
                assert float(np.linalg.norm(a - b)) > 0.05, (mode, name, g.name)


def test_feature_dropout_is_random_and_released(models_dir: Path) -> None:
    from cloaker.models.zoo import load_extractor

    for name in ("sface", "dlib_resnet"):
        model = load_extractor(name, "cpu")
        x = torch.rand(2, 3, model.size, model.size)
        clean = model.embed(x)
        with model.middle_dropout(0.3):
            a, b = model.embed(x), model.embed(x)
        assert not torch.allclose(a, b) and not torch.allclose(a, clean)
        assert torch.allclose(model.embed(x), clean)  # nothing left attached


def test_region_covers_loose_views_and_reaches_into_the_context() -> None:
    from cloaker.cloak.region import VIEW_COVER, plan_region

    box = np.array([[400.0, 300.0, 500.0, 420.0]])  # 100 x 120
    lm = np.array([[[430, 340], [470, 340], [450, 365], [435, 390], [465, 390]]], float)
    crops = {
        "m": (112, np.array([[38.3, 51.7], [73.5, 51.5], [56, 71.7], [41.5, 92.4], [70.7, 92.2]]))
    }
    half = 120 * VIEW_COVER / 2  # the squared box grown for the loosest view
    aligned = plan_region((1000, 1000), lm, box, crops)
    assert np.array_equal(aligned.outer, aligned.boxes)
    assert np.array_equal(aligned.budget_boxes, aligned.boxes)
    # Without box views, no work is spent on pixels only those views would read.
    assert aligned.y0 > 360 - half and aligned.y1 < 360 + half
    plain = plan_region((1000, 1000), lm, box, crops, views=True)
    assert np.array_equal(
        plain.boxes, aligned.boxes - [plain.x0 - aligned.x0, plain.y0 - aligned.y0] * 2
    )
    assert plain.x0 <= 450 - half and plain.x1 >= 450 + half
    assert plain.y0 <= 360 - half and plain.y1 >= 360 + half
    for views in (False, True):  # the context is inside the ROI either way
        wide = plan_region((1000, 1000), lm, box, crops, context=0.3, views=views)
        ox0, oy0, ox1, oy1 = wide.outer[0]
        assert (ox1 - ox0) == pytest.approx(160, abs=1)
        assert (oy1 - oy0) == pytest.approx(192, abs=1)
    (ox0, oy0, ox1, oy1), (ix0, iy0, ix1, iy1) = wide.outer[0], wide.boxes[0]
    assert ox0 < ix0 and oy0 < iy0 and ox1 > ix1 and oy1 > iy1
    assert (ox1 - ox0) == pytest.approx(160, abs=1) and (oy1 - oy0) == pytest.approx(192, abs=1)
    assert len(wide.budget_boxes) == 2  # both regions are budgeted
    # Squared, the context is what a 1.6x box crop cuts: 1.6 times the long side each way.
    square = plan_region((1000, 1000), lm, box, crops, context=0.3, views=True, square=True)
    sx0, sy0, sx1, sy1 = square.outer[0] + [square.x0, square.y0] * 2
    assert (sx0, sy0, sx1, sy1) == pytest.approx((354, 264, 546, 456), abs=1)
    assert np.array_equal(
        square.boxes + [square.x0, square.y0] * 2, wide.boxes + [wide.x0, wide.y0] * 2
    )


def test_a_smoothed_cloak_works_on_a_coarser_grid_over_the_same_pixels() -> None:
    from cloaker.cloak.region import DETAIL, SMOOTH_DETAIL, plan_region

    box = np.array([[1200.0, 900.0, 1500.0, 1260.0]])  # a large face: the detail sets the scale
    lm = np.array([[[1290, 1020], [1410, 1020], [1350, 1095], [1305, 1170], [1395, 1170]]], float)
    crops = {
        "m": (112, np.array([[38.3, 51.7], [73.5, 51.5], [56, 71.7], [41.5, 92.4], [70.7, 92.2]]))
    }
    fine = plan_region((3000, 4000), lm, box, crops, views=True, detail=DETAIL)
    coarse = plan_region((3000, 4000), lm, box, crops, views=True, detail=SMOOTH_DETAIL)
    assert (coarse.x0, coarse.y0, coarse.x1, coarse.y1) == (fine.x0, fine.y0, fine.x1, fine.y1)
    assert coarse.scale == pytest.approx(fine.scale * SMOOTH_DETAIL / DETAIL)
    assert coarse.work_hw[0] < fine.work_hw[0] and coarse.work_hw[1] < fine.work_hw[1]


def test_loose_moves_box_views_to_the_loosest_growth(
    faces_dir: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``loose`` 1, every box-crop view the optimizer takes is a 1.6x one (level or
    turned); with 0, the growths are drawn evenly."""
    from cloaker.cloak import optimizer
    from cloaker.cloak.eot import BOX_GROW
    from cloaker.cloak.modes import MODES
    from cloaker.engine import Engine
    from cloaker.imageio import decode

    made: list[list[np.ndarray]] = []
    used: list[np.ndarray] = []
    real_presets, real_crops = optimizer.box_presets, optimizer.box_crops

    def presets(*args: object) -> list[np.ndarray]:
        made.append(real_presets(*args))
        return made[-1]

    def crops(image: torch.Tensor, preset: np.ndarray, *args: object) -> torch.Tensor:
        used.append(preset)
        return real_crops(image, preset, *args)

    monkeypatch.setattr(optimizer, "box_presets", presets)
    monkeypatch.setattr(optimizer, "box_crops", crops)
    rgb = decode((faces_dir / "people/barack_obama/1.jpg").read_bytes()).rgb
    engine = Engine(device="cpu", ensemble=("dlib_resnet",))
    growth = {}
    for loose in (1.0, 0.0):
        made.clear(), used.clear()
        mode = replace(MODES["mid"], steps=12, geometry=1.0, loose=loose)
        engine.cloak_array(rgb, mode, seed=0)
        index = [next(i for i, p in enumerate(made[0]) if p is u) for u in used]
        growth[loose] = {BOX_GROW[i // 2] for i in index}
    assert growth[1.0] == {1.6}
    assert len(growth[0.0]) > 1
