"""SFace: our ONNX reader, the PyTorch port against onnxruntime on real face crops, identity
separation at the published threshold, and the properties the optimizer relies on
(gradients, batch independence, clear errors for bad files)."""

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
from cloaker.models.onnx_reader import parse_onnx, read_onnx
from cloaker.models.onnx_torch import OnnxModule, dequantize
from cloaker.models.registry import ARTIFACTS
from cloaker.models.sface import TEMPLATE, SFaceTorch, build, load_sface
from cloaker.models.zoo import load_extractor

FILENAME = ARTIFACTS["sface"].filename
# The same fixed choice of photos as tests/test_mobilefacenet.py (by photo size, for speed).
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
def model(model_path: Path) -> SFaceTorch:
    extractor = load_sface(model_path, device="cpu")
    assert isinstance(extractor, SFaceTorch)
    return extractor


@pytest.fixture(scope="module")
def reference(model_path: Path):
    """onnxruntime on the same file: a function crops (B, 3, 112, 112) in [0, 1] -> raw
    (B, 128). The graph has a fixed batch of 1 and still lists the float weights it was
    quantized from as (unused) inputs, which onnxruntime wants fed: zeros."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (test reference)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    feed = {i.name: np.zeros(i.shape, np.float32) for i in session.get_inputs()}

    def run(crops: torch.Tensor) -> torch.Tensor:
        out = []
        for crop in crops:
            feed["data"] = (crop[None] * 255.0).numpy().astype(np.float32)
            out.append(session.run(None, feed)[0])
        return torch.from_numpy(np.concatenate(out))

    return run


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
    graph = read_onnx(model_path)
    assert graph.opsets == {"": 21}
    assert graph.op_types() == {
        "BatchNormalization",
        "Constant",
        "Conv",
        "DequantizeLinear",
        "Dropout",
        "Flatten",
        "Gemm",
        "Mul",
        "PRelu",
        "Reshape",
        "Sub",
    }
    assert len(graph.nodes) == 145 and len(graph.initializers) == 261
    assert graph.outputs[0].name == "fc1" and graph.outputs[0].shape == (1, 128)
    assert graph.inputs[0].name == "data" and graph.inputs[0].shape == (1, 3, 112, 112)
    q = graph.initializers["pre_fc1_weight_quantized"]
    assert q.dtype == np.int8 and q.shape == (128, 50176)
    conv = next(n for n in graph.nodes if n.name == "conv_3_dw_conv2d")
    assert conv.attrs["group"] == 64 and conv.attrs["strides"] == [2, 2]
    assert conv.attrs["pads"] == [1, 1, 1, 1]
    bn = next(n for n in graph.nodes if n.op_type == "BatchNormalization")
    assert bn.attrs["epsilon"] == pytest.approx(1e-3)


def test_dequantize_follows_onnx() -> None:
    x = np.array([[1, -2, 3, 4, 5]], np.int8)
    # Per block of 2 along axis 1: blocks (1, -2), (3, 4), (5).
    scale = np.array([[0.5, 2.0, 10.0]], np.float32)
    zero = np.array([[1, 0, -1]], np.int8)
    np.testing.assert_array_equal(
        dequantize(x, scale, zero, axis=1, block=2), [[0.0, -1.5, 6.0, 8.0, 60.0]]
    )
    # Per axis 0 and per tensor.
    y = np.array([[2, 4], [6, 8]], np.uint8)
    np.testing.assert_array_equal(
        dequantize(y, np.array([1.0, 0.5], np.float32), None, axis=0, block=0), [[2, 4], [3, 4]]
    )
    np.testing.assert_array_equal(
        dequantize(y, np.array(0.25, np.float32), np.array(2, np.uint8), axis=1, block=0),
        [[0, 0.5], [1, 1.5]],
    )


def test_torch_port_matches_onnxruntime(model, reference, crops) -> None:
    x, _ = crops
    with torch.no_grad():
        raw = model._forward(x)
        ours = model.embed(x)
    theirs = reference(x)
    assert raw.shape == theirs.shape == (len(x), 128)
    assert float((raw - theirs).abs().max()) <= 1e-4 * float(theirs.abs().max())
    theirs_n = torch.nn.functional.normalize(theirs, dim=1)
    assert float((ours - theirs_n).abs().max()) <= 1e-4
    torch.testing.assert_close(ours.norm(dim=1), torch.ones(len(x)))


def test_bn_folding_is_exact_enough(model_path: Path, model, crops) -> None:
    plain = build(read_onnx(model_path), model_path, fold_bn=False)
    assert len(plain.graph.steps) == 88 and len(model.graph.steps) == 60
    x = crops[0][:4]
    with torch.no_grad():
        torch.testing.assert_close(model.embed(x), plain.embed(x), atol=1e-5, rtol=0)


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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(model_path: Path, model, crops) -> None:
    gpu = load_sface(model_path, device="cuda")
    x = crops[0][:4]
    with torch.no_grad():
        torch.testing.assert_close(gpu.embed(x.cuda()).cpu(), model.embed(x), atol=1e-4, rtol=0)


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.3, 0.5, 0.9, 0.9999], ids=str)
def test_truncated_file_is_a_model_error(model_path: Path, tmp_path: Path, fraction) -> None:
    data = model_path.read_bytes()
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelError):
        load_sface(bad, device="cpu")


def test_garbage_and_wrong_files_are_model_errors(models_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        parse_onnx(b"\xff" * 4096)
    with pytest.raises(ModelError, match="too short"):
        parse_onnx(b"hello")
    bad = tmp_path / "not_a_model.onnx"
    bad.write_text("hello, this is not a protobuf message at all")
    with pytest.raises(ModelError):
        load_sface(bad, device="cpu")
    other = models_dir / ARTIFACTS["mobilefacenet"].filename
    if other.is_file():  # a real model file of another format
        with pytest.raises(ModelError):
            load_sface(other, device="cpu")


def test_unsupported_op_is_a_model_error(model_path: Path) -> None:
    graph = read_onnx(model_path)
    nodes = list(graph.nodes)
    i = next(k for k, n in enumerate(nodes) if n.op_type == "PRelu")
    nodes[i] = dataclasses.replace(nodes[i], op_type="Softmax")
    with pytest.raises(ModelError, match="unsupported ONNX ops: Softmax"):
        OnnxModule(dataclasses.replace(graph, nodes=tuple(nodes)))


def test_wrong_geometry_is_a_model_error(model_path: Path) -> None:
    graph = read_onnx(model_path)
    nodes = [n for n in graph.nodes if n.op_type != "BatchNormalization" or n.name != "fc1"]
    out = dataclasses.replace(graph.outputs[0], name="pre_fc1", shape=(1, 64))
    with pytest.raises(ModelError, match="not SFace"):
        build(dataclasses.replace(graph, nodes=tuple(nodes), outputs=(out,)), model_path)


def test_default_path_and_zoo(model_path: Path) -> None:
    # conftest points CLOAKER_MODELS_DIR at the verified artifacts.
    extractor = load_extractor("sface", device="cpu")
    assert isinstance(extractor, SFaceTorch) and extractor.differentiable
    assert (extractor.name, extractor.size, extractor.threshold) == ("sface", 112, 1.128)
    assert not any(p.requires_grad for p in extractor.parameters())


def test_missing_model_says_how_to_fetch(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CLOAKER_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="cloaker models fetch"):
        load_sface()
    with pytest.raises(ModelError, match="not found"):
        load_sface(tmp_path / "nope.onnx")
