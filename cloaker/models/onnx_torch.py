"""Run an ONNX graph (as read by ``onnx_reader``) in PyTorch: differentiable, any batch.

Nodes whose inputs are all constants (initializers, ``Constant``, the weight-side
``DequantizeLinear`` and ``Reshape`` of weight-quantized models) are evaluated once, in
numpy, at build time: the module holds plain float weights. The remaining nodes are
replayed with torch functions that follow ONNX semantics (NCHW, explicit pads).

A ``BatchNormalization`` that directly follows a ``Conv`` or a ``Gemm`` with constant
weights, and is that output's only consumer, is folded into its weights and bias (as
onnxruntime's own graph optimizer does); ``fold_bn=False`` keeps it separate.

Supported runtime ops are exactly those of the models we ship plus trivial ones: Conv,
BatchNormalization, PRelu, Relu, Add, Sub, Mul, Div, Gemm, Flatten, Dropout (inference:
identity), Identity. Any other op, a symbolic pad (``auto_pad``), or a constant-time op we
do not fold raise ``ModelError`` at build time, never a silent approximation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cloaker.errors import ModelError
from cloaker.models.grad import mark_residual_adds, residual_add
from cloaker.models.onnx_reader import Node, OnnxModel

RUNTIME_OPS = frozenset(
    {
        "Conv",
        "BatchNormalization",
        "PRelu",
        "Relu",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Gemm",
        "Flatten",
        "Dropout",
        "Identity",
    }
)
CONST_OPS = frozenset({"Constant", "DequantizeLinear", "Reshape", "Identity"})
_BINARY = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}


def dequantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int, block: int):
    """ONNX DequantizeLinear: (x - zero_point) * scale, per tensor, per axis or per block."""
    x = x.astype(np.float32)
    zero = np.zeros_like(scale, np.float32) if zero is None else zero.astype(np.float32)
    if scale.ndim == 0 or (scale.size == 1 and block == 0):
        return ((x - zero.reshape(())) * scale.reshape(())).astype(np.float32)
    axis = axis % x.ndim
    if block > 0:  # same rank as x, ceil(dim / block) along axis
        if scale.ndim != x.ndim:
            raise ModelError("blocked DequantizeLinear: scale rank differs from the input's")
        scale = np.repeat(scale, block, axis=axis).take(range(x.shape[axis]), axis=axis)
        zero = np.repeat(zero, block, axis=axis).take(range(x.shape[axis]), axis=axis)
    else:  # per-axis: 1-D along axis
        shape = [1] * x.ndim
        shape[axis] = x.shape[axis]
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    if scale.shape != x.shape and block > 0:
        raise ModelError("blocked DequantizeLinear: scale does not cover the input")
    return ((x - zero) * scale).astype(np.float32)


def _reshape(x: np.ndarray, shape: np.ndarray, allowzero: int) -> np.ndarray:
    target = [int(s) for s in shape]
    if not allowzero:
        target = [x.shape[i] if s == 0 else s for i, s in enumerate(target)]
    return x.reshape(target)


def _fold_const(node: Node, args: list[np.ndarray | None]) -> np.ndarray:
    if node.op_type == "Constant":
        if "value" not in node.attrs:
            raise ModelError(f"Constant {node.name!r}: only tensor 'value' is supported")
        return np.asarray(node.attrs["value"])
    if node.op_type == "Identity":
        return args[0]
    if node.op_type == "Reshape":
        return _reshape(args[0], args[1], int(node.attrs.get("allowzero", 0)))
    # DequantizeLinear
    zero = args[2] if len(args) > 2 else None
    return dequantize(
        args[0],
        args[1],
        zero,
        int(node.attrs.get("axis", 1)),
        int(node.attrs.get("block_size", 0)),
    )


@dataclass
class Step:
    """One runtime op. ``inputs``: a tensor name, or ``("const", buffer name)``."""

    kind: str
    inputs: list[object]
    output: str
    attrs: dict[str, Any] = field(default_factory=dict)
    free: list[str] = field(default_factory=list)


class OnnxModule(nn.Module):
    """A single-input, single-output ONNX graph as a torch module (weights are buffers)."""

    def __init__(self, model: OnnxModel, fold_bn: bool = True) -> None:
        super().__init__()
        # Some exporters list inputs that no node reads (the quantizer that made SFace's
        # int8 file left the old float weight inputs behind): only consumed ones count.
        consumed = {i for n in model.nodes for i in n.inputs}
        inputs = [v for v in model.inputs if v.name in consumed]
        if len(inputs) != 1 or len(model.outputs) != 1:
            raise ModelError(
                f"expected one graph input and one output, got {len(inputs)} and "
                f"{len(model.outputs)}"
            )
        if model.opsets.get("", 0) < 7 or set(model.opsets) - {"", "ai.onnx"}:
            raise ModelError(f"unsupported opset imports {model.opsets}")
        self.input_name = inputs[0].name
        self.output_name = model.outputs[0].name
        self.input_shape = inputs[0].shape
        self.output_shape = model.outputs[0].shape
        self.steps: list[Step] = []
        self._nbuf = 0
        self._compile(model, fold_bn)
        mark_residual_adds(self.steps, "Add", self.input_name, lambda r: isinstance(r, tuple))
        # (tensor name, sink): forward hands that tensor to sink (feature-level losses).
        self.tap: tuple[str, Callable[[torch.Tensor], None]] | None = None
        # The gradient share of residual branches at an Add of two activations (1 = exact;
        # below 1: the skip gradient method, ``cloaker.cloak.sgm``).
        self.residual_scale = 1.0

    # -- build ----------------------------------------------------------------------------
    def _buffer(self, array: np.ndarray) -> tuple[str, str]:
        name = f"w{self._nbuf}"
        self._nbuf += 1
        self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(array, np.float32)))
        return ("const", name)

    def _compile(self, model: OnnxModel, fold_bn: bool) -> None:
        consts: dict[str, np.ndarray] = dict(model.initializers)
        runtime: list[Node] = []
        unsupported: set[str] = set()
        for node in model.nodes:
            if all(i == "" or i in consts for i in node.inputs) and node.op_type in CONST_OPS:
                args = [consts[i] if i else None for i in node.inputs]
                consts[node.outputs[0]] = _fold_const(node, args)
            elif node.op_type in RUNTIME_OPS:
                runtime.append(node)
            else:
                unsupported.add(node.op_type)
        if unsupported:
            raise ModelError(f"unsupported ONNX ops: {', '.join(sorted(unsupported))}")

        uses = Counter(i for n in runtime for i in n.inputs)
        uses[self.output_name] += 1
        folded: dict[str, Node] = {}  # BN output name -> its Conv/Gemm producer
        if fold_bn:
            producers = {n.outputs[0]: n for n in runtime}
            for n in runtime:
                p = producers.get(n.inputs[0]) if n.op_type == "BatchNormalization" else None
                if (
                    p is not None
                    and p.op_type in ("Conv", "Gemm")
                    and uses[p.outputs[0]] == 1
                    and all(i in consts for i in p.inputs[1:] if i)
                    and all(i in consts for i in n.inputs[1:])
                ):
                    folded[n.outputs[0]] = p
        skip = {id(p) for p in folded.values()}

        available = {self.input_name}
        for node in runtime:
            if id(node) in skip:
                continue
            step = self._step(node, consts, folded.get(node.outputs[0]))
            for ref in step.inputs:
                if isinstance(ref, str) and ref not in available:
                    raise ModelError(
                        f"{node.op_type} {node.name!r}: input {ref!r} is never computed"
                    )
            available.add(step.output)
            self.steps.append(step)
        if self.output_name not in available:
            raise ModelError(f"graph output {self.output_name!r} is never computed")
        # Drop each tensor after its last use.
        seen: set[str] = {self.output_name}
        for step in reversed(self.steps):
            for ref in step.inputs:
                if isinstance(ref, str) and ref not in seen:
                    step.free.append(ref)
                    seen.add(ref)

    def _ref(self, name: str, consts: dict[str, np.ndarray]) -> object:
        return self._buffer(consts[name]) if name in consts else name

    def _step(self, node: Node, consts: dict[str, np.ndarray], producer: Node | None) -> Step:
        a = node.attrs
        where = f"{node.op_type} {node.name!r}"
        if node.op_type == "BatchNormalization" and producer is not None:
            gamma, beta, mean, var = (consts[i] for i in node.inputs[1:5])
            scale = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
            if producer.op_type == "Conv":
                w, b = self._conv_params(producer, consts)
                w = w * scale.reshape(-1, 1, 1, 1)
            else:
                w, b = self._gemm_params(producer, consts)
                w = w * scale.reshape(-1, 1)
            b = (b - mean) * scale + beta
            attrs = self._conv_attrs(producer) if producer.op_type == "Conv" else {}
            return Step(
                producer.op_type,
                [producer.inputs[0], self._buffer(w), self._buffer(b)],
                node.outputs[0],
                attrs,
            )
        if node.op_type == "Conv":
            if any(i not in consts for i in node.inputs[1:] if i):
                raise ModelError(f"{where}: weights must be constants")
            w, b = self._conv_params(node, consts)
            return Step(
                "Conv",
                [node.inputs[0], self._buffer(w), self._buffer(b)],
                node.outputs[0],
                self._conv_attrs(node),
            )
        if node.op_type == "Gemm":
            if any(i not in consts for i in node.inputs[1:] if i):
                raise ModelError(f"{where}: weights must be constants")
            if int(a.get("transA", 0)):
                raise ModelError(f"{where}: transA is not supported")
            w, b = self._gemm_params(node, consts)
            return Step("Gemm", [node.inputs[0], self._buffer(w), self._buffer(b)], node.outputs[0])
        if node.op_type == "BatchNormalization":
            if len(node.outputs) > 1 and any(node.outputs[1:]):
                raise ModelError(f"{where}: training-mode outputs are not supported")
            refs = [node.inputs[0], *(self._buffer(consts[i]) for i in node.inputs[1:5])]
            eps = float(a.get("epsilon", 1e-5))
            return Step("BatchNormalization", refs, node.outputs[0], {"eps": eps})
        if node.op_type == "PRelu":
            if node.inputs[1] not in consts:
                raise ModelError(f"{where}: slope must be a constant")
            slope = consts[node.inputs[1]]
            per_channel = slope.ndim >= 1 and slope.size == slope.shape[0]
            if per_channel and slope.ndim > 1:
                slope = slope.reshape(-1)
            return Step(
                "PRelu",
                [node.inputs[0], self._buffer(slope)],
                node.outputs[0],
                {"per_channel": per_channel, "rank": slope.ndim},
            )
        if node.op_type in _BINARY:
            return Step(node.op_type, [self._ref(i, consts) for i in node.inputs], node.outputs[0])
        if node.op_type == "Flatten":
            axis = int(a.get("axis", 1))
            return Step("Flatten", [node.inputs[0]], node.outputs[0], {"axis": axis})
        if node.op_type == "Dropout":
            if len(node.inputs) > 2 and node.inputs[2]:
                mode = consts.get(node.inputs[2])
                if mode is None or bool(mode):
                    raise ModelError(f"{where}: training-mode dropout is not supported")
            return Step("Identity", [node.inputs[0]], node.outputs[0])
        # Relu, Identity
        return Step(node.op_type, [node.inputs[0]], node.outputs[0])

    @staticmethod
    def _conv_params(node: Node, consts: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        w = consts[node.inputs[1]].astype(np.float32)
        if w.ndim != 4:
            raise ModelError(f"Conv {node.name!r}: only 2-D convolutions are supported")
        has_bias = len(node.inputs) > 2 and node.inputs[2]
        b = consts[node.inputs[2]] if has_bias else np.zeros(w.shape[0], np.float32)
        return w, b.astype(np.float32)

    @staticmethod
    def _gemm_params(node: Node, consts: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        a = node.attrs
        w = consts[node.inputs[1]].astype(np.float32)
        if not int(a.get("transB", 0)):
            w = w.T
        w = w * float(a.get("alpha", 1.0))
        has_bias = len(node.inputs) > 2 and node.inputs[2]
        b = consts[node.inputs[2]] if has_bias else np.zeros(w.shape[0], np.float32)
        b = np.broadcast_to(b * float(a.get("beta", 1.0)), (w.shape[0],))
        return w, b.astype(np.float32)

    @staticmethod
    def _conv_attrs(node: Node) -> dict[str, object]:
        a = node.attrs
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", b""):
            raise ModelError(f"Conv {node.name!r}: auto_pad is not supported")
        pads = list(a.get("pads", [0, 0, 0, 0]))
        return {
            "stride": tuple(a.get("strides", [1, 1])),
            "dilation": tuple(a.get("dilations", [1, 1])),
            "groups": int(a.get("group", 1)),
            # ONNX [top, left, bottom, right] -> F.pad's (left, right, top, bottom)
            "pad": (pads[1], pads[3], pads[0], pads[2]),
        }

    # -- run ------------------------------------------------------------------------------
    def _get(self, env: dict[str, torch.Tensor], ref: object) -> torch.Tensor:
        if isinstance(ref, tuple):
            return getattr(self, ref[1])
        return env[ref]

    def middle_output(self) -> str:
        """The output tensor of the convolution half-way through the graph."""
        convs = [s for s in self.steps if s.kind == "Conv"]
        return convs[len(convs) // 2].output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, torch.Tensor] = {self.input_name: x}
        for step in self.steps:
            args = [self._get(env, r) for r in step.inputs]
            k, a = step.kind, step.attrs
            if k == "Conv":
                left, right, top, bottom = a["pad"]
                x_in, pad = args[0], (top, left)
                if left != right or top != bottom:
                    x_in, pad = F.pad(x_in, a["pad"]), (0, 0)
                y = F.conv2d(x_in, args[1], args[2], a["stride"], pad, a["dilation"], a["groups"])
            elif k == "Gemm":
                y = F.linear(args[0], args[1], args[2])
            elif k == "BatchNormalization":
                x_in, gamma, beta, mean, var = args
                y = F.batch_norm(x_in, mean, var, gamma, beta, False, 0.0, a["eps"])
            elif k == "PRelu":
                if a["per_channel"] and args[0].ndim >= 2 and args[1].shape[0] == args[0].shape[1]:
                    y = F.prelu(args[0], args[1])
                else:
                    y = torch.where(args[0] >= 0, args[0], args[0] * args[1])
            elif k == "Add" and self.residual_scale != 1.0 and "branch" in a:
                y = residual_add(args[0], args[1], a["branch"], self.residual_scale)
            elif k in _BINARY:
                y = _BINARY[k](args[0], args[1])
            elif k == "Relu":
                y = F.relu(args[0])
            elif k == "Flatten":
                axis = int(a["axis"])
                axis = axis + args[0].ndim if axis < 0 else axis
                y = args[0].reshape(int(np.prod(args[0].shape[:axis])), -1)
            else:  # Identity
                y = args[0]
            if self.tap is not None and step.output == self.tap[0]:
                # A tap may replace the activation (feature-map dropout), like a forward hook.
                y = out if (out := self.tap[1](y)) is not None else y
            env[step.output] = y
            for name in step.free:
                env.pop(name, None)
        return env[self.output_name]
