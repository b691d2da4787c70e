"""What the face-model tests share: the artifact fixture, the fixed photos and their ArcFace
crops, an onnxruntime reference, and the checks every differentiable extractor must pass
(identity separation, gradients, batch independence, CUDA parity, refusing bad files).
Each test module keeps its own test functions, which call these with its model."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from cloaker.align import crop_matrices, to_tensor, warp
from cloaker.detect import FaceDetector
from cloaker.errors import ModelError
from cloaker.models.base import Extractor
from cloaker.models.onnx_reader import read_onnx
from cloaker.models.onnx_torch import OnnxModule
from cloaker.models.registry import ARTIFACTS
from cloaker.models.zoo import load_extractor

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
# Cut points of the truncated-file tests, as fractions of the file.
TRUNCATIONS = (0.0, 0.001, 0.3, 0.5, 0.9, 0.9999)


def artifact_fixture(name: str):
    """A module-scoped ``model_path`` fixture: the verified artifact of registry model
    ``name``, skipping the test when it is missing."""

    def model_path(models_dir: Path) -> Path:
        path = models_dir / ARTIFACTS[name].filename
        if not path.is_file():
            pytest.skip(f"{path} missing: run `make models`")
        return path

    return pytest.fixture(scope="module")(model_path)


def load_on_cpu(load: Callable[..., Extractor], path: Path, cls: type) -> Extractor:
    extractor = load(path, device="cpu")
    assert isinstance(extractor, cls)
    return extractor


def arcface_crops(
    faces_dir: Path, template: tuple[tuple[float, float], ...]
) -> tuple[torch.Tensor, list[str]]:
    """(18, 3, 112, 112) crops of PHOTOS in [0, 1] aligned on ``template``, and each one's
    identity."""
    detector = FaceDetector(device="cpu", max_side=480, min_face=40)  # speed
    out, ids = [], []
    for rel in PHOTOS:
        rgb = np.asarray(
            ImageOps.exif_transpose(Image.open(faces_dir / "people" / rel)).convert("RGB")
        )
        faces = detector.detect(rgb)
        assert faces, f"no face found in {rel}"
        face = max(faces, key=lambda f: f.size)
        m = crop_matrices(face.landmarks[None], np.array(template))
        out.append(warp(to_tensor(rgb), m, 112))
        ids.append(rel.split("/")[0])
    return torch.cat(out), ids


def onnx_reference(
    path: Path, prepare: Callable[[torch.Tensor], torch.Tensor]
) -> Callable[[torch.Tensor], torch.Tensor]:
    """onnxruntime on ``path``: a function crops (B, 3, 112, 112) in [0, 1] -> raw
    embeddings, each crop fed to the graph's first input as ``prepare(crop)``, one crop per
    run (the graphs declare a batch-1 output). Any further inputs are fed zeros."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (test reference)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    data, *others = session.get_inputs()
    feed = {i.name: np.zeros(i.shape, np.float32) for i in others}

    def run(crops: torch.Tensor) -> torch.Tensor:
        out = []
        for crop in crops:
            feed[data.name] = prepare(crop[None]).numpy().astype(np.float32)
            out.append(session.run(None, feed)[0])
        return torch.from_numpy(np.concatenate(out))

    return run


def check_port_matches_reference(model: Extractor, reference, x: torch.Tensor, dim: int) -> None:
    """Raw embeddings within 1e-4 of the reference's scale, normalised ones within 1e-4."""
    with torch.no_grad():
        raw = model._forward(x)
        ours = model.embed(x)
    theirs = reference(x)
    assert raw.shape == theirs.shape == (len(x), dim)
    assert float((raw - theirs).abs().max()) <= 1e-4 * float(theirs.abs().max())
    theirs_n = torch.nn.functional.normalize(theirs, dim=1)
    assert float((ours - theirs_n).abs().max()) <= 1e-4
    torch.testing.assert_close(ours.norm(dim=1), torch.ones(len(x)))


def check_same_embeddings(a: Extractor, b: Extractor, x: torch.Tensor, atol: float) -> None:
    with torch.no_grad():
        torch.testing.assert_close(a.embed(x), b.embed(x), atol=atol, rtol=0)


def check_identities_separate(model: Extractor, crops: tuple[torch.Tensor, list[str]]) -> None:
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


def check_gradients_reach_the_pixels(model: Extractor, crops: torch.Tensor) -> None:
    x = crops[:2].clone().requires_grad_(True)
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


def check_batch_of_one_equals_batch_of_five(model: Extractor, crops: torch.Tensor) -> None:
    x = crops[:5]
    with torch.no_grad():
        batched = model.embed(x)
        single = torch.cat([model.embed(x[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=0)


def check_cuda_matches_cpu(load, path: Path, model: Extractor, crops: torch.Tensor) -> None:
    gpu = load(path, device="cuda")
    x = crops[:4]
    with torch.no_grad():
        torch.testing.assert_close(gpu.embed(x.cuda()).cpu(), model.embed(x), atol=1e-4, rtol=0)


def check_truncated_file_is_a_model_error(load, path: Path, bad: Path, fraction: float) -> None:
    """``load`` refuses the first ``fraction`` of the file at ``path``, written to ``bad``."""
    data = path.read_bytes()
    bad.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelError):
        load(bad, device="cpu")


def check_zoo_loads(name: str, cls: type, threshold: float) -> None:
    """``load_extractor`` finds the model by name in the models dir, frozen."""
    extractor = load_extractor(name, device="cpu")
    assert isinstance(extractor, cls) and extractor.differentiable
    assert (extractor.name, extractor.size, extractor.threshold) == (name, 112, threshold)
    assert not any(p.requires_grad for p in extractor.parameters())


def check_missing_model_says_how_to_fetch(load, tmp_path: Path, monkeypatch, match: str) -> None:
    monkeypatch.setenv("CLOAKER_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelError, match=match):
        load()
    with pytest.raises(ModelError, match="not found"):
        load(tmp_path / "nope.onnx")


def check_unsupported_onnx_op_is_a_model_error(path: Path) -> None:
    graph = read_onnx(path)
    nodes = list(graph.nodes)
    i = next(k for k, n in enumerate(nodes) if n.op_type == "PRelu")
    nodes[i] = dataclasses.replace(nodes[i], op_type="Softmax")
    with pytest.raises(ModelError, match="unsupported ONNX ops: Softmax"):
        OnnxModule(dataclasses.replace(graph, nodes=tuple(nodes)))
