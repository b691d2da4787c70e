"""bench/pooled.py sums faces protected and eligible over probe sets and seeds before it
takes shares, and reports the worst geometry from the pooled shares."""

from __future__ import annotations

import pytest
from bench_util import import_bench


@pytest.fixture(scope="module")
def pooled():
    return import_bench("pooled")


def _point(module, name: str, counts: dict[str, dict[str, tuple[int, int]]]):
    """A point whose legs hold (protected, eligible) per geometry after JPEG q85."""
    q = module.curves.Q85
    legs = {}
    for held, by_geometry in counts.items():
        key = {g: q if g == "aligned" else f"{q}@{g}" for g in by_geometry}
        legs[held] = {
            "geometry_keys": [k for g, k in key.items() if g != "aligned"],
            "probes": ["a/1.jpg", "b/1.jpg"],
            "summary": {
                "scores": [
                    {
                        "name": held,
                        "protected": {key[g]: c[0] for g, c in by_geometry.items()},
                        "eligible": {key[g]: c[1] for g, c in by_geometry.items()},
                    }
                ]
            },
        }
    return module.curves.Point(name, legs)


def test_pools_counts_over_points_then_takes_shares(pooled) -> None:
    seed0 = _point(
        pooled,
        "s0",
        {
            "sface": {"aligned": (1, 4), "box1.0": (4, 4), "box1.6": (3, 4)},
            "dlib_resnet": {"aligned": (4, 4), "box1.0": (2, 4), "box1.6": (0, 2)},
        },
    )
    seed1 = _point(
        pooled,
        "s1",
        {
            "sface": {"aligned": (3, 4), "box1.0": (2, 4), "box1.6": (4, 4)},
            "dlib_resnet": {"aligned": (4, 4), "box1.0": (2, 4), "box1.6": (2, 6)},
        },
    )
    counts = pooled.pool([seed0, seed1])
    assert counts["aligned"] == {"sface": [4, 8], "dlib_resnet": [8, 8]}
    # dlib through box x1.6: 2 of 8 pooled (25%), not the mean of 0/2 and 2/6 (17%).
    assert counts["box1.6"]["dlib_resnet"] == [2, 8]
    s = pooled.summary(counts)
    assert s["aligned"] == pytest.approx((0.75, 0.5))
    # box1.0: (6/8 + 4/8) / 2 = 62.5%; box1.6: (7/8 + 2/8) / 2 = 56.25%, the worst.
    assert s["worst_geometry"] == ("box1.6", pytest.approx(0.5625), pytest.approx(0.25))
    assert s["all"] == pytest.approx((4 + 8 + 6 + 4 + 7 + 2) / (8 + 8 + 8 + 8 + 8 + 8))
    lines = pooled.table(counts)
    assert "| box1.6 | 88% (7/8) | 25% (2/8) | 56% | 25% |" in lines


def test_distances_are_medians_of_shares_of_each_geometry_threshold(pooled) -> None:
    q = pooled.curves.Q85
    point = _point(pooled, "p", {"sface": {"aligned": (1, 3), "box1.6": (0, 3)}})
    leg = point.legs["sface"]
    leg["calibration"] = {"sface": {"aligned": {"threshold": 1.0}, "box1.6": {"threshold": 0.5}}}
    clean = [0.4, 0.5, 0.6]
    cloaked = [0.8, 1.2, 0.9]
    leg["records"] = [
        {
            "photo": f"a/{i}.jpg",
            "clean": {"sface": {q: c, f"{q}@box1.6": c / 2}},
            "cloaked": {"sface": {q: k, f"{q}@box1.6": k / 4}},
        }
        for i, (c, k) in enumerate(zip(clean, cloaked, strict=True))
    ] + [{"photo": "failed.jpg", "error": "no face"}]
    medians = pooled.distances([point])
    assert medians["aligned"]["sface"] == pytest.approx((0.5, 0.9))
    # box x1.6: clean c/2 and cloaked k/4 against a threshold of 0.5.
    assert medians["box1.6"]["sface"] == pytest.approx((0.5, 0.45))
    assert "| box1.6 | 0.50 -> 0.45 |" in pooled.distance_table(medians)
