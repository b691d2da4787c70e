"""bench/curves.py's report from cached legs: the table, the equal-SSIM comparison and the
plot are derived correctly (the measuring itself is the benchmark's job, not a test's)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def curves():
    spec = importlib.util.spec_from_file_location("bench_curves", ROOT / "bench" / "curves.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_curves"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _leg(curves, point: str, held: str, protected: int, ssims: list[float]) -> dict:
    # Crop geometries: box1.0 protects as many faces as the aligned crop, box1.3 one fewer.
    geo = {"box1.0": protected, "box1.3": max(0, protected - 1)}
    keys = [f"{t}@{g}" for t in (curves.Q85, curves.SMALL) for g in geo]
    prot = {k: geo[k.split("@")[1]] for k in keys}
    transforms = [t for t, _ in curves.TRANSFORMS]
    return {
        "point": point,
        "params": curves.params(curves.POINTS[point]),
        "held_out": held,
        "ensemble": list(curves.ensemble_for(point, held)),
        "geometry_keys": keys,
        "probes": ["a/1.jpg", "a/2.jpg", "b/1.jpg", "b/2.jpg"],
        "machine": "test",
        "summary": {
            "scores": [
                {
                    "name": held,
                    "eligible": dict.fromkeys([*transforms, *keys], 4),
                    "protected": {**dict.fromkeys(transforms, protected), **prot},
                    "protection": {
                        **dict.fromkeys(transforms, protected / 4),
                        **{k: v / 4 for k, v in prot.items()},
                    },
                }
            ]
        },
        "records": [{"face_ssim": s, "seconds": 2.0, "faces": 1} for s in ssims],
    }


def test_report_interpolates_fawkes_at_our_ssim_and_draws(curves, tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    # ours: low at SSIM 0.98 protects 1/4 on every leg, mid at 0.96 protects 3/4 (2/4 on
    # one leg); Fawkes: 0/4 at 0.99 and 1/4 at 0.95 -> at 0.96 it interpolates to 18.75%.
    mid, low = (
        next(p for p in curves.POINTS if curves.shipped_name(p) == m) for m in ("mid", "low")
    )
    legs = {
        low: (1, [0.98]),
        mid: (3, [0.96]),
        "fawkes-low": (0, [0.99]),
        "fawkes": (1, [0.95]),
    }
    for point, (prot, ssims) in legs.items():
        for held in curves.MODELS:
            n = 2 if (point == mid and held == "sface") else prot
            doc = _leg(curves, point, held, n, ssims)
            (results / f"{point}__{held}.json").write_text(json.dumps(doc))
    # A leg computed with other parameters is stale and must not count.
    stale = _leg(curves, "b0.020", "sface", 4, [0.9])
    stale["params"] = {"dssim": 1.0}
    (results / "b0.020__sface.json").write_text(json.dumps(stale))

    args = argparse.Namespace(
        results=results,
        plot=tmp_path / "curves.png",
        dir=Path("faces"),
        limit_identities=2,
        photos_per_identity=2,
        first_identity=0,
    )
    text = curves.report(args)
    assert set(curves.load(results)) == set(legs)
    assert f"| cloaker | {mid} | mid |" in text and "0.9600 (0.9600)" in text
    assert "69%, 50%" in text  # mid: mean of 75, 75, 50, 75; worst 50
    assert "44%, 25% (box1.3)" in text  # mid's worst geometry: 50, 50, 25, 50
    assert f"| {mid} | mid | 69% | 69% | 44% |" in text  # per-geometry table
    assert "| fawkes | fawkes-low | fawkes-low |" in text
    mid_line = next(line for line in text.splitlines() if line.startswith("- **mid**"))
    assert "after JPEG q85: 69% (11/16); Fawkes interpolated at that SSIM: 19%; 3.7x" in mid_line
    low_line = next(line for line in text.splitlines() if line.startswith("- **low**"))
    assert "25% (4/16); Fawkes interpolated at that SSIM: 6%; 4.0x" in low_line
    assert args.plot.stat().st_size > 10_000


def test_interpolation_outside_the_measured_range_says_so(curves) -> None:
    pts = [
        curves.Point("fawkes-low", {h: _leg(curves, "fawkes-low", h, 0, [0.99]) for h in "ab"}),
        curves.Point("fawkes", {h: _leg(curves, "fawkes", h, 2, [0.97]) for h in "ab"}),
    ]
    for p in pts:  # the fake legs are named "a" and "b"
        for h, doc in p.legs.items():
            doc["summary"]["scores"][0]["name"] = h
    assert curves.interpolate(pts, 0.98, "raw") == (pytest.approx(0.25), True)
    assert curves.interpolate(pts, 0.95, "raw") == (pytest.approx(0.5), False)


def test_points_with_another_ensemble_keep_their_own_legs(curves, tmp_path: Path) -> None:
    """A point that adds or drops a surrogate is cached under its own ensemble: a leg
    cloaked with the plain "other three" does not stand in for it, and its row says how
    the ensemble differs."""
    assert curves.ensemble_for("mid+geo+ctx", "sface") == (
        "mobilefacenet",
        "dlib_resnet",
        "facenet_keras",
    )
    assert curves.ensemble_for("mid+arc", "sface")[-1] == curves.EXTRA
    assert "dlib_resnet" not in curves.ensemble_for("mid+arc-dlib", "sface")
    results = tmp_path / "results"
    results.mkdir()
    leg = _leg(curves, "mid+arc", "sface", 2, [0.96] * 4)
    leg["geometry_keys"] = leg["geometry_keys"] or ["x"]
    path = curves.cache_path(results, "mid+arc", "sface")
    for ensemble, fresh in (
        (["mobilefacenet", "dlib_resnet", "facenet_keras"], False),
        (list(curves.ensemble_for("mid+arc", "sface")), True),
    ):
        path.write_text(json.dumps({**leg, "ensemble": ensemble}))
        assert (curves.cached(results, "mid+arc", "sface") is not None) is fresh
    assert curves.shipped_name("mid+arc") is None
    assert curves.ensemble_note("mid+arc-dlib") == (
        f", surrogate {curves.EXTRA} added, without dlib_resnet"
    )


def test_a_leg_cached_before_an_option_was_removed_stays_valid(curves, tmp_path: Path) -> None:
    """Legs cached while ``eot`` (never read by the optimizer) was a mode option carry it at
    its old default; they still count. Any other value, or an unknown option, does not."""
    for value, valid in ((1, True), (2, False)):
        doc = _leg(curves, "t0.012", "sface", 1, [0.98])
        doc["params"]["eot"] = value
        (tmp_path / "t0.012__sface.json").write_text(json.dumps(doc))
        assert (curves.cached(tmp_path, "t0.012", "sface") is not None) is valid
    doc["params"] = {**curves.params(curves.POINTS["t0.012"]), "warp": 3}
    (tmp_path / "t0.012__sface.json").write_text(json.dumps(doc))
    assert curves.cached(tmp_path, "t0.012", "sface") is None


def test_every_shipped_mode_is_a_measured_point(curves) -> None:
    """The README's mode figures are a curve point's: each shipped mode must be one, with
    the crop-geometry legs."""
    from cloaker.cloak.modes import MODES

    for name in MODES:
        points = [p for p in curves.POINTS if curves.shipped_name(p) == name]
        assert points, name
        assert any(p in curves.NEEDS_GEOMETRY for p in points), name
