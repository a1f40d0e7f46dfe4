"""fastrnn.GRU, both variants (reset_after True and False), vs the float64
reference over awkward shapes, and its checks."""

import math

import numpy as np
import pytest
from conftest import TOLERANCE, ISAS, assert_close, inputs, max_abs, recurrent_weights
from reference import gru

import fastrnn

# (hidden, input, batch, steps): every hidden size of the grid at
# least twice, inputs 1..512, batches 1..64, steps 1..500, the largest
# layers at batch <= 3; each run with both variants.
SHAPES = [
    (1, 1, 1, 1), (1, 40, 3, 500),
    (3, 2, 64, 10), (3, 100, 1, 50),
    (17, 5, 7, 9), (17, 512, 2, 4),
    (64, 64, 16, 12), (64, 1, 64, 30),
    (100, 3, 5, 30), (100, 255, 13, 3),
    (128, 40, 1, 100), (128, 128, 33, 8),
    (257, 64, 3, 10), (257, 257, 1, 60),
    (512, 512, 2, 6), (512, 16, 9, 2),
    (1024, 128, 1, 500), (1024, 511, 2, 3), (1024, 7, 3, 2),
]
ISA_SHAPES = [(1, 40, 3, 17), (17, 5, 7, 9), (257, 257, 1, 30), (1024, 128, 2, 5)]
VARIANTS = pytest.mark.parametrize("reset_after", [True, False],
                                   ids=["reset_after", "reset_before"])


def shape_id(shape):
    return "H{}-I{}-B{}-T{}".format(*shape)


def run(weights, x, isa=None, **options):
    return fastrnn.Sequential([fastrnn.GRU(*weights, **options)], isa=isa).predict(x)


@VARIANTS
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_matches_reference(shape, reset_after, rng):
    hidden, input_size, batch, steps = shape
    weights = recurrent_weights(rng, 3, input_size, hidden)
    x = inputs(rng, (batch, steps, input_size))
    y = run(weights, x, reset_after=reset_after)
    assert y.dtype == np.float32
    assert_close(y, gru(x, *weights, reset_after=reset_after)[0], "float32", shape_id(shape))


@VARIANTS
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", ISA_SHAPES, ids=shape_id)
def test_every_isa_matches_reference(isa, shape, reset_after, rng):
    hidden, input_size, batch, steps = shape
    weights = recurrent_weights(rng, 3, input_size, hidden)
    x = inputs(rng, (batch, steps, input_size))
    assert_close(run(weights, x, isa, reset_after=reset_after),
                 gru(x, *weights, reset_after=reset_after)[0], "float32",
                 f"{isa} {shape_id(shape)}")


def test_the_variants_are_different_models(rng):
    """A kernel that ran one variant for the other would fail the reference
    comparison: the two differ by far more than the tolerance."""
    weights = recurrent_weights(rng, 3, 5, 8)
    x = inputs(rng, (10, 5))
    after = run(weights, x, reset_after=True)
    before = run(weights, x, reset_after=False)
    assert max_abs(after, before) > 100 * TOLERANCE["float32"]


@VARIANTS
@pytest.mark.parametrize("biases", ["none", "ih", "hh", "both"])
def test_optional_biases(biases, reset_after, rng):
    w_ih, w_hh, b_ih, b_hh = recurrent_weights(rng, 3, 6, 19)
    b_ih = b_ih if biases in ("ih", "both") else None
    b_hh = b_hh if biases in ("hh", "both") else None
    x = inputs(rng, (4, 12, 6))
    expected = gru(x, w_ih, w_hh, b_ih, b_hh, reset_after=reset_after)[0]
    if reset_after and b_hh is not None:
        # b_hn sits inside r * (...): folding b_hh into b_ih would be wrong,
        # by much more than the tolerance.
        folded = gru(x, w_ih, w_hh, (0 if b_ih is None else b_ih) + b_hh, None)[0]
        assert max_abs(folded, expected) > 100 * TOLERANCE["float32"]
    assert_close(run((w_ih, w_hh, b_ih, b_hh), x, reset_after=reset_after), expected, "float32")


@VARIANTS
def test_return_sequences_false_gives_the_last_step(reset_after, rng):
    weights = recurrent_weights(rng, 3, 6, 10)
    x = inputs(rng, (4, 12, 6))
    expected = gru(x, *weights, reset_after=reset_after)[0][:, -1]
    batched = run(weights, x, reset_after=reset_after, return_sequences=False)
    assert batched.shape == (4, 10)
    assert_close(batched, expected, "float32")
    single = run(weights, x[1], reset_after=reset_after, return_sequences=False)
    assert single.shape == (10,)
    assert_close(single, expected[1], "float32")


@VARIANTS
def test_two_steps_by_hand(reset_after):
    """One unit, one input, a different weight per gate: gate order (r, z, n)
    and both candidate equations written out with math (checks the
    reference too)."""
    w = {"r": (0.5, -0.3, 0.1, 0.2), "z": (-0.7, 0.4, 0.3, -0.1),
         "n": (0.9, 0.6, -0.2, 0.45)}   # w_ih, w_hh, b_ih, b_hh
    gates = "rzn"
    as32 = lambda v: float(np.float32(v))  # noqa: E731
    weights = tuple(np.array([[w[g][k]] if k < 2 else w[g][k] for g in gates], np.float32)
                    for k in range(4))
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    xs, h, expected = [1.5, -0.75], 0.0, []
    for x in xs:
        wi, wh, bi, bh = ({g: as32(w[g][k]) for g in gates} for k in range(4))
        r = sig(wi["r"] * x + bi["r"] + wh["r"] * h + bh["r"])
        z = sig(wi["z"] * x + bi["z"] + wh["z"] * h + bh["z"])
        if reset_after:
            n = math.tanh(wi["n"] * x + bi["n"] + r * (wh["n"] * h + bh["n"]))
        else:
            n = math.tanh(wi["n"] * x + bi["n"] + wh["n"] * (r * h) + bh["n"])
        h = (1 - z) * n + z * h
        expected.append([h])
    x = np.array(xs, np.float32)[:, None]
    np.testing.assert_allclose(gru(x, *weights, reset_after=reset_after)[0], expected,
                               rtol=0, atol=1e-12)
    assert_close(run(weights, x, reset_after=reset_after), expected, "float32")


@VARIANTS
def test_saturated_gates(reset_after, rng):
    """Biases of +-100..1000: every gate past exp's float32 overflow."""
    w_ih, w_hh, _, _ = recurrent_weights(rng, 3, 8, 33)
    b_ih = (rng.choice([-1, 1], 99) * rng.uniform(100, 1000, 99)).astype(np.float32)
    x = inputs(rng, (3, 20, 8))
    assert_close(run((w_ih, w_hh, b_ih, None), x, reset_after=reset_after),
                 gru(x, w_ih, w_hh, b_ih, reset_after=reset_after)[0], "float32")


@VARIANTS
def test_huge_inputs_stay_finite_and_bounded(reset_after, rng):
    weights = recurrent_weights(rng, 3, 8, 33)
    y = run(weights, inputs(rng, (3, 20, 8), scale=1000), reset_after=reset_after)
    assert np.all(np.isfinite(y)) and np.all(np.abs(y) <= 1)


def test_from_torch_is_the_constructor_with_reset_after(rng):
    weights = recurrent_weights(rng, 3, 5, 7)
    layer = fastrnn.GRU.from_torch(*weights, return_sequences=False)
    assert layer.reset_after and not layer.return_sequences
    for name, w in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), weights):
        assert np.array_equal(getattr(layer, name), w), name
    assert (layer.input_size, layer.hidden_size, layer.output_size) == (5, 7, 7)


def test_shape_errors_name_expected_and_given(rng):
    w_ih, w_hh, b_ih, b_hh = recurrent_weights(rng, 3, 6, 10)
    with pytest.raises(ValueError, match=r"GRU weight_ih: expected shape \(30, 6\).*got \(29, 6\)"):
        fastrnn.GRU(w_ih[:29], w_hh)
    with pytest.raises(ValueError, match=r"GRU weight_ih: expected shape \(39, 6\).*got \(30, 6\)"):
        fastrnn.GRU(w_ih, np.zeros((39, 13)))           # hidden size taken from weight_hh
    with pytest.raises(ValueError,
                       match=r"GRU weight_hh: expected shape \(30, 10\).*got \(40, 10\)"):
        fastrnn.GRU(np.zeros((30, 6)), np.zeros((40, 10)))
    with pytest.raises(ValueError, match=r"GRU bias_hh: expected shape \(30,\).*got \(40,\)"):
        fastrnn.GRU(w_ih, w_hh, b_ih, np.zeros(40))     # an LSTM-sized bias


@pytest.mark.parametrize("where", ["weight_ih", "weight_hh", "bias_ih", "bias_hh"])
def test_non_finite_weights_are_refused(where, rng):
    weights = dict(zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                       recurrent_weights(rng, 3, 6, 10)))
    weights[where] = weights[where].copy()
    weights[where].flat[-1] = np.nan
    with pytest.raises(ValueError, match=f"GRU {where}: contains NaN or infinity"):
        fastrnn.GRU(**weights, reset_after=False)
