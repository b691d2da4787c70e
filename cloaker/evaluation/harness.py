"""The evaluation loop: cloak real photos of known people and measure, with every model,
whether the cloaked face still verifies as its owner, and how visible the cloak is.

Protocol (one probe photo, one mode):
  1. Decode the photo (EXIF orientation applied), detect faces, keep the largest ("main").
  2. Reference, per model: the renormalised mean clean embedding of the main faces of the
     same identity's OTHER gallery photos (the probe itself is never its own reference).
  3. Clean check, per site transform: the uncloaked photo, transformed, embedded at the
     detected landmarks (scaled with the photo). It verifies iff its distance to the
     reference is below the model's threshold. Only faces whose clean version verifies
     under a transform count for that transform ("eligible"): a face the model cannot
     recognise even uncloaked says nothing about the cloak.
  4. Cloak the whole photo with ``engine.cloak_array`` (every face, as the product does),
     transform, embed the main face at the same landmarks: protected iff it no longer
     verifies. Protection = protected / eligible, per model and transform.
  5. Visibility on the main face box at native resolution (luminance SSIM, DSSIM) and on
     the whole photo (SSIM, PSNR); wall-clock and CPU seconds of ``cloak_array`` (detect +
     optimize + merge).

Geometry (``geometries``): besides its own aligned crop, each held-out model is also fed
the main face cut as ``cloaker.evaluation.geometry`` says (detector box, no rotation, other
scales and resamplings), after the transforms in ``geometry_transforms``, and judged by a
threshold calibrated for that geometry on clean photos (``calibrate_models``).

Models: the engine's ensemble (role "ensemble") and ``heldout`` (role "held-out", loaded
here, never seen by the optimizer). Change both for leave-one-model-out runs:
``Engine(ensemble=("facenet_keras", "mobilefacenet"))`` with ``heldout=("dlib_resnet",)``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from cloaker.cloak.modes import AnyMode, resolve_mode
from cloaker.cloak.pipeline import CloakInfo
from cloaker.detect import Face
from cloaker.errors import CloakerError
from cloaker.evaluation import geometry as geo
from cloaker.evaluation import metrics
from cloaker.evaluation.summary import Evaluation, Record
from cloaker.evaluation.transforms import SITE_TRANSFORMS, SiteTransform, scale_points
from cloaker.models.base import Extractor

# Visibility is also measured on the face's surroundings: the detector box grown this much
# of its width and height per side (where a cloak with context goes; the loosest crop
# geometry cuts the box squared to its long side first, so it sees a little more at the sides).
SURROUND = 0.3
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"})
ProgressFn = Callable[[str], None]


class CloakEngine(Protocol):
    """What the harness needs of ``cloaker.engine.Engine`` (a fake may stand in for it)."""

    ensemble_names: tuple[str, ...]

    @property
    def device(self) -> object: ...

    @property
    def extractors(self) -> dict[str, Extractor]: ...

    def detect(self, rgb: np.ndarray) -> list[Face]: ...

    def cloak_array(
        self, rgb: np.ndarray, mode: AnyMode = ..., *, seed: int | None = None
    ) -> tuple[np.ndarray, CloakInfo]: ...


@dataclass(frozen=True)
class Photo:
    """One photo of a known person: ``root/<identity>/<file>``."""

    identity: str
    path: Path

    @property
    def key(self) -> str:
        return f"{self.identity}/{self.path.name}"


def find_identities(root: Path) -> dict[str, list[Path]]:
    """``root/<identity>/<photo>`` -> {identity: photo paths}, both in natural order
    (2.jpg before 10.jpg). Hidden entries and non-image files are ignored."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    found: dict[str, list[Path]] = {}
    for folder in sorted(root.iterdir(), key=lambda p: _natural(p.name)):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        files = [
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        ]
        if files:
            found[folder.name] = sorted(files, key=lambda p: _natural(p.name))
    return found


def select_photos(
    identities: Mapping[str, Sequence[Path]],
    *,
    limit_identities: int | None = None,
    photos_per_identity: int | None = None,
) -> tuple[list[Photo], list[Photo]]:
    """Pick probes and gallery. Only identities with two photos or more qualify (a probe
    needs another photo of its owner as reference). Returns (probes, gallery): the first
    ``photos_per_identity`` photos of the first ``limit_identities`` identities are probes;
    the gallery is every photo of those identities."""
    probes: list[Photo] = []
    gallery: list[Photo] = []
    usable = [(name, paths) for name, paths in identities.items() if len(paths) >= 2]
    for name, paths in usable[:limit_identities]:
        photos = [Photo(name, Path(p)) for p in paths]
        gallery += photos
        probes += photos[:photos_per_identity]
    return probes, gallery


@dataclass
class _Clean:
    """A decoded photo's main face and its clean raw embeddings (per model)."""

    rgb: np.ndarray | None
    face: Face | None
    faces: int
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    problem: str | None = None  # why the photo could not be used


def evaluation_models(
    engine: CloakEngine,
    heldout: Iterable[str],
) -> tuple[dict[str, Extractor], dict[str, str]]:
    """Every model to measure with: the engine's ensemble plus ``heldout`` (loaded on the
    engine's device). Returns ({name: extractor}, {name: "ensemble" | "held-out"})."""
    from cloaker.models.zoo import load_extractor

    models = dict(engine.extractors)
    roles = dict.fromkeys(models, "ensemble")
    for name in heldout:
        if name in models:
            raise ValueError(f"{name} cannot be both in the ensemble and held out")
        models[name] = load_extractor(name, engine.device)
        roles[name] = "held-out"
    return models, roles


def evaluate(
    engine: CloakEngine,
    photos: Sequence[Photo],
    modes: Sequence[AnyMode],
    *,
    heldout: Iterable[str] = ("mobilefacenet",),
    gallery: Sequence[Photo] | None = None,
    transforms: Sequence[SiteTransform] = SITE_TRANSFORMS,
    seed: int = 0,
    progress: ProgressFn | None = None,
    geometries: Sequence[geo.Geometry] = (),
    geometry_transforms: Sequence[str] = ("jpeg85", "resize1080_jpeg75"),
    calibration: Mapping[str, Mapping[str, geo.Calibration]] | None = None,
) -> Evaluation:
    """Cloak every probe in ``photos`` with every mode and measure it (module docstring).

    ``geometries`` (other than ``aligned``) are measured on the held-out models after each
    of ``geometry_transforms``; ``calibration`` must hold each held-out model's threshold
    for each of them (``calibrate_models``).
    ``gallery``: clean photos the references are built from (default: ``photos``).
    ``progress``: called with one line of text after each photo and mode.
    Photos with no face, or whose owner has no other gallery photo with a face, are listed
    in ``Evaluation.skipped`` with the reason."""
    if not modes:
        raise ValueError("no modes to evaluate")
    say = progress or (lambda line: None)
    models, roles = evaluation_models(engine, heldout)
    extra = [g for g in geometries if g.box is not None]
    held = [n for n in models if roles[n] == "held-out"]
    cal = calibration or {}
    missing = [f"{n}/{g.name}" for n in held for g in extra if g.name not in cal.get(n, {})]
    if missing:
        raise ValueError(f"no calibrated threshold for {', '.join(missing)}")
    views = _Views(
        [t for t in transforms if t.name in geometry_transforms] if extra else [], extra, held
    )
    gallery = list(photos) if gallery is None else list(gallery)
    clean: dict[Photo, _Clean] = {}
    for i, photo in enumerate(gallery, 1):
        clean[photo] = _load_clean(engine, photo, models, keep_pixels=False, views=views)
        say(f"reference photos: {i}/{len(gallery)} {photo.key}")

    result = Evaluation(
        models={n: (roles[n], float(m.threshold)) for n, m in models.items()},
        transforms=[(t.name, t.label) for t in transforms],
        modes=[resolve_mode(m).name for m in modes],
        device=str(engine.device),
        seed=seed,
        geometry_keys=views.keys(),
        calibration={n: {g: c.to_json() for g, c in cal[n].items()} for n in held if n in cal},
    )
    total = len(photos) * len(modes)
    done = 0
    for photo in photos:
        probe = _load_clean(engine, photo, models, keep_pixels=True, views=views)
        others = [
            clean[g]
            for g in gallery
            if g.identity == photo.identity and g != photo and clean[g].face is not None
        ]
        reason = (
            probe.problem
            if probe.face is None
            else "no other photo of this identity with a face"
            if not others
            else None
        )
        if reason is not None:
            result.skipped.append((photo.key, reason))
            done += len(modes)
            say(f"[{done}/{total}] {photo.key}: skipped ({reason})")
            continue
        assert probe.rgb is not None and probe.face is not None
        refs = {
            n: metrics.mean_embedding(np.stack([o.embeddings[n] for o in others])) for n in models
        }
        refs.update(
            {
                f"{n}@{g.name}": metrics.mean_embedding(
                    np.stack([o.embeddings[f"{n}@{g.name}"] for o in others])
                )
                for n in views.models
                for g in views.geometries
            }
        )
        clean_d = _distances(probe.rgb, probe.face, models, refs, transforms, views)
        for mode in modes:
            t0, c0 = time.perf_counter(), time.process_time()
            out, _info = engine.cloak_array(probe.rgb, mode, seed=seed)
            mode_label = resolve_mode(mode).name
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            fs = metrics.face_ssim(probe.rgb, out, probe.face.box)
            rec = Record(
                identity=photo.identity,
                photo=photo.key,
                mode=mode_label,
                faces=probe.faces,
                references=len(others),
                seconds=seconds,
                cpu_seconds=cpu,
                face_ssim=fs,
                face_dssim=(1.0 - fs) / 2.0,
                photo_ssim=metrics.ssim(probe.rgb, out),
                photo_psnr=metrics.psnr(probe.rgb, out),
                face_colour_shift=metrics.face_colour_shift(probe.rgb, out, probe.face.box),
                surround_ssim=metrics.face_ssim(
                    probe.rgb, out, metrics.grow_box(probe.face.box, SURROUND)
                ),
                clean=clean_d,
                cloaked=_distances(out, probe.face, models, refs, transforms, views),
            )
            result.records.append(rec)
            done += 1
            say(
                f"[{done}/{total}] {mode_label} {photo.key}: {seconds:.1f} s ({cpu:.1f} s CPU), "
                f"face SSIM {fs:.4f}, distance/threshold {_ratios(rec, models)}"
            )
    return result


@dataclass(frozen=True)
class _Views:
    """Which (transform, geometry) views of the main face the held-out ``models`` get
    besides their aligned crop."""

    transforms: list[SiteTransform]
    geometries: list[geo.Geometry]
    models: list[str]

    def keys(self) -> list[str]:
        return [f"{t.name}@{g.name}" for t in self.transforms for g in self.geometries]


def calibrate_models(
    engine: CloakEngine,
    models: Mapping[str, Extractor],
    photos: Sequence[Photo],
    geometries: Sequence[geo.Geometry],
    progress: ProgressFn | None = None,
) -> dict[str, dict[str, geo.Calibration]]:
    """Thresholds per model and geometry from the clean ``photos`` (main face of each,
    grouped by identity): the model's own threshold for ``aligned`` (its operating point is
    reported), the best-separating one (``geometry.calibrate``) for every other geometry."""
    say = progress or (lambda line: None)
    embs: dict[str, dict[str, dict[str, list[np.ndarray]]]] = {
        n: {g.name: {} for g in geometries} for n in models
    }
    for i, photo in enumerate(photos, 1):
        loaded = _load_clean(engine, photo, {}, keep_pixels=True)
        say(f"calibration photos: {i}/{len(photos)} {photo.key}")
        if loaded.face is None or loaded.rgb is None:
            continue
        for n, m in models.items():
            for g in geometries:
                e = geo.embed(m, loaded.rgb, loaded.face.landmarks, loaded.face.box, g)[0]
                embs[n][g.name].setdefault(photo.identity, []).append(e)
    out: dict[str, dict[str, geo.Calibration]] = {}
    for n, m in models.items():
        out[n] = {}
        for g in geometries:
            genuine, impostor = geo.pair_distances(embs[n][g.name])
            out[n][g.name] = (
                geo.operating_point(genuine, impostor, m.threshold)
                if g.box is None
                else geo.calibrate(genuine, impostor)
            )
    return out


def _load_clean(
    engine: CloakEngine,
    photo: Photo,
    models: Mapping[str, Extractor],
    *,
    keep_pixels: bool,
    views: _Views | None = None,
) -> _Clean:
    from cloaker.imageio import decode

    try:
        rgb = decode(photo.path.read_bytes()).rgb
    except CloakerError as exc:  # a bad file in the folder is reported, not fatal
        return _Clean(None, None, 0, problem=f"cannot decode: {exc.message}")
    faces = engine.detect(rgb)
    if not faces:
        return _Clean(rgb if keep_pixels else None, None, 0, problem="no face found")
    face = max(faces, key=lambda f: f.size)
    embs = {n: metrics.embed_faces(m, rgb, face.landmarks[None])[0] for n, m in models.items()}
    for n in views.models if views else ():
        for g in views.geometries:
            embs[f"{n}@{g.name}"] = geo.embed(models[n], rgb, face.landmarks, face.box, g)[0]
    return _Clean(rgb if keep_pixels else None, face, len(faces), embs)


def _distances(
    rgb: np.ndarray,
    face: Face,
    models: Mapping[str, Extractor],
    refs: Mapping[str, np.ndarray],
    transforms: Sequence[SiteTransform],
    views: _Views,
) -> dict[str, dict[str, float]]:
    """{model: {key: L2 distance of the main face to the reference}}: a key per transform
    (aligned crop) and per ``<transform>@<geometry>`` view of ``views``."""
    out: dict[str, dict[str, float]] = {n: {} for n in models}
    for t in transforms:
        img = t.apply(rgb)
        lm = scale_points(face.landmarks, rgb.shape[:2], img.shape[:2])
        for name, model in models.items():
            emb = metrics.embed_faces(model, img, lm[None])[0]
            out[name][t.name] = metrics.compare(refs[name], emb, model.threshold).distance
        if t not in views.transforms:
            continue
        box = scale_points(face.box.reshape(2, 2), rgb.shape[:2], img.shape[:2]).reshape(4)
        for name in views.models:
            for g in views.geometries:
                emb = geo.embed(models[name], img, lm, box, g)[0]
                key = f"{name}@{g.name}"
                out[name][f"{t.name}@{g.name}"] = float(np.linalg.norm(refs[key] - emb))
    return out


def _ratios(rec: Record, models: Mapping[str, Extractor]) -> str:
    """Cloaked raw distance over threshold per model: above 1.0x means no longer verified."""
    return ", ".join(
        f"{n} {rec.cloaked[n]['raw'] / m.threshold:.2f}x"
        for n, m in models.items()
        if "raw" in rec.cloaked[n]
    )


def _natural(name: str) -> list[object]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]
