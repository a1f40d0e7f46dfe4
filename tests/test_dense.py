"""Dense layer and its activations vs the float64 reference."""

import numpy as np
import pytest
from conftest import ISAS, TOLERANCE, dense_weights, max_abs
from reference import dense

import fastrnn

ACTIVATIONS = [None, "linear", "relu", "tanh", "sigmoid", "elu", "softmax"]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("inputs, outputs", [(1, 1), (3, 10), (40, 17), (128, 100), (512, 3)])
def test_matches_reference(isa, activation, inputs, outputs, rng):
    weight, bias = dense_weights(rng, inputs, outputs)
    x = (rng.standard_normal((3, 11, inputs)) * 2).astype(np.float32)
    y = fastrnn.Sequential([fastrnn.Dense(weight, bias, activation)], isa=isa).predict(x)
    assert y.shape == (3, 11, outputs)
    assert max_abs(y, dense(x, weight, bias, activation)) <= TOLERANCE["float32"]


def test_softmax_rows_sum_to_one_and_ignore_padding(rng):
    weight, bias = dense_weights(rng, 8, 5)  # 5 outputs: padded inside the engine
    y = fastrnn.Sequential([fastrnn.Dense(weight * 50, bias, "softmax")]).predict(
        rng.standard_normal((20, 8)).astype(np.float32))
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=0, atol=1e-6)


def test_unknown_activation():
    with pytest.raises(ValueError, match="activation: expected None or one of .* got 'gelu'"):
        fastrnn.Dense(np.ones((2, 2)), activation="gelu")


def test_from_keras_transposes(rng):
    weight, bias = dense_weights(rng, 6, 4)
    layer = fastrnn.Dense.from_keras(weight.T, bias, "tanh")
    np.testing.assert_array_equal(layer.weight, weight)
