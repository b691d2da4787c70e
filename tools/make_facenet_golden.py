"""Make tests/data/facenet_golden.npz: reference embeddings of the Keras FaceNet model.

The reference is the original Keras model run by TensorFlow, independent of our PyTorch
port. It needs a throwaway Python 3.11 venv (the h5 file's Lambda layers hold Python 3.11
bytecode, so the model loads only under 3.11):

    python3.11 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu==2.16.2 tf-keras==2.16.0 h5py pillow
    /tmp/tfvenv/bin/python tools/make_facenet_golden.py \
        --model .models/facenet_keras_2024.h5 --out tests/data/facenet_golden.npz

Inputs: square crops of examples/astronaut.jpg (public domain) around the face at a few
offsets and sizes, one mirrored, resized to 160 x 160 with Pillow bilinear, plus two seeded
uniform-noise images; stored as uint8 (B, 160, 160, 3) RGB. Outputs: the model's raw
(un-normalised) 128-D embeddings, float32 (B, 128), computed on
tf.image.per_image_standardization of the 0..255 pixels, as the model was trained.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
# (left, top, side, mirrored) in astronaut.jpg pixels; its MTCNN face box is about
# (181, 61)-(268, 172).
CROPS = (
    (155, 47, 140, False),
    (163, 41, 140, False),
    (145, 37, 160, False),
    (170, 60, 110, False),
    (155, 47, 140, True),
)
NOISE_SEEDS = (0, 1)


def make_inputs() -> tuple[np.ndarray, list[str]]:
    """(B, 160, 160, 3) uint8 RGB crops and a label for each."""
    image = Image.open(ROOT / "examples" / "astronaut.jpg").convert("RGB")
    crops: list[np.ndarray] = []
    labels: list[str] = []
    for left, top, side, mirrored in CROPS:
        crop = image.crop((left, top, left + side, top + side)).resize(
            (160, 160), Image.Resampling.BILINEAR
        )
        if mirrored:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        crops.append(np.asarray(crop, dtype=np.uint8))
        labels.append(f"astronaut {left},{top} side {side}{' mirrored' if mirrored else ''}")
    for seed in NOISE_SEEDS:
        rng = np.random.default_rng(seed)
        crops.append(rng.integers(0, 256, size=(160, 160, 3), dtype=np.uint8))
        labels.append(f"uniform noise, numpy default_rng({seed})")
    return np.stack(crops), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="facenet_keras_2024.h5")
    parser.add_argument("--out", type=Path, required=True, help="output .npz")
    args = parser.parse_args()

    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # the h5 file was written by tf.keras 2.16
    import tensorflow as tf
    import tf_keras

    model = tf_keras.models.load_model(args.model, compile=False, safe_mode=False)
    inputs, labels = make_inputs()
    x = tf.image.per_image_standardization(tf.convert_to_tensor(inputs, dtype=tf.float32))
    embeddings = model(x, training=False).numpy().astype(np.float32)
    np.savez_compressed(
        args.out,
        inputs=inputs,
        embeddings=embeddings,
        labels=np.array(labels),
        versions=np.array(
            f"tensorflow {tf.__version__}, tf_keras {tf_keras.__version__}, numpy "
            f"{np.__version__}, pillow {Image.__version__}"
        ),
    )
    print(f"wrote {args.out}: inputs {inputs.shape}, embeddings {embeddings.shape}")


if __name__ == "__main__":
    main()
