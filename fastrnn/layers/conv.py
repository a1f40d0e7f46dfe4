"""Layers that slide a window over time: Conv1d and Pool1d, and the global
pool over a whole sequence.

Frames are (B, T, C), channels last; PyTorch's (B, C, T) convolutions and
pools compute the same with fastrnn's axes. Padding, on the time axis:

- an int p, or (left, right): that many zero frames before and after;
- "valid": none; "causal": (kernel - 1) * dilation before, none after;
- "same": (total // 2, total - total // 2) with total = (kernel - 1) *
  dilation (PyTorch's rule, stride 1); with a stride, TensorFlow's and
  Keras' rule, total = max((ceil(T / stride) - 1) * stride + span - T, 0),
  which depends on each sequence's length T: such a layer runs in predict
  only, not in streams.

Padding on the right is look-ahead: a stream's output lags its input by it
(``Stream.delay``), and ``flush()`` gives the last frames.
"""

from __future__ import annotations

from typing import Any

from .._engine import POOLS, SAME_LENGTH
from .base import Layer, as_float32, optional_vector


def window_padding(padding: Any, kernel: int, stride: int, dilation: int) -> tuple:
    """(left, right) frames of padding, or (SAME_LENGTH, 0) for padding that
    depends on each sequence's length."""
    if isinstance(padding, str):
        span = (kernel - 1) * dilation + 1
        if padding == "valid":
            return 0, 0
        if padding == "causal":
            return span - 1, 0
        if padding == "same":
            if stride == 1:
                return (span - 1) // 2, span - 1 - (span - 1) // 2
            return SAME_LENGTH, 0
        raise ValueError(f"padding: expected an int, (left, right), 'valid', 'same' or "
                         f"'causal', got {padding!r}")
    pair = (padding, padding) if isinstance(padding, int) else tuple(padding)
    if (len(pair) != 2 or any(isinstance(p, bool) or not isinstance(p, int) or p < 0
                              for p in pair)):
        raise ValueError(f"padding: expected frames >= 0 as an int or (left, right), got "
                         f"{padding!r}")
    return pair


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    return value


class Conv1d(Layer):
    """Convolution over time, as ``nn.Conv1d`` (zero padding) and Keras' Conv1D:

    ``y[t, o] = b[o] + sum_k sum_i w[o, i, k] x[t s + k d - left, g(o) C_in / groups + i]``

    (s the stride, d the dilation) with x zero outside the sequence and
    g(o) = o // (C_out / groups); groups
    = C_in is a depthwise convolution. Frames out of T in:
    ``floor((T + left + right - dilation (kernel - 1) - 1) / stride) + 1``.

    Parameters
    ----------
    weight : array (out_channels, in_channels / groups, kernel)
    bias : array (out_channels,), optional (zero)
    stride, dilation, groups : int
    padding : see the module
    """

    state = ("frames", "position")

    def __init__(self, weight: Any, bias: Any = None, *, stride: int = 1, dilation: int = 1,
                 groups: int = 1, padding: Any = 0):
        self.weight = as_float32(weight, "Conv1d weight", 3)
        out_channels, group_in, kernel = self.weight.shape
        self.stride, self.dilation = _positive(stride, "stride"), _positive(dilation, "dilation")
        self.groups = _positive(groups, "groups")
        if out_channels % self.groups:
            raise ValueError(f"Conv1d: {out_channels} output channels do not split into "
                             f"{self.groups} groups")
        self.bias = optional_vector(bias, "Conv1d bias", out_channels)
        self.kernel_size = kernel
        self.padding = window_padding(padding, kernel, self.stride, self.dilation)
        self.input_size, self.output_size = group_in * self.groups, out_channels

    def __repr__(self) -> str:
        return (f"Conv1d({self.input_size}, {self.output_size}, kernel={self.kernel_size}, "
                f"stride={self.stride}, dilation={self.dilation}, groups={self.groups}, "
                f"padding={self.padding})")

    def weights(self) -> list:
        return [self.weight]

    def _add_to(self, engine, tensors: list) -> int:
        left, right = self.padding
        return engine.add_conv(tensors[0], self.weight, self.bias, self.stride, self.dilation,
                               self.groups, left, right)


class Pool1d(Layer):
    """Max or average pooling over time, feature by feature, as ``nn.MaxPool1d``
    / ``nn.AvgPool1d`` and Keras' MaxPooling1D / AveragePooling1D.

    Parameters
    ----------
    pool : "max" or "avg"
    kernel : int
    stride : int, optional (the kernel)
    padding : see the module; padding never wins a max
    count_padding : bool
        Average: divide by the kernel, padding included (PyTorch's
        count_include_pad, its default); False: by the frames of the
        sequence in the window (Keras, symmetric "same").
    replicate_edges : bool or "uneven"
        Pad with copies of the first and last frames, counted as frames
        (what Keras computes on the torch backend for an uneven "same").
        "uneven": do so for a sequence whose padding is uneven (left !=
        right), and average its real frames (count_padding) when it is even:
        Keras' torch backend for "same", whatever the length. With a stride,
        where that choice moves with the length, a stream knows it at the
        end; if it moves the left edge's too, the layer needs whole
        sequences.
    """

    state = ("frames", "position")

    def __init__(self, pool: str, kernel: int, stride: int | None = None, padding: Any = 0, *,
                 count_padding: bool = True, replicate_edges: bool | str = False):
        if pool not in POOLS:
            raise ValueError(f"pool: expected one of {tuple(POOLS)}, got {pool!r}")
        self.pool, self.kernel_size = pool, _positive(kernel, "kernel")
        self.stride = self.kernel_size if stride is None else _positive(stride, "stride")
        self.padding = window_padding(padding, self.kernel_size, self.stride, 1)
        if isinstance(replicate_edges, str):
            if replicate_edges != "uneven":
                raise ValueError(f"replicate_edges: expected True, False or 'uneven', got "
                                 f"{replicate_edges!r}")
            left, right = self.padding
            if left != SAME_LENGTH:             # fixed padding: uneven or not, once for all
                replicate_edges = left != right
        self.count_padding = bool(count_padding)
        self.replicate_edges = replicate_edges if replicate_edges == "uneven" \
            else bool(replicate_edges)

    def __repr__(self) -> str:
        return (f"Pool1d({self.pool!r}, kernel={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding})")

    def output_features(self, *features: int) -> int:
        return features[0]

    def _add_to(self, engine, tensors: list) -> int:
        left, right = self.padding
        return engine.add_pool(tensors[0], self.pool, self.kernel_size, self.stride, left, right,
                               self.count_padding, self.replicate_edges)


class GlobalPool(Layer):
    """The mean or max of every frame of a sequence, feature by feature
    (``x.mean(dim=1)``, Keras' GlobalAveragePooling1D / GlobalMaxPooling1D):
    one frame per sequence, which ends it (only frame layers may follow). A
    stream answers each frame of its input with the pool so far (so at its
    input's rate: after a strided layer, every other frame), and flush()
    gives the final pool.

    Parameters
    ----------
    pool : "avg" or "max"
    """

    return_sequences = False
    state = ("value", "count")

    def __init__(self, pool: str):
        if pool not in ("avg", "max"):
            raise ValueError(f"GlobalPool: expected 'avg' or 'max', got {pool!r}")
        self.pool = pool

    def __repr__(self) -> str:
        return f"GlobalPool({self.pool!r})"

    def output_features(self, *features: int) -> int:
        return features[0]

    def _add_to(self, engine, tensors: list) -> int:
        return engine.add_global_pool(tensors[0], "mean" if self.pool == "avg" else "max")
