"""GRU layer, both variants, vs the float64 reference over awkward shapes."""

import numpy as np
import pytest
from conftest import ISAS, TOLERANCE, max_abs, recurrent_weights
from reference import gru

import fastrnn

SHAPES = [
    (1, 1, 1, 1), (1, 4, 3, 20), (3, 2, 64, 4), (17, 5, 7, 9), (17, 40, 1, 500),
    (64, 64, 16, 12), (100, 3, 5, 30), (128, 40, 1, 100), (128, 128, 20, 8),
    (257, 64, 3, 10), (512, 512, 2, 6), (1024, 128, 1, 4), (1024, 1024, 2, 2),
]


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("hidden, inputs, batch, steps", SHAPES)
def test_matches_reference(hidden, inputs, batch, steps, reset_after, rng):
    weights = recurrent_weights(rng, 3, inputs, hidden)
    x = rng.standard_normal((batch, steps, inputs)).astype(np.float32)
    model = fastrnn.Sequential([fastrnn.GRU(*weights, reset_after=reset_after)])
    y = model.predict(x)
    assert y.shape == (batch, steps, hidden)
    assert max_abs(y, gru(x, *weights, reset_after=reset_after)[0]) <= TOLERANCE["float32"]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("reset_after", [True, False])
def test_every_isa(isa, reset_after, rng):
    weights = recurrent_weights(rng, 3, 9, 33)
    x = rng.standard_normal((7, 25, 9)).astype(np.float32)
    y = fastrnn.Sequential([fastrnn.GRU(*weights, reset_after=reset_after)], isa=isa).predict(x)
    assert max_abs(y, gru(x, *weights, reset_after=reset_after)[0]) <= TOLERANCE["float32"]


def test_variants_differ(rng):
    """The two variants are different models: a test that mixed them up would show it."""
    weights = recurrent_weights(rng, 3, 5, 8)
    x = rng.standard_normal((10, 5)).astype(np.float32)
    after = fastrnn.Sequential([fastrnn.GRU(*weights, reset_after=True)]).predict(x)
    before = fastrnn.Sequential([fastrnn.GRU(*weights, reset_after=False)]).predict(x)
    assert max_abs(after, before) > 1e-3
