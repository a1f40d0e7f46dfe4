"""Losses, each giving its value and its gradient in one call (``total``).

Every loss reduces like Keras 3's ``"sum_over_batch_size"``: per-entry losses
(one per sample, or per real step for sequence outputs) times their weights
(class weights), summed, divided by the number of entries. Padded steps are
not entries: they add nothing to the value, the count or the gradient.
"""

import numpy as np

from .activations import sigmoid, softmax

EPSILON = 1e-7          # Keras' backend.epsilon(): probabilities clipped to [eps, 1 - eps]


class Loss:
    """``total(y_pred, y_true, weights) -> (sum of entry losses, its gradient)``;
    the model divides both by the number of real entries of the whole batch.

    y_pred : (N, O) or (T, B, O) float (probabilities, or logits with
        ``from_logits``); y_true: the same shape, or integer labels without
        the last axis for the sparse loss; weights: (N,) or (T, B), zero on
        padded steps (None: every entry weighs 1).
    """

    name = ""
    sparse = False
    from_logits = False

    def entries(self, y_pred: np.ndarray, y_true: np.ndarray):
        """Per-entry loss (shape y_pred.shape[:-1]) and its gradient."""
        raise NotImplementedError

    def total(self, y_pred, y_true, weights=None):
        """(sum of the weighted entry losses, its gradient with respect to y_pred)."""
        losses, grad = self.entries(y_pred, y_true)
        if weights is None:
            return float(losses.sum()), grad
        return float((losses * weights).sum()), grad * weights[..., np.newaxis]

    def with_logits(self) -> "Loss":
        """The same loss taking the logits of the softmax/sigmoid output layer
        (exact and stable: no clipping)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_logits={self.from_logits})"


def _one_hot(labels: np.ndarray, classes: int, dtype) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        if not np.all(labels == np.round(labels)):
            raise ValueError("sparse_categorical_crossentropy: expected integer class labels, "
                             f"got non-integer values of dtype {labels.dtype}")
        labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"sparse_categorical_crossentropy: expected labels in [0, {classes}), "
                         f"got min {labels.min()}, max {labels.max()}")
    return np.eye(classes, dtype=dtype)[labels]


class CategoricalCrossentropy(Loss):
    """-sum_j t_j log p_j over the classes, with p = softmax(logits) when
    ``from_logits``, else the given probabilities, renormalised to sum to 1
    and clipped to [1e-7, 1 - 1e-7] (as Keras does)."""

    name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = bool(from_logits)

    def targets(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{self.name}: expected targets of shape {y_pred.shape} (one-hot), "
                             f"got {y_true.shape}")
        return y_true.astype(y_pred.dtype, copy=False)

    def entries(self, y_pred, y_true):
        targets = self.targets(y_true, y_pred)
        if self.from_logits:
            shifted = y_pred - y_pred.max(axis=-1, keepdims=True)
            log_sum = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            losses = -(targets * (shifted - log_sum)).sum(axis=-1)
            grad = softmax(y_pred) * targets.sum(axis=-1, keepdims=True) - targets
            return losses, grad
        total = y_pred.sum(axis=-1, keepdims=True)
        normalised = y_pred / total
        clipped = np.clip(normalised, EPSILON, 1 - EPSILON)
        losses = -(targets * np.log(clipped)).sum(axis=-1)
        d_normalised = -targets / clipped * ((normalised >= EPSILON) & (normalised <= 1 - EPSILON))
        grad = (d_normalised - (d_normalised * normalised).sum(axis=-1, keepdims=True)) / total
        return losses, grad

    def with_logits(self) -> Loss:
        return type(self)(from_logits=True)


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical cross-entropy with integer class labels as targets."""

    name = "sparse_categorical_crossentropy"
    sparse = True

    def targets(self, y_true, y_pred):
        if y_true.shape != y_pred.shape[:-1]:
            raise ValueError(f"{self.name}: expected labels of shape {y_pred.shape[:-1]}, "
                             f"got {y_true.shape}")
        return _one_hot(y_true, y_pred.shape[-1], y_pred.dtype)


class BinaryCrossentropy(Loss):
    """-mean_j [t_j log p_j + (1 - t_j) log(1 - p_j)] over the outputs, with
    p = sigmoid(logits) when ``from_logits`` (computed stably), else the
    given probabilities clipped to [1e-7, 1 - 1e-7]."""

    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = bool(from_logits)

    def entries(self, y_pred, y_true):
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{self.name}: expected targets of shape {y_pred.shape}, "
                             f"got {y_true.shape}")
        targets = y_true.astype(y_pred.dtype, copy=False)
        outputs = y_pred.shape[-1]
        if self.from_logits:
            losses = (np.maximum(y_pred, 0) - y_pred * targets
                      + np.log1p(np.exp(-np.abs(y_pred)))).mean(axis=-1)
            return losses, (sigmoid(y_pred) - targets) / outputs
        clipped = np.clip(y_pred, EPSILON, 1 - EPSILON)
        losses = -(targets * np.log(clipped) + (1 - targets) * np.log(1 - clipped)).mean(axis=-1)
        inside = (y_pred >= EPSILON) & (y_pred <= 1 - EPSILON)
        grad = (clipped - targets) / (clipped * (1 - clipped)) * inside / outputs
        return losses, grad

    def with_logits(self) -> Loss:
        return type(self)(from_logits=True)


class MeanSquaredError(Loss):
    """mean_j (p_j - t_j)^2 over the outputs."""

    name = "mean_squared_error"

    def entries(self, y_pred, y_true):
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{self.name}: expected targets of shape {y_pred.shape}, "
                             f"got {y_true.shape}")
        difference = y_pred - y_true.astype(y_pred.dtype, copy=False)
        return (difference * difference).mean(axis=-1), 2 * difference / y_pred.shape[-1]

    def __repr__(self) -> str:
        return "MeanSquaredError()"


LOSSES = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}


def get(loss) -> Loss:
    """A Loss from an instance or its Keras name."""
    if isinstance(loss, Loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"loss: expected a Loss or one of {sorted(LOSSES)}, got {loss!r}")
    return LOSSES[loss]()
