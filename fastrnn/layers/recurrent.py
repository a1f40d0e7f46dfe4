"""Recurrent layers: LSTM, GRU, SimpleRNN and Bidirectional, weights in
fastrnn's canonical (PyTorch) layout, checked on construction.

Layers know no framework: the importers (fastrnn.io) convert other layouts,
and attach the ``from_keras`` constructors (fastrnn.io.keras) to these
classes. Recurrent layers return sequences by default
(``return_sequences=True``), here and in fastrnn.train.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._engine import MERGE_MODES as MERGE_CODES
from .base import Layer, as_float32, check_shape

MERGE_MODES = tuple(MERGE_CODES)


class _Recurrent(Layer):
    gates: int
    kind: str
    recurrent = True

    def __init__(self, weight_ih: Any, weight_hh: Any, bias_ih: Any = None,
                 bias_hh: Any = None, *, return_sequences: bool = True,
                 go_backwards: bool = False):
        kind = self.kind
        self.weight_hh = as_float32(weight_hh, f"{kind} weight_hh", 2)
        self.hidden_size = hidden = self.weight_hh.shape[1]
        self.weight_ih = as_float32(weight_ih, f"{kind} weight_ih", 2)
        self.input_size = self.weight_ih.shape[1]
        gates = self.gates
        check_shape(self.weight_ih, (gates * hidden, self.input_size), f"{kind} weight_ih",
                     f"({gates} * hidden_size, input_size) with hidden_size {hidden} "
                     "from weight_hh")
        check_shape(self.weight_hh, (gates * hidden, hidden), f"{kind} weight_hh",
                     f"({gates} * hidden_size, hidden_size)")
        self.bias_ih = self.bias_hh = None
        for name, value in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
            if value is not None:
                bias = as_float32(value, f"{kind} {name}", 1)
                check_shape(bias, (gates * hidden,), f"{kind} {name}", f"({gates} * hidden_size,)")
                setattr(self, name, bias)
        self.return_sequences = bool(return_sequences)
        self.go_backwards = bool(go_backwards)
        self.output_size = hidden

    def output_features(self, *features: int) -> int:
        if features[0] != self.input_size:
            raise ValueError(f"{self!r} takes {self.input_size} features per frame, got "
                             f"{features[0]}")
        return self.hidden_size

    def weights(self) -> list:
        return [self.weight_ih, self.weight_hh]

    def __repr__(self) -> str:
        backwards = ", go_backwards=True" if self.go_backwards else ""
        return (f"{type(self).__name__}(input_size={self.input_size}, "
                f"hidden_size={self.hidden_size}, return_sequences={self.return_sequences}"
                f"{backwards})")

    @classmethod
    def from_torch(cls, weight_ih: Any, weight_hh: Any, bias_ih: Any = None,
                   bias_hh: Any = None, *, return_sequences: bool = True):
        """From PyTorch's ``weight_ih_l0 (G*H, I)``, ``weight_hh_l0 (G*H, H)``,
        ``bias_ih_l0``, ``bias_hh_l0`` (tensors or arrays)."""
        return cls(weight_ih, weight_hh, bias_ih, bias_hh, return_sequences=return_sequences)


class LSTM(_Recurrent):
    """LSTM layer, PyTorch equations and gate order (i, f, g, o).

    ``LSTM.from_keras(kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,))``
    (fastrnn.io.keras) takes Keras' arrays.

    ``i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)``, likewise f and o;
    ``g = tanh(W_ig x + b_ig + W_hg h + b_hg)``; ``c' = f * c + i * g``;
    ``h' = o * tanh(c')``.

    Parameters
    ----------
    weight_ih : array (4 * hidden_size, input_size)
    weight_hh : array (4 * hidden_size, hidden_size)
    bias_ih, bias_hh : array (4 * hidden_size,), optional (zero)
    return_sequences : bool
        False: the layer outputs only its last step (Keras semantics).
    go_backwards : bool
        Keras' option: read each sequence from its last step to its first and
        output the steps in that order. Such a model predicts whole sequences
        only. (Every recurrent layer takes it.)
    """

    gates = 4
    kind = "LSTM"
    state = ("h", "c")

    def _add_to(self, engine, tensors: list) -> int:
        return engine.add_lstm(tensors[0], self.weight_ih, self.weight_hh, self.bias_ih,
                               self.bias_hh, self.return_sequences, self.go_backwards)


class GRU(_Recurrent):
    """GRU layer, gate order (r, z, n).

    ``GRU.from_keras(kernel (I, 3H), recurrent_kernel (H, 3H), bias,
    reset_after=True)`` (fastrnn.io.keras) takes Keras' arrays, gate order
    z, r, h.

    ``r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)``, likewise z;
    ``reset_after=True`` (PyTorch, Keras default):
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``;
    ``reset_after=False`` (Keras option, ONNX default):
    ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``;
    ``h' = (1 - z) * n + z * h``.

    Parameters
    ----------
    weight_ih : array (3 * hidden_size, input_size)
    weight_hh : array (3 * hidden_size, hidden_size)
    bias_ih, bias_hh : array (3 * hidden_size,), optional (zero)
    reset_after : bool
    return_sequences : bool
    """

    gates = 3
    kind = "GRU"
    state = ("h",)

    def __init__(self, weight_ih: Any, weight_hh: Any, bias_ih: Any = None,
                 bias_hh: Any = None, *, reset_after: bool = True,
                 return_sequences: bool = True, go_backwards: bool = False):
        super().__init__(weight_ih, weight_hh, bias_ih, bias_hh,
                         return_sequences=return_sequences, go_backwards=go_backwards)
        self.reset_after = bool(reset_after)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", reset_after={self.reset_after})"

    def _add_to(self, engine, tensors: list) -> int:
        return engine.add_gru(tensors[0], self.weight_ih, self.weight_hh, self.bias_ih,
                              self.bias_hh, self.reset_after, self.return_sequences,
                              self.go_backwards)


class SimpleRNN(_Recurrent):
    """Simple (Elman) recurrent layer, as ``nn.RNN`` and Keras ``SimpleRNN``.

    ``SimpleRNN.from_keras(kernel (I, H), recurrent_kernel (H, H), bias (H,))``
    (fastrnn.io.keras) takes Keras' arrays.

    ``h' = activation(W_ih x + b_ih + W_hh h + b_hh)``

    Parameters
    ----------
    weight_ih : array (hidden_size, input_size)
    weight_hh : array (hidden_size, hidden_size)
    bias_ih, bias_hh : array (hidden_size,), optional (zero)
    activation : "tanh" or "relu"
    return_sequences : bool
    """

    gates = 1
    kind = "SimpleRNN"
    state = ("h",)

    def __init__(self, weight_ih: Any, weight_hh: Any, bias_ih: Any = None,
                 bias_hh: Any = None, *, activation: str = "tanh",
                 return_sequences: bool = True, go_backwards: bool = False):
        super().__init__(weight_ih, weight_hh, bias_ih, bias_hh,
                         return_sequences=return_sequences, go_backwards=go_backwards)
        if activation not in ("tanh", "relu"):
            raise ValueError(f"SimpleRNN activation: expected 'tanh' or 'relu', got {activation!r}")
        self.activation = activation

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", activation={self.activation!r})"

    @classmethod
    def from_torch(cls, weight_ih: Any, weight_hh: Any, bias_ih: Any = None,
                   bias_hh: Any = None, *, activation: str = "tanh",
                   return_sequences: bool = True) -> "SimpleRNN":
        """From ``nn.RNN``'s weights; activation is its ``nonlinearity``."""
        return cls(weight_ih, weight_hh, bias_ih, bias_hh, activation=activation,
                   return_sequences=return_sequences)

    def _add_to(self, engine, tensors: list) -> int:
        return engine.add_rnn(tensors[0], self.weight_ih, self.weight_hh, self.bias_ih,
                              self.bias_hh, self.activation, self.return_sequences,
                              self.go_backwards)


class Bidirectional(Layer):
    """A recurrent layer run forward and backward over the whole sequence,
    outputs merged (PyTorch ``bidirectional=True``, Keras ``Bidirectional``).

    The backward layer reads each sequence reversed (within its length, when
    ``predict`` gets lengths) and its outputs are put back in time order
    before merging. With ``return_sequences=False`` the layer returns the
    merge of the forward layer's last output and the backward layer's last
    output (its state after reading back to the first step), as Keras does.
    A model with a Bidirectional layer needs whole sequences: it predicts but
    does not stream.

    Parameters
    ----------
    forward, backward : LSTM, GRU or SimpleRNN
        Two layers of the same type, sizes and return_sequences.
    merge_mode : "concat", "sum", "mul" or "ave"
        "concat" gives 2 * hidden_size features (forward first).
    """

    MERGE_MODES = MERGE_MODES
    recurrent = True

    def __init__(self, forward: Layer, backward: Layer, merge_mode: str = "concat"):
        for name, layer in (("forward", forward), ("backward", backward)):
            if not isinstance(layer, _Recurrent):
                raise TypeError(f"Bidirectional {name}: expected an LSTM, GRU or SimpleRNN "
                                f"layer, got {type(layer).__name__}")
            if layer.go_backwards:
                raise ValueError(f"Bidirectional {name}: give the layer with go_backwards=False; "
                                 "Bidirectional reverses the backward direction itself")
        if (type(forward) is not type(backward) or forward.input_size != backward.input_size
                or forward.hidden_size != backward.hidden_size
                or forward.return_sequences != backward.return_sequences
                or getattr(forward, "reset_after", None) != getattr(backward, "reset_after", None)
                or getattr(forward, "activation", None) != getattr(backward, "activation", None)):
            raise ValueError(f"Bidirectional: the two directions must match, got {forward!r} "
                             f"and {backward!r}")
        if merge_mode not in self.MERGE_MODES:
            raise ValueError(f"Bidirectional merge_mode: expected one of {self.MERGE_MODES}, "
                             f"got {merge_mode!r}")
        self.forward, self.backward, self.merge_mode = forward, backward, merge_mode
        self.input_size = forward.input_size
        self.hidden_size = forward.hidden_size
        self.output_size = 2 * self.hidden_size if merge_mode == "concat" else self.hidden_size
        self.return_sequences = forward.return_sequences
        self.state = tuple(f"{direction}.{part}" for direction in ("forward", "backward")
                           for part in forward.state)

    def __repr__(self) -> str:
        return f"Bidirectional({self.forward!r}, merge_mode={self.merge_mode!r})"

    def weights(self) -> list:
        return self.forward.weights() + self.backward.weights()

    def output_features(self, *features: int) -> int:
        self.forward.output_features(*features)
        return self.output_size

    def _add_to(self, engine, tensors: list) -> int:
        output = self.forward._add_to(engine, tensors)
        backward = self.backward
        engine.make_bidirectional(output, backward.weight_ih, backward.weight_hh,
                                  backward.bias_ih, backward.bias_hh, self.merge_mode)
        return output

    def merge(self, forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
        return merge_directions(self.merge_mode, forward, backward)


def merge_directions(merge_mode: str, forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """The two directions' outputs merged along the last axis: "concat"
    (forward first), "sum", "mul" or "ave"."""
    if merge_mode == "concat":
        return np.concatenate([forward, backward], axis=-1)
    if merge_mode == "sum":
        return forward + backward
    if merge_mode == "mul":
        return forward * backward
    return (forward + backward) / 2


# The recurrent layer types by the name files and importers use for them
# (their gate counts are the classes' `gates`).
RECURRENT_LAYERS = {cls.kind: cls for cls in (LSTM, GRU, SimpleRNN)}
