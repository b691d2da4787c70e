"""The dlib ResNet port: the .dat reader, numerical fidelity to dlib itself, identity
separation on real photos, and the properties the optimizer relies on (gradients,
batch independence)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from model_util import artifact_fixture
from PIL import Image, ImageOps

from cloaker.align import crop_matrices, to_tensor, warp
from cloaker.detect import FaceDetector
from cloaker.errors import ModelError
from cloaker.models.dlib_format import Reader, read_network
from cloaker.models.dlib_resnet import DlibResNet, load_dlib_resnet, network_structure
from cloaker.models.registry import ARTIFACTS

FILENAME = ARTIFACTS["dlib_resnet"].filename
# Six identities, photos 1 and 2 of each: a fixed choice (not picked by outcome) mixing
# LFW 250-px crops and large press photos.
PEOPLE = (
    "angelina_jolie",
    "barack_obama",
    "colin_powell",
    "george_w_bush",
    "jennifer_aniston",
    "mark_zuckerberg",
)
PHOTOS = tuple(f"{who}/{n}.jpg" for who in PEOPLE for n in (1, 2))
# Speed: photos are downscaled to this long side before detection (faces stay >= 100 px,
# close to the 150-px crop), and MTCNN skips faces smaller than MIN_FACE.
DETECT_SIDE = 480
MIN_FACE = 60


model_path = artifact_fixture("dlib_resnet")


@pytest.fixture(scope="module")
def model(model_path: Path) -> DlibResNet:
    return load_dlib_resnet(model_path, device="cpu")


@pytest.fixture(scope="module")
def chips(faces_dir: Path) -> tuple[torch.Tensor, list[str]]:
    """(12, 3, 150, 150) uint8-valued crops in [0, 1] aligned with ``DlibResNet.template``,
    and the identity of each."""
    detector = FaceDetector(device="cpu", min_face=MIN_FACE)
    threads = torch.get_num_threads()
    # MTCNN is many tiny ops: on a busy 2-core box one thread is ~10x faster than two.
    torch.set_num_threads(1)
    crops, ids = [], []
    try:
        for rel in PHOTOS:
            img = Image.open(faces_dir / "people" / rel)
            img.draft("RGB", (2 * DETECT_SIDE, 2 * DETECT_SIDE))  # fast JPEG decode
            img = ImageOps.exif_transpose(img).convert("RGB")
            img.thumbnail((DETECT_SIDE, DETECT_SIDE), Image.Resampling.LANCZOS)
            rgb = np.asarray(img)
            faces = detector.detect(rgb)
            assert faces, f"no face found in {rel}"
            face = max(faces, key=lambda f: f.size)
            m = crop_matrices(face.landmarks[None], DlibResNet.template_tensor().numpy())
            crop = warp(to_tensor(rgb), m, DlibResNet.size)
            # Quantise to 8 bits so dlib (uint8 input) and the port see the very same chip.
            crops.append(torch.round(crop * 255) / 255)
            ids.append(rel.split("/")[0])
    finally:
        torch.set_num_threads(threads)
    return torch.cat(crops), ids


def _u8(chip: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray((chip.permute(1, 2, 0) * 255).round().byte().numpy())


# -- (a) numerical fidelity against dlib itself -------------------------------------------


def test_matches_dlib_descriptor(model: DlibResNet, model_path: Path, chips) -> None:
    dlib = pytest.importorskip("dlib", reason="dlib-bin (dev extra) is the reference")
    reference = dlib.face_recognition_model_v1(str(model_path))
    crops = chips[0][::2]  # one photo of each identity
    want = np.array([np.array(reference.compute_face_descriptor(_u8(c))) for c in crops])
    with torch.no_grad():
        got = model._forward(crops).numpy()
    assert got.shape == (len(crops), 128)
    err = np.abs(got - want).max()
    assert err <= 1e-4, err
    # The descriptors are far from zero, so the bound above is a real constraint.
    assert np.linalg.norm(want, axis=1).min() > 1.0


# -- (b) identity separation with our template and threshold -----------------------------


def test_separates_identities(model: DlibResNet, chips) -> None:
    crops, ids = chips
    with torch.no_grad():
        emb = model.embed(crops)
    dist = torch.cdist(emb, emb).numpy()
    labels = np.array(ids)
    same = labels[:, None] == labels[None, :]
    upper = np.triu(np.ones_like(same), 1).astype(bool)
    same_d, diff_d = dist[same & upper], dist[~same & upper]
    assert len(same_d) == len(PEOPLE) and len(diff_d) == 60
    assert same_d.max() < diff_d.min()
    assert (same_d < DlibResNet.threshold).all(), same_d
    assert (diff_d >= DlibResNet.threshold).all(), diff_d.min()
    assert DlibResNet.matches(emb[0::2], emb[1::2]).all()


def test_template_is_a_plausible_face() -> None:
    t = DlibResNet.template_tensor()
    assert t.shape == (5, 2)
    assert (t > 0).all() and (t < DlibResNet.size).all()
    # Eyes level, mouth corners level, left/right ordered, nose between eyes and mouth.
    assert abs(float(t[0, 1] - t[1, 1])) < 1 and abs(float(t[3, 1] - t[4, 1])) < 1
    assert t[0, 0] < t[2, 0] < t[1, 0] and t[3, 0] < t[4, 0]
    assert t[0, 1] < t[2, 1] < t[3, 1]
    # dlib centres the face: the landmarks' mean x is the chip centre within a pixel.
    assert abs(float(t[:, 0].mean()) - (DlibResNet.size - 1) / 2) < 1


# -- (c) reader robustness ----------------------------------------------------------------


@pytest.fixture(scope="module")
def model_bytes(model_path: Path) -> bytes:
    return model_path.read_bytes()


@pytest.mark.parametrize("keep", [0, 1, 40, 1000, 0.5, -4, -1], ids=str)
def test_truncated_file_is_a_model_error(model_bytes: bytes, keep: float) -> None:
    n = len(model_bytes)
    cut = int(n * keep) if isinstance(keep, float) else (keep if keep >= 0 else n + keep)
    with pytest.raises(ModelError, match="truncated"):
        read_network(model_bytes[:cut], network_structure())


def test_corrupt_tag_is_a_model_error(model_bytes: bytes) -> None:
    pos = model_bytes.index(b"con_4")
    bad = model_bytes[:pos] + b"cXn_4" + model_bytes[pos + 5 :]
    with pytest.raises(ModelError, match="expected a con layer"):
        read_network(bad, network_structure())


def test_non_finite_weights_are_a_model_error(model_bytes: bytes) -> None:
    r = Reader(model_bytes)
    r.pos = model_bytes.index(b"con_4") + len(b"con_4")  # the first conv's params tensor
    for _ in range(5):  # tensor header: version, n, k, nr, nc
        r.read_int()
    bad = bytearray(model_bytes)
    bad[r.pos : r.pos + 4] = np.array([np.nan], "<f4").tobytes()
    with pytest.raises(ModelError, match="non-finite"):
        read_network(bytes(bad), network_structure())


def test_trailing_bytes_are_a_model_error(model_bytes: bytes) -> None:
    with pytest.raises(ModelError, match="unexpected bytes"):
        read_network(model_bytes + b"\x00", network_structure())


def test_garbage_file_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / FILENAME
    bad.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(ModelError):
        load_dlib_resnet(bad, device="cpu")


def test_missing_file_says_how_to_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOAKER_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="cloaker models fetch"):
        load_dlib_resnet()


@pytest.mark.parametrize(
    "raw,value",
    [(b"\x01\x00", 0), (b"\x01\x02", 2), (b"\x81\x05", -5), (b"\x02\x34\x12", 0x1234)],
    ids=["zero", "two", "minus5", "two-bytes"],
)
def test_reader_integers(raw: bytes, value: int) -> None:
    r = Reader(raw)
    assert r.read_int() == value and r.pos == len(raw)


def test_reader_rejects_bad_control_byte() -> None:
    with pytest.raises(ModelError, match="control byte"):
        Reader(b"\x00").read_int()


# -- (d) what the optimizer needs: gradients and batch independence ----------------------


def test_gradients_reach_the_input(model: DlibResNet, chips) -> None:
    x = chips[0][:2].clone().requires_grad_(True)
    model.embed(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert float(x.grad.abs().mean()) > 0
    assert all(p.grad is None for p in model.parameters())  # weights stay frozen


def test_batch_of_one_equals_batch_of_four(model: DlibResNet, chips) -> None:
    crops = chips[0][:4]
    with torch.no_grad():
        batch = model.embed(crops)
        single = torch.cat([model.embed(c[None]) for c in crops])
    assert batch.shape == (4, 128)
    torch.testing.assert_close(batch, single, atol=1e-6, rtol=0)
    torch.testing.assert_close(batch.norm(dim=1), torch.ones(4))


def test_wrong_crop_size_is_rejected(model: DlibResNet) -> None:
    with pytest.raises(ValueError, match="150x150"):
        model.embed(torch.zeros(1, 3, 112, 112))
