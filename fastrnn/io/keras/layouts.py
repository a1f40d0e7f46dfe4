"""Keras 3 weight layouts, converted to fastrnn's canonical (PyTorch) layout.

Keras stores ``kernel (I, G*H)`` and ``recurrent_kernel (H, G*H)`` (inputs
along rows, so transposed relative to PyTorch), and:

- LSTM: gate order i, f, c, o (= canonical i, f, g, o); one bias (4H,).
- GRU: gate order z, r, h, canonical is r, z, n: the first two gate blocks
  swap (``GRU_ORDER``). With ``reset_after=True`` the bias is (2, 3H): row 0
  is the input bias, row 1 the recurrent bias; with ``reset_after=False`` it
  is one input bias (3H,).
- SimpleRNN: no gates; one bias (H,).
- Dense: ``kernel (I, O)``.
- Conv1D: ``kernel (K, C_in / groups, C_out)``, canonical ``(C_out, C_in /
  groups, K)``.
- DepthwiseConv1D (and SeparableConv1D's depthwise half): ``kernel (K, C,
  M)``, M the depth multiplier; output channel ``c * M + m`` is input
  channel c's m-th filter, canonical ``(C * M, 1, K)`` with groups = C.
- SeparableConv1D's pointwise half: ``pointwise_kernel (1, C * M, F)``, a
  1x1 Conv1D kernel.

The layers' Keras constructors (``fastrnn.LSTM.from_keras``, ``GRU``,
``SimpleRNN``, ``Dense``) are defined here, beside the conversions they use,
and attached to the classes at the end of this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...layers import GRU, LSTM, Dense, SimpleRNN, to_numpy
from ..convert import reorder_gates

GRU_ORDER = (1, 0, 2)          # Keras blocks z, r, h -> canonical r, z, n


def _swap_zr(blocks: np.ndarray, hidden_size: int) -> np.ndarray:
    return reorder_gates(blocks, GRU_ORDER, hidden_size)


def _transposed(kernel: Any, name: str) -> np.ndarray:
    array = to_numpy(kernel)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got shape {array.shape}")
    return array.T


def _check_gate_columns(kind: str, gates: int, weight_ih: np.ndarray,
                        weight_hh: np.ndarray) -> int:
    """Check the Keras kernels' columns (rows once transposed) against
    ``gates * units``, naming the arrays as the caller passed them; returns units."""
    hidden_size = weight_hh.shape[1]
    for name, weight in (("kernel", weight_ih), ("recurrent_kernel", weight_hh)):
        if weight.shape[0] != gates * hidden_size:
            raise ValueError(f"{kind} {name}: expected {gates * hidden_size} columns "
                             f"({gates} * units) for units={hidden_size} (the rows of "
                             f"recurrent_kernel), got {weight.shape[0]}")
    return hidden_size


def lstm_weights(kernel: Any, recurrent_kernel: Any, bias: Any = None):
    """Keras LSTM (kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,)) ->
    (weight_ih, weight_hh, bias_ih, bias_hh) in canonical layout."""
    weight_ih = _transposed(kernel, "LSTM kernel")
    weight_hh = _transposed(recurrent_kernel, "LSTM recurrent_kernel")
    _check_gate_columns("LSTM", 4, weight_ih, weight_hh)
    return weight_ih, weight_hh, to_numpy(bias), None


def gru_weights(kernel: Any, recurrent_kernel: Any, bias: Any = None, reset_after: bool = True):
    """Keras GRU (kernel (I, 3H), recurrent_kernel (H, 3H), bias (2, 3H) when
    reset_after else (3H,)) -> (weight_ih, weight_hh, bias_ih, bias_hh)."""
    weight_ih = _transposed(kernel, "GRU kernel")
    weight_hh = _transposed(recurrent_kernel, "GRU recurrent_kernel")
    hidden_size = _check_gate_columns("GRU", 3, weight_ih, weight_hh)
    bias_ih = bias_hh = None
    if bias is not None:
        bias = to_numpy(bias)
        expected = (2, 3 * hidden_size) if reset_after else (3 * hidden_size,)
        if bias.shape != expected:
            raise ValueError(f"GRU bias with reset_after={reset_after}: expected shape "
                             f"{expected}, got {bias.shape}")
        if reset_after:
            bias_ih, bias_hh = _swap_zr(bias[0], hidden_size), _swap_zr(bias[1], hidden_size)
        else:
            bias_ih = _swap_zr(bias, hidden_size)
    return _swap_zr(weight_ih, hidden_size), _swap_zr(weight_hh, hidden_size), bias_ih, bias_hh


def simple_rnn_weights(kernel: Any, recurrent_kernel: Any, bias: Any = None):
    """Keras SimpleRNN (kernel (I, H), recurrent_kernel (H, H), bias (H,)) ->
    (weight_ih, weight_hh, bias_ih, bias_hh)."""
    weight_ih = _transposed(kernel, "SimpleRNN kernel")
    weight_hh = _transposed(recurrent_kernel, "SimpleRNN recurrent_kernel")
    _check_gate_columns("SimpleRNN", 1, weight_ih, weight_hh)
    return weight_ih, weight_hh, to_numpy(bias), None


def dense_weights(kernel: Any, bias: Any = None):
    """Keras Dense (kernel (I, O), bias (O,)) -> (weight (O, I), bias)."""
    return _transposed(kernel, "Dense kernel"), to_numpy(bias)


def conv_weight(kernel: np.ndarray) -> np.ndarray:
    """Keras Conv1D ``kernel (K, C_in / groups, C_out)`` -> ``(C_out, C_in / groups, K)``."""
    return np.ascontiguousarray(kernel.transpose(2, 1, 0))


def depthwise_weight(kernel: np.ndarray) -> np.ndarray:
    """Keras DepthwiseConv1D ``kernel (K, C, M)`` -> ``(C * M, 1, K)`` (groups = C)."""
    size, channels, multiplier = kernel.shape
    return np.ascontiguousarray(kernel.transpose(1, 2, 0).reshape(channels * multiplier, 1, size))


# --- the layers' Keras constructors ------------------------------------------

def _lstm_from_keras(cls, kernel: Any, recurrent_kernel: Any, bias: Any = None, *,
                     return_sequences: bool = True, go_backwards: bool = False) -> LSTM:
    """From Keras' ``kernel (I, 4H)``, ``recurrent_kernel (H, 4H)``, ``bias (4H,)``."""
    return cls(*lstm_weights(kernel, recurrent_kernel, bias),
               return_sequences=return_sequences, go_backwards=go_backwards)


def _gru_from_keras(cls, kernel: Any, recurrent_kernel: Any, bias: Any = None,
                    reset_after: bool = True, *, return_sequences: bool = True,
                    go_backwards: bool = False) -> GRU:
    """From Keras' ``kernel (I, 3H)``, ``recurrent_kernel (H, 3H)`` (gate order
    z, r, h) and ``bias``: (2, 3H) when ``reset_after``, else (3H,)."""
    return cls(*gru_weights(kernel, recurrent_kernel, bias, reset_after),
               reset_after=reset_after, return_sequences=return_sequences,
               go_backwards=go_backwards)


def _simple_rnn_from_keras(cls, kernel: Any, recurrent_kernel: Any, bias: Any = None, *,
                           activation: str = "tanh", return_sequences: bool = True,
                           go_backwards: bool = False) -> SimpleRNN:
    """From Keras' ``kernel (I, H)``, ``recurrent_kernel (H, H)``, ``bias (H,)``."""
    return cls(*simple_rnn_weights(kernel, recurrent_kernel, bias), activation=activation,
               return_sequences=return_sequences, go_backwards=go_backwards)


def _dense_from_keras(cls, kernel: Any, bias: Any = None,
                      activation: str | None = None) -> Dense:
    """From Keras' ``kernel (I, O)`` and ``bias (O,)``."""
    return cls(*dense_weights(kernel, bias), activation)


LSTM.from_keras = classmethod(_lstm_from_keras)
GRU.from_keras = classmethod(_gru_from_keras)
SimpleRNN.from_keras = classmethod(_simple_rnn_from_keras)
Dense.from_keras = classmethod(_dense_from_keras)
