"""LSTM layer vs the float64 reference over awkward shapes."""

import numpy as np
import pytest
from conftest import ISAS, TOLERANCE, max_abs, recurrent_weights
from reference import lstm

import fastrnn

# (hidden, input, batch, steps): every hidden size of the grid, input
# sizes 1..512, batches 1..64, steps 1..500; large sizes at small batch.
SHAPES = [
    (1, 1, 1, 1), (1, 3, 2, 17), (3, 1, 5, 8), (3, 7, 64, 3), (17, 5, 7, 9),
    (17, 33, 1, 500), (64, 64, 16, 20), (64, 1, 3, 50), (100, 40, 6, 25),
    (100, 100, 13, 11), (128, 40, 1, 100), (128, 128, 33, 10), (257, 100, 2, 30),
    (257, 13, 9, 4), (512, 512, 2, 6), (512, 7, 1, 20), (1024, 256, 1, 5),
    (1024, 1024, 3, 2),
]


@pytest.mark.parametrize("hidden, inputs, batch, steps", SHAPES)
def test_matches_reference(hidden, inputs, batch, steps, rng):
    weights = recurrent_weights(rng, 4, inputs, hidden)
    x = rng.standard_normal((batch, steps, inputs)).astype(np.float32)
    y = fastrnn.Sequential([fastrnn.LSTM(*weights)]).predict(x)
    assert y.shape == (batch, steps, hidden) and y.dtype == np.float32
    assert max_abs(y, lstm(x, *weights)[0]) <= TOLERANCE["float32"]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("hidden, inputs, batch, steps", [(17, 5, 7, 9), (128, 40, 8, 30)])
def test_every_isa(isa, hidden, inputs, batch, steps, rng):
    weights = recurrent_weights(rng, 4, inputs, hidden)
    x = rng.standard_normal((batch, steps, inputs)).astype(np.float32)
    y = fastrnn.Sequential([fastrnn.LSTM(*weights)], isa=isa).predict(x)
    assert max_abs(y, lstm(x, *weights)[0]) <= TOLERANCE["float32"]


def test_without_bias(rng):
    weights = recurrent_weights(rng, 4, 6, 10, bias=False)
    x = rng.standard_normal((4, 12, 6)).astype(np.float32)
    y = fastrnn.Sequential([fastrnn.LSTM(*weights)]).predict(x)
    assert max_abs(y, lstm(x, *weights)[0]) <= TOLERANCE["float32"]


def test_return_sequences_false_gives_last_step(rng):
    weights = recurrent_weights(rng, 4, 6, 10)
    x = rng.standard_normal((4, 12, 6)).astype(np.float32)
    y = fastrnn.Sequential([fastrnn.LSTM(*weights, return_sequences=False)]).predict(x)
    assert y.shape == (4, 10)
    assert max_abs(y, lstm(x, *weights)[0][:, -1]) <= TOLERANCE["float32"]


def test_weight_shapes_are_checked(rng):
    w_ih, w_hh, b_ih, b_hh = recurrent_weights(rng, 4, 6, 10)
    with pytest.raises(ValueError, match=r"weight_ih: expected shape \(40, 6\).*got \(39, 6\)"):
        fastrnn.LSTM(w_ih[:39], w_hh)
    with pytest.raises(ValueError, match=r"weight_hh: expected shape \(40, 10\).*got \(30, 10\)"):
        fastrnn.LSTM(w_ih, w_hh[:30])
    with pytest.raises(ValueError, match=r"bias_hh: expected shape \(40,\).*got \(41,\)"):
        fastrnn.LSTM(w_ih, w_hh, b_ih, np.zeros(41))
    with pytest.raises(ValueError, match="weight_ih: expected a 2-D array, got shape"):
        fastrnn.LSTM(w_ih[None], w_hh)
    with pytest.raises(ValueError, match="NaN or infinity"):
        fastrnn.LSTM(np.where(w_ih > 0.1, np.nan, w_ih), w_hh)
    with pytest.raises(TypeError, match="real-valued"):
        fastrnn.LSTM(w_ih.astype(np.complex64), w_hh)
