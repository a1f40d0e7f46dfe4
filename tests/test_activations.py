"""float32 sigmoid/tanh/relu/elu of every instruction set vs float64."""

import numpy as np
import pytest
from conftest import ISAS, TOLERANCE
from reference import ACTIVATIONS

from fastrnn import _engine

GRID = np.linspace(-20, 20, 4_000_001, dtype=np.float32)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_max_error_on_dense_grid(isa, name):
    got = _engine.activate(isa, name, GRID).astype(np.float64)
    error = np.abs(got - ACTIVATIONS[name](GRID.astype(np.float64))).max()
    assert error <= TOLERANCE["activation"], f"{isa} {name}: max abs error {error:.3e}"


@pytest.mark.parametrize("isa", ISAS)
def test_saturation(isa):
    big = np.array([20, 30, 88, 89, 100, 1e4, 1e30, np.inf], np.float32)
    assert np.all(_engine.activate(isa, "sigmoid", big) == 1.0)
    low = _engine.activate(isa, "sigmoid", -big)
    assert np.all(low >= 0) and np.all(low < 1e-8)
    assert np.all(_engine.activate(isa, "tanh", big) == 1.0)
    assert np.all(_engine.activate(isa, "tanh", -big) == -1.0)
    assert np.all(_engine.activate(isa, "elu", -big) == -1.0)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", ["linear", "relu", "tanh", "sigmoid", "elu"])
def test_nan_propagates(isa, name):
    x = np.array([np.nan, 1.0, np.nan, -1.0, 0.5, np.nan, 2.0], np.float32)
    y = _engine.activate(isa, name, x)
    assert np.array_equal(np.isnan(y), np.isnan(x))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", ["relu", "elu", "tanh", "sigmoid"])
@pytest.mark.parametrize("n", [1, 7, 17, 100])
def test_lengths_and_values(isa, name, n, rng):
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    y = _engine.activate(isa, name, x)
    assert y.shape == (n,)
    np.testing.assert_allclose(y, ACTIVATIONS[name](x.astype(np.float64)),
                               rtol=0, atol=TOLERANCE["activation"])
