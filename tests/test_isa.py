"""Every instruction set's kernels against each other: the same float32
algorithm, differing only in vector width and FMA contraction."""

import itertools

import numpy as np
import pytest
from conftest import ISAS, TOLERANCE, dense_weights, max_abs, recurrent_weights

import fastrnn

PAIRS = list(itertools.combinations(ISAS, 2))
pytestmark = pytest.mark.skipif(not PAIRS, reason="only one instruction set runs on this CPU")


def layers(kind, rng):
    if kind == "lstm":
        recurrent = fastrnn.LSTM(*recurrent_weights(rng, 4, 20, 70))
    else:
        recurrent = fastrnn.GRU(*recurrent_weights(rng, 3, 20, 70), reset_after=kind == "gru")
    return [recurrent, fastrnn.Dense(*dense_weights(rng, 70, 6), "softmax")]


@pytest.mark.parametrize("first, second", PAIRS)
@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_before"])
def test_recurrent_layers_agree(first, second, kind, rng):
    stack = layers(kind, rng)
    x = rng.standard_normal((5, 60, 20)).astype(np.float32)
    a = fastrnn.Sequential(stack, isa=first).predict(x)
    b = fastrnn.Sequential(stack, isa=second).predict(x)
    assert max_abs(a, b) <= TOLERANCE["isa"]


@pytest.mark.parametrize("first, second", PAIRS)
@pytest.mark.parametrize("activation", [None, "relu", "tanh", "sigmoid", "elu", "softmax"])
def test_dense_agrees(first, second, activation, rng):
    dense = fastrnn.Dense(*dense_weights(rng, 33, 19), activation)
    x = (rng.standard_normal((4, 25, 33)) * 2).astype(np.float32)
    a = fastrnn.Sequential([dense], isa=first).predict(x)
    b = fastrnn.Sequential([dense], isa=second).predict(x)
    assert max_abs(a, b) <= TOLERANCE["isa"]
