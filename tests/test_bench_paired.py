"""bench/paired.py pairs two curve points' held-out distances photo by photo."""

from __future__ import annotations

import pytest
from bench_util import import_bench


@pytest.fixture(scope="module")
def paired():
    return import_bench("paired")


def _point(module, name: str, distances: dict[str, dict[str, dict[str, float]]]):
    """A point whose leg for each held-out model holds one record per photo."""
    legs = {
        held: {
            "records": [{"photo": photo, "cloaked": {held: d}} for photo, d in by_photo.items()]
            + [{"photo": "failed.jpg", "error": "no face"}]
        }
        for held, by_photo in distances.items()
    }
    return module.curves.Point(name, legs)


def test_pairs_the_same_photo_and_geometry_and_counts_each_way(paired) -> None:
    a = _point(
        paired,
        "a",
        {
            "sface": {
                "p/1.jpg": {"jpeg85": 0.5, "jpeg85@box1.6": 0.3, "raw": 0.1},
                "p/2.jpg": {"jpeg85": 0.6, "jpeg85@box1.0@2x": 0.4},
                "only-a.jpg": {"jpeg85": 0.0},
            }
        },
    )
    b = _point(
        paired,
        "b",
        {
            "sface": {
                "p/1.jpg": {"jpeg85": 0.7, "jpeg85@box1.6": 0.2, "raw": 9.0},
                "p/2.jpg": {"jpeg85": 0.6, "jpeg85@box1.0@2x": 0.5},
            }
        },
    )
    t = paired.paired(a, b)
    aligned, mid, loose = (t[c] for c in paired.CLASSES)
    # Photo 1 farther, photo 2 a tie; the raw transform and the unpaired photo are left out.
    assert (aligned.farther, aligned.nearer, aligned.n) == (1, 0, 2)
    assert aligned.change == pytest.approx(0.2)
    assert (mid.farther, mid.nearer, mid.n) == (1, 0, 1)
    assert (loose.farther, loose.nearer, loose.n) == (0, 1, 1)
    assert loose.change == pytest.approx(-0.1)


def test_the_sign_test_is_two_sided_and_even_splits_are_not_evidence(paired) -> None:
    assert paired.Tally(farther=5, nearer=5, n=10).sign_p() == 1.0
    # 9 of 10 one way: 2 * (1 + 10) / 1024.
    assert paired.Tally(farther=9, nearer=1, n=10).sign_p() == pytest.approx(22 / 1024)
    assert paired.Tally(farther=1, nearer=9, n=10).sign_p() == pytest.approx(22 / 1024)
    assert paired.Tally().sign_p() == 1.0


def test_per_photo_counts_one_trial_per_photo_model_and_class(paired) -> None:
    # Box x1.6 and its 2x cut move opposite ways on photo 1; box x1.0 and x1.3 both farther.
    a = _point(
        paired,
        "a",
        {
            "dlib_resnet": {
                "p/1.jpg": {
                    "jpeg85@box1.6": 0.30,
                    "jpeg85@box1.6@2x": 0.30,
                    "jpeg85@box1.0": 0.2,
                    "jpeg85@box1.3": 0.2,
                },
                "p/2.jpg": {"jpeg85@box1.6": 0.4, "jpeg85@box1.6@2x": 0.4},
            }
        },
    )
    b = _point(
        paired,
        "b",
        {
            "dlib_resnet": {
                "p/1.jpg": {
                    "jpeg85@box1.6": 0.35,
                    "jpeg85@box1.6@2x": 0.27,
                    "jpeg85@box1.0": 0.3,
                    "jpeg85@box1.3": 0.25,
                },
                "p/2.jpg": {"jpeg85@box1.6": 0.3, "jpeg85@box1.6@2x": 0.3},
            }
        },
    )
    each = paired.paired(a, b)
    assert (each[paired.CLASSES[2]].farther, each[paired.CLASSES[2]].nearer) == (1, 3)
    assert (each[paired.CLASSES[1]].farther, each[paired.CLASSES[1]].n) == (2, 2)
    t = paired.paired(a, b, per_photo=True)
    _, mid, loose = (t[c] for c in paired.CLASSES)
    # Photo 1's loose crops: (+0.05 - 0.03) / 2 = +0.01, one trial; photo 2's: -0.1.
    assert (loose.farther, loose.nearer, loose.n) == (1, 1, 2)
    assert loose.change == pytest.approx(0.01 - 0.1)
    assert (mid.farther, mid.nearer, mid.n) == (1, 0, 1)
    assert mid.change == pytest.approx(0.075)
