"""float16 weight storage: exact against a reference with the same rounded weights."""

import numpy as np
import pytest
from conftest import TOLERANCE, dense_weights, max_abs, recurrent_weights
from reference import stack

import fastrnn
from fastrnn import _engine

HALF_ISAS = [isa for isa in _engine.available_isas()
             if "float16" in _engine.available_precisions(isa)]
pytestmark = pytest.mark.skipif(not HALF_ISAS, reason="no instruction set with F16C here")


def half(array):
    return None if array is None else array.astype(np.float16).astype(np.float32)


@pytest.mark.parametrize("isa", HALF_ISAS)
@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_before"])
def test_equals_reference_with_half_weights(isa, kind, rng):
    gates = 4 if kind == "lstm" else 3
    w_ih, w_hh, b_ih, b_hh = recurrent_weights(rng, gates, 20, 70)
    w, b = dense_weights(rng, 70, 6)
    options = {} if kind == "lstm" else {"reset_after": kind == "gru"}
    cls = fastrnn.LSTM if kind == "lstm" else fastrnn.GRU
    model = fastrnn.Sequential([cls(w_ih, w_hh, b_ih, b_hh, **options),
                                fastrnn.Dense(w, b, "softmax")], isa=isa, precision="float16")
    x = rng.standard_normal((3, 40, 20)).astype(np.float32)
    # Only the weight matrices are stored in float16; biases stay float32.
    recurrent = (("lstm", half(w_ih), half(w_hh), b_ih, b_hh, True) if kind == "lstm" else
                 ("gru", half(w_ih), half(w_hh), b_ih, b_hh, kind == "gru", True))
    expected = stack(x, [recurrent, ("dense", half(w), b, "softmax")])
    assert max_abs(model.predict(x), expected) <= TOLERANCE["float32"]


def test_rounding_matches_numpy(rng):
    """Packing rounds to nearest even exactly as NumPy, subnormals and ties included."""
    values = np.concatenate([
        np.array([0.0, -0.0, 1.0, 65504.0, 65519.0, 6.1e-5, 5.96e-8, 2.98e-8, 2.99e-8, 1e-9,
                  1.00048828125, 1.0009765625, 1.00146484375, -2.5e-6], np.float32),
        (rng.standard_normal(3000) * 10.0 ** rng.integers(-9, 4, 3000)).astype(np.float32)])
    values = values[np.abs(values) <= 65504]
    model = fastrnn.Sequential([fastrnn.Dense(values[:, None])], isa=HALF_ISAS[0],
                               precision="float16")
    got = model.predict(np.ones((1, 1), np.float32))[0]
    assert np.array_equal(got, values.astype(np.float16).astype(np.float32))


def test_out_of_range_weights_are_refused():
    with pytest.raises(ValueError, match="beyond float16's range"):
        fastrnn.Sequential([fastrnn.Dense(np.full((2, 2), 1e5))], isa=HALF_ISAS[0],
                           precision="float16")


def test_generic_has_no_float16():
    with pytest.raises(ValueError, match="precision: expected one of \\['float32', 'bfloat16', "
                                         "'int8'\\] with isa 'generic', got 'float16'"):
        fastrnn.Sequential([fastrnn.Dense(np.ones((2, 2)))], isa="generic", precision="float16")
