"""Trainable LSTM, forward and backward through time (gate order i, f, g, o).

    a = W_ih x_t + b + W_hh h_{t-1}            (4H: i, f, g, o pre-activations)
    i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)
"""

import numpy as np

from .. import layers as engine_layers
from .activations import sigmoid
from .recurrent import Recurrent


class LSTM(Recurrent):
    """Long short-term memory layer (Keras ``LSTM``: glorot_uniform kernel,
    orthogonal recurrent kernel, zero bias with the forget gate's at 1).

    Parameters
    ----------
    units : int
        Hidden size H.
    return_sequences : bool
        Output every step (T, B, H), the default as in the engine's layers, or
        only the last real one (B, H).
    """

    gates = 4

    def build(self, input_size: int, rng: np.random.Generator, dtype) -> None:
        super().build(input_size, rng, dtype)
        self.params["bias_ih"][self.units:2 * self.units] = 1.0

    def _recurrence(self, xp, mask):
        forward, _ = self.pointwise_steps()
        recurrent_t = np.ascontiguousarray(self.params["weight_hh"].T)
        h_states, outputs = self._states(xp, mask)
        self.c_states = c_states = np.zeros_like(h_states)
        self.tanh_c = np.empty_like(h_states[1:])
        for t in range(xp.shape[0]):
            a = xp[t]
            a += h_states[t] @ recurrent_t
            forward(a, c_states[t], h_states[t], c_states[t + 1], self.tanh_c[t],
                    h_states[t + 1], outputs[t], None if mask is None else mask[t])
        self.gate_values = xp
        return outputs, h_states[-1]

    def _recurrence_backward(self, d_outputs, d_last):
        gates, mask = self.gate_values, self.mask
        steps, batch, _ = gates.shape
        _, backward = self.pointwise_steps()
        weight_hh = self.params["weight_hh"]
        dxp = np.empty_like(gates)
        dh = self._d_state(d_last, batch, gates.dtype)
        dc = np.zeros_like(dh)
        for t in reversed(range(steps)):
            mask_t = None if mask is None else mask[t]
            backward(gates[t], self.c_states[t], self.tanh_c[t], dh,
                     None if d_outputs is None else d_outputs[t], dc, dxp[t], mask_t)
            dh_prev = dxp[t] @ weight_hh
            if mask_t is not None:
                np.copyto(dh_prev, dh, where=~mask_t[:, np.newaxis])
            dh = dh_prev
        self.grads["weight_hh"] = self._weight_hh_gradient(dxp)
        return dxp

    def inference_layer(self):
        p = self.params
        return engine_layers.LSTM(p["weight_ih"], p["weight_hh"], p["bias_ih"],
                                  return_sequences=self.return_sequences)


def forward_step(gates, c_prev, h_prev, c, tanh_c, h, out, mask) -> None:
    """The pointwise part of a step, in place (NumPy; csrc/train.c is the
    float32 version): gates (B, 4H) pre-activations become i, f, g, o;
    c, tanh_c, h, out (B, H) are written. Padded rows (mask False) keep
    c_prev and h_prev and output zeros."""
    H = c.shape[1]
    gates[:, :2 * H] = sigmoid(gates[:, :2 * H])
    gates[:, 2 * H:3 * H] = np.tanh(gates[:, 2 * H:3 * H])
    gates[:, 3 * H:] = sigmoid(gates[:, 3 * H:])
    i, f, g, o = (gates[:, k * H:(k + 1) * H] for k in range(4))
    c[:] = f * c_prev + i * g
    np.tanh(c, out=tanh_c)
    h[:] = o * tanh_c
    out[:] = h
    if mask is not None:
        padded = ~mask[:, np.newaxis]
        np.copyto(c, c_prev, where=padded)
        np.copyto(h, h_prev, where=padded)
        np.copyto(out, 0, where=padded)


def backward_step(gates, c_prev, tanh_c, dh, d_out, dc, da, mask) -> None:
    """The pointwise part of a step backward (NumPy; csrc/train.c is the
    float32 version): writes da (B, 4H) = dL/d(pre-activations) and replaces
    dc (B, H) = dL/dc_t by dL/dc_{t-1}. Padded rows: da = 0, dc unchanged."""
    H = dc.shape[1]
    i, f, g, o = (gates[:, k * H:(k + 1) * H] for k in range(4))
    dh_t = dh if d_out is None else dh + d_out
    dc_t = dc + dh_t * o * (1 - tanh_c * tanh_c)
    da[:, :H] = dc_t * g * i * (1 - i)
    da[:, H:2 * H] = dc_t * c_prev * f * (1 - f)
    da[:, 2 * H:3 * H] = dc_t * i * (1 - g * g)
    da[:, 3 * H:] = dh_t * tanh_c * o * (1 - o)
    dc_new = dc_t * f
    if mask is not None:
        da *= mask[:, np.newaxis]
        np.copyto(dc_new, dc, where=~mask[:, np.newaxis])
    dc[:] = dc_new


LSTM.NUMPY_STEPS = (forward_step, backward_step)
LSTM.KERNEL_STEPS = ("lstm_forward", "lstm_backward")
