"""Keras 3 layouts, converted to fastrnn's canonical (PyTorch) layout.

Keras stores ``kernel (I, G*H)`` and ``recurrent_kernel (H, G*H)`` (inputs
along rows, so transposed relative to PyTorch), and:

- LSTM: gate order i, f, c, o (= canonical i, f, g, o); one bias (4H,).
- GRU: gate order z, r, h, canonical is r, z, n: the first two gate blocks
  swap (``swap_zr``). With ``reset_after=True`` the bias is (2, 3H): row 0
  is the input bias, row 1 the recurrent bias; with ``reset_after=False`` it
  is one input bias (3H,).
- SimpleRNN: no gates; one bias (H,).
- Dense: ``kernel (I, O)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .torch import to_numpy


def swap_zr(blocks: np.ndarray, hidden_size: int) -> np.ndarray:
    """Reorder GRU gate blocks along axis 0 from Keras z, r, h to r, z, n."""
    z, r, n = (blocks[i * hidden_size:(i + 1) * hidden_size] for i in range(3))
    return np.concatenate([r, z, n], axis=0)


def _transposed(kernel: Any, name: str) -> np.ndarray:
    array = to_numpy(kernel)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got shape {array.shape}")
    return array.T


def lstm_weights(kernel: Any, recurrent_kernel: Any, bias: Any = None):
    """Keras LSTM (kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,)) ->
    (weight_ih, weight_hh, bias_ih, bias_hh) in canonical layout."""
    weight_ih = _transposed(kernel, "LSTM kernel")
    weight_hh = _transposed(recurrent_kernel, "LSTM recurrent_kernel")
    return weight_ih, weight_hh, to_numpy(bias), None


def gru_weights(kernel: Any, recurrent_kernel: Any, bias: Any = None, reset_after: bool = True):
    """Keras GRU (kernel (I, 3H), recurrent_kernel (H, 3H), bias (2, 3H) when
    reset_after else (3H,)) -> (weight_ih, weight_hh, bias_ih, bias_hh)."""
    weight_ih = _transposed(kernel, "GRU kernel")
    weight_hh = _transposed(recurrent_kernel, "GRU recurrent_kernel")
    hidden_size = weight_hh.shape[1]
    for name, w in (("GRU kernel", weight_ih), ("GRU recurrent_kernel", weight_hh)):
        if w.shape[0] != 3 * hidden_size:
            raise ValueError(f"{name}: expected {3 * hidden_size} columns (3 * units) for "
                             f"units={hidden_size}, got {w.shape[0]}")
    bias_ih = bias_hh = None
    if bias is not None:
        bias = to_numpy(bias)
        expected = (2, 3 * hidden_size) if reset_after else (3 * hidden_size,)
        if bias.shape != expected:
            raise ValueError(f"GRU bias with reset_after={reset_after}: expected shape "
                             f"{expected}, got {bias.shape}")
        if reset_after:
            bias_ih, bias_hh = swap_zr(bias[0], hidden_size), swap_zr(bias[1], hidden_size)
        else:
            bias_ih = swap_zr(bias, hidden_size)
    return swap_zr(weight_ih, hidden_size), swap_zr(weight_hh, hidden_size), bias_ih, bias_hh


def simple_rnn_weights(kernel: Any, recurrent_kernel: Any, bias: Any = None):
    """Keras SimpleRNN (kernel (I, H), recurrent_kernel (H, H), bias (H,)) ->
    (weight_ih, weight_hh, bias_ih, bias_hh)."""
    weight_ih = _transposed(kernel, "SimpleRNN kernel")
    weight_hh = _transposed(recurrent_kernel, "SimpleRNN recurrent_kernel")
    return weight_ih, weight_hh, to_numpy(bias), None


def dense_weights(kernel: Any, bias: Any = None):
    """Keras Dense (kernel (I, O), bias (O,)) -> (weight (O, I), bias)."""
    return _transposed(kernel, "Dense kernel"), to_numpy(bias)
