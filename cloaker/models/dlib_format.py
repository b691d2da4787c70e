"""A reader for dlib's DNN serialization (``dlib::serialize(net, out)``), no dlib needed.

Format (dlib/serialize.h, dlib/cuda/tensor.h, dlib/dnn/core.h, layers.h):

- integer: a control byte (low nibble = number of value bytes, 1..8; bit 0x80 = negative)
  then that many little-endian magnitude bytes. Zero is ``01 00``.
- bool: the ASCII byte ``'0'`` or ``'1'``. string: integer length, then the bytes.
- float/double: ``float_details``, an integer mantissa and an integer exponent
  (value = mantissa * 2**exponent; exponents 32000/32001/32002 = inf/-inf/nan).
- tensor: integer version 2, integers n, k, nr, nc, then n*k*nr*nc little-endian float32.
  alias_tensor (a view into a layer's ``params``): version 1, then n, k, nr, nc; no data.
- a network nests from the output: the loss layer writes (version 1, loss details, subnet);
  every ``add_layer`` writes (version, subnet, layer details, three bools, tensors x_grad,
  cached_output and params_grad/grad_final [, sample expansion factor]); tag and skip
  layers write (version 1, subnet). Layer details start with a tag string such as
  ``con_4``, ``affine_``, ``relu_``, ``max_pool_2``, ``avg_pool_2``, ``fc_2``,
  ``add_prev_``, ``input_rgb_image_sized``.

Because tag and skip layers carry no type string, the file can only be walked with the
network's structure in hand: ``read_network`` takes it as a list of ``Node`` from the
output to the input and checks every tag string, version and hyper-parameter on the way.
Any mismatch, truncation or trailing byte raises ``cloaker.errors.ModelError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cloaker.errors import ModelError

_FLOAT_SPECIALS = {32000: np.inf, 32001: -np.inf, 32002: np.nan}
# Largest tensor we accept (elements): guards a corrupt header from asking for terabytes.
_MAX_TENSOR = 1 << 28


@dataclass(frozen=True)
class Node:
    """One layer of the expected structure.

    ``kind``: "loss_metric", "input_rgb_image_sized", "con", "affine", "relu", "max_pool",
    "avg_pool", "fc", "add_prev", "tag" or "skip". ``expect``: hyper-parameters the file
    must hold for this layer (e.g. ``{"num_filters": 32, "nr": 7, "stride_y": 2}``).
    """

    kind: str
    expect: dict[str, int] = field(default_factory=dict)


@dataclass
class Layer:
    """One layer as read from the file: ``kind`` as in ``Node``, ``tag`` the string the
    file gave, ``attrs`` its integer/float hyper-parameters, ``tensors`` its weights
    as float32 arrays already split out of dlib's flat ``params`` (names per layer kind:
    con: ``filters`` (O, I, kh, kw), ``biases`` (O,); affine: ``gamma``, ``beta`` (C,);
    fc: ``weights`` (inputs, outputs))."""

    kind: str
    tag: str
    attrs: dict[str, float] = field(default_factory=dict)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)


class Reader:
    """Sequential reader over the bytes of a dlib-serialized object."""

    def __init__(self, data: bytes, name: str = "<bytes>") -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.name = name

    def fail(self, what: str) -> ModelError:
        return ModelError(f"{self.name}: corrupt dlib model at byte {self.pos}: {what}")

    def _take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"truncated while reading {what} ({n} bytes wanted)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def read_int(self, what: str = "integer", max_bytes: int = 8) -> int:
        ctrl = self._take(1, what)[0]
        size = ctrl & 0x0F
        if size == 0 or size > max_bytes or ctrl & 0x70:
            raise self.fail(f"bad integer control byte 0x{ctrl:02x} for {what}")
        value = int.from_bytes(self._take(size, what), "little")
        return -value if ctrl & 0x80 else value

    def read_bool(self, what: str = "bool") -> bool:
        ch = self._take(1, what)[0]
        if ch not in (0x30, 0x31):
            raise self.fail(f"bad bool byte 0x{ch:02x} for {what}")
        return ch == 0x31

    def read_string(self, what: str = "string") -> str:
        n = self.read_int(f"length of {what}")
        raw = bytes(self._take(n, what))
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise self.fail(f"non-ASCII {what}: {raw[:32]!r}") from exc

    def read_float(self, what: str = "float") -> float:
        mantissa = self.read_int(f"mantissa of {what}")
        exponent = self.read_int(f"exponent of {what}", max_bytes=2)
        if exponent in _FLOAT_SPECIALS:
            return float(_FLOAT_SPECIALS[exponent])
        return float(np.ldexp(float(mantissa), exponent))

    def _dims(self, what: str) -> tuple[int, int, int, int]:
        n, k, nr, nc = (self.read_int(f"dimension of {what}") for _ in range(4))
        if min(n, k, nr, nc) < 0:
            raise self.fail(f"negative dimension {(n, k, nr, nc)} in {what}")
        return n, k, nr, nc

    def read_tensor(self, what: str = "tensor") -> np.ndarray:
        version = self.read_int(f"version of {what}")
        if version != 2:
            raise self.fail(f"{what}: tensor version {version}, expected 2")
        dims = self._dims(what)
        count = int(np.prod(dims, dtype=np.int64))
        if count > _MAX_TENSOR:
            raise self.fail(f"{what}: implausible tensor size {dims}")
        raw = self._take(4 * count, f"data of {what}")
        values = np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(dims)
        if not np.isfinite(values).all():
            raise self.fail(f"{what}: non-finite values")
        return values

    def read_alias(self, what: str = "alias tensor") -> tuple[int, int, int, int]:
        version = self.read_int(f"version of {what}")
        if version != 1:
            raise self.fail(f"{what}: alias_tensor version {version}, expected 1")
        return self._dims(what)

    def expect_version(self, allowed: tuple[int, ...], what: str) -> int:
        version = self.read_int(f"version of {what}")
        if version not in allowed:
            raise self.fail(f"{what}: version {version}, expected one of {allowed}")
        return version


def _split(
    params: np.ndarray, shapes: dict[str, tuple[int, ...]], r: Reader, tag: str
) -> dict[str, np.ndarray]:
    """Cut dlib's flat ``params`` into consecutive views of the given shapes."""
    flat = params.reshape(-1)
    need = sum(int(np.prod(s)) for s in shapes.values())
    if flat.size < need:
        raise r.fail(f"{tag}: params hold {flat.size} values, aliases need {need}")
    out, off = {}, 0
    for key, shape in shapes.items():
        n = int(np.prod(shape))
        out[key] = flat[off : off + n].reshape(shape).copy()
        off += n
    return out


def _window(r: Reader, layer: Layer) -> None:
    for key in ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x"):
        layer.attrs[key] = r.read_int(f"{layer.tag} {key}")


def _read_details(r: Reader, node: Node) -> Layer:
    """Read one layer's details (the part that starts with its tag string)."""
    tag = r.read_string(f"tag of {node.kind} layer")
    layer = Layer(kind=node.kind, tag=tag)
    kind = node.kind
    if kind == "con" and tag in ("con_4", "con_5", "con_6"):
        params = r.read_tensor(f"{tag} params")
        layer.attrs["num_filters"] = r.read_int(f"{tag} num_filters")
        _window(r, layer)
        filters = r.read_alias(f"{tag} filters")
        biases = r.read_alias(f"{tag} biases")
        for key in ("lr_mult", "wd_mult", "bias_lr_mult", "bias_wd_mult"):
            layer.attrs[key] = r.read_float(f"{tag} {key}")
        use_bias = r.read_bool(f"{tag} use_bias") if tag in ("con_5", "con_6") else True
        if tag == "con_6" and r.read_bool(f"{tag} use_relu"):
            raise r.fail(f"{tag}: fused relu is not supported")
        shapes: dict[str, tuple[int, ...]] = {"filters": filters}
        if use_bias:
            shapes["biases"] = (biases[1],)
        layer.tensors = _split(params, shapes, r, tag)
    elif kind == "affine" and tag in ("affine_", "affine_2"):
        params = r.read_tensor(f"{tag} params")
        gamma, beta = r.read_alias(f"{tag} gamma"), r.read_alias(f"{tag} beta")
        layer.attrs["mode"] = r.read_int(f"{tag} mode")
        if tag == "affine_2" and r.read_bool(f"{tag} disabled"):
            raise r.fail(f"{tag}: disabled affine layers are not supported")
        channels = {"gamma": (int(np.prod(gamma)),), "beta": (int(np.prod(beta)),)}
        layer.tensors = _split(params, channels, r, tag)
    elif kind == "relu" and tag in ("relu_", "relu_2"):
        if tag == "relu_2" and r.read_bool(f"{tag} disabled"):
            raise r.fail(f"{tag}: disabled relu layers are not supported")
    elif kind in ("max_pool", "avg_pool") and tag == f"{kind}_2":
        _window(r, layer)
    elif kind == "fc" and tag in ("fc_2", "fc_3"):
        layer.attrs["num_outputs"] = r.read_int(f"{tag} num_outputs")
        layer.attrs["num_inputs"] = r.read_int(f"{tag} num_inputs")
        params = r.read_tensor(f"{tag} params")
        weights = r.read_alias(f"{tag} weights")
        r.read_alias(f"{tag} biases")
        layer.attrs["bias_mode"] = r.read_int(f"{tag} bias_mode")
        for key in ("lr_mult", "wd_mult", "bias_lr_mult", "bias_wd_mult"):
            layer.attrs[key] = r.read_float(f"{tag} {key}")
        if tag == "fc_3":
            layer.attrs["use_bias"] = int(r.read_bool(f"{tag} use_bias"))
        layer.tensors = _split(params, {"weights": weights[:2]}, r, tag)
    elif kind == "add_prev" and tag == "add_prev_":
        pass
    elif kind == "input_rgb_image_sized" and tag == kind:
        for key in ("avg_red", "avg_green", "avg_blue"):
            layer.attrs[key] = r.read_float(f"{tag} {key}")
        layer.attrs["nr"] = r.read_int(f"{tag} nr")
        layer.attrs["nc"] = r.read_int(f"{tag} nc")
    elif kind == "loss_metric" and tag in ("loss_metric_", "loss_metric_2"):
        if tag == "loss_metric_2":
            layer.attrs["margin"] = r.read_float(f"{tag} margin")
            layer.attrs["dist_thresh"] = r.read_float(f"{tag} dist_thresh")
    else:
        raise r.fail(f"expected a {kind} layer, found tag {tag!r}")
    for key, want in node.expect.items():
        if layer.attrs.get(key) != want:
            raise r.fail(f"{tag}: {key} = {layer.attrs.get(key)}, expected {want}")
    return layer


def _read_subnet(r: Reader, nodes: list[Node], i: int, out: list[Layer]) -> None:
    """Read ``nodes[i:]`` (output-side first); append layers input-side first to ``out``."""
    node = nodes[i]
    if node.kind in ("tag", "skip"):
        r.expect_version((1,), f"{node.kind} layer")
        _read_subnet(r, nodes, i + 1, out)
        out.append(Layer(kind=node.kind, tag=node.kind))
        return
    if i + 1 >= len(nodes):
        raise ValueError("a network structure must end in an input layer below a layer")
    below = nodes[i + 1]
    if below.kind == "input_rgb_image_sized":
        version = r.expect_version((2, 3), "first layer")
        out.append(_read_details(r, below))
    else:
        version = r.expect_version((1, 2), f"{node.kind} layer")
        _read_subnet(r, nodes, i + 1, out)
    details = _read_details(r, node)
    for what in ("this_layer_setup_called", "gradient_input_is_stale", "disabled_output"):
        r.read_bool(f"{details.tag} {what}")
    for what in ("x_grad", "cached_output", "params_grad"):
        if version >= 2 or what != "params_grad":
            r.read_tensor(f"{details.tag} {what}")
    if below.kind == "input_rgb_image_sized" and version == 3:
        r.read_int(f"{details.tag} sample_expansion_factor")
    out.append(details)


def read_network(data: bytes, nodes: list[Node], name: str = "<bytes>") -> list[Layer]:
    """Parse a serialized ``add_loss_layer`` network whose structure is ``nodes``.

    ``nodes`` lists the layers from the loss (``nodes[0]``, kind "loss_metric") down to
    the input (last). Returns the layers input first, loss last (the order of the forward
    pass), with tag and skip layers kept as placeholders so positions line up.
    Raises ``ModelError`` on a truncated or corrupt file, or one whose structure differs.
    """
    if not nodes or nodes[0].kind != "loss_metric":
        raise ValueError("the structure must start with the loss layer")
    r = Reader(data, name)
    r.expect_version((1,), "loss layer")
    loss = _read_details(r, nodes[0])
    layers: list[Layer] = []
    _read_subnet(r, nodes, 1, layers)
    layers.append(loss)
    if r.pos != len(r.data):
        raise r.fail(f"{len(r.data) - r.pos} unexpected bytes after the network")
    return layers
