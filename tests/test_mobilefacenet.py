"""MobileFaceNet: our TFLite reader, the PyTorch port against Google's LiteRT interpreter on
real face crops, identity separation at the calibrated threshold, and the properties the
optimizer relies on (gradients, batch independence, clear errors for bad files)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from cloaker.align import crop_matrices, to_tensor, warp
from cloaker.detect import FaceDetector
from cloaker.errors import ModelError
from cloaker.models.mobilefacenet import (
    TEMPLATE,
    MobileFaceNetTorch,
    load_mobilefacenet,
)
from cloaker.models.registry import ARTIFACTS
from cloaker.models.tflite_reader import parse_tflite, read_tflite
from cloaker.models.tflite_torch import TFLiteModule, same_padding

FILENAME = ARTIFACTS["mobilefacenet"].filename
# A fixed choice (by photo size, for speed; not picked by outcome): photos 1-3 of four
# LFW-tier identities and the two photos under 700 px of three press-photo identities.
LFW_TIER = ("ariel_sharon", "colin_powell", "george_w_bush", "tony_blair")
PHOTOS = (
    *(f"{who}/{n}.jpg" for who in LFW_TIER for n in (1, 2, 3)),
    "angelina_jolie/4.jpg",
    "angelina_jolie/7.jpg",
    "katy_perry/7.jpg",
    "katy_perry/8.jpg",
    "scarlett_johansson/6.jpg",
    "scarlett_johansson/7.jpg",
)


@pytest.fixture(scope="module")
def model_path(models_dir: Path) -> Path:
    path = models_dir / FILENAME
    if not path.is_file():
        pytest.skip(f"{path} missing: run `make models`")
    return path


@pytest.fixture(scope="module")
def model(model_path: Path) -> MobileFaceNetTorch:
    extractor = load_mobilefacenet(model_path, device="cpu")
    assert isinstance(extractor, MobileFaceNetTorch)
    return extractor


@pytest.fixture(scope="module")
def reference(model_path: Path):
    pytest.importorskip(
        "ai_edge_litert.interpreter", reason="ai-edge-litert not installed (pip install .[eval])"
    )
    return load_mobilefacenet(model_path, backend="litert")


@pytest.fixture(scope="module")
def crops(faces_dir: Path) -> tuple[torch.Tensor, list[str]]:
    """(18, 3, 112, 112) crops in [0, 1] aligned on TEMPLATE, and each one's identity."""
    detector = FaceDetector(device="cpu", max_side=480, min_face=40)  # speed
    out, ids = [], []
    for rel in PHOTOS:
        rgb = np.asarray(
            ImageOps.exif_transpose(Image.open(faces_dir / "people" / rel)).convert("RGB")
        )
        faces = detector.detect(rgb)
        assert faces, f"no face found in {rel}"
        face = max(faces, key=lambda f: f.size)
        m = crop_matrices(face.landmarks[None], np.array(TEMPLATE))
        out.append(warp(to_tensor(rgb), m, 112))
        ids.append(rel.split("/")[0])
    return torch.cat(out), ids


def test_reader_sees_the_graph(model_path: Path) -> None:
    graph = read_tflite(model_path)
    assert graph.op_names() == {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "RELU",
        "ABS",
        "SUB",
        "MUL",
        "ADD",
        "RESHAPE",
    }
    assert graph.tensors[graph.inputs[0]].shape == (2, 112, 112, 3)
    assert graph.tensors[graph.outputs[0]].shape == (2, 192)
    first = graph.operators[0]
    assert first.op == "CONV_2D"
    assert first.options["padding"] == "SAME"
    assert (first.options["stride_h"], first.options["stride_w"]) == (2, 2)
    assert graph.tensors[first.inputs[1]].array().shape == (64, 3, 3, 3)


@pytest.mark.parametrize(
    "size,kernel,stride,expected",
    [
        (112, 3, 2, (0, 1)),
        (56, 3, 1, (1, 1)),
        (7, 1, 1, (0, 0)),
        (5, 3, 2, (1, 1)),
        (6, 4, 2, (1, 1)),
        (7, 7, 2, (3, 3)),
        (4, 1, 3, (0, 0)),
    ],
    ids=str,
)
def test_same_padding_matches_tensorflow(
    size: int, kernel: int, stride: int, expected: tuple[int, int]
) -> None:
    before, after = same_padding(size, kernel, stride)
    assert (before, after) == expected
    # TensorFlow's definition: output ceil(size / stride), odd padding pixel after.
    assert (size + before + after - kernel) // stride + 1 == -(-size // stride)


def test_torch_port_matches_litert(model, reference, crops) -> None:
    x, _ = crops
    with torch.no_grad():
        ours = model.embed(x)
    theirs = reference.embed(x)
    assert ours.shape == theirs.shape == (len(x), 192)
    assert float((ours - theirs).abs().max()) <= 1e-4
    torch.testing.assert_close(ours.norm(dim=1), torch.ones(len(x)))


def test_prelu_fusion_is_exact(model_path: Path, model, crops) -> None:
    plain = MobileFaceNetTorch(TFLiteModule(read_tflite(model_path), fuse_prelu=False))
    assert len(plain.graph.steps) == 230 and len(model.graph.steps) == 98
    x = crops[0][:4]
    with torch.no_grad():
        torch.testing.assert_close(model.embed(x), plain.embed(x), atol=1e-6, rtol=0)


def test_identities_separate_at_threshold(model, crops) -> None:
    x, ids = crops
    with torch.no_grad():
        emb = model.embed(x)
    dist = torch.cdist(emb, emb).numpy()
    labels = np.array(ids)
    iu = np.triu_indices(len(ids), 1)
    same = (labels[:, None] == labels[None, :])[iu]
    d_same, d_diff = dist[iu][same], dist[iu][~same]
    assert len(set(ids)) >= 4 and len(d_same) == 15
    t = model.threshold
    assert (d_same < t).mean() >= 0.9, sorted(d_same)
    assert (d_diff < t).mean() <= 0.02, sorted(d_diff)[:5]
    assert d_same.mean() < t < d_diff.mean()
    np.fill_diagonal(dist, np.inf)
    assert (labels[dist.argmin(1)] == labels).all()  # every face's nearest is its owner


def test_gradients_reach_the_pixels(model, crops) -> None:
    x = crops[0][:2].clone().requires_grad_(True)
    emb = model.embed(x)
    loss = -(emb[0] - emb[1].detach()).norm()  # push face 0 away from face 1, as a cloak does
    loss.backward()
    grad = x.grad
    assert grad is not None and torch.isfinite(grad).all()
    assert float(grad[0].abs().sum()) > 0 and float(grad[1].abs().sum()) == 0
    assert not any(b.requires_grad for b in model.buffers())
    # The gradient is a real descent direction: a small signed step lowers the loss.
    with torch.no_grad():
        stepped = (x - 1e-3 * grad.sign()).clamp(0, 1)
        emb2 = model.embed(stepped)
        assert float(-(emb2[0] - emb[1]).norm()) < float(loss)


def test_batch_of_one_equals_batch_of_five(model, crops) -> None:
    x = crops[0][:5]
    with torch.no_grad():
        batched = model.embed(x)
        single = torch.cat([model.embed(x[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=0)


def test_litert_pads_and_splits_batches(reference, crops) -> None:
    x = crops[0][:5]  # odd: two full graph batches and one padded one
    batched = reference.embed(x)
    single = torch.cat([reference.embed(x[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(batched, single, atol=1e-6, rtol=0)
    assert not reference.differentiable
    assert (reference.name, reference.size, reference.template) == (
        "mobilefacenet",
        112,
        TEMPLATE,
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(model_path: Path, model, crops) -> None:
    gpu = load_mobilefacenet(model_path, device="cuda")
    x = crops[0][:4]
    with torch.no_grad():
        torch.testing.assert_close(gpu.embed(x.cuda()).cpu(), model.embed(x), atol=1e-4, rtol=0)


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.3, 0.5, 0.9, 0.9999], ids=str)
def test_truncated_file_is_a_model_error(model_path: Path, tmp_path: Path, fraction) -> None:
    data = model_path.read_bytes()
    bad = tmp_path / "truncated.tflite"
    bad.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelError):
        load_mobilefacenet(bad, device="cpu")


def test_garbage_and_wrong_files_are_model_errors(model_path: Path, tmp_path: Path) -> None:
    data = bytearray(model_path.read_bytes())
    with pytest.raises(ModelError, match="TFL3"):
        parse_tflite(b"\x00" * 4096)
    data[0:4] = b"\xff\xff\xff\x7f"  # root offset far past the end
    with pytest.raises(ModelError, match="corrupt"):
        parse_tflite(bytes(data))
    bad = tmp_path / "not_a_model.tflite"
    bad.write_text("hello")
    with pytest.raises(ModelError):
        load_mobilefacenet(bad, backend="litert")


def test_unsupported_op_is_a_model_error(model_path: Path) -> None:
    graph = read_tflite(model_path)
    ops = list(graph.operators)
    ops[1] = dataclasses.replace(ops[1], op="SOFTMAX")
    with pytest.raises(ModelError, match="unsupported TFLite ops: SOFTMAX"):
        TFLiteModule(dataclasses.replace(graph, operators=tuple(ops)))


def test_default_path_is_the_models_dir(model_path: Path) -> None:
    # conftest points CLOAKER_MODELS_DIR at the verified artifacts.
    extractor = load_mobilefacenet(device="cpu")
    assert isinstance(extractor, MobileFaceNetTorch) and extractor.differentiable
    assert (extractor.name, extractor.size, extractor.threshold) == ("mobilefacenet", 112, 1.05)


def test_missing_model_says_how_to_fetch(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CLOAKER_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="cloaker models fetch"):
        load_mobilefacenet()
    with pytest.raises(ValueError, match="backend"):
        load_mobilefacenet(backend="onnx")
