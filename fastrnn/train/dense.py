"""Trainable fully-connected layer: ``y = activation(W x + b)`` on the last
axis, for every step of a sequence or for (B, F) inputs."""

import numpy as np

from .. import layers as engine_layers
from . import activations, initializers
from .layer import Layer


class Dense(Layer):
    """Keras ``Dense`` (glorot_uniform kernel, zero bias).

    Parameters
    ----------
    units : int
        Output features O.
    activation : None or one of "linear", "relu", "tanh", "sigmoid", "elu",
        "softmax" (the C engine's activations).
    """

    def __init__(self, units: int, activation: str | None = None) -> None:
        super().__init__()
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense units: expected an integer >= 1, got {units!r}")
        activation = "linear" if activation is None else activation
        if activation not in activations.ACTIVATIONS:
            raise ValueError(f"Dense activation: expected None or one of "
                             f"{activations.ACTIVATIONS}, got {activation!r}")
        self.units, self.activation = int(units), activation

    def config(self) -> dict:
        return {"units": self.units, "activation": self.activation}

    def build(self, input_size: int, rng: np.random.Generator, dtype) -> None:
        self.params = {
            "weight": initializers.glorot_uniform(rng, (self.units, input_size), dtype),
            "bias": np.zeros(self.units, dtype),
        }
        self.input_size, self.output_size = input_size, self.units

    def forward(self, x: np.ndarray, mask: np.ndarray | None, training: bool) -> np.ndarray:
        self.x = x
        self.z = x @ self.params["weight"].T
        self.z += self.params["bias"]
        self.y = activations.forward(self.activation, self.z)
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.backward_from_preactivation(
            activations.backward(self.activation, dy, self.z, self.y))

    def backward_from_preactivation(self, dz: np.ndarray) -> np.ndarray:
        """dL/dx from dL/dz, z = W x + b (used when the loss takes the logits)."""
        flat_dz = dz.reshape(-1, self.units)
        self.grads["weight"] = flat_dz.T @ self.x.reshape(-1, self.input_size)
        self.grads["bias"] = flat_dz.sum(axis=0)
        if not self.needs_input_grad:
            return None
        return dz @ self.params["weight"]

    def inference_layer(self):
        return engine_layers.Dense(self.params["weight"], self.params["bias"], self.activation)
