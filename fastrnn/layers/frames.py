"""Layers of one frame at a time: activations, normalizations, elementwise
arithmetic, concatenation and slicing of features, reductions over features.
Each keeps its input's timing (frame j in, frame j out).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._engine import BINARY_OPS, REDUCTIONS, UNARY_OPS
from .base import Layer, as_float32, optional_vector

# Activation names beyond the engine's: the same function under another name.
_ALIASES = {"linear": "identity", "swish": "silu"}
# Each activation's parameters, their defaults, and which engine argument
# (alpha, beta) takes them.
_PARAMETERS = {
    "leaky_relu": {"negative_slope": (0.01, "alpha")},
    "elu": {"alpha": (1.0, "alpha")},
    "hard_sigmoid": {"alpha": (1.0 / 6.0, "alpha"), "beta": (0.5, "beta")},
    "softplus": {"beta": (1.0, "beta"), "threshold": (20.0, "alpha")},
    "clip": {"min": (-np.inf, "alpha"), "max": (np.inf, "beta")},
    "pow": {"exponent": (1.0, "alpha")},
}


class Activation(Layer):
    """An activation or elementwise function of each frame.

    Parameters
    ----------
    name : str
        relu, leaky_relu (negative_slope, 0.01 as PyTorch), prelu (slopes:
        one per feature or one), elu (alpha 1), selu, gelu (exact, with erf),
        gelu_tanh, silu (swish), tanh, sigmoid, hard_sigmoid (clip(alpha x +
        beta, 0, 1), alpha 1/6 and beta 0.5 as PyTorch and Keras 3),
        softplus (beta 1, threshold 20 as PyTorch), softmax and log_softmax
        (over the frame's features), exp, log, sqrt, reciprocal, abs, neg,
        clip (min, max), pow (exponent), identity (linear).
    **parameters : the named parameters of `name`
    """

    def __init__(self, name: str, *, slopes: Any = None, **parameters: float):
        op = _ALIASES.get(name, name)
        if op not in UNARY_OPS:
            raise ValueError(f"Activation: expected one of {sorted(UNARY_OPS)}, got {name!r}")
        known = _PARAMETERS.get(op, {})
        unknown = sorted(set(parameters) - set(known))
        if unknown:
            raise ValueError(f"Activation {name!r}: unknown parameters {unknown}; it takes "
                             f"{sorted(known) or 'none'}")
        self.op, self.parameters = op, {key: float(parameters.get(key, default))
                                        for key, (default, _) in known.items()}
        self.engine_arguments = {"alpha": 0.0, "beta": 0.0}
        for key, (_, argument) in known.items():
            self.engine_arguments[argument] = self.parameters[key]
        if op == "softplus" and self.parameters["beta"] == 0.0:
            raise ValueError("Activation 'softplus': beta must not be 0")
        self.slopes = None
        if op == "prelu":
            if slopes is None:
                raise ValueError("Activation 'prelu': give its slopes (one per feature, or one)")
            self.slopes = as_float32(slopes, "PReLU slopes", 1)
        elif slopes is not None:
            raise ValueError(f"Activation {name!r}: slopes are PReLU's")

    def __repr__(self) -> str:
        shown = "".join(f", {key}={value:g}" for key, value in self.parameters.items())
        return f"Activation({self.op!r}{shown})"

    def output_features(self, *features: int) -> int:
        if self.slopes is not None and self.slopes.size not in (1, features[0]):
            raise ValueError(f"PReLU: {self.slopes.size} slopes for {features[0]} features")
        return features[0]

    def _add_to(self, engine, tensors: list) -> int:
        return engine.add_unary(tensors[0], self.op, self.engine_arguments["alpha"],
                                self.engine_arguments["beta"], self.slopes)


class Affine(Layer):
    """``y = x * scale + shift`` per feature: an inference BatchNorm that folds
    into no layer (``BatchNorm`` makes one).

    Parameters
    ----------
    scale, shift : arrays (features,), optional (one, zero)
    features : int, when neither is given
    """

    def __init__(self, scale: Any = None, shift: Any = None, features: int | None = None):
        given = scale if scale is not None else shift
        size = np.asarray(given).size if given is not None else features
        if size is None:
            raise ValueError("Affine: give scale, shift or features")
        self.scale = optional_vector(scale, "Affine scale", size)
        self.shift = optional_vector(shift, "Affine shift", size)
        self.input_size = self.output_size = int(size)

    def __repr__(self) -> str:
        return f"Affine({self.input_size})"

    def _add_to(self, engine, tensors: list) -> int:
        return engine.add_affine(tensors[0], self.scale, self.shift)


def BatchNorm(running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
              eps: float = 1e-5) -> Affine:
    """Inference batch normalization over features, ``(x - mean) / sqrt(var +
    eps) * weight + bias`` (PyTorch's BatchNorm1d, eps 1e-5; Keras'
    BatchNormalization has eps 1e-3), as the Affine layer it is. A
    ``fastrnn.Model`` folds it into a Conv1d or Dense layer right before it
    whose output nothing else reads."""
    mean = as_float32(running_mean, "BatchNorm running_mean", 1)
    var = as_float32(running_var, "BatchNorm running_var", 1)
    if var.shape != mean.shape or np.any(var < 0):
        raise ValueError(f"BatchNorm: expected a running_var of {mean.shape} values >= 0, "
                         f"got {var.shape}")
    size = mean.size
    weight = optional_vector(weight, "BatchNorm weight", size)
    bias = optional_vector(bias, "BatchNorm bias", size)
    scale = (1.0 if weight is None else weight.astype(np.float64)) / np.sqrt(
        var.astype(np.float64) + eps)
    shift = (0.0 if bias is None else bias.astype(np.float64)) - mean * scale
    return Affine(np.broadcast_to(scale, (size,)), np.broadcast_to(shift, (size,)))


class LayerNorm(Layer):
    """``y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias`` over the
    features of each frame, biased variance (``nn.LayerNorm`` eps 1e-5,
    Keras' LayerNormalization eps 1e-3).

    Parameters
    ----------
    features : int
    weight, bias : arrays (features,), optional (one, zero)
    eps : float
    """

    def __init__(self, features: int, weight: Any = None, bias: Any = None, eps: float = 1e-5):
        if isinstance(features, bool) or not isinstance(features, (int, np.integer)) \
                or features < 1:
            raise ValueError(f"LayerNorm features: expected an integer >= 1, got {features!r}")
        if not (np.isfinite(eps) and eps >= 0):
            raise ValueError(f"LayerNorm eps: expected a finite value >= 0, got {eps!r}")
        self.input_size = self.output_size = int(features)
        self.weight = optional_vector(weight, "LayerNorm weight", self.input_size)
        self.bias = optional_vector(bias, "LayerNorm bias", self.input_size)
        self.eps = float(eps)

    def __repr__(self) -> str:
        return f"LayerNorm({self.input_size}, eps={self.eps:g})"

    def _add_to(self, engine, tensors: list) -> int:
        return engine.add_layer_norm(tensors[0], self.eps, self.weight, self.bias)


def merge_state_names(parts: list) -> tuple:
    """A merge's state: for each input that can come first in a stream (less
    look-ahead than another), the frames waiting for the others and their
    count, "input<i>.frames" and "input<i>.count"."""
    return tuple(f"input{source}.{'count' if kind == 'count' else 'frames'}"
                 for kind, source in parts)


class Elementwise(Layer):
    """``y = a op b`` of two tensors of one rate (b with a's features or one),
    or of a tensor and a constant vector (`constant`: one value per feature,
    or one; ``constant_first``: ``constant op a``), frame by frame.

    Parameters
    ----------
    op : "add", "sub", "mul", "div", "max", "min" or "pow"
    """

    def __init__(self, op: str, constant: Any = None, constant_first: bool = False):
        if op not in BINARY_OPS:
            raise ValueError(f"Elementwise: expected one of {tuple(BINARY_OPS)}, got {op!r}")
        self.op, self.constant_first = op, bool(constant_first)
        self.constant = None if constant is None else as_float32(np.atleast_1d(
            np.asarray(constant)), f"{op} constant", 1)
        self.num_inputs = 1 if self.constant is not None else 2

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.op!r}{', constant' if self.num_inputs == 1 else ''})"

    def output_features(self, *features: int) -> int:
        other = self.constant.size if self.constant is not None else features[1]
        if other not in (1, features[0]):
            raise ValueError(f"{self!r}: {other} values for {features[0]} features (expected "
                             f"{features[0]} or 1)")
        return features[0]

    def state_names(self, parts: list) -> tuple:
        return merge_state_names(parts)

    def _add_to(self, engine, tensors: list) -> int:
        if self.constant is not None:
            return engine.add_binary_constant(self.op, tensors[0], self.constant,
                                              self.constant_first)
        return engine.add_binary(self.op, tensors[0], tensors[1])


def Add(constant: Any = None) -> Elementwise:
    """a + b (Keras Add, torch ``+``)."""
    return Elementwise("add", constant)


def Subtract(constant: Any = None) -> Elementwise:
    """a - b (Keras Subtract, torch ``-``)."""
    return Elementwise("sub", constant)


def Multiply(constant: Any = None) -> Elementwise:
    """a * b (Keras Multiply, torch ``*``)."""
    return Elementwise("mul", constant)


class Concatenate(Layer):
    """The features of several tensors of one rate side by side, in order
    (Keras Concatenate, ``torch.cat(dim=-1)``); in a stream, a tensor that
    comes first (less look-ahead) waits for the others, its frames part of
    the state (``merge_state_names``)."""

    num_inputs = None

    def __repr__(self) -> str:
        return "Concatenate()"

    def output_features(self, *features: int) -> int:
        if len(features) < 1:
            raise ValueError("Concatenate: expected at least one tensor")
        return sum(features)

    def state_names(self, parts: list) -> tuple:
        return merge_state_names(parts)

    def _add_to(self, engine, tensors: list) -> int:
        return engine.add_concat(list(tensors))


class Slice(Layer):
    """Features [begin, end) of each frame (``x[..., begin:end]``; split is
    several slices)."""

    def __init__(self, begin: int, end: int):
        if begin < 0 or end <= begin:
            raise ValueError(f"Slice: expected 0 <= begin < end, got {begin}, {end}")
        self.begin, self.end = int(begin), int(end)

    def __repr__(self) -> str:
        return f"Slice({self.begin}, {self.end})"

    def output_features(self, *features: int) -> int:
        if self.end > features[0]:
            raise ValueError(f"{self!r} of {features[0]} features")
        return self.end - self.begin

    def _add_to(self, engine, tensors: list) -> int:
        return engine.add_slice(tensors[0], self.begin, self.end)


class Reduce(Layer):
    """One feature per frame: the sum, mean, max or min of its features."""

    def __init__(self, op: str):
        if op not in REDUCTIONS:
            raise ValueError(f"Reduce: expected one of {tuple(REDUCTIONS)}, got {op!r}")
        self.op = op

    def __repr__(self) -> str:
        return f"Reduce({self.op!r})"

    def output_features(self, *features: int) -> int:
        return 1

    def _add_to(self, engine, tensors: list) -> int:
        return engine.add_reduce(tensors[0], self.op)
