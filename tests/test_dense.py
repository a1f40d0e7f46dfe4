"""fastrnn.Dense and every activation vs the float64 reference, and its checks."""

import numpy as np
import pytest
from conftest import ISAS, TOLERANCE, assert_close, dense_weights, inputs
from reference import dense, softmax

import fastrnn

ACTIVATIONS = [None, "linear", "relu", "tanh", "sigmoid", "elu", "softmax"]

# (input, output, batch, steps): outputs from the hidden sizes
# (1..1024, odd and power-of-two, for the padded softmax and the tails),
# inputs 1..512, batches 1..64, steps 1..500.
SHAPES = [
    (1, 1, 1, 1), (1, 3, 5, 7), (3, 17, 64, 2), (7, 64, 2, 30), (16, 100, 13, 5),
    (33, 128, 1, 50), (100, 257, 3, 4), (255, 512, 1, 9), (512, 1024, 2, 3),
    (64, 2, 9, 500), (512, 5, 33, 2),
]
ISA_SHAPES = [(1, 17, 3, 5), (33, 19, 4, 25), (257, 5, 2, 7)]


def shape_id(shape):
    return "I{}-O{}-B{}-T{}".format(*shape)


def run(weight, bias, activation, x, isa=None):
    return fastrnn.Sequential([fastrnn.Dense(weight, bias, activation)], isa=isa).predict(x)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_matches_reference(shape, activation, rng):
    input_size, output_size, batch, steps = shape
    weight, bias = dense_weights(rng, input_size, output_size)
    # scale 3: pre-activations well into relu's and elu's negative side and
    # tanh's and sigmoid's saturation
    x = inputs(rng, (batch, steps, input_size), scale=3)
    y = run(weight, bias, activation, x)
    assert y.shape == (batch, steps, output_size) and y.dtype == np.float32
    assert_close(y, dense(x, weight, bias, activation), "float32",
                 f"{activation} {shape_id(shape)}")


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("shape", ISA_SHAPES, ids=shape_id)
def test_every_isa_matches_reference(isa, shape, activation, rng):
    input_size, output_size, batch, steps = shape
    weight, bias = dense_weights(rng, input_size, output_size)
    x = inputs(rng, (batch, steps, input_size), scale=3)
    assert_close(run(weight, bias, activation, x, isa), dense(x, weight, bias, activation),
                 "float32", f"{isa} {activation}")


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_without_bias_and_one_sequence(activation, rng):
    weight, _ = dense_weights(rng, 12, 9)
    x = inputs(rng, (20, 12), scale=3)
    y = run(weight, None, activation, x)
    assert y.shape == (20, 9)
    assert_close(y, dense(x, weight, None, activation), "float32")


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("outputs", [1, 5, 16, 17])
def test_softmax_rows_sum_to_one(isa, outputs, rng):
    """Whatever padding the outputs get inside the engine takes no share."""
    weight, bias = dense_weights(rng, 8, outputs)
    y = run(weight * 20, bias, "softmax", inputs(rng, (3, 20, 8)), isa)
    assert np.all(y >= 0)
    assert_close(y.sum(axis=-1), np.ones((3, 20)), "float32")
    if outputs == 1:
        assert np.all(y == 1.0)


@pytest.mark.parametrize("isa", ISAS)
def test_softmax_of_extreme_logits(isa):
    """Logits beyond exp's float32 range (88) either way: shifted by the row
    maximum as the reference is, never inf / inf = NaN."""
    logits = np.array([[1000, -1000, 0], [88, 89, 90], [-100, -101, -102],
                       [-1e30, -1e30, -1e30], [5, 5, 5], [3e38, 0, -3e38]], np.float32)
    y = run(np.eye(3, dtype=np.float32), None, "softmax", logits, isa)
    assert np.all(np.isfinite(y))
    assert_close(y, softmax(logits), "float32")


@pytest.mark.parametrize("precision", ["float32", "bfloat16", "int8"])
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("inputs_", [1, 15, 16, 17, 32, 64, 257])
def test_one_unit(inputs_, isa, precision, rng):
    """A Dense layer of one unit (a dot product along the inputs, float32
    weights in every precision: csrc/dense.c fr_dense_unit) within
    TOLERANCE["float32"] of the float64 reference, a NaN input in its own
    row only, and each sequence the same bits alone as in a batch."""
    weight, bias = dense_weights(rng, inputs_, 1)
    model = fastrnn.Sequential([fastrnn.Dense(weight, bias, "tanh")], isa=isa,
                               precision=precision)
    x = inputs(rng, (4, 30, inputs_), scale=3)
    x[2, 7, inputs_ // 2] = np.nan
    y = model.predict(x)
    clean = np.ones((4, 30), bool)
    clean[2, 7] = False
    assert np.all(np.isnan(y[2, 7])) and not np.any(np.isnan(y[clean]))
    assert_close(y[clean], dense(x, weight, bias, "tanh")[clean], "float32",
                 f"I{inputs_} {isa} {precision}")
    for b in range(4):
        assert np.array_equal(model.predict(x[b]), y[b], equal_nan=True), f"sequence {b}"


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_nan_stays_in_its_row(isa, activation, rng):
    """A NaN feature makes that step's outputs NaN and changes no other step."""
    weight, bias = dense_weights(rng, 10, 7)
    x = inputs(rng, (3, 9, 10))
    clean = run(weight, bias, activation, x, isa)
    x[1, 4, 3] = np.nan
    y = run(weight, bias, activation, x, isa)
    assert np.all(np.isnan(y[1, 4]))
    others = np.ones((3, 9), bool)
    others[1, 4] = False
    assert np.array_equal(y[others], clean[others])


def test_from_torch_and_from_keras_are_the_constructor(rng):
    weight, bias = dense_weights(rng, 6, 4)
    for layer in (fastrnn.Dense.from_torch(weight, bias, "tanh"),
                  fastrnn.Dense.from_keras(weight.T, bias, "tanh")):
        assert np.array_equal(layer.weight, weight) and np.array_equal(layer.bias, bias)
        assert (layer.input_size, layer.output_size, layer.activation) == (6, 4, "tanh")
    assert fastrnn.Dense(weight).activation == "linear"


def test_weights_are_copied(rng):
    weight, bias = (w.astype(np.float64) for w in dense_weights(rng, 6, 4))
    layer = fastrnn.Dense(weight, bias, "relu")
    x = inputs(rng, (5, 6))
    before = fastrnn.Sequential([layer]).predict(x)
    weight *= -1
    bias += 1
    assert np.array_equal(fastrnn.Sequential([layer]).predict(x), before)


def test_errors_name_expected_and_given(rng):
    weight, bias = dense_weights(rng, 6, 4)
    with pytest.raises(ValueError, match=r"Dense bias: expected shape \(4,\).*got \(6,\)"):
        fastrnn.Dense(weight, np.zeros(6))
    with pytest.raises(ValueError, match=r"Dense weight: expected a 2-D array, got shape \(4,\)"):
        fastrnn.Dense(bias)
    with pytest.raises(ValueError, match=r"Dense bias: expected a 1-D array, got shape \(1, 4\)"):
        fastrnn.Dense(weight, bias[None])
    with pytest.raises(ValueError, match=r"Dense activation: expected None or one of "
                                         r"\('linear', 'relu', 'tanh', 'sigmoid', 'elu', "
                                         r"'softmax'\), got 'gelu'"):
        fastrnn.Dense(weight, bias, "gelu")
    with pytest.raises(TypeError,
                       match="Dense weight: expected a real-valued array, got dtype bool"):
        fastrnn.Dense(weight > 0)


@pytest.mark.parametrize("where", ["weight", "bias"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_are_refused(where, bad, rng):
    weights = dict(zip(("weight", "bias"), dense_weights(rng, 6, 4)))
    weights[where][..., 1] = bad
    with pytest.raises(ValueError, match=f"Dense {where}: contains NaN or infinity"):
        fastrnn.Dense(**weights)


def test_tolerance_scale_for_unbounded_outputs(rng):
    """The comparison is relative for outputs beyond 1 (see conftest):
    a wrong weight still fails it by far."""
    weight, bias = dense_weights(rng, 30, 5)
    x = inputs(rng, (4, 30), scale=3)
    expected = dense(x, weight, bias)
    wrong = weight.copy()
    wrong[2, 7] += 0.01
    with pytest.raises(AssertionError):
        assert_close(run(wrong, bias, None, x), expected, "float32")
    assert TOLERANCE["float32"] * max(1, np.abs(expected).max()) < 1e-3
