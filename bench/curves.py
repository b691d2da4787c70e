"""Held-out protection against visibility: Cloaker at several budgets and the Fawkes
presets, leave one model out, after the re-encodings sites apply.

    .venv/bin/python bench/curves.py ../shared/faces/people

For every point (one method at one budget) and every model in turn held out, an engine whose
ensemble is the other models cloaks the probe photos and the held-out model judges them
(MODELS.md, "Holding a model out"). Visibility is the luminance SSIM of the main face box at
native resolution, the same measure for every method. Writes:

- ``bench/results/curves/<point>__<held-out>.json``: that leg's records. A run skips legs
  already there with the same parameters, so it resumes where it stopped and new points add
  to old ones (``--points`` picks which to run; ``--report-only`` runs nothing);
- ``docs/curves.png``: protection (mean over the held-out models, worst as a dashed line)
  against face SSIM, one panel per transform;
- the table in BENCHMARKS.md between ``<!-- curves:start -->`` and ``<!-- curves:end -->``,
  with each method's protection interpolated at the SSIM of our mid mode.

A benchmark, not a test: it asserts nothing and takes about an hour on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import platform
import statistics
import subprocess
import sys
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloaker.cloak.modes import FAWKES_MODES, MODES, FawkesMode, Mode  # noqa: E402

MODELS = ("mobilefacenet", "dlib_resnet", "sface", "facenet_keras")
Q85, SMALL = "jpeg85", "resize1080_jpeg75"
TRANSFORMS = (("raw", "raw"), ("jpeg85", "JPEG q85"), ("resize1080_jpeg75", "1080 px + q75"))
DEFAULT_RESULTS = ROOT / "bench/results/curves"


def markers(results: Path) -> tuple[str, str]:
    """The comments around a results folder's section in the markdown file."""
    return f"<!-- {results.name}:start -->", f"<!-- {results.name}:end -->"


# Our budget sweeps, every parameter spelled out so cached legs stay valid when the shipped
# modes move. Shipped family: gradient smoothing on, colour limited.
SMOOTHED: dict[str, Mode] = {
    "t0.012": Mode("t0.012", 12 / 255, 0.012, 30, 1.6, chroma=0.3, smooth=0.02),
    "t0.020": Mode("t0.020", 16 / 255, 0.02, 20, 2.0, chroma=0.3, smooth=0.02),
    "t0.030": Mode("t0.030", 20 / 255, 0.03, 40, 2.0, chroma=0.3, smooth=0.02),
}
# The same without smoothing (the modes shipped before the curves).
UNSMOOTHED: dict[str, Mode] = {
    "b0.006": Mode("b0.006", 8 / 255, 0.006, 20, 1.3, chroma=0.3),
    "b0.012": Mode("b0.012", 12 / 255, 0.012, 30, 1.6, chroma=0.3),
    "b0.016": Mode("b0.016", 14 / 255, 0.016, 35, 1.8, chroma=0.3),
    "b0.020": Mode("b0.020", 16 / 255, 0.02, 40, 2.0, chroma=0.3),
}
# Transfer levers, each on its own against one baseline: mid's old budget with a
# free-colour cloak (``rgb-mid``), as mid was before the colour limit.
RGB_MID = Mode("rgb-mid", 12 / 255, 0.012, 30, 1.6)
LEVERS: dict[str, Mode] = {
    "rgb-mid": RGB_MID,
    "mid+ti": replace(RGB_MID, name="mid+ti", smooth=0.02),
    "mid+noise": replace(RGB_MID, name="mid+noise", noise=0.03),
    "mid+tex": replace(UNSMOOTHED["b0.012"], name="mid+tex", texture=1.0),
    "low+feat": replace(SMOOTHED["t0.012"], name="low+feat", feature=1.0),
    "mid@30": replace(SMOOTHED["t0.020"], name="mid@30", steps=30),
    "mid@40": replace(SMOOTHED["t0.020"], name="mid@40", steps=40),
}
# Crop-geometry levers (issue 13), each measured with the geometry legs.
MID = SMOOTHED["t0.020"]
# The smoothed cloak at the budget that keeps mid's face SSIM (shipped as mid), and its variants.
SC_MID = replace(
    MID, name="mid+sc.023", dssim=0.023, geometry=0.5, context=0.3, steps=30, smooth_cloak=True
)
# mid as shipped: its context ring projected apart.
SC_RING = replace(SC_MID, name="mid+sc+ring", ring=True)
# mid as shipped now: the share of box views moving from 30% to 70% over the steps.
SC_SWEEP = replace(SC_RING, name="mid+sweep.4", geometry_sweep=0.4)
# mid's recipe at low's and high's budgets, the bases of their variants.
SC_LOW = replace(SC_MID, name="low+sc+geo.016", linf=12 / 255, dssim=0.016, target=1.6)
SC_HIGH = replace(SC_MID, name="high+sc+geo", linf=20 / 255, dssim=0.03, steps=40)
GEO_LEVERS: dict[str, Mode] = {
    "mid+geo": replace(MID, name="mid+geo", geometry=0.5),
    "mid+drop": replace(MID, name="mid+drop", dropout=0.1),
    "mid+geo+drop": replace(MID, name="mid+geo+drop", geometry=0.5, dropout=0.1),
    "mid+geo+sub2@30": replace(MID, name="mid+geo+sub2@30", geometry=0.5, subset=2, steps=30),
    "mid+geo+ctx": replace(MID, name="mid+geo+ctx", geometry=0.5, context=0.3),
    "mid+geo.7+ctx": replace(MID, name="mid+geo.7+ctx", geometry=0.7, context=0.3),
    "mid+geo.3+ctx": replace(MID, name="mid+geo.3+ctx", geometry=0.3, context=0.3),
    "mid+geo+ctx@30": replace(MID, name="mid+geo+ctx@30", geometry=0.5, context=0.3, steps=30),
    "mid.022": replace(MID, name="mid.022", dssim=0.022, geometry=0.5, context=0.3),
    "mid.025": replace(MID, name="mid.025", dssim=0.025, geometry=0.5, context=0.3),
    "mid+arc": replace(MID, name="mid+arc", geometry=0.5, context=0.3),
    "mid+loose": replace(MID, name="mid+loose", geometry=0.5, context=0.3, loose=0.4),
    "mid+arc+loose": replace(MID, name="mid+arc+loose", geometry=0.5, context=0.3, loose=0.4),
    "mid+arc-dlib": replace(MID, name="mid+arc-dlib", geometry=0.5, context=0.3),
    "mid+bal": replace(MID, name="mid+bal", geometry=0.5, context=0.3, balance=True),
    "mid+ring": replace(MID, name="mid+ring", geometry=0.5, context=0.3, ring=True),
    "mid+sgm": replace(
        MID, name="mid+sgm", geometry=0.5, context=0.3, steps=30, sgm=0.5, balance=True
    ),
    "mid+sgm+geo.3": replace(
        MID, name="mid+sgm+geo.3", geometry=0.3, context=0.3, steps=30, sgm=0.5, balance=True
    ),
    "mid+geo+ctx@40": replace(MID, name="mid+geo+ctx@40", geometry=0.5, context=0.3, steps=40),
    "mid+ti.03": replace(MID, name="mid+ti.03", geometry=0.5, context=0.3, steps=30, smooth=0.03),
    "mid+sc": replace(MID, name="mid+sc", geometry=0.5, context=0.3, steps=30, smooth_cloak=True),
    "mid+sc.023": SC_MID,
    "mid+sc.023c": replace(SC_MID, name="mid+sc.023c", chroma=0.2),
    "mid+sc.023+loose": replace(SC_MID, name="mid+sc.023+loose", loose=0.4),
    "mid+sq": replace(SC_MID, name="mid+sq", square_context=True),
    "mid+sq.35": replace(SC_MID, name="mid+sq.35", square_context=True, context=0.35),
    "mid+hinge1.3": replace(SC_MID, name="mid+hinge1.3", hinge=True, target=1.3),
    "mid+sc.025": replace(SC_MID, name="mid+sc.025", dssim=0.025),
    "mid+sc.015": replace(SC_MID, name="mid+sc.015", smooth=0.015),
    "mid+sc.015.021": replace(SC_MID, name="mid+sc.015.021", smooth=0.015, dssim=0.021),
    "mid+sc.03": replace(SC_MID, name="mid+sc.03", smooth=0.03),
    "mid+sc.03.026": replace(SC_MID, name="mid+sc.03.026", smooth=0.03, dssim=0.026),
    # A two-scale cloak: a narrow field and a wide one, summed.
    "mid+2s": replace(SC_MID, name="mid+2s", smooth=0.015, smooth_wide=0.03),
    "mid+2s.02": replace(SC_MID, name="mid+2s.02", smooth=0.02, smooth_wide=0.04),
    "mid+2s.06": replace(SC_MID, name="mid+2s.06", smooth=0.02, smooth_wide=0.06),
    "mid+2s.03": replace(SC_MID, name="mid+2s.03", smooth=0.02, smooth_wide=0.03),
    # More diversity in every view: mirrored crops, lighting changes.
    "mid+flip": replace(SC_MID, name="mid+flip", flip=0.5),
    "mid+photo": replace(SC_MID, name="mid+photo", photometric=0.2),
    # Each view pushed away from the identity rather than from its own clean embedding.
    "mid+refc": replace(SC_MID, name="mid+refc", reference="centroid"),
    "mid+refa": replace(SC_MID, name="mid+refa", reference="aligned"),
    "mid+refx": replace(SC_MID, name="mid+refx", reference="exact"),
    "mid+sc+ring": SC_RING,
    # With the ring apart, a larger or squared reach into the surroundings.
    "mid+ring.4": replace(SC_MID, name="mid+ring.4", ring=True, context=0.4),
    "mid+ring+sq": replace(SC_MID, name="mid+ring+sq", ring=True, square_context=True),
    # The budget's projection and penalty: the projection repeated until the face is within
    # budget (so the penalty never acts), also with a smaller step; the penalty acting
    # from below the budget; mid at a smaller budget, for equal visibility.
    "mid+settle": replace(SC_RING, name="mid+settle", settle=3),
    "mid+settle.r16": replace(SC_RING, name="mid+settle.r16", settle=3, rate=1 / 16),
    "mid+slack.r16": replace(SC_RING, name="mid+slack.r16", slack=0.03, rate=1 / 16),
    "mid+slack-.03": replace(SC_RING, name="mid+slack-.03", slack=-0.03),
    "mid+slack-.1": replace(SC_RING, name="mid+slack-.1", slack=-0.1),
    "mid+ring.019": replace(SC_RING, name="mid+ring.019", dssim=0.019),
    # Adam's step, halved and doubled.
    "mid+r.125": replace(SC_RING, name="mid+r.125", rate=0.125),
    "mid+r.5": replace(SC_RING, name="mid+r.5", rate=0.5),
    # The cloak returned as the mean over the last third or half of the steps.
    "mid+avg.33": replace(SC_RING, name="mid+avg.33", average=1 / 3),
    "mid+avg.5": replace(SC_RING, name="mid+avg.5", average=0.5),
    # The surroundings given a larger budget than the face.
    "mid+rb1.2": replace(SC_RING, name="mid+rb1.2", ring_budget=1.2),
    "mid+rb1.4": replace(SC_RING, name="mid+rb1.4", ring_budget=1.4),
    # More of the views through detector-box crops.
    "mid+geo.65": replace(SC_RING, name="mid+geo.65", geometry=0.65),
    "mid+geo.8": replace(SC_RING, name="mid+geo.8", geometry=0.8),
    # The share of box views moving over the steps: aligned first, or boxes first.
    "mid+sweep.4": SC_SWEEP,
    "mid+sweep-.4": replace(SC_RING, name="mid+sweep-.4", geometry_sweep=-0.4),
    "mid+sweep.2": replace(SC_RING, name="mid+sweep.2", geometry_sweep=0.2),
    # The sweep's end moved: to 65% box views (from 25%), or the sweep widened to 20% -> 80%.
    "mid+sw.45": replace(SC_RING, name="mid+sw.45", geometry=0.45, geometry_sweep=0.4),
    "mid+sweep.6": replace(SC_RING, name="mid+sweep.6", geometry_sweep=0.6),
    # mid's recipe (box views, context, smoothed cloak) at low's and high's budgets.
    "low+sc+geo": replace(SC_MID, name="low+sc+geo", linf=12 / 255, dssim=0.012, target=1.6),
    "high+sc+geo": SC_HIGH,
    "low+sc+geo.016": SC_LOW,
    "high+sc": replace(SMOOTHED["t0.030"], name="high+sc", smooth_cloak=True),
    # low and high with the two-scale cloak.
    "low+2s": replace(SC_LOW, name="low+2s", smooth_wide=0.04),
    "high+2s": replace(SC_HIGH, name="high+2s", smooth_wide=0.04),
    # low and high with the context ring projected apart.
    "low+ring": replace(SC_LOW, name="low+ring", smooth_wide=0.04, ring=True),
    "high+ring": replace(SC_HIGH, name="high+ring", ring=True),
    # high with mid's sweep of box views.
    "high+sweep.4": replace(SC_HIGH, name="high+sweep.4", geometry_sweep=0.4),
    # mid again with other random draws (views, shifts, transforms): the noise of one seed.
    "mid+sweep.4.s1": replace(SC_SWEEP, name="mid+sweep.4.s1"),
    # A control, not a cloak: noise shaped as mid's cloak (blur, colour, reach), no
    # optimization, scaled onto a budget that leaves it more visible than mid (face SSIM
    # 0.957-0.960; at mid's own budget noise is less visible than mid's cloak, 0.978 on the
    # first set): what visibility alone moves. The cap is lifted so that it does not shape
    # the noise (at 16/255 it hardly does: the same face SSIM within 0.0004, two photos).
    "mid+rand": replace(
        SC_SWEEP, name="mid+rand", steps=0, random_start=1.0, linf=0.25, dssim=0.04
    ),
    "mid+sgm-box": replace(
        MID,
        name="mid+sgm-box",
        geometry=0.5,
        context=0.3,
        steps=30,
        sgm=0.5,
        sgm_box=True,
        balance=True,
    ),
}
# Points whose ensemble is not simply "the other three": surrogates added to every leg (never
# held out, so never judged) and surrogates dropped.
EXTRA = "arcface_mbf"
ENSEMBLE_CHANGE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "mid+arc": ((EXTRA,), ()),
    "mid+arc-dlib": ((EXTRA,), ("dlib_resnet",)),
    "mid+arc+loose": ((EXTRA,), ()),
}


# Points cloaked with another seed than 0 (the optimizer's random draws), so that the noise of
# one seed can be told from a lever's effect.
SEEDS: dict[str, int] = {"mid+sweep.4.s1": 1}


def seed_of(point: str) -> int:
    return SEEDS.get(point, 0)


def ensemble_for(point: str, held: str) -> tuple[str, ...]:
    """The surrogates a point's cloak is optimized against when ``held`` is left out."""
    add, drop = ENSEMBLE_CHANGE.get(point, ((), ()))
    return tuple(m for m in MODELS if m != held and m not in drop) + add


POINTS: dict[str, Mode | FawkesMode] = {
    **SMOOTHED,
    **UNSMOOTHED,
    **FAWKES_MODES,
    **LEVERS,
    **GEO_LEVERS,
}
# Points whose legs must carry the crop-geometry measurements (a cached leg without them is
# measured again); the others are history, shown with n/a in the geometry columns.
# All three Fawkes presets are measured through the geometries too.
NEEDS_GEOMETRY = frozenset({"t0.012", "t0.020", "t0.030", *FAWKES_MODES, *GEO_LEVERS})


def method(point: str) -> str:
    if point in FAWKES_MODES:
        return "fawkes"
    if point in LEVERS:
        return "lever"
    if point in GEO_LEVERS:
        return "cloaker" if shipped_name(point) else "geometry lever"
    if point in SMOOTHED:
        # A smoothed point no mode ships any more (mid before the crop-geometry levers).
        return "cloaker" if shipped_name(point) else "earlier mode"
    return "no smoothing"


def params(mode: Mode | FawkesMode) -> dict[str, object]:
    """A point's parameters, without those at their defaults (so legs cached before a new
    option existed still match)."""
    return _norm(type(mode), {k: v for k, v in asdict(mode).items() if k != "name"})


# Mode options since removed, with the value every cached leg used (their default then,
# which the optimizer never read): such a leg is still valid.
REMOVED_OPTIONS: dict[str, object] = {"eot": 1}


def _norm(kind: type, values: dict[str, object]) -> dict[str, object]:
    defaults = {f.name: f.default for f in fields(kind) if f.default is not MISSING}
    defaults = {**REMOVED_OPTIONS, **defaults}
    return {k: v for k, v in values.items() if k not in defaults or defaults[k] != v}


def shipped_name(point: str) -> str | None:
    """Which shipped mode (low/mid/high, or a Fawkes preset) this point is, if any."""
    if point in FAWKES_MODES:
        return point
    if point in ENSEMBLE_CHANGE or point in SEEDS:
        return None
    for name, mode in MODES.items():
        if params(mode) == params(POINTS[point]):
            return name
    return None


def cache_path(results: Path, point: str, held: str) -> Path:
    return results / f"{point}__{held}.json"


def cached(results: Path, point: str, held: str) -> dict | None:
    path = cache_path(results, point, held)
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    mode = POINTS[point]
    if _norm(type(mode), doc.get("params", {})) != params(mode):
        return None
    if point in NEEDS_GEOMETRY and not doc.get("geometry_keys"):
        return None
    if tuple(doc.get("ensemble", ())) != ensemble_for(point, held):
        return None
    if doc.get("seed", 0) != seed_of(point):
        return None
    return doc


def calibration(args: argparse.Namespace, engine: object) -> dict:
    """Per model and geometry, the threshold calibrated on clean photos of every identity in
    the folder (cached in ``calibration.json``: the same thresholds for every point)."""
    from cloaker.evaluation import geometry, harness
    from cloaker.models.zoo import load_extractor

    path = args.results / "calibration.json"
    if path.exists():
        return json.loads(path.read_text())
    photos, _ = harness.select_photos(harness.find_identities(args.dir))
    models = {m: load_extractor(m, engine.device) for m in MODELS}
    cal = harness.calibrate_models(
        engine, models, photos, geometry.GEOMETRIES, progress=lambda line: print("  " + line)
    )
    doc = {
        "photos": len(photos),
        "identities": len({p.identity for p in photos}),
        "models": {m: {g: c.to_json() for g, c in cal[m].items()} for m in MODELS},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def run_legs(args: argparse.Namespace, points: list[str]) -> None:
    """Cloak and measure every (point, held-out model) leg not yet in the cache."""
    import torch

    from cloaker.engine import Engine
    from cloaker.evaluation import geometry, harness

    if args.threads:
        torch.set_num_threads(args.threads)
    identities = dict(list(harness.find_identities(args.dir).items())[args.first_identity :])
    probes, gallery = harness.select_photos(
        identities,
        limit_identities=args.limit_identities,
        photos_per_identity=args.photos_per_identity,
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    for held, point_group in itertools.product(args.held, _by_ensemble(points)):
        todo = [p for p in point_group if cached(args.results, p, held) is None]
        if not todo:
            continue
        ensemble = ensemble_for(todo[0], held)
        engine = Engine(device=args.device, ensemble=ensemble)
        engine.warm()
        cal = calibration(args, engine)["models"][held]
        print(f"held out {held}: ensemble {', '.join(ensemble)}; points {todo}", flush=True)
        ev = harness.evaluate(
            engine,
            probes,
            [POINTS[p] for p in todo],
            heldout=(held,),
            gallery=gallery,
            progress=lambda line: print("  " + line, flush=True),
            geometries=geometry.GEOMETRIES,
            calibration={held: {g: geometry.Calibration(**c) for g, c in cal.items()}},
            seed=seed_of(todo[0]),
        )
        doc = ev.to_json()
        for p in todo:
            out = {
                "point": p,
                "method": method(p),
                "params": params(POINTS[p]),
                "held_out": held,
                "ensemble": list(ensemble),
                "probes": [ph.key for ph in probes],
                "commit": commit,
                "date": str(dt.date.today()),
                "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, "
                f"device {engine.device}",
                "summary": doc["modes"][p],
                "geometry_keys": doc["geometry_keys"],
                "calibration": doc["calibration"],
                "records": [r for r in doc["records"] if r["mode"] == p],
                "skipped": doc["skipped"],
                **({"seed": seed_of(p)} if p in SEEDS else {}),
            }
            path = cache_path(args.results, p, held)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(out, indent=1) + "\n")


def _by_ensemble(points: list[str]) -> list[list[str]]:
    """Points grouped by how their ensemble is changed and by seed (one engine and one
    evaluation per group and leg)."""
    groups: dict[object, list[str]] = {}
    for p in points:
        groups.setdefault((ENSEMBLE_CHANGE.get(p), seed_of(p)), []).append(p)
    return list(groups.values())


@dataclass
class Point:
    """One point's figures over its legs (held-out models)."""

    name: str
    legs: dict[str, dict]  # held-out model -> cached document

    def score(self, held: str) -> dict:
        """The held-out model's score in that leg's summary."""
        return next(s for s in self.legs[held]["summary"]["scores"] if s["name"] == held)

    def protection(self, transform: str) -> dict[str, float]:
        """Per held-out model: the share of eligible faces it no longer verifies."""
        out = {}
        for held in self.legs:
            score = self.score(held)
            p = score["protection"].get(transform)
            if p is not None:
                out[held] = p
        return out

    def counts(self, transform: str) -> tuple[int, int]:
        prot = elig = 0
        for held in self.legs:
            score = self.score(held)
            prot += score["protected"][transform]
            elig += score["eligible"][transform]
        return prot, elig

    def mean(self, transform: str) -> float:
        return statistics.fmean(self.protection(transform).values())

    def worst(self, transform: str) -> float:
        return min(self.protection(transform).values())

    @property
    def geometries(self) -> list[str]:
        """The crop geometries every leg measured (none for history points)."""
        keys = [set(d.get("geometry_keys", [])) for d in self.legs.values()]
        common = set.intersection(*keys) if keys else set()
        return sorted({k.split("@", 1)[1] for k in common if k.startswith(Q85 + "@")})

    def by_geometry(self, transform: str) -> dict[str, float]:
        """Mean protection over the legs, per geometry ("aligned" included)."""
        out = {"aligned": self.mean(transform)}
        for g in self.geometries:
            if len(self.protection(f"{transform}@{g}")) == len(self.legs):
                out[g] = self.mean(f"{transform}@{g}")
        return out

    def worst_geometry(self, transform: str) -> tuple[str, float, float] | None:
        """(geometry, mean over legs, worst leg) of the geometry with the lowest mean; None
        without geometry legs."""
        per = {g: v for g, v in self.by_geometry(transform).items() if g != "aligned"}
        if not per:
            return None
        g = min(per, key=lambda k: (per[k], k))
        key = f"{transform}@{g}"
        return g, self.mean(key), self.worst(key)

    def records(self) -> list[dict]:
        return [r for doc in self.legs.values() for r in doc["records"]]

    @property
    def ssim(self) -> float:
        return statistics.fmean(r["face_ssim"] for r in self.records())

    @property
    def surround(self) -> str:
        vals = [r["surround_ssim"] for r in self.records() if r.get("surround_ssim")]
        return f"{statistics.fmean(vals):.4f}" if vals else "n/a"

    @property
    def ssim_min(self) -> float:
        return min(r["face_ssim"] for r in self.records())

    @property
    def seconds_per_face(self) -> float:
        """CPU seconds per face: with one torch thread, the wall-clock time on an idle core,
        and unlike wall-clock time not inflated by benchmarks running side by side."""
        return statistics.fmean(
            (r.get("cpu_seconds") or r["seconds"]) / max(1, r["faces"]) for r in self.records()
        )

    @property
    def colour_shift(self) -> str:
        shifts = [r["face_colour_shift"] for r in self.records() if r.get("face_colour_shift")]
        return f"{statistics.fmean(shifts):.1f} ({max(shifts):.1f})" if shifts else "n/a"


def load(results: Path) -> dict[str, Point]:
    points = {}
    for name in POINTS:
        legs = {h: d for h in MODELS if (d := cached(results, name, h)) is not None}
        if len(legs) == len(MODELS):  # a point counts only with every leg measured
            points[name] = Point(name, legs)
    return points


def interpolate(curve: list[Point], ssim: float, transform: str) -> tuple[float, bool]:
    """Mean protection of a method at ``ssim``, linear between its points; (value, whether
    ``ssim`` lies within the measured range; outside it the nearest point stands in)."""
    pts = sorted(curve, key=lambda p: p.ssim)
    if ssim <= pts[0].ssim:
        return pts[0].mean(transform), ssim == pts[0].ssim
    if ssim >= pts[-1].ssim:
        return pts[-1].mean(transform), ssim == pts[-1].ssim
    for a, b in itertools.pairwise(pts):
        if a.ssim <= ssim <= b.ssim:
            t = (ssim - a.ssim) / (b.ssim - a.ssim)
            return a.mean(transform) + t * (b.mean(transform) - a.mean(transform)), True
    raise AssertionError("unreachable")


def describe(mode: Mode | FawkesMode) -> str:
    if isinstance(mode, FawkesMode):
        return f"DSSIM {mode.th} (112-px crop), {mode.steps} steps"
    text = (
        f"DSSIM {mode.dssim} (face region, 112 px), L-inf {round(mode.linf * 255)}/255, "
        f"{mode.steps} steps"
    )
    extras = {
        "chroma": f"colour x{mode.chroma}",
        "smooth": f"{'cloak' if mode.smooth_cloak else 'gradient'} smoothing {mode.smooth}",
        "noise": f"model noise {mode.noise}",
        "texture": f"texture mask ^{mode.texture}",
        "feature": f"middle-layer loss x{mode.feature}",
        "geometry": f"box crops {mode.geometry:.0%} of views",
        "dropout": f"feature dropout {mode.dropout}",
        "subset": f"{mode.subset} surrogates per step",
        "context": f"cloak reaches {mode.context} of the box beyond it",
        "loose": f"{mode.loose:.0%} of box views moved to the 1.6x growth",
        "balance": "surrogate gradients balanced",
        "ring": "context ring projected apart",
        "sgm": f"skip gradient method {mode.sgm}",
        "sgm_box": "on the box views only",
        "hinge": f"views past {mode.target}x a surrogate's threshold stop pulling",
        "square_context": "that box squared to its long side first",
        "smooth_wide": f"plus a field smoothed {mode.smooth_wide}",
        "flip": f"{mode.flip:.0%} of views mirrored",
        "photometric": f"brightness and contrast jitter {mode.photometric}",
        "reference": f"every view pushed from the clean face's {mode.reference} embedding",
        "settle": f"rescaled up to {mode.settle + 1} times a step onto the budget",
        "slack": f"penalty past {1 + mode.slack:.2f}x the budget",
        "rate": f"step {mode.rate:g} of the cap",
        "average": f"the mean cloak of the last {mode.average:.0%} of the steps",
        "ring_budget": f"surroundings' budget x{mode.ring_budget}",
        "random_start": f"starting from noise of {mode.random_start:g}x the cap",
        "geometry_sweep": (
            f"moving from {mode.geometry - mode.geometry_sweep / 2:.0%} to "
            f"{mode.geometry + mode.geometry_sweep / 2:.0%} over the steps"
        ),
    }
    for key in params(mode):
        if key in extras:
            text += f", {extras[key]}"
    return text


def ensemble_note(point: str) -> str:
    """How a point's ensemble differs from "the other three", and its seed if not 0, for the
    budget column."""
    add, drop = ENSEMBLE_CHANGE.get(point, ((), ()))
    seed = f", seed {seed_of(point)}" if point in SEEDS else ""
    return (
        "".join(f", surrogate {m} added" for m in add)
        + "".join(f", without {m}" for m in drop)
        + seed
    )


def _geo_cell(pt: Point, transform: str) -> str:
    worst = pt.worst_geometry(transform)
    if worst is None:
        return "n/a"
    g, mean, low = worst
    return f"{mean:.0%}, {low:.0%} ({g})"


def table(
    points: dict[str, Point], methods: tuple[str, ...], extra: tuple[str, ...] = ()
) -> list[str]:
    head = (
        "| method | point | mode | budget | face SSIM mean (min) | surroundings SSIM | "
        "colour shift mean (max) | raw, aligned: mean, worst | JPEG q85, aligned: mean, worst | "
        "JPEG q85, worst geometry: mean, worst | 1080 px + q75, aligned: mean, worst | "
        "1080 px + q75, worst geometry: mean, worst | q85 aligned protected / eligible | "
        "CPU s per face |"
    )
    rows = [head, "|" + " --- |" * 14]
    chosen = {n: p for n, p in points.items() if method(n) in methods or n in extra}
    for name, pt in sorted(chosen.items(), key=lambda kv: (method(kv[0]), -kv[1].ssim)):
        prot, elig = pt.counts(Q85)
        cells = [
            f"{pt.mean('raw'):.0%}, {pt.worst('raw'):.0%}",
            f"{pt.mean(Q85):.0%}, {pt.worst(Q85):.0%}",
            _geo_cell(pt, Q85),
            f"{pt.mean(SMALL):.0%}, {pt.worst(SMALL):.0%}",
            _geo_cell(pt, SMALL),
        ]
        rows.append(
            f"| {method(name)} | {name} | {shipped_name(name) or '-'} | "
            f"{describe(POINTS[name])}{ensemble_note(name)} | "
            f"{pt.ssim:.4f} ({pt.ssim_min:.4f}) | {pt.surround} | {pt.colour_shift} | "
            + " | ".join(cells)
            + f" | {prot}/{elig} | {pt.seconds_per_face:.1f} |"
        )
    return rows


def screening(results: Path, points: dict[str, Point]) -> list[str]:
    """Geometry levers measured on some legs only (screened, not yet a point): per leg, the
    protection after JPEG q85 through the aligned crop and the worst geometry."""
    rows = []
    for name in GEO_LEVERS:
        if name in points:
            continue
        for held in MODELS:
            doc = cached(results, name, held)
            if doc is None:
                continue
            leg = Point(name, {held: doc})
            worst = leg.worst_geometry(Q85)
            ssim = statistics.fmean(r["face_ssim"] for r in doc["records"])
            rows.append(
                f"| {name} | {held} | {ssim:.4f} | {leg.mean(Q85):.0%} | "
                + (f"{worst[1]:.0%} ({worst[0]})" if worst else "n/a")
                + " |"
            )
    if not rows:
        return []
    head = [
        "Screened on one leg or two only (not enough for a point; the reference is the same "
        "leg of `t0.020`, mid before this issue):",
        "",
        "| lever | held out | face SSIM | JPEG q85, aligned | JPEG q85, worst geometry |",
        "| --- | --- | --- | --- | --- |",
    ]
    return head + rows


def geometry_table(points: dict[str, Point]) -> list[str]:
    """After JPEG q85, each geometry-measured point's mean protection per crop geometry."""
    measured = {n: p for n, p in points.items() if p.geometries}
    if not measured:
        return []
    geos = ["aligned", *next(iter(measured.values())).geometries]
    rows = [
        "| point | mode | " + " | ".join(geos) + " |",
        "|" + " --- |" * (2 + len(geos)),
    ]
    for name, pt in sorted(measured.items(), key=lambda kv: (method(kv[0]), -kv[1].ssim)):
        per = pt.by_geometry(Q85)
        rows.append(
            f"| {name} | {shipped_name(name) or '-'} | "
            + " | ".join(f"{per[g]:.0%}" if g in per else "n/a" for g in geos)
            + " |"
        )
    return rows


def calibration_table(results: Path) -> list[str]:
    """Each model's threshold per geometry and its TPR / FPR on the clean photos."""
    path = results / "calibration.json"
    if not path.exists():
        return []
    doc = json.loads(path.read_text())
    geos = list(next(iter(doc["models"].values())))
    rows = [
        f"Thresholds per crop geometry, calibrated on {doc['photos']} clean photos of "
        f"{doc['identities']} identities (each photo against the mean of its owner's other "
        "photos, and against every other identity's mean): the model's own threshold for the "
        "aligned crop, the best-separating one (largest TPR - FPR) for the others. Cell: "
        "threshold, TPR / FPR.",
        "",
        "| model | " + " | ".join(geos) + " |",
        "|" + " --- |" * (1 + len(geos)),
    ]
    for model, cals in doc["models"].items():
        rows.append(
            f"| {model} | "
            + " | ".join(
                f"{c['threshold']:.3f}, {c['tpr']:.0%} / {c['fpr']:.1%}" for c in cals.values()
            )
            + " |"
        )
    return rows


def legs(points: dict[str, Point]) -> list[str]:
    """Per held-out model, after JPEG q85: where each point's mean comes from."""
    lines = []
    for name, pt in points.items():
        if method(name) == "lever":
            continue
        per = pt.protection("jpeg85")
        shipped = shipped_name(name)
        tag = f"{name} ({shipped})" if shipped and shipped != name else name
        lines.append(f"- {tag}: " + ", ".join(f"{h} {v:.0%}" for h, v in per.items()))
    return lines


def comparison(points: dict[str, Point]) -> list[str]:
    """Each shipped mode against the Fawkes curve at the same face SSIM."""
    fawkes = [p for n, p in points.items() if method(n) == "fawkes"]
    if len(fawkes) < 2:
        return []
    lines = []
    for name, pt in points.items():
        ours = shipped_name(name)
        if method(name) != "cloaker" or ours is None:
            continue
        f, inside = interpolate(fawkes, pt.ssim, "jpeg85")
        prot, elig = pt.counts("jpeg85")
        if inside:
            where = f"Fawkes interpolated at that SSIM: {f:.0%}"
        else:
            near = min(fawkes, key=lambda p: abs(p.ssim - pt.ssim))
            fp, fe = near.counts("jpeg85")
            where = (
                f"outside Fawkes's measured range; its nearest preset, {near.name} at face SSIM "
                f"{near.ssim:.4f}: {f:.0%} ({fp}/{fe})"
            )
        ratio = f"{pt.mean('jpeg85') / f:.1f}x" if f > 0 else "Fawkes protects none"
        lines.append(
            f"- **{ours}** (face SSIM {pt.ssim:.4f}), after JPEG q85: {pt.mean('jpeg85'):.0%} "
            f"({prot}/{elig}); {where}; {ratio}"
        )
    return lines


Score = tuple[float, float] | None  # (mean over legs, worst leg)


def _aligned(transform: str):
    return lambda p: (p.mean(transform), p.worst(transform))


def _worst_geo(transform: str):
    def score(p: Point) -> Score:
        w = p.worst_geometry(transform)
        return None if w is None else (w[1], w[2])

    return score


# Plot panels: what each shows of a point.
PANELS = (
    ("after JPEG q85, its own aligned crop", _aligned(Q85)),
    ("after JPEG q85, worst crop geometry", _worst_geo(Q85)),
    ("after 1080 px + q75, worst crop geometry", _worst_geo(SMALL)),
)


def plot(points: dict[str, Point], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 4.8), sharey=True)
    styles = {
        "cloaker": ("tab:blue", "o"),
        "no smoothing": ("tab:cyan", "^"),
        "fawkes": ("tab:red", "s"),
        "earlier mode": ("tab:purple", "D"),
    }
    for ax, (title, score) in zip(axes, PANELS, strict=True):
        for m, (colour, marker) in styles.items():
            curve = sorted(
                (p for n, p in points.items() if method(n) == m and score(p) is not None),
                key=lambda p: p.ssim,
            )
            if not curve:
                continue
            xs = [p.ssim for p in curve]
            ys = [score(p) for p in curve]
            ax.plot(xs, [y[0] * 100 for y in ys], marker=marker, color=colour, label=m)
            ax.plot(
                xs,
                [y[1] * 100 for y in ys],
                ls="--",
                color=colour,
                alpha=0.5,
                label=f"{m}, worst held-out model",
            )
            for p, y in zip(curve, ys, strict=True):
                tag = shipped_name(p.name)
                if tag:
                    ax.annotate(
                        tag,
                        (p.ssim, y[0] * 100),
                        textcoords="offset points",
                        xytext=(4, 4),
                        fontsize=8,
                        color=colour,
                    )
        for name, p in points.items():
            y = score(p)
            if method(name) in ("lever", "geometry lever") and name != "rgb-mid" and y:
                lever_colour = "grey" if method(name) == "lever" else "tab:green"
                ax.plot(p.ssim, y[0] * 100, marker="x", color=lever_colour, ls="none")
                ax.annotate(
                    name,
                    (p.ssim, y[0] * 100),
                    textcoords="offset points",
                    xytext=(4, -10),
                    fontsize=7,
                    color=lever_colour,
                )
        ax.margins(x=0.1)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("face SSIM (luminance, native resolution; right = less visible)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("held-out protection, % of faces (mean over 4 legs)")
    axes[-1].plot([], [], marker="x", color="grey", ls="none", label="a lever on its own")
    axes[0].set_ylim(-3, 103)
    handles, labels = axes[-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
    fig.suptitle("Leave one model out: protection against the model the cloak never saw")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(args: argparse.Namespace) -> str:
    start, end = markers(args.results)
    points = load(args.results)
    if not points:
        return f"{start}\nNo point has all {len(MODELS)} legs measured yet.\n{end}"
    plot(points, args.plot)
    any_doc = next(iter(next(iter(points.values())).legs.values()))
    # The command that remakes everything (measuring what the cache lacks); --points,
    # --threads and --report-only change how, not what.
    cmd = (
        f"bench/curves.py {args.dir} --limit-identities {args.limit_identities} "
        f"--photos-per-identity {args.photos_per_identity}"
    )
    if args.first_identity:
        cmd += f" --first-identity {args.first_identity}"
    if args.results.resolve() != DEFAULT_RESULTS:
        cmd += f" --results {_rel(args.results)}"
    return "\n".join(
        [
            start,
            f"Command: `.venv/bin/python {cmd}` (results cached in "
            f"`{_rel(args.results)}/`, plot `{_rel(args.plot)}`)  ",
            f"Probes: {len(any_doc['probes'])} photos of "
            f"{len({p.split('/')[0] for p in any_doc['probes']})} identities; each point is "
            f"measured {len(MODELS)} times, once per held-out model "
            f"({', '.join(MODELS)}), the ensemble being the other three. "
            f"Machine: {any_doc['machine']}.  ",
            "Protection: share of the faces the held-out model verifies clean that it no "
            "longer verifies once cloaked; mean over the four held-out models and the worst "
            "of them. Face SSIM: luminance, main face box, native resolution. Colour shift: "
            "99th percentile of the chroma change over the face box, 0-255 (a changed iris or "
            "lip colour; luminance SSIM cannot see it; n/a for runs made before it was "
            "recorded). CPU s per face: process CPU time with one torch thread.",
            "",
            f"![held-out protection against face SSIM]({_rel(args.plot)})",
            "",
            *table(points, ("cloaker", "earlier mode", "no smoothing", "fawkes")),
            "",
            *comparison(points),
            "",
            "Protection after JPEG q85 per crop geometry (mean over the four held-out models; "
            "`boxK`: the detector box squared, grown K times, no rotation, at the model's "
            "input size; `@2x`: cut at twice that size, then shrunk bilinearly):",
            "",
            *geometry_table(points),
            "",
            *calibration_table(args.results),
            "",
            "Protection after JPEG q85 by held-out model:",
            "",
            *legs(points),
            "",
            *_titled(
                "Transfer and speed levers, each on its own (`rgb-mid`: the baseline the "
                "first ones were measured against, DSSIM 0.012 with a free-colour cloak, no "
                "smoothing; `b0.012`: the same with the colour limit; `t0.012`: the same with "
                "smoothing, low until it took mid's recipe; `low+feat`: `t0.012` plus the "
                "middle-layer loss; "
                "`mid@30`, `mid@40`: mid with 30 or 40 steps instead of 20):",
                points,
                "lever",
                ("b0.012", "t0.012"),
            ),
            *_titled(
                "Crop-geometry levers (issue 13), each measured with the geometry legs, beside "
                "the mid they start from:",
                points,
                "geometry lever",
                ("t0.020",),
            ),
            *screening(args.results, points),
            end,
        ]
    )


def _titled(title: str, points: dict[str, Point], kind: str, extra: tuple[str, ...]) -> list[str]:
    """A lever table under its title, or nothing when no point of that kind is measured."""
    if not any(method(p) == kind for p in points):
        return []
    return [title, "", *table(points, (kind,), extra=extra), ""]


def _rel(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument(
        "--points",
        default=",".join(POINTS),
        type=lambda s: [p for p in s.split(",") if p],
        help=f"points to measure (default all: {', '.join(POINTS)})",
    )
    ap.add_argument("--limit-identities", type=int, default=6)
    ap.add_argument("--photos-per-identity", type=int, default=2)
    ap.add_argument(
        "--first-identity",
        type=int,
        default=0,
        help="skip this many identities (in name order): a second probe set, kept in its "
        "own --results folder, confirms what was chosen on the first",
    )
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument(
        "--held",
        default=",".join(MODELS),
        type=lambda s: [m for m in s.split(",") if m],
        help="which legs to measure (held-out models; default all: split a run across "
        "processes with this)",
    )
    ap.add_argument("--report-only", action="store_true", help="measure nothing; redraw")
    ap.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    ap.add_argument(
        "--plot", type=Path, default=None, help="default: docs/<results folder name>.png"
    )
    ap.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    args = ap.parse_args()
    unknown = [p for p in args.points if p not in POINTS] + [
        m for m in args.held if m not in MODELS
    ]
    if unknown:
        ap.error(f"unknown point(s) or model(s): {', '.join(unknown)}")
    if args.plot is None:
        args.plot = ROOT / "docs" / f"{args.results.name}.png"
    if not args.report_only:
        run_legs(args, args.points)
    text = report(args)
    start, end = markers(args.results)
    old = args.markdown.read_text() if args.markdown.exists() else ""
    if start in old and end in old:
        new = old[: old.index(start)] + text + old[old.index(end) + len(end) :]
    else:
        new = old + ("\n" if old else "") + text + "\n"
    args.markdown.write_text(new)
    print(text)


if __name__ == "__main__":
    main()
