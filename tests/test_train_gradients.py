"""Finite-difference gradient checks of the NumPy trainer, float64.

Central differences with step 1e-6 have error ~1e-10 (truncation h^2 times
third derivatives of size ~1, rounding 1e-16 / 1e-6): the analytic gradient
must match within 1e-6 relative to the largest gradient entry, far above the
difference's own error and far below any real mistake (a wrong factor or a
missed term shows up at ~1e-2).
"""

import numpy as np
import pytest

from fastrnn.train import (GRU, LSTM, Bidirectional, BinaryCrossentropy, Dense, Dropout,
                           Sequential, SimpleRNN, SparseCategoricalCrossentropy,
                           to_categorical)

STEP = 1e-6
RELATIVE = 1e-6
BATCH, STEPS, FEATURES, CLASSES = 3, 5, 4, 3


def numeric_gradients(model, loss_of):
    """d loss / d every parameter by central differences."""
    grads = []
    for param in model.trainable_params:
        grad = np.zeros_like(param)
        for index in np.ndindex(param.shape):
            saved = param[index]
            param[index] = saved + STEP
            plus = loss_of()
            param[index] = saved - STEP
            minus = loss_of()
            param[index] = saved
            grad[index] = (plus - minus) / (2 * STEP)
        grads.append(grad)
    return grads


def check(model, x, y, **options):
    """Analytic gradients (model.gradients) against finite differences."""
    loss, analytic = model.gradients(x, y, **options)
    numeric = numeric_gradients(model, lambda: model.gradients(x, y, **options)[0])
    scale = max(1.0, max(np.abs(g).max() for g in analytic))
    for index, (a, n) in enumerate(zip(analytic, numeric)):
        error = np.abs(a - n).max() / scale
        assert error <= RELATIVE, f"parameter {index} {a.shape}: relative error {error:.2e}"
    assert np.isfinite(loss)


def randomize(model, rng, x):
    """Build and move weights off their initial values (zero biases would
    hide bias-gradient bugs)."""
    model.build(x.shape[-1] if isinstance(x, np.ndarray) else x[0].shape[-1])
    model.set_weights([rng.uniform(-0.6, 0.6, w.shape) for w in model.get_weights()])


def data(rng, sequences_out=False, lengths=False):
    x = rng.standard_normal((BATCH, STEPS, FEATURES))
    labels = rng.integers(0, CLASSES, (BATCH, STEPS) if sequences_out else BATCH)
    options = {"lengths": np.array([STEPS, 2, 4])} if lengths else {}
    return x, labels, options


RECURRENT = {
    "lstm": lambda rs: LSTM(4, return_sequences=rs),
    "gru": lambda rs: GRU(4, return_sequences=rs),
    "gru_reset_before": lambda rs: GRU(4, return_sequences=rs, reset_after=False),
    "rnn_tanh": lambda rs: SimpleRNN(4, return_sequences=rs),
    "rnn_relu": lambda rs: SimpleRNN(4, activation="relu", return_sequences=rs),
}


@pytest.mark.parametrize("lengths", [False, True], ids=["full", "masked"])
@pytest.mark.parametrize("sequences_out", [False, True], ids=["last_step", "sequences"])
@pytest.mark.parametrize("kind", RECURRENT)
def test_recurrent_layers(kind, sequences_out, lengths, rng):
    x, labels, options = data(rng, sequences_out, lengths)
    model = Sequential([RECURRENT[kind](True), RECURRENT[kind](sequences_out),
                        Dense(CLASSES, activation="softmax")], dtype="float64")
    model.compile(loss="categorical_crossentropy")
    randomize(model, rng, x)
    check(model, x, to_categorical(labels, CLASSES, dtype="float64"), **options)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("sequences_out", [False, True], ids=["last_step", "sequences"])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_bidirectional(kind, sequences_out, merge_mode, rng):
    x, labels, options = data(rng, sequences_out, lengths=True)
    model = Sequential([Bidirectional(RECURRENT[kind](True), merge_mode=merge_mode),
                        Bidirectional(RECURRENT[kind](sequences_out), merge_mode=merge_mode),
                        Dense(CLASSES)], dtype="float64")
    model.compile(loss=SparseCategoricalCrossentropy(from_logits=True))
    randomize(model, rng, x)
    check(model, x, labels, **options)


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "sigmoid", "elu", "softmax"])
def test_dense_activations(activation, rng):
    x = rng.standard_normal((6, FEATURES))
    model = Sequential([Dense(5, activation=activation), Dense(2)], dtype="float64")
    model.compile(loss="mse")
    randomize(model, rng, x)
    check(model, x, rng.standard_normal((6, 2)))


LOSSES = {
    "categorical_fused": ("softmax", "categorical_crossentropy", "one_hot"),
    "categorical_probabilities": ("sigmoid", "categorical_crossentropy", "one_hot"),
    "sparse_fused": ("softmax", "sparse_categorical_crossentropy", "labels"),
    "sparse_logits": ("linear", SparseCategoricalCrossentropy(from_logits=True), "labels"),
    "binary_fused": ("sigmoid", "binary_crossentropy", "binary"),
    "binary_logits": ("linear", BinaryCrossentropy(from_logits=True), "binary"),
    "mse": ("tanh", "mse", "real"),
}


@pytest.mark.parametrize("name", LOSSES)
def test_losses(name, rng):
    activation, loss, target_kind = LOSSES[name]
    x, labels, options = data(rng, sequences_out=True, lengths=True)
    targets = {"one_hot": to_categorical(labels, CLASSES, dtype="float64"), "labels": labels,
               "binary": (rng.random((BATCH, STEPS, CLASSES)) > 0.5).astype(float),
               "real": rng.standard_normal((BATCH, STEPS, CLASSES))}[target_kind]
    model = Sequential([LSTM(3, return_sequences=True), Dense(CLASSES, activation=activation)],
                       dtype="float64")
    model.compile(loss=loss)
    randomize(model, rng, x)
    check(model, x, targets, **options)


def test_class_and_sample_weights(rng):
    x, labels, _ = data(rng)
    model = Sequential([GRU(3, return_sequences=False), Dense(CLASSES, activation="softmax")],
                       dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy")
    randomize(model, rng, x)
    check(model, x, labels, class_weight={0: 2.0, 2: 0.5}, sample_weight=[1.0, 0.3, 2.0])


def test_dropout_with_fixed_noise(rng):
    """Dropout's gradient is its mask times the scale: checked with the
    noise replayed identically for every evaluation."""
    x, labels, _ = data(rng)
    dropout = Dropout(0.4)
    model = Sequential([LSTM(4, return_sequences=True), dropout, LSTM(3, return_sequences=False),
                        Dense(CLASSES, activation="softmax")], dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy")
    randomize(model, rng, x)

    def loss_with_noise(seed=7):
        dropout.rng = np.random.default_rng(seed)
        return model.gradients(x, labels)

    loss, analytic = loss_with_noise()
    assert dropout.scale is not None and (dropout.scale == 0).any()
    numeric = numeric_gradients(model, lambda: loss_with_noise()[0])
    scale = max(1.0, max(np.abs(g).max() for g in analytic))
    for a, n in zip(analytic, numeric):
        assert np.abs(a - n).max() / scale <= RELATIVE


def test_padded_steps_contribute_nothing(rng):
    """Changing the padding changes neither the loss nor any gradient."""
    x, labels, options = data(rng, sequences_out=True, lengths=True)
    model = Sequential([Bidirectional(LSTM(3, return_sequences=True)),
                        Dense(CLASSES, activation="softmax")], dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy")
    randomize(model, rng, x)
    loss, grads = model.gradients(x, labels, **options)
    noisy = x.copy()
    for row, length in enumerate(options["lengths"]):
        noisy[row, length:] = rng.standard_normal((STEPS - length, FEATURES)) * 100
    other_labels = labels.copy()
    other_labels[1, 2:] = (labels[1, 2:] + 1) % CLASSES
    loss_noisy, grads_noisy = model.gradients(noisy, other_labels, **options)
    assert loss == loss_noisy
    for g, h in zip(grads, grads_noisy):
        np.testing.assert_array_equal(g, h)
