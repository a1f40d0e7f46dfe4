"""Sequential: stacks, return_sequences, input conversions, errors."""

import numpy as np
import pytest
from conftest import TOLERANCE, dense_weights, max_abs, recurrent_weights
from reference import stack

import fastrnn


def build(rng, spec, input_size):
    """(fastrnn layers, reference specs) from [("lstm"|"gru"|"gru_before", H, return_sequences)
    or ("dense", O, activation)]."""
    layers, specs, size = [], [], input_size
    for kind, units, option in spec:
        if kind == "dense":
            w, b = dense_weights(rng, size, units)
            layers.append(fastrnn.Dense(w, b, option))
            specs.append(("dense", w, b, option))
        elif kind == "lstm":
            weights = recurrent_weights(rng, 4, size, units)
            layers.append(fastrnn.LSTM(*weights, return_sequences=option))
            specs.append(("lstm", *weights, option))
        else:
            reset_after = kind == "gru"
            weights = recurrent_weights(rng, 3, size, units)
            layers.append(fastrnn.GRU(*weights, reset_after=reset_after, return_sequences=option))
            specs.append(("gru", *weights, reset_after, option))
        size = units
    return fastrnn.Sequential(layers), specs


STACKS = [
    [("lstm", 32, True)],
    [("lstm", 64, True), ("lstm", 48, True), ("dense", 10, "softmax")],
    [("gru", 40, True), ("gru_before", 24, True), ("dense", 7, "relu"), ("dense", 3, None)],
    [("dense", 16, "tanh"), ("lstm", 20, True), ("gru", 12, True), ("dense", 5, "sigmoid")],
    [("lstm", 30, True), ("gru", 16, False), ("dense", 4, "softmax")],
    [("gru_before", 9, False)],
]


@pytest.mark.parametrize("spec", STACKS)
@pytest.mark.parametrize("batch, steps", [(1, 1), (5, 37), (16, 200)])
def test_stack_matches_reference(spec, batch, steps, rng):
    model, specs = build(rng, spec, 13)
    x = rng.standard_normal((batch, steps, 13)).astype(np.float32)
    y = model.predict(x)
    expected = stack(x, specs)
    assert y.shape == expected.shape
    assert max_abs(y, expected) <= TOLERANCE["float32"]
    single = model.predict(x[0])
    assert single.shape == expected.shape[1:]
    assert np.array_equal(single, y[0])


def test_long_sequence_spans_many_blocks(rng):
    """A long batch runs in several cache-sized blocks with the state carried over."""
    model, specs = build(rng, [("lstm", 256, True), ("dense", 4, None)], 64)
    x = rng.standard_normal((64, 300, 64)).astype(np.float32)
    assert max_abs(model.predict(x), stack(x, specs)) <= TOLERANCE["float32"]


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.float32])
def test_any_float_dtype_and_strides(dtype, rng):
    model, _ = build(rng, [("lstm", 8, True), ("dense", 3, None)], 6)
    x = rng.standard_normal((4, 10, 12)).astype(np.float32)[:, :, ::2]   # strided
    reference = model.predict(np.ascontiguousarray(x))
    converted = x.astype(dtype)
    expected = model.predict(np.ascontiguousarray(converted.astype(np.float32)))
    y = model.predict(converted)
    assert y.dtype == np.float32 and np.array_equal(y, expected)
    assert np.array_equal(model.predict(x), reference)
    assert np.array_equal(model.predict(np.asfortranarray(x[0])), reference[0])


def test_empty_inputs(rng):
    model, _ = build(rng, [("gru", 8, True), ("dense", 3, None)], 6)
    assert model.predict(np.zeros((0, 6), np.float32)).shape == (0, 3)
    assert model.predict(np.zeros((0, 5, 6), np.float32)).shape == (0, 5, 3)
    assert model.predict(np.zeros((2, 0, 6), np.float32)).shape == (2, 0, 3)
    last, _ = build(rng, [("gru", 8, False)], 6)
    assert last.predict(np.zeros((0, 5, 6), np.float32)).shape == (0, 8)
    with pytest.raises(ValueError, match="at least one step"):
        last.predict(np.zeros((2, 0, 6), np.float32))


def test_input_errors(rng):
    model, _ = build(rng, [("lstm", 8, True)], 6)
    with pytest.raises(TypeError, match="floating-point array, got dtype int64"):
        model.predict(np.zeros((3, 6), np.int64))
    with pytest.raises(ValueError, match=r"expected shape \(T, 6\) or \(B, T, 6\), got \(3, 5\)"):
        model.predict(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match=r"got \(6,\)"):
        model.predict(np.zeros(6, np.float32))


def test_construction_errors(rng):
    lstm = fastrnn.LSTM(*recurrent_weights(rng, 4, 6, 8))
    with pytest.raises(ValueError, match=r"layer 1 .* takes 5 inputs but layer 0 .* outputs 8"):
        fastrnn.Sequential([lstm, fastrnn.Dense(np.ones((3, 5)))])
    last = fastrnn.LSTM(*recurrent_weights(rng, 4, 6, 8), return_sequences=False)
    with pytest.raises(ValueError, match="layer 1 is recurrent but follows layer 0"):
        fastrnn.Sequential([last, fastrnn.GRU(*recurrent_weights(rng, 3, 8, 4))])
    with pytest.raises(TypeError, match="layer 0: expected a fastrnn layer"):
        fastrnn.Sequential([np.ones((3, 3))])
    with pytest.raises(ValueError, match="at least one layer"):
        fastrnn.Sequential([])
    with pytest.raises(ValueError, match="unknown instruction set 'sse9'"):
        fastrnn.Sequential([lstm], isa="sse9")


def test_info():
    info = fastrnn.info()
    assert {"version", "isa", "available_isas", "num_threads", "openmp", "compiler",
            "compiler_flags"} <= set(info)
    assert info["isa"] in info["available_isas"]


def test_set_num_threads_validates(restore_threads):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="num_threads: expected an integer >= 1"):
            fastrnn.set_num_threads(bad)
    fastrnn.set_num_threads(1)
    assert fastrnn.get_num_threads() == 1
