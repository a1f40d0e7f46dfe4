"""The operator table: one NumPy implementation of each standard ONNX
operator fastrnn reads, as the spec defines it for opsets 17 to 20 (and the
newer versions whose semantics did not change).

``OPERATORS[op].run(inputs, attributes) -> outputs``: `inputs` is the
node's input list with None for an omitted optional input, `attributes` its
normalized attributes (the IR fills in the schema's defaults and lifts the
constant inputs named in ``Operator.parameters`` into attributes of those
names, so that e.g. ``Squeeze`` reads ``attributes["axes"]`` whatever the
opset). Constant folding at load time and the session at run time both run
this table. Inputs may be read-only arrays; outputs may be views of inputs.

Beyond issue 13's list, the table has what the PyTorch exporters write for
the CRNN family: MaxPool, AveragePool (pooling layers), Erf (GELU at opset
17) and CastLike (the dynamo exporter).

An implementation whose output can be larger than its inputs (broadcasts,
ConstantOfShape, Expand, Range, Pad, Conv, MatMul, the recurrent ops) checks
the output's size against the bound (``proto.check_size``) before it is
allocated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .proto import check_size, numpy_dtype
from .recurrent import gru, lstm, rnn


@dataclass(frozen=True)
class Operator:
    """One row of the table.

    run : (inputs, attributes) -> list of outputs (None for the If node,
        which the graph runner evaluates: it runs a subgraph).
    parameters : {input index: attribute name} of the inputs that are
        parameters (axes, pads, shapes...), lifted into attributes when they
        are constants, and read from the inputs otherwise.
    """

    run: Callable[[list, dict], list] | None
    parameters: dict[int, str] = field(default_factory=dict)


def _checked_broadcast(*arrays: np.ndarray) -> tuple:
    """The broadcast shape of `arrays`, its size checked before it exists
    (inputs of one shape: that shape, no larger than an input)."""
    shapes = [np.shape(a) for a in arrays]
    if all(shape == shapes[0] for shape in shapes):
        return shapes[0]
    shape = np.broadcast_shapes(*shapes)
    check_size(shape, np.result_type(*arrays), "the broadcast output")
    return shape


def _parameter(inputs: list, attributes: dict, index: int, name: str):
    """A parameter: the lifted attribute, else the (dynamic) input, else None."""
    if name in attributes:
        return attributes[name]
    if index < len(inputs) and inputs[index] is not None:
        return inputs[index]
    return None


def _ints(value) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(v) for v in np.ravel(value))


def _axes(value, rank: int) -> tuple[int, ...] | None:
    """Axes normalized to [0, rank), sorted; None stays None."""
    axes = _ints(value)
    if axes is None:
        return None
    for axis in axes:
        if not -rank <= axis < rank:
            raise ValueError(f"axis {axis} is out of range for rank {rank}")
    return tuple(sorted(a % rank for a in axes))


# ---------------------------------------------------------------------------
# Elementwise.

def _binary(function: Callable) -> Callable:
    def run(inputs, attributes):
        _checked_broadcast(inputs[0], inputs[1])
        return [function(inputs[0], inputs[1])]
    return run


def _elementwise(function: Callable) -> Callable:
    """An elementwise function of (x, attributes), in x's dtype."""
    def run(inputs, attributes):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return [np.asarray(function(inputs[0], attributes), dtype=inputs[0].dtype)]
    return run


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Div: true division for floats, C's truncation toward zero for integers."""
    if a.dtype.kind in "f":
        return np.divide(a, b)
    quotient = np.floor_divide(a, b)
    inexact = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
    return (quotient + inexact).astype(a.dtype)


def _power(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pow: the base's type (exponent of any numeric type)."""
    if a.dtype == b.dtype:
        return np.power(a, b)
    return np.power(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype)


def _sigmoid(x: np.ndarray, attributes: dict) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


_erf_object = np.frompyfunc(math.erf, 1, 1)


def _erf(x: np.ndarray, attributes: dict | None = None) -> np.ndarray:
    """The error function, elementwise, computed in float64."""
    return _erf_object(np.asarray(x, np.float64)).astype(np.float64)


def _gelu(x: np.ndarray, attributes: dict) -> np.ndarray:
    if attributes["approximate"] == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    if attributes["approximate"] != "none":
        raise ValueError(f"approximate: expected 'none' or 'tanh', got "
                         f"{attributes['approximate']!r}")
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def _where(inputs, attributes):
    _checked_broadcast(*inputs)
    return [np.where(inputs[0], inputs[1], inputs[2])]


def _prelu(inputs, attributes):
    x, slope = inputs
    _checked_broadcast(x, slope)
    return [np.where(x < 0, x * slope, x).astype(x.dtype)]


def _clip(inputs, attributes):
    x = inputs[0]
    low = _parameter(inputs, attributes, 1, "min")
    high = _parameter(inputs, attributes, 2, "max")
    if low is not None:
        x = np.maximum(x, np.asarray(low, x.dtype))
    if high is not None:
        x = np.minimum(x, np.asarray(high, x.dtype))
    return [np.array(x, dtype=inputs[0].dtype)]


# ---------------------------------------------------------------------------
# Softmax, normalization.

def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def _run_softmax(inputs, attributes):
    return [_softmax(inputs[0], attributes["axis"])]


def _log_softmax(inputs, attributes):
    x = inputs[0]
    shifted = x - x.max(axis=attributes["axis"], keepdims=True)
    return [shifted - np.log(np.exp(shifted).sum(axis=attributes["axis"], keepdims=True))]


def _channel(vector: np.ndarray, ndim: int) -> np.ndarray:
    """A per-channel vector (C,) shaped to broadcast over (N, C, ...)."""
    return np.reshape(vector, (1, -1) + (1,) * (ndim - 2))


def _batch_normalization(inputs, attributes):
    x, scale, bias, mean, variance = inputs[:5]
    epsilon = attributes["epsilon"]
    if not attributes.get("training_mode", 0):
        inverse = scale / np.sqrt(variance + epsilon)
        return [(x - _channel(mean, x.ndim)) * _channel(inverse, x.ndim)
                + _channel(bias, x.ndim)]
    axes = (0,) + tuple(range(2, x.ndim))
    batch_mean, batch_variance = x.mean(axis=axes), x.var(axis=axes)
    y = ((x - _channel(batch_mean, x.ndim)) / np.sqrt(_channel(batch_variance, x.ndim) + epsilon)
         * _channel(scale, x.ndim) + _channel(bias, x.ndim))
    momentum = attributes["momentum"]
    return [y.astype(x.dtype), (mean * momentum + batch_mean * (1 - momentum)).astype(mean.dtype),
            (variance * momentum + batch_variance * (1 - momentum)).astype(variance.dtype)]


def _instance_normalization(inputs, attributes):
    x, scale, bias = inputs
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    variance = x.var(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(variance + attributes["epsilon"])
    return [(y * _channel(scale, x.ndim) + _channel(bias, x.ndim)).astype(x.dtype)]


def _layer_normalization(inputs, attributes):
    """Over axes [axis, rank); outputs Y, Mean, InvStdDev (reduced axes kept
    as 1). stash_type 1 computes in float32."""
    x, scale = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    axis = attributes["axis"] % x.ndim
    compute = np.float32 if attributes["stash_type"] == 1 else x.dtype
    data = x.astype(compute)
    axes = tuple(range(axis, x.ndim))
    mean = data.mean(axis=axes, keepdims=True)
    inverse = 1 / np.sqrt(((data - mean) ** 2).mean(axis=axes, keepdims=True)
                          + attributes["epsilon"])
    y = ((data - mean) * inverse).astype(x.dtype) * scale
    if bias is not None:
        y = y + bias
    return [y.astype(x.dtype), mean, inverse]


# ---------------------------------------------------------------------------
# Reductions.

def _reduce(function: Callable) -> Callable:
    def run(inputs, attributes):
        x = inputs[0]
        axes = _axes(_parameter(inputs, attributes, 1, "axes"), max(x.ndim, 1))
        if not axes:
            if attributes.get("noop_with_empty_axes", 0):
                return [x]
            axes = tuple(range(x.ndim))
        keepdims = bool(attributes["keepdims"])
        return [np.asarray(function(x, axes, keepdims))]
    return run


def _reduce_max(x: np.ndarray, axes: tuple, keepdims: bool) -> np.ndarray:
    """The max; over an empty set, the type's lowest value (-inf for floats)."""
    if x.dtype.kind == "f":
        lowest = -np.inf
    elif x.dtype == np.bool_:
        lowest = False
    else:
        lowest = np.iinfo(x.dtype).min
    return np.max(x, axis=axes, keepdims=keepdims, initial=lowest)


def _reduce_mean(x: np.ndarray, axes: tuple, keepdims: bool) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.mean(x, axis=axes, keepdims=keepdims).astype(x.dtype)


def _reduce_sum(x: np.ndarray, axes: tuple, keepdims: bool) -> np.ndarray:
    return np.sum(x, axis=axes, keepdims=keepdims, dtype=x.dtype)


# ---------------------------------------------------------------------------
# Matrix products, convolution.

def _matmul(inputs, attributes):
    a, b = inputs
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    rows = a.shape[-2] if a.ndim > 1 else 1
    columns = b.shape[-1] if b.ndim > 1 else 1
    check_size(batch + (rows, columns), np.result_type(a, b), "the MatMul output")
    return [np.matmul(a, b)]


def _gemm(inputs, attributes):
    a = inputs[0].T if attributes["transA"] else inputs[0]
    b = inputs[1].T if attributes["transB"] else inputs[1]
    check_size((a.shape[0], b.shape[1]), a.dtype, "the Gemm output")
    y = attributes["alpha"] * (a @ b)
    if len(inputs) > 2 and inputs[2] is not None:
        y = y + attributes["beta"] * inputs[2]
    return [np.asarray(y, dtype=inputs[0].dtype)]


def conv_padding(attributes: dict, sizes: tuple, kernel: tuple) -> tuple[tuple, tuple, tuple]:
    """(pads_begin, pads_end, output sizes) of a Conv over spatial `sizes`
    with kernel sizes `kernel` (auto_pad, pads, strides and dilations as the
    spec defines them)."""
    spatial = len(sizes)
    strides = attributes.get("strides") or (1,) * spatial
    dilations = attributes.get("dilations") or (1,) * spatial
    extents = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    auto_pad = attributes.get("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        outputs = [-(-n // s) for n, s in zip(sizes, strides)]
        totals = [max((o - 1) * s + e - n, 0)
                  for o, s, e, n in zip(outputs, strides, extents, sizes)]
        small = [t // 2 for t in totals]
        large = [t - t // 2 for t in totals]
        begin, end = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
    elif auto_pad == "VALID":
        begin, end = [0] * spatial, [0] * spatial
    elif auto_pad == "NOTSET":
        pads = attributes.get("pads") or (0,) * (2 * spatial)
        begin, end = list(pads[:spatial]), list(pads[spatial:])
    else:
        raise ValueError(f"auto_pad: expected NOTSET, SAME_UPPER, SAME_LOWER or VALID, "
                         f"got {auto_pad!r}")
    outputs = [(n + b + e - x) // s + 1
               for n, b, e, x, s in zip(sizes, begin, end, extents, strides)]
    if min(outputs, default=1) < 1:
        raise ValueError(f"the input's spatial sizes {sizes} are smaller than the kernel "
                         f"{kernel} (dilations {dilations}, pads {begin + end})")
    return tuple(begin), tuple(end), tuple(outputs)


def _windows(x: np.ndarray, kernel: tuple, strides: tuple, dilations: tuple,
             outputs: tuple) -> np.ndarray:
    """(N, C, *outputs, *kernel): the strided, dilated windows of a padded
    (N, C, *spatial) array."""
    extents = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    windows = sliding_window_view(x, extents, axis=tuple(range(2, x.ndim)))
    return windows[(slice(None), slice(None))
                   + tuple(slice(None, (o - 1) * s + 1, s) for o, s in zip(outputs, strides))
                   + tuple(slice(None, None, d) for d in dilations)]


def _pool(inputs, attributes, kind: str):
    """MaxPool / AveragePool over the spatial axes of (N, C, *spatial):
    kernel_shape, strides, pads or auto_pad, dilations, ceil_mode (the last
    window must start inside the input or its left padding, as in
    PyTorch), and for the average count_include_pad (explicit pads counted,
    never the ceil-mode overhang)."""
    x = inputs[0]
    kernel = tuple(attributes["kernel_shape"])
    spatial = len(kernel)
    strides = attributes.get("strides") or (1,) * spatial
    dilations = attributes.get("dilations") or (1,) * spatial
    extents = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    begin, end, outputs = conv_padding(attributes, x.shape[2:], kernel)
    if attributes.get("ceil_mode") and attributes.get("auto_pad", "NOTSET") == "NOTSET":
        outputs = tuple(
            -(-(n + b + p - e) // s) + 1 - ((-(-(n + b + p - e) // s)) * s >= n + b)
            for n, b, p, e, s in zip(x.shape[2:], begin, end, extents, strides))
    check_size(x.shape[:2] + outputs, x.dtype, f"the {kind} output")
    overhang = [max((o - 1) * s + e - (n + b + p), 0)
                for o, s, e, n, b, p in zip(outputs, strides, extents, x.shape[2:], begin, end)]
    widths = [(0, 0), (0, 0)] + [(b, p + h) for b, p, h in zip(begin, end, overhang)]
    window_axes = tuple(range(2 + spatial, 2 + 2 * spatial))
    if kind == "MaxPool":
        lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        padded = np.pad(x, widths, constant_values=lowest)
        return [_windows(padded, kernel, strides, dilations, outputs).max(axis=window_axes)]
    sums = _windows(np.pad(x, widths), kernel, strides, dilations, outputs).sum(axis=window_axes)
    if attributes["count_include_pad"]:
        counted = np.pad(np.ones(tuple(n + b + p for n, b, p in zip(x.shape[2:], begin, end))),
                         [(0, h) for h in overhang])
    else:
        counted = np.pad(np.ones(x.shape[2:]), widths[2:])
    counts = _windows(counted[np.newaxis, np.newaxis], kernel, strides, dilations,
                      outputs).sum(axis=window_axes)
    return [(sums / counts).astype(x.dtype)]


def _conv(inputs, attributes):
    """y[n, g*M/G + m, o...] = sum_{c, k...} x_padded[n, g*C/G + c, o*s + k*d]
    * w[g*M/G + m, c, k...] + b[g*M/G + m], for spatial dims of any number."""
    x, w = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    spatial = x.ndim - 2
    kernel = tuple(w.shape[2:])
    if attributes.get("kernel_shape") and tuple(attributes["kernel_shape"]) != kernel:
        raise ValueError(f"kernel_shape {attributes['kernel_shape']} does not match the "
                         f"weight's {kernel}")
    groups, channels, filters = attributes["group"], x.shape[1], w.shape[0]
    if channels % groups or filters % groups or w.shape[1] != channels // groups:
        raise ValueError(f"input channels {channels} and weight {w.shape} do not fit "
                         f"group {groups}")
    begin, end, outputs = conv_padding(attributes, x.shape[2:], kernel)
    check_size((x.shape[0], filters) + outputs, x.dtype, "the Conv output")
    strides = attributes.get("strides") or (1,) * spatial
    dilations = attributes.get("dilations") or (1,) * spatial
    padded = np.pad(x, [(0, 0), (0, 0)] + list(zip(begin, end)))
    windows = _windows(padded, kernel, strides, dilations, outputs)
    windows = windows.reshape((x.shape[0], groups, channels // groups) + windows.shape[2:])
    weights = w.reshape((groups, filters // groups) + w.shape[1:])
    out_letters, kernel_letters = "tuvw"[:spatial], "ijkl"[:spatial]
    y = np.einsum(f"ngc{out_letters}{kernel_letters},gmc{kernel_letters}->ngm{out_letters}",
                  windows, weights, optimize=True)
    y = y.reshape((x.shape[0], filters) + outputs)
    if bias is not None:
        y = y + _channel(bias, y.ndim)
    return [y.astype(x.dtype)]


# ---------------------------------------------------------------------------
# Shapes and indexing.

def _concat(inputs, attributes):
    return [np.concatenate([i for i in inputs if i is not None], axis=attributes["axis"])]


def _split(inputs, attributes):
    """Sizes from `split`, else `num_outputs` parts of ceil(n / num_outputs)
    (the last smaller)."""
    x, axis = inputs[0], attributes["axis"]
    sizes = _ints(_parameter(inputs, attributes, 1, "split"))
    if sizes is None:
        parts = attributes["num_outputs"]
        step = -(-x.shape[axis] // parts)
        sizes = [min(step, x.shape[axis] - k * step) for k in range(parts)]
    if sum(sizes) != x.shape[axis] or min(sizes, default=0) < 0:
        raise ValueError(f"split sizes {tuple(sizes)} do not sum to the axis' size "
                         f"{x.shape[axis]}")
    return np.split(x, np.cumsum(sizes)[:-1], axis=axis)


def _slice_bounds(size: int, start: int, end: int, step: int) -> slice:
    """ONNX's clamped [start, end) with step as a Python slice of an axis of
    `size` (negative bounds count from the end)."""
    if step == 0:
        raise ValueError("Slice: a step of 0")
    start = start + size if start < 0 else start
    end = end + size if end < 0 else end
    if step > 0:
        return slice(min(max(start, 0), size), min(max(end, 0), size), step)
    start = min(max(start, 0), size - 1)
    end = min(max(end, -1), size - 1)
    return slice(start, None if end < 0 else end, step)


def _slice(inputs, attributes):
    x = inputs[0]
    starts = _ints(_parameter(inputs, attributes, 1, "starts"))
    ends = _ints(_parameter(inputs, attributes, 2, "ends"))
    axes = _ints(_parameter(inputs, attributes, 3, "axes")) or tuple(range(len(starts)))
    steps = _ints(_parameter(inputs, attributes, 4, "steps")) or (1,) * len(starts)
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        index[axis] = _slice_bounds(x.shape[axis], start, end, step)
    return [x[tuple(index)]]


def _pad(inputs, attributes):
    """Pads (begin..., end...) per axis (of `axes`, default all); negative
    pads crop. Modes constant, reflect, edge, wrap."""
    x = inputs[0]
    pads = _ints(_parameter(inputs, attributes, 1, "pads"))
    value = _parameter(inputs, attributes, 2, "constant_value")
    if value is None:
        value = attributes.get("value", 0)
    axes = _axes(_parameter(inputs, attributes, 3, "axes"), x.ndim)
    axes = tuple(range(x.ndim)) if axes is None else axes
    if len(pads) != 2 * len(axes):
        raise ValueError(f"pads {pads}: expected 2 x {len(axes)} values")
    widths = [(0, 0)] * x.ndim
    for k, axis in enumerate(axes):
        widths[axis] = (pads[k], pads[k + len(axes)])
    crop = tuple(slice(max(-b, 0), x.shape[a] - max(-e, 0)) for a, (b, e) in enumerate(widths))
    x = x[crop]
    widths = [(max(b, 0), max(e, 0)) for b, e in widths]
    check_size(tuple(n + b + e for n, (b, e) in zip(x.shape, widths)), x.dtype,
               "the Pad output")
    mode = attributes["mode"]
    if mode == "constant":
        return [np.pad(x, widths, constant_values=np.asarray(value, x.dtype).item())]
    if mode not in ("reflect", "edge", "wrap"):
        raise ValueError(f"mode: expected constant, reflect, edge or wrap, got {mode!r}")
    return [np.pad(x, widths, mode=mode)]


def _squeeze(inputs, attributes):
    x = inputs[0]
    axes = _axes(_parameter(inputs, attributes, 1, "axes"), x.ndim)
    if axes is None:
        axes = tuple(a for a, n in enumerate(x.shape) if n == 1)
    return [np.squeeze(x, axis=axes)]


def _unsqueeze(inputs, attributes):
    x = inputs[0]
    axes = _ints(_parameter(inputs, attributes, 1, "axes"))
    return [np.expand_dims(x, _axes(axes, x.ndim + len(axes)))]


def _reshape(inputs, attributes):
    x = inputs[0]
    shape = list(_ints(_parameter(inputs, attributes, 1, "shape")))
    if not attributes.get("allowzero", 0):
        shape = [x.shape[k] if s == 0 else s for k, s in enumerate(shape)]
    return [x.reshape(shape)]


def _transpose(inputs, attributes):
    return [np.transpose(inputs[0], attributes.get("perm"))]


def _gather(inputs, attributes):
    x, indices = inputs
    axis = attributes["axis"] % x.ndim
    check_size(x.shape[:axis] + np.shape(indices) + x.shape[axis + 1:], x.dtype,
               "the Gather output")
    size = x.shape[axis]
    if np.any((indices < -size) | (indices >= size)):
        raise ValueError(f"Gather: indices out of range [-{size}, {size})")
    return [np.take(x, indices, axis=axis)]


def _expand(inputs, attributes):
    x = inputs[0]
    shape = _ints(_parameter(inputs, attributes, 1, "shape"))
    target = np.broadcast_shapes(x.shape, shape)
    check_size(target, x.dtype, "the Expand output")
    return [np.broadcast_to(x, target)]


def _dropout(inputs, attributes):
    """Inference: the identity and an all-true mask. Training (random
    masks) is refused unless the ratio is 0."""
    x = inputs[0]
    training = _parameter(inputs, attributes, 2, "training_mode")
    ratio = _parameter(inputs, attributes, 1, "ratio")
    if training is not None and bool(np.asarray(training)) and (
            ratio is None or float(np.asarray(ratio)) != 0):
        raise NotImplementedError("Dropout in training mode (random masks) is not supported")
    return [x, np.ones(x.shape, np.bool_)]


# ---------------------------------------------------------------------------
# Constants, shapes, types.

CONSTANT_ATTRIBUTES = ("value", "value_float", "value_floats", "value_int", "value_ints",
                       "value_string", "value_strings")


def _constant(inputs, attributes):
    given = [name for name in CONSTANT_ATTRIBUTES if name in attributes]
    if len(given) != 1:
        raise ValueError(f"Constant: expected exactly one of {CONSTANT_ATTRIBUTES}, "
                         f"got {sorted(attributes)}")
    value = attributes[given[0]]
    dtype = {"value_float": np.float32, "value_floats": np.float32, "value_int": np.int64,
             "value_ints": np.int64, "value_string": object, "value_strings": object}.get(
        given[0])
    return [np.asarray(value, dtype=dtype)]


def _constant_of_shape(inputs, attributes):
    shape = _ints(inputs[0])
    value = attributes.get("value")
    value = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    check_size(shape, value.dtype, "the ConstantOfShape output")
    return [np.full(shape, value[0], dtype=value.dtype)]


def _shape(inputs, attributes):
    dims = inputs[0].shape
    start, end = attributes["start"], attributes.get("end")
    return [np.array(dims[start:end], dtype=np.int64)]


def _cast(inputs, attributes):
    dtype = numpy_dtype(attributes["to"])
    if dtype.kind == "V" or dtype.name not in _CASTABLE:
        raise NotImplementedError(f"Cast to {dtype}: only standard numeric, bool and string "
                                  "types are supported (not float8, 4-bit or bfloat16)")
    x = inputs[0]
    if dtype.kind == "O":
        return [np.vectorize(_number_text, otypes=[object])(x)]
    return [x.astype(dtype)]


_CASTABLE = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
             "uint16", "uint32", "uint64", "bool", "object"}


def _cast_like(inputs, attributes):
    """CastLike: Cast to the element type of the second input."""
    return [inputs[0].astype(inputs[1].dtype)]


def _number_text(value) -> str:
    return str(value)


def _range(inputs, attributes):
    start, limit, delta = (np.asarray(i).item() for i in inputs)
    count = max(math.ceil((limit - start) / delta), 0)
    dtype = inputs[0].dtype
    check_size((count,), dtype, "the Range output")
    return [(start + np.arange(count) * delta).astype(dtype)]


OPERATORS: dict[str, Operator] = {
    # Recurrent (fastrnn.io.onnx.recurrent: the whole spec).
    "LSTM": Operator(lstm),
    "GRU": Operator(gru),
    "RNN": Operator(rnn),
    # Convolution, normalization.
    "Conv": Operator(_conv),
    "BatchNormalization": Operator(_batch_normalization),
    "LayerNormalization": Operator(_layer_normalization),
    "InstanceNormalization": Operator(_instance_normalization),
    "MaxPool": Operator(lambda inputs, attributes: _pool(inputs, attributes, "MaxPool")),
    "AveragePool": Operator(lambda inputs, attributes: _pool(inputs, attributes, "AveragePool")),
    # Activations.
    "Relu": Operator(_elementwise(lambda x, a: np.maximum(x, 0))),
    "LeakyRelu": Operator(_elementwise(lambda x, a: np.where(x >= 0, x, a["alpha"] * x))),
    "PRelu": Operator(_prelu),
    "Elu": Operator(_elementwise(lambda x, a: np.where(x >= 0, x, a["alpha"] * np.expm1(x)))),
    "Selu": Operator(_elementwise(lambda x, a: a["gamma"] * np.where(
        x > 0, x, a["alpha"] * np.expm1(x)))),
    "Gelu": Operator(_elementwise(_gelu)),
    "Sigmoid": Operator(_elementwise(_sigmoid)),
    "HardSigmoid": Operator(_elementwise(lambda x, a: np.clip(a["alpha"] * x + a["beta"], 0, 1))),
    "Tanh": Operator(_elementwise(lambda x, a: np.tanh(x))),
    "Softplus": Operator(_elementwise(lambda x, a: np.logaddexp(0, x))),
    "Softmax": Operator(_run_softmax),
    "LogSoftmax": Operator(_log_softmax),
    # Arithmetic.
    "Add": Operator(_binary(np.add)),
    "Sub": Operator(_binary(np.subtract)),
    "Mul": Operator(_binary(np.multiply)),
    "Div": Operator(_binary(_divide)),
    "Pow": Operator(_binary(_power)),
    "Sqrt": Operator(_elementwise(lambda x, a: np.sqrt(x))),
    "Neg": Operator(_elementwise(lambda x, a: np.negative(x))),
    "Abs": Operator(_elementwise(lambda x, a: np.abs(x))),
    "Exp": Operator(_elementwise(lambda x, a: np.exp(x))),
    "Log": Operator(_elementwise(lambda x, a: np.log(x))),
    "Erf": Operator(_elementwise(_erf)),
    "Clip": Operator(_clip, {1: "min", 2: "max"}),
    "ReduceMean": Operator(_reduce(_reduce_mean), {1: "axes"}),
    "ReduceSum": Operator(_reduce(_reduce_sum), {1: "axes"}),
    "ReduceMax": Operator(_reduce(_reduce_max), {1: "axes"}),
    "MatMul": Operator(_matmul),
    "Gemm": Operator(_gemm),
    # Layout.
    "Concat": Operator(_concat),
    "Split": Operator(_split, {1: "split"}),
    "Slice": Operator(_slice, {1: "starts", 2: "ends", 3: "axes", 4: "steps"}),
    "Pad": Operator(_pad, {1: "pads", 2: "constant_value", 3: "axes"}),
    "Squeeze": Operator(_squeeze, {1: "axes"}),
    "Unsqueeze": Operator(_unsqueeze, {1: "axes"}),
    "Reshape": Operator(_reshape, {1: "shape"}),
    "Transpose": Operator(_transpose),
    "Gather": Operator(_gather),
    "Expand": Operator(_expand, {1: "shape"}),
    "Identity": Operator(lambda inputs, attributes: [inputs[0]]),
    "Dropout": Operator(_dropout, {1: "ratio", 2: "training_mode"}),
    # Logic.
    "Equal": Operator(_binary(np.equal)),
    "Greater": Operator(_binary(np.greater)),
    "Less": Operator(_binary(np.less)),
    "Not": Operator(lambda inputs, attributes: [np.logical_not(inputs[0])]),
    "And": Operator(_binary(np.logical_and)),
    "Where": Operator(_where),
    "If": Operator(None),
    # Constants, shapes, types.
    "Constant": Operator(_constant),
    "ConstantOfShape": Operator(_constant_of_shape),
    "Shape": Operator(_shape),
    "Size": Operator(lambda inputs, attributes: [np.array(inputs[0].size, np.int64)]),
    "Cast": Operator(_cast),
    "CastLike": Operator(_cast_like),
    "Range": Operator(_range),
}
