"""Trainable GRU, forward and backward through time (gate order r, z, n).

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))      reset_after=True
    n = tanh(W_in x + b_in + W_hn (r * h))             reset_after=False
    h_t = (1 - z) * n + z * h_{t-1}
"""

import numpy as np

from .. import layers as engine_layers
from .activations import sigmoid
from .recurrent import Recurrent, carry, step_mask


class GRU(Recurrent):
    """Gated recurrent unit (Keras ``GRU``; ``reset_after=True`` is also
    PyTorch's). With reset_after=True the layer has a second bias,
    ``bias_hh``, inside the reset gate's product; with False the one bias
    suffices (Keras' ``bias (3H,)``).

    Parameters
    ----------
    units : int
    return_sequences : bool
        Output every step (T, B, H), the default as in the engine's layers, or
        only the last real one (B, H).
    reset_after : bool
    """

    gates = 3

    def __init__(self, units: int, *, return_sequences: bool = True,
                 reset_after: bool = True) -> None:
        super().__init__(units, return_sequences=return_sequences)
        self.reset_after = bool(reset_after)

    def config(self) -> dict:
        return {**super().config(), "reset_after": self.reset_after}

    def build(self, input_size: int, rng: np.random.Generator, dtype) -> None:
        super().build(input_size, rng, dtype)
        if self.reset_after:
            self.params["bias_hh"] = np.zeros(3 * self.units, dtype)

    def _recurrence(self, xp, mask):
        h_states, outputs = self._states(xp, mask)
        if self.reset_after:
            self._reset_after_forward(xp, mask, outputs)
        else:
            self._reset_before_forward(xp, mask, outputs)
        self.gate_values = xp
        return outputs, h_states[-1]

    def _reset_after_forward(self, xp, mask, outputs) -> None:
        forward, _ = self.pointwise_steps()
        recurrent_t = np.ascontiguousarray(self.params["weight_hh"].T)
        self.hidden_proj = np.empty_like(xp)                # W_hh h + b_hh, every step
        h_states = self.h_states
        for t in range(xp.shape[0]):
            hidden = np.matmul(h_states[t], recurrent_t, out=self.hidden_proj[t])
            hidden += self.params["bias_hh"]
            forward(xp[t], hidden, h_states[t], h_states[t + 1], outputs[t],
                    None if mask is None else mask[t])

    def _reset_before_forward(self, xp, mask, outputs) -> None:
        """n = tanh(W_in x + b_in + W_hn (r * h)): two products per step."""
        H = self.units
        weight_hh = self.params["weight_hh"]
        h_states = self.h_states
        self.reset_h = np.empty_like(h_states[1:])          # r * h, every step
        for t in range(xp.shape[0]):
            a, h = xp[t], h_states[t]
            a[:, :2 * H] += h @ weight_hh[:2 * H].T
            sigmoid(a[:, :2 * H], out=a[:, :2 * H])
            np.multiply(a[:, :H], h, out=self.reset_h[t])
            a[:, 2 * H:] += self.reset_h[t] @ weight_hh[2 * H:].T
            n = np.tanh(a[:, 2 * H:], out=a[:, 2 * H:])
            h_new = h - n
            h_new *= a[:, H:2 * H]
            h_new += n
            m = step_mask(mask, t)
            np.multiply(h_new, 1 if m is None else m, out=outputs[t])
            h_states[t + 1] = carry(m, h_new, h)

    def _recurrence_backward(self, d_outputs, d_last):
        gates = self.gate_values
        dh = self._d_state(d_last, gates.shape[1], gates.dtype)
        if self.reset_after:
            return self._reset_after_backward(d_outputs, dh)
        return self._reset_before_backward(d_outputs, dh)

    def _reset_after_backward(self, d_outputs, dh):
        gates, mask = self.gate_values, self.mask
        _, backward = self.pointwise_steps()
        weight_hh = self.params["weight_hh"]
        dxp, d_hidden = np.empty_like(gates), np.empty_like(gates)
        dh_direct = np.empty_like(dh)
        for t in reversed(range(gates.shape[0])):
            backward(gates[t], self.hidden_proj[t], self.h_states[t], dh,
                     None if d_outputs is None else d_outputs[t], dxp[t], d_hidden[t], dh_direct,
                     None if mask is None else mask[t])
            dh = dh_direct + d_hidden[t] @ weight_hh
        self.grads["weight_hh"] = self._weight_hh_gradient(d_hidden)
        self.grads["bias_hh"] = d_hidden.reshape(-1, d_hidden.shape[-1]).sum(axis=0)
        return dxp

    def _reset_before_backward(self, d_outputs, dh):
        H = self.units
        gates, mask = self.gate_values, self.mask
        weight_hh = self.params["weight_hh"]
        dxp = np.empty_like(gates)
        for t in reversed(range(gates.shape[0])):
            r, z, n = (gates[t, :, k * H:(k + 1) * H] for k in range(3))
            h_prev = self.h_states[t]
            dh_t = dh if d_outputs is None else dh + d_outputs[t]
            da = dxp[t]
            da_n = np.multiply(dh_t * (1 - z), 1 - n * n, out=da[:, 2 * H:])
            np.multiply(dh_t * (h_prev - n), z * (1 - z), out=da[:, H:2 * H])
            d_reset_h = da_n @ weight_hh[2 * H:]
            np.multiply(d_reset_h * h_prev, r * (1 - r), out=da[:, :H])
            m = step_mask(mask, t)
            if m is not None:
                da *= m
            dh_prev = dh_t * z
            dh_prev += d_reset_h * r
            dh_prev += da[:, :2 * H] @ weight_hh[:2 * H]
            dh = carry(m, dh_prev, dh)
        self.grads["weight_hh"] = np.concatenate([
            self._weight_hh_gradient(dxp[:, :, :2 * H]),
            dxp[:, :, 2 * H:].reshape(-1, H).T @ self.reset_h.reshape(-1, H)])
        return dxp

    def inference_layer(self):
        p = self.params
        return engine_layers.GRU(p["weight_ih"], p["weight_hh"], p["bias_ih"], p.get("bias_hh"),
                                 reset_after=self.reset_after,
                                 return_sequences=self.return_sequences)


def forward_step(gates, hidden_proj, h_prev, h, out, mask) -> None:
    """The pointwise part of a reset_after step, in place (NumPy; csrc/train.c
    is the float32 version): gates (B, 3H) input projections become r, z, n;
    h, out (B, H) are written. Padded rows keep h_prev and output zeros."""
    H = h.shape[1]
    gates[:, :2 * H] = sigmoid(gates[:, :2 * H] + hidden_proj[:, :2 * H])
    r, z = gates[:, :H], gates[:, H:2 * H]
    gates[:, 2 * H:] = np.tanh(gates[:, 2 * H:] + r * hidden_proj[:, 2 * H:])
    n = gates[:, 2 * H:]
    h[:] = n + z * (h_prev - n)
    out[:] = h
    if mask is not None:
        padded = ~mask[:, np.newaxis]
        np.copyto(h, h_prev, where=padded)
        np.copyto(out, 0, where=padded)


def backward_step(gates, hidden_proj, h_prev, dh, d_out, da, d_hidden, dh_direct, mask) -> None:
    """The pointwise part of a reset_after step backward (NumPy; csrc/train.c
    is the float32 version): writes da (B, 3H) = dL/d(input projection),
    d_hidden (B, 3H) = dL/d(hidden projection) and dh_direct (B, H), the part
    of dL/dh_{t-1} not through W_hh. Padded rows: zeros, dh_direct = dh."""
    H = dh.shape[1]
    r, z, n = (gates[:, k * H:(k + 1) * H] for k in range(3))
    dh_t = dh if d_out is None else dh + d_out
    da[:, 2 * H:] = dh_t * (1 - z) * (1 - n * n)
    da[:, H:2 * H] = dh_t * (h_prev - n) * z * (1 - z)
    da[:, :H] = da[:, 2 * H:] * hidden_proj[:, 2 * H:] * r * (1 - r)
    d_hidden[:] = da
    d_hidden[:, 2 * H:] *= r
    dh_direct[:] = dh_t * z
    if mask is not None:
        padded = ~mask[:, np.newaxis]
        da *= mask[:, np.newaxis]
        d_hidden *= mask[:, np.newaxis]
        np.copyto(dh_direct, dh, where=padded)


# The reset_after cell's pointwise step (reset_after=False is NumPy throughout).
GRU.NUMPY_STEPS = (forward_step, backward_step)
GRU.KERNEL_STEPS = ("gru_forward", "gru_backward")
