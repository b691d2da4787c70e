"""Whether a curve point moves the held-out models' distances against another, photo by photo.

    .venv/bin/python bench/paired.py mid+sc.023 mid+2s.02 \
        --results bench/results/curves bench/results/curves-b bench/results/curves-c

The protected share moves in steps of 8-10 points per photo, so a few points between two
points of the curves cannot be told from noise. Both points cloaked the same probe photos:
this pairs each held-out model's distance from the owner on the same photo, after JPEG q85,
and counts how often the second point pushed it farther and how often nearer, with the mean
change and a sign test's p, per crop geometry class (the aligned crop, box x1.0 and x1.3,
box x1.6). The geometries of one photo are not independent trials, so p is a floor rather
than an exact figure: the same point cloaked again with another seed reached p 0.004 at box
x1.6 over the three probe sets (BENCHMARKS.md). ``--per-photo`` counts one trial per photo,
held-out model and class (the change averaged over the class's geometries), a stricter
test. Reads ``bench/curves.py``'s cached legs; measures nothing.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import curves

CLASSES = ("aligned", "box x1.0 and x1.3", "box x1.6")


@dataclass
class Tally:
    farther: int = 0
    nearer: int = 0
    change: float = 0.0  # summed distance change, second point minus first
    n: int = 0

    def sign_p(self) -> float:
        """Two-sided sign test: the chance of a split at least this uneven if farther and
        nearer were equally likely (ties left out)."""
        m = self.farther + self.nearer
        k = min(self.farther, self.nearer)
        return min(1.0, 2 * sum(math.comb(m, i) for i in range(k + 1)) / 2**m) if m else 1.0

    def cell(self) -> str:
        mean = self.change / self.n if self.n else 0.0
        return f"{self.farther} / {self.nearer} of {self.n}, {mean:+.3f}, p {self.sign_p():.2g}"


def geometry_class(key: str) -> str:
    """``jpeg85`` -> aligned, ``jpeg85@box1.6@2x`` -> box x1.6, other box crops together."""
    if "@" not in key:
        return CLASSES[0]
    return CLASSES[2] if "@box1.6" in key else CLASSES[1]


def _count(t: Tally, change: float) -> None:
    t.farther += change > 0
    t.nearer += change < 0
    t.change += change
    t.n += 1


def paired(
    a: curves.Point,
    b: curves.Point,
    tally: dict[str, Tally] | None = None,
    per_photo: bool = False,
) -> dict:
    """Add ``b``'s distance change over ``a`` on every photo, held-out model and geometry both
    measured, after JPEG q85, to ``tally`` (per geometry class). ``per_photo``: one trial per
    photo, held-out model and class, its change the mean over the class's geometries."""
    tally = tally if tally is not None else {c: Tally() for c in CLASSES}
    for held in a.legs.keys() & b.legs.keys():
        ra = {r["photo"]: r for r in a.legs[held]["records"] if "cloaked" in r}
        rb = {r["photo"]: r for r in b.legs[held]["records"] if "cloaked" in r}
        for photo in sorted(ra.keys() & rb.keys()):
            da, db = ra[photo]["cloaked"][held], rb[photo]["cloaked"][held]
            changes: dict[str, list[float]] = {}
            for key in sorted(da.keys() & db.keys()):
                if key.split("@", 1)[0] == curves.Q85:
                    changes.setdefault(geometry_class(key), []).append(db[key] - da[key])
            for c, cs in changes.items():
                if per_photo:
                    _count(tally[c], sum(cs) / len(cs))
                else:
                    for change in cs:
                        _count(tally[c], change)
    return tally


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("first", help="the point compared against")
    ap.add_argument("second", help="the point whose change is counted")
    ap.add_argument("--results", type=Path, nargs="+", default=[curves.DEFAULT_RESULTS])
    ap.add_argument(
        "--per-photo",
        action="store_true",
        help="one trial per photo, held-out model and class (the geometries averaged)",
    )
    args = ap.parse_args()
    tally = {c: Tally() for c in CLASSES}
    for results in args.results:
        points = curves.load(results)
        if args.first in points and args.second in points:
            paired(points[args.first], points[args.second], tally, args.per_photo)
    print(
        f"| {args.second} against {args.first}: farther / nearer, mean change | "
        + " | ".join(CLASSES)
        + " |"
    )
    print("| --- |" + " --- |" * len(CLASSES))
    unit = ", one trial per photo and model" if args.per_photo else ""
    print(f"| after JPEG q85{unit} | " + " | ".join(tally[c].cell() for c in CLASSES) + " |")


if __name__ == "__main__":
    main()
