"""SimpleRNN (tanh and relu) vs the float64 reference and the frameworks."""

import numpy as np
import pytest
from conftest import ISAS, TOLERANCE, dense_weights, max_abs, recurrent_weights
from reference import simple_rnn

import fastrnn

SHAPES = [(1, 1, 1, 1), (3, 5, 7, 40), (17, 2, 64, 9), (64, 64, 3, 100), (100, 40, 1, 300),
          (257, 31, 5, 10), (512, 512, 2, 8), (1024, 64, 1, 4)]


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("hidden, inputs, batch, steps", SHAPES)
def test_matches_reference(hidden, inputs, batch, steps, activation, rng):
    weights = recurrent_weights(rng, 1, inputs, hidden)
    x = rng.standard_normal((batch, steps, inputs)).astype(np.float32)
    model = fastrnn.Sequential([fastrnn.SimpleRNN(*weights, activation=activation)])
    expected = simple_rnn(x, *weights, activation=activation)[0]
    assert max_abs(model.predict(x), expected) <= TOLERANCE["float32"]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_every_isa_and_streaming(isa, activation, rng):
    weights = recurrent_weights(rng, 1, 9, 40)
    model = fastrnn.Sequential([fastrnn.SimpleRNN(*weights, activation=activation),
                                fastrnn.Dense(*dense_weights(rng, 40, 3))], isa=isa)
    x = rng.standard_normal((50, 9)).astype(np.float32)
    y = model.predict(x)
    assert max_abs(y[:, :], simple_rnn(x, *weights, activation=activation)[0] @ np.float64(
        model.layers[1].weight).T + model.layers[1].bias) <= TOLERANCE["float32"]
    stream = model.stream()
    assert np.array_equal(np.concatenate([stream.process(x[:17]), stream.process(x[17:])]), y)


def test_activation_is_checked(rng):
    with pytest.raises(ValueError, match="SimpleRNN activation: expected 'tanh' or 'relu'"):
        fastrnn.SimpleRNN(*recurrent_weights(rng, 1, 3, 4), activation="sigmoid")


def test_model_file_round_trip(tmp_path, rng):
    model = fastrnn.Sequential([fastrnn.SimpleRNN(*recurrent_weights(rng, 1, 3, 4),
                                                  activation="relu", return_sequences=False)])
    model.save(tmp_path / "rnn.fastrnn")
    loaded = fastrnn.load(tmp_path / "rnn.fastrnn")
    x = rng.standard_normal((2, 7, 3)).astype(np.float32)
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert loaded.layers[0].activation == "relu"


def test_from_keras_layout(rng):
    w_ih, w_hh, b_ih, _ = recurrent_weights(rng, 1, 3, 4)
    layer = fastrnn.SimpleRNN.from_keras(w_ih.T, w_hh.T, b_ih)
    np.testing.assert_array_equal(layer.weight_ih, w_ih)
    np.testing.assert_array_equal(layer.weight_hh, w_hh)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_against_torch(nonlinearity):
    torch = pytest.importorskip("torch",
                                reason="PyTorch is not installed (pip install torch==2.13.0)")
    torch.manual_seed(4)
    rnn = torch.nn.RNN(10, 24, num_layers=2, nonlinearity=nonlinearity, batch_first=True)
    x = torch.randn(3, 40, 10)
    with torch.inference_mode():
        expected = rnn(x)[0].numpy()
    names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    model = fastrnn.Sequential([
        fastrnn.SimpleRNN.from_torch(*(getattr(rnn, f"{n}_l{i}") for n in names),
                                     activation=nonlinearity) for i in range(2)])
    assert max_abs(model.predict(x.numpy()), expected) <= TOLERANCE["float32"]


def test_against_keras(keras):
    keras.utils.set_random_seed(9)
    layer = keras.layers.SimpleRNN(16, return_sequences=True, bias_initializer="random_normal")
    kmodel = keras.Sequential([keras.Input((None, 5)), layer])
    x = np.random.default_rng(1).standard_normal((2, 30, 5)).astype(np.float32)
    expected = np.asarray(kmodel.predict(x, verbose=0))
    model = fastrnn.Sequential([fastrnn.SimpleRNN.from_keras(*layer.get_weights())])
    assert max_abs(model.predict(x), expected) <= TOLERANCE["float32"]
