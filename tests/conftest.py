"""Shared fixtures, weight makers and the tolerance table of the suite.

Test modules import the helpers directly (``from conftest import ...``):
pytest puts this directory on ``sys.path`` (rootdir conftest, prepend mode).
"""

import os

import numpy as np
import pytest

import fastrnn
from fastrnn import _engine

# Instruction sets built in and supported by this CPU, narrowest first.
ISAS = _engine.available_isas()

# ---------------------------------------------------------------------------
# Tolerances, in one place. Every comparison in the suite uses one of these
# entries; none is loosened anywhere else.
#
# All are bounds on the max abs difference of outputs. Recurrent outputs
# (h = o * tanh(c), GRU convex combinations of tanh), tanh, sigmoid and
# softmax outputs lie in [-1, 1], so an absolute bound is also a relative one.
# Outputs that are not bounded (Dense "linear"/"relu"/"elu") are compared
# with the bound times max(1, largest |expected|), i.e. relative to their
# scale: float32 rounds relative to magnitude (ulp(8) = 9.5e-7), so an
# absolute 1e-6 between two float32 summation orders would fail on outputs
# of size 10 for no fault of the engine. See ``assert_close``.
TOLERANCE = {
    # float32 engine vs the float64 reference, and vs PyTorch's / Keras'
    # float32: the bar, max abs 1e-5. Pre-activations are dot
    # products of up to 1024 + 1024 terms with PyTorch's init scale
    # (|w| <= 1/sqrt(H)), whose float32 rounding error grows like
    # sqrt(fan-in) * 2**-24 * |partial sums|: at H = 1024, T = 500 the
    # measured error is ~1e-6 (recurrence included), 10x inside the bar,
    # so the bar does NOT need to scale with sqrt(fan-in) for the sizes the
    # suite runs (hidden <= 1024, input <= 1024).
    "float32": 1e-5,
    # Two instruction sets against each other: the same float32 algorithm,
    # differing only in vector width, summation order and FMA contraction,
    # i.e. a few ulps of each pre-activation (measured <= 5e-7 for outputs
    # in [-1, 1]).
    "isa": 1e-6,
    # float32 sigmoid / tanh / elu vs float64 over [-20, 20] (the issue's
    # bar): ~3.4 ulps of the largest outputs (ulp(1) = 6e-8); correctly
    # rounded would be 3e-8, a good polynomial gets < 1e-7.
    "activation": 2e-7,
    # The recurrent cells' sigmoid / tanh (rational fits, csrc/simd.h's
    # vsigmoid_cell / vtanh_cell: shorter dependency chains than the
    # standalone activations above) vs float64 over [-25, 25]: measured
    # 1.7e-7 and 3.1e-7 (the float32 sums of the fit's polynomials).
    "cell_activation": 4e-7,
    # The dot-product builds' cell activations (a 5/4 fit and vrcp14ps, whose
    # products already round h to 2**-9 or coarser): measured 8.7e-5 (tanh),
    # 4.0e-5 (sigmoid).
    "cell_activation_dot": 1.5e-4,
    # sigmoid(x) for x <= -100 is below 4e-44 (under float32's smallest
    # normal, 1.2e-38): the engine may return 0 or a tiny denormal, but
    # nothing that could be mistaken for a probability.
    "underflow": 1e-30,
    # The dot-product kernels (vdpbf16ps, vpdpbusd) against their NumPy twins,
    # which round the same weights and quantize the same inputs, but from
    # float64 activations: an input on a rounding boundary may land one step
    # (2**-8 relative, or max |x| / 127) apart.
    "dot_twin": 2e-3,
}

# Each weight precision's stated bound against the float32 engine (the
# README's Precision table): max abs output difference of a two-layer model
# over 1000 steps, PyTorch's initialisation, standard normal inputs; and the
# digits model's test accuracy change, in points.
PRECISION_BOUND = {"float16": 1e-3, "bfloat16": 1e-2, "int8": 3e-2, "digits_points": 0.4}


def assert_close(got, expected, key, what=""):
    """Assert max |got - expected| <= TOLERANCE[key] * max(1, max |expected|)
    (see the table), with the measured error in the message."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    error = max_abs(got, expected)
    limit = TOLERANCE[key] * scale
    assert error <= limit, (f"{what}: max abs error {error:.3e} > {limit:.1e} "
                            f"(TOLERANCE[{key!r}] = {TOLERANCE[key]:.0e} x scale {scale:.3g})")
    return error


def max_abs(a, b):
    """Max abs difference in float64 (NaN anywhere makes it NaN: fails any <=)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b), initial=0.0))


# ---------------------------------------------------------------------------
# Memory (the fuzz suites' bounds).


def peak_rss_reset() -> bool:
    """Reset this process's peak resident size (Linux); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
        return True
    except OSError:
        return False


def resident_kib() -> dict:
    """{"VmRSS": now, "VmHWM": peak} resident sizes of this process in KiB (Linux)."""
    with open("/proc/self/status") as file:
        return {line.split(":")[0]: int(line.split()[1]) for line in file
                if line.startswith(("VmRSS", "VmHWM"))}


# ---------------------------------------------------------------------------
# Random data.

SEED = 20261125


@pytest.fixture
def rng():
    """A fresh generator with the suite's fixed seed, for every test."""
    return np.random.default_rng(SEED)


def uniform(rng, shape, scale):
    return rng.uniform(-scale, scale, shape).astype(np.float32)


def recurrent_weights(rng, gates, input_size, hidden_size, bias=True):
    """(weight_ih, weight_hh, bias_ih, bias_hh), float32, PyTorch's
    initialisation: uniform(-1/sqrt(H), 1/sqrt(H)) for every tensor. gates:
    4 (LSTM), 3 (GRU), 1 (SimpleRNN). bias=False gives None biases."""
    scale = 1 / np.sqrt(hidden_size)
    w_ih = uniform(rng, (gates * hidden_size, input_size), scale)
    w_hh = uniform(rng, (gates * hidden_size, hidden_size), scale)
    if not bias:
        return w_ih, w_hh, None, None
    return (w_ih, w_hh, uniform(rng, (gates * hidden_size,), scale),
            uniform(rng, (gates * hidden_size,), scale))


def dense_weights(rng, input_size, output_size):
    """(weight (O, I), bias (O,)), PyTorch's nn.Linear bound 1/sqrt(I)."""
    scale = 1 / np.sqrt(input_size)
    return uniform(rng, (output_size, input_size), scale), uniform(rng, (output_size,), scale)


def inputs(rng, shape, scale=1.0):
    """Standard normal float32 input times `scale`."""
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# Recurrent layer kinds of the suite: "gru" is reset_after=True (PyTorch),
# "gru_before" reset_after=False.
RECURRENT_KINDS = ["lstm", "gru", "gru_before"]
GATES = {"lstm": 4, "gru": 3, "gru_before": 3, "rnn": 1}


def recurrent_layer(kind, weights, **options):
    """A fastrnn layer of `kind` from canonical weights."""
    if kind == "lstm":
        return fastrnn.LSTM(*weights, **options)
    if kind in ("gru", "gru_before"):
        return fastrnn.GRU(*weights, reset_after=kind == "gru", **options)
    raise ValueError(kind)


def recurrent_spec(kind, weights, return_sequences=True):
    """The reference.stack spec of the same layer."""
    if kind == "lstm":
        return ("lstm", *weights, return_sequences)
    return ("gru", *weights, kind == "gru", return_sequences)


# ---------------------------------------------------------------------------
# Process-wide state.

@pytest.fixture
def restore_threads():
    """Put the thread count back after the test, whatever it set."""
    before = fastrnn.get_num_threads()
    yield
    fastrnn.set_num_threads(before)


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on the torch backend, or a skip saying why not."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed (pip install keras)")
    if keras.backend.backend() != "torch":
        pytest.skip(f"these tests run Keras on the torch backend, got {keras.backend.backend()} "
                    "(Keras was imported before KERAS_BACKEND=torch was set)")
    return keras


def pytest_report_header(config):
    info = fastrnn.info()
    return (f"fastrnn {info['version']}: isa {info['isa']} of {info['available_isas']}, "
            f"{info['num_threads']} threads, openmp {info['openmp']}, {info['compiler']}")
