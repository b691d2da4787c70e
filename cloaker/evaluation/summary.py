"""The results of an evaluation: one ``Record`` per photo and mode, and the per-mode
figures derived from them (protection per model and transform, visibility, time).

Plain data, no torch: research scripts can load the JSON back and recompute.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

ENSEMBLE = "ensemble"
HELD_OUT = "held-out"


@dataclass
class Record:
    """One probe photo cloaked in one mode.

    ``clean`` / ``cloaked``: {model: {key: L2 distance of the main face's embedding to the
    owner's reference}}, where a key is a transform's name (the model's own aligned crop)
    or ``<transform>@<geometry>`` (another crop geometry, ``cloaker.evaluation.geometry``);
    the face verifies iff the distance is below the model's threshold for that geometry.
    ``face_*``: main face box, luminance, native resolution (``face_colour_shift``: chroma,
    see ``metrics.face_colour_shift``); ``surround_ssim``: the same SSIM over the box grown
    to 1.6x (hair, ears, neck); ``photo_*``: whole photo. ``references``: how many
    other photos of the owner make the reference.
    ``seconds``: ``cloak_array`` wall-clock time (detect + optimize + merge);
    ``cpu_seconds``: the process's CPU time over the same span (all threads), which says
    more than wall-clock time on a machine shared with other work."""

    identity: str
    photo: str
    mode: str
    faces: int
    references: int
    seconds: float
    face_ssim: float
    face_dssim: float
    photo_ssim: float
    photo_psnr: float
    clean: dict[str, dict[str, float]]
    cloaked: dict[str, dict[str, float]]
    cpu_seconds: float | None = None
    face_colour_shift: float | None = None
    surround_ssim: float | None = None


@dataclass
class ModelScore:
    """Protection by one model: per transform, how many faces verified clean (eligible)
    and how many of those no longer verify once cloaked (protected)."""

    name: str
    role: str
    threshold: float
    eligible: dict[str, int]
    protected: dict[str, int]

    def protection(self, transform: str) -> float | None:
        n = self.eligible.get(transform, 0)
        return self.protected.get(transform, 0) / n if n else None


@dataclass
class ModeSummary:
    """Figures for one mode over every evaluated photo. ``psnr_mean`` ignores identical
    photos (infinite PSNR); None when there is nothing to average."""

    mode: str
    photos: int
    scores: list[ModelScore]
    face_ssim_mean: float | None
    face_ssim_min: float | None
    face_dssim_mean: float | None
    face_dssim_max: float | None
    photo_ssim_mean: float | None
    photo_ssim_min: float | None
    psnr_mean: float | None
    seconds_mean: float | None
    seconds_max: float | None
    cpu_seconds_mean: float | None = None
    colour_shift_mean: float | None = None
    colour_shift_max: float | None = None

    def role_scores(self, role: str) -> list[ModelScore]:
        return [s for s in self.scores if s.role == role]

    def held_out_mean_and_worst(self, transform: str) -> tuple[float | None, float | None]:
        """Mean and lowest protection over the held-out models (leave-one-model-out runs
        report both); (None, None) when no held-out model has an eligible face."""
        values = [
            p for s in self.role_scores(HELD_OUT) if (p := s.protection(transform)) is not None
        ]
        if not values:
            return None, None
        return statistics.fmean(values), min(values)


@dataclass
class Evaluation:
    """Everything ``evaluate`` measured. ``models``: {name: (role, threshold)};
    ``transforms``: [(name, label)] in table order; ``skipped``: [(photo, reason)].
    ``geometry_keys``: the ``<transform>@<geometry>`` keys measured besides the aligned
    crop; ``calibration``: {model: {geometry: Calibration.to_json()}}, whose thresholds
    judge those keys."""

    models: dict[str, tuple[str, float]]
    transforms: list[tuple[str, str]]
    modes: list[str]
    device: str
    seed: int
    records: list[Record] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    geometry_keys: list[str] = field(default_factory=list)
    calibration: dict[str, dict[str, dict[str, float | int]]] = field(default_factory=dict)

    def threshold(self, model: str, key: str) -> float:
        """The threshold that judges ``key``: the geometry's calibrated one, else the
        model's own."""
        _, geometry = split_key(key)
        cal = self.calibration.get(model, {}).get(geometry) if geometry else None
        return float(cal["threshold"]) if cal else self.models[model][1]

    def model_order(self) -> list[str]:
        """Held-out models first (they are the headline), then the ensemble."""
        return sorted(self.models, key=lambda n: (self.models[n][0] != HELD_OUT, n))

    def summary(self, mode: str) -> ModeSummary:
        recs = [r for r in self.records if r.mode == mode]
        scores = []
        for name in self.model_order():
            role, threshold = self.models[name]
            keys = [t for t, _ in self.transforms] + [
                k for k in self.geometry_keys if any(k in r.clean[name] for r in recs)
            ]
            eligible = dict.fromkeys(keys, 0)
            protected = dict(eligible)
            for r in recs:
                for t in eligible:
                    if t not in r.clean[name]:
                        continue
                    limit = self.threshold(name, t)
                    if r.clean[name][t] < limit:
                        eligible[t] += 1
                        protected[t] += r.cloaked[name][t] >= limit
            scores.append(ModelScore(name, role, threshold, eligible, protected))
        psnrs = [r.photo_psnr for r in recs if math.isfinite(r.photo_psnr)]
        return ModeSummary(
            mode=mode,
            photos=len(recs),
            scores=scores,
            face_ssim_mean=_mean(r.face_ssim for r in recs),
            face_ssim_min=_min(r.face_ssim for r in recs),
            face_dssim_mean=_mean(r.face_dssim for r in recs),
            face_dssim_max=_max(r.face_dssim for r in recs),
            photo_ssim_mean=_mean(r.photo_ssim for r in recs),
            photo_ssim_min=_min(r.photo_ssim for r in recs),
            psnr_mean=_mean(psnrs),
            seconds_mean=_mean(r.seconds for r in recs),
            seconds_max=_max(r.seconds for r in recs),
            cpu_seconds_mean=_mean(r.cpu_seconds for r in recs if r.cpu_seconds is not None),
            colour_shift_mean=_mean(
                shifts := [r.face_colour_shift for r in recs if r.face_colour_shift is not None]
            ),
            colour_shift_max=_max(shifts),
        )

    def to_json(self) -> dict[str, object]:
        """A JSON-safe document (infinite PSNR becomes null)."""
        return {
            "device": self.device,
            "seed": self.seed,
            "models": [
                {"name": n, "role": self.models[n][0], "threshold": self.models[n][1]}
                for n in self.model_order()
            ],
            "transforms": [{"name": n, "label": label} for n, label in self.transforms],
            "geometry_keys": list(self.geometry_keys),
            "calibration": self.calibration,
            "modes": {m: _summary_json(self.summary(m)) for m in self.modes},
            "records": [_finite(asdict(r)) for r in self.records],
            "skipped": [{"photo": p, "reason": why} for p, why in self.skipped],
        }


def split_key(key: str) -> tuple[str, str | None]:
    """``"jpeg85@box1.3"`` -> ("jpeg85", "box1.3"); a plain transform -> (key, None)."""
    transform, _, geometry = key.partition("@")
    return transform, geometry or None


def _summary_json(s: ModeSummary) -> dict[str, object]:
    doc = _finite(asdict(s))
    doc["scores"] = [
        {**asdict(sc), "protection": {t: sc.protection(t) for t in sc.eligible}} for sc in s.scores
    ]
    return doc


def _finite(obj: object) -> object:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _mean(values: Iterable[float]) -> float | None:
    vals = list(values)
    return statistics.fmean(vals) if vals else None


def _min(values: Iterable[float]) -> float | None:
    vals = list(values)
    return min(vals) if vals else None


def _max(values: Iterable[float]) -> float | None:
    vals = list(values)
    return max(vals) if vals else None
