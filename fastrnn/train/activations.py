"""The engine's activations, forward and backward, in NumPy.

``forward(z) -> y`` and ``backward(dy, z, y) -> dz`` for every activation the
C engine's Dense layer has (see csrc/dense.c): linear, relu, tanh, sigmoid,
elu (alpha 1) and softmax over the last axis.
"""

import numpy as np

from ..layers import ACTIVATIONS


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 / (1 + exp(-z)), written as 0.5 * tanh(z / 2) + 0.5 (no overflow)."""
    out = np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    """exp(z - max z) / sum exp(z - max z) over the last axis."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def forward(name: str, z: np.ndarray) -> np.ndarray:
    if name == "linear":
        return z
    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return sigmoid(z)
    if name == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    if name == "softmax":
        return softmax(z)
    raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {name!r}")


def backward(name: str, dy: np.ndarray, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dL/dz from dL/dy, the pre-activation z and the output y = forward(z)."""
    if name == "linear":
        return dy
    if name == "relu":
        return dy * (z > 0)
    if name == "tanh":
        return dy * (1 - y * y)
    if name == "sigmoid":
        return dy * y * (1 - y)
    if name == "elu":
        return dy * np.where(z > 0, 1, y + 1)
    if name == "softmax":
        return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
    raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {name!r}")
