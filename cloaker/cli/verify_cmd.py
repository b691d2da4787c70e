"""``cloaker verify ORIGINAL CLOAKED [--json]``: how well a cloaked photo hides its faces.

Faces are detected in the original; each is embedded at the original's landmarks in both
photos (the cloak does not move faces) by every model: the optimization ensemble and the
held-out models, which never saw the cloak being made. For each site transform (none,
JPEG q85, 1080 px + JPEG q75), "before" compares the original face with the transformed
ORIGINAL (what the transform alone does) and "after" with the transformed CLOAKED photo;
"match" means the model would still say "same person" (distance below its threshold).
Also: face-box SSIM (luminance, native resolution) and whole-photo SSIM and PSNR.
Exit codes: 0 measured, 1 a photo could not be read or the models are missing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cloaker.cli import EXIT_FAILED, EXIT_OK
from cloaker.cli.options import add_device, add_models, device_arg, error, resolve_models
from cloaker.errors import CloakerError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="measure how well a cloaked photo hides its faces, with every model",
        description=__doc__.split("\n\n")[1].split("Exit codes")[0].strip(),
    )
    parser.add_argument("original", type=Path, metavar="ORIGINAL")
    parser.add_argument("cloaked", type=Path, metavar="CLOAKED")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_device(parser)
    add_models(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cloaker.imageio import decode

    try:
        ensemble, heldout = resolve_models(args)
        original = decode(args.original.read_bytes()).rgb
        cloaked = decode(args.cloaked.read_bytes()).rgb
    except (ValueError, CloakerError) as exc:
        error("verify", str(exc))
        return EXIT_FAILED
    except OSError as exc:
        error("verify", f"cannot read {exc.filename}: {exc.strerror or exc}")
        return EXIT_FAILED
    if original.shape != cloaked.shape:
        error(
            "verify",
            f"the photos differ in size ({original.shape[1]}x{original.shape[0]} "
            f"vs {cloaked.shape[1]}x{cloaked.shape[0]}): not a cloak of it",
        )
        return EXIT_FAILED
    try:
        doc = measure(original, cloaked, ensemble, heldout, device_arg(args))
    except (ValueError, CloakerError) as exc:
        error("verify", str(exc))
        return EXIT_FAILED
    doc = {"original": str(args.original), "cloaked": str(args.cloaked), **doc}
    print(json.dumps(doc, indent=2) if args.json else format_text(doc))
    return EXIT_OK


def measure(
    original: Any,
    cloaked: Any,
    ensemble: tuple[str, ...],
    heldout: tuple[str, ...],
    device: str | None,
) -> dict[str, Any]:
    """The verify document for two (H, W, 3) uint8 photos of the same size."""
    from cloaker.detect import FaceDetector
    from cloaker.evaluation import metrics
    from cloaker.evaluation.transforms import SITE_TRANSFORMS, scale_points
    from cloaker.models.zoo import load_extractor

    detector = FaceDetector(device=device)
    roles = {**dict.fromkeys(ensemble, "ensemble"), **dict.fromkeys(heldout, "held-out")}
    models = {name: load_extractor(name, detector.device) for name in roles}
    faces = detector.detect(original)
    views = {}  # transform name -> (transformed original, transformed cloaked)
    for t in SITE_TRANSFORMS:
        views[t.name] = (t.apply(original), t.apply(cloaked))
    face_docs = []
    for i, face in enumerate(faces):
        fs = metrics.face_ssim(original, cloaked, face.box)
        model_docs = []
        for name, model in models.items():
            ref = metrics.embed_faces(model, original, face.landmarks[None])[0]
            per_t = {}
            for t in SITE_TRANSFORMS:
                before_img, after_img = views[t.name]
                lm = scale_points(face.landmarks, original.shape[:2], before_img.shape[:2])[None]
                before = metrics.compare(
                    ref, metrics.embed_faces(model, before_img, lm)[0], model.threshold
                )
                after = metrics.compare(
                    ref, metrics.embed_faces(model, after_img, lm)[0], model.threshold
                )
                per_t[t.name] = {"before": before.to_json(), "after": after.to_json()}
            model_docs.append(
                {
                    "name": name,
                    "role": roles[name],
                    "threshold": float(model.threshold),
                    "transforms": per_t,
                }
            )
        face_docs.append(
            {
                "index": i,
                "box": [round(float(v), 1) for v in face.box],
                "score": round(face.score, 4),
                "face_ssim": fs,
                "face_dssim": (1 - fs) / 2,
                "models": model_docs,
            }
        )
    psnr = metrics.psnr(original, cloaked)
    return {
        "width": int(original.shape[1]),
        "height": int(original.shape[0]),
        "device": str(detector.device),
        "ensemble": list(ensemble),
        "heldout": list(heldout),
        "transforms": [{"name": t.name, "label": t.label} for t in SITE_TRANSFORMS],
        "photo": {
            "ssim": metrics.ssim(original, cloaked),
            "psnr": psnr if psnr != float("inf") else None,
        },
        "faces": face_docs,
    }


def format_text(doc: dict[str, Any]) -> str:
    """The verify document as a table per face."""
    labels = {t["name"]: t["label"] for t in doc["transforms"]}
    psnr = doc["photo"]["psnr"]
    lines = [
        f"original {doc['original']}, cloaked {doc['cloaked']} "
        f"({doc['width']}x{doc['height']}, device {doc['device']})",
        f"whole photo: SSIM {doc['photo']['ssim']:.4f}, PSNR "
        + ("inf (identical)" if psnr is None else f"{psnr:.1f} dB"),
    ]
    if not doc["faces"]:
        lines.append("no face found in the original")
    width = max((len(m["name"]) for f in doc["faces"] for m in f["models"]), default=5)
    for f in doc["faces"]:
        x1, y1, x2, y2 = f["box"]
        lines += [
            "",
            f"face {f['index'] + 1} at ({x1:.0f}, {y1:.0f})-({x2:.0f}, {y2:.0f}), "
            f"face SSIM {f['face_ssim']:.4f} (DSSIM {f['face_dssim']:.4f})",
            f"  {'model':<{width}}  {'role':<8}  {'thr':>4}  {'transform':<18}  "
            f"{'before: cos   L2  match':<23}  after: cos   L2  match",
        ]
        hidden = []
        for m in f["models"]:
            for t, pair in m["transforms"].items():
                b, a = pair["before"], pair["after"]
                lines.append(
                    f"  {m['name']:<{width}}  {m['role']:<8}  {m['threshold']:4.2f}  "
                    f"{labels[t]:<18}  {_cell(b):<23}  {_cell(a)}"
                )
                if b["match"] and not a["match"]:
                    hidden.append(f"{m['name']} ({labels[t]})")
        lines.append("  hidden from: " + (", ".join(hidden) if hidden else "no model"))
    return "\n".join(lines)


def _cell(m: dict[str, Any]) -> str:
    return f"{m['cosine']:6.3f} {m['distance']:5.3f}  {'yes' if m['match'] else 'no'}"
