"""FaceNet (Inception-ResNet-v1, MS-Celeb-1M, 128-D) from its Keras h5 file, in PyTorch.

The artifact ``facenet_keras_2024.h5`` (registry name "facenet_keras") is the well-known
Keras conversion of David Sandberg's 2017 FaceNet model (tf.keras 2.16, channels-last).
Its graph is exactly ``facenet_pytorch.InceptionResnetV1`` with a 128-D bottleneck, so the
weights are read with h5py, layer by layer, into that network; TensorFlow is not needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np
import torch
from facenet_pytorch import InceptionResnetV1
from facenet_pytorch.models.inception_resnet_v1 import BasicConv2d, Block8, Block17, Block35
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from cloaker.device import pick_device
from cloaker.errors import ModelError
from cloaker.models.base import Extractor
from cloaker.models.manager import require

EMBEDDING_DIM = 128
# Keras BatchNormalization(momentum=0.995, epsilon=0.001); torch's momentum is 1 - Keras's.
BN_EPS = 1e-3
BN_MOMENTUM = 1.0 - 0.995


def _block_names(keras: str, branches: dict[str, list[str]]) -> dict[str, str]:
    """Torch module prefix -> Keras layer name for the convs of one Inception block."""
    out: dict[str, str] = {}
    for branch, convs in branches.items():
        if len(convs) == 1:
            out[branch] = f"{keras}_{convs[0]}"
        else:
            for i, conv in enumerate(convs):
                out[f"{branch}.{i}"] = f"{keras}_{conv}"
    return out


def keras_layer_map() -> dict[str, str]:
    """Torch module path in ``InceptionResnetV1`` -> Keras layer name in the h5 file.

    Paths that end in a ``BasicConv2d`` (conv + batch norm + ReLU) map to the Keras conv
    layer; its batch norm is the Keras layer of the same name plus ``_BatchNorm``. The
    residual ``conv2d`` of each block (a conv with bias, no batch norm) maps to
    ``Block*_Conv2d_1x1``.
    """
    names = {
        "conv2d_1a": "Conv2d_1a_3x3",
        "conv2d_2a": "Conv2d_2a_3x3",
        "conv2d_2b": "Conv2d_2b_3x3",
        "conv2d_3b": "Conv2d_3b_1x1",
        "conv2d_4a": "Conv2d_4a_3x3",
        "conv2d_4b": "Conv2d_4b_3x3",
    }
    blocks: list[tuple[str, str, dict[str, list[str]]]] = []
    for i in range(5):
        blocks.append(
            (
                f"repeat_1.{i}",
                f"Block35_{i + 1}",
                {
                    "branch0": ["Branch_0_Conv2d_1x1"],
                    "branch1": ["Branch_1_Conv2d_0a_1x1", "Branch_1_Conv2d_0b_3x3"],
                    "branch2": [
                        "Branch_2_Conv2d_0a_1x1",
                        "Branch_2_Conv2d_0b_3x3",
                        "Branch_2_Conv2d_0c_3x3",
                    ],
                },
            )
        )
    for i in range(10):
        blocks.append(
            (
                f"repeat_2.{i}",
                f"Block17_{i + 1}",
                {
                    "branch0": ["Branch_0_Conv2d_1x1"],
                    "branch1": [
                        "Branch_1_Conv2d_0a_1x1",
                        "Branch_1_Conv2d_0b_1x7",
                        "Branch_1_Conv2d_0c_7x1",
                    ],
                },
            )
        )
    block8 = {
        "branch0": ["Branch_0_Conv2d_1x1"],
        "branch1": ["Branch_1_Conv2d_0a_1x1", "Branch_1_Conv2d_0b_1x3", "Branch_1_Conv2d_0c_3x1"],
    }
    for i in range(5):
        blocks.append((f"repeat_3.{i}", f"Block8_{i + 1}", block8))
    blocks.append(("block8", "Block8_6", block8))
    for torch_prefix, keras, branches in blocks:
        for sub, layer in _block_names(keras, branches).items():
            names[f"{torch_prefix}.{sub}"] = layer
        names[f"{torch_prefix}.conv2d"] = f"{keras}_Conv2d_1x1"
    names.update(
        _prefixed(
            "mixed_6a",
            _block_names(
                "Mixed_6a",
                {
                    "branch0": ["Branch_0_Conv2d_1a_3x3"],
                    "branch1": [
                        "Branch_1_Conv2d_0a_1x1",
                        "Branch_1_Conv2d_0b_3x3",
                        "Branch_1_Conv2d_1a_3x3",
                    ],
                },
            ),
        )
    )
    names.update(
        _prefixed(
            "mixed_7a",
            _block_names(
                "Mixed_7a",
                {
                    "branch0": ["Branch_0_Conv2d_0a_1x1", "Branch_0_Conv2d_1a_3x3"],
                    "branch1": ["Branch_1_Conv2d_0a_1x1", "Branch_1_Conv2d_1a_3x3"],
                    "branch2": [
                        "Branch_2_Conv2d_0a_1x1",
                        "Branch_2_Conv2d_0b_3x3",
                        "Branch_2_Conv2d_1a_3x3",
                    ],
                },
            ),
        )
    )
    return names


def _prefixed(prefix: str, names: dict[str, str]) -> dict[str, str]:
    return {f"{prefix}.{k}": v for k, v in names.items()}


def build_network() -> InceptionResnetV1:
    """The bare network: facenet-pytorch's Inception-ResNet-v1 with the Keras 128-D head.

    Random weights; BatchNorm epsilon and momentum set to the Keras model's values. The
    residual scales (0.17, 0.10, 0.20, last block 1.0 without ReLU) are facenet-pytorch's,
    which equal the Keras model's ``Lambda(scaling, scale=...)`` arguments.
    """
    net = InceptionResnetV1(pretrained=None, classify=False)
    net.last_linear = nn.Linear(1792, EMBEDDING_DIM, bias=False)
    net.last_bn = nn.BatchNorm1d(EMBEDDING_DIM, eps=BN_EPS, momentum=BN_MOMENTUM, affine=True)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            module.eps = BN_EPS
            module.momentum = BN_MOMENTUM
    return net


def _read_h5_weights(path: Path) -> dict[str, np.ndarray]:
    """Every weight array in the h5 file, keyed "<layer>/<weight>" (":0" suffix dropped)."""
    weights: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            if "model_weights" not in f:
                raise ModelError(f"{path} is not a Keras model file (no 'model_weights' group)")
            group = f["model_weights"]

            def visit(name: str, obj: object) -> None:
                if isinstance(obj, h5py.Dataset):
                    # "Conv2d_1a_3x3/Conv2d_1a_3x3/kernel:0" -> "Conv2d_1a_3x3/kernel"
                    parts = name.split("/")
                    key = f"{parts[0]}/{parts[-1].removesuffix(':0')}"
                    weights[key] = np.asarray(obj[()], dtype=np.float32)

            group.visititems(visit)
    except OSError as exc:  # h5py raises OSError for truncated or non-HDF5 files
        raise ModelError(f"cannot read FaceNet weights from {path}: {exc}") from exc
    return weights


def load_keras_weights(net: InceptionResnetV1, path: Path) -> None:
    """Copy every weight of the Keras h5 file at ``path`` into ``net`` (from ``build_network``).

    Conv kernels are transposed from Keras HWIO to torch OIHW, the dense kernel from (in, out)
    to (out, in). The Keras batch norms have ``scale=False`` (no gamma), so torch's weight is
    set to 1. Raises ``ModelError`` unless every h5 array is consumed exactly once, every
    torch parameter and buffer is set, and every shape matches.
    """
    weights = _read_h5_weights(path)
    state = net.state_dict()
    new: dict[str, torch.Tensor] = {}
    used: set[str] = set()

    def take(key: str) -> np.ndarray:
        if key not in weights:
            raise ModelError(f"{path}: weight {key!r} is missing; not the expected FaceNet model")
        if key in used:  # a mapping bug, not a file problem
            raise RuntimeError(f"FaceNet weight {key!r} mapped twice")
        used.add(key)
        return weights[key]

    def put(torch_key: str, value: np.ndarray) -> None:
        target = state[torch_key]
        if tuple(target.shape) != value.shape:
            raise ModelError(
                f"{path}: shape {value.shape} for {torch_key} does not match {tuple(target.shape)}"
            )
        new[torch_key] = torch.from_numpy(np.ascontiguousarray(value))

    def put_bn(torch_prefix: str, keras: str) -> None:
        beta = take(f"{keras}/beta")
        put(f"{torch_prefix}.weight", np.ones_like(beta))
        put(f"{torch_prefix}.bias", beta)
        put(f"{torch_prefix}.running_mean", take(f"{keras}/moving_mean"))
        put(f"{torch_prefix}.running_var", take(f"{keras}/moving_variance"))
        new[f"{torch_prefix}.num_batches_tracked"] = torch.tensor(0)

    for torch_prefix, keras in keras_layer_map().items():
        kernel = take(f"{keras}/kernel").transpose(3, 2, 0, 1)  # HWIO -> OIHW
        if f"{torch_prefix}.conv.weight" in state:  # BasicConv2d: conv + batch norm
            put(f"{torch_prefix}.conv.weight", kernel)
            put_bn(f"{torch_prefix}.bn", f"{keras}_BatchNorm")
        else:  # residual 1x1 conv with bias
            put(f"{torch_prefix}.weight", kernel)
            put(f"{torch_prefix}.bias", take(f"{keras}/bias"))
    put("last_linear.weight", take("Bottleneck/kernel").T)
    put_bn("last_bn", "Bottleneck_BatchNorm")

    unused = sorted(set(weights) - used)
    if unused:
        raise ModelError(f"{path}: {len(unused)} weights not consumed, e.g. {unused[:3]}")
    unset = sorted(set(state) - set(new))
    if unset:
        raise ModelError(f"{path}: {len(unset)} network tensors not set, e.g. {unset[:3]}")
    net.load_state_dict(new, strict=True)


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Per-image standardization, as the model was trained (TF's ``per_image_standardization``).

    ``x``: (B, 3, H, W) on the 0..255 scale. Returns (x - mean) / max(std, 1 / sqrt(N)) with
    mean and population std over each image's N = 3*H*W values. The floor is applied to the
    variance before the square root, so a constant image has a finite gradient.
    """
    n = x[0].numel()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    var = (x - mean).square().mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) / var.clamp_min(1.0 / n).sqrt()


class FaceNet(Extractor):
    """FaceNet Inception-ResNet-v1 (MS-Celeb-1M, 128-D), from the Keras h5 artifact.

    Input: (B, 3, 160, 160) RGB in [0, 1]; standardization happens inside (differentiable).
    Output of ``embed``: (B, 128) L2-normalised. Always in eval mode; the weights are frozen
    (``requires_grad`` False): gradients flow to the input only, as cloaking needs.

    ``template``: the model was trained on MTCNN *box* crops with a margin, not on
    landmark-aligned crops. The five points (left eye, right eye, nose, left and right mouth
    corner; crop pixels, centres at integers as in ``cloaker.align``) are where MTCNN's
    landmarks fall, on average, inside facenet-pytorch's ``MTCNN(image_size=160,
    margin=32)`` crop (the box grown by 16 crop pixels on each side and stretched to
    160 x 160; David Sandberg's FaceNet validates with ``--image_size 160 --margin 32``).
    Averaged over 125 faces of 23 identities in the shared real photos by
    ``tools/measure_facenet_template.py``. A similarity warp onto these points reproduces
    the typical box crop without its stretching. Of margins 0, 16, 32, 44 and 64, this one
    gave the lowest equal error rate, both for box crops and for template-aligned crops
    (0.04% aligned, 0.08% box crops).

    ``threshold``: 1.1 on the L2 distance of normalised embeddings, the value commonly used
    for this model (1.242, also quoted, accepted 12.6% of different-person pairs here).
    On the 125 faces aligned to this template, 1.1 accepts all 305 same-person pairs
    (largest distance 0.94) and rejects 98.7% of 7,445 different-person pairs (smallest
    0.89). The equal-error point of this small set is lower (0.94), but 1.1 is kept: it is
    the model's established operating point, and for cloaking it is the conservative
    choice (a cloak counts as protecting a face only once it moves the face past 1.1).
    """

    name: ClassVar[str] = "facenet_keras"
    size: ClassVar[int] = 160
    template: ClassVar[tuple[tuple[float, float], ...]] = (
        (51.55, 67.05),
        (109.21, 66.33),
        (80.26, 92.16),
        (55.27, 112.71),
        (107.60, 112.05),
    )
    threshold: ClassVar[float] = 1.1

    def __init__(self, net: InceptionResnetV1) -> None:
        super().__init__()
        self.net = net
        self.net.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FaceNet:
        """Stays in eval mode: batch norm and dropout must behave as at inference."""
        return super().train(False)

    def fuse_batch_norms(self) -> FaceNet:
        """Fold every convolution's batch norm into the convolution (eval mode makes each
        an affine map): the same embeddings to float rounding, one op less per layer
        forward and backward (about 6% of a cloaking step on a CPU). In place; returns
        self."""
        for m in self.net.modules():
            if isinstance(m, BasicConv2d) and isinstance(m.bn, nn.BatchNorm2d):
                m.conv = fuse_conv_bn_eval(m.conv, m.bn)
                m.bn = nn.Identity()
        return self

    def middle_module(self) -> nn.Module:
        return self.net.mixed_6a  # the reduction after the first Inception stage (8x8 at 160 px)

    def residual_branch_ends(self) -> list[nn.Module]:
        # Each Inception-ResNet block adds its branch (conv2d, then scaled) to its input.
        return [m.conv2d for m in self.net.modules() if isinstance(m, Block35 | Block17 | Block8)]

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 160, 160) RGB in [0, 1] -> (B, 128) raw (un-normalised) embeddings."""
        if x.shape[-2:] != (self.size, self.size):
            raise ValueError(f"FaceNet expects 160x160 crops, got {tuple(x.shape[-2:])}")
        net = self.net
        h = standardize(x * 255.0)
        for layer in (
            net.conv2d_1a,
            net.conv2d_2a,
            net.conv2d_2b,
            net.maxpool_3a,
            net.conv2d_3b,
            net.conv2d_4a,
            net.conv2d_4b,
            net.repeat_1,
            net.mixed_6a,
            net.repeat_2,
            net.mixed_7a,
            net.repeat_3,
            net.block8,
            net.avgpool_1a,
        ):
            h = layer(h)
        # Dropout is the identity at inference; facenet-pytorch's forward would also
        # L2-normalise here, which ``embed`` does instead.
        return net.last_bn(net.last_linear(h.flatten(1)))


def load_facenet(path: Path | None = None, device: torch.device | str | None = None) -> FaceNet:
    """Load the FaceNet extractor from ``path`` (default: the models dir) onto ``device``.

    ``device``: a torch device or name; None picks CUDA, then MPS, then CPU.
    Raises ``ModelError`` when the file is missing, unreadable or not this model.
    """
    if path is None:
        path = require("facenet_keras")  # present and checksum-verified, else how to fetch it
    elif not path.is_file():
        raise ModelError(f"FaceNet weights not found at {path}")
    dev = device if isinstance(device, torch.device) else pick_device(device)
    net = build_network()
    load_keras_weights(net, path)
    return FaceNet(net).to(dev)
