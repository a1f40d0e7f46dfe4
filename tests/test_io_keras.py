"""from_keras: the layout conversions by hand, and against real Keras 3."""

import numpy as np
import pytest
from conftest import TOLERANCE, max_abs, recurrent_weights

import fastrnn
from fastrnn.io.keras import swap_zr


def test_lstm_layout_by_hand(rng):
    w_ih, w_hh, b_ih, _ = recurrent_weights(rng, 4, 5, 7)
    layer = fastrnn.LSTM.from_keras(w_ih.T, w_hh.T, b_ih)
    np.testing.assert_array_equal(layer.weight_ih, w_ih)
    np.testing.assert_array_equal(layer.weight_hh, w_hh)
    np.testing.assert_array_equal(layer.bias_ih, b_ih)
    assert layer.bias_hh is None


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_layout_by_hand(reset_after, rng):
    w_ih, w_hh, b_ih, b_hh = recurrent_weights(rng, 3, 5, 7)
    to_keras = lambda w: np.concatenate([w[7:14], w[:7], w[14:]])  # noqa: E731  r,z,n -> z,r,h
    bias = np.stack([to_keras(b_ih), to_keras(b_hh)]) if reset_after else to_keras(b_ih)
    layer = fastrnn.GRU.from_keras(to_keras(w_ih).T, to_keras(w_hh).T, bias, reset_after)
    np.testing.assert_array_equal(layer.weight_ih, w_ih)
    np.testing.assert_array_equal(layer.weight_hh, w_hh)
    np.testing.assert_array_equal(layer.bias_ih, b_ih)
    if reset_after:
        np.testing.assert_array_equal(layer.bias_hh, b_hh)
    assert layer.reset_after == reset_after
    np.testing.assert_array_equal(swap_zr(swap_zr(w_ih, 7), 7), w_ih)


def test_gru_bias_shape_is_checked(rng):
    w_ih, w_hh, b_ih, _ = recurrent_weights(rng, 3, 5, 7)
    with pytest.raises(ValueError, match=r"reset_after=True: expected shape \(2, 21\), got \(21,\)"):
        fastrnn.GRU.from_keras(w_ih.T, w_hh.T, b_ih, reset_after=True)


def from_keras_model(kmodel):
    layers = []
    for layer in kmodel.layers:
        weights = layer.get_weights()
        config = layer.get_config()
        name = type(layer).__name__
        if name == "LSTM":
            layers.append(fastrnn.LSTM.from_keras(
                *weights, return_sequences=config["return_sequences"]))
        elif name == "GRU":
            layers.append(fastrnn.GRU.from_keras(
                *weights, reset_after=config["reset_after"],
                return_sequences=config["return_sequences"]))
        elif name == "Dense":
            layers.append(fastrnn.Dense.from_keras(*weights, activation=config["activation"]))
    return fastrnn.Sequential(layers)


@pytest.mark.parametrize("recurrent", ["lstm", "gru", "gru_reset_before"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_against_keras(keras, recurrent, return_sequences):
    keras.utils.set_random_seed(7)
    make = {
        "lstm": lambda **kw: keras.layers.LSTM(32, **kw),
        "gru": lambda **kw: keras.layers.GRU(32, reset_after=True, **kw),
        "gru_reset_before": lambda **kw: keras.layers.GRU(32, reset_after=False, **kw),
    }[recurrent]
    kmodel = keras.Sequential([
        keras.Input((None, 12)),
        make(return_sequences=True, bias_initializer="random_normal"),
        make(return_sequences=return_sequences, bias_initializer="random_normal"),
        keras.layers.Dense(5, activation="softmax"),
    ])
    x = np.random.default_rng(3).standard_normal((4, 30, 12)).astype(np.float32)
    expected = np.asarray(kmodel.predict(x, verbose=0))
    y = from_keras_model(kmodel).predict(x)
    assert y.shape == expected.shape
    assert max_abs(y, expected) <= TOLERANCE["float32"]
