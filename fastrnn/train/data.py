"""Helpers users expect around ``fit``: one-hot labels, a seeded train/test
split, and the batching of padded or variable-length sequences."""

from collections.abc import Sequence

import numpy as np


def to_categorical(y, num_classes: int | None = None, dtype="float32") -> np.ndarray:
    """One-hot encode integer class labels: shape ``y.shape + (num_classes,)``."""
    labels = np.asarray(y)
    if labels.dtype.kind not in "iu" and not np.all(labels == np.round(labels)):
        raise ValueError(f"to_categorical: expected integer labels, got {labels.dtype} values")
    labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: expected labels >= 0, got {labels.min()}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif labels.size and labels.max() >= num_classes:
        raise ValueError(f"to_categorical: label {labels.max()} does not fit num_classes="
                         f"{num_classes}")
    return np.eye(num_classes, dtype=dtype)[labels]


def train_test_split(*arrays, test_size: float | int = 0.25, random_state=None,
                     shuffle: bool = True, stratify=None) -> list:
    """Split arrays (or lists) of the same length into train and test parts,
    as scikit-learn's function does: returns ``[a_train, a_test, b_train,
    b_test, ...]``. `random_state` seeds the shuffle; `stratify` (labels)
    keeps each class's share in both parts."""
    if not arrays:
        raise ValueError("train_test_split: expected at least one array")
    count = len(arrays[0])
    for array in arrays[1:]:
        if len(array) != count:
            raise ValueError(f"train_test_split: arrays of different lengths, {count} and "
                             f"{len(array)}")
    num_test = int(np.ceil(test_size * count)) if isinstance(test_size, float) else int(test_size)
    if not 0 < num_test < count:
        raise ValueError(f"train_test_split: test_size={test_size!r} leaves an empty part of "
                         f"{count} samples")
    rng = np.random.default_rng(random_state)
    if stratify is not None:
        labels = np.asarray(stratify)
        test = []
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            if shuffle:
                members = rng.permutation(members)
            test.extend(members[:int(round(num_test * len(members) / count))])
        test = np.sort(np.array(test, dtype=np.int64))
    else:
        order = rng.permutation(count) if shuffle else np.arange(count)
        test = np.sort(order[:num_test]) if shuffle else order[count - num_test:]
    train = np.setdiff1d(np.arange(count), test)
    if shuffle:
        train, test = rng.permutation(train), rng.permutation(test)
    parts = []
    for array in arrays:
        parts += [_take(array, train), _take(array, test)]
    return parts


def _take(array, indices):
    if isinstance(array, np.ndarray):
        return array[indices]
    return [array[i] for i in indices]


class Inputs:
    """Model inputs: a padded array (N, T, F) with optional lengths (N,), a
    list of variable-length (T_i, F) arrays, or non-sequences (N, F).
    ``batch(indices)`` gives time-major (T, B, F) cut to the batch's longest
    sequence, and the (T, B) step mask (None when no step is padding)."""

    def __init__(self, x, lengths=None, dtype=np.float32) -> None:
        self.dtype = dtype
        if isinstance(x, np.ndarray) or not isinstance(x, Sequence):
            x = np.asarray(x)
            if x.dtype.kind not in "fiu":
                raise TypeError(f"x: expected real-valued features, got dtype {x.dtype}")
            if x.ndim not in (2, 3):
                raise ValueError(f"x: expected (N, T, F) sequences or (N, F) features, got "
                                 f"shape {x.shape}")
            self.items = None
            self.array = x
            self.count = len(x)
            self.sequences = x.ndim == 3
            self.num_features = x.shape[-1]
            self.lengths = self._lengths(lengths, x.shape[1] if self.sequences else None)
        else:
            if lengths is not None:
                raise ValueError("lengths: a list of sequences carries its own lengths; give "
                                 "lengths only with a padded array")
            self.items = [np.asarray(item) for item in x]
            if not self.items:
                raise ValueError("x: expected at least one sequence, got an empty list")
            shapes = {item.shape[1:] for item in self.items}
            if any(item.ndim != 2 for item in self.items) or len(shapes) != 1:
                raise ValueError("x: expected a list of (T_i, F) arrays with one F, got shapes "
                                 f"{sorted({item.shape for item in self.items})[:4]}")
            self.count = len(self.items)
            self.sequences = True
            self.num_features = self.items[0].shape[1]
            self.lengths = np.array([len(item) for item in self.items], dtype=np.int64)
        if not np.all(np.isfinite(self.array if self.items is None else
                                  np.concatenate([i.ravel() for i in self.items]))):
            raise ValueError("x: contains NaN or infinity")

    def _lengths(self, lengths, steps):
        if lengths is None:
            return None
        if not self.sequences:
            raise ValueError("lengths: given for inputs without a time axis")
        lengths = np.asarray(lengths)
        if lengths.dtype.kind not in "iu" or lengths.shape != (self.count,):
            raise ValueError(f"lengths: expected {self.count} integers, got {lengths.dtype} of "
                             f"shape {lengths.shape}")
        if lengths.size and (lengths.min() < 1 or lengths.max() > steps):
            raise ValueError(f"lengths: expected values in [1, {steps}], got min "
                             f"{lengths.min()}, max {lengths.max()}")
        return lengths.astype(np.int64)

    def steps(self, indices) -> int:
        if self.lengths is not None:
            return int(self.lengths[indices].max())
        return self.array.shape[1]

    def batch(self, indices: np.ndarray):
        """(x (T, B, F) or (B, F), mask (T, B) or None)."""
        if not self.sequences:
            return np.ascontiguousarray(self.array[indices], dtype=self.dtype), None
        steps = self.steps(indices)
        if self.items is None:
            x = np.ascontiguousarray(self.array[indices, :steps].transpose(1, 0, 2),
                                     dtype=self.dtype)
        else:
            x = np.zeros((steps, len(indices), self.num_features), self.dtype)
            for column, index in enumerate(indices):
                item = self.items[index]
                x[:len(item), column] = item
        if self.lengths is None:
            return x, None
        mask = np.arange(steps)[:, np.newaxis] < self.lengths[indices]
        return x, (None if mask.all() else mask)


def batch_targets(y, indices: np.ndarray, steps: int | None) -> np.ndarray:
    """Targets of a batch: (B, ...) for last-step outputs, time-major (T, B, ...)
    cut or padded to `steps` for sequence outputs (y padded or a list)."""
    if steps is None:
        return y[indices]
    if isinstance(y, np.ndarray):
        part = y[indices, :steps]
    else:
        items = [np.asarray(y[i]) for i in indices]
        part = np.zeros((len(items), steps) + items[0].shape[1:], dtype=items[0].dtype)
        for row, item in enumerate(items):
            part[row, :len(item)] = item
    return np.ascontiguousarray(np.moveaxis(part, 1, 0))
