"""fastrnn.from_keras: live Keras 3 models and .keras / .h5 files, against Keras."""

import sys

import numpy as np
import pytest
from conftest import TOLERANCE, max_abs

import fastrnn


def models(keras):
    L = keras.layers
    init = {"bias_initializer": "random_normal"}
    return {
        "stack": keras.Sequential([
            keras.Input((None, 6)),
            L.LSTM(12, return_sequences=True, **init),
            L.GRU(10, return_sequences=True, reset_after=False, **init),
            L.Dropout(0.2),
            L.TimeDistributed(L.Dense(7, **init)),
            L.Activation("softmax")]),
        "bidirectional": keras.Sequential([
            keras.Input((None, 6)),
            L.Bidirectional(L.LSTM(8, return_sequences=True, **init), merge_mode="sum"),
            L.SimpleRNN(9, activation="relu", **init),
            L.Dense(3, activation="sigmoid", **init)]),
        "gru-last": keras.Sequential([
            keras.Input((None, 6)),
            L.GRU(16, **init),
            L.Dense(4, activation="softmax", use_bias=False)]),
    }


@pytest.mark.parametrize("name", ["stack", "bidirectional", "gru-last"])
@pytest.mark.parametrize("source", ["live", ".keras", ".h5"])
def test_against_keras(keras, tmp_path, name, source):
    keras.utils.set_random_seed(13)
    kmodel = models(keras)[name]
    x = np.random.default_rng(4).standard_normal((3, 21, 6)).astype(np.float32)
    expected = np.asarray(kmodel.predict(x, verbose=0))
    if source == "live":
        model = fastrnn.from_keras(kmodel)
    else:
        path = tmp_path / f"model{source}"
        kmodel.save(path)
        model = fastrnn.from_keras(path)
    assert max_abs(model.predict(x), expected) <= TOLERANCE["float32"]


def test_files_need_no_keras(keras, tmp_path, monkeypatch):
    keras.utils.set_random_seed(1)
    kmodel = models(keras)["gru-last"]
    kmodel.save(tmp_path / "m.keras")
    kmodel.save(tmp_path / "m.h5")
    monkeypatch.setitem(sys.modules, "keras", None)        # import keras now fails
    for path in (tmp_path / "m.keras", tmp_path / "m.h5"):
        assert fastrnn.from_keras(path).output_size == 4


def test_masking(keras):
    keras.utils.set_random_seed(2)
    L = keras.layers
    kmodel = keras.Sequential([keras.Input((None, 5)), L.Masking(0.0),
                               L.LSTM(8, return_sequences=True), L.LSTM(6), L.Dense(2)])
    x = np.random.default_rng(3).standard_normal((3, 12, 5)).astype(np.float32)
    x[1, 7:] = 0.0                  # padding at the end
    x[2, 2:] = 0.0
    x[0, [3, 4, 9]] = 0.0           # masked steps inside a sequence: skipped, state kept
    expected = np.asarray(kmodel.predict(x, verbose=0))
    model = fastrnn.from_keras(kmodel)
    assert model.mask_value == 0.0
    assert max_abs(model.predict(x), expected) <= TOLERANCE["float32"]


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_masking_follows_keras_at_masked_steps(keras, kind, bidirectional, return_sequences):
    """Every output, masked steps included: a Keras RNN repeats its previous
    output there, inside a Bidirectional it outputs zeros, and the layers
    after it compute on that (a Dense with a bias shows which)."""
    keras.utils.set_random_seed(5)
    L = keras.layers
    rnn = getattr(L, kind)(6, return_sequences=return_sequences)
    kmodel = keras.Sequential([keras.Input((None, 4)), L.Masking(0.0),
                               L.Bidirectional(rnn) if bidirectional else rnn,
                               L.Dense(3, bias_initializer="random_normal")])
    x = np.random.default_rng(6).standard_normal((3, 10, 4)).astype(np.float32)
    x[0, [0, 2, 7]] = 0.0
    x[1, 6:] = 0.0
    expected = np.asarray(kmodel.predict(x, verbose=0))
    assert max_abs(fastrnn.from_keras(kmodel).predict(x), expected) <= TOLERANCE["float32"]


def test_masking_reaches_every_recurrent_layer(keras):
    keras.utils.set_random_seed(7)
    L = keras.layers
    kmodel = keras.Sequential([keras.Input((None, 4)), L.Masking(0.0),
                               L.Bidirectional(L.GRU(6, return_sequences=True)),
                               L.SimpleRNN(5, return_sequences=True)])
    x = np.random.default_rng(6).standard_normal((3, 10, 4)).astype(np.float32)
    x[0, [2, 7]] = 0.0
    x[1, 6:] = 0.0
    expected = np.asarray(kmodel.predict(x, verbose=0))
    assert max_abs(fastrnn.from_keras(kmodel).predict(x), expected) <= TOLERANCE["float32"]


def test_functional_chain_and_branches(keras):
    """A Functional chain imports as a Sequential (as before graphs); one with
    branches as a fastrnn.Model."""
    keras.utils.set_random_seed(3)
    L = keras.layers
    inputs = keras.Input((None, 4))
    outputs = L.Dense(3)(L.GRU(5, return_sequences=True)(inputs))
    kmodel = keras.Model(inputs, outputs)
    x = np.random.default_rng(5).standard_normal((2, 9, 4)).astype(np.float32)
    chain = fastrnn.from_keras(kmodel)
    assert isinstance(chain, fastrnn.Sequential)
    assert max_abs(chain.predict(x), np.asarray(kmodel.predict(x, verbose=0))) \
        <= TOLERANCE["float32"]
    branch = L.Dense(3, name="branch")(inputs)
    joined = keras.Model(inputs, L.Add(name="sum")([branch, L.Dense(3)(inputs)]))
    model = fastrnn.from_keras(joined)
    assert not isinstance(model, fastrnn.Sequential) and model.output_names == ["sum"]
    assert max_abs(model.predict(x), np.asarray(joined.predict(x, verbose=0))) \
        <= TOLERANCE["float32"]


@pytest.mark.parametrize("layer, message", [
    (lambda L: L.LSTM(4, activation="relu"), "activation='relu'"),
    (lambda L: L.GRU(4, recurrent_activation="hard_sigmoid"), "recurrent_activation"),
    (lambda L: L.UpSampling1D(2), "UpSampling1D .*not a layer fastrnn can run"),
    (lambda L: L.Dense(4, activation="mish"), "activation 'mish'"),
])
def test_unsupported(keras, layer, message):
    kmodel = keras.Sequential([keras.Input((None, 4)), layer(keras.layers)])
    with pytest.raises(NotImplementedError, match=message):
        fastrnn.from_keras(kmodel)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_go_backwards(keras, tmp_path, kind, return_sequences):
    keras.utils.set_random_seed(8)
    L = keras.layers
    kmodel = keras.Sequential([keras.Input((None, 4)),
                               getattr(L, kind)(7, go_backwards=True, return_sequences=True,
                                                bias_initializer="random_normal"),
                               getattr(L, kind)(5, return_sequences=return_sequences),
                               L.Dense(3)])
    x = np.random.default_rng(9).standard_normal((2, 11, 4)).astype(np.float32)
    expected = np.asarray(kmodel.predict(x, verbose=0))
    model = fastrnn.from_keras(kmodel)
    assert model.layers[0].go_backwards
    assert max_abs(model.predict(x), expected) <= TOLERANCE["float32"]
    model.save(tmp_path / "back.fastrnn")
    assert np.array_equal(fastrnn.load(tmp_path / "back.fastrnn").predict(x), model.predict(x))
    with pytest.raises(ValueError, match="needs whole sequences"):
        model.stream()


def test_damaged_file(tmp_path):
    pytest.importorskip("h5py", reason="h5py is not installed (pip install 'fastrnn[keras]')")
    path = tmp_path / "broken.keras"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(fastrnn.FormatError, match="not a readable Keras model file"):
        fastrnn.from_keras(path)
    with pytest.raises(FileNotFoundError):
        fastrnn.from_keras(tmp_path / "absent.keras")
