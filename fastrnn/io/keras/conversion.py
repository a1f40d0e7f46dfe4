"""What a conversion of a Keras model carries from layer to layer: the
Values (fastrnn tensors with how Keras holds them), the RecurrentStates a
layer returns, the Calls of the layers, and the Conversion (the fastrnn
layers made so far, their names, the weights read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...layers import Tensor


@dataclass
class Value:
    """A Keras tensor as fastrnn computes it: `tensor`, and how Keras holds
    it: ``channels_first`` (batch, channels, time), ``sequence`` False for
    (batch, features)."""

    tensor: Tensor
    channels_first: bool = False
    sequence: bool = True

    def feature_axes(self) -> tuple:
        """The axes (positive and negative) Keras calls this tensor's features."""
        if not self.sequence:
            return (1, -1)
        return (1, -2) if self.channels_first else (2, -1)


@dataclass
class RecurrentState:
    """A recurrent layer's returned state `part` ("h", "c"): the stream's
    state, not a tensor of the model. `last_output` is the Value equal to it
    (a layer returning only its last step outputs its h)."""

    layer: str
    part: str
    last_output: Value | None = None


@dataclass
class Call:
    """One call of a Keras layer: its class, name and config, which call of
    the layer it is (0 unless shared), and the tensors it reads, as
    (layer name, call, output index)."""

    kind: str
    name: str
    config: dict
    index: int = 0
    inputs: list = field(default_factory=list)
    input_shapes: list = field(default_factory=list)    # Keras' static shapes, when known

    @property
    def where(self) -> str:
        return f"{self.kind} {self.name!r}"


class Conversion:
    """The fastrnn layers made so far: their names (Keras', unique), the
    weights read (once per layer), and a leading Masking's value.

    Parameters
    ----------
    weights : files.LiveWeights or files.FileWeights
    """

    def __init__(self, weights: Any):
        self.source = weights
        self.names: dict = {}          # id(fastrnn node) -> layer name
        self.mask_value: float | None = None
        self._read: dict = {}
        self._taken: set = set()

    def weights(self, call: Call, expected: list) -> list:
        """The arrays of the layer `call` is a call of, checked against
        `expected` [(label, shape)]."""
        if call.name not in self._read:
            self._read[call.name] = self.source.arrays(call.name, expected, call.where)
        return self._read[call.name]

    def add(self, layer: Any, inputs: list, name: str) -> Tensor:
        """layer(*inputs), its node named `name` (made unique)."""
        output = layer(*[value.tensor if isinstance(value, Value) else value
                         for value in inputs])
        unique, number = name, 0
        while unique in self._taken:
            number += 1
            unique = f"{name}_{number}"
        self._taken.add(unique)
        self.names[id(output.node)] = unique
        return output
