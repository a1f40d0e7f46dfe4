"""Shared fixtures, weight makers and the tolerance table of the suite."""

import os

import numpy as np
import pytest

import fastrnn
from fastrnn import _engine

ISAS = _engine.available_isas()

# Tolerances, in one place (max abs difference of outputs):
TOLERANCE = {
    # float32 engine vs the float64 reference, and vs the frameworks' float32:
    # the bar. Outputs are in [-1, 1] (tanh/sigmoid) or probabilities,
    # pre-activations sums of up to 2048 terms of size ~1/sqrt(H), whose
    # float32 rounding is ~1e-6 at the largest sizes tested.
    "float32": 1e-5,
    # Two instruction sets against each other: both float32, the same
    # algorithm, differing only in FMA contraction and vector width.
    "isa": 1e-6,
    # sigmoid/tanh vs float64 over [-20, 20] (the bar).
    "activation": 2e-7,
}


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)


def uniform(rng, shape, scale):
    return rng.uniform(-scale, scale, shape).astype(np.float32)


def recurrent_weights(rng, gates, input_size, hidden_size, bias=True):
    """PyTorch's initialisation: uniform(-1/sqrt(H), 1/sqrt(H))."""
    scale = 1 / np.sqrt(hidden_size)
    w_ih = uniform(rng, (gates * hidden_size, input_size), scale)
    w_hh = uniform(rng, (gates * hidden_size, hidden_size), scale)
    if not bias:
        return w_ih, w_hh, None, None
    return (w_ih, w_hh, uniform(rng, (gates * hidden_size,), scale),
            uniform(rng, (gates * hidden_size,), scale))


def dense_weights(rng, input_size, output_size):
    scale = 1 / np.sqrt(input_size)
    return uniform(rng, (output_size, input_size), scale), uniform(rng, (output_size,), scale)


def max_abs(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)), initial=0))


@pytest.fixture
def restore_threads():
    before = fastrnn.get_num_threads()
    yield
    fastrnn.set_num_threads(before)


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on the torch backend, or a skip saying why not."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed (pip install keras)")
    if keras.backend.backend() != "torch":
        pytest.skip(f"these tests run Keras on the torch backend, got {keras.backend.backend()}")
    return keras
