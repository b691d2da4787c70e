"""SFace: our ONNX reader, the PyTorch port against onnxruntime on real face crops, identity
separation at the published threshold, and the properties the optimizer relies on
(gradients, batch independence, clear errors for bad files)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import model_util
import numpy as np
import pytest
import torch

from cloaker.errors import ModelError
from cloaker.models.onnx_reader import parse_onnx, read_onnx
from cloaker.models.onnx_torch import dequantize
from cloaker.models.registry import ARTIFACTS
from cloaker.models.sface import TEMPLATE, SFaceTorch, build, load_sface

model_path = model_util.artifact_fixture("sface")


@pytest.fixture(scope="module")
def model(model_path: Path) -> SFaceTorch:
    return model_util.load_on_cpu(load_sface, model_path, SFaceTorch)


@pytest.fixture(scope="module")
def reference(model_path: Path):
    """onnxruntime on the same file: crops (B, 3, 112, 112) in [0, 1] -> raw (B, 128), fed
    x*255 (the graph normalises). The graph has a fixed batch of 1 and still lists the float
    weights it was quantized from as (unused) inputs, which onnxruntime wants fed: zeros."""
    return model_util.onnx_reference(model_path, lambda x: x * 255.0)


@pytest.fixture(scope="module")
def crops(faces_dir: Path) -> tuple[torch.Tensor, list[str]]:
    """model_util.PHOTOS cut on TEMPLATE, and each one's identity."""
    return model_util.arcface_crops(faces_dir, TEMPLATE)


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
    model_util.check_port_matches_reference(model, reference, crops[0], 128)


def test_bn_folding_is_exact_enough(model_path: Path, model, crops) -> None:
    plain = build(read_onnx(model_path), model_path, fold_bn=False)
    assert len(plain.graph.steps) == 88 and len(model.graph.steps) == 60
    model_util.check_same_embeddings(model, plain, crops[0][:4], atol=1e-5)


def test_identities_separate_at_threshold(model, crops) -> None:
    model_util.check_identities_separate(model, crops)


def test_gradients_reach_the_pixels(model, crops) -> None:
    model_util.check_gradients_reach_the_pixels(model, crops[0])


def test_batch_of_one_equals_batch_of_five(model, crops) -> None:
    model_util.check_batch_of_one_equals_batch_of_five(model, crops[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(model_path: Path, model, crops) -> None:
    model_util.check_cuda_matches_cpu(load_sface, model_path, model, crops[0])


@pytest.mark.parametrize("fraction", model_util.TRUNCATIONS, ids=str)
def test_truncated_file_is_a_model_error(model_path: Path, tmp_path: Path, fraction) -> None:
    model_util.check_truncated_file_is_a_model_error(
        load_sface, model_path, tmp_path / "truncated.onnx", fraction
    )


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
    model_util.check_unsupported_onnx_op_is_a_model_error(model_path)


def test_wrong_geometry_is_a_model_error(model_path: Path) -> None:
    graph = read_onnx(model_path)
    nodes = [n for n in graph.nodes if n.op_type != "BatchNormalization" or n.name != "fc1"]
    out = dataclasses.replace(graph.outputs[0], name="pre_fc1", shape=(1, 64))
    with pytest.raises(ModelError, match="not SFace"):
        build(dataclasses.replace(graph, nodes=tuple(nodes), outputs=(out,)), model_path)


def test_default_path_and_zoo(model_path: Path) -> None:
    # conftest points CLOAKER_MODELS_DIR at the verified artifacts.
    model_util.check_zoo_loads("sface", SFaceTorch, 1.128)


def test_missing_model_says_how_to_fetch(tmp_path: Path, monkeypatch) -> None:
    model_util.check_missing_model_says_how_to_fetch(
        load_sface, tmp_path, monkeypatch, "cloaker models fetch"
    )
