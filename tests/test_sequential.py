"""fastrnn.Sequential: stacks vs the reference, return_sequences, input
conversions and layouts, empty inputs, errors, info()."""

import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import (GATES, assert_close, dense_weights, inputs, recurrent_layer,
                      recurrent_spec, recurrent_weights)
from reference import stack

import fastrnn
from fastrnn import _engine


def build(rng, spec, input_size):
    """(model, reference specs) from [("lstm" | "gru" | "gru_before", units,
    return_sequences) or ("dense", units, activation)]."""
    layers, specs, size = [], [], input_size
    for kind, units, option in spec:
        if kind == "dense":
            w, b = dense_weights(rng, size, units)
            layers.append(fastrnn.Dense(w, b, option))
            specs.append(("dense", w, b, option))
        else:
            weights = recurrent_weights(rng, GATES[kind], size, units)
            layers.append(recurrent_layer(kind, weights, return_sequences=option))
            specs.append(recurrent_spec(kind, weights, option))
        size = units
    return fastrnn.Sequential(layers), specs


# Depth 1 to 4, every layer type in every position, return_sequences=False
# at the end and in the middle (then Dense heads).
STACKS = {
    "lstm": [("lstm", 32, True)],
    "gru_last_step": [("gru_before", 9, False)],
    "lstm_lstm_softmax": [("lstm", 64, True), ("lstm", 48, True), ("dense", 10, "softmax")],
    "gru_grubefore_relu_linear": [("gru", 40, True), ("gru_before", 24, True),
                                  ("dense", 7, "relu"), ("dense", 3, None)],
    "tanh_lstm_gru_sigmoid": [("dense", 16, "tanh"), ("lstm", 20, True), ("gru", 12, True),
                              ("dense", 5, "sigmoid")],
    "lstm_gru_last_softmax": [("lstm", 30, True), ("gru", 16, False), ("dense", 4, "softmax")],
    "lstm_last_elu_softmax": [("lstm", 17, False), ("dense", 8, "elu"), ("dense", 3, "softmax")],
    "dense_only": [("dense", 33, "elu"), ("dense", 2, None)],
}


@pytest.mark.parametrize("name", STACKS)
@pytest.mark.parametrize("batch, steps", [(1, 1), (5, 37), (16, 200)])
def test_stack_matches_reference(name, batch, steps, rng):
    model, specs = build(rng, STACKS[name], 13)
    x = inputs(rng, (batch, steps, 13))
    y = model.predict(x)
    expected = stack(x, specs)
    last_step = not all(spec[-1] for spec in STACKS[name] if spec[0] != "dense")
    assert y.shape == ((batch, model.output_size) if last_step
                       else (batch, steps, model.output_size))
    assert y.dtype == np.float32
    assert_close(y, expected, "float32", name)


@pytest.mark.parametrize("name", STACKS)
def test_one_sequence_is_a_batch_of_one(name, rng):
    """(T, F) -> (T, O) or (O,), bit-for-bit the (1, T, F) answer."""
    model, specs = build(rng, STACKS[name], 13)
    x = inputs(rng, (23, 13))
    single = model.predict(x)
    batched = model.predict(x[np.newaxis])
    assert single.shape == batched.shape[1:]
    assert np.array_equal(single, batched[0])
    assert_close(single, stack(x, specs), "float32", name)


@pytest.mark.parametrize("spec, input_size, batch, steps", [
    ([("lstm", 256, True), ("gru", 32, True), ("dense", 4, None)], 64, 64, 300),
    ([("lstm", 256, False), ("dense", 4, None)], 64, 64, 300),
    ([("lstm", 8, True), ("dense", 3, "softmax")], 5, 1000, 3),
    ([("gru_before", 16, False)], 3, 2, 5000),
], ids=["64x300", "64x300_last_step", "1000_sequences", "5000_steps"])
def test_large_batches_and_long_sequences(spec, input_size, batch, steps, rng):
    """Work split into cache-sized blocks over the batch and over time, the
    state carried from block to block."""
    model, specs = build(rng, spec, input_size)
    x = inputs(rng, (batch, steps, input_size))
    assert_close(model.predict(x), stack(x, specs), "float32")


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_before"])
def test_outputs_are_causal(kind, rng):
    """The first t outputs are those of the first t steps alone, bit for bit
    (what streaming in chunks relies on: "any chunking of a signal gives
    exactly the outputs of predict on the whole signal")."""
    model, _ = build(rng, [(kind, 40, True), ("dense", 5, "softmax")], 10)
    x = inputs(rng, (13, 120, 10))
    y = model.predict(x)
    for steps in (1, 7, 17, 64, 119):
        assert np.array_equal(model.predict(x[:, :steps]), y[:, :steps]), steps


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.longdouble, ">f4", ">f8"],
                         ids=["float16", "float64", "longdouble", "big-endian-f4",
                              "big-endian-f8"])
def test_any_float_dtype_is_converted_to_float32(dtype, rng):
    model, _ = build(rng, [("lstm", 8, True), ("dense", 3, None)], 6)
    x = inputs(rng, (4, 10, 6)).astype(dtype)
    y = model.predict(x)
    assert y.dtype == np.float32
    assert np.array_equal(y, model.predict(x.astype(np.float32)))
    assert np.array_equal(model.predict(x[1]), y[1])


def test_nested_lists_are_accepted(rng):
    model, _ = build(rng, [("gru", 8, True)], 3)
    x = inputs(rng, (5, 3))
    assert np.array_equal(model.predict(x.tolist()), model.predict(x))


LAYOUTS = {
    "time_strided": lambda x: x[:, ::2],
    "feature_strided": lambda x: np.repeat(x, 2, axis=2)[:, :, ::2],
    "reversed": lambda x: x[::-1, ::-1, ::-1],
    "fortran": np.asfortranarray,
    "time_major": lambda x: np.ascontiguousarray(x.transpose(1, 0, 2)).transpose(1, 0, 2),
    "read_only": lambda x: _read_only(x.copy()),
    "broadcast": lambda x: np.broadcast_to(x[:1], x.shape),
}


def _read_only(x):
    x.setflags(write=False)
    return x


@pytest.mark.parametrize("layout", LAYOUTS)
def test_any_strides_give_the_contiguous_result(layout, rng):
    model, _ = build(rng, [("lstm", 12, True), ("gru_before", 8, True), ("dense", 3, "softmax")], 6)
    view = LAYOUTS[layout](inputs(rng, (5, 16, 6)))
    assert view.shape[-1] == 6
    expected = model.predict(np.ascontiguousarray(view, dtype=np.float32))
    assert np.array_equal(model.predict(view), expected)
    assert np.array_equal(model.predict(view[2]), expected[2])
    assert np.array_equal(model.predict(view.astype(np.float64)), expected)


def test_predict_leaves_its_input_and_earlier_outputs_alone(rng):
    model, _ = build(rng, [("lstm", 12, True), ("dense", 3, "tanh")], 6)
    x = inputs(rng, (4, 10, 6))
    copy = x.copy()
    first = model.predict(x)
    kept = first.copy()
    model.predict(inputs(rng, (4, 10, 6)))
    assert np.array_equal(x, copy)
    assert np.array_equal(first, kept)


def test_sequences_of_a_batch_are_independent(rng):
    """A NaN in one sequence poisons that sequence from that step on, and no
    other sequence and no earlier step."""
    model, _ = build(rng, [("lstm", 40, True), ("gru", 24, True), ("dense", 5, "softmax")], 10)
    x = inputs(rng, (13, 30, 10))
    clean = model.predict(x)
    x[6, 12, 3] = np.nan
    y = model.predict(x)
    assert np.all(np.isnan(y[6, 12:]))
    assert np.array_equal(y[6, :12], clean[6, :12])
    assert np.array_equal(np.delete(y, 6, axis=0), np.delete(clean, 6, axis=0))


def test_a_layer_object_can_be_used_twice(rng):
    weight, bias = dense_weights(rng, 7, 7)
    layer = fastrnn.Dense(weight, bias, "tanh")
    x = inputs(rng, (3, 7))
    y = fastrnn.Sequential([layer, layer]).predict(x)
    assert_close(y, stack(x, [("dense", weight, bias, "tanh")] * 2), "float32")


def test_empty_batches_and_sequences(rng):
    model, _ = build(rng, [("gru", 8, True), ("dense", 3, None)], 6)
    for shape, expected in [((0, 6), (0, 3)), ((0, 5, 6), (0, 5, 3)), ((2, 0, 6), (2, 0, 3)),
                            ((0, 0, 6), (0, 0, 3))]:
        y = model.predict(np.zeros(shape, np.float32))
        assert y.shape == expected and y.dtype == np.float32, shape
    last, _ = build(rng, [("lstm", 8, False), ("dense", 2, None)], 6)
    y = last.predict(np.zeros((0, 5, 6), np.float32))
    assert y.shape == (0, 2) and y.dtype == np.float32


@pytest.mark.parametrize("shape", [(0, 6), (2, 0, 6)])
def test_no_steps_with_return_sequences_false(shape, rng):
    """There is no last step to return: an error naming what is needed."""
    model, _ = build(rng, [("gru", 8, False)], 6)
    with pytest.raises(ValueError, match="needs at least one step, got 0 steps"):
        model.predict(np.zeros(shape, np.float32))


@pytest.mark.parametrize("dtype", [np.int64, np.int8, bool, np.complex64, object])
def test_non_float_input_is_a_type_error(dtype, rng):
    model, _ = build(rng, [("lstm", 8, True)], 6)
    with pytest.raises(TypeError, match=f"x: expected a floating-point array, got dtype "
                                        f"{np.dtype(dtype)}"):
        model.predict(np.zeros((3, 6), dtype))


@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 7), (6,), (1, 2, 3, 6), ()])
def test_input_shape_errors_name_expected_and_given(shape, rng):
    model, _ = build(rng, [("lstm", 8, True)], 6)
    x = inputs(rng, (1, 4, 6))
    expected = model.predict(x)
    with pytest.raises(ValueError, match=r"x: expected shape \(T, 6\) or \(B, T, 6\), got "
                                         + re.escape(str(shape))):
        model.predict(np.zeros(shape, np.float32))
    assert np.array_equal(model.predict(x), expected)   # still usable, same answers


def test_layer_size_mismatch(rng):
    lstm = fastrnn.LSTM(*recurrent_weights(rng, 4, 6, 8))
    with pytest.raises(ValueError, match=r"layer 1 \(Dense\(input_size=5, .*\) takes 5 inputs "
                                         r"but layer 0 \(LSTM\(input_size=6, hidden_size=8.*\) "
                                         r"outputs 8"):
        fastrnn.Sequential([lstm, fastrnn.Dense(np.ones((3, 5)))])
    gru = fastrnn.GRU(*recurrent_weights(rng, 3, 9, 4))
    with pytest.raises(ValueError, match=r"layer 2 .* takes 9 inputs but layer 1 .* outputs 2"):
        fastrnn.Sequential([lstm, fastrnn.Dense(np.ones((2, 8))), gru])


def test_recurrent_layer_after_return_sequences_false(rng):
    last = fastrnn.LSTM(*recurrent_weights(rng, 4, 6, 8), return_sequences=False)
    head = fastrnn.Dense(*dense_weights(rng, 8, 8))
    gru = fastrnn.GRU(*recurrent_weights(rng, 3, 8, 4))
    with pytest.raises(ValueError, match=r"layer 1 is recurrent but follows layer 0, which has "
                                         r"return_sequences=False \(only Dense layers may\)"):
        fastrnn.Sequential([last, gru])
    with pytest.raises(ValueError, match=r"layer 2 is recurrent but follows layer 0"):
        fastrnn.Sequential([last, head, gru])
    fastrnn.Sequential([last, head, head])      # Dense heads are fine


@pytest.mark.parametrize("thing, name", [(np.ones((3, 3)), "ndarray"), (fastrnn.Dense, "type"),
                                         ("relu", "str"), (None, "NoneType")])
def test_non_layers_are_a_type_error(thing, name, rng):
    dense = fastrnn.Dense(*dense_weights(rng, 3, 3))
    with pytest.raises(TypeError, match=rf"layer 1: expected a fastrnn layer \(.*\), got {name}"):
        fastrnn.Sequential([dense, thing])


def test_other_construction_errors(rng):
    dense = fastrnn.Dense(*dense_weights(rng, 3, 3))
    with pytest.raises(ValueError, match="at least one layer, got none"):
        fastrnn.Sequential([])
    with pytest.raises(ValueError, match=r"unknown instruction set 'sse9'; expected one of"):
        fastrnn.Sequential([dense], isa="sse9")


ZERO_SIZED = {
    "lstm_hidden_0": lambda: fastrnn.LSTM(np.zeros((0, 3)), np.zeros((0, 0))),
    "gru_hidden_0": lambda: fastrnn.GRU(np.zeros((0, 3)), np.zeros((0, 0))),
    "dense_outputs_0": lambda: fastrnn.Dense(np.zeros((0, 3))),
    "dense_inputs_0": lambda: fastrnn.Dense(np.zeros((3, 0))),
    "lstm_inputs_0": lambda: fastrnn.LSTM(np.zeros((8, 0)), np.zeros((8, 2))),
}


@pytest.mark.parametrize("make", ZERO_SIZED.values(), ids=ZERO_SIZED.keys())
def test_zero_sized_layers_are_a_value_error(make):
    """A layer with no units or no inputs is a bad shape: ValueError naming
    the size given (on the layer or on the Sequential), not an engine error."""
    with pytest.raises(ValueError, match=r"got\b.*\b0\b"):
        fastrnn.Sequential([make()])


def test_info():
    info = fastrnn.info()
    assert set(info) >= {"version", "isa", "available_isas", "num_threads", "openmp",
                         "compiler", "compiler_flags"}
    assert info["version"] == fastrnn.__version__
    assert info["available_isas"] == _engine.available_isas()
    assert "generic" in info["available_isas"] and info["isa"] in info["available_isas"]
    assert info["num_threads"] == fastrnn.get_num_threads()
    assert isinstance(info["openmp"], bool)
    assert isinstance(info["compiler"], str) and info["compiler"]
    assert isinstance(info["compiler_flags"], str)


def test_set_num_threads(restore_threads):
    fastrnn.set_num_threads(1)
    assert fastrnn.get_num_threads() == 1 and fastrnn.info()["num_threads"] == 1
    fastrnn.set_num_threads(3)
    assert fastrnn.get_num_threads() == 3
    for bad in (0, -1, 1.5, True, "2", None, fastrnn.runtime.max_threads() + 1):
        with pytest.raises(ValueError, match=r"num_threads: expected an integer from 1 to"):
            fastrnn.set_num_threads(bad)
    assert fastrnn.get_num_threads() == 3


def test_submodules_load_on_first_use():
    """Issue 14 item 6: ``import fastrnn; fastrnn.onnx.InferenceSession``
    raised AttributeError. fastrnn.audio, .onnx and .train load when first
    named, not with the package."""
    script = (
        "import sys, fastrnn\n"
        "lazy = ('fastrnn.audio', 'fastrnn.onnx', 'fastrnn.train')\n"
        "assert not [name for name in lazy if name in sys.modules]\n"
        "print(fastrnn.onnx.InferenceSession.__name__, fastrnn.audio.load.__name__,\n"
        "      fastrnn.train.Sequential.__name__)\n"
        "try:\n"
        "    fastrnn.no_such_module\n"
        "except AttributeError as error:\n"
        "    print(error)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.splitlines() == [
        "InferenceSession load Sequential",
        "module 'fastrnn' has no attribute 'no_such_module'"]
