"""SGD (momentum, Nesterov), Adam and AdamW, updating parameters in place.

The update rules are PyTorch's (``torch.optim.SGD/Adam/AdamW``), with
Keras' argument names and defaults; for a constant learning rate Keras'
momentum form is the same update. Gradient clipping happens first:
``clipnorm`` rescales each gradient to at most that norm, ``global_clipnorm``
rescales all of them together so that their joint norm is at most that.
"""

import numpy as np


class Optimizer:
    def __init__(self, learning_rate: float, *, clipnorm: float | None = None,
                 global_clipnorm: float | None = None) -> None:
        if not learning_rate > 0:
            raise ValueError(f"learning_rate: expected a number > 0, got {learning_rate!r}")
        for name, value in (("clipnorm", clipnorm), ("global_clipnorm", global_clipnorm)):
            if value is not None and not value > 0:
                raise ValueError(f"{name}: expected a number > 0 or None, got {value!r}")
        self.learning_rate = float(learning_rate)
        self.clipnorm, self.global_clipnorm = clipnorm, global_clipnorm
        self.iterations = 0
        self.slots: list = []

    def apply(self, params: list, grads: list) -> None:
        """One step: update every array of `params` in place from `grads`."""
        grads = self.clip(grads)
        if not self.slots:
            self.slots = [self.new_slot(p) for p in params]
        self.iterations += 1
        for param, grad, slot in zip(params, grads, self.slots):
            self.update(param, grad.astype(param.dtype, copy=False), slot)

    def clip(self, grads: list) -> list:
        if self.clipnorm is not None:
            grads = [g * min(1.0, self.clipnorm / (np.linalg.norm(g) + 1e-12)) for g in grads]
        if self.global_clipnorm is not None:
            norm = np.sqrt(sum(float(np.sum(g * g)) for g in grads))
            if norm > self.global_clipnorm:
                grads = [g * (self.global_clipnorm / norm) for g in grads]
        return grads

    def new_slot(self, param: np.ndarray) -> dict:
        return {}

    def update(self, param: np.ndarray, grad: np.ndarray, slot: dict) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """buf = momentum * buf + g;  p -= lr * (g + momentum * buf if nesterov else buf)."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, **clipping) -> None:
        super().__init__(learning_rate, **clipping)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum: expected a number in [0, 1), got {momentum!r}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def new_slot(self, param):
        return {"buffer": np.zeros_like(param)} if self.momentum else {}

    def update(self, param, grad, slot):
        if not self.momentum:
            param -= self.learning_rate * grad
            return
        buffer = slot["buffer"]
        buffer *= self.momentum
        buffer += grad
        step = grad + self.momentum * buffer if self.nesterov else buffer
        param -= self.learning_rate * step


class Adam(Optimizer):
    """m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + epsilon)."""

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, **clipping) -> None:
        super().__init__(learning_rate, **clipping)
        for name, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0 <= value < 1:
                raise ValueError(f"{name}: expected a number in [0, 1), got {value!r}")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def new_slot(self, param):
        return {"m": np.zeros_like(param), "v": np.zeros_like(param)}

    def update(self, param, grad, slot):
        m, v = slot["m"], slot["v"]
        m *= self.beta_1
        m += (1 - self.beta_1) * grad
        v *= self.beta_2
        v += (1 - self.beta_2) * grad * grad
        step = self.iterations
        denominator = np.sqrt(v / (1 - self.beta_2 ** step))
        denominator += self.epsilon
        param -= (self.learning_rate / (1 - self.beta_1 ** step)) * m / denominator


class AdamW(Adam):
    """Adam with decoupled weight decay: p -= lr * weight_decay * p first."""

    def __init__(self, learning_rate: float = 0.001, weight_decay: float = 0.004,
                 **adam_arguments) -> None:
        super().__init__(learning_rate, **adam_arguments)
        if weight_decay < 0:
            raise ValueError(f"weight_decay: expected a number >= 0, got {weight_decay!r}")
        self.weight_decay = float(weight_decay)

    def update(self, param, grad, slot):
        param *= 1 - self.learning_rate * self.weight_decay
        super().update(param, grad, slot)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def get(optimizer) -> Optimizer:
    """An Optimizer from an instance or its name (default arguments)."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected an Optimizer or one of {sorted(OPTIMIZERS)}, "
                         f"got {optimizer!r}")
    return OPTIMIZERS[optimizer.lower()]()
