"""Read an ONNX model file with no dependency: a small protobuf wire-format decoder.

ONNX files are protobuf messages (``ModelProto``). Only the parts a feed-forward graph
needs are decoded: the opset imports, the graph's nodes (op type, inputs, outputs,
attributes), its initializers (tensors with ``raw_data`` or the typed repeated fields),
and its inputs / outputs with their shapes. Field numbers follow onnx.proto3 (stable since
ONNX 1.0). Anything malformed (truncated varint, length past the end, wrong wire type for a
field we read, external data, an unknown tensor type) raises ``ModelError``: never a
silent partial graph.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cloaker.errors import ModelError

# TensorProto.DataType -> numpy dtype (the types a float or weight-quantized graph uses).
DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),
    2: np.dtype("u1"),
    3: np.dtype("i1"),
    4: np.dtype("<u2"),
    5: np.dtype("<i2"),
    6: np.dtype("<i4"),
    7: np.dtype("<i8"),
    9: np.dtype("?"),
    10: np.dtype("<f2"),
    11: np.dtype("<f8"),
}
# Wire types.
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


@dataclass(frozen=True)
class ValueInfo:
    name: str
    elem_type: int
    shape: tuple[int | str, ...]  # a dim_param (symbolic) dimension stays a string


@dataclass(frozen=True)
class Node:
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    name: str = ""
    domain: str = ""
    attrs: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class OnnxModel:
    opsets: dict[str, int]
    producer: str
    nodes: tuple[Node, ...]
    initializers: dict[str, np.ndarray]
    inputs: tuple[ValueInfo, ...]  # graph inputs that are not initializers
    outputs: tuple[ValueInfo, ...]

    def op_types(self) -> set[str]:
        return {n.op_type for n in self.nodes}


def _fields(buf: bytes | memoryview, where: str) -> list[tuple[int, int, object]]:
    """Split one message into (field number, wire type, value): int for VARINT, I32 and
    I64 (raw little-endian bits), memoryview for LEN."""
    mv = memoryview(buf)
    out: list[tuple[int, int, object]] = []
    pos, end = 0, len(mv)
    while pos < end:
        key, pos = _varint(mv, pos, where)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ModelError(f"{where}: corrupt protobuf (field number 0)")
        if wire == _VARINT:
            value, pos = _varint(mv, pos, where)
        elif wire == _I64:
            if pos + 8 > end:
                raise ModelError(f"{where}: corrupt protobuf (truncated 64-bit field)")
            value, pos = int.from_bytes(mv[pos : pos + 8], "little"), pos + 8
        elif wire == _I32:
            if pos + 4 > end:
                raise ModelError(f"{where}: corrupt protobuf (truncated 32-bit field)")
            value, pos = int.from_bytes(mv[pos : pos + 4], "little"), pos + 4
        elif wire == _LEN:
            length, pos = _varint(mv, pos, where)
            if pos + length > end:
                raise ModelError(f"{where}: corrupt protobuf (length past the end)")
            value, pos = mv[pos : pos + length], pos + length
        else:
            raise ModelError(f"{where}: corrupt protobuf (wire type {wire})")
        out.append((number, wire, value))
    return out


def _varint(mv: memoryview, pos: int, where: str) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(mv) or shift > 63:
            raise ModelError(f"{where}: corrupt protobuf (truncated varint)")
        b = mv[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _ints(wire: int, value: object, where: str) -> list[int]:
    """A repeated int64 field's element(s): packed (LEN) or one VARINT."""
    if wire == _VARINT:
        return [_signed(int(value))]  # type: ignore[arg-type]
    if wire == _LEN:
        mv, pos, out = value, 0, []  # type: ignore[assignment]
        while pos < len(mv):  # type: ignore[arg-type]
            v, pos = _varint(mv, pos, where)  # type: ignore[arg-type]
            out.append(_signed(v))
        return out
    raise ModelError(f"{where}: corrupt protobuf (integer field with wire type {wire})")


def _floats(wire: int, value: object, where: str) -> list[float]:
    if wire == _I32:
        return [struct.unpack("<f", int(value).to_bytes(4, "little"))[0]]  # type: ignore[arg-type]
    if wire == _LEN:
        raw = bytes(value)  # type: ignore[arg-type]
        if len(raw) % 4:
            raise ModelError(f"{where}: corrupt protobuf (packed floats)")
        return list(np.frombuffer(raw, "<f4").astype(float))
    raise ModelError(f"{where}: corrupt protobuf (float field with wire type {wire})")


def _str(wire: int, value: object, where: str) -> str:
    if wire != _LEN:
        raise ModelError(f"{where}: corrupt protobuf (string field with wire type {wire})")
    try:
        return bytes(value).decode("utf-8")  # type: ignore[arg-type]
    except UnicodeDecodeError as exc:
        raise ModelError(f"{where}: corrupt protobuf (invalid UTF-8 string)") from exc


def _msg(wire: int, value: object, where: str) -> memoryview:
    if wire != _LEN:
        raise ModelError(f"{where}: corrupt protobuf (message field with wire type {wire})")
    return value  # type: ignore[return-value]


def parse_tensor(buf: memoryview, where: str) -> tuple[str, np.ndarray]:
    """TensorProto -> (name, array)."""
    dims: list[int] = []
    dtype_code = 0
    name = ""
    raw: bytes | None = None
    typed: list[float] | list[int] = []
    for number, wire, value in _fields(buf, where):
        if number == 1:
            dims += _ints(wire, value, where)
        elif number == 2:
            dtype_code = int(value)  # type: ignore[arg-type]
        elif number == 8:
            name = _str(wire, value, where)
        elif number == 9:
            raw = bytes(_msg(wire, value, where))
        elif number == 4:
            typed += _floats(wire, value, where)  # type: ignore[operator]
        elif number in (5, 7):
            typed += _ints(wire, value, where)  # type: ignore[operator]
        elif number == 10:
            raise ModelError(f"{where}: tensor {name!r} stores doubles, not supported")
        elif number in (13, 14):
            raise ModelError(f"{where}: tensor {name!r} uses external data, not supported")
    if dtype_code not in DTYPES:
        raise ModelError(f"{where}: tensor {name!r} has unsupported data type {dtype_code}")
    dtype = DTYPES[dtype_code]
    count = int(np.prod(dims)) if dims else 1
    if raw is not None:
        if len(raw) != count * dtype.itemsize:
            raise ModelError(
                f"{where}: tensor {name!r} holds {len(raw)} bytes, expected "
                f"{count * dtype.itemsize} for shape {tuple(dims)}"
            )
        array = np.frombuffer(raw, dtype).copy()
    else:
        if len(typed) != count:
            raise ModelError(
                f"{where}: tensor {name!r} holds {len(typed)} values, expected {count}"
            )
        if dtype_code == 10:  # float16 travels as its bit pattern in int32_data
            array = np.array(typed, np.uint16).view(np.float16)
        else:
            array = np.array(typed).astype(dtype)
    return name, array.reshape(dims)


def _attribute(buf: memoryview, where: str) -> tuple[str, object]:
    name, value_out = "", None
    ints: list[int] = []
    floats: list[float] = []
    strings: list[str] = []
    for number, wire, value in _fields(buf, where):
        if number == 1:
            name = _str(wire, value, where)
        elif number == 2:
            value_out = _floats(wire, value, where)[0]
        elif number == 3:
            value_out = _ints(wire, value, where)[0]
        elif number == 4:
            value_out = bytes(_msg(wire, value, where))
        elif number == 5:
            value_out = parse_tensor(_msg(wire, value, where), where)[1]
        elif number == 6:
            raise ModelError(f"{where}: attribute {name!r} holds a subgraph, not supported")
        elif number == 7:
            floats += _floats(wire, value, where)
        elif number == 8:
            ints += _ints(wire, value, where)
        elif number == 9:
            strings.append(bytes(_msg(wire, value, where)).decode("utf-8", "replace"))
    if value_out is None:
        value_out = ints or floats or strings
    return name, value_out


def _node(buf: memoryview, where: str) -> Node:
    inputs: list[str] = []
    outputs: list[str] = []
    name = op_type = domain = ""
    attrs: dict[str, object] = {}
    for number, wire, value in _fields(buf, where):
        if number == 1:
            inputs.append(_str(wire, value, where))
        elif number == 2:
            outputs.append(_str(wire, value, where))
        elif number == 3:
            name = _str(wire, value, where)
        elif number == 4:
            op_type = _str(wire, value, where)
        elif number == 5:
            key, val = _attribute(_msg(wire, value, where), where)
            attrs[key] = val
        elif number == 7:
            domain = _str(wire, value, where)
    if not op_type:
        raise ModelError(f"{where}: node {name!r} has no op type")
    return Node(op_type, tuple(inputs), tuple(outputs), name, domain, attrs)


def _value_info(buf: memoryview, where: str) -> ValueInfo:
    name, elem, shape = "", 0, []
    for number, wire, value in _fields(buf, where):
        if number == 1:
            name = _str(wire, value, where)
        elif number == 2:  # TypeProto
            for n2, w2, v2 in _fields(_msg(wire, value, where), where):
                if n2 != 1:  # tensor_type only
                    continue
                for n3, w3, v3 in _fields(_msg(w2, v2, where), where):
                    if n3 == 1:
                        elem = int(v3)  # type: ignore[arg-type]
                    elif n3 == 2:  # TensorShapeProto
                        for n4, w4, v4 in _fields(_msg(w3, v3, where), where):
                            if n4 != 1:
                                continue
                            dim: int | str = "?"
                            for n5, w5, v5 in _fields(_msg(w4, v4, where), where):
                                if n5 == 1:
                                    dim = _ints(w5, v5, where)[0]
                                elif n5 == 2:
                                    dim = _str(w5, v5, where)
                            shape.append(dim)
    return ValueInfo(name, elem, tuple(shape))


def parse_onnx(data: bytes, where: str = "<bytes>") -> OnnxModel:
    """Decode an ONNX ``ModelProto``. Raises ``ModelError`` for anything else."""
    if len(data) < 16:
        raise ModelError(f"{where}: too short to be an ONNX model")
    opsets: dict[str, int] = {}
    producer = ""
    graph: memoryview | None = None
    for number, wire, value in _fields(data, where):
        if number == 8:
            domain, version = "", 0
            for n2, w2, v2 in _fields(_msg(wire, value, where), where):
                if n2 == 1:
                    domain = _str(w2, v2, where)
                elif n2 == 2:
                    version = _ints(w2, v2, where)[0]
            opsets[domain] = version
        elif number == 2:
            producer = _str(wire, value, where)
        elif number == 7:
            graph = _msg(wire, value, where)
    if graph is None:
        raise ModelError(f"{where}: no graph: not an ONNX model")
    nodes: list[Node] = []
    inits: dict[str, np.ndarray] = {}
    ins: list[ValueInfo] = []
    outs: list[ValueInfo] = []
    for number, wire, value in _fields(graph, where):
        if number == 1:
            nodes.append(_node(_msg(wire, value, where), where))
        elif number == 5:
            name, array = parse_tensor(_msg(wire, value, where), where)
            inits[name] = array
        elif number == 11:
            ins.append(_value_info(_msg(wire, value, where), where))
        elif number == 12:
            outs.append(_value_info(_msg(wire, value, where), where))
    if not nodes or not outs:
        raise ModelError(f"{where}: empty graph: not an ONNX model")
    # Old exporters (MXNet) list every initializer among the inputs too.
    real_inputs = tuple(v for v in ins if v.name not in inits)
    return OnnxModel(opsets, producer, tuple(nodes), inits, real_inputs, tuple(outs))


def read_onnx(path: Path | str) -> OnnxModel:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    return parse_onnx(data, str(path))
