"""PyTorch modules as fastrnn graphs: a module's forward, traced by torch.fx,
translated node by node into fastrnn layers.

fastrnn tensors are always (B, T, C), channels last; torch lays the same
numbers out in its own order of axes. Every value of the forward is one of:

- ``Frames``: a fastrnn tensor and its torch ``layout``, the string of torch's
  axes: "BTC" (batch first, channels last: Linear, LayerNorm, a batch_first
  RNN), "BCT" (what Conv1d, BatchNorm1d and the pools read), "TBC" (an RNN
  without batch_first), "BC" (one frame per sequence: a global pool, the last
  step); "1" is an axis of size one (``keepdim=True``, AdaptiveAvgPool1d(1)).
  ``transpose`` and ``permute`` only change the layout; each layer checks
  that its input's layout is the one the torch layer reads.
- ``Padded``: frames with zero frames still to add before and after in time
  (``F.pad``), which only a Conv1d may read (they add to its padding).
- ``Recurrent`` and ``States``: what an nn.LSTM/GRU/RNN returns, its output
  frames and its final states. States that a forward returns are the
  stream's state, not outputs.
- ``Constant``: a tensor or number that does not depend on the input
  (parameters, buffers, Python numbers, an argument traced as None); an
  operation that reads only constants is evaluated by torch.
- ``Zeros`` (``torch.zeros``, an initial state), ``Symbol`` (a size, device
  or dtype, an argument of ``torch.zeros``), ``Computed`` (a tensor made of
  constants and sizes, e.g. a learned initial state expanded to the batch)
  and ``Parts`` (``torch.split``, ``torch.max(x, dim)``).

Anything else raises NotImplementedError naming the module or operation and
the line of the forward it comes from.
"""

from __future__ import annotations

import inspect
import linecache
import operator
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from ..layers import (GRU, LSTM, Activation, BatchNorm, Bidirectional, Concatenate, Conv1d, Dense,
                      Elementwise, GlobalPool, Input, LayerNorm, Pool1d, Reduce, SimpleRNN, Slice,
                      Tensor)
from ..layers.conv import window_padding

RECURRENT_TENSORS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_RECURRENT_CLASSES = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN}


def recurrent_layers(get: Callable[[str], Any], kind: str, num_layers: int,
                     bidirectional: bool, activation: str = "tanh") -> list:
    """fastrnn layers from PyTorch's per-layer tensors: ``get(name)`` returns
    the tensor `name` (e.g. "weight_ih_l0_reverse"), or None for an absent
    bias. `kind` is "lstm", "gru" or "rnn" (with its `activation`)."""
    cls = _RECURRENT_CLASSES[kind]
    options = {"activation": activation} if kind == "rnn" else {}
    layers = []
    for layer in range(num_layers):
        directions = [cls.from_torch(*(get(f"{name}_l{layer}{suffix}")
                                       for name in RECURRENT_TENSORS), **options)
                      for suffix in (("", "_reverse") if bidirectional else ("",))]
        layers.append(Bidirectional(*directions) if bidirectional else directions[0])
    return layers


# ---------------------------------------------------------------------------
# Values.

@dataclass
class Frames:
    """A fastrnn tensor as torch lays it out; ``last_step``: it is a
    recurrent layer's last step (the layer will return only that)."""
    tensor: Tensor
    layout: str
    last_step: bool = False


@dataclass
class Padded:
    """Frames with `left` and `right` zero frames still to add in time."""
    frames: Frames
    left: int
    right: int


@dataclass
class States:
    """Final states of an nn.LSTM/GRU/RNN as torch stacks them on axis 0:
    ``entries[part]`` lists (fastrnn layer, state part) per (layer, direction);
    `parts` is ("h", "c") for an LSTM's (h_n, c_n) pair, else one part.
    ``output``: the module's output frames (its last step is h_n[-1])."""
    entries: dict
    parts: tuple
    output: Frames


@dataclass
class Recurrent:
    """What an nn.LSTM/GRU/RNN returns: (output frames, final states)."""
    output: Frames
    states: States


@dataclass
class Constant:
    value: Any


@dataclass
class Zeros:
    """torch.zeros(...): fastrnn's initial state, nothing else."""


@dataclass
class Symbol:
    """A size, device or dtype."""


@dataclass
class Computed:
    """A tensor computed from constants and sizes (``h0.expand(1, B, H)``)."""


@dataclass
class Parts:
    """Several values of one operation (torch.split, torch.max(x, dim)); an
    entry is None where fastrnn does not compute it (the indices of a max)."""
    parts: list


_SYMBOLIC = (Frames, Padded, Recurrent, States, Zeros, Symbol, Computed, Parts)
_FROM_INPUT = (Frames, Padded, Recurrent, States, Parts)


# ---------------------------------------------------------------------------
# Layouts.

_AXIS_NAMES = {"B": "batch", "T": "time", "C": "channels", "1": "1"}


def describe(layout: str) -> str:
    """(batch, channels, time) for "BCT"."""
    return "(" + ", ".join(_AXIS_NAMES[axis] for axis in layout) + ")"


def _dimension(layout: str, dim: Any, where: str) -> int:
    """Torch dimension `dim` (negative counts from the end) as an index of `layout`."""
    if isinstance(dim, bool) or not isinstance(dim, int) or not -len(layout) <= dim < len(layout):
        raise NotImplementedError(f"{where}: dimension {dim!r} of a value {describe(layout)}")
    return dim % len(layout)


def _one_dimension(layout: str, dim: Any, where: str) -> int:
    """As _dimension, accepting a 1-tuple (``dim=(1,)``)."""
    if isinstance(dim, (tuple, list)) and len(dim) == 1:
        dim = dim[0]
    return _dimension(layout, dim, where)


def _expect_layout(frames: Frames, accepted: tuple, what: str, where: str) -> None:
    if frames.layout not in accepted:
        raise NotImplementedError(f"{where}: {what} reads {' or '.join(map(describe, accepted))}"
                                  f", got a value {describe(frames.layout)} (fastrnn follows "
                                  "each value's axes through transpose and permute)")


# ---------------------------------------------------------------------------
# Activations: torch module attributes and function arguments to fastrnn's.

# Module class -> (fastrnn activation, {module attribute: fastrnn parameter}).
_ACTIVATION_MODULES = {
    "ReLU": ("relu", {}), "Tanh": ("tanh", {}), "Sigmoid": ("sigmoid", {}),
    "LeakyReLU": ("leaky_relu", {"negative_slope": "negative_slope"}),
    "ELU": ("elu", {"alpha": "alpha"}), "SELU": ("selu", {}), "SiLU": ("silu", {}),
    "Hardsigmoid": ("hard_sigmoid", {}),
    "Softplus": ("softplus", {"beta": "beta", "threshold": "threshold"}),
    "Hardtanh": ("clip", {"min_val": "min", "max_val": "max"}),
    "ReLU6": ("clip", {"min_val": "min", "max_val": "max"}),
}

# Function or method -> (fastrnn activation, [(torch argument, default,
# fastrnn parameter or None)]) for the arguments after the input.
_INPLACE = ("inplace", False, None)
_ACTIVATION_FUNCTIONS = {
    "relu": ("relu", [_INPLACE]), "tanh": ("tanh", []), "sigmoid": ("sigmoid", []),
    "selu": ("selu", [_INPLACE]), "silu": ("silu", [_INPLACE]),
    "hardsigmoid": ("hard_sigmoid", [_INPLACE]),
    "leaky_relu": ("leaky_relu", [("negative_slope", 0.01, "negative_slope"), _INPLACE]),
    "elu": ("elu", [("alpha", 1.0, "alpha"), _INPLACE]),
    "softplus": ("softplus", [("beta", 1.0, "beta"), ("threshold", 20.0, "threshold")]),
    "relu6": ("clip", [_INPLACE]),
    "hardtanh": ("clip", [("min_val", -1.0, "min"), ("max_val", 1.0, "max"), _INPLACE]),
    "clamp": ("clip", [("min", None, "min"), ("max", None, "max")]),
    "exp": ("exp", []), "log": ("log", []), "sqrt": ("sqrt", []), "abs": ("abs", []),
    "neg": ("neg", []), "reciprocal": ("reciprocal", []), "square": ("pow", []),
}
_FIXED_PARAMETERS = {"relu6": {"min": 0.0, "max": 6.0}, "square": {"exponent": 2.0}}
_SOFTMAX_ARGUMENTS = [("dim", None, None), ("_stacklevel", 3, None), ("dtype", None, None)]
_BINARY = {"add": "add", "sub": "sub", "mul": "mul", "div": "div", "maximum": "max",
           "minimum": "min"}
_NO_OPS = ("contiguous", "dropout", "alpha_dropout", "feature_alpha_dropout", "dropout1d",
           "float", "detach", "clone")
# Reductions: over time, a global pool; over the features (keepdim), a Reduce.
_GLOBAL_POOLS = {"mean": "avg", "amax": "max", "max": "max"}
_FEATURE_REDUCTIONS = {"mean": "mean", "amax": "max", "max": "max", "sum": "sum",
                       "amin": "min", "min": "min"}
_NO_OP_MODULES = ("Dropout", "Dropout1d", "AlphaDropout", "FeatureAlphaDropout", "Identity")
SUPPORTED_MODULES = ("Conv1d, BatchNorm1d, LayerNorm, GroupNorm(1), LSTM, GRU, RNN, Linear, "
                     "MaxPool1d, AvgPool1d, AdaptiveAvg/MaxPool1d(1), Flatten, PReLU, Softmax, "
                     "LogSoftmax, GELU, " + ", ".join(_ACTIVATION_MODULES) + ", "
                     + ", ".join(_NO_OP_MODULES))


def _operation_names(torch) -> dict:
    """The torch and operator functions fastrnn knows, by the name the
    translation dispatches on (methods of the same name mean the same)."""
    functional = torch.nn.functional
    names = {}
    for name in ("relu", "tanh", "sigmoid", "selu", "exp", "log", "sqrt", "abs", "neg",
                 "reciprocal", "clamp", "clip", "square", "pow", "softmax", "log_softmax", "cat",
                 "concat", "concatenate", "split", "chunk", "transpose", "permute", "mean",
                 "amax", "max", "sum", "amin", "min", "add", "sub", "mul", "div", "subtract",
                 "multiply", "divide", "true_divide", "maximum", "minimum", "zeros",
                 "zeros_like", "flatten", "squeeze", "unsqueeze", "dropout", "detach", "clone"):
        names[getattr(torch, name)] = name
    for name in ("relu", "tanh", "sigmoid", "selu", "silu", "hardsigmoid", "leaky_relu", "elu",
                 "gelu", "softplus", "relu6", "hardtanh", "softmax", "log_softmax", "pad",
                 "dropout", "alpha_dropout", "feature_alpha_dropout", "dropout1d", "prelu"):
        names[getattr(functional, name)] = name
    for name in ("add", "sub", "mul", "truediv", "neg", "getitem", "iadd", "isub", "imul",
                 "itruediv", "pow"):
        names[getattr(operator, name)] = name
    names[getattr] = "getattr"
    return names


_ALIASES = {"clip": "clamp", "concat": "cat", "concatenate": "cat", "subtract": "sub",
            "multiply": "mul", "divide": "div", "true_divide": "div", "truediv": "div",
            "iadd": "add", "isub": "sub", "imul": "mul", "itruediv": "div"}


def _bind(args: tuple, kwargs: dict, spec: list, where: str) -> dict:
    """{torch argument: value} of a call's arguments after its input, from
    `spec` [(argument, default, ...)]."""
    names = [entry[0] for entry in spec]
    if len(args) > len(names) or set(kwargs) - set(names):
        raise NotImplementedError(f"{where}: arguments {args} {kwargs}; expected {names}")
    bound = {entry[0]: entry[1] for entry in spec}
    bound.update(zip(names, args))
    bound.update(kwargs)
    return bound


def _number(value: Any, what: str, where: str) -> float:
    if isinstance(value, Constant):
        value = value.value
    if hasattr(value, "numel") and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NotImplementedError(f"{where}: {what} must be a number, got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------
# Source lines.

_FASTRNN_DIRECTORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _caller_line(torch_directory: str) -> str:
    """" at file.py:12 (code)" for the innermost frame of the stack outside
    torch and fastrnn: the line of the forward being traced."""
    frame = sys._getframe(1)
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not path.startswith((torch_directory, _FASTRNN_DIRECTORY)):
            code = linecache.getline(path, frame.f_lineno).strip()
            return f" at {os.path.basename(path)}:{frame.f_lineno}" + (f" ({code})" if code
                                                                        else "")
        frame = frame.f_back
    return ""


# ---------------------------------------------------------------------------
# The translation.

@dataclass
class _Use:
    """How a fastrnn tensor is read: as frames, and/or by its last step (where)."""
    tensor: Tensor
    frames: bool = False
    last_step: str | None = None


@dataclass
class Translation:
    """A module in fastrnn terms: its input tensor and torch layout, its
    outputs (the forward's results that are not states, in order) and their
    torch layouts, the states it returns (each: the (layer, part) pairs torch
    stacks on axis 0), and a name for every layer made."""
    input: Tensor
    input_layout: str
    outputs: list = field(default_factory=list)
    output_layouts: list = field(default_factory=list)
    returned_states: list = field(default_factory=list)
    names: dict = field(default_factory=dict)        # id(layer) -> name


class Translator:
    """Applies torch modules and operations to values, making fastrnn layers.

    Parameters
    ----------
    torch : the torch module
    """

    def __init__(self, torch):
        self.torch = torch
        self.uses: dict = {}              # id(tensor) -> _Use
        self.names: dict = {}             # id(layer) -> name, distinct

    # --- layers and uses ---

    def add(self, layer, name: str, inputs: list, where: str,
            layout: str | None = None) -> Frames:
        """The frames `layer` (named `name`) makes from `inputs`."""
        for frames in inputs:
            self.read(frames)
        try:
            tensor = layer(*[frames.tensor for frames in inputs])
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        taken = set(self.names.values())
        self.names[id(layer)] = next(candidate for candidate in
                                     [name] + [f"{name}_{k}" for k in range(1, len(taken) + 2)]
                                     if candidate not in taken)
        return Frames(tensor, inputs[0].layout if layout is None else layout)

    def read(self, frames: Frames) -> None:
        """Record that `frames` are read (an output or a layer's input)."""
        use = self.uses.setdefault(id(frames.tensor), _Use(frames.tensor))
        if not frames.last_step:
            use.frames = True

    def last_step(self, frames: Frames, where: str) -> Frames:
        """The last step of a recurrent layer's output frames."""
        node = frames.tensor.node
        layer = None if node is None else node.layer
        if frames.last_step:
            raise NotImplementedError(f"{where}: the last step of a last step")
        if not getattr(layer, "recurrent", False):
            raise NotImplementedError(f"{where}: selecting the last step is supported right "
                                      "after a recurrent layer (LSTM, GRU, RNN)")
        if isinstance(layer, Bidirectional):
            raise NotImplementedError(f"{where}: the last step of a bidirectional output mixes "
                                      "the backward direction's first step; not supported")
        self.uses.setdefault(id(frames.tensor), _Use(frames.tensor)).last_step = where
        return Frames(frames.tensor, frames.layout.replace("T", ""), last_step=True)

    def finish(self) -> None:
        """Make every recurrent layer whose last step alone is read return only
        that; NotImplementedError where its frames are read too."""
        for use in self.uses.values():
            if use.last_step is None:
                continue
            if use.frames:
                raise NotImplementedError(f"{use.last_step}: the last step of a recurrent "
                                          "layer whose every frame is used too; a fastrnn "
                                          "recurrent layer returns one or the other")
            use.tensor.node.layer.return_sequences = False

    # --- modules ---

    def module(self, module, name: str, args: list, kwargs: dict, where: str):
        """The value `module` (a torch.nn leaf module) computes from `args`."""
        nn = self.torch.nn
        kind = type(module).__name__
        if isinstance(module, (nn.LSTM, nn.GRU, nn.RNN)):
            return self._recurrent(module, name, args, kwargs, where)
        if kwargs or len(args) != 1:
            raise NotImplementedError(f"{where}: called with {len(args)} arguments "
                                      f"{sorted(kwargs)}; fastrnn runs it on one tensor")
        if kind in _NO_OP_MODULES:
            return args[0]
        x = self.frames(args[0], where, padded_ok=isinstance(module, nn.Conv1d))
        if isinstance(module, nn.Conv1d):
            return self._conv(module, name, x, where)
        if isinstance(module, nn.Linear):
            _expect_layout(x, ("BTC", "TBC", "BC", "B1C"), "Linear (over the last axis)", where)
            return self.add(Dense.from_torch(module.weight, module.bias), name, [x], where)
        if isinstance(module, nn.BatchNorm1d):
            return self._batch_norm(module, name, x, where)
        if isinstance(module, nn.LayerNorm):
            return self._layer_norm(module, name, x, where)
        if isinstance(module, nn.GroupNorm):
            return self._group_norm(module, name, x, where)
        if isinstance(module, (nn.MaxPool1d, nn.AvgPool1d)):
            return self._pool(module, name, x, where)
        if isinstance(module, (nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)):
            if module.output_size not in (1, (1,)):
                raise NotImplementedError(f"{where}: adaptive pooling to {module.output_size} "
                                          "frames; fastrnn pools a whole sequence to one")
            _expect_layout(x, ("BCT",), kind, where)
            pool = "avg" if isinstance(module, nn.AdaptiveAvgPool1d) else "max"
            return self.add(GlobalPool(pool), name, [x], where, layout="BC1")
        if isinstance(module, nn.Flatten):
            return self._flatten(x, module.start_dim, module.end_dim, where)
        if isinstance(module, nn.PReLU):
            return self._prelu(module.weight, name, x, where)
        if isinstance(module, (nn.Softmax, nn.LogSoftmax)):
            op = "softmax" if isinstance(module, nn.Softmax) else "log_softmax"
            return self._softmax(op, module.dim, name, x, where)
        if isinstance(module, nn.GELU):
            op = "gelu_tanh" if module.approximate == "tanh" else "gelu"
            return self.add(Activation(op), name, [x], where)
        for cls in type(module).__mro__:
            if cls.__name__ in _ACTIVATION_MODULES and cls.__module__.startswith("torch.nn"):
                op, attributes = _ACTIVATION_MODULES[cls.__name__]
                parameters = {ours: float(getattr(module, theirs))
                              for theirs, ours in attributes.items()}
                return self.add(Activation(op, **parameters), name, [x], where)
        raise NotImplementedError(f"{where}: not a module fastrnn can run ({SUPPORTED_MODULES})")

    def frames(self, value, where: str, padded_ok: bool = False):
        """`value` as the frames a layer reads (an RNN's (output, state) pair
        gives its output, as a chain of modules passes it on)."""
        if isinstance(value, Recurrent):
            return value.output
        if isinstance(value, Padded) and padded_ok:
            return value
        if isinstance(value, Padded):
            raise NotImplementedError(f"{where}: reads a value padded with F.pad; fastrnn "
                                      "takes F.pad only right before a Conv1d")
        if not isinstance(value, Frames):
            raise NotImplementedError(f"{where}: reads {_what(value)}, not frames computed "
                                      "from the input")
        return value

    def _conv(self, module, name: str, x, where: str) -> Frames:
        if module.padding_mode != "zeros":
            raise NotImplementedError(f"{where}: padding_mode={module.padding_mode!r}; fastrnn "
                                      "pads convolutions with zeros only")
        pad_left, pad_right = (x.left, x.right) if isinstance(x, Padded) else (0, 0)
        x = x.frames if isinstance(x, Padded) else x
        _expect_layout(x, ("BCT",), "Conv1d", where)
        kernel, stride, dilation = module.kernel_size[0], module.stride[0], module.dilation[0]
        if isinstance(module.padding, str):
            left, right = window_padding(module.padding, kernel, stride, dilation)
        else:
            left = right = module.padding[0]
        layer = Conv1d(module.weight, module.bias, stride=stride, dilation=dilation,
                       groups=module.groups, padding=(left + pad_left, right + pad_right))
        return self.add(layer, name, [x], where)

    def _batch_norm(self, module, name: str, x: Frames, where: str) -> Frames:
        if module.running_mean is None:
            raise NotImplementedError(f"{where}: track_running_stats=False normalizes each "
                                      "batch by its own statistics, even in eval mode: not a "
                                      "per-frame operation")
        _expect_layout(x, ("BCT", "BC"), "BatchNorm1d (channels on dimension 1)", where)
        layer = BatchNorm(module.running_mean, module.running_var, module.weight, module.bias,
                          module.eps)
        return self.add(layer, name, [x], where)

    def _layer_norm(self, module, name: str, x: Frames, where: str) -> Frames:
        shape = tuple(module.normalized_shape)
        if len(shape) != 1 or x.layout[-1] != "C" or shape[0] != x.tensor.features:
            raise NotImplementedError(f"{where}: LayerNorm over {shape} of a value "
                                      f"{describe(x.layout)} with {x.tensor.features} channels; "
                                      "fastrnn normalizes over the channels, the last axis")
        layer = LayerNorm(shape[0], module.weight, module.bias, module.eps)
        return self.add(layer, name, [x], where)

    def _group_norm(self, module, name: str, x: Frames, where: str) -> Frames:
        if module.num_groups != 1:
            raise NotImplementedError(f"{where}: GroupNorm with {module.num_groups} groups; "
                                      "fastrnn runs GroupNorm(1, C) on (batch, channels) only")
        if x.layout != "BC":
            raise NotImplementedError(f"{where}: GroupNorm(1, C) on a value "
                                      f"{describe(x.layout)} normalizes over the channels AND "
                                      "the frames of the whole sequence, so every frame depends "
                                      "on later ones: not a per-frame operation fastrnn can run "
                                      "(it is one on (batch, channels); nn.LayerNorm(C) on "
                                      "(batch, time, channels) normalizes each frame)")
        layer = LayerNorm(module.num_channels, module.weight, module.bias, module.eps)
        return self.add(layer, name, [x], where)

    def _pool(self, module, name: str, x: Frames, where: str) -> Frames:
        _expect_layout(x, ("BCT",), type(module).__name__, where)
        nn = self.torch.nn
        kernel = _single(module.kernel_size)
        stride = _single(module.stride) if module.stride not in (None, ()) else kernel
        padding = _single(module.padding)
        if isinstance(module, nn.MaxPool1d) and (_single(module.dilation) != 1
                                                 or module.return_indices):
            raise NotImplementedError(f"{where}: MaxPool1d with dilation or return_indices")
        if module.ceil_mode and stride != 1:
            raise NotImplementedError(f"{where}: ceil_mode=True with stride {stride} adds a "
                                      "last window for some lengths; fastrnn pools with "
                                      "ceil_mode=False (the same for stride 1)")
        if isinstance(module, nn.MaxPool1d):
            layer = Pool1d("max", kernel, stride, padding)
        else:
            layer = Pool1d("avg", kernel, stride, padding,
                           count_padding=module.count_include_pad)
        return self.add(layer, name, [x], where)

    def _prelu(self, weight, name: str, x: Frames, where: str) -> Frames:
        slopes = weight.detach().reshape(-1)
        if slopes.numel() > 1:
            _expect_layout(x, ("BCT", "BC"), "PReLU with one slope per channel (dimension 1)",
                           where)
        return self.add(Activation("prelu", slopes=slopes), name, [x], where)

    def _softmax(self, op: str, dim: Any, name: str, x: Frames, where: str) -> Frames:
        if dim is None or x.layout[_dimension(x.layout, dim, where)] != "C":
            raise NotImplementedError(f"{where}: {op} over dimension {dim} of a value "
                                      f"{describe(x.layout)}; fastrnn applies {op} over the "
                                      "channels (dim=-1 for channels last)")
        return self.add(Activation(op), name, [x], where)

    def _recurrent(self, module, name: str, args: list, kwargs: dict, where: str) -> Recurrent:
        nn = self.torch.nn
        if isinstance(module, nn.LSTM) and module.proj_size:
            raise NotImplementedError(f"{where}: LSTM proj_size is not supported by fastrnn")
        initial = dict(zip(("input", "hx"), args), **kwargs)
        if set(initial) - {"input", "hx"} or "input" not in initial:
            raise NotImplementedError(f"{where}: called with {sorted(initial)}; expected "
                                      "(input, hx)")
        _check_initial_state(initial.get("hx"), where)
        x = self.frames(initial["input"], where)
        _expect_layout(x, ("BTC",) if module.batch_first else ("TBC",),
                       f"{type(module).__name__}(batch_first={module.batch_first})", where)
        kind = ("lstm" if isinstance(module, nn.LSTM) else
                "gru" if isinstance(module, nn.GRU) else "rnn")
        layers = recurrent_layers(lambda tensor: getattr(module, tensor, None), kind,
                                  module.num_layers, module.bidirectional,
                                  getattr(module, "nonlinearity", "tanh"))
        parts = ("h", "c") if kind == "lstm" else ("h",)
        entries = {part: [] for part in parts}
        for index, layer in enumerate(layers):
            layer_name = name if len(layers) == 1 else f"{name}_l{index}"
            x = self.add(layer, layer_name, [x], where)
            directions = ("forward.", "backward.") if module.bidirectional else ("",)
            for part in parts:
                entries[part] += [(layer, direction + part) for direction in directions]
        return Recurrent(x, States(entries, parts, x))

    # --- operations ---

    def operation(self, name: str, args: tuple, kwargs: dict, node_name: str, where: str):
        """The value of the torch function or Tensor method `name` (its
        canonical name, see _operation_names) on `args`."""
        name = _ALIASES.get(name, name)
        if name == "getitem":
            return self._getitem(args[0], args[1], node_name, where)
        if name == "getattr":
            return self._getattr(args[0], args[1], where)
        if name in ("zeros", "zeros_like", "new_zeros"):
            return Zeros()
        first = args[0] if args else None
        if isinstance(first, Zeros) and name in ("to", "type_as", "contiguous", "float",
                                                  "detach", "clone"):
            return first
        if isinstance(first, (Frames, Recurrent)) and name in ("size", "dim"):
            return Symbol()
        if isinstance(first, Symbol) or (name == "mul" and any(isinstance(a, Symbol)
                                                               for a in args)):
            return Symbol()
        if not any(isinstance(leaf, _FROM_INPUT) for leaf in _leaves((args, kwargs))):
            return Computed()
        if name in _NO_OPS or (name == "to" and isinstance(first, Frames)):
            return first if not isinstance(first, Recurrent) else first.output
        two_tensors = len(args) == 2 and isinstance(args[1], (Frames, Constant))
        if name in _BINARY or (name in ("max", "min") and two_tensors):
            return self._binary(_BINARY.get(name, name), args, kwargs, node_name, where)
        if name == "cat":
            return self._cat(args, kwargs, node_name, where)
        if name == "pad":
            return self._pad(args, kwargs, where)
        x = self.frames(first, where)
        rest = args[1:]
        if name == "transpose":
            dims = _bind(rest, kwargs, [("dim0", None), ("dim1", None)], where)
            i, j = (_dimension(x.layout, dims[d], where) for d in ("dim0", "dim1"))
            order = list(range(len(x.layout)))
            order[i], order[j] = j, i
            return Frames(x.tensor, "".join(x.layout[k] for k in order), x.last_step)
        if name == "permute":
            dims = rest[0] if len(rest) == 1 and isinstance(rest[0], (tuple, list)) else rest
            dims = kwargs.get("dims", dims)
            order = [_dimension(x.layout, d, where) for d in dims]
            if sorted(order) != list(range(len(x.layout))):
                raise NotImplementedError(f"{where}: permute{tuple(dims)} of a value "
                                          f"{describe(x.layout)}")
            return Frames(x.tensor, "".join(x.layout[k] for k in order), x.last_step)
        if name in ("split", "chunk"):
            return self._split(name, x, rest, kwargs, node_name, where)
        if name in ("mean", "amax", "max", "sum", "amin", "min"):
            return self._reduce(name, x, rest, kwargs, node_name, where)
        if name in ("squeeze", "unsqueeze", "flatten"):
            return self._reshape(name, x, rest, kwargs, where)
        if name in ("softmax", "log_softmax"):
            dim = _bind(rest, kwargs, _SOFTMAX_ARGUMENTS, where)["dim"]
            return self._softmax(name, dim, node_name, x, where)
        if name == "gelu":
            approximate = _bind(rest, kwargs, [("approximate", "none")], where)["approximate"]
            op = "gelu_tanh" if approximate == "tanh" else "gelu"
            return self.add(Activation(op), node_name, [x], where)
        if name == "prelu":
            weight = _bind(rest, kwargs, [("weight", None)], where)["weight"]
            if not isinstance(weight, Constant):
                raise NotImplementedError(f"{where}: PReLU slopes computed from the input")
            return self._prelu(weight.value, node_name, x, where)
        if name == "pow":
            exponent = _bind(rest, kwargs, [("exponent", None)], where)["exponent"]
            layer = Activation("pow", exponent=_number(exponent, "the exponent", where))
            return self.add(layer, node_name, [x], where)
        if name in _ACTIVATION_FUNCTIONS:
            op, spec = _ACTIVATION_FUNCTIONS[name]
            bound = _bind(rest, kwargs, spec, where)
            parameters = dict(_FIXED_PARAMETERS.get(name, {}))
            for theirs, _, ours in spec:
                if ours is not None and bound[theirs] is not None:
                    parameters[ours] = _number(bound[theirs], theirs, where)
            return self.add(Activation(op, **parameters), node_name, [x], where)
        raise NotImplementedError(f"{where}: an operation fastrnn cannot run")

    def _getitem(self, value, index, name: str, where: str):
        if isinstance(value, Recurrent) and index in (0, 1):
            return value.output if index == 0 else value.states
        if isinstance(value, States):
            return self._state_item(value, index, where)
        if isinstance(value, Parts):
            if not isinstance(index, int) or not -len(value.parts) <= index < len(value.parts):
                raise NotImplementedError(f"{where}: item {index!r} of {len(value.parts)} parts")
            if value.parts[index] is None:
                raise NotImplementedError(f"{where}: the indices of a max: not something "
                                          "fastrnn computes")
            return value.parts[index]
        if isinstance(value, (tuple, list)):
            return value[index]
        if isinstance(value, Symbol):
            return Symbol()
        x = self.frames(value, where)
        return self._index_frames(x, index, name, where)

    def _state_item(self, states: States, index, where: str):
        if len(states.parts) == 2:                       # an LSTM's (h_n, c_n)
            if index not in (0, 1):
                raise NotImplementedError(f"{where}: item {index!r} of an LSTM's (h_n, c_n)")
            part = states.parts[index]
            return States({part: states.entries[part]}, (part,), states.output)
        (part,) = states.parts
        entries = states.entries[part]
        if not isinstance(index, int) or index % len(entries) != len(entries) - 1:
            raise NotImplementedError(f"{where}: h_n[{index!r}] of {len(entries)} layer "
                                      "states; fastrnn gives the last layer's (h_n[-1]) as its "
                                      "last step")
        if part != "h":
            raise NotImplementedError(f"{where}: an LSTM's final cell state c_n is not "
                                      "an output fastrnn computes (it is the stream's state)")
        if isinstance(entries[-1][0], Bidirectional):
            raise NotImplementedError(f"{where}: h_n[-1] of a bidirectional layer is the "
                                      "backward direction's state after its first step; not "
                                      "supported")
        return self.last_step(states.output, where)

    def _index_frames(self, x: Frames, index, name: str, where: str) -> Frames:
        """x[index]: full slices, a slice of the channels, -1 on time."""
        items = list(index) if isinstance(index, tuple) else [index]
        if items.count(Ellipsis) > 1:
            raise NotImplementedError(f"{where}: indexing with two ellipses")
        if Ellipsis in items:
            at = items.index(Ellipsis)
            fill = len(x.layout) - (len(items) - 1)
            items[at:at + 1] = [slice(None)] * fill
        if len(items) > len(x.layout):
            raise NotImplementedError(f"{where}: index {index!r} of a value {describe(x.layout)}")
        items += [slice(None)] * (len(x.layout) - len(items))
        channels, last = None, False
        for axis, item in zip(x.layout, items):
            if item == slice(None):
                continue
            if axis == "C" and isinstance(item, slice) and item.step in (None, 1):
                channels = range(x.tensor.features)[item]
            elif axis == "T" and not isinstance(item, bool) and item == -1:
                last = True
            else:
                raise NotImplementedError(f"{where}: index {index!r} of a value "
                                          f"{describe(x.layout)}; fastrnn slices channels "
                                          "(x[..., a:b]) and keeps the last step (out[:, -1])")
        if last:
            x = self.last_step(x, where)
        if channels is not None and (channels.start, channels.stop) != (0, x.tensor.features):
            if not channels:
                raise NotImplementedError(f"{where}: an empty slice of the channels")
            x = self.add(Slice(channels.start, channels.stop), name, [x], where)
        return x

    def _getattr(self, value, attribute: str, where: str):
        if isinstance(value, Parts) and attribute in ("values", "indices"):
            return self._getitem(value, 0 if attribute == "values" else 1, "", where)
        if isinstance(value, (Frames, Recurrent, Symbol)) and attribute in ("shape", "device",
                                                                           "dtype"):
            return Symbol()
        raise NotImplementedError(f"{where}: attribute {attribute!r} of {_what(value)}")

    def _binary(self, op: str, args: tuple, kwargs: dict, name: str, where: str) -> Frames:
        if len(args) != 2 or set(kwargs) - {"alpha"}:
            raise NotImplementedError(f"{where}: {op} of {len(args)} arguments {sorted(kwargs)}")
        if kwargs.get("alpha", 1) != 1:
            raise NotImplementedError(f"{where}: {op} with alpha={kwargs['alpha']}")
        a, b = (self.frames(v, where) if isinstance(v, (Frames, Recurrent)) else v for v in args)
        if isinstance(a, Frames) and isinstance(b, Frames):
            if a.layout != b.layout:
                raise NotImplementedError(f"{where}: {op} of values {describe(a.layout)} and "
                                          f"{describe(b.layout)}")
            if a.tensor.features == 1 and b.tensor.features > 1 and op in ("add", "mul",
                                                                           "max", "min"):
                a, b = b, a
            return self.add(Elementwise(op), name, [a, b], where)
        frames, constant = (a, b) if isinstance(a, Frames) else (b, a)
        if not isinstance(frames, Frames):
            raise NotImplementedError(f"{where}: {op} of {_what(a)} and {_what(b)}")
        vector = self._channel_vector(constant, frames, where)
        layer = Elementwise(op, vector, constant_first=frames is b)
        return self.add(layer, name, [frames], where)

    def _channel_vector(self, constant, frames: Frames, where: str):
        """A constant that broadcasts over everything but the channels of
        `frames`, as one value per channel (or one)."""
        value = constant.value if isinstance(constant, Constant) else constant
        if value is None:
            raise NotImplementedError(f"{where}: an operand that is None: fastrnn models take "
                                      "one input, and the forward's arguments after the first "
                                      "are traced as None")
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                and not isinstance(value, self.torch.Tensor):
            raise NotImplementedError(f"{where}: an operand fastrnn cannot use: {_what(constant)}")
        tensor = self.torch.as_tensor(value, dtype=self.torch.float64).detach()
        layout = frames.layout
        if tensor.dim() > len(layout):
            raise NotImplementedError(f"{where}: a constant of shape {tuple(tensor.shape)} with "
                                      f"a value {describe(layout)}")
        shape = (1,) * (len(layout) - tensor.dim()) + tuple(tensor.shape)
        for axis, size in zip(layout, shape):
            if size != 1 and (axis != "C" or size != frames.tensor.features):
                raise NotImplementedError(f"{where}: a constant of shape {tuple(tensor.shape)} "
                                          f"varies along {_AXIS_NAMES[axis]} of a value "
                                          f"{describe(layout)}; fastrnn takes one value per "
                                          "channel")
        return tensor.reshape(-1).numpy()

    def _cat(self, args: tuple, kwargs: dict, name: str, where: str) -> Frames:
        bound = _bind(args, kwargs, [("tensors", None), ("dim", 0)], where)
        parts = [self.frames(v, where) for v in bound["tensors"]]
        layouts = {p.layout for p in parts}
        if len(layouts) != 1:
            raise NotImplementedError(f"{where}: cat of values "
                                      f"{', '.join(describe(p.layout) for p in parts)}")
        layout = parts[0].layout
        if layout[_dimension(layout, bound["dim"], where)] != "C":
            raise NotImplementedError(f"{where}: cat along dimension {bound['dim']} of values "
                                      f"{describe(layout)}; fastrnn concatenates channels")
        return self.add(Concatenate(), name, parts, where)

    def _pad(self, args: tuple, kwargs: dict, where: str) -> Padded:
        bound = _bind(args[1:], kwargs, [("pad", None), ("mode", "constant"), ("value", None)],
                      where)
        value = args[0]
        frames = value.frames if isinstance(value, Padded) else self.frames(value, where)
        if bound["mode"] != "constant" or bound["value"] not in (None, 0, 0.0):
            raise NotImplementedError(f"{where}: F.pad mode={bound['mode']!r} "
                                      f"value={bound['value']!r}; fastrnn pads with zeros")
        pad = list(bound["pad"])
        left = right = 0
        for pair in range(len(pad) // 2):
            axis = frames.layout[len(frames.layout) - 1 - pair]
            before, after = pad[2 * pair], pad[2 * pair + 1]
            if (before, after) == (0, 0):
                continue
            if axis != "T" or before < 0 or after < 0:
                raise NotImplementedError(f"{where}: F.pad by {pad} of a value "
                                          f"{describe(frames.layout)}; fastrnn pads time with "
                                          "frames >= 0")
            left, right = before, after
        if isinstance(value, Padded):
            left, right = left + value.left, right + value.right
        return Padded(frames, left, right)

    def _split(self, name: str, x: Frames, rest: tuple, kwargs: dict, node_name: str,
               where: str) -> Parts:
        first = "split_size_or_sections" if name == "split" else "chunks"
        bound = _bind(rest, kwargs, [(first, None), ("dim", 0)], where)
        if "split_size" in kwargs:
            bound[first] = kwargs["split_size"]
        if x.layout[_dimension(x.layout, bound["dim"], where)] != "C":
            raise NotImplementedError(f"{where}: {name} along dimension {bound['dim']} of a "
                                      f"value {describe(x.layout)}; fastrnn splits channels")
        features = x.tensor.features
        sizes = bound[first]
        if name == "chunk":
            size = -(-features // sizes)
            sizes = [min(size, features - begin) for begin in range(0, features, size)]
        elif isinstance(sizes, int):
            sizes = [min(sizes, features - begin) for begin in range(0, features, sizes)]
        if sum(sizes) != features:
            raise NotImplementedError(f"{where}: {name} into {sizes} of {features} channels")
        parts, begin = [], 0
        for index, size in enumerate(sizes):
            layer = Slice(begin, begin + size)
            parts.append(self.add(layer, f"{node_name}_{index}", [x], where))
            begin += size
        return Parts(parts)

    def _reduce(self, name: str, x: Frames, rest: tuple, kwargs: dict, node_name: str,
                where: str):
        if name in ("max", "min") and not rest and "dim" not in kwargs:
            raise NotImplementedError(f"{where}: {name} of a whole tensor")
        bound = _bind(rest, kwargs, [("dim", None), ("keepdim", False), ("dtype", None)], where)
        if bound["dim"] is None:
            raise NotImplementedError(f"{where}: {name} of a whole tensor; fastrnn reduces over "
                                      "time or channels")
        axis = x.layout[_one_dimension(x.layout, bound["dim"], where)]
        keepdim = bool(bound["keepdim"])
        if axis == "T" and name in _GLOBAL_POOLS:
            layout = x.layout.replace("T", "1" if keepdim else "")
            value = self.add(GlobalPool(_GLOBAL_POOLS[name]), node_name, [x], where,
                             layout=layout)
        elif axis == "C" and keepdim:
            value = self.add(Reduce(_FEATURE_REDUCTIONS[name]), node_name, [x], where)
        else:
            raise NotImplementedError(f"{where}: {name} over {_AXIS_NAMES[axis]} "
                                      f"(keepdim={keepdim}) of a value {describe(x.layout)}; "
                                      "fastrnn takes the mean or max over time, and reductions "
                                      "over channels with keepdim=True")
        return Parts([value, None]) if name in ("max", "min") else value

    def _reshape(self, name: str, x: Frames, rest: tuple, kwargs: dict, where: str) -> Frames:
        layout = x.layout
        if name == "flatten":
            bound = _bind(rest, kwargs, [("start_dim", 0), ("end_dim", -1)], where)
            return self._flatten(x, bound["start_dim"], bound["end_dim"], where)
        dim = _bind(rest, kwargs, [("dim", None)], where)["dim"]
        if name == "squeeze":
            dims = range(len(layout)) if dim is None else [_dimension(layout, dim, where)]
            kept = "".join(a for i, a in enumerate(layout) if a != "1" or i not in dims)
            return Frames(x.tensor, kept, x.last_step)
        if isinstance(dim, bool) or not isinstance(dim, int) \
                or not -len(layout) - 1 <= dim <= len(layout):
            raise NotImplementedError(f"{where}: unsqueeze({dim!r}) of a value {describe(layout)}")
        at = dim % (len(layout) + 1)
        return Frames(x.tensor, layout[:at] + "1" + layout[at:], x.last_step)

    def _flatten(self, x: Frames, start: int, end: int, where: str) -> Frames:
        layout = x.layout
        first, last = _dimension(layout, start, where), _dimension(layout, end, where)
        merged = layout[first:last + 1].replace("1", "")
        if len(merged) > 1:
            raise NotImplementedError(f"{where}: flatten({start}, {end}) of a value "
                                      f"{describe(layout)} merges {describe(merged)}")
        return Frames(x.tensor, layout[:first] + (merged or "1") + layout[last + 1:],
                      x.last_step)


def _leaves(structure):
    """The values in nested tuples, lists and dicts."""
    if isinstance(structure, (tuple, list)):
        for item in structure:
            yield from _leaves(item)
    elif isinstance(structure, dict):
        yield from _leaves(list(structure.values()))
    else:
        yield structure


def _single(value: Any) -> int:
    return value[0] if isinstance(value, (tuple, list)) else value


def _what(value) -> str:
    """A value's kind, for messages."""
    if isinstance(value, Constant):
        return f"a constant {type(value.value).__name__}"
    return {Zeros: "torch.zeros (an initial state)", Symbol: "a size, device or dtype",
            Computed: "a tensor computed from parameters, not from the input",
            States: "a recurrent layer's final states", Parts: "the parts of a split",
            Padded: "padded frames"}.get(type(value), type(value).__name__)


def _check_initial_state(hx, where: str) -> None:
    """An RNN's initial state must be zeros (fastrnn's): None, torch.zeros or
    a tuple of them."""
    states = hx if isinstance(hx, (tuple, list)) else [hx]
    for state in states:
        if state is None or isinstance(state, Zeros) or (isinstance(state, Constant)
                                                         and state.value is None):
            continue
        raise NotImplementedError(f"{where}: an initial state that is {_what(state)}; fastrnn "
                                  "starts from zeros (give another start as predict's "
                                  "initial_state or Stream.set_state)")


def input_signature(forward) -> list:
    """The names of the arguments of `forward` after its first, which the
    trace sets to None."""
    parameters = list(inspect.signature(forward).parameters.values())
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in parameters[1:] if p.kind in kinds]


# ---------------------------------------------------------------------------
# Tracing a module and walking its graph.

# Modules that say how many channels they read and in which layout.
def _reads(module, nn) -> tuple | None:
    """(channels, torch layout) of what `module` reads, or None if it does
    not say (activations, dropout, pools)."""
    if isinstance(module, nn.Linear):
        return module.in_features, "BTC"
    if isinstance(module, (nn.LSTM, nn.GRU, nn.RNN)):
        return module.input_size, "BTC" if module.batch_first else "TBC"
    if isinstance(module, nn.Conv1d):
        return module.in_channels, "BCT"
    if isinstance(module, nn.BatchNorm1d):
        return module.num_features, "BCT"
    if isinstance(module, nn.GroupNorm):
        return module.num_channels, "BCT"
    if isinstance(module, nn.LayerNorm):
        return module.normalized_shape[-1], "BTC"
    if isinstance(module, nn.PReLU) and module.num_parameters > 1:
        return module.num_parameters, "BCT"
    return None


# Operations through which the input keeps its channels (the search for the
# first layer that reads it goes through them).
_KEEP_CHANNELS = set(_ACTIVATION_FUNCTIONS) | set(_NO_OPS) | set(_BINARY) | {
    "pad", "gelu", "softmax", "log_softmax", "pow", "to", "truediv", "iadd", "isub", "imul",
    "itruediv", "subtract", "multiply", "divide", "true_divide"}


def _input_layout(graph, root, names: dict, nn, root_name: str) -> tuple:
    """(channels, torch layout) of the forward's first input, from the first
    layer that reads it through transposes and channel-keeping operations:
    its axes relabelled "abc", mapped onto what that layer reads."""
    placeholder = next(node for node in graph.nodes if node.op == "placeholder")
    axes = {placeholder: "abc"}
    for node in graph.nodes:
        sources = [source for source in node.all_input_nodes if source in axes]
        if not sources or node.op == "output":
            continue
        order = axes[sources[0]]
        if node.op == "call_module":
            reads = _reads(root.get_submodule(node.target), nn)
            if reads is not None:
                channels, layout = reads
                mapping = dict(zip(order, layout))
                return channels, "".join(mapping[axis] for axis in "abc")
            axes[node] = order
            continue
        name = node.target if node.op == "call_method" else names.get(node.target)
        if name in ("transpose", "permute"):
            dims = [d for d in node.args[1:] if isinstance(d, int)] or list(node.args[1])
            dims = [d % 3 for d in dims]
            if name == "transpose":
                swapped = list(order)
                swapped[dims[0]], swapped[dims[1]] = order[dims[1]], order[dims[0]]
                axes[node] = "".join(swapped)
            else:
                axes[node] = "".join(order[d] for d in dims)
        elif name in _KEEP_CHANNELS:
            axes[node] = order
    raise NotImplementedError(f"{root_name}: cannot tell how many channels its input has: no "
                              "Linear, Conv1d, LSTM, GRU, RNN, BatchNorm1d or LayerNorm reads "
                              "it before its channels change")


def trace(module, torch):
    """The torch.fx graph of `module`'s forward, each node's source line in
    ``node.meta["source"]``, the arguments after the first traced as None
    (their defaults: ``if state is None`` takes its branch)."""
    torch_directory = os.path.dirname(os.path.abspath(torch.__file__))

    class SourceTracer(torch.fx.Tracer):
        # torch.fx's own record_stack_traces imports much of torch (seconds).
        def create_node(self, *args, **kwargs):
            node = super().create_node(*args, **kwargs)
            node.meta["source"] = _caller_line(torch_directory)
            return node

    tracer = SourceTracer()
    concrete = {name: None for name in input_signature(module.forward)}
    try:
        return tracer.trace(module, concrete_args=concrete)
    except Exception as error:
        given = f" with {', '.join(concrete)} set to None" if concrete else ""
        raise NotImplementedError(f"{type(module).__name__}: torch.fx cannot trace its forward"
                                  f"{given} ({type(error).__name__}: {error})") from None


def _describe_node(node, root, root_name: str) -> str:
    """The module or operation of `node` and its source line, for messages."""
    if node.op == "call_module":
        what = f"{root_name}.{node.target} ({type(root.get_submodule(node.target)).__name__})"
    elif node.op == "call_function":
        module = getattr(node.target, "__module__", None) or "torch"
        module = {"_operator": "operator", "torch._C._nn": "torch.nn.functional",
                  "torch._C._VariableFunctions": "torch"}.get(module, module)
        what = f"{root_name}: {module}.{getattr(node.target, '__name__', node.target)}"
    elif node.op == "call_method":
        what = f"{root_name}: Tensor.{node.target}"
    else:
        what = f"{root_name}: its {node.op} {node.name}"
    return what + node.meta.get("source", "")


def _is_constant(structure) -> bool:
    return not any(isinstance(leaf, _SYMBOLIC) for leaf in _leaves(structure))


def _evaluate(node, root, args, kwargs, torch):
    """What torch computes for `node` from constant arguments."""
    unwrap = lambda value: value.value if isinstance(value, Constant) else value  # noqa: E731
    args = torch.fx.node.map_aggregate(args, unwrap)
    kwargs = torch.fx.node.map_aggregate(kwargs, unwrap)
    with torch.no_grad():
        if node.op == "call_module":
            return root.get_submodule(node.target)(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        return node.target(*args, **kwargs)


def _attribute(root, target: str):
    value = root
    for name in target.split("."):
        value = getattr(value, name)
    return value


def translate(module, torch) -> Translation:
    """What `module` computes, as fastrnn layers, from its torch.fx trace."""
    root_name = type(module).__name__
    graph = trace(module, torch)
    names = _operation_names(torch)
    channels, layout = _input_layout(graph, module, names, torch.nn, root_name)
    translation = Translation(Input(channels), layout)
    translator = Translator(torch)
    values: dict = {}
    for node in graph.nodes:
        where = _describe_node(node, module, root_name)
        if node.op == "placeholder":
            values[node] = Constant(None) if values else Frames(translation.input, layout)
            continue
        if node.op == "get_attr":
            values[node] = Constant(_attribute(module, node.target))
            continue
        args = torch.fx.node.map_arg(node.args, values.__getitem__)
        kwargs = dict(torch.fx.node.map_arg(node.kwargs, values.__getitem__))
        if node.op == "output":
            _collect_outputs(args[0], translator, translation, where)
            break
        if _is_constant((args, kwargs)):
            values[node] = Constant(_evaluate(node, module, args, kwargs, torch))
        elif node.op == "call_module":
            values[node] = translator.module(module.get_submodule(node.target), node.target,
                                             list(args), kwargs, where)
        else:
            name = node.target if node.op == "call_method" else names.get(node.target)
            if name is None:
                raise NotImplementedError(f"{where}: an operation fastrnn cannot run")
            values[node] = translator.operation(name, tuple(args), kwargs, node.name, where)
    translator.finish()
    translation.names = translator.names
    if not translation.outputs:
        raise NotImplementedError(f"{root_name}: its forward returns no frames computed from "
                                  "its input")
    return translation


def _collect_outputs(value, translator: Translator, translation: Translation,
                     where: str) -> None:
    """The forward's results in order: frames are outputs, states are the
    stream's state (translation.returned_states)."""
    if isinstance(value, (tuple, list)):
        for item in value:
            _collect_outputs(item, translator, translation, where)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_outputs(item, translator, translation, where)
    elif isinstance(value, Recurrent):
        _collect_outputs((value.output, value.states), translator, translation, where)
    elif isinstance(value, States):
        translation.returned_states += [value.entries[part] for part in value.parts]
    elif isinstance(value, Parts):
        _collect_outputs([part for part in value.parts if part is not None], translator,
                         translation, where)
    elif isinstance(value, Frames):
        translator.read(value)
        translation.outputs.append(value.tensor)
        translation.output_layouts.append(value.layout)
    elif not (isinstance(value, Constant) and value.value is None):
        raise NotImplementedError(f"{where}: returns {_what(value)}; fastrnn returns frames "
                                  "computed from the input (and recurrent states, as the "
                                  "stream's state)")
