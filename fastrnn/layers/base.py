"""What every layer shares: weights checked into float32, the symbolic
tensors a model is built from, and the Layer interface.

A layer is called on tensors to make a node of a graph, as in Keras'
functional API::

    x = fastrnn.Input(40)
    h = fastrnn.LSTM(w_ih, w_hh, b_ih, b_hh)(x)
    y = fastrnn.Dense(w, b, activation="softmax")(h)
    model = fastrnn.Model(x, y)

Calling a layer checks that the tensors fit it and records the node; it
computes nothing. ``fastrnn.Model`` packs every layer for the C engine once.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(tensor: Any) -> np.ndarray | None:
    """A tensor (including one that requires grad, or on another device), or any
    array-like, as a NumPy array; None stays None."""
    if tensor is None:
        return None
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().cpu()
    return np.asarray(tensor)


def as_float32(array: Any, name: str, ndim: int) -> np.ndarray:
    """A C-contiguous float32 copy of a real-valued, finite, non-empty array of
    `ndim` dims."""
    array = to_numpy(array)
    if array.dtype.kind not in "fiu" or array.dtype == np.bool_:
        raise TypeError(f"{name}: expected a real-valued array, got dtype {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {array.shape}")
    if 0 in array.shape:
        raise ValueError(f"{name}: expected every size >= 1 (a layer needs inputs and "
                         f"units), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: contains NaN or infinity")
    return np.array(array, dtype=np.float32, order="C", copy=True)


def optional_vector(array: Any, name: str, size: int) -> np.ndarray | None:
    """as_float32 of a (size,) vector, or None."""
    if array is None:
        return None
    vector = as_float32(array, name, 1)
    check_shape(vector, (size,), name, f"({size},)")
    return vector


def check_shape(array: np.ndarray, expected: tuple, name: str, meaning: str) -> None:
    if array.shape != expected:
        raise ValueError(f"{name}: expected shape {expected} = {meaning}, got {array.shape}")


class Tensor:
    """A symbolic sequence of frames of `features` floats: a model input
    (``fastrnn.Input``) or what a layer makes when called. `node` is the
    Node that makes it (None for an input)."""

    def __init__(self, features: int, node: "Node | None" = None, name: str | None = None):
        self.features, self.node, self.name = features, node, name

    def __repr__(self) -> str:
        made = f" from {self.node.layer!r}" if self.node is not None else " (input)"
        return f"Tensor(features={self.features}{made})"


def Input(features: int, name: str | None = None) -> Tensor:
    """A model input: frames of `features` floats (e.g. feature bands)."""
    if isinstance(features, bool) or not isinstance(features, (int, np.integer)) \
            or features < 1:
        raise ValueError(f"Input features: expected an integer >= 1, got {features!r}")
    return Tensor(int(features), None, name)


class Node:
    """One use of a layer in a graph: the tensors it reads and the one it makes."""

    def __init__(self, layer: "Layer", inputs: list):
        self.layer, self.inputs = layer, inputs
        self.output = Tensor(layer.output_features(*[t.features for t in inputs]), self)


class Layer:
    """Base of all layers: called on tensors, it makes a node of a graph.

    Subclasses give ``output_features(*input_features)`` (checking that the
    inputs fit) and ``_add_to(engine, tensors)``, which adds the layer to a
    ``fastrnn._engine.Model`` reading the engine tensors `tensors` and
    returns the engine tensor it makes. ``state`` names the arrays the
    engine keeps for the layer between runs. ``num_inputs`` is the number of
    tensors the layer reads (None: any number, a concatenation).
    """

    input_size: int | None = None
    return_sequences: bool = True
    recurrent: bool = False
    state: tuple = ()
    num_inputs: int | None = 1
    name: str | None = None

    def __call__(self, *inputs) -> Tensor:
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = tuple(inputs[0])
        for tensor in inputs:
            if not isinstance(tensor, Tensor):
                raise TypeError(f"{self!r}: expected fastrnn tensors (fastrnn.Input or a "
                                f"layer's output), got {type(tensor).__name__}")
        if self.num_inputs is not None and len(inputs) != self.num_inputs:
            raise ValueError(f"{self!r}: expected {self.num_inputs} input tensor(s), got "
                             f"{len(inputs)}")
        return Node(self, list(inputs)).output

    def output_features(self, *features: int) -> int:
        """The features this layer makes from inputs of `features`; ValueError
        if they do not fit it."""
        if self.input_size is not None and features[0] != self.input_size:
            raise ValueError(f"{self!r} takes {self.input_size} features per frame, got "
                             f"{features[0]}")
        return self.output_size

    def weights(self) -> list:
        """The layer's weight arrays (not biases), canonical layout."""
        return []

    def state_names(self, parts: list) -> tuple:
        """The names of the state parts the engine keeps for this layer, given
        as [(kind, input)] (``fastrnn._engine.Model.part_kinds``): ``state``,
        whose length the engine's count must match."""
        if len(parts) != len(self.state):
            raise RuntimeError(f"{self!r}: the engine keeps {len(parts)} state parts, the "
                               f"layer names {len(self.state)} ({self.state})")
        return self.state

    def _add_to(self, engine, tensors: list) -> int:
        raise NotImplementedError


def ends_sequence(layer: Layer) -> bool:
    """True if the layer makes one frame per sequence (a recurrent layer with
    return_sequences=False, a global pool)."""
    return not layer.return_sequences
