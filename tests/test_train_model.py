"""fastrnn.train's Keras workflow: fit / evaluate / predict, callbacks,
inputs, helpers, and the trained model in the C engine."""

import numpy as np
import pytest

import fastrnn
from conftest import assert_close
from fastrnn.train import (GRU, LSTM, Adam, Bidirectional, BinaryCrossentropy, Dense, Dropout,
                           EarlyStopping, ModelCheckpoint, Sequential, SimpleRNN, to_categorical,
                           train_test_split)


def sum_sign_task(rng, count=96, steps=12, features=3):
    """Class = sign of the sum of the first feature over the sequence:
    learnable by a small recurrent model in a few epochs."""
    x = rng.standard_normal((count, steps, features)).astype(np.float32)
    labels = (x[:, :, 0].sum(axis=1) > 0).astype(np.int64)
    return x, labels


def test_reference_workflow_runs_and_matches_the_engine(rng):
    """The issue's workflow as written, with fastrnn imports."""
    x, labels = sum_sign_task(rng)
    y = to_categorical(labels, 10)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    model = Sequential([LSTM(128, return_sequences=True), LSTM(64, return_sequences=False),
                        Dense(10, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=2, batch_size=32,
                        validation_data=(x_test, y_test), verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["val_loss"][-1] == pytest.approx(loss, rel=1e-6)
    assert 0 <= accuracy <= 1
    engine = model.to_inference()
    assert isinstance(engine, fastrnn.Sequential)
    assert_close(engine.predict(x_test), model.predict(x_test), "float32", "to_inference")


def test_learns_a_small_task_to_near_zero_loss(rng):
    x, labels = sum_sign_task(rng, count=128)
    model = Sequential([GRU(16, return_sequences=False), Dense(2, activation="softmax")], seed=1)
    model.compile(optimizer=Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, labels, epochs=60, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.05
    assert history.history["accuracy"][-1] == 1.0


ENGINE_MODELS = {
    "lstm": lambda: [LSTM(8, return_sequences=True), Dropout(0.3), LSTM(5, return_sequences=False),
                     Dense(4, activation="softmax")],
    "gru": lambda: [GRU(8, return_sequences=True),
                    GRU(6, reset_after=False, return_sequences=False),
                    Dense(4, activation="sigmoid")],
    "rnn": lambda: [SimpleRNN(7, activation="relu", return_sequences=True),
                    Dense(3, activation="elu")],
    "bidirectional": lambda: [Bidirectional(LSTM(5, return_sequences=True)),
                              Bidirectional(GRU(4, return_sequences=False), merge_mode="ave"),
                              Dense(3)],
}


@pytest.mark.parametrize("lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("name", ENGINE_MODELS)
def test_trained_model_runs_in_the_engine_with_equal_outputs(name, lengths, rng):
    """Within the float32 bar (1e-5) of the trainer's own forward, with and
    without lengths, after a few training steps moved every weight."""
    x = rng.standard_normal((6, 9, 5)).astype(np.float32)
    model = Sequential(ENGINE_MODELS[name](), seed=3)
    model.compile(loss="mse")
    sequences = model.returns_sequences()
    options = {"lengths": np.array([9, 4, 1, 7, 9, 2])} if lengths else {}
    model.build(5)
    targets = rng.standard_normal(model.predict(x, **options).shape)
    model.fit(x, targets, epochs=3, batch_size=3, verbose=0, **options)
    expected = model.predict(x, **options)
    got = model.to_inference().predict(x, **options)
    if sequences and lengths:
        real = np.arange(9) < options["lengths"][:, None]
        got, expected = got[real], expected[real]
    assert_close(got, expected, "float32", f"{name} in the engine")


def test_variable_length_list_inputs(rng):
    items = [rng.standard_normal((steps, 3)).astype(np.float32) for steps in (5, 2, 7, 7)]
    labels = np.array([0, 1, 1, 0])
    model = Sequential([LSTM(4, return_sequences=False), Dense(2, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy")
    model.fit(items, labels, epochs=1, batch_size=2, verbose=0)
    outputs = model.predict(items)
    assert outputs.shape == (4, 2)          # equal shapes: stacked
    for item, output in zip(items, outputs):
        np.testing.assert_allclose(model.predict(item[np.newaxis])[0], output, rtol=1e-6)
    sequence_model = Sequential([GRU(4, return_sequences=True)], seed=0)
    sequence_model.compile(loss="mse")
    per_item = sequence_model.predict(items)
    assert isinstance(per_item, list) and [p.shape for p in per_item] == [(5, 4), (2, 4),
                                                                          (7, 4), (7, 4)]


def test_same_seed_same_model(rng):
    x, labels = sum_sign_task(rng, count=32)

    def train():
        model = Sequential([LSTM(6, return_sequences=True), Dropout(0.2),
                            LSTM(4, return_sequences=False),
                            Dense(2, activation="softmax")], seed=42)
        model.compile(loss="sparse_categorical_crossentropy")
        model.fit(x, labels, epochs=2, batch_size=8, verbose=0)
        return model.get_weights()

    for a, b in zip(train(), train()):
        np.testing.assert_array_equal(a, b)


def test_initializers_follow_keras(rng):
    model = Sequential([LSTM(8, return_sequences=False), Dense(3)], seed=0)
    model.build(5)
    lstm = model.layers[0].params
    recurrent = lstm["weight_hh"]          # (4H, H): orthonormal columns
    np.testing.assert_allclose(recurrent.T @ recurrent, np.eye(8), atol=1e-6)
    np.testing.assert_array_equal(lstm["bias_ih"], np.r_[np.zeros(8), np.ones(8),
                                                         np.zeros(16)])
    limit = np.sqrt(6 / (5 + 32))
    assert np.abs(lstm["weight_ih"]).max() <= limit


def test_validation_split_early_stopping_and_history(rng):
    x, labels = sum_sign_task(rng, count=60)
    model = Sequential([GRU(4, return_sequences=False), Dense(2, activation="softmax")], seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    stopper = EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    # A wild learning rate makes the validation loss stop improving: training must stop early.
    model.optimizer.learning_rate = 50.0
    history = model.fit(x, labels, epochs=30, validation_split=0.25, callbacks=[stopper],
                        verbose=0)
    assert len(history.epoch) < 30 and stopper.stopped_epoch is not None
    best = int(np.argmin(history.history["val_loss"]))
    assert stopper.best_epoch == history.epoch[best]
    restored = model.evaluate(x[45:], labels[45:], return_dict=True)["loss"]
    assert restored == pytest.approx(history.history["val_loss"][best], rel=1e-5)


def test_model_checkpoint_writes_native_files(rng, tmp_path):
    x, labels = sum_sign_task(rng, count=40)
    model = Sequential([LSTM(4, return_sequences=False), Dense(2, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy")
    pattern = str(tmp_path / "model-{epoch:02d}-{loss:.3f}.fastrnn")
    model.fit(x, labels, epochs=2, verbose=0, callbacks=[ModelCheckpoint(pattern,
                                                                         monitor="loss")])
    files = sorted(tmp_path.glob("model-*.fastrnn"))
    assert [f.name[:8] for f in files] == ["model-01", "model-02"]
    loaded = fastrnn.load(files[-1])
    assert_close(loaded.predict(x), model.predict(x), "float32", "checkpoint")


def test_verbose_zero_is_silent_and_two_prints_one_line_per_epoch(rng, capsys):
    x, labels = sum_sign_task(rng, count=16)
    model = Sequential([SimpleRNN(3, return_sequences=False), Dense(2, activation="softmax")],
                       seed=0)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, labels, epochs=2, verbose=0)
    assert capsys.readouterr() == ("", "")
    model.fit(x, labels, epochs=2, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("Epoch 1/2 - loss: ")
    model.fit(x, labels, epochs=1, verbose=1)
    assert "Epoch 1/1" in capsys.readouterr().err        # the tqdm bar


def test_class_weight_changes_the_loss(rng):
    x, labels = sum_sign_task(rng, count=16)
    model = Sequential([GRU(3, return_sequences=False), Dense(2, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy")
    plain, _ = model.gradients(x, labels)
    doubled, _ = model.gradients(x, labels, class_weight={0: 2.0, 1: 2.0})
    assert doubled == pytest.approx(2 * plain, rel=1e-6)


@pytest.mark.parametrize("activation, loss", [
    ("sigmoid", "binary_crossentropy"),                       # taken on the logits
    ("linear", BinaryCrossentropy(from_logits=True)),
    ("softmax", "categorical_crossentropy")])
def test_reported_accuracy_equals_predictions(activation, loss, rng):
    x, labels = sum_sign_task(rng, count=40)
    outputs = 2 if activation == "softmax" else 1
    y = to_categorical(labels, 2) if outputs == 2 else labels[:, None].astype(np.float32)
    model = Sequential([GRU(4, return_sequences=False),
                        Dense(outputs, activation=activation)], seed=0)
    model.compile(loss=loss, metrics=["accuracy"])
    model.fit(x, y, epochs=3, verbose=0)
    predicted = model.predict(x)
    if outputs == 2:
        right = predicted.argmax(axis=1) == labels
    else:
        right = (predicted[:, 0] > (0.5 if activation == "sigmoid" else 0.0)) == labels
    assert model.evaluate(x, y, return_dict=True)["accuracy"] == pytest.approx(right.mean())
    logs = model.train_on_batch(x[:8], y[:8], sample_weight=[1.0] * 8)
    assert set(logs) == {"loss", "accuracy"}


def test_helpers():
    np.testing.assert_array_equal(to_categorical([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    assert to_categorical([1, 3]).shape == (2, 4)
    with pytest.raises(ValueError, match="label 3 does not fit num_classes=3"):
        to_categorical([3], 3)
    x, y = np.arange(20).reshape(10, 2), np.array([0] * 5 + [1] * 5)
    a = train_test_split(x, y, test_size=0.2, random_state=1)
    b = train_test_split(x, y, test_size=0.2, random_state=1)
    for part_a, part_b in zip(a, b):
        np.testing.assert_array_equal(part_a, part_b)
    x_train, x_test, y_train, y_test = a
    assert len(x_test) == 2 and len(x_train) == 8
    assert sorted(np.r_[x_train[:, 0], x_test[:, 0]]) == list(range(0, 20, 2))
    _, _, _, y_strat = train_test_split(x, y, test_size=0.4, random_state=0, stratify=y)
    assert sorted(y_strat) == [0, 0, 1, 1]


def test_bad_input_errors(rng):
    model = Sequential([LSTM(3, return_sequences=False), Dense(2, activation="softmax")])
    with pytest.raises(RuntimeError, match="not compiled"):
        model.fit(np.zeros((2, 3, 4)), [0, 1])
    model.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"y: expected 2 targets \(one per input\), got 3"):
        model.fit(np.zeros((2, 3, 4)), [0, 1, 1], verbose=0)
    with pytest.raises(ValueError, match=r"labels in \[0, 2\), got min 0, max 5"):
        model.fit(np.zeros((2, 3, 4)), [0, 5], verbose=0)
    with pytest.raises(ValueError, match=r"lengths: expected values in \[1, 3\]"):
        model.fit(np.zeros((2, 3, 4)), [0, 1], lengths=np.array([0, 3]), verbose=0)
    with pytest.raises(ValueError, match="contains NaN"):
        model.fit(np.full((2, 3, 4), np.nan), [0, 1], verbose=0)
    model.fit(np.zeros((2, 3, 4)), [0, 1], verbose=0)
    with pytest.raises(ValueError, match="expected 4 features .* got 5"):
        model.predict(np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match="units: expected an integer >= 1, got 0"):
        LSTM(0, return_sequences=False)
    with pytest.raises(ValueError, match="Dense activation: expected None or one of"):
        Dense(3, activation="swish")
    with pytest.raises(ValueError, match=r"Dropout rate: expected a number in \[0, 1\)"):
        Dropout(1.0)
    with pytest.raises(ValueError, match="optimizer: expected an Optimizer or one of"):
        model.compile(optimizer="rmsprop")
    with pytest.raises(ValueError, match="return_sequences=True"):
        broken = Sequential([LSTM(3, return_sequences=False), LSTM(3, return_sequences=False)])
        broken.compile(loss="mse")
        broken.fit(np.zeros((2, 3, 4)), np.zeros((2, 3)), verbose=0)
