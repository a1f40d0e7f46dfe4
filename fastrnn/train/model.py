"""The training model: a Keras-style ``Sequential`` with compile / fit /
evaluate / predict, whose weights go to the C engine with ``to_inference``."""

import os

import numpy as np

from .. import model as engine_model
from . import losses as losses_module
from . import optimizers as optimizers_module
from .callbacks import Callback, History
from .data import Inputs, batch_targets
from .dense import Dense
from .layer import Layer

# Output activation whose logits a loss can take directly (exact and stable).
LOGIT_LOSSES = {"softmax": losses_module.CategoricalCrossentropy,
                "sigmoid": losses_module.BinaryCrossentropy}


class Sequential:
    """A stack of trainable layers.

    Parameters
    ----------
    layers : list of Layer
        LSTM, GRU, SimpleRNN, Bidirectional, Dense, Dropout (from
        ``fastrnn.train``). Input sizes are inferred from the data on the
        first call.
    seed : int, optional
        Seeds the initial weights, dropout and shuffling: two runs with the
        same seed and data give the same model.
    dtype : "float32" (default) or "float64"
        Precision of weights and arithmetic (float64 for gradient checks).

    Inputs ``x`` are ``(N, T, F)`` sequences (with optional ``lengths (N,)``
    for padded ones), a list of ``(T_i, F)`` arrays, or ``(N, F)`` features
    for a model without recurrent layers.
    """

    def __init__(self, layers: list | None = None, seed: int | None = None,
                 dtype="float32") -> None:
        self.layers: list = []
        for layer in layers or []:
            self.add(layer)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype: expected float32 or float64, got {self.dtype}")
        self.optimizer = self.loss = None
        self.metrics: list = []
        self.stop_training = False

    def add(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(f"layer {len(self.layers)}: expected a fastrnn.train layer, got "
                            f"{type(layer).__name__}")
        if any(layer is other for other in self.layers):
            raise ValueError(f"layer {len(self.layers)}: this layer object is already in the "
                             "model; create a new one")
        self.layers.append(layer)

    # --- building -----------------------------------------------------------

    @property
    def built(self) -> bool:
        return bool(self.layers) and all(layer.built for layer in self.layers)

    def build(self, input_size: int) -> None:
        """Create every layer's weights for `input_size` input features."""
        if not self.layers:
            raise ValueError("Sequential: expected at least one layer, got none")
        size = int(input_size)
        for index, layer in enumerate(self.layers):
            layer.needs_input_grad = index > 0
            layer.build(size, self.rng, self.dtype)
            size = layer.output_size

    def _ensure_built(self, inputs: Inputs) -> None:
        if not self.built:
            self.build(inputs.num_features)
        elif inputs.num_features != self.layers[0].input_size:
            raise ValueError(f"x: expected {self.layers[0].input_size} features (the model "
                             f"was built for them), got {inputs.num_features}")

    def returns_sequences(self, sequence_input: bool = True) -> bool:
        keeps = sequence_input
        for layer in self.layers:
            keeps = keeps and layer.keeps_time_axis()
        return keeps

    @property
    def trainable_params(self) -> list:
        return [value for layer in self.layers for value in layer.params.values()]

    def count_params(self) -> int:
        return sum(p.size for p in self.trainable_params)

    def get_weights(self) -> list:
        """Copies of every parameter, layer by layer."""
        return [p.copy() for p in self.trainable_params]

    def set_weights(self, weights: list) -> None:
        """Write parameters (as ``get_weights`` gives them) into the model."""
        params = self.trainable_params
        if len(weights) != len(params):
            raise ValueError(f"set_weights: expected {len(params)} arrays, got {len(weights)}")
        for index, (param, value) in enumerate(zip(params, weights)):
            value = np.asarray(value)
            if value.shape != param.shape:
                raise ValueError(f"set_weights: array {index} expected shape {param.shape}, "
                                 f"got {value.shape}")
            param[...] = value

    def summary(self) -> str:
        """One line per layer: its type, output features and parameter count."""
        lines = [f"{'layer':<48}{'outputs':>10}{'parameters':>14}"]
        for layer in self.layers:
            count = sum(p.size for p in layer.params.values())
            outputs = layer.output_size if layer.built else "?"
            lines.append(f"{layer!r:<48.48}{outputs!s:>10}{count:>14,}")
        lines.append(f"total parameters: {self.count_params():,}")
        return "\n".join(lines)

    # --- compile, forward, backward ----------------------------------------

    def compile(self, optimizer="adam", loss="categorical_crossentropy",
                metrics: list | None = None) -> None:
        """Choose the optimizer ("sgd", "adam", "adamw" or an instance), the
        loss (Keras names or a Loss) and metrics (only "accuracy")."""
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = losses_module.get(loss)
        self.metrics = list(metrics or [])
        for metric in self.metrics:
            if metric not in ("accuracy", "acc"):
                raise ValueError(f"metrics: expected 'accuracy', got {metric!r}")
            if isinstance(self.loss, losses_module.MeanSquaredError):
                raise ValueError("metrics: 'accuracy' needs a classification loss, got "
                                 "mean_squared_error")

    def _logit_loss(self) -> losses_module.Loss | None:
        """The loss on the output layer's logits, when the output layer is a
        softmax (sigmoid) Dense and the loss the matching cross-entropy on
        probabilities: exact and numerically stable, no clipping needed."""
        last = self.layers[-1]
        if (isinstance(last, Dense) and not self.loss.from_logits
                and isinstance(self.loss, LOGIT_LOSSES.get(last.activation, ()))):
            return self.loss.with_logits()
        return None

    def _forward(self, x: np.ndarray, mask: np.ndarray | None, training: bool) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, mask if x.ndim == 3 else None, training)
        return x

    def _require_compiled(self) -> None:
        if self.loss is None:
            raise RuntimeError("the model is not compiled: call model.compile(optimizer, loss) "
                               "first")

    def _batch_loss(self, x, mask, targets, weights, count, training: bool, backward: bool):
        """Forward (with dropout when training), loss (sum over entries) and,
        with `backward`, every layer's grads. Returns (loss sum, outputs)."""
        outputs = self._forward(x, mask, training)
        logit_loss = self._logit_loss()
        last = self.layers[-1]
        predicted = last.z if logit_loss else outputs
        total, grad = (logit_loss or self.loss).total(predicted, targets, weights)
        if backward:
            grad = (grad / max(count, 1)).astype(self.dtype, copy=False)
            if logit_loss:
                grad = last.backward_from_preactivation(grad)
            else:
                grad = last.backward(grad)
            for layer in reversed(self.layers[:-1]):
                grad = layer.backward(grad)
        return total, outputs

    def _entry_weights(self, targets, mask, sample_weight, class_weight):
        """Weights (B,) or (T, B) of the loss entries: 0 on padded steps,
        times sample weights, times class weights; None if all are 1."""
        weights = None if mask is None else mask.astype(self.dtype)
        if sample_weight is not None:
            weights = sample_weight if weights is None else weights * sample_weight
        if class_weight:
            labels = self._labels(targets)
            table = np.ones(int(max(max(class_weight), labels.max(initial=0))) + 1, self.dtype)
            for label, value in class_weight.items():
                table[int(label)] = value
            per_entry = table[labels]
            weights = per_entry if weights is None else weights * per_entry
        return weights

    def _labels(self, targets: np.ndarray) -> np.ndarray:
        if self.loss.sparse:
            return targets.astype(np.int64)
        if isinstance(self.loss, losses_module.BinaryCrossentropy):
            return np.round(targets[..., 0]).astype(np.int64)
        return targets.argmax(axis=-1)

    def _correct(self, outputs, targets, logits: bool) -> np.ndarray:
        """Per entry: 1.0 where the prediction (probabilities, or logits) is right."""
        if isinstance(self.loss, losses_module.BinaryCrossentropy):
            threshold = 0.0 if logits else 0.5
            return np.mean((outputs > threshold) == (targets > 0.5), axis=-1)
        return (outputs.argmax(axis=-1) == self._labels(targets)).astype(np.float64)

    # --- the Keras workflow -------------------------------------------------

    def train_on_batch(self, x, y, lengths=None, sample_weight=None,
                       class_weight: dict | None = None) -> dict:
        """One optimizer step on one batch; returns its logs (loss, metrics)."""
        return self._logs(self._whole_batch(x, y, lengths, sample_weight, class_weight,
                                            training=True))

    def gradients(self, x, y, lengths=None, sample_weight=None,
                  class_weight: dict | None = None, training: bool = True):
        """The loss on one batch and its gradient with respect to every
        parameter, in ``get_weights()`` order, without changing the model
        (for custom training loops and gradient checks). ``training=True``
        runs dropout as ``fit`` does."""
        totals = self._whole_batch(x, y, lengths, sample_weight, class_weight,
                                   training=training, apply=False)
        grads = [layer.grads[name].copy() for layer in self.layers for name in layer.params]
        return totals[0] / max(totals[2], 1), grads

    def _whole_batch(self, x, y, lengths, sample_weight, class_weight, **step_options):
        """Check and take x (with lengths), y and weights as one batch: ``_step``'s totals."""
        self._require_compiled()
        inputs = Inputs(x, lengths, self.dtype)
        self._ensure_built(inputs)
        return self._step(inputs, self._targets(y, inputs), np.arange(inputs.count),
                          self._sample_weights(sample_weight, inputs.count), class_weight,
                          **step_options)

    def _sample_weights(self, sample_weight, count: int):
        if sample_weight is None:
            return None
        sample_weight = np.asarray(sample_weight, dtype=self.dtype)
        if sample_weight.shape != (count,):
            raise ValueError(f"sample_weight: expected shape ({count},), got "
                             f"{sample_weight.shape}")
        return sample_weight

    def _targets(self, y, inputs: Inputs):
        if len(y) != inputs.count:
            raise ValueError(f"y: expected {inputs.count} targets (one per input), got {len(y)}")
        if isinstance(y, (list, tuple)) and len({np.shape(item) for item in y}) > 1:
            return list(y)           # variable-length sequence targets
        return np.asarray(y)

    def _step(self, inputs, y, indices, sample_weight, class_weight, training,
              apply: bool = True):
        """One batch: loss, and when training the gradients and (if `apply`)
        an optimizer step; returns the sums (loss, correct, entries) for the
        logs. apply=False: gradients only (dropout as `training` says)."""
        x, mask = inputs.batch(indices)
        sequences = self.returns_sequences(inputs.sequences)
        targets = batch_targets(y, indices, x.shape[0] if sequences else None)
        entry_mask = mask if sequences else None
        weights = self._entry_weights(
            targets, entry_mask, None if sample_weight is None else sample_weight[indices],
            class_weight)
        count = x.shape[0] * len(indices) if sequences else len(indices)
        if entry_mask is not None:
            count = int(entry_mask.sum())
        total, outputs = self._batch_loss(x, mask, targets, weights, count, training,
                                          backward=training or not apply)
        if training and apply:
            grads = [layer.grads[name] for layer in self.layers for name in layer.params]
            self.optimizer.apply(self.trainable_params, grads)
        correct = 0.0
        if self.metrics:
            if self._logit_loss():
                hits = self._correct(self.layers[-1].z, targets, logits=True)
            else:
                hits = self._correct(outputs, targets, logits=self.loss.from_logits)
            correct = float(hits.sum() if entry_mask is None else (hits * entry_mask).sum())
        return np.array([total, correct, count], dtype=np.float64)

    def _logs(self, totals: np.ndarray, prefix: str = "") -> dict:
        total, correct, count = totals
        logs = {prefix + "loss": total / max(count, 1)}
        if self.metrics:
            logs[prefix + "accuracy"] = correct / max(count, 1)
        return logs

    def fit(self, x, y, batch_size: int = 32, epochs: int = 1, verbose: int = 1,
            callbacks: list | None = None, validation_split: float = 0.0,
            validation_data: tuple | None = None, shuffle: bool = True,
            class_weight: dict | None = None, sample_weight=None, lengths=None,
            initial_epoch: int = 0) -> History:
        """Train for `epochs` passes over the data.

        Parameters
        ----------
        x : (N, T, F) array (with `lengths`), list of (T_i, F) arrays, or (N, F)
        y : targets, one per input: (N, O) one-hot / (N,) labels for models
            ending in a last-step output; (N, T, O) / (N, T) or a list of
            (T_i, ...) for sequence outputs
        validation_data : (x_val, y_val) or (x_val, y_val, lengths_val)
        validation_split : fraction of the data (the last samples, taken
            before shuffling, as Keras does) held out for validation
        class_weight : {class: weight} multiplying each entry's loss
        verbose : 0 silent, 1 a progress bar per epoch, 2 one line per epoch

        Returns
        -------
        History with ``history.history["loss"]``, ``["accuracy"]``,
        ``["val_loss"]``, ... one value per epoch.
        """
        self._require_compiled()
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
        inputs = Inputs(x, lengths, self.dtype)
        self._ensure_built(inputs)
        y = self._targets(y, inputs)
        sample_weight = self._sample_weights(sample_weight, inputs.count)
        train_indices = np.arange(inputs.count)
        validation = None
        if validation_data is not None:
            x_val, y_val, *rest = validation_data
            val_inputs = Inputs(x_val, rest[0] if rest else None, self.dtype)
            validation = (val_inputs, self._targets(y_val, val_inputs),
                          np.arange(val_inputs.count))
        elif validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"validation_split: expected a fraction in (0, 1), got "
                                 f"{validation_split!r}")
            split = int(inputs.count * (1 - validation_split))
            if not 0 < split < inputs.count:
                raise ValueError(f"validation_split={validation_split} leaves no training or "
                                 f"no validation samples of {inputs.count}")
            train_indices, val_indices = train_indices[:split], train_indices[split:]
            validation = (inputs, y, val_indices)
        history = History()
        history.params = {"epochs": epochs, "steps": -(-len(train_indices) // batch_size),
                          "batch_size": batch_size}
        callbacks = [history] + list(callbacks or [])
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks: expected Callback objects, got "
                                f"{type(callback).__name__}")
            callback.set_model(self)
        self.stop_training = False
        for callback in callbacks:
            callback.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            for callback in callbacks:
                callback.on_epoch_begin(epoch)
            order = self.rng.permutation(train_indices) if shuffle else train_indices
            logs = self._run_epoch(inputs, y, order, batch_size, sample_weight, class_weight,
                                   verbose, f"Epoch {epoch + 1}/{epochs}")
            if validation is not None:
                logs.update(self._evaluate(*validation, batch_size, prefix="val_"))
            if verbose == 2:
                print(f"Epoch {epoch + 1}/{epochs} - " + " - ".join(
                    f"{name}: {value:.4f}" for name, value in logs.items()))
            for callback in callbacks:
                callback.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for callback in callbacks:
            callback.on_train_end()
        return history

    def _run_epoch(self, inputs, y, order, batch_size, sample_weight, class_weight, verbose,
                   description) -> dict:
        batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
        totals = np.zeros(3)
        with _progress(len(batches), description, verbose == 1) as bar:
            for indices in batches:
                totals += self._step(inputs, y, indices, sample_weight, class_weight,
                                     training=True)
                if bar is not None:
                    bar.set_postfix({name: f"{value:.4f}"
                                     for name, value in self._logs(totals).items()})
                    bar.update()
            logs = self._logs(totals)
        return logs

    def _evaluate(self, inputs, y, indices, batch_size, prefix="") -> dict:
        totals = np.zeros(3)
        for start in range(0, len(indices), batch_size):
            totals += self._step(inputs, y, indices[start:start + batch_size], None, None,
                                 training=False)
        return self._logs(totals, prefix)

    def evaluate(self, x, y, batch_size: int = 32, verbose: int = 0, lengths=None,
                 return_dict: bool = False):
        """Loss (and metrics) over the data: ``loss`` alone when compiled
        without metrics, else ``[loss, accuracy]``; a dict with return_dict."""
        self._require_compiled()
        inputs = Inputs(x, lengths, self.dtype)
        self._ensure_built(inputs)
        logs = self._evaluate(inputs, self._targets(y, inputs), np.arange(inputs.count),
                              batch_size)
        if verbose:
            print(" - ".join(f"{name}: {value:.4f}" for name, value in logs.items()))
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def predict(self, x, batch_size: int = 32, lengths=None, verbose: int = 0):
        """The model's outputs (inference mode: no dropout).

        Returns
        -------
        For an array input: (N, T, O) for sequence outputs (padded steps as
        the C engine gives them), (N, O) otherwise. For a list input: one
        output per item ((T_i, O) or (O,)), stacked into one array when they
        all have the same shape.
        """
        inputs = Inputs(x, lengths, self.dtype)
        self._ensure_built(inputs)
        sequences = self.returns_sequences(inputs.sequences)
        results = []
        batches = range(0, inputs.count, batch_size)
        with _progress(len(batches), "predict", verbose == 1) as bar:
            for start in batches:
                indices = np.arange(start, min(start + batch_size, inputs.count))
                x_batch, mask = inputs.batch(indices)
                outputs = self._forward(x_batch, mask, training=False)
                results.append(np.moveaxis(outputs, 0, 1) if sequences else outputs)
                if bar is not None:
                    bar.update()
        if inputs.items is None:
            if sequences:
                width = inputs.array.shape[1]
                results = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in results]
            return np.concatenate(results)
        items = [row for batch in results for row in batch]
        if sequences:
            items = [item[:length] for item, length in zip(items, inputs.lengths)]
        if len({item.shape for item in items}) == 1:
            return np.stack(items)
        return items

    # --- to the C engine -----------------------------------------------------

    def to_inference(self, **options) -> engine_model.Sequential:
        """The C-engine model (``fastrnn.Sequential``) with these weights,
        (Dropout left out); `options` go to its constructor (isa, precision)."""
        if not self.built:
            raise RuntimeError("the model has no weights yet: train it (or call build) first")
        layers = [layer.inference_layer() for layer in self.layers]
        return engine_model.Sequential([layer for layer in layers if layer is not None],
                                       **options)

    def save(self, path: str | os.PathLike) -> None:
        """Write the model in fastrnn's native file format (``fastrnn.load``)."""
        self.to_inference().save(path)


class _progress:
    """A tqdm bar when shown, else None (tqdm imported only then)."""

    def __init__(self, total: int, description: str, shown: bool) -> None:
        self.total, self.description, self.shown = total, description, shown
        self.bar = None

    def __enter__(self):
        if self.shown:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=self.total, desc=self.description, unit="batch", leave=True)
        return self.bar

    def __exit__(self, *exc_info):
        if self.bar is not None:
            self.bar.close()
