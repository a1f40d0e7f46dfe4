"""What LSTM, GRU and SimpleRNN share: the input projection of all steps as
one matrix product, the masking rule, and the weight gradients as one
product over all steps after the backward recurrence.

Masked (padded) steps leave the state untouched, output zeros and pass the
gradient of the state through unchanged: they neither change the result nor
contribute gradient. This is what the C engine does with ``lengths``.
"""

import numpy as np

from .. import runtime
from .._engine import TrainKernels
from . import initializers
from .layer import Layer


def carry(mask_t: np.ndarray | None, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """The state after a step: `new` where the step is real, `old` where it is
    padding. mask_t: (B, 1) bool or None (every step real)."""
    return new if mask_t is None else np.where(mask_t, new, old)


def step_mask(mask: np.ndarray | None, t: int) -> np.ndarray | None:
    return None if mask is None else mask[t, :, np.newaxis]


class Recurrent(Layer):
    """Base of the recurrent layers.

    Parameters (canonical layout, gate blocks stacked along the first axis):
    ``weight_ih (G*H, I)``, ``weight_hh (G*H, H)``, ``bias_ih (G*H,)`` added in
    the input projection; subclasses may add ``bias_hh``.

    Subclasses implement ``_recurrence(xp, mask) -> (outputs, last_state)``
    over the projected inputs ``xp (T, B, G*H)`` and
    ``_recurrence_backward(d_outputs, d_last) -> dxp``, which also writes the
    gradient of ``weight_hh`` (and ``bias_hh``). A cell whose pointwise step
    has C kernels names them in ``KERNEL_STEPS`` (methods of
    ``fastrnn._engine.TrainKernels``, forward and backward) beside its NumPy
    definitions ``NUMPY_STEPS``.
    """

    gates: int
    NUMPY_STEPS: tuple = ()
    KERNEL_STEPS: tuple = ()

    def __init__(self, units: int, *, return_sequences: bool = True) -> None:
        super().__init__()
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"{type(self).__name__} units: expected an integer >= 1, "
                             f"got {units!r}")
        self.units = int(units)
        self.return_sequences = bool(return_sequences)

    def config(self) -> dict:
        return {"units": self.units, "return_sequences": self.return_sequences}

    def keeps_time_axis(self) -> bool:
        return self.return_sequences

    def build(self, input_size: int, rng: np.random.Generator, dtype) -> None:
        rows = self.gates * self.units
        self.params = {
            "weight_ih": initializers.glorot_uniform(rng, (rows, input_size), dtype),
            "weight_hh": initializers.orthogonal(rng, (rows, self.units), dtype),
            "bias_ih": np.zeros(rows, dtype),
        }
        self.input_size, self.output_size = input_size, self.units
        self._kernels = None
        if self.KERNEL_STEPS and np.dtype(dtype) == np.float32:     # resolved once per layer
            self._kernels = TrainKernels(runtime.default_isa())

    def pointwise_steps(self) -> tuple:
        """(forward_step, backward_step) of the cell: the C kernels
        (csrc/train.c, this machine's instruction set) for float32, the NumPy
        definitions for float64 (gradient checks)."""
        if self._kernels is None:
            return self.NUMPY_STEPS
        return tuple(getattr(self._kernels, name) for name in self.KERNEL_STEPS)

    def forward(self, x: np.ndarray, mask: np.ndarray | None, training: bool) -> np.ndarray:
        if x.ndim != 3:
            raise ValueError(f"{type(self).__name__}: expected a sequence (T, B, F), got shape "
                             f"{x.shape}; the layer before it returns only its last step "
                             "(set return_sequences=True on it)")
        steps, batch, features = x.shape
        self.x, self.mask = x, mask
        xp = x.reshape(steps * batch, features) @ self.params["weight_ih"].T
        xp += self.params["bias_ih"]
        outputs, last_state = self._recurrence(xp.reshape(steps, batch, -1), mask)
        return outputs if self.return_sequences else last_state

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = np.ascontiguousarray(dy, dtype=self.x.dtype)
        if self.return_sequences:
            dxp = self._recurrence_backward(dy, None)
        else:
            dxp = self._recurrence_backward(None, dy)
        steps, batch, features = self.x.shape
        dxp = dxp.reshape(steps * batch, -1)
        self.grads["weight_ih"] = dxp.T @ self.x.reshape(steps * batch, features)
        self.grads["bias_ih"] = dxp.sum(axis=0)
        if not self.needs_input_grad:
            return None
        return (dxp @ self.params["weight_ih"]).reshape(steps, batch, features)

    def _recurrence(self, xp: np.ndarray, mask: np.ndarray | None):
        raise NotImplementedError

    def _recurrence_backward(self, d_outputs: np.ndarray | None, d_last: np.ndarray | None):
        raise NotImplementedError

    def _states(self, xp: np.ndarray, mask: np.ndarray | None):
        """(h_states, outputs): the hidden state before and after every step,
        (T + 1, B, H) from zeros, kept as ``self.h_states`` for the backward
        pass; the outputs (T, B, H) are the states after each step, or, with a
        mask, a separate array whose padded steps the recurrence sets to zero."""
        steps, batch, _ = xp.shape
        self.h_states = np.zeros((steps + 1, batch, self.units), xp.dtype)
        outputs = self.h_states[1:] if mask is None else np.empty_like(self.h_states[1:])
        return self.h_states, outputs

    def _weight_hh_gradient(self, d_recurrent: np.ndarray) -> np.ndarray:
        """sum_t d_recurrent[t]^T h_{t-1}: the gradient of a weight applied to
        the previous state, from dL/d(its product) (T, B, rows), as one product."""
        rows = d_recurrent.shape[-1]
        return (d_recurrent.reshape(-1, rows).T
                @ self.h_states[:-1].reshape(-1, self.units))

    def _d_state(self, d_last: np.ndarray | None, batch: int, dtype) -> np.ndarray:
        return np.zeros((batch, self.units), dtype) if d_last is None else d_last.copy()
