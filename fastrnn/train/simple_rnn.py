"""Trainable SimpleRNN (Elman), forward and backward through time.

    h_t = activation(W_ih x_t + b + W_hh h_{t-1})      activation: tanh or relu
"""

import numpy as np

from .. import layers as engine_layers
from .recurrent import Recurrent, carry, step_mask

RNN_ACTIVATIONS = ("tanh", "relu")


class SimpleRNN(Recurrent):
    """Fully-connected recurrent layer (Keras ``SimpleRNN``, ``nn.RNN``).

    Parameters
    ----------
    units : int
    activation : "tanh" or "relu"
    return_sequences : bool
        Output every step (T, B, H), the default as in the engine's layers, or
        only the last real one (B, H).
    """

    gates = 1

    def __init__(self, units: int, *, activation: str = "tanh",
                 return_sequences: bool = True) -> None:
        super().__init__(units, return_sequences=return_sequences)
        if activation not in RNN_ACTIVATIONS:
            raise ValueError(f"SimpleRNN activation: expected one of {RNN_ACTIVATIONS}, "
                             f"got {activation!r}")
        self.activation = activation

    def config(self) -> dict:
        return {**super().config(), "activation": self.activation}

    def _recurrence(self, xp, mask):
        h_states, outputs = self._states(xp, mask)
        recurrent_t = self.params["weight_hh"].T
        for t in range(xp.shape[0]):
            a = xp[t]
            a += h_states[t] @ recurrent_t
            h_new = np.tanh(a, out=a) if self.activation == "tanh" else np.maximum(a, 0, out=a)
            m = step_mask(mask, t)
            if m is not None:
                np.multiply(h_new, m, out=outputs[t])
            h_states[t + 1] = carry(m, h_new, h_states[t])
        self.gate_values = xp
        return outputs, h_states[-1]

    def _recurrence_backward(self, d_outputs, d_last):
        values, mask = self.gate_values, self.mask
        weight_hh = self.params["weight_hh"]
        steps, batch, _ = values.shape
        dxp = np.empty_like(values)
        dh = self._d_state(d_last, batch, values.dtype)
        for t in reversed(range(steps)):
            h_new = values[t]
            dh_t = dh if d_outputs is None else dh + d_outputs[t]
            if self.activation == "tanh":
                np.multiply(dh_t, 1 - h_new * h_new, out=dxp[t])
            else:
                np.multiply(dh_t, h_new > 0, out=dxp[t])
            m = step_mask(mask, t)
            if m is not None:
                dxp[t] *= m
            dh = carry(m, dxp[t] @ weight_hh, dh)
        self.grads["weight_hh"] = self._weight_hh_gradient(dxp)
        return dxp

    def inference_layer(self):
        p = self.params
        return engine_layers.SimpleRNN(p["weight_ih"], p["weight_hh"], p["bias_ih"],
                                       activation=self.activation,
                                       return_sequences=self.return_sequences)
