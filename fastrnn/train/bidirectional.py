"""A recurrent layer run over each sequence forward and backward, outputs
merged (Keras ``Bidirectional``, PyTorch ``bidirectional=True``).

The backward copy reads each sequence reversed within its own length (the
padding stays at the end), so padded batches give the same numbers as the
sequences one by one, and as the C engine's ``predict(x, lengths=...)``.
"""

import numpy as np

from .. import layers as engine_layers
from .layer import Layer
from .recurrent import Recurrent

MERGE_MODES = engine_layers.Bidirectional.MERGE_MODES


def reverse_within_lengths(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """x (T, B, ...) with steps 0..L_b-1 of each sequence b reversed; the
    mask (T, B) gives the lengths (real steps first, then padding)."""
    if mask is None:
        return x[::-1]
    steps = x.shape[0]
    lengths = mask.sum(axis=0)
    time = np.arange(steps)[:, np.newaxis]
    source = np.where(time < lengths, lengths - 1 - time, time)
    return x[source, np.arange(x.shape[1])]


class Bidirectional(Layer):
    """Parameters
    ----------
    layer : LSTM, GRU or SimpleRNN
        The forward direction; the backward one is a fresh layer of the same
        configuration, with its own weights.
    merge_mode : "concat" (forward first), "sum", "mul" or "ave"
    """

    def __init__(self, layer: Recurrent, merge_mode: str = "concat") -> None:
        super().__init__()
        if not isinstance(layer, Recurrent):
            raise TypeError(f"Bidirectional: expected an LSTM, GRU or SimpleRNN layer, got "
                            f"{type(layer).__name__}")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"Bidirectional merge_mode: expected one of {MERGE_MODES}, got "
                             f"{merge_mode!r}")
        self.forward_layer = layer
        self.backward_layer = type(layer)(**layer.config())
        self.merge_mode = merge_mode

    def config(self) -> dict:
        return {"layer": self.forward_layer, "merge_mode": self.merge_mode}

    def keeps_time_axis(self) -> bool:
        return self.forward_layer.return_sequences

    def build(self, input_size: int, rng: np.random.Generator, dtype) -> None:
        self.forward_layer.build(input_size, rng, dtype)
        self.backward_layer.build(input_size, rng, dtype)
        self._collect(self.params, "params")
        units = self.forward_layer.units
        self.input_size = input_size
        self.output_size = 2 * units if self.merge_mode == "concat" else units

    def _collect(self, target: dict, attribute: str) -> None:
        """params/grads of both directions as 'forward.<name>', 'backward.<name>'."""
        target.clear()
        for prefix, layer in (("forward", self.forward_layer), ("backward", self.backward_layer)):
            for name, value in getattr(layer, attribute).items():
                target[f"{prefix}.{name}"] = value

    def forward(self, x: np.ndarray, mask: np.ndarray | None, training: bool) -> np.ndarray:
        self.mask = mask
        sequences = self.forward_layer.return_sequences
        self.y_forward = self.forward_layer.forward(x, mask, training)
        y_backward = self.backward_layer.forward(reverse_within_lengths(x, mask), mask, training)
        self.y_backward = reverse_within_lengths(y_backward, mask) if sequences else y_backward
        return engine_layers.merge_directions(self.merge_mode, self.y_forward, self.y_backward)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        units = self.forward_layer.units
        if self.merge_mode == "concat":
            d_forward, d_backward = dy[..., :units], dy[..., units:]
        elif self.merge_mode == "sum":
            d_forward = d_backward = dy
        elif self.merge_mode == "mul":
            d_forward, d_backward = dy * self.y_backward, dy * self.y_forward
        else:
            d_forward = d_backward = dy / 2
        if self.forward_layer.return_sequences:
            d_backward = reverse_within_lengths(d_backward, self.mask)
        for layer in (self.forward_layer, self.backward_layer):
            layer.needs_input_grad = self.needs_input_grad
        dx = self.forward_layer.backward(np.ascontiguousarray(d_forward))
        dx_reversed = self.backward_layer.backward(np.ascontiguousarray(d_backward))
        self._collect(self.grads, "grads")
        if not self.needs_input_grad:
            return None
        return dx + reverse_within_lengths(dx_reversed, self.mask)

    def inference_layer(self):
        forward = self.forward_layer.inference_layer()
        backward = self.backward_layer.inference_layer()
        return engine_layers.Bidirectional(forward, backward, self.merge_mode)
