"""What each Keras layer computes, as fastrnn layers (FRAMEWORK_NOTES.md in
tests/ states the Keras semantics followed, with their sources).

Each rule takes the Conversion, the layer's Call (class name, name, config)
and the Values it reads, adds fastrnn layers, and returns the Values it makes,
in the order of the Keras layer's outputs. A Value is a fastrnn tensor with
how Keras holds it: (batch, time, channels), (batch, channels, time) after a
``Permute((2, 1))``, or (batch, features) after a global pool or a recurrent
layer returning its last step. A recurrent layer's returned states are
RecurrentStates: a stream's state, not tensors of the fastrnn model.

Keras' torch backend is the reference where backends differ (an average
pool's uneven "same" padding). Anything a rule cannot express exactly raises
NotImplementedError naming the layer and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ...errors import FormatError
from ...layers import (ACTIVATIONS, RECURRENT_LAYERS, Activation, BatchNorm, Bidirectional,
                       Concatenate, Conv1d, Dense, Elementwise, GlobalPool, LayerNorm, Pool1d,
                       Tensor)
from . import layouts
from .conversion import Call, Conversion, RecurrentState, Value
from .options import REQUIRED, axes, choice, flag, integer, number

# Layers that compute nothing at inference.
IDENTITY_LAYERS = ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout",
                   "AlphaDropout", "ActivityRegularization")

# Keras' built-in activations (the names its configs store) as fastrnn
# Activation layers [(op, parameters)]; Keras 3's defaults: leaky_relu's slope
# 0.2, gelu exact, hard_sigmoid x / 6 + 1 / 2, softplus as PyTorch's (its
# torch backend). A Keras 2 file's hard_sigmoid was 0.2 x + 0.5 when it was
# trained; it runs here as Keras 3 runs it when loading the file.
KERAS_ACTIVATIONS = {
    "linear": [], "relu": [("relu", {})], "relu6": [("clip", {"min": 0.0, "max": 6.0})],
    "leaky_relu": [("leaky_relu", {"negative_slope": 0.2})], "elu": [("elu", {})],
    "selu": [("selu", {})], "gelu": [("gelu", {})], "silu": [("silu", {})],
    "swish": [("silu", {})], "tanh": [("tanh", {})], "sigmoid": [("sigmoid", {})],
    "hard_sigmoid": [("hard_sigmoid", {})], "softplus": [("softplus", {})],
    "softmax": [("softmax", {})], "log_softmax": [("log_softmax", {})],
    "exponential": [("exp", {})],
}
# Activations over a frame's features, not of each value alone.
_FEATURE_ACTIVATIONS = ("softmax", "log_softmax")
_DEFAULT_RECURRENT = {"activation": "tanh", "recurrent_activation": "sigmoid"}
_RECURRENT = RECURRENT_LAYERS          # LSTM, GRU, SimpleRNN: their gates and state parts


def _sequence_input(call: Call, value: Value, channels_first: bool = False) -> None:
    """NotImplementedError unless `value` is a sequence held as the layer expects."""
    if not value.sequence:
        raise NotImplementedError(f"{call.where} reads a (batch, features) tensor, one frame "
                                  "per sequence: fastrnn runs it on sequences only")
    if value.channels_first != channels_first:
        held = "(batch, channels, time)" if value.channels_first else "(batch, time, channels)"
        expected = "channels_first" if channels_first else "channels_last"
        raise NotImplementedError(f"{call.where} ({expected}) reads a {held} tensor: it would "
                                  "compute over the frames' channels as time, which fastrnn "
                                  "does not run")


def _not_channels_first(call: Call, value: Value) -> None:
    if value.channels_first:
        raise NotImplementedError(f"{call.where} reads a (batch, channels, time) tensor (after "
                                  "a Permute): it would mix frames, which fastrnn does not run")


def _data_format(call: Call) -> bool:
    """True for data_format="channels_first"."""
    return choice(call.config, "data_format", "channels_last", call.where,
                  ("channels_last", "channels_first")) == "channels_first"


def activation_layers(name: Any, where: str, value: Value) -> list:
    """fastrnn Activation layers computing Keras' activation `name`."""
    if not isinstance(name, str) or name not in KERAS_ACTIVATIONS:
        shown = name.get("class_name", name) if isinstance(name, dict) else name
        raise NotImplementedError(f"{where}: activation {shown!r}; fastrnn runs Keras' "
                                  f"{sorted(KERAS_ACTIVATIONS)}")
    if name in _FEATURE_ACTIVATIONS and value.channels_first:
        raise NotImplementedError(f"{where}: {name} over the last axis of a (batch, channels, "
                                  "time) tensor is over time, which fastrnn does not run")
    return [Activation(op, **parameters) for op, parameters in KERAS_ACTIVATIONS[name]]


def _activate(conversion: Conversion, call: Call, value: Value, name: Any,
              layer_name: str | None = None) -> Value:
    tensor = value.tensor
    for layer in activation_layers(name, call.where, value):
        tensor = conversion.add(layer, [tensor], layer_name or f"{call.name}_activation")
    return Value(tensor, value.channels_first, value.sequence)


# --- convolutions ------------------------------------------------------------

@dataclass
class _Window:
    kernel: int
    stride: int
    dilation: int
    padding: str


def _window(call: Call, paddings: tuple, pool: bool = False) -> _Window:
    config, where = call.config, call.where
    if pool:
        kernel = integer(config, "pool_size", REQUIRED, where)
        stride = config.get("strides")
        stride = kernel if stride is None else integer(config, "strides", REQUIRED, where)
        dilation = 1
    else:
        kernel = integer(config, "kernel_size", REQUIRED, where)
        stride = integer(config, "strides", 1, where)
        dilation = integer(config, "dilation_rate", 1, where)
    if stride > 1 and dilation > 1:
        raise FormatError(f"{where}: strides {stride} with dilation_rate {dilation}: Keras "
                          "refuses the combination")
    padding = choice(config, "padding", "valid", where, paddings)
    return _Window(kernel, stride, dilation, padding)


def _conv(conversion: Conversion, call: Call, value: Value, weight: np.ndarray, bias: Any,
          window: _Window, groups: int, name: str) -> Tensor:
    layer = Conv1d(weight, bias, stride=window.stride, dilation=window.dilation, groups=groups,
                   padding=window.padding)
    return conversion.add(layer, [value], name)


def conv1d(conversion: Conversion, call: Call, inputs: list) -> list:
    """Conv1D: kernel (K, C_in / groups, filters), bias (filters,)."""
    (value,), config, where = inputs, call.config, call.where
    channels_first = _data_format(call)
    _sequence_input(call, value, channels_first)
    window = _window(call, ("valid", "same", "causal"))
    filters = integer(config, "filters", REQUIRED, where)
    groups = integer(config, "groups", 1, where)
    channels = value.tensor.features
    if channels % groups or filters % groups:
        raise FormatError(f"{where}: groups {groups} must divide its {channels} input channels "
                          f"and its {filters} filters")
    expected = [("kernel", (window.kernel, channels // groups, filters))]
    if flag(config, "use_bias", True, where):
        expected.append(("bias", (filters,)))
    kernel, *bias = conversion.weights(call, expected)
    tensor = _conv(conversion, call, value, layouts.conv_weight(kernel), bias[0] if bias else None,
                   window, groups, call.name)
    return [_activate(conversion, call, Value(tensor, channels_first),
                      config.get("activation", "linear"))]


def depthwise_conv1d(conversion: Conversion, call: Call, inputs: list) -> list:
    """DepthwiseConv1D: kernel (K, C, depth_multiplier), bias (C * M,);
    Keras refuses "causal" padding here."""
    (value,), config, where = inputs, call.config, call.where
    channels_first = _data_format(call)
    _sequence_input(call, value, channels_first)
    window = _window(call, ("valid", "same"))
    multiplier = integer(config, "depth_multiplier", 1, where)
    channels = value.tensor.features
    expected = [("kernel", (window.kernel, channels, multiplier))]
    if flag(config, "use_bias", True, where):
        expected.append(("bias", (channels * multiplier,)))
    kernel, *bias = conversion.weights(call, expected)
    tensor = _conv(conversion, call, value, layouts.depthwise_weight(kernel),
                   bias[0] if bias else None, window, channels, call.name)
    return [_activate(conversion, call, Value(tensor, channels_first),
                      config.get("activation", "linear"))]


def separable_conv1d(conversion: Conversion, call: Call, inputs: list) -> list:
    """SeparableConv1D: a depthwise convolution without bias (strides,
    dilation and padding apply here), then a 1x1 convolution with the bias."""
    (value,), config, where = inputs, call.config, call.where
    channels_first = _data_format(call)
    _sequence_input(call, value, channels_first)
    window = _window(call, ("valid", "same"))
    multiplier = integer(config, "depth_multiplier", 1, where)
    filters = integer(config, "filters", REQUIRED, where)
    channels = value.tensor.features
    expected = [("depthwise_kernel", (window.kernel, channels, multiplier)),
                ("pointwise_kernel", (1, channels * multiplier, filters))]
    if flag(config, "use_bias", True, where):
        expected.append(("bias", (filters,)))
    depthwise, pointwise, *bias = conversion.weights(call, expected)
    tensor = _conv(conversion, call, value, layouts.depthwise_weight(depthwise), None, window,
                   channels, call.name)
    tensor = conversion.add(Conv1d(layouts.conv_weight(pointwise), bias[0] if bias else None),
                            [tensor], f"{call.name}_pointwise")
    return [_activate(conversion, call, Value(tensor, channels_first),
                      config.get("activation", "linear"))]


def pooling1d(conversion: Conversion, call: Call, inputs: list) -> list:
    """MaxPooling1D / AveragePooling1D: strides default to pool_size;
    "same" is the convolution's rule (length-dependent with a stride). A
    max pool's padding never wins; an average pool's "same" follows Keras'
    torch backend: even padding excluded from the count, uneven padding
    made of repeated edge frames, every window divided by pool_size
    (replicate_edges="uneven", decided for each sequence's length)."""
    (value,) = inputs
    channels_first = _data_format(call)
    _sequence_input(call, value, channels_first)
    window = _window(call, ("valid", "same"), pool=True)
    pool = "max" if call.kind == "MaxPooling1D" else "avg"
    replicate = "uneven" if pool == "avg" and window.padding == "same" else False
    layer = Pool1d(pool, window.kernel, window.stride, window.padding, count_padding=False,
                   replicate_edges=replicate)
    return [Value(conversion.add(layer, [value], call.name), channels_first)]


def global_pooling1d(conversion: Conversion, call: Call, inputs: list) -> list:
    """GlobalAveragePooling1D / GlobalMaxPooling1D over time (keepdims=False)."""
    (value,) = inputs
    _sequence_input(call, value, _data_format(call))
    if flag(call.config, "keepdims", False, call.where):
        raise NotImplementedError(f"{call.where}: keepdims=True (a sequence of one frame); "
                                  "fastrnn's global pool makes one frame per sequence, "
                                  "(batch, features)")
    pool = "max" if call.kind == "GlobalMaxPooling1D" else "avg"
    return [Value(conversion.add(GlobalPool(pool), [value], call.name), sequence=False)]


# --- frames ------------------------------------------------------------------

def dense(conversion: Conversion, call: Call, inputs: list, config: dict | None = None) -> list:
    """Dense (and TimeDistributed(Dense), whose inner config is `config`):
    kernel (I, units), bias (units,)."""
    (value,), where = inputs, call.where
    config = call.config if config is None else config
    _not_channels_first(call, value)
    if config.get("lora_rank"):
        raise NotImplementedError(f"{where}: LoRA (lora_rank {config['lora_rank']!r}); "
                                  "merge the adapter into the kernel first")
    units = integer(config, "units", REQUIRED, where)
    expected = [("kernel", (value.tensor.features, units))]
    if flag(config, "use_bias", True, where):
        expected.append(("bias", (units,)))
    kernel, *bias = conversion.weights(call, expected)
    activation = config.get("activation", "linear")
    fused = activation if isinstance(activation, str) and activation in ACTIVATIONS else None
    layer = Dense.from_keras(kernel, bias[0] if bias else None, fused)
    output = Value(conversion.add(layer, [value], call.name), sequence=value.sequence)
    return [output if fused else _activate(conversion, call, output, activation)]


def time_distributed(conversion: Conversion, call: Call, inputs: list) -> list:
    inner = call.config.get("layer")
    if not isinstance(inner, dict) or inner.get("class_name") != "Dense":
        shown = inner.get("class_name") if isinstance(inner, dict) else inner
        raise NotImplementedError(f"{call.where}: only Dense inside is supported, got {shown}")
    if not isinstance(inner.get("config"), dict):
        raise FormatError(f"{call.where}: its inner layer has no config")
    return dense(conversion, call, inputs, inner["config"])


def activation(conversion: Conversion, call: Call, inputs: list) -> list:
    return [_activate(conversion, call, inputs[0], call.config.get("activation"), call.name)]


def relu(conversion: Conversion, call: Call, inputs: list) -> list:
    """ReLU(max_value, negative_slope, threshold): threshold 0 only; y =
    min(x, max_value) for x >= 0, negative_slope * x below."""
    (value,), config, where = inputs, call.config, call.where
    slope = number(config, "negative_slope", 0.0, where, minimum=0.0)
    threshold = number(config, "threshold", 0.0, where)
    largest = None if config.get("max_value") is None else number(config, "max_value", None,
                                                                  where, minimum=0.0)
    if threshold != 0.0:
        raise NotImplementedError(f"{where}: threshold {threshold:g} (x kept only above it); "
                                  "fastrnn has no thresholded ReLU")
    if slope == 0.0:
        layers = [Activation("relu") if largest is None
                  else Activation("clip", min=0.0, max=largest)]
    else:
        layers = [Activation("leaky_relu", negative_slope=slope)]
        if largest is not None:
            layers.append(Activation("clip", max=largest))
    tensor = value.tensor
    for layer in layers:
        tensor = conversion.add(layer, [tensor], call.name)
    return [Value(tensor, value.channels_first, value.sequence)]


def leaky_relu(conversion: Conversion, call: Call, inputs: list) -> list:
    """LeakyReLU: negative_slope 0.3 (Keras 2 called it alpha)."""
    config, value = call.config, inputs[0]
    key = "negative_slope" if "negative_slope" in config or "alpha" not in config else "alpha"
    slope = number(config, key, 0.3, call.where)
    tensor = conversion.add(Activation("leaky_relu", negative_slope=slope), [value], call.name)
    return [Value(tensor, value.channels_first, value.sequence)]


def elu(conversion: Conversion, call: Call, inputs: list) -> list:
    value = inputs[0]
    alpha = number(call.config, "alpha", 1.0, call.where)
    tensor = conversion.add(Activation("elu", alpha=alpha), [value], call.name)
    return [Value(tensor, value.channels_first, value.sequence)]


def softmax(conversion: Conversion, call: Call, inputs: list) -> list:
    (value,), where = inputs, call.where
    axis = axes(call.config, "axis", -1, where)
    if len(axis) != 1 or axis[0] not in value.feature_axes():
        raise NotImplementedError(f"{where}: softmax over axis {list(axis)}; fastrnn runs it "
                                  f"over the features (axis {value.feature_axes()[0]} here)")
    tensor = conversion.add(Activation("softmax"), [value], call.name)
    return [Value(tensor, value.channels_first, value.sequence)]


def prelu(conversion: Conversion, call: Call, inputs: list) -> list:
    """PReLU: alpha has the input's shape without the batch, 1 along
    shared_axes; fastrnn needs it shared over time (one slope per feature,
    or one)."""
    (value,), where = inputs, call.where
    shared = set(axes(call.config, "shared_axes", [], where)) \
        if call.config.get("shared_axes") is not None else set()
    features = value.tensor.features
    if not value.sequence:
        expected = (1 if 1 in shared else features,)
    else:
        time_axis, feature_axis = (2, 1) if value.channels_first else (1, 2)
        if time_axis not in shared:
            raise NotImplementedError(f"{where}: a slope per time step (shared_axes "
                                      f"{sorted(shared)} lacks the time axis {time_axis})")
        shape = [0, 0]
        shape[time_axis - 1] = 1
        shape[feature_axis - 1] = 1 if feature_axis in shared else features
        expected = tuple(shape)
    (alpha,) = conversion.weights(call, [("alpha", expected)])
    tensor = conversion.add(Activation("prelu", slopes=np.reshape(alpha, -1)), [value],
                            call.name)
    return [Value(tensor, value.channels_first, value.sequence)]


def batch_normalization(conversion: Conversion, call: Call, inputs: list) -> list:
    """BatchNormalization at inference: [gamma] [beta] moving_mean
    moving_variance, eps 1e-3 by default."""
    (value,), config, where = inputs, call.config, call.where
    axis = axes(config, "axis", -1, where)
    if len(axis) != 1 or axis[0] not in value.feature_axes():
        raise NotImplementedError(f"{where}: normalizes axis {list(axis)}; fastrnn normalizes "
                                  f"the features (axis {value.feature_axes()[0]} here)")
    epsilon = number(config, "epsilon", 1e-3, where, minimum=0.0)
    features = value.tensor.features
    present = {"gamma": flag(config, "scale", True, where),
               "beta": flag(config, "center", True, where),
               "moving_mean": True, "moving_variance": True}
    expected = [(label, (features,)) for label, wanted in present.items() if wanted]
    arrays = dict(zip([label for label, _ in expected], conversion.weights(call, expected)))
    layer = BatchNorm(arrays["moving_mean"], arrays["moving_variance"], arrays.get("gamma"),
                      arrays.get("beta"), epsilon)
    return [Value(conversion.add(layer, [value], call.name), value.channels_first,
                  value.sequence)]


def layer_normalization(conversion: Conversion, call: Call, inputs: list) -> list:
    """LayerNormalization over the features: [gamma] [beta], eps 1e-3 by
    default; rms_scaling (the variance, uncentred) is refused."""
    (value,), config, where = inputs, call.config, call.where
    axis = axes(config, "axis", -1, where)
    if len(axis) != 1 or axis[0] not in value.feature_axes():
        raise NotImplementedError(f"{where}: normalizes axis {list(axis)}; fastrnn normalizes "
                                  f"the features (axis {value.feature_axes()[0]} here)")
    if flag(config, "rms_scaling", False, where):
        raise NotImplementedError(f"{where}: rms_scaling=True (x * rsqrt(var + eps) * gamma, "
                                  "uncentred); fastrnn's LayerNorm centres")
    epsilon = number(config, "epsilon", 1e-3, where, minimum=0.0)
    features = value.tensor.features
    present = {"gamma": flag(config, "scale", True, where),
               "beta": flag(config, "center", True, where)}
    expected = [(label, (features,)) for label, wanted in present.items() if wanted]
    arrays = dict(zip([label for label, _ in expected], conversion.weights(call, expected)))
    layer = LayerNorm(features, arrays.get("gamma"), arrays.get("beta"), epsilon)
    return [Value(conversion.add(layer, [value], call.name), value.channels_first,
                  value.sequence)]


# --- several tensors ---------------------------------------------------------

def _same_holding(call: Call, inputs: list) -> None:
    if len({(v.channels_first, v.sequence) for v in inputs}) != 1:
        raise NotImplementedError(f"{call.where}: its inputs are held in different layouts "
                                  "((batch, time, channels), (batch, channels, time) or "
                                  "(batch, features))")


_MERGES = {"Add": "add", "Subtract": "sub", "Multiply": "mul", "Maximum": "max",
           "Minimum": "min", "Average": "add"}


def merge(conversion: Conversion, call: Call, inputs: list) -> list:
    """Add, Subtract, Multiply, Maximum, Minimum, Average: in input order
    ((a + b) + c; Average divides the sum by the count)."""
    if len(inputs) < 2 or (call.kind == "Subtract" and len(inputs) != 2):
        expected = "2" if call.kind == "Subtract" else "2 or more"
        raise FormatError(f"{call.where}: expected {expected} inputs, got {len(inputs)}")
    _same_holding(call, inputs)
    op = _MERGES[call.kind]
    tensor = inputs[0].tensor
    for other in inputs[1:]:
        first, second = tensor, other.tensor
        if op != "sub" and first.features == 1 < second.features:
            first, second = second, first          # the one-feature operand broadcasts
        tensor = conversion.add(Elementwise(op), [first, second], call.name)
    if call.kind == "Average":
        tensor = conversion.add(Elementwise("div", float(len(inputs))), [tensor], call.name)
    return [Value(tensor, inputs[0].channels_first, inputs[0].sequence)]


def concatenate(conversion: Conversion, call: Call, inputs: list) -> list:
    _same_holding(call, inputs)
    axis = axes(call.config, "axis", -1, call.where)
    if len(axis) != 1 or axis[0] not in inputs[0].feature_axes():
        raise NotImplementedError(f"{call.where}: concatenates axis {list(axis)}; fastrnn "
                                  "concatenates features (axis "
                                  f"{inputs[0].feature_axes()[0]} here)")
    tensor = conversion.add(Concatenate(), [value.tensor for value in inputs], call.name)
    return [Value(tensor, inputs[0].channels_first, inputs[0].sequence)]


# --- axes --------------------------------------------------------------------

def permute(conversion: Conversion, call: Call, inputs: list) -> list:
    """Permute((2, 1)) swaps time and channels: only the label changes."""
    (value,) = inputs
    dims = axes(call.config, "dims", REQUIRED, call.where)
    if not value.sequence or dims not in ((2, 1), (1, 2)):
        raise NotImplementedError(f"{call.where}: dims {list(dims)}; fastrnn relabels the "
                                  "time and channel axes of a sequence ((2, 1)) only")
    return [Value(value.tensor, value.channels_first != (dims == (2, 1)), True)]


def reshape(conversion: Conversion, call: Call, inputs: list) -> list:
    """Reshape to the shape the tensor has (-1, or its known length, along
    time): a relabelling; any other reshape moves values between frames."""
    (value,) = inputs
    target = axes(call.config, "target_shape", REQUIRED, call.where)
    features = value.tensor.features
    if not value.sequence:
        keeps = target == (features,)
    elif len(target) != 2:
        keeps = False
    else:
        shape = call.input_shapes[0] if call.input_shapes else None
        length = shape[2 if value.channels_first else 1] if shape and len(shape) == 3 else None
        channels, time = target if value.channels_first else target[::-1]
        keeps = channels == features and time in (-1, length)
    if not keeps:
        raise NotImplementedError(f"{call.where}: target_shape {list(target)} moves values "
                                  "between frames or features; fastrnn reshapes only to the "
                                  "shape a tensor has (a relabelling)")
    return [value]


# --- recurrent ---------------------------------------------------------------

def _recurrent_options(kind: str, config: dict, where: str, backward: bool = False) -> dict:
    """The fastrnn constructor options of a Keras recurrent layer config,
    checked. backward: the backward half of a Bidirectional, which Keras
    builds with go_backwards=True and fastrnn's Bidirectional reverses itself."""
    if flag(config, "stateful", False, where):
        raise NotImplementedError(f"{kind} {config.get('name')!r}: stateful=True is not "
                                  "supported (a fastrnn stream carries the state)")
    if kind == "SimpleRNN":
        if config.get("activation", "tanh") not in ("tanh", "relu"):
            raise NotImplementedError(f"SimpleRNN {config.get('name')!r}: activation "
                                      f"{config.get('activation')!r}; fastrnn has tanh and relu")
    else:
        for option, default in _DEFAULT_RECURRENT.items():
            if config.get(option, default) != default:
                raise NotImplementedError(f"{kind} {config.get('name')!r}: {option}="
                                          f"{config.get(option)!r}; fastrnn's {kind} kernels "
                                          f"use {default}")
    options = {"return_sequences": flag(config, "return_sequences", False, where),
               "go_backwards": flag(config, "go_backwards", False, where) and not backward}
    if kind == "GRU":
        options["reset_after"] = flag(config, "reset_after", True, where)
    if kind == "SimpleRNN":
        options["activation"] = config.get("activation", "tanh")
    return options


def _recurrent_expected(kind: str, config: dict, where: str, inputs: int) -> list:
    """[(label, shape)] of a Keras recurrent layer's weights, from its units
    and input features."""
    gates = _RECURRENT[kind].gates
    units = integer(config, "units", REQUIRED, where)
    expected = [("kernel", (inputs, gates * units)),
                ("recurrent_kernel", (units, gates * units))]
    if flag(config, "use_bias", True, where):
        reset_after = kind == "GRU" and flag(config, "reset_after", True, where)
        expected.append(("bias", (2, gates * units) if reset_after else (gates * units,)))
    return expected


def _recurrent_layer(kind: str, options: dict, arrays: list) -> Any:
    kernel, recurrent_kernel, *bias = arrays
    return _RECURRENT[kind].from_keras(kernel, recurrent_kernel, bias[0] if bias else None,
                                       **options)


def _inner(call: Call, key: str) -> tuple:
    inner = call.config.get(key)
    if not isinstance(inner, dict) or not isinstance(inner.get("config"), dict):
        raise FormatError(f"{call.where}: {key}: expected a layer config, got {inner!r}")
    if inner.get("class_name") not in _RECURRENT:
        raise NotImplementedError(f"{call.where}: {key} {inner.get('class_name')!r}; fastrnn "
                                  f"runs {sorted(_RECURRENT)} in a Bidirectional")
    return inner["class_name"], inner["config"]


def recurrent(conversion: Conversion, call: Call, inputs: list) -> list:
    """LSTM, GRU, SimpleRNN; with return_state, the states follow the output
    as RecurrentStates (h equals the output when it is the last step)."""
    (value,), config, where = inputs, call.config, call.where
    _sequence_input(call, value)
    options = _recurrent_options(call.kind, config, where)
    if conversion.mask_value is not None and flag(config, "zero_output_for_mask", False, where):
        raise NotImplementedError(f"{where}: zero_output_for_mask=True; fastrnn repeats the "
                                  "last output at masked steps, as Keras' default")
    expected = _recurrent_expected(call.kind, config, where, value.tensor.features)
    layer = _recurrent_layer(call.kind, options, conversion.weights(call, expected))
    output = Value(conversion.add(layer, [value], call.name),
                   sequence=options["return_sequences"])
    states = [RecurrentState(call.name, part, None if output.sequence or part != "h" else output)
              for part in _RECURRENT[call.kind].state]
    return [output, *states] if flag(config, "return_state", False, where) else [output]


def bidirectional(conversion: Conversion, call: Call, inputs: list) -> list:
    """Bidirectional: the forward layer's weights, then the backward one's;
    with return_state, the forward states then the backward ones."""
    (value,), config, where = inputs, call.config, call.where
    _sequence_input(call, value)
    merge_mode = config.get("merge_mode")
    if merge_mode not in Bidirectional.MERGE_MODES:
        raise NotImplementedError(f"Bidirectional {call.name!r}: merge_mode {merge_mode!r}")
    kind, forward_config = _inner(call, "layer")
    backward_kind, backward_config = (_inner(call, "backward_layer")
                                      if config.get("backward_layer") is not None
                                      else (kind, forward_config))
    features = value.tensor.features
    forward_expected = _recurrent_expected(kind, forward_config, where, features)
    backward_expected = _recurrent_expected(backward_kind, backward_config, where, features)
    arrays = conversion.weights(call, forward_expected + backward_expected)
    half = len(forward_expected)
    layer = Bidirectional(
        _recurrent_layer(kind, _recurrent_options(kind, forward_config, where), arrays[:half]),
        _recurrent_layer(backward_kind, _recurrent_options(backward_kind, backward_config, where,
                                                           backward=True), arrays[half:]),
        merge_mode)
    output = Value(conversion.add(layer, [value], call.name), sequence=layer.return_sequences)
    states = [RecurrentState(call.name, f"{direction}.{part}")
              for direction in ("forward", "backward") for part in _RECURRENT[kind].state]
    return [output, *states] if flag(forward_config, "return_state", False, where) else [output]


def masking(conversion: Conversion, call: Call, inputs: list) -> list:
    """A leading Masking: its value becomes the model's mask_value (finite,
    a number, not a bool)."""
    (value,) = inputs
    if conversion.mask_value is not None or value.tensor.node is not None:
        raise NotImplementedError(f"Masking {call.name!r} must come first")
    conversion.mask_value = number(call.config, "mask_value", 0.0, call.where)
    return [value]


def identity(conversion: Conversion, call: Call, inputs: list) -> list:
    return [inputs[0]]


RULES: dict[str, Callable] = {
    "Conv1D": conv1d, "DepthwiseConv1D": depthwise_conv1d, "SeparableConv1D": separable_conv1d,
    "MaxPooling1D": pooling1d, "AveragePooling1D": pooling1d,
    "GlobalAveragePooling1D": global_pooling1d, "GlobalMaxPooling1D": global_pooling1d,
    "Dense": dense, "TimeDistributed": time_distributed, "Activation": activation,
    "ReLU": relu, "LeakyReLU": leaky_relu, "ELU": elu, "Softmax": softmax, "PReLU": prelu,
    "BatchNormalization": batch_normalization, "LayerNormalization": layer_normalization,
    **{kind: merge for kind in _MERGES}, "Concatenate": concatenate,
    "Permute": permute, "Reshape": reshape,
    **{kind: recurrent for kind in _RECURRENT}, "Bidirectional": bidirectional,
    "Masking": masking, **{kind: identity for kind in IDENTITY_LAYERS},
}

# The layers that read several tensors; every other reads one.
MULTI_INPUT = (*_MERGES, "Concatenate")

