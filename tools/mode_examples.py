"""Example crops for the docs: the bundled public-domain photo cloaked in every mode and in
the Fawkes presets, the face shown at 2x, each labelled with its face SSIM (luminance,
native resolution) and colour shift (``metrics.face_colour_shift``).

    .venv/bin/python tools/mode_examples.py            # writes docs/modes.png

Uses the shipped ensemble, seed 0; takes about a minute on a CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cloaker.engine import Engine
from cloaker.evaluation import metrics
from cloaker.imageio import decode

ROOT = Path(__file__).resolve().parent.parent
MODES = ("low", "mid", "high", "fawkes-low", "fawkes", "fawkes-high")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", type=Path, default=ROOT / "examples" / "astronaut.jpg")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "modes.png")
    ap.add_argument("--modes", default=",".join(MODES))
    args = ap.parse_args()
    engine = Engine(device="cpu")
    engine.warm()
    rgb = decode(args.image.read_bytes()).rgb
    face = max(engine.detect(rgb), key=lambda f: f.size)
    x0, y0, x1, y1 = (int(v) for v in face.box)
    pad = (x1 - x0) // 6
    window = (slice(max(0, y0 - pad), y1 + pad), slice(max(0, x0 - pad), x1 + pad))
    tiles = [("original", rgb[window])]
    for mode in args.modes.split(","):
        out, _info = engine.cloak_array(rgb, mode, seed=0)
        ssim = metrics.face_ssim(rgb, out, face.box)
        shift = metrics.face_colour_shift(rgb, out, face.box)
        tiles.append((f"{mode}: SSIM {ssim:.3f}, colour {shift:.1f}", out[window]))
        print(f"{mode}: face SSIM {ssim:.4f}, colour shift {shift:.2f}", flush=True)
    h, w = tiles[0][1].shape[:2]
    scale, label, cols = 2, 22, 4
    rows = -(-len(tiles) // cols)
    sheet = Image.new("RGB", (cols * w * scale, rows * (h * scale + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (text, tile) in enumerate(tiles):
        cx, cy = (i % cols) * w * scale, (i // cols) * (h * scale + label)
        big = Image.fromarray(np.ascontiguousarray(tile))
        big = big.resize((w * scale, h * scale), Image.NEAREST)  # pixels as they are
        sheet.paste(big, (cx, cy + label))
        draw.text((cx + 4, cy + 4), text, fill="black")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
