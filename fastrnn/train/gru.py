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
    reset_after : bool
    """

    gates = 3

    def __init__(self, units: int, *, return_sequences: bool = False,
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
        H = self.units
        h, outputs = self._start(xp)
        weight_hh = self.params["weight_hh"]
        if self.reset_after:
            self.hidden_n = np.empty_like(self.h_prev)      # W_hn h + b_hn
        else:
            self.reset_h = np.empty_like(self.h_prev)       # r * h
        for t in range(xp.shape[0]):
            a = xp[t]
            self.h_prev[t] = h
            if self.reset_after:
                hidden = h @ weight_hh.T
                hidden += self.params["bias_hh"]
                a[:, :2 * H] += hidden[:, :2 * H]
                sigmoid(a[:, :2 * H], out=a[:, :2 * H])
                self.hidden_n[t] = hidden[:, 2 * H:]
                a[:, 2 * H:] += a[:, :H] * hidden[:, 2 * H:]
            else:
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
            h = carry(m, h_new, h)
        self.gate_values = xp
        return outputs, h

    def _recurrence_backward(self, d_outputs, d_last):
        H = self.units
        gates, mask = self.gate_values, self.mask
        weight_hh = self.params["weight_hh"]
        steps, batch, _ = gates.shape
        dxp = np.empty_like(gates)
        d_hidden = np.empty_like(gates) if self.reset_after else None
        dh = self._d_state(d_last, batch, gates.dtype)
        for t in reversed(range(steps)):
            r, z, n = (gates[t, :, k * H:(k + 1) * H] for k in range(3))
            h_prev = self.h_prev[t]
            dh_t = dh if d_outputs is None else dh + d_outputs[t]
            da = dxp[t]
            da_n = np.multiply(dh_t * (1 - z), 1 - n * n, out=da[:, 2 * H:])
            np.multiply(dh_t * (h_prev - n), z * (1 - z), out=da[:, H:2 * H])
            dh_prev = dh_t * z
            if self.reset_after:
                np.multiply(da_n * self.hidden_n[t], r * (1 - r), out=da[:, :H])
                m = step_mask(mask, t)
                if m is not None:
                    da *= m
                dhid = d_hidden[t]
                dhid[:] = da
                dhid[:, 2 * H:] *= r
                dh_prev += dhid @ weight_hh
            else:
                d_reset_h = da_n @ weight_hh[2 * H:]
                np.multiply(d_reset_h * h_prev, r * (1 - r), out=da[:, :H])
                m = step_mask(mask, t)
                if m is not None:
                    da *= m
                dh_prev += d_reset_h * r
                dh_prev += da[:, :2 * H] @ weight_hh[:2 * H]
            dh = carry(m, dh_prev, dh)
        flat_h = self.h_prev.reshape(steps * batch, H)
        if self.reset_after:
            d_hidden = d_hidden.reshape(steps * batch, -1)
            self.grads["weight_hh"] = d_hidden.T @ flat_h
            self.grads["bias_hh"] = d_hidden.sum(axis=0)
        else:
            flat = dxp.reshape(steps * batch, -1)
            self.grads["weight_hh"] = np.concatenate([
                flat[:, :2 * H].T @ flat_h,
                flat[:, 2 * H:].T @ self.reset_h.reshape(steps * batch, H)])
        return dxp

    def inference_layer(self):
        p = self.params
        return engine_layers.GRU(p["weight_ih"], p["weight_hh"], p["bias_ih"], p.get("bias_hh"),
                                 reset_after=self.reset_after,
                                 return_sequences=self.return_sequences)
