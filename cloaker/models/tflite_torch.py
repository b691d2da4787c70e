"""Run a float TFLite graph in PyTorch: differentiable, any batch size, on any device.

The graph read by ``tflite_reader`` is replayed op by op with torch functions that follow
TFLite's semantics exactly: SAME padding puts the odd pixel at the bottom/right (stride 2
on an even size pads 0 before, 1 after), VALID pads nothing, weights are converted from
TFLite's layouts (conv OHWI, depthwise 1HWC) to torch's. Rank-4 activations are kept in
NCHW inside; constants used against them are permuted to match; RESHAPE goes through
NHWC so that it reorders elements exactly as TFLite does.

Supported ops are exactly those of the float models we ship: CONV_2D, DEPTHWISE_CONV_2D,
ADD, SUB, MUL, RELU, ABS, RESHAPE. Any other op, quantized or sparse tensors, or
non-float data raise ``ModelError`` at build time, never a silent approximation.

The converter's PReLU idiom ``relu(x) + c * (x - |x|)`` is recognised and run as
``prelu(x, 2c)``: for x < 0 both give ``2c * x`` with one rounding (x - |x| = 2x and the
factor 2 are exact in floating point), for x >= 0 both give x. One kernel instead of five
makes the forward and backward passes much faster on CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cloaker.errors import ModelError
from cloaker.models.grad import mark_residual_adds, residual_add
from cloaker.models.tflite_reader import OperatorInfo, TFLiteModel

SUPPORTED_OPS = frozenset(
    {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "SUB", "MUL", "RELU", "ABS", "RESHAPE"}
)
_ACTIVATIONS = {
    "NONE": lambda x: x,
    "RELU": F.relu,
    "RELU6": lambda x: x.clamp(0.0, 6.0),
    "RELU_N1_TO_1": lambda x: x.clamp(-1.0, 1.0),
}
_PRELU_PATTERN = ["RELU", "ABS", "SUB", "MUL", "ADD"]


@dataclass
class Step:
    """One op to replay. ``kind``: a TFLite op name or "PRELU". ``inputs``: tensor indices,
    or None where the operand is the constant ``consts[slot]`` (a module buffer name).
    ``free``: tensors whose last use this is (dropped to save memory)."""

    kind: str
    inputs: list[int | None]
    output: int
    consts: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, object] = field(default_factory=dict)
    free: list[int] = field(default_factory=list)


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding along one axis: (before, after), the odd pixel after."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _nchw_const(array: np.ndarray) -> np.ndarray:
    """A constant broadcast against an NHWC rank-4 tensor -> the same against NCHW."""
    if array.ndim > 4:
        raise ModelError(f"constant of rank {array.ndim} used against a rank-4 tensor")
    padded = array.reshape((1,) * (4 - array.ndim) + array.shape)
    return np.ascontiguousarray(padded.transpose(0, 3, 1, 2))


class _Compiler:
    """Turns the TFLite op list into ``Step``s plus the constant arrays they use."""

    def __init__(self, model: TFLiteModel, fuse_prelu: bool) -> None:
        self.model = model
        self.fuse_prelu = fuse_prelu
        self.consts: dict[str, np.ndarray] = {}
        self.batch = model.tensors[model.inputs[0]].shape[0]
        self.uses: dict[int, int] = {}
        for op in model.operators:
            for t in op.inputs:
                self.uses[t] = self.uses.get(t, 0) + 1

    def const(self, index: int) -> np.ndarray | None:
        t = self.model.tensors[index]
        return None if t.data is None else t.array()

    def rank(self, index: int) -> int:
        return len(self.model.tensors[index].shape)

    def compile(self) -> list[Step]:
        ops = self.model.operators
        steps: list[Step] = []
        i = 0
        while i < len(ops):
            step = self.prelu(ops[i : i + len(_PRELU_PATTERN)])
            if step is None:
                step = self.build(ops[i])
                i += 1
            else:
                i += len(_PRELU_PATTERN)
            steps.append(step)
        last: dict[int, int] = {}
        for n, step in enumerate(steps):
            for t in step.inputs:
                if t is not None:
                    last[t] = n
        for t, n in last.items():
            if t not in self.model.outputs:
                steps[n].free.append(t)
        return steps

    def prelu(self, window: tuple[OperatorInfo, ...]) -> Step | None:
        """RELU(x)->r, ABS(x)->a, SUB(x, a)->s, MUL(c, s)->m, ADD(r, m)->y  =>  PRELU(x)."""
        if not self.fuse_prelu or [o.op for o in window] != _PRELU_PATTERN:
            return None
        relu, ab, sub, mul, add = window
        x = relu.inputs[0]
        r, a, s, m = relu.outputs[0], ab.outputs[0], sub.outputs[0], mul.outputs[0]
        if ab.inputs != (x,) or sub.inputs != (x, a) or sorted(add.inputs) != sorted((r, m)):
            return None
        if s not in mul.inputs or self.rank(x) != 4:
            return None
        if any(self.uses.get(t, 0) != 1 or t in self.model.outputs for t in (r, a, s, m)):
            return None
        if any(o.options.get("fused_activation_function", "NONE") != "NONE" for o in window):
            return None
        slope = self.const(mul.inputs[0] if mul.inputs[1] == s else mul.inputs[1])
        if slope is None or slope.size != slope.shape[-1]:
            return None  # not a per-channel constant: replay the five ops as they are
        name = f"op{mul.index}_slope"
        self.consts[name] = 2.0 * slope.reshape(-1)
        return Step("PRELU", [x], add.outputs[0], consts={"slope": name})

    def build(self, op: OperatorInfo) -> Step:
        out = op.outputs[0]
        act = op.options.get("fused_activation_function", "NONE")
        if act not in _ACTIVATIONS:
            raise ModelError(f"op {op.index} {op.op}: unsupported fused activation {act}")
        if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            return self.conv(op, act)
        if op.op in ("RELU", "ABS"):
            return Step(op.op, [op.inputs[0]], out)
        if op.op in ("ADD", "SUB", "MUL"):
            step = Step(op.op, list(op.inputs), out, attrs={"act": act})
            for slot, t in enumerate(op.inputs):
                c = self.const(t)
                if c is not None:
                    name = f"op{op.index}_c{slot}"
                    self.consts[name] = _nchw_const(c) if self.rank(out) == 4 else c
                    step.consts[str(slot)] = name
                    step.inputs[slot] = None
            if all(t is None for t in step.inputs):
                raise ModelError(f"op {op.index} {op.op}: both operands are constants")
            return step
        if op.op == "RESHAPE":
            return self.reshape(op)
        raise ModelError(f"op {op.index}: unsupported TFLite op {op.op}")

    def reshape(self, op: OperatorInfo) -> Step:
        shape = op.options.get("new_shape")
        if shape is None and len(op.inputs) > 1:
            const = self.const(op.inputs[1])
            shape = None if const is None else tuple(int(v) for v in const.reshape(-1))
        if not shape:
            raise ModelError(f"op {op.index} RESHAPE: the new shape is not a constant")
        # The batch must stay the leading dimension for the batch size to be free.
        if shape[0] not in (self.batch, -1) or self.model.tensors[op.inputs[0]].shape[0] != (
            self.batch
        ):
            raise ModelError(f"op {op.index} RESHAPE to {shape} mixes the batch dimension")
        return Step("RESHAPE", [op.inputs[0]], op.outputs[0], attrs={"shape": tuple(shape[1:])})

    def conv(self, op: OperatorInfo, act: str) -> Step:
        o = op.options
        if o.get("padding") not in ("SAME", "VALID"):
            raise ModelError(f"op {op.index} {op.op}: unknown padding {o.get('padding')}")
        weight = self.const(op.inputs[1])
        if weight is None or weight.ndim != 4:
            raise ModelError(f"op {op.index} {op.op}: the filter must be a rank-4 constant")
        # Conv: OHWI -> OIHW. Depthwise: 1HWC, C = in * multiplier -> (C, 1, H, W); output
        # channel j reads input j // M: torch's grouped conv with groups = input channels.
        depthwise = op.op == "DEPTHWISE_CONV_2D"
        w = weight.transpose(3, 0, 1, 2) if depthwise else weight.transpose(0, 3, 1, 2)
        step = Step(
            op.op,
            [op.inputs[0]],
            op.outputs[0],
            attrs={
                "act": act,
                "padding": o["padding"],
                "stride": (o["stride_h"], o["stride_w"]),
                "dilation": (o["dilation_h_factor"], o["dilation_w_factor"]),
                "depthwise": depthwise,
            },
        )
        step.consts["w"] = f"op{op.index}_w"
        self.consts[step.consts["w"]] = np.ascontiguousarray(w)
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            bias = self.const(op.inputs[2])
            if bias is None:
                raise ModelError(f"op {op.index} {op.op}: the bias must be a constant")
            step.consts["b"] = f"op{op.index}_b"
            self.consts[step.consts["b"]] = bias.reshape(-1)
        return step


class TFLiteModule(nn.Module):
    """A TFLite float graph as a torch module (frozen constants, held as buffers).

    ``forward(x)`` takes the graph's single input with a free batch size B: NCHW
    (B, C, H, W) when the graph's input is rank 4 (NHWC in TFLite), else TFLite's layout.
    It returns the single output in TFLite's layout (NCHW if rank 4), batch B.
    ``fuse_prelu`` (default True) runs the PReLU idiom as one ``prelu`` (same numbers,
    faster); False replays every op as written (for checking the fusion).
    Raises ``ModelError`` at construction for anything it cannot replay exactly.
    """

    def __init__(self, model: TFLiteModel, fuse_prelu: bool = True) -> None:
        super().__init__()
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ModelError("expected a graph with one input and one output")
        unsupported = sorted(model.op_names() - SUPPORTED_OPS)
        if unsupported:
            raise ModelError(f"unsupported TFLite ops: {', '.join(unsupported)}")
        for t in model.tensors:
            if t.quantized or t.sparse or t.type_code not in (0, 2):  # float32, int32 shapes
                raise ModelError(f"tensor {t.index} ({t.name}): only plain float32 is supported")
        compiler = _Compiler(model, fuse_prelu)
        self.steps = compiler.compile()
        mark_residual_adds(self.steps, "ADD", model.inputs[0], lambda t: t is None)
        # (tensor index, sink): forward hands that tensor to sink (feature-level losses).
        self.tap: tuple[int, Callable[[torch.Tensor], None]] | None = None
        # The gradient share of residual branches at an ADD of two activations (1 = exact;
        # below 1: the skip gradient method, ``cloaker.cloak.sgm``).
        self.residual_scale = 1.0
        for name, array in compiler.consts.items():
            self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(array)))
        self.input_index = model.inputs[0]
        self.output_index = model.outputs[0]

    def _conv(self, step: Step, x: torch.Tensor) -> torch.Tensor:
        w = getattr(self, step.consts["w"])
        b = getattr(self, step.consts["b"]) if "b" in step.consts else None
        stride, dilation = step.attrs["stride"], step.attrs["dilation"]
        groups = x.shape[1] if step.attrs["depthwise"] else x.shape[1] // w.shape[1]
        padding = (0, 0)
        if step.attrs["padding"] == "SAME":
            ph = same_padding(x.shape[2], w.shape[2], stride[0], dilation[0])
            pw = same_padding(x.shape[3], w.shape[3], stride[1], dilation[1])
            if ph[0] == ph[1] and pw[0] == pw[1]:
                padding = (ph[0], pw[0])
            else:  # asymmetric: the extra row/column goes after, as in TensorFlow
                x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
        y = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
        return _ACTIVATIONS[step.attrs["act"]](y)

    def _operand(self, step: Step, slot: int, values: dict[int, torch.Tensor]) -> torch.Tensor:
        t = step.inputs[slot]
        return getattr(self, step.consts[str(slot)]) if t is None else values[t]

    def middle_output(self) -> int:
        """The output tensor of the convolution half-way through the graph."""
        convs = [s for s in self.steps if s.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")]
        return convs[len(convs) // 2].output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[int, torch.Tensor] = {self.input_index: x}
        for step in self.steps:
            kind = step.kind
            if kind in ("ADD", "SUB", "MUL"):
                lhs, rhs = self._operand(step, 0, values), self._operand(step, 1, values)
                if kind == "ADD" and self.residual_scale != 1.0 and "branch" in step.attrs:
                    y = residual_add(lhs, rhs, step.attrs["branch"], self.residual_scale)
                else:
                    y = lhs + rhs if kind == "ADD" else lhs - rhs if kind == "SUB" else lhs * rhs
                y = _ACTIVATIONS[step.attrs["act"]](y)
            else:
                a = values[step.inputs[0]]
                if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                    y = self._conv(step, a)
                elif kind == "PRELU":
                    y = F.prelu(a, getattr(self, step.consts["slope"]))
                elif kind == "RELU":
                    y = F.relu(a)
                elif kind == "ABS":
                    y = a.abs()
                else:  # RESHAPE, in TFLite's NHWC element order
                    if a.ndim == 4:
                        a = a.permute(0, 2, 3, 1)
                    y = a.reshape(a.shape[0], *step.attrs["shape"])
                    if y.ndim == 4:
                        y = y.permute(0, 3, 1, 2)
            if self.tap is not None and step.output == self.tap[0]:
                # A tap may replace the activation (feature-map dropout), like a forward hook.
                y = out if (out := self.tap[1](y)) is not None else y
            values[step.output] = y
            for t in step.free:
                del values[t]
        return values[self.output_index]
