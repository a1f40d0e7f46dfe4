"""fastrnn.LSTM vs the float64 reference over awkward shapes, and its checks."""

import math

import numpy as np
import pytest
from conftest import ISAS, assert_close, inputs, recurrent_weights
from reference import lstm

import fastrnn

# (hidden, input, batch, steps). Not the Cartesian product: every hidden size
# of the grid (1, 3, 17, 64, 100, 128, 257, 512, 1024) at least twice,
# inputs 1..512 (odd sizes, powers of two and one-off-them), batches 1..64,
# steps 1..500; the largest layers at batch <= 3.
SHAPES = [
    (1, 1, 1, 1), (1, 16, 64, 17),
    (3, 1, 5, 100), (3, 512, 2, 8),
    (17, 7, 13, 9), (17, 33, 1, 500),
    (64, 64, 64, 20), (64, 2, 3, 50),
    (100, 40, 7, 25), (100, 100, 33, 5),
    (128, 13, 1, 100), (128, 128, 16, 12),
    (257, 255, 2, 30), (257, 3, 9, 4),
    (512, 512, 2, 6), (512, 31, 1, 50),
    (1024, 64, 1, 500), (1024, 512, 2, 3), (1024, 1, 3, 2),
]
# The subset run with every instruction set: tails of every vector width
# (1, 17, 257), a many-sequence batch, and a 1024-unit layer.
ISA_SHAPES = [(1, 16, 64, 17), (17, 7, 13, 9), (257, 255, 2, 30), (1024, 512, 1, 5)]


def shape_id(shape):
    return "H{}-I{}-B{}-T{}".format(*shape)


def run(weights, x, isa=None, **options):
    return fastrnn.Sequential([fastrnn.LSTM(*weights, **options)], isa=isa).predict(x)


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_matches_reference(shape, rng):
    hidden, input_size, batch, steps = shape
    weights = recurrent_weights(rng, 4, input_size, hidden)
    x = inputs(rng, (batch, steps, input_size))
    y = run(weights, x)
    assert y.dtype == np.float32
    assert_close(y, lstm(x, *weights)[0], "float32", shape_id(shape))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", ISA_SHAPES, ids=shape_id)
def test_every_isa_matches_reference(isa, shape, rng):
    hidden, input_size, batch, steps = shape
    weights = recurrent_weights(rng, 4, input_size, hidden)
    x = inputs(rng, (batch, steps, input_size))
    assert_close(run(weights, x, isa), lstm(x, *weights)[0], "float32", f"{isa} {shape_id(shape)}")


@pytest.mark.parametrize("biases", ["none", "ih", "hh", "both"])
def test_optional_biases(biases, rng):
    w_ih, w_hh, b_ih, b_hh = recurrent_weights(rng, 4, 6, 19)
    b_ih = b_ih if biases in ("ih", "both") else None
    b_hh = b_hh if biases in ("hh", "both") else None
    x = inputs(rng, (4, 12, 6))
    assert_close(run((w_ih, w_hh, b_ih, b_hh), x), lstm(x, w_ih, w_hh, b_ih, b_hh)[0], "float32")


def test_return_sequences_false_gives_the_last_step(rng):
    weights = recurrent_weights(rng, 4, 6, 10)
    x = inputs(rng, (4, 12, 6))
    expected = lstm(x, *weights)[0][:, -1]
    batched = run(weights, x, return_sequences=False)
    assert batched.shape == (4, 10)
    assert_close(batched, expected, "float32")
    single = run(weights, x[2], return_sequences=False)
    assert single.shape == (10,)
    assert_close(single, expected[2], "float32")


def test_two_steps_by_hand():
    """One unit, one input, a different weight per gate: the gate order
    (i, f, g, o) and the equations, written out with math (checks the
    reference too)."""
    w = {"i": (0.5, -0.3, 0.1, 0.2), "f": (-0.7, 0.4, 0.3, -0.1),
         "g": (0.9, 0.6, -0.2, 0.05), "o": (0.2, -0.8, 0.4, 0.3)}   # w_ih, w_hh, b_ih, b_hh
    gates = "ifgo"
    weight_ih = np.array([[w[g][0]] for g in gates], np.float32)
    weight_hh = np.array([[w[g][1]] for g in gates], np.float32)
    bias_ih = np.array([w[g][2] for g in gates], np.float32)
    bias_hh = np.array([w[g][3] for g in gates], np.float32)
    xs = [1.5, -0.75]
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    h = c = 0.0
    expected = []
    for x in xs:
        pre = {g: float(np.float32(w[g][0])) * x + float(np.float32(w[g][1])) * h
               + float(np.float32(w[g][2])) + float(np.float32(w[g][3])) for g in gates}
        c = sig(pre["f"]) * c + sig(pre["i"]) * math.tanh(pre["g"])
        h = sig(pre["o"]) * math.tanh(c)
        expected.append([h])
    x = np.array(xs, np.float32)[:, None]
    weights = (weight_ih, weight_hh, bias_ih, bias_hh)
    np.testing.assert_allclose(lstm(x, *weights)[0], expected, rtol=0, atol=1e-12)
    assert_close(run(weights, x), expected, "float32")


def test_saturated_gates(rng):
    """Biases of +-100..1000 put every pre-activation far past exp's float32
    overflow (88): gates exactly 0 or 1, g = +-1, c counting steps."""
    w_ih, w_hh, _, _ = recurrent_weights(rng, 4, 8, 33)
    bias = (rng.choice([-1, 1], 4 * 33) * rng.uniform(100, 1000, 4 * 33)).astype(np.float32)
    x = inputs(rng, (3, 20, 8))
    y = run((w_ih, w_hh, bias, None), x)
    assert_close(y, lstm(x, w_ih, w_hh, bias)[0], "float32")


def test_huge_inputs_stay_finite_and_bounded(rng):
    """|x| ~ 1000: pre-activations in the hundreds. (Not compared with the
    reference: float32 rounding of such sums is ~1e-5 before the gates, an
    input-conditioning limit, not the engine's.)"""
    weights = recurrent_weights(rng, 4, 8, 33)
    y = run(weights, inputs(rng, (3, 20, 8), scale=1000))
    assert np.all(np.isfinite(y)) and np.all(np.abs(y) <= 1)


def test_weights_are_copied(rng):
    """The layer keeps its own float32 copies: changing the caller's arrays
    afterwards changes nothing."""
    weights = [w.astype(np.float64) for w in recurrent_weights(rng, 4, 5, 7)]
    layer = fastrnn.LSTM(*weights)
    model = fastrnn.Sequential([layer])
    x = inputs(rng, (9, 5))
    before = model.predict(x)
    for w in weights:
        w *= 3
    assert np.array_equal(fastrnn.Sequential([layer]).predict(x), before)
    assert np.array_equal(model.predict(x), before)
    assert layer.weight_ih.dtype == np.float32 and layer.weight_ih.flags.c_contiguous


def test_from_torch_is_the_constructor(rng):
    weights = recurrent_weights(rng, 4, 5, 7)
    layer = fastrnn.LSTM.from_torch(*weights, return_sequences=False)
    assert not layer.return_sequences
    for name, w in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), weights):
        assert np.array_equal(getattr(layer, name), w), name
    assert (layer.input_size, layer.hidden_size, layer.output_size) == (5, 7, 7)


def test_shape_errors_name_expected_and_given(rng):
    w_ih, w_hh, b_ih, b_hh = recurrent_weights(rng, 4, 6, 10)
    with pytest.raises(ValueError, match=r"weight_ih: expected shape \(40, 6\).*got \(39, 6\)"):
        fastrnn.LSTM(w_ih[:39], w_hh)
    with pytest.raises(ValueError, match=r"weight_ih: expected shape \(44, 6\).*got \(40, 6\)"):
        fastrnn.LSTM(w_ih, np.zeros((44, 11)))        # hidden size taken from weight_hh
    with pytest.raises(ValueError, match=r"weight_hh: expected shape \(40, 10\).*got \(30, 10\)"):
        fastrnn.LSTM(w_ih, w_hh[:30])
    with pytest.raises(ValueError, match=r"bias_ih: expected shape \(40,\).*got \(39,\)"):
        fastrnn.LSTM(w_ih, w_hh, b_ih[:39])
    with pytest.raises(ValueError, match=r"bias_hh: expected shape \(40,\).*got \(41,\)"):
        fastrnn.LSTM(w_ih, w_hh, b_ih, np.zeros(41))
    with pytest.raises(ValueError,
                       match=r"weight_ih: expected a 2-D array, got shape \(1, 40, 6\)"):
        fastrnn.LSTM(w_ih[None], w_hh)
    with pytest.raises(ValueError, match=r"bias_hh: expected a 1-D array, got shape \(1, 40\)"):
        fastrnn.LSTM(w_ih, w_hh, b_ih, b_hh[None])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["weight_ih", "weight_hh", "bias_ih", "bias_hh"])
def test_non_finite_weights_are_refused(bad, where, rng):
    weights = dict(zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                       recurrent_weights(rng, 4, 6, 10)))
    weights[where] = weights[where].copy()
    weights[where].flat[7] = bad
    with pytest.raises(ValueError, match=f"LSTM {where}: contains NaN or infinity"):
        fastrnn.LSTM(**weights)


def test_non_real_weights_are_refused(rng):
    w_ih, w_hh, _, _ = recurrent_weights(rng, 4, 6, 10)
    with pytest.raises(TypeError,
                       match="weight_ih: expected a real-valued array, got dtype complex64"):
        fastrnn.LSTM(w_ih.astype(np.complex64), w_hh)
    with pytest.raises(TypeError, match="weight_hh: expected a real-valued array, got dtype bool"):
        fastrnn.LSTM(w_ih, w_hh > 0)
