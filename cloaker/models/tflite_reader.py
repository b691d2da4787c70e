"""A minimal reader for TensorFlow Lite model files (FlatBuffers, identifier ``TFL3``).

Parses just what a float inference graph needs: tensors (shape, dtype, constant data),
operators (builtin name, inputs, outputs, options of the common conv/elementwise/reshape
ops) and the graph's inputs and outputs. Written from the public ``schema.fbs`` field
order; no generated code and no TensorFlow. Every read is bounds-checked, so a truncated
or corrupt file raises ``ModelError`` instead of returning garbage.

FlatBuffers in brief: a table starts with an int32 offset back to its vtable; the vtable
lists, per field, the field's byte offset inside the table (0 = absent, use the default).
References (tables, vectors, strings) are uint32 offsets relative to where they are stored;
a vector is a uint32 length followed by its elements. All little-endian.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cloaker.errors import ModelError

# BuiltinOperator codes (schema.fbs). Names only for the ops a reader might meet in a
# float vision model; any other code is reported as BUILTIN_<n>.
BUILTIN_OPS: dict[int, str] = {
    0: "ADD",
    1: "AVERAGE_POOL_2D",
    2: "CONCATENATION",
    3: "CONV_2D",
    4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE",
    9: "FULLY_CONNECTED",
    11: "L2_NORMALIZATION",
    14: "LOGISTIC",
    17: "MAX_POOL_2D",
    18: "MUL",
    19: "RELU",
    21: "RELU6",
    22: "RESHAPE",
    25: "SOFTMAX",
    28: "TANH",
    32: "CUSTOM",
    34: "PAD",
    39: "TRANSPOSE",
    40: "MEAN",
    41: "SUB",
    42: "DIV",
    43: "SQUEEZE",
    54: "PRELU",
    101: "ABS",
    114: "QUANTIZE",
}

# TensorType -> numpy dtype (None: a type we cannot hold as an array).
TENSOR_TYPES: dict[int, np.dtype | None] = {
    0: np.dtype("<f4"),
    1: np.dtype("<f2"),
    2: np.dtype("<i4"),
    3: np.dtype("u1"),
    4: np.dtype("<i8"),
    5: None,  # STRING
    6: np.dtype("?"),
    7: np.dtype("<i2"),
    8: None,  # COMPLEX64
    9: np.dtype("i1"),
    10: np.dtype("<f8"),
}

PADDING = {0: "SAME", 1: "VALID"}
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}

# BuiltinOptions union type -> (name, [(field, slot, kind, default), ...]).
# kind: "i8" byte/enum, "i32", "bool", "ivec" (vector of int32).
_OPTIONS: dict[int, tuple[str, list[tuple[str, int, str, Any]]]] = {
    1: (
        "Conv2DOptions",
        [
            ("padding", 0, "i8", 0),
            ("stride_w", 1, "i32", 0),
            ("stride_h", 2, "i32", 0),
            ("fused_activation_function", 3, "i8", 0),
            ("dilation_w_factor", 4, "i32", 1),
            ("dilation_h_factor", 5, "i32", 1),
        ],
    ),
    2: (
        "DepthwiseConv2DOptions",
        [
            ("padding", 0, "i8", 0),
            ("stride_w", 1, "i32", 0),
            ("stride_h", 2, "i32", 0),
            ("depth_multiplier", 3, "i32", 0),
            ("fused_activation_function", 4, "i8", 0),
            ("dilation_w_factor", 5, "i32", 1),
            ("dilation_h_factor", 6, "i32", 1),
        ],
    ),
    8: (
        "FullyConnectedOptions",
        [
            ("fused_activation_function", 0, "i8", 0),
            ("weights_format", 1, "i8", 0),
            ("keep_num_dims", 2, "bool", False),
        ],
    ),
    11: ("AddOptions", [("fused_activation_function", 0, "i8", 0)]),
    17: ("ReshapeOptions", [("new_shape", 0, "ivec", None)]),
    21: ("MulOptions", [("fused_activation_function", 0, "i8", 0)]),
    28: ("SubOptions", [("fused_activation_function", 0, "i8", 0)]),
    78: ("AbsOptions", []),
}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the graph. ``data`` holds the constant's raw bytes (None for
    activations); ``quantized`` is True when it carries quantization scales."""

    index: int
    name: str
    shape: tuple[int, ...]
    type_code: int
    data: bytes | None
    quantized: bool
    sparse: bool

    @property
    def dtype(self) -> np.dtype | None:
        return TENSOR_TYPES.get(self.type_code)

    def array(self) -> np.ndarray:
        """The constant as a numpy array of ``shape`` (a copy, writable)."""
        if self.data is None:
            raise ModelError(f"tensor {self.index} ({self.name}) is not a constant")
        dtype = self.dtype
        if dtype is None or self.sparse:
            raise ModelError(f"tensor {self.index} ({self.name}): unsupported storage")
        count = int(np.prod(self.shape)) if self.shape else 1
        if len(self.data) != count * dtype.itemsize:
            raise ModelError(
                f"tensor {self.index} ({self.name}): {len(self.data)} bytes of data for "
                f"shape {self.shape} of {dtype}"
            )
        return np.frombuffer(self.data, dtype=dtype).reshape(self.shape).copy()


@dataclass(frozen=True)
class OperatorInfo:
    """One operator: builtin name (e.g. "CONV_2D"), tensor indices (-1 = optional input
    left out) and its decoded options (empty dict for options this reader does not know)."""

    index: int
    op: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TFLiteModel:
    """The first subgraph of a .tflite file, in execution order."""

    version: int
    tensors: tuple[TensorInfo, ...]
    operators: tuple[OperatorInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def op_names(self) -> set[str]:
        return {o.op for o in self.operators}


class _Buf:
    """Bounds-checked little-endian FlatBuffer access."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _unpack(self, fmt: str, pos: int) -> Any:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.data):
            raise ModelError(f"corrupt TFLite file: read of {size} bytes at {pos} out of range")
        return struct.unpack_from(fmt, self.data, pos)[0]

    def u8(self, pos: int) -> int:
        return self._unpack("<B", pos)

    def i8(self, pos: int) -> int:
        return self._unpack("<b", pos)

    def u16(self, pos: int) -> int:
        return self._unpack("<H", pos)

    def i32(self, pos: int) -> int:
        return self._unpack("<i", pos)

    def u32(self, pos: int) -> int:
        return self._unpack("<I", pos)

    def u64(self, pos: int) -> int:
        return self._unpack("<Q", pos)

    def field(self, table: int, slot: int) -> int:
        """Absolute position of field ``slot`` of ``table``, or 0 when absent."""
        vtable = table - self.i32(table)
        vt_size = self.u16(vtable)
        entry = 4 + 2 * slot
        if entry + 2 > vt_size:
            return 0
        off = self.u16(vtable + entry)
        return table + off if off else 0

    def deref(self, pos: int) -> int:
        return pos + self.u32(pos)

    def scalar(self, table: int, slot: int, kind: str, default: Any) -> Any:
        pos = self.field(table, slot)
        if not pos:
            return default
        return {"i8": self.i8, "u8": self.u8, "i32": self.i32, "u32": self.u32, "u64": self.u64}[
            kind
        ](pos)

    def vector(self, table: int, slot: int) -> tuple[int, int] | None:
        """(start of elements, length) of a vector field, or None when absent."""
        pos = self.field(table, slot)
        if not pos:
            return None
        vec = self.deref(pos)
        return vec + 4, self.u32(vec)

    def ints(self, table: int, slot: int) -> tuple[int, ...]:
        vec = self.vector(table, slot)
        if vec is None:
            return ()
        start, n = vec
        self._check(start, 4 * n)
        return tuple(struct.unpack_from(f"<{n}i", self.data, start))

    def bytes_(self, table: int, slot: int) -> bytes | None:
        vec = self.vector(table, slot)
        if vec is None:
            return None
        start, n = vec
        self._check(start, n)
        return self.data[start : start + n]

    def tables(self, table: int, slot: int) -> list[int]:
        vec = self.vector(table, slot)
        if vec is None:
            return []
        start, n = vec
        self._check(start, 4 * n)
        return [self.deref(start + 4 * i) for i in range(n)]

    def string(self, table: int, slot: int) -> str:
        raw = self.bytes_(table, slot)
        return raw.decode("utf-8", errors="replace") if raw is not None else ""

    def _check(self, start: int, size: int) -> None:
        if start < 0 or size < 0 or start + size > len(self.data):
            raise ModelError(f"corrupt TFLite file: {size} bytes at {start} out of range")


def _options(buf: _Buf, op_table: int) -> dict[str, Any]:
    union_type = buf.scalar(op_table, 3, "u8", 0)
    spec = _OPTIONS.get(union_type)
    pos = buf.field(op_table, 4)
    if spec is None or not pos:
        return {}
    table = buf.deref(pos)
    out: dict[str, Any] = {}
    for name, slot, kind, default in spec[1]:
        if kind == "ivec":
            out[name] = buf.ints(table, slot) if buf.field(table, slot) else default
        elif kind == "bool":
            out[name] = bool(buf.scalar(table, slot, "u8", int(default)))
        else:
            out[name] = buf.scalar(table, slot, kind, default)
    if "padding" in out:
        out["padding"] = PADDING.get(out["padding"], f"PADDING_{out['padding']}")
    if "fused_activation_function" in out:
        code = out["fused_activation_function"]
        out["fused_activation_function"] = ACTIVATIONS.get(code, f"ACTIVATION_{code}")
    return out


def _buffers(buf: _Buf, model: int) -> list[bytes | None]:
    out: list[bytes | None] = []
    for table in buf.tables(model, 4):
        data = buf.bytes_(table, 0)
        if not data:
            # Files over 2 GB keep buffers after the FlatBuffer: (offset, size) fields.
            offset = buf.scalar(table, 1, "u64", 0)
            size = buf.scalar(table, 2, "u64", 0)
            if offset > 1 and size:
                buf._check(offset, size)
                data = buf.data[offset : offset + size]
        out.append(data or None)
    return out


def parse_tflite(data: bytes) -> TFLiteModel:
    """Parse the bytes of a .tflite file. Raises ``ModelError`` if they are not one."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError("not a TFLite model (missing the TFL3 identifier)")
    buf = _Buf(data)
    model = buf.deref(0)
    version = buf.scalar(model, 0, "u32", 0)
    codes = []
    for table in buf.tables(model, 1):
        # builtin_code (int32) replaced the deprecated byte once codes passed 127.
        code = max(buf.scalar(table, 0, "i8", 0), buf.scalar(table, 3, "i32", 0))
        codes.append(code)
    subgraphs = buf.tables(model, 2)
    if len(subgraphs) != 1:
        raise ModelError(f"expected one subgraph, found {len(subgraphs)}")
    graph = subgraphs[0]
    buffers = _buffers(buf, model)

    tensors = []
    for i, table in enumerate(buf.tables(graph, 0)):
        b = buf.scalar(table, 2, "u32", 0)
        if b >= len(buffers):
            raise ModelError(f"tensor {i} names buffer {b} of {len(buffers)}")
        quant = buf.field(table, 4)
        scales = buf.vector(buf.deref(quant), 2) if quant else None
        tensors.append(
            TensorInfo(
                index=i,
                name=buf.string(table, 3),
                shape=buf.ints(table, 0),
                type_code=buf.scalar(table, 1, "i8", 0),
                data=buffers[b],
                quantized=bool(scales and scales[1]),
                sparse=bool(buf.field(table, 6)),
            )
        )

    operators = []
    for i, table in enumerate(buf.tables(graph, 3)):
        idx = buf.scalar(table, 0, "u32", 0)
        if idx >= len(codes):
            raise ModelError(f"operator {i} names opcode {idx} of {len(codes)}")
        code = codes[idx]
        ins, outs = buf.ints(table, 1), buf.ints(table, 2)
        for t in ins + outs:
            if t < -1 or t >= len(tensors):
                raise ModelError(f"operator {i} names tensor {t} of {len(tensors)}")
        operators.append(
            OperatorInfo(
                index=i,
                op=BUILTIN_OPS.get(code, f"BUILTIN_{code}"),
                inputs=ins,
                outputs=outs,
                options=_options(buf, table),
            )
        )

    return TFLiteModel(
        version=version,
        tensors=tuple(tensors),
        operators=tuple(operators),
        inputs=buf.ints(graph, 1),
        outputs=buf.ints(graph, 2),
    )


def read_tflite(path: str | Path) -> TFLiteModel:
    """Read and parse a .tflite file. Raises ``ModelError`` when missing or malformed."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read TFLite model {path}: {exc}") from exc
    return parse_tflite(data)
