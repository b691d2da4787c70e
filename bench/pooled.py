"""A curve point's protection pooled over probe sets, and over seeds of the same parameters.

    .venv/bin/python bench/pooled.py mid+sweep.4,mid+sweep.4.s1 \
        --results bench/results/curves bench/results/curves-b bench/results/curves-c

One probe set holds 10-12 photos, so one seed moves its percentages by up to 10 points
(BENCHMARKS.md, "The noise of one seed"). This sums, per held-out model and crop geometry,
the faces protected and the faces eligible over every results folder and every point named
(points that are the same parameters under other seeds), after JPEG q85, and prints the
pooled shares: per geometry the mean over the held-out models and the worst of them, then
the aligned crop, the worst geometry and all seven geometries as the curves report them.
``--distances`` adds how far the cloak moved each held-out model's distance from the owner:
the medians of the clean and the cloaked distance, as shares of that geometry's threshold
(a face is protected once the cloaked share passes 1). Reads ``bench/curves.py``'s cached
legs; measures nothing.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path

import curves

Counts = dict[str, dict[str, list[int]]]  # geometry -> held-out model -> [protected, eligible]


def _key(geometry: str) -> str:
    """A geometry's key in the legs, after JPEG q85."""
    return curves.Q85 if geometry == "aligned" else f"{curves.Q85}@{geometry}"


def pool(points: Sequence[curves.Point]) -> Counts:
    """Faces protected and eligible per geometry ("aligned" for the model's own crop) and
    held-out model, summed over ``points``; only geometries every point measured."""
    geometries = ["aligned", *sorted(set.intersection(*(set(p.geometries) for p in points)))]
    out: Counts = {}
    for g in geometries:
        key = _key(g)
        per: dict[str, list[int]] = {}
        for p in points:
            for held in p.legs:
                score = p.score(held)
                c = per.setdefault(held, [0, 0])
                c[0] += score["protected"][key]
                c[1] += score["eligible"][key]
        out[g] = per
    return out


def shares(per: dict[str, list[int]]) -> dict[str, float]:
    return {held: prot / elig for held, (prot, elig) in per.items() if elig}


def summary(counts: Counts) -> dict[str, object]:
    """The aligned crop's mean (worst), the worst box geometry's, and all seven together."""
    by_g = {g: s for g, per in counts.items() if (s := shares(per))}
    mean = {g: sum(s.values()) / len(s) for g, s in by_g.items()}
    boxes = [g for g in mean if g != "aligned"]
    worst_g = min(boxes, key=lambda g: (mean[g], g)) if boxes else None
    prot = sum(c[0] for per in counts.values() for c in per.values())
    elig = sum(c[1] for per in counts.values() for c in per.values())
    return {
        "aligned": (mean["aligned"], min(by_g["aligned"].values())),
        "worst_geometry": None
        if worst_g is None
        else (worst_g, mean[worst_g], min(by_g[worst_g].values())),
        "all": prot / elig if elig else 0.0,
    }


def table(counts: Counts) -> list[str]:
    models = list(dict.fromkeys(h for per in counts.values() for h in per))
    lines = [
        "| geometry | " + " | ".join(models) + " | mean | worst |",
        "| --- |" + " --- |" * (len(models) + 2),
    ]
    for g, per in counts.items():
        s = shares(per)
        cells = [f"{s[m]:.0%} ({per[m][0]}/{per[m][1]})" if m in s else "n/a" for m in models]
        lines.append(
            f"| {g} | "
            + " | ".join(cells)
            + f" | {sum(s.values()) / len(s):.0%} | {min(s.values()):.0%} |"
        )
    return lines


def distances(points: Sequence[curves.Point]) -> dict[str, dict[str, tuple[float, float]]]:
    """Per geometry and held-out model, the medians over every cloaked photo of the clean
    and the cloaked distance from the owner, each divided by the geometry's threshold."""
    ratios: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for p in points:
        for held, leg in p.legs.items():
            cal = leg["calibration"][held]
            for r in leg["records"]:
                if "cloaked" not in r:
                    continue
                for g, c in cal.items():
                    key = _key(g)
                    clean, cloaked = r["clean"][held].get(key), r["cloaked"][held].get(key)
                    if clean is None or cloaked is None:
                        continue
                    t = c["threshold"]
                    ratios.setdefault(g, {}).setdefault(held, []).append((clean / t, cloaked / t))
    return {
        g: {
            held: (statistics.median(v[0] for v in vs), statistics.median(v[1] for v in vs))
            for held, vs in per.items()
        }
        for g, per in ratios.items()
    }


def distance_table(medians: dict[str, dict[str, tuple[float, float]]]) -> list[str]:
    models = list(dict.fromkeys(h for per in medians.values() for h in per))
    lines = [
        "| geometry | " + " | ".join(models) + " |",
        "| --- |" + " --- |" * len(models),
    ]
    for g, per in medians.items():
        cells = [f"{per[m][0]:.2f} -> {per[m][1]:.2f}" if m in per else "n/a" for m in models]
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("points", help="point[,point...]: the same parameters under other seeds")
    ap.add_argument("--results", type=Path, nargs="+", default=[curves.DEFAULT_RESULTS])
    ap.add_argument(
        "--distances",
        action="store_true",
        help="also the median clean -> cloaked distance, as shares of the threshold",
    )
    args = ap.parse_args()
    names = [p for p in args.points.split(",") if p]
    found = []
    for results in args.results:
        loaded = curves.load(results)
        found += [loaded[n] for n in names if n in loaded]
    if not found:
        raise SystemExit(f"none of {', '.join(names)} has every leg in {args.results}")
    counts = pool(found)
    s = summary(counts)
    photos = sum(len(p.legs[next(iter(p.legs))]["probes"]) for p in found)
    print(f"{len(found)} point-sets pooled, {photos} cloaked photos; after JPEG q85\n")
    print("\n".join(table(counts)))
    al, al_worst = s["aligned"]
    print(f"\naligned {al:.0%} ({al_worst:.0%})", end="")
    if s["worst_geometry"] is not None:
        g, m, w = s["worst_geometry"]
        print(f"; worst geometry {m:.0%} ({w:.0%}), {g}", end="")
    print(f"; all seven geometries {s['all']:.0%}")
    if args.distances:
        print("\nMedian distance from the owner, clean -> cloaked, as a share of the threshold:\n")
        print("\n".join(distance_table(distances(found))))


if __name__ == "__main__":
    main()
