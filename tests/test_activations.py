"""The elementwise activation kernels of every instruction set vs float64.

``fastrnn._engine.activate(isa, name, x)`` runs the exact kernel the layers
use (gates, cell output, Dense activations) over a float32 vector.
"""

import numpy as np
import pytest
from conftest import ISAS, TOLERANCE
from reference import ACTIVATIONS

from fastrnn import _engine

ELEMENTWISE = ["linear", "relu", "tanh", "sigmoid", "elu"]

# 4,000,001 float32 points over [-20, 20] (spacing 1e-5), beyond which
# sigmoid and tanh are saturated in float32.
GRID = np.linspace(-20, 20, 4_000_001, dtype=np.float32)


@pytest.fixture(scope="module")
def grid_reference():
    x = GRID.astype(np.float64)
    return {name: ACTIVATIONS[name](x) for name in ("sigmoid", "tanh", "elu")}


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "elu"])
def test_max_error_on_dense_grid(isa, name, grid_reference, record_property):
    got = _engine.activate(isa, name, GRID)
    assert got.dtype == np.float32 and got.shape == GRID.shape
    errors = np.abs(got.astype(np.float64) - grid_reference[name])
    worst = int(np.argmax(errors))
    error = float(errors[worst])
    record_property(f"{name}_{isa}_max_abs_error", f"{error:.3e}")
    print(f"{isa} {name}: max abs error {error:.3e} at x = {GRID[worst]!r}")
    assert error <= TOLERANCE["activation"], (
        f"{isa} {name}: max abs error {error:.3e} at x = {GRID[worst]!r} "
        f"(> {TOLERANCE['activation']:.0e})")


# Magnitudes at and beyond saturation, up to float32's largest and infinity.
# 20 is where sigmoid(x) and tanh(x) round to 1 in float32 (1 - 2e-9,
# 1 - 8e-18); 88-89 brackets where exp(x) overflows float32.
LARGE = np.array([20, 30, 50, 88, 89, 100, 1000, 1e4, 1e30, 3.4e38, np.inf], np.float32)


def _spread(values, length=37):
    """`values` repeated to an odd length, so that each one is seen both in
    full vectors and in the tail of every instruction set."""
    return np.resize(values, length)


@pytest.mark.parametrize("isa", ISAS)
def test_sigmoid_saturates(isa):
    x = _spread(LARGE)
    high = _engine.activate(isa, "sigmoid", x)
    assert np.all(high == 1.0), f"sigmoid(x >= 20) != 1: {dict(zip(x, high))}"
    low = _engine.activate(isa, "sigmoid", -x)
    assert np.all(low >= 0.0), f"negative sigmoid: {dict(zip(-x, low))}"
    # The true values are <= 2.1e-9: within the activation bar of 0.
    assert np.all(low <= TOLERANCE["activation"]), f"sigmoid(x <= -20) not ~0: {dict(zip(-x, low))}"
    far = x >= 100
    assert np.all(low[far] < TOLERANCE["underflow"]), (
        f"sigmoid(x <= -100) >= {TOLERANCE['underflow']}: {dict(zip(-x[far], low[far]))}")


@pytest.mark.parametrize("isa", ISAS)
def test_tanh_saturates_to_exactly_one(isa):
    x = _spread(LARGE)
    assert np.all(_engine.activate(isa, "tanh", x) == 1.0)
    assert np.all(_engine.activate(isa, "tanh", -x) == -1.0)


@pytest.mark.parametrize("isa", ISAS)
def test_elu_relu_linear_at_large_magnitudes(isa):
    x = _spread(LARGE)
    # exp(-20) - 1 = -1 + 2e-9 rounds to -1 in float32: -1 is the exact answer.
    assert np.all(_engine.activate(isa, "elu", -x) == -1.0)
    assert np.array_equal(_engine.activate(isa, "elu", x), x)
    assert np.array_equal(_engine.activate(isa, "relu", x), x)
    assert np.all(_engine.activate(isa, "relu", -x) == 0.0)
    assert np.array_equal(_engine.activate(isa, "linear", -x), -x)


NAN_AT = [0, 7, 8, 15, 16, 17, 31, 36]   # vector starts, ends and the tail of 37


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_nan_in_nan_out(isa, name, rng):
    """NaN gives NaN where it is, and changes nothing next to it."""
    clean = (rng.standard_normal(37) * 4).astype(np.float32)
    x = clean.copy()
    x[NAN_AT] = np.nan
    y = _engine.activate(isa, name, x)
    assert np.array_equal(np.isnan(y), np.isnan(x)), (
        f"{isa} {name}: NaN in at {NAN_AT}, NaN out at {np.flatnonzero(np.isnan(y)).tolist()}")
    finite = ~np.isnan(x)
    assert np.array_equal(y[finite], _engine.activate(isa, name, clean)[finite])


LENGTHS = [1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 100]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("n", LENGTHS)
def test_every_length_matches_reference(isa, name, n, rng):
    """Lengths below, at and just past 8 and 16 floats (AVX2 and AVX-512
    vectors) and their multiples: the tails get the same answers."""
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    y = _engine.activate(isa, name, x)
    assert y.shape == (n,) and y.dtype == np.float32
    expected = ACTIVATIONS[name](x.astype(np.float64))
    if name in ("linear", "relu"):
        # Exact operations: identity and max(x, 0) of a float32 are float32.
        assert np.array_equal(y, expected.astype(np.float32))
    else:
        error = float(np.max(np.abs(y - expected)))
        assert error <= TOLERANCE["activation"], f"{isa} {name} n={n}: {error:.3e}"


@pytest.mark.parametrize("isa", ISAS)
def test_empty_input(isa):
    assert _engine.activate(isa, "tanh", np.zeros(0, np.float32)).shape == (0,)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="expected one of .* got 'gelu'"):
        _engine.activate(ISAS[0], "gelu", np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="sse9"):
        _engine.activate("sse9", "tanh", np.zeros(3, np.float32))
