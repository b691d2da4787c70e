"""MobileFaceNet: our TFLite reader, the PyTorch port against Google's LiteRT interpreter on
real face crops, identity separation at the calibrated threshold, and the properties the
optimizer relies on (gradients, batch independence, clear errors for bad files)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import model_util
import pytest
import torch

from cloaker.errors import ModelError
from cloaker.models.mobilefacenet import (
    TEMPLATE,
    MobileFaceNetTorch,
    load_mobilefacenet,
)
from cloaker.models.tflite_reader import parse_tflite, read_tflite
from cloaker.models.tflite_torch import TFLiteModule, same_padding

model_path = model_util.artifact_fixture("mobilefacenet")


@pytest.fixture(scope="module")
def model(model_path: Path) -> MobileFaceNetTorch:
    return model_util.load_on_cpu(load_mobilefacenet, model_path, MobileFaceNetTorch)


@pytest.fixture(scope="module")
def reference(model_path: Path):
    pytest.importorskip(
        "ai_edge_litert.interpreter", reason="ai-edge-litert not installed (pip install .[eval])"
    )
    return load_mobilefacenet(model_path, backend="litert")


@pytest.fixture(scope="module")
def crops(faces_dir: Path) -> tuple[torch.Tensor, list[str]]:
    """model_util.PHOTOS cut on TEMPLATE, and each one's identity."""
    return model_util.arcface_crops(faces_dir, TEMPLATE)


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
    model_util.check_same_embeddings(model, plain, crops[0][:4], atol=1e-6)


def test_identities_separate_at_threshold(model, crops) -> None:
    model_util.check_identities_separate(model, crops)


def test_gradients_reach_the_pixels(model, crops) -> None:
    model_util.check_gradients_reach_the_pixels(model, crops[0])


def test_batch_of_one_equals_batch_of_five(model, crops) -> None:
    model_util.check_batch_of_one_equals_batch_of_five(model, crops[0])


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
    model_util.check_cuda_matches_cpu(load_mobilefacenet, model_path, model, crops[0])


@pytest.mark.parametrize("fraction", model_util.TRUNCATIONS, ids=str)
def test_truncated_file_is_a_model_error(model_path: Path, tmp_path: Path, fraction) -> None:
    model_util.check_truncated_file_is_a_model_error(
        load_mobilefacenet, model_path, tmp_path / "truncated.tflite", fraction
    )


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
