"""The gate activations of the recurrent cells (csrc/simd.h's vsigmoid_cell
and vtanh_cell, the rational fits every LSTM and GRU step ends with) against
float64, every instruction set.

A GRU(1 -> 1) with zero recurrent weights, one step, shows each directly:
h' = n + z (h - n) with
- n = tanh(0) = 0 exactly and h = 1: h' = z = sigmoid(w_z x);
- h = 0 and z's pre-activation at -100: h' = n (1 - z) = tanh(w_n x), z
  (clamped at -18) below 2e-8.
Bound: TOLERANCE["cell_activation"] (the fits' measured float32 errors,
3.1e-7 and 1.7e-7, with margin).
"""

import numpy as np
import pytest
from conftest import ISAS, TOLERANCE, max_abs

import fastrnn

X = np.concatenate([np.linspace(-25, 25, 40001), np.geomspace(1e-30, 1, 200),
                    -np.geomspace(1e-30, 1, 200)]).astype(np.float32)


def one_step(isa, w_ih, b_ih, h0, x=X, precision="float32"):
    """h' of a GRU(1 -> 1) step from h0 for every value of x, (len(x),) float32."""
    zeros = np.zeros(3, np.float32)
    layer = fastrnn.GRU(np.asarray(w_ih, np.float32)[:, None], np.zeros((3, 1), np.float32),
                        np.asarray(b_ih, np.float32), zeros, reset_after=True)
    model = fastrnn.Sequential([layer], isa=isa, precision=precision)
    state = {"layer0.h": np.full((len(x), 1), h0, np.float32)}
    return model.predict(x[:, None, None], initial_state=state)[:, 0, 0]


SIGMOID = ([0, 1, 0], [0, 0, 0], 1.0)
TANH = ([0, 0, 1], [0, -100, 0], 0.0)


@pytest.mark.parametrize("isa", ISAS)
def test_sigmoid(isa):
    expected = 1 / (1 + np.exp(-X.astype(np.float64)))
    error = max_abs(one_step(isa, *SIGMOID), expected)
    assert error <= TOLERANCE["cell_activation"], f"{isa}: sigmoid error {error:.3e}"


@pytest.mark.parametrize("isa", ISAS)
def test_tanh(isa):
    error = max_abs(one_step(isa, *TANH), np.tanh(X.astype(np.float64)))
    assert error <= TOLERANCE["cell_activation"], f"{isa}: tanh error {error:.3e}"


@pytest.mark.parametrize("isa", ISAS)
def test_nan_stays_nan_and_huge_inputs_saturate(isa):
    """(Infinite inputs would make NaN of the zero weights' products: 0 * inf.)"""
    x = np.array([np.nan, 1e30, -1e30], np.float32)
    for gate, saturated in ((SIGMOID, [1, 0]), (TANH, [1, -1])):
        got = one_step(isa, *gate, x=x)
        assert np.isnan(got[0]), f"{isa}: NaN in gives {got[0]}"
        np.testing.assert_allclose(got[1:], saturated, rtol=0,
                                   atol=TOLERANCE["cell_activation"])


DOT_ISAS = [isa for isa in ISAS if isa == "avx512_bf16"]
# X rounded to bfloat16 (as the input projection's products round it).
X_BF16 = (X.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)


@pytest.mark.skipif(not DOT_ISAS, reason="no AVX512-BF16 on this CPU: no dot-product build")
def test_dot_build_activations():
    """The dot-product builds' cheaper fits (5/4 rational, vrcp14ps) within
    TOLERANCE["cell_activation_dot"]."""
    x = X_BF16.astype(np.float64)
    sigmoid = one_step(DOT_ISAS[0], *SIGMOID, x=X_BF16, precision="bfloat16")
    tanh = one_step(DOT_ISAS[0], *TANH, x=X_BF16, precision="bfloat16")
    for name, got, expected in (("sigmoid", sigmoid, 1 / (1 + np.exp(-x))),
                                ("tanh", tanh, np.tanh(x))):
        error = max_abs(got, expected)
        assert error <= TOLERANCE["cell_activation_dot"], f"{name} error {error:.3e}"
