"""Dense: a matrix product per frame, with its activation fused."""

from __future__ import annotations

from typing import Any

from .._engine import ACTIVATIONS as ACTIVATION_CODES
from .base import Layer, as_float32, check_shape

ACTIVATIONS = tuple(ACTIVATION_CODES)


class Dense(Layer):
    """``y = activation(W x + b)`` applied to every step.

    ``Dense.from_keras(kernel (I, O), bias (O,), activation)`` (fastrnn.io.keras)
    takes Keras' arrays.

    Parameters
    ----------
    weight : array (output_size, input_size)
    bias : array (output_size,), optional (zero)
    activation : None or one of "linear", "relu", "tanh", "sigmoid", "elu"
        (alpha 1), "softmax" (over the output features)
    """

    def __init__(self, weight: Any, bias: Any = None, activation: str | None = None):
        self.weight = as_float32(weight, "Dense weight", 2)
        self.output_size, self.input_size = self.weight.shape
        self.bias = None
        if bias is not None:
            self.bias = as_float32(bias, "Dense bias", 1)
            check_shape(self.bias, (self.output_size,), "Dense bias", "(output_size,)")
        activation = "linear" if activation is None else activation
        if activation not in ACTIVATIONS:
            raise ValueError(f"Dense activation: expected None or one of {ACTIVATIONS}, "
                             f"got {activation!r}")
        self.activation = activation

    def weights(self) -> list:
        return [self.weight]

    def __repr__(self) -> str:
        return (f"Dense(input_size={self.input_size}, output_size={self.output_size}, "
                f"activation={self.activation!r})")

    @classmethod
    def from_torch(cls, weight: Any, bias: Any = None, activation: str | None = None) -> "Dense":
        """From ``nn.Linear``'s ``weight (O, I)`` and ``bias (O,)``."""
        return cls(weight, bias, activation)

    def _add_to(self, engine, tensors: list) -> int:
        return engine.add_dense(tensors[0], self.weight, self.bias, self.activation)
