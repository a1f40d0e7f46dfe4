"""csrc/train.c (the float32 pointwise LSTM and GRU steps the trainer runs,
through fastrnn._engine.TrainKernels) against the NumPy float64 definitions
in fastrnn/train/lstm.py and gru.py, every instruction set.

Bound: the "float32" entry of the tolerance table. Inputs are O(1), the
kernel's sigmoid/tanh are within 2e-7 of float64 and each output is a few
products of such values, so the float32 rounding is ~1e-6 at most.
"""

import numpy as np
import pytest

from conftest import ISAS, assert_close
from fastrnn import _engine
from fastrnn.train import gru, lstm


def step_inputs(rng, batch, hidden, masked):
    gates = rng.standard_normal((batch, 4 * hidden)) * 3
    states = [rng.standard_normal((batch, hidden)) for _ in range(5)]
    mask = rng.random(batch) > 0.4 if masked else None
    return gates, states, mask


@pytest.mark.parametrize("masked", [False, True], ids=["all_real", "masked"])
@pytest.mark.parametrize("batch, hidden", [(1, 1), (3, 7), (5, 16), (4, 33), (2, 100)])
@pytest.mark.parametrize("isa", ISAS)
def test_forward_and_backward_steps_equal_the_numpy_definition(isa, batch, hidden, masked, rng):
    kernels = _engine.TrainKernels(isa)
    gates, (c_prev, h_prev, dh, d_out, dc), mask = step_inputs(rng, batch, hidden, masked)
    f32 = [np.ascontiguousarray(a, dtype=np.float32) for a in (gates, c_prev, h_prev)]
    outputs = [np.empty((batch, hidden), np.float32) for _ in range(4)]
    kernels.lstm_forward(*f32, *outputs, mask)
    expected = [np.empty((batch, hidden)) for _ in range(4)]
    expected_gates = gates.copy()
    lstm.forward_step(expected_gates, c_prev, h_prev, *expected, mask)
    assert_close(f32[0], expected_gates, "float32", "gate values")
    for name, got, want in zip(("c", "tanh_c", "h", "out"), outputs, expected):
        assert_close(got, want, "float32", name)

    dc32 = dc.astype(np.float32)
    da32 = np.empty((batch, 4 * hidden), np.float32)
    kernels.lstm_backward(expected_gates.astype(np.float32), f32[1],
                          expected[1].astype(np.float32), dh.astype(np.float32),
                          d_out.astype(np.float32), dc32, da32, mask)
    da = np.empty((batch, 4 * hidden))
    lstm.backward_step(expected_gates, c_prev, expected[1], dh, d_out, dc, da, mask)
    assert_close(da32, da, "float32", "da")
    assert_close(dc32, dc, "float32", "dc")


@pytest.mark.parametrize("masked", [False, True], ids=["all_real", "masked"])
@pytest.mark.parametrize("batch, hidden", [(1, 1), (3, 7), (5, 16), (4, 33), (2, 100)])
@pytest.mark.parametrize("isa", ISAS)
def test_gru_steps_equal_the_numpy_definition(isa, batch, hidden, masked, rng):
    kernels = _engine.TrainKernels(isa)
    gates = rng.standard_normal((batch, 3 * hidden)) * 3
    hidden_proj = rng.standard_normal((batch, 3 * hidden)) * 2
    h_prev, dh, d_out = (rng.standard_normal((batch, hidden)) for _ in range(3))
    mask = rng.random(batch) > 0.4 if masked else None

    def f32(array):
        return np.ascontiguousarray(array, dtype=np.float32)

    gates32 = f32(gates)
    h32, out32 = np.empty((batch, hidden), np.float32), np.empty((batch, hidden), np.float32)
    kernels.gru_forward(gates32, f32(hidden_proj), f32(h_prev), h32, out32, mask)
    h, out = np.empty((batch, hidden)), np.empty((batch, hidden))
    gru.forward_step(gates, hidden_proj, h_prev, h, out, mask)
    for name, got, want in (("gates", gates32, gates), ("h", h32, h), ("out", out32, out)):
        assert_close(got, want, "float32", name)

    da32, d_hidden32 = (np.empty((batch, 3 * hidden), np.float32) for _ in range(2))
    direct32 = np.empty((batch, hidden), np.float32)
    kernels.gru_backward(f32(gates), f32(hidden_proj), f32(h_prev), f32(dh),
                         f32(d_out), da32, d_hidden32, direct32, mask)
    da, d_hidden = np.empty((batch, 3 * hidden)), np.empty((batch, 3 * hidden))
    direct = np.empty((batch, hidden))
    gru.backward_step(gates, hidden_proj, h_prev, dh, d_out, da, d_hidden, direct, mask)
    for name, got, want in (("da", da32, da), ("d_hidden", d_hidden32, d_hidden),
                            ("dh_direct", direct32, direct)):
        assert_close(got, want, "float32", name)


def test_sizes_and_types_are_checked_before_the_kernel_runs():
    gates = np.zeros((2, 8), np.float32)
    state = np.zeros((2, 2), np.float32)
    kernels = _engine.TrainKernels(ISAS[0])
    with pytest.raises(ValueError, match=r"c_prev: expected a C-contiguous float32 array of "
                                         r"shape \(2, 2\), got float64 \(2, 2\)"):
        kernels.lstm_forward(gates, state.astype(np.float64), state, state, state,
                             state, state)
    with pytest.raises(ValueError, match=r"h: expected .* shape \(2, 2\), got float32 \(2, 3\)"):
        kernels.lstm_forward(gates, state, state, state, state,
                             np.zeros((2, 3), np.float32), state)
    with pytest.raises(ValueError, match=r"mask: expected a contiguous bool array of shape "
                                         r"\(2,\), got bool \(3,\)"):
        kernels.lstm_forward(gates, state, state, state, state, state, state,
                             np.ones(3, bool))
    with pytest.raises(ValueError, match=r"gates: expected shape \(B, 4 \* H\)"):
        kernels.lstm_backward(np.zeros((2, 3), np.float32), state, state, state,
                              None, state, gates)
    with pytest.raises(ValueError, match=r"gates: expected shape \(B, 3 \* H\)"):
        kernels.gru_forward(np.zeros((2, 4), np.float32), gates, state, state, state)
    with pytest.raises(ValueError, match=r"hidden_proj: expected .* shape \(2, 6\), got "
                                         r"float32 \(2, 8\)"):
        kernels.gru_forward(np.zeros((2, 6), np.float32), gates, state, state, state)
    with pytest.raises(ValueError, match="da: expected a writable array"):
        readonly = np.zeros((2, 8), np.float32)
        readonly.flags.writeable = False
        kernels.lstm_backward(gates, state, state, state, None, state, readonly)


def test_an_unknown_instruction_set_is_refused_when_the_kernels_are_resolved():
    with pytest.raises(ValueError, match="unknown instruction set 'sse9'"):
        _engine.TrainKernels("sse9")
