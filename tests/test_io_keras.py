"""from_keras: Keras' layouts converted by hand (NumPy only, always runs), and
layers from real Keras 3 models (torch backend) against Keras' predict."""

import numpy as np
import pytest
from conftest import TOLERANCE, assert_close, dense_weights, inputs, max_abs, recurrent_weights

import fastrnn

# --- by hand: Keras arrays built from canonical ones, no Keras needed -------


def keras_gates(blocks, hidden):
    """Canonical GRU gate blocks (r, z, n) along axis 0 -> Keras' (z, r, h),
    written out independently of fastrnn.io.keras."""
    r, z, n = blocks[:hidden], blocks[hidden:2 * hidden], blocks[2 * hidden:]
    return np.concatenate([z, r, n])


def same_layer(a, b):
    """The same canonical weights, bit for bit, and the same options."""
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight", "bias"):
        wa, wb = getattr(a, name, None), getattr(b, name, None)
        assert (wa is None) == (wb is None), name
        if wa is not None:
            assert wa.dtype == wb.dtype == np.float32 and np.array_equal(wa, wb), name
    for option in ("return_sequences", "reset_after", "activation", "input_size", "output_size"):
        assert getattr(a, option, None) == getattr(b, option, None), option


@pytest.mark.parametrize("return_sequences", [True, False])
def test_lstm_by_hand(return_sequences, rng):
    """Keras LSTM: kernel (I, 4H) = weight_ih.T, same gate order (i, f, c, o),
    one bias (4H,)."""
    w_ih, w_hh, bias, _ = recurrent_weights(rng, 4, 5, 7)
    layer = fastrnn.LSTM.from_keras(w_ih.T, w_hh.T, bias, return_sequences=return_sequences)
    same_layer(layer, fastrnn.LSTM(w_ih, w_hh, bias, None, return_sequences=return_sequences))
    no_bias = fastrnn.LSTM.from_keras(w_ih.T, w_hh.T)
    same_layer(no_bias, fastrnn.LSTM(w_ih, w_hh))


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_by_hand(reset_after, rng):
    """Keras GRU: kernels transposed, gate blocks z, r, h; bias (2, 3H) (input
    row, recurrent row) when reset_after, else one input bias (3H,)."""
    hidden = 7
    w_ih, w_hh, b_ih, b_hh = recurrent_weights(rng, 3, 5, hidden)
    kernel = keras_gates(w_ih, hidden).T
    recurrent_kernel = keras_gates(w_hh, hidden).T
    if reset_after:
        bias = np.stack([keras_gates(b_ih, hidden), keras_gates(b_hh, hidden)])
        canonical = fastrnn.GRU(w_ih, w_hh, b_ih, b_hh, reset_after=True)
    else:
        bias = keras_gates(b_ih, hidden)
        canonical = fastrnn.GRU(w_ih, w_hh, b_ih, None, reset_after=False)
    assert kernel.shape == (5, 3 * hidden) and recurrent_kernel.shape == (hidden, 3 * hidden)
    layer = fastrnn.GRU.from_keras(kernel, recurrent_kernel, bias, reset_after)
    same_layer(layer, canonical)
    x = inputs(rng, (3, 9, 5))
    assert np.array_equal(fastrnn.Sequential([layer]).predict(x),
                          fastrnn.Sequential([canonical]).predict(x))
    # The reorder matters: without it the model is a different one.
    unordered = fastrnn.GRU(kernel.T, recurrent_kernel.T, reset_after=reset_after)
    assert max_abs(fastrnn.Sequential([unordered]).predict(x),
                   fastrnn.Sequential([fastrnn.GRU(w_ih, w_hh, reset_after=reset_after)])
                   .predict(x)) > 100 * TOLERANCE["float32"]


def test_gru_options_by_hand(rng):
    w_ih, w_hh, _, _ = recurrent_weights(rng, 3, 4, 6)
    layer = fastrnn.GRU.from_keras(keras_gates(w_ih, 6).T, keras_gates(w_hh, 6).T,
                                   reset_after=False, return_sequences=False)
    same_layer(layer, fastrnn.GRU(w_ih, w_hh, reset_after=False, return_sequences=False))


@pytest.mark.parametrize("activation", [None, "linear", "relu", "tanh", "sigmoid", "elu",
                                        "softmax"])
def test_dense_by_hand(activation, rng):
    weight, bias = dense_weights(rng, 6, 4)
    same_layer(fastrnn.Dense.from_keras(weight.T, bias, activation),
               fastrnn.Dense(weight, bias, activation))


def test_gru_bias_shape_names_expected_and_given(rng):
    w_ih, w_hh, b_ih, _ = recurrent_weights(rng, 3, 5, 7)
    with pytest.raises(ValueError,
                       match=r"reset_after=True: expected shape \(2, 21\), got \(21,\)"):
        fastrnn.GRU.from_keras(w_ih.T, w_hh.T, b_ih, reset_after=True)
    with pytest.raises(ValueError,
                       match=r"reset_after=False: expected shape \(21,\), got \(2, 21\)"):
        fastrnn.GRU.from_keras(w_ih.T, w_hh.T, np.stack([b_ih, b_ih]), reset_after=False)
    with pytest.raises(ValueError, match=r"GRU kernel: expected 21 columns \(3 \* units\) for "
                                         r"units=7 .*got 28"):
        fastrnn.GRU.from_keras(np.zeros((5, 28)), w_hh.T)
    with pytest.raises(ValueError, match=r"GRU recurrent_kernel: expected 21 columns "
                                         r"\(3 \* units\) for units=7 .*got 22"):
        fastrnn.GRU.from_keras(w_ih.T, np.zeros((7, 22)))


def test_lstm_kernel_shape_names_expected_and_given():
    """As for the GRU: a wrong Keras array is named as the caller passed it
    (kernel, recurrent_kernel) with the columns it has, not as the
    transposed canonical weight_ih / weight_hh the caller never saw."""
    with pytest.raises(ValueError, match=r"LSTM kernel\b.*expected.*\b28\b.*got.*\b32\b"):
        fastrnn.LSTM.from_keras(np.zeros((5, 32)), np.zeros((7, 28)))   # units = 7: 4 * 7 = 28
    with pytest.raises(ValueError, match=r"LSTM recurrent_kernel\b.*expected.*\b28\b.*got.*\b29\b"):
        fastrnn.LSTM.from_keras(np.zeros((5, 28)), np.zeros((7, 29)))


# --- real Keras 3 models ----------------------------------------------------


def fastrnn_from_keras_model(kmodel):
    """fastrnn layers from a keras.Sequential's layers, with layer.get_weights()."""
    layers = []
    for layer in kmodel.layers:
        weights, config = layer.get_weights(), layer.get_config()
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
        else:
            raise AssertionError(f"unexpected Keras layer {name}")
    return fastrnn.Sequential(layers)


RECURRENT = {
    "lstm": lambda keras, **kw: keras.layers.LSTM(32, **kw),
    "gru_reset_after": lambda keras, **kw: keras.layers.GRU(32, reset_after=True, **kw),
    "gru_reset_before": lambda keras, **kw: keras.layers.GRU(32, reset_after=False, **kw),
}


@pytest.mark.parametrize("recurrent", RECURRENT)
@pytest.mark.parametrize("return_sequences", [True, False])
def test_against_keras(keras, recurrent, return_sequences):
    keras.utils.set_random_seed(7)
    make = RECURRENT[recurrent]
    # random_normal biases: Keras' default zero biases would hide a bias bug
    kmodel = keras.Sequential([
        keras.Input((None, 12)),
        make(keras, return_sequences=True, bias_initializer="random_normal"),
        make(keras, return_sequences=return_sequences, bias_initializer="random_normal"),
        keras.layers.Dense(5, activation="softmax", bias_initializer="random_normal"),
    ])
    x = np.random.default_rng(3).standard_normal((4, 30, 12)).astype(np.float32)
    expected = np.asarray(kmodel.predict(x, verbose=0))
    assert expected.shape == ((4, 30, 5) if return_sequences else (4, 5))
    model = fastrnn_from_keras_model(kmodel)
    assert_close(model.predict(x), expected, "float32", recurrent)
    assert_close(model.predict(x[1]), expected[1], "float32", f"{recurrent}, one sequence")


@pytest.mark.parametrize("recurrent", RECURRENT)
def test_against_keras_without_biases(keras, recurrent):
    keras.utils.set_random_seed(11)
    kmodel = keras.Sequential([
        keras.Input((None, 6)),
        RECURRENT[recurrent](keras, use_bias=False),
        keras.layers.Dense(3, use_bias=False),
    ])
    x = np.random.default_rng(4).standard_normal((2, 17, 6)).astype(np.float32)
    assert_close(fastrnn_from_keras_model(kmodel).predict(x),
                 np.asarray(kmodel.predict(x, verbose=0)), "float32", recurrent)


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "sigmoid", "elu", "softmax"])
def test_dense_activations_against_keras(keras, activation):
    keras.utils.set_random_seed(13)
    kmodel = keras.Sequential([
        keras.Input((None, 10)),
        keras.layers.Dense(9, activation=activation, bias_initializer="random_normal"),
    ])
    x = (np.random.default_rng(5).standard_normal((3, 8, 10)) * 3).astype(np.float32)
    assert_close(fastrnn_from_keras_model(kmodel).predict(x),
                 np.asarray(kmodel.predict(x, verbose=0)), "float32", activation)
