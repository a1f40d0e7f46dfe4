"""Callbacks for ``fit``: History (always on), EarlyStopping, ModelCheckpoint."""

import os

import numpy as np


class Callback:
    """Base: ``fit`` calls these hooks; ``self.model`` is the training model."""

    model = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs: dict | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_train_end(self, logs: dict | None = None) -> None:
        pass


class History(Callback):
    """``history.history[name]``: one value per epoch ("loss", "accuracy",
    "val_loss", ...); ``history.epoch``: the epoch indices; ``params``."""

    def __init__(self) -> None:
        self.history: dict = {}
        self.epoch: list = []
        self.params: dict = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)


class _Monitor(Callback):
    """A watched log value and whether lower or higher is better."""

    def __init__(self, monitor: str, mode: str) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor, self.mode = monitor, mode

    def current(self, logs: dict | None) -> float:
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(f"{type(self).__name__}: monitor {self.monitor!r} is not among the "
                             f"logged values {sorted(logs)}")
        return logs[self.monitor]

    def improved(self, value: float, best: float, min_delta: float = 0.0) -> bool:
        if self.mode == "min":
            return value < best - min_delta
        return value > best + min_delta

    def worst(self) -> float:
        return np.inf if self.mode == "min" else -np.inf


class EarlyStopping(_Monitor):
    """Stop when `monitor` has not improved by more than `min_delta` for
    `patience` epochs; with ``restore_best_weights``, end with the weights of
    the best epoch."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        super().__init__(monitor, mode)
        self.min_delta, self.patience = abs(min_delta), int(patience)
        self.restore_best_weights = restore_best_weights
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        self.best, self.best_weights, self.best_epoch, self.wait = self.worst(), None, None, 0
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        value = self.current(logs)
        if self.improved(value, self.best, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.model.stop_training = True
            self.stopped_epoch = epoch

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(_Monitor):
    """Write the model in fastrnn's native file format after each epoch (the
    C-engine model of ``model.to_inference()``, loadable with
    ``fastrnn.load``). `filepath` may contain ``{epoch}`` (1-based) and any
    logged value, e.g. ``"digits-{epoch:02d}-{val_loss:.3f}.fastrnn"``; with
    ``save_best_only`` only improvements of `monitor` are written."""

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss",
                 save_best_only: bool = False, mode: str = "auto") -> None:
        super().__init__(monitor, mode)
        self.filepath, self.save_best_only = os.fspath(filepath), save_best_only

    def on_train_begin(self, logs=None):
        self.best = self.worst()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = self.current(logs)
            if not self.improved(value, self.best):
                return
            self.best = value
        path = self.filepath.format(epoch=epoch + 1, **logs)
        self.model.to_inference().save(path)
