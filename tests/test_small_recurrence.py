"""The one-sequence path of LSTM and GRU for small layers (csrc/small.c).

A single sequence through a layer of up to 64 units (AVX-512; fewer on
narrower instruction sets, csrc/small.h) runs a dedicated step instead of
the tiled one. Its arithmetic is the tile path's (the same multiply-adds in
the same order, the same cells), so a sequence must give the same bits
alone (the small path) as in a batch (the tile path), and match the float64
reference within TOLERANCE["float32"]. The hidden sizes straddle every
bound: 1 and 3 (one partial panel), 8, 16, 31, 32, 33, 48, 64 (whole and
partial panels of 8 and 16 units) and 65 (past the bound: the tile path on
both sides).

A layer of one input feature (the per-sample audio models) also projects
its input in the step (x_t w_ih + b_ih, no gemm over the block): the gemm's
arithmetic for one input, so the same bits as the gemm then the small path,
which a second input held at zero gives (its products add 0).
"""

import numpy as np
import pytest
from conftest import GATES, ISAS, PRECISION_BOUND, RECURRENT_KINDS, assert_close, \
    dense_weights, inputs, max_abs, recurrent_layer, recurrent_weights
from reference import dense, gru, lstm

import fastrnn

HIDDEN = [1, 3, 8, 16, 31, 32, 33, 48, 64, 65]
STEPS = [1, 7, 256]


def reference(kind, x, weights):
    """(steps, H) float64 outputs of one sequence x (steps, I)."""
    if kind == "lstm":
        return lstm(x[None], *weights)[0][0]
    return gru(x[None], *weights, reset_after=kind == "gru")[0][0]


def model_of(kind, weights, isa, precision="float32", **options):
    return fastrnn.Sequential([recurrent_layer(kind, weights, **options)], isa=isa,
                              precision=precision)


def in_a_batch(model, x, rng, **options):
    """Row 1 of a batch of 3 holding x (the tile path), the others random."""
    batch = inputs(rng, (3, *x.shape))
    batch[1] = x
    return model.predict(batch, **options)[1]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("kind", RECURRENT_KINDS)
def test_one_sequence_matches_reference_and_the_batch_path(kind, hidden, steps, isa, rng):
    weights = recurrent_weights(rng, GATES[kind], 1, hidden)
    model = model_of(kind, weights, isa)
    x = inputs(rng, (steps, 1))
    alone = model.predict(x)
    what = f"{kind} H{hidden} T{steps} {isa}"
    assert_close(alone, reference(kind, x, weights), "float32", what)
    batched = in_a_batch(model, x, rng)
    assert np.array_equal(alone, batched), (
        f"{what}: alone vs in a batch, max abs difference {np.max(np.abs(alone - batched)):.3e}")


BF16_ISAS = [isa for isa in ISAS if isa == "avx512_bf16"]
PROJECTED = [(isa, "float32") for isa in ISAS] + [(isa, "bfloat16") for isa in BF16_ISAS]


def with_a_zero_input(weights, x, rng):
    """The layer's weights with a second input of random weights, and x with
    that input at zero: the gemm then the small path, on the same numbers."""
    w_ih, *rest = weights
    wide = np.concatenate([w_ih, inputs(rng, w_ih.shape, 0.3)], axis=1)
    return (wide, *rest), np.concatenate([x, np.zeros_like(x)], axis=1)


@pytest.mark.parametrize("isa,precision", PROJECTED)
@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("kind", RECURRENT_KINDS)
def test_one_input_projected_in_the_step(kind, hidden, steps, isa, precision, rng):
    """One input feature, projected in the step, against the gemm's projection
    (a second input at zero) bit for bit, and (float32) the float64 reference."""
    weights = recurrent_weights(rng, GATES[kind], 1, hidden)
    x = inputs(rng, (steps, 1))
    projected = model_of(kind, weights, isa, precision).predict(x)
    wide_weights, wide_x = with_a_zero_input(weights, x, rng)
    by_gemm = model_of(kind, wide_weights, isa, precision).predict(wide_x)
    what = f"{kind} H{hidden} T{steps} {isa} {precision}"
    assert np.array_equal(projected, by_gemm), (
        f"{what}: vs the gemm, max abs difference {np.max(np.abs(projected - by_gemm)):.3e}")
    if precision == "float32":
        assert_close(projected, reference(kind, x, weights), "float32", what)


@pytest.mark.parametrize("kind", RECURRENT_KINDS)
def test_one_input_from_a_layer(kind, rng):
    """One input feature that a Dense layer computes (a padded row a frame:
    the step reads every 16th float or so) against the float64 reference,
    and alone (projected in the step) as in a batch (the gemm), bit for bit."""
    w_dense, b_dense = dense_weights(rng, 3, 1)
    weights = recurrent_weights(rng, GATES[kind], 1, 32)
    model = fastrnn.Sequential([fastrnn.Dense(w_dense, b_dense, "tanh"),
                                recurrent_layer(kind, weights)])
    x = inputs(rng, (40, 3))
    alone = model.predict(x)
    assert_close(alone, reference(kind, dense(x, w_dense, b_dense, "tanh"), weights),
                 "float32", kind)
    assert np.array_equal(alone, in_a_batch(model, x, rng))


@pytest.mark.parametrize("features", [1, 9])
@pytest.mark.parametrize("hidden", [5, 32, 64])
@pytest.mark.parametrize("kind", RECURRENT_KINDS)
def test_inputs_and_chunked_streams(kind, hidden, features, rng):
    """Inputs of 1 (projected in the step) and 9 features; a stream fed in
    uneven chunks equals predict bit for bit."""
    weights = recurrent_weights(rng, GATES[kind], features, hidden)
    model = model_of(kind, weights, None)
    x = inputs(rng, (50, features))
    whole = model.predict(x)
    assert_close(whole, reference(kind, x, weights), "float32", f"{kind} H{hidden}")
    assert np.array_equal(whole, in_a_batch(model, x, rng))
    stream = model.stream()
    chunks = [stream.process(x[a:b]) for a, b in ((0, 1), (1, 8), (8, 40), (40, 50))]
    assert np.array_equal(np.concatenate(chunks), whole)


@pytest.mark.parametrize("features", [1, 2])
@pytest.mark.parametrize("hidden", [3, 32, 64])
@pytest.mark.parametrize("kind", RECURRENT_KINDS)
def test_backwards_and_bidirectional(kind, hidden, features, rng):
    """The steps run last to first (go_backwards, a Bidirectional's backward
    direction: its own projection) alike on both paths."""
    weights = recurrent_weights(rng, GATES[kind], features, hidden)
    x = inputs(rng, (20, features))
    backwards = model_of(kind, weights, None, go_backwards=True)
    assert np.array_equal(backwards.predict(x), in_a_batch(backwards, x, rng))
    both = fastrnn.Sequential([fastrnn.Bidirectional(
        recurrent_layer(kind, weights), recurrent_layer(kind, recurrent_weights(
            rng, GATES[kind], features, hidden)))])
    assert np.array_equal(both.predict(x), in_a_batch(both, x, rng))


@pytest.mark.parametrize("kind", RECURRENT_KINDS)
def test_a_shorter_length_skips_the_last_steps(kind, rng):
    """lengths < steps masks the steps after the length (the state carried over them)."""
    weights = recurrent_weights(rng, GATES[kind], 1, 32)
    model = model_of(kind, weights, None)
    x = inputs(rng, (1, 30, 1))
    y, state = model.predict(x, lengths=np.array([11]), return_state=True)
    alone, alone_state = model.predict(x[0, :11], return_state=True)
    assert np.array_equal(y[0, :11], alone)
    for name in state:
        assert np.array_equal(state[name][0], alone_state[name]), name
    batch = inputs(rng, (3, 30, 1))
    batch[1] = x[0]
    batched, batched_state = model.predict(batch, lengths=np.array([30, 11, 4]),
                                           return_state=True)
    assert np.array_equal(y[0], batched[1])
    for name in state:
        assert np.array_equal(state[name][0], batched_state[name][1]), name


@pytest.mark.skipif(not BF16_ISAS, reason="no AVX512-BF16 on this CPU: no bfloat16 small path")
@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("kind", RECURRENT_KINDS)
def test_bfloat16_one_sequence(kind, hidden, steps, rng):
    """The bfloat16 small path (vdpbf16ps, its pair sums split in two, so not
    the tile path's bits) against the float64 reference within the
    precision's stated bound (PRECISION_BOUND), and against the same
    sequence in a batch (the tile path) within TOLERANCE["dot_twin"]: the two
    differ by the order of float32 additions, which may move h across a
    bfloat16 rounding boundary (one step, 2**-8 relative)."""
    weights = recurrent_weights(rng, GATES[kind], 1, hidden)
    model = model_of(kind, weights, BF16_ISAS[0], precision="bfloat16")
    x = inputs(rng, (steps, 1))
    alone = model.predict(x)
    what = f"{kind} H{hidden} T{steps} bfloat16"
    error = max_abs(alone, reference(kind, x, weights))
    assert error <= PRECISION_BOUND["bfloat16"], f"{what}: vs float64 {error:.3e}"
    assert_close(alone, in_a_batch(model, x, rng), "dot_twin", f"{what} alone vs batch")
    stream = model.stream()
    half = steps // 2 + 1
    chunks = [stream.process(x[a:b]) for a, b in ((0, 1), (1, half), (half, steps))]
    assert np.array_equal(np.concatenate(chunks), alone), f"{what}: stream vs predict"
