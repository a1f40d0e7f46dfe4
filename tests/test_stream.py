"""Streams (Sequential.stream, fastrnn._engine.Stream), against predict.

1. any chunking of a signal (1-frame steps, odd chunks, one chunk, random
   chunkings, empty chunks) equals predict on the whole of it, bit for bit,
   one stream and many;
2. return_sequences=False models answer every frame with predict(x[:t + 1]);
3. reset(), reset(indices), get_state() / set_state();
4. active masks;
5. failed calls leave the state exactly as it was;
6. out= buffers;
7. threads: different streams in parallel, one stream from two threads,
   thread-count invariance;
8. input dtypes and strides.

Self-contained: the weight helpers live here, so the file runs without
tests/conftest.py and tests/reference.py.
"""

import io
import os
import re
import threading
import time
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastrnn
from fastrnn import _engine

F = 13   # input features: odd, so no SIMD width divides it
OUTPUTS = 6    # outputs of the Dense heads
N_ERR = 4  # streams in the batch of the failed-call tests


# ---------------------------------------------------------------- helpers

def make_rng(*key):
    """A generator seeded from `key`, the same in every run."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def uniform(rng, shape, scale):
    return rng.uniform(-scale, scale, shape).astype(np.float32)


def recurrent_weights(rng, gates, inputs, hidden):
    """PyTorch's initialisation: weight_ih, weight_hh, bias_ih, bias_hh, all
    uniform(-1/sqrt(H), 1/sqrt(H))."""
    scale = 1 / np.sqrt(hidden)
    return (uniform(rng, (gates * hidden, inputs), scale),
            uniform(rng, (gates * hidden, hidden), scale),
            uniform(rng, (gates * hidden,), scale),
            uniform(rng, (gates * hidden,), scale))


def dense_weights(rng, inputs, outputs):
    scale = 1 / np.sqrt(inputs)
    return uniform(rng, (outputs, inputs), scale), uniform(rng, (outputs,), scale)


# Models as lists of (kind, units[, activation]); input size F.
SPECS = {
    "lstm": [("lstm", 20), ("dense", OUTPUTS, "tanh")],
    "gru": [("gru", 20), ("dense", OUTPUTS, None)],                       # reset_after=True
    "gru_before": [("gru_before", 20), ("dense", OUTPUTS, "sigmoid")],    # reset_after=False
    "lstm_no_head": [("lstm", 37)],
    "stacked": [("lstm", 40), ("gru_before", 33), ("dense", 16, "relu"),
                ("dense", OUTPUTS, "softmax")],
    "stacked_gru": [("gru", 70), ("gru", 24), ("dense", OUTPUTS, "elu")],
    "dense_between": [("lstm", 24), ("dense", 18, "tanh"), ("gru", 20), ("dense", OUTPUTS, None)],
    "rnn": [("rnn", 30), ("dense", OUTPUTS, "tanh")],
}
# Models whose last recurrent layer can take return_sequences=False.
LAST_STEP_SPECS = ["lstm", "gru", "gru_before", "lstm_no_head", "stacked", "dense_between"]


def build(spec, *, last_only=False, isa=None, precision="float32", seed=0):
    """The model `spec` (a SPECS name or a list of layer tuples), weights
    drawn PyTorch-style. last_only: the last recurrent layer gets
    return_sequences=False."""
    layers_spec = SPECS[spec] if isinstance(spec, str) else spec
    rng = make_rng("weights", repr(layers_spec), seed)
    last_recurrent = max(i for i, layer in enumerate(layers_spec) if layer[0] != "dense")
    layers, size = [], F
    for index, (kind, units, *rest) in enumerate(layers_spec):
        sequences = not (last_only and index == last_recurrent)
        if kind == "lstm":
            layers.append(fastrnn.LSTM.from_torch(*recurrent_weights(rng, 4, size, units),
                                                  return_sequences=sequences))
        elif kind in ("gru", "gru_before"):
            layers.append(fastrnn.GRU(*recurrent_weights(rng, 3, size, units),
                                      reset_after=kind == "gru", return_sequences=sequences))
        elif kind == "rnn":
            layers.append(fastrnn.SimpleRNN(*recurrent_weights(rng, 1, size, units),
                                            return_sequences=sequences))
        else:
            layers.append(fastrnn.Dense.from_torch(*dense_weights(rng, size, units),
                                                   activation=rest[0]))
        size = units
    options = {} if isa is None else {"isa": isa}
    return fastrnn.Sequential(layers, precision=precision, **options)


def signal(key, shape):
    return make_rng("signal", key).standard_normal(shape).astype(np.float32)


def chunkings(steps, rng):
    """(name, sizes): sizes sum to `steps`; a size None means one step() call."""
    def fill(size):
        return [size] * (steps // size) + ([steps % size] if steps % size else [])

    yield "1-frame chunks", [1] * steps
    yield "chunks of 7", fill(7)
    yield "chunks of 13", fill(13)
    yield "one chunk", [steps]
    yield "empty chunks interleaved", [0] + [s for size in fill(5) for s in (size, 0, 0)]
    mixed = [None] * 3 + [0, 10, None, 0] + [None] * (steps - 16) + [2]
    yield "step() and process() mixed", mixed
    for index in range(3):
        sizes, left = [], steps
        while left:
            if rng.random() < 0.2:
                sizes.append(0)
                continue
            size = int(rng.integers(1, min(left, 30) + 1))
            sizes.append(size)
            left -= size
        yield f"random chunking {index}", sizes


def run_chunks(stream, x, sizes, batch):
    """Feed x ((T, F), or (N, T, F) when batch) to the stream in chunks of
    `sizes` (None: one step() call); the outputs concatenated along time."""
    axis = 1 if batch else 0
    outputs, start = [], 0
    for size in sizes:
        if size is None:
            frame = x[:, start] if batch else x[start]
            y = np.expand_dims(stream.step(np.ascontiguousarray(frame)), axis)
            start += 1
        else:
            chunk = np.ascontiguousarray(x[:, start:start + size] if batch
                                         else x[start:start + size])
            y = stream.process(chunk)
            assert y.shape == chunk.shape[:-1] + (stream.output_size,)
            start += size
        assert y.dtype == np.float32
        outputs.append(y)
    assert start == x.shape[axis]
    return np.concatenate(outputs, axis=axis)


def assert_same_bits(got, expected, what):
    """Bit-for-bit equality; on failure, say by how much they differ."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    if not np.array_equal(got, expected):
        diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
        worst = np.unravel_index(np.nanargmax(diff), diff.shape)
        pytest.fail(f"{what}: not bit-identical to the reference: "
                    f"{np.count_nonzero(got != expected)} of {got.size} values differ, "
                    f"max |diff| = {np.nanmax(diff):.3g} at {worst}")


def states_equal(a, b):
    return set(a) == set(b) and all(a[k].shape == b[k].shape and np.array_equal(a[k], b[k])
                                    for k in a)


def state_bytes(state):
    return b"".join(state[k].tobytes() for k in sorted(state))


# ------------------------------------------- 1. any chunking equals predict

# The stream runs the same kernels as predict with the same arithmetic order
# for every sequence (csrc/tile.h: a row's result never depends on the tile,
# the batch it is in, the chunking or the thread count), so streams are
# compared with predict BIT FOR BIT (np.array_equal), not with a tolerance.
# If one of these ever fails by ~1e-7, that is a break of that design: report
# it, do not loosen the comparison.

@pytest.mark.parametrize("spec", SPECS)
def test_single_stream_any_chunking_equals_predict(spec):
    model = build(spec)
    x = signal(("single", spec), (60, F))
    expected = model.predict(x)
    stream = model.stream()
    assert_same_bits(np.stack([stream.step(frame) for frame in x]), expected,
                     "step() per frame")
    for name, sizes in chunkings(60, make_rng("chunkings", spec)):
        got = run_chunks(model.stream(), x, sizes, batch=False)
        assert_same_bits(got, expected, f"{name} {sizes}")


@pytest.mark.parametrize("batch", [1, 5, 13])
@pytest.mark.parametrize("spec", SPECS)
def test_batch_stream_any_chunking_equals_predict(spec, batch):
    model = build(spec)
    x = signal(("batch", spec, batch), (batch, 50, F))
    expected = model.predict(x)
    stream = model.stream(batch_size=batch)
    assert_same_bits(np.stack([stream.step(x[:, t]) for t in range(50)], axis=1), expected,
                     "step() per frame")
    for name, sizes in chunkings(50, make_rng("batch chunkings", spec, batch)):
        got = run_chunks(model.stream(batch_size=batch), x, sizes, batch=True)
        assert_same_bits(got, expected, f"{name} {sizes}")


def test_long_sequences_in_several_predict_blocks():
    """predict goes through a long sequence in blocks of steps sized to the
    cache (csrc/model.c, block_steps); these lengths take several blocks."""
    model = build([("lstm", 256), ("dense", OUTPUTS, None)])
    x = signal("long single", (1500, F))
    expected = model.predict(x)
    stream = model.stream()
    assert_same_bits(np.stack([stream.step(frame) for frame in x]), expected, "step()")
    for sizes in ([500] * 3, [1499, 0, 1], [700, 1, 799]):
        assert_same_bits(run_chunks(model.stream(), x, sizes, batch=False), expected, sizes)

    model = build([("lstm", 64), ("gru", 64), ("dense", OUTPUTS, "softmax")])
    x = signal("long batch", (48, 150, F))
    expected = model.predict(x)
    stream = model.stream(batch_size=48)
    assert_same_bits(np.stack([stream.step(x[:, t]) for t in range(150)], axis=1), expected,
                     "batch step()")
    for sizes in ([150], [7] * 21 + [3], [0, 149, 0, 1]):
        assert_same_bits(run_chunks(model.stream(batch_size=48), x, sizes, batch=True),
                         expected, sizes)


@pytest.mark.parametrize("spec", ["lstm", "gru", "gru_before", "stacked", "rnn"])
def test_batch_rows_equal_single_streams(spec):
    """Stream i of a batch gives what a stream of its own gives."""
    model = build(spec)
    x = signal(("rows", spec), (8, 30, F))
    batch = model.stream(batch_size=8)
    together = np.concatenate([batch.process(x[:, :11]), batch.process(x[:, 11:])], axis=1)
    for row in range(8):
        alone = model.stream()
        assert_same_bits(together[row], alone.process(x[row]), f"row {row}")
        state = batch.get_state()
        assert states_equal({k: v[row] for k, v in state.items()}, alone.get_state())


@pytest.mark.parametrize("spec", ["stacked", "stacked_gru"])
@pytest.mark.parametrize("isa, precision", [(isa, precision)
                                            for isa in _engine.available_isas()
                                            for precision in _engine.available_precisions(isa)])
def test_every_isa_and_precision_streams_like_predict(isa, precision, spec):
    model = build(spec, isa=isa, precision=precision)
    x = signal(("isa", isa), (7, 40, F))
    expected = model.predict(x)
    for sizes in ([1] * 40, [0, 13, 27], [40]):
        assert_same_bits(run_chunks(model.stream(batch_size=7), x, sizes, batch=True),
                         expected, f"{isa} {precision} {sizes}")
    stream = model.stream()
    assert_same_bits(np.stack([stream.step(frame) for frame in x[3]]), model.predict(x[3]),
                     f"{isa} {precision} single step()")


def test_mask_value_model_streams_every_frame():
    """mask_value is predict's business: streams take every frame as given."""
    layers = build("lstm").layers
    masked, plain = fastrnn.Sequential(layers, mask_value=0.0), fastrnn.Sequential(layers)
    x = signal("mask_value", (20, F))
    x[[3, 4, 11]] = 0.0
    assert_same_bits(masked.stream().process(x), plain.predict(x), "stream of a masked model")


# ----------------------------------- 2. return_sequences=False, every frame

@pytest.mark.parametrize("spec", LAST_STEP_SPECS)
def test_last_step_model_answers_every_frame(spec):
    model = build(spec, last_only=True)
    assert not model.returns_sequences
    x = signal(("last", spec), (20, F))
    expected = np.stack([model.predict(x[:t + 1]) for t in range(20)])
    assert expected.shape == (20, model.output_size)
    stream = model.stream()
    for t in range(20):
        y = stream.step(x[t])
        assert y.shape == (model.output_size,)
        assert_same_bits(y, expected[t], f"frame {t}")
    for sizes in ([0, 4, 1, 0, 9, 6], [20], [None, 5, None, 0, 13]):
        assert_same_bits(run_chunks(model.stream(), x, sizes, batch=False), expected, sizes)

    xb = signal(("last batch", spec), (3, 20, F))
    expected = np.stack([model.predict(xb[:, :t + 1]) for t in range(20)], axis=1)
    assert expected.shape == (3, 20, model.output_size)
    stream = model.stream(batch_size=3)
    assert_same_bits(np.stack([stream.step(xb[:, t]) for t in range(20)], axis=1), expected,
                     "batch step()")
    for sizes in ([0, 4, 1, 0, 9, 6], [20], [None, 5, None, 0, 13]):
        assert_same_bits(run_chunks(model.stream(batch_size=3), xb, sizes, batch=True),
                         expected, sizes)


# ------------------------------------------------ 3. reset, get/set_state

@pytest.mark.parametrize("batch", [None, 4])
@pytest.mark.parametrize("spec", ["lstm", "gru_before", "dense_between"])
def test_reset_equals_a_fresh_stream(spec, batch):
    model = build(spec)
    shape = (17, F) if batch is None else (batch, 17, F)
    x1, x2 = signal(("reset 1", spec), shape), signal(("reset 2", spec), shape)
    stream, fresh = model.stream(batch), model.stream(batch)
    stream.process(x1)
    stream.reset()
    assert states_equal(stream.get_state(), fresh.get_state())
    assert all(not value.any() for value in stream.get_state().values())
    got = stream.process(x2)
    assert_same_bits(got, fresh.process(x2), "after reset() vs fresh stream")
    assert_same_bits(got, model.predict(x2), "after reset() vs predict")


@pytest.mark.parametrize("spec", ["lstm", "gru", "gru_before", "stacked"])
def test_reset_some_streams(spec):
    model = build(spec)
    x = signal(("reset rows", spec), (6, 24, F))
    stream, never = model.stream(batch_size=6), model.stream(batch_size=6)
    stream.process(x[:, :10])
    never.process(x[:, :10])
    stream.reset([4, 1, 1])                      # any order, repeats allowed
    state, untouched = stream.get_state(), never.get_state()
    for name in state:
        assert not state[name][[1, 4]].any()
        assert np.array_equal(state[name][[0, 2, 3, 5]], untouched[name][[0, 2, 3, 5]])
    rest, continued = stream.process(x[:, 10:]), never.process(x[:, 10:])
    fresh = model.predict(x[[1, 4], 10:])
    for row in range(6):
        if row in (1, 4):
            assert_same_bits(rest[row], fresh[[1, 4].index(row)], f"reset row {row}")
        else:
            assert_same_bits(rest[row], continued[row], f"row {row}, not reset")


@pytest.mark.parametrize("indices, rows", [
    (3, [3]), (np.int64(2), [2]), (np.array([0, 5], np.uint16), [0, 5]),
    ((5, 0, 2), [0, 2, 5]), (range(6), list(range(6))),
    ([], []), (np.array([], np.int64), []),
    # Repeated: more indices than streams read past the C state (ASan, the fuzz suite).
    ([1, 1, 4, 1, 4, 4, 1, 1], [1, 4]),
])
def test_reset_index_forms(indices, rows):
    model = build("lstm")
    x = signal("reset forms", (6, 5, F))
    stream = model.stream(batch_size=6)
    stream.process(x)
    before = stream.get_state()
    stream.reset(indices)
    after = stream.get_state()
    others = [row for row in range(6) if row not in rows]
    for name in after:
        assert not after[name][rows].any()
        assert np.array_equal(after[name][others], before[name][others])


@pytest.mark.parametrize("indices, error, pattern", [
    ([0, 6], ValueError, r"\[0, 6\).*got \[6\]"),
    ([-1], ValueError, r"\[0, 6\).*got \[-1\]"),
    ([0.5], TypeError, r"integers.*float64"),
    ([True, False], TypeError, r"integers.*bool"),
    ([[0, 1]], TypeError, r"integers.*\(1, 2\)"),
])
def test_bad_reset_indices_change_nothing(indices, error, pattern):
    model = build("gru")
    x = signal("bad reset", (6, 5, F))
    stream = model.stream(batch_size=6)
    stream.process(x)
    before = stream.get_state()
    with pytest.raises(error, match=pattern):
        stream.reset(indices)
    assert states_equal(stream.get_state(), before)
    single = model.stream()
    single.process(x[0])
    before = single.get_state()
    with pytest.raises(ValueError, match="single stream"):
        single.reset([0])
    assert states_equal(single.get_state(), before)


@pytest.mark.parametrize("batch", [None, 3])
@pytest.mark.parametrize("spec", ["lstm", "gru", "gru_before", "dense_between"])
def test_state_round_trip(spec, batch):
    model = build(spec)
    x = signal(("state", spec), (24, F) if batch is None else (batch, 24, F))
    head, tail = (x[:10], x[10:]) if batch is None else (x[:, :10], x[:, 10:])
    stream = model.stream(batch)
    stream.process(head)
    snapshot = stream.get_state()
    assert list(snapshot) == model.state_names()
    for name, value in snapshot.items():
        units = model.layers[int(name[5:].split(".")[0])].hidden_size
        assert value.dtype == np.float32
        assert value.shape == ((units,) if batch is None else (batch, units))
    after = stream.process(tail)

    # Snapshot, run, restore, rerun.
    stream.set_state(snapshot)
    assert states_equal(stream.get_state(), snapshot)
    assert_same_bits(stream.process(tail), after, "restored snapshot")
    # get_state gives copies: writing into them or running on changes nothing else.
    copy = stream.get_state()
    for value in copy.values():
        value[...] = 7.0
    assert not any(np.all(value == 7.0) for value in stream.get_state().values())
    # A new stream continues identically; set_state copies the arrays in.
    moved = model.stream(batch)
    given = {name: value.copy() for name, value in snapshot.items()}
    moved.set_state(given)
    for value in given.values():
        value[...] = np.nan
    assert_same_bits(moved.process(tail), after, "state moved to a new stream")
    # Through np.savez in memory, as between processes.
    buffer = io.BytesIO()
    np.savez(buffer, **snapshot)
    buffer.seek(0)
    with np.load(buffer) as archive:
        loaded = {name: archive[name] for name in archive.files}
    revived = model.stream(batch)
    revived.set_state(loaded)
    assert_same_bits(revived.process(tail), after, "state through np.savez")
    buffer.seek(0)
    with np.load(buffer) as archive:
        straight = model.stream(batch)
        straight.set_state(archive)                 # the NpzFile itself, a mapping
    assert_same_bits(straight.process(tail), after, "state from the NpzFile")
    # float64 copies of float32 values are taken exactly.
    wide = model.stream(batch)
    wide.set_state({name: value.astype(np.float64) for name, value in snapshot.items()})
    assert_same_bits(wide.process(tail), after, "float64 state")
    # predict(initial_state=...) takes the same dicts.
    assert_same_bits(model.predict(tail, initial_state=snapshot), after,
                     "predict(initial_state=snapshot)")


@pytest.mark.parametrize("batch", [None, 3])
def test_set_state_refuses_bad_states_and_changes_nothing(batch):
    model = build("dense_between")          # keys layer0.h, layer0.c, layer2.h (H 24, 24, 20)
    shape = (12, F) if batch is None else (batch, 12, F)
    x = signal("bad state", shape)
    stream, twin, other = model.stream(batch), model.stream(batch), model.stream(batch)
    stream.process(x)
    twin.process(x)
    other.process(x[..., ::-1, :] * 2)
    before = stream.get_state()
    # A valid state that differs everywhere, the last key spoilt: a partial
    # write of the good keys would show.
    good = other.get_state()
    assert not any(np.array_equal(good[k], before[k]) for k in good)
    rows = () if batch is None else (batch,)
    bad = [
        ({k: v for k, v in good.items() if k != "layer2.h"}, ValueError,
         [r"missing \['layer2.h'\]"]),
        ({**good, "layer1.h": good["layer2.h"]}, ValueError, [r"unexpected \['layer1.h'\]"]),
        ({**good, "layer2.h": np.zeros(rows + (21,), np.float32)}, ValueError,
         [re.escape(str(rows + (20,))), re.escape(str(rows + (21,)))]),
        ({**good, "layer2.h": good["layer2.h"][np.newaxis]}, ValueError,
         [re.escape(str(rows + (20,))), re.escape(str((1,) + rows + (20,)))]),
        ({**good, "layer2.h": good["layer2.h"].astype(np.int32)}, TypeError,
         ["float", "int32"]),
        ({**good, "layer2.h": good["layer2.h"] > 0}, TypeError, ["float", "bool"]),
        ({**good, "layer2.h": np.full(rows + (20,), np.nan, np.float32)}, ValueError, ["NaN"]),
    ]
    if batch is not None:
        bad.append(({**good, "layer2.h": good["layer2.h"][:2]}, ValueError,
                    [re.escape("(3, 20)"), re.escape("(2, 20)")]))
        bad.append(({**good, "layer2.h": good["layer2.h"][0]}, ValueError,
                    [re.escape("(3, 20)"), re.escape("(20,)")]))
    for state, error, patterns in bad:
        with pytest.raises(error) as raised:
            stream.set_state(state)
        for pattern in patterns:
            assert re.search(pattern, str(raised.value)), (pattern, str(raised.value))
        assert states_equal(stream.get_state(), before), patterns
    frame = signal("bad state next", shape[:-2] + (F,))
    assert_same_bits(stream.step(frame), twin.step(frame), "the step after the failed calls")


# ------------------------------------------------------------ 4. active

@pytest.mark.parametrize("spec", ["lstm", "gru", "gru_before", "stacked", "dense_between"])
def test_active_mask_equals_running_only_those_streams(spec):
    """Frame by frame then chunk by chunk, a random mask each time, against
    one stream of its own per slot, advanced only when its slot is active."""
    model = build(spec)
    N, T = 7, 44
    x = signal(("active", spec), (N, T, F))
    rng = make_rng("active masks", spec)
    batch, singles = model.stream(batch_size=N), [model.stream() for _ in range(N)]
    t, call = 0, 0
    while t < T:
        size = None if t < 20 else min(int(rng.integers(0, 8)), T - t)
        mask = rng.random(N) < 0.6
        if call == 3:
            mask[:] = False
        elif call == 5:
            mask[:] = True
        call += 1
        before = batch.get_state()
        if size is None:
            y = batch.step(x[:, t], active=mask)[:, np.newaxis]
            steps = 1
        else:
            y = batch.process(x[:, t:t + size], active=mask)
            steps = size
        assert y.shape == (N, steps, model.output_size)
        after = batch.get_state()
        for row in range(N):
            if mask[row]:
                expected = singles[row].process(x[row, t:t + steps])
                assert_same_bits(y[row], expected, f"active row {row} at frame {t}")
            else:
                assert np.all(y[row] == 0), f"inactive row {row} at frame {t}"
                for name in after:
                    assert np.array_equal(after[name][row], before[name][row])
            assert states_equal({k: v[row] for k, v in after.items()}, singles[row].get_state())
        t += steps


@pytest.mark.parametrize("spec", ["lstm", "gru", "gru_before", "stacked_gru"])
def test_active_mask_equals_a_batch_of_the_active_rows(spec):
    model = build(spec)
    N = 9
    x = signal(("active rows", spec), (N, 20, F))
    mask = np.array([True, False, False, True, True, False, True, False, True])
    stream = model.stream(batch_size=N)
    stream.process(x[:, :8])
    before = stream.get_state()
    compact = model.stream(batch_size=int(mask.sum()))
    compact.set_state({name: value[mask] for name, value in before.items()})
    strided = np.repeat(mask, 2)[::2]                  # the same mask, not contiguous
    y = stream.process(x[:, 8:], active=strided)
    assert_same_bits(y[mask], compact.process(x[mask, 8:]), "active rows")
    assert np.all(y[~mask] == 0)
    after, expected = stream.get_state(), compact.get_state()
    for name in after:
        assert np.array_equal(after[name][mask], expected[name])
        assert np.array_equal(after[name][~mask], before[name][~mask])


def test_all_false_and_all_true_masks():
    model = build("stacked")
    N = 5
    x = signal("all masks", (N, 12, F))
    stream, plain = model.stream(batch_size=N), model.stream(batch_size=N)
    stream.process(x[:, :4])
    plain.process(x[:, :4])
    before = stream.get_state()
    out = np.full((N, OUTPUTS), np.nan, np.float32)
    assert stream.step(x[:, 4], out=out, active=np.zeros(N, bool)) is out
    assert np.all(out == 0)
    chunk_out = np.full((N, 3, OUTPUTS), np.nan, np.float32)
    assert stream.process(x[:, 4:7], out=chunk_out, active=np.zeros(N, bool)) is chunk_out
    assert np.all(chunk_out == 0)
    assert states_equal(stream.get_state(), before)
    assert_same_bits(stream.process(x[:, 4:8], active=np.ones(N, bool)), plain.process(x[:, 4:8]),
                     "all-True mask")
    assert_same_bits(stream.step(x[:, 8], active=[True] * N), plain.step(x[:, 8]),
                     "all-True mask as a list")
    assert states_equal(stream.get_state(), plain.get_state())


@pytest.mark.parametrize("method", ["step", "process"])
@pytest.mark.parametrize("active, error, expected, given", [
    (np.ones(4, bool), ValueError, "(5,)", "(4,)"),
    (np.ones(6, bool), ValueError, "(5,)", "(6,)"),
    (np.ones((5, 1), bool), ValueError, "(5,)", "(5, 1)"),
    (np.ones((1, 5), bool), ValueError, "(5,)", "(1, 5)"),
    (np.bool_(True), ValueError, "(5,)", "()"),
    (np.ones(5, np.int64), TypeError, "bool", "int64"),
    (np.ones(5, np.uint8), TypeError, "bool", "uint8"),
    (np.ones(5), TypeError, "bool", "float64"),
    ([1, 0, 1, 0, 1], TypeError, "bool", "int64"),
])
def test_bad_active_mask_raises_before_anything_changes(method, active, error, expected, given):
    model = build("lstm")
    N = 5
    x = signal("bad active", (N, 8, F))
    stream, twin = model.stream(batch_size=N), model.stream(batch_size=N)
    stream.process(x[:, :4])
    twin.process(x[:, :4])
    before = stream.get_state()
    if method == "step":
        args, out = (x[:, 4],), np.full((N, OUTPUTS), 3.0, np.float32)
    else:
        args, out = (x[:, 4:6],), np.full((N, 2, OUTPUTS), 3.0, np.float32)
    with pytest.raises(error) as raised:
        getattr(stream, method)(*args, out=out, active=active)
    message = str(raised.value)
    assert "active" in message and expected in message and given in message, message
    assert np.all(out == 3.0)
    assert states_equal(stream.get_state(), before)
    assert_same_bits(stream.step(x[:, 6]), twin.step(x[:, 6]), "the step after")


# ---------------------------------------------- 5. errors leave the state

def _frame(*shape, dtype=np.float32, fill=0.25):
    return np.full(shape, fill, dtype)


def _noncontiguous(*shape):
    return np.zeros(shape + (2,), np.float32)[..., 0]


def _read_only(*shape):
    out = np.zeros(shape, np.float32)
    out.flags.writeable = False
    return out


def _with(value, index, *shape):
    frame = np.full(shape, 0.25, np.float32)
    frame[index] = value
    return frame


def _aliased_chunk(single):
    """A chunk and an out= sharing one buffer."""
    shape = (4,) if single else (N_ERR, 2)
    rows = int(np.prod(shape))
    buffer = np.full(rows * (F + OUTPUTS), 0.25, np.float32)
    chunk, out = buffer[:rows * F], buffer[rows * F - OUTPUTS:rows * F - OUTPUTS + rows * OUTPUTS]
    return chunk.reshape(shape + (F,)), out.reshape(shape + (OUTPUTS,))


def _aliased_frames(single):
    """Frames and an out= sharing one buffer (issue 14 item 7: step computed on
    the zeroed out= and corrupted the state)."""
    rows = 1 if single else N_ERR
    buffer = np.full(rows * F, 0.25, np.float32)
    frames, out = buffer.reshape(rows, F), buffer[:rows * OUTPUTS].reshape(rows, OUTPUTS)
    return (frames[0], out[0]) if single else (frames, out)


# (id, call, error, patterns the message must hold: what was expected, what was given)
SINGLE_ERRORS = [
    ("frame too long", lambda s: s.step(_frame(F + 1)), ValueError,
     [r"\(13,\)", r"\(14,\)"]),
    ("frame too short", lambda s: s.step(_frame(F - 1)), ValueError, [r"\(13,\)", r"\(12,\)"]),
    ("frame 2-D", lambda s: s.step(_frame(1, F)), ValueError, [r"\(13,\)", r"\(1, 13\)"]),
    ("frame 0-D", lambda s: s.step(np.float32(1)), ValueError, [r"\(13,\)", r"got \(\)"]),
    ("chunk 1-D", lambda s: s.process(_frame(F)), ValueError, [r"\(T, 13\)", r"\(13,\)"]),
    ("chunk wrong F", lambda s: s.process(_frame(4, F + 2)), ValueError,
     [r"\(T, 13\)", r"\(4, 15\)"]),
    ("chunk 3-D", lambda s: s.process(_frame(1, 4, F)), ValueError,
     [r"\(T, 13\)", r"\(1, 4, 13\)"]),
    ("int32 frame", lambda s: s.step(_frame(F, dtype=np.int32)), TypeError, ["float", "int32"]),
    ("list of ints", lambda s: s.step([1] * F), TypeError, ["float", "int64"]),
    ("bool frame", lambda s: s.step(np.ones(F, bool)), TypeError, ["float", "bool"]),
    ("complex frame", lambda s: s.step(_frame(F, dtype=np.complex64)), TypeError,
     ["float", "complex64"]),
    ("int16 chunk", lambda s: s.process(_frame(4, F, dtype=np.int16)), TypeError,
     ["float", "int16"]),
    ("NaN frame", lambda s: s.step(_with(np.nan, 5, F)), ValueError, ["NaN"]),
    ("inf frame", lambda s: s.step(_with(np.inf, 0, F)), ValueError, ["infinity"]),
    ("-inf frame", lambda s: s.step(_with(-np.inf, F - 1, F)), ValueError, ["infinity"]),
    ("big-endian NaN frame", lambda s: s.step(_with(np.nan, 5, F).astype(">f4")), ValueError,
     ["NaN"]),
    ("NaN in a chunk's last frame", lambda s: s.process(_with(np.nan, (3, 2), 4, F)),
     ValueError, ["NaN"]),
    ("inf in a float64 chunk", lambda s: s.process(_with(np.inf, (1, 0), 4, F).astype(float)),
     ValueError, ["infinity"]),
    ("out float64", lambda s: s.step(_frame(F), out=np.zeros(OUTPUTS)), TypeError,
     ["float32", "float64"]),
    ("out too long", lambda s: s.step(_frame(F), out=np.zeros(OUTPUTS + 1, np.float32)), ValueError,
     [r"\(6,\)", r"\(7,\)"]),
    ("out 2-D", lambda s: s.step(_frame(F), out=np.zeros((1, OUTPUTS), np.float32)), ValueError,
     [r"\(6,\)", r"\(1, 6\)"]),
    ("out non-contiguous", lambda s: s.step(_frame(F), out=_noncontiguous(OUTPUTS)), TypeError,
     ["C-contiguous", r"got .*(non-contiguous|not (C-)?contiguous|strides)"]),
    ("out read-only", lambda s: s.step(_frame(F), out=_read_only(OUTPUTS)), TypeError,
     ["writable", r"got .*(read-only|not writ|non-writ|readonly)"]),
    ("out a list", lambda s: s.step(_frame(F), out=[0.0] * OUTPUTS), TypeError,
     ["float32", "list"]),
    ("chunk out wrong T", lambda s: s.process(_frame(4, F), out=np.zeros((5, OUTPUTS), np.float32)),
     ValueError, [r"\(4, 6\)", r"\(5, 6\)"]),
    ("chunk out float16", lambda s: s.process(_frame(4, F), out=np.zeros((4, OUTPUTS), np.float16)),
     TypeError, ["float32", "float16"]),
    ("chunk out shares the chunk", lambda s: s.process(*_aliased_chunk(True)), ValueError,
     ["share memory"]),
    ("step out shares the frame", lambda s: s.step(*_aliased_frames(True)), ValueError,
     ["share memory"]),
    ("active on a single stream", lambda s: s.step(_frame(F), active=np.ones(1, bool)),
     ValueError, ["active", "batch"]),
]

BATCH_ERRORS = [
    ("too few rows", lambda s: s.step(_frame(N_ERR - 1, F)), ValueError,
     [r"\(4, 13\)", r"\(3, 13\)"]),
    ("frames too long", lambda s: s.step(_frame(N_ERR, F + 1)), ValueError,
     [r"\(4, 13\)", r"\(4, 14\)"]),
    ("one frame for a batch", lambda s: s.step(_frame(F)), ValueError,
     [r"\(4, 13\)", r"\(13,\)"]),
    ("frames as a chunk", lambda s: s.process(_frame(N_ERR, F)), ValueError,
     [r"\(4, T, 13\)", r"\(4, 13\)"]),
    ("chunk with too many rows", lambda s: s.process(_frame(N_ERR + 1, 3, F)), ValueError,
     [r"\(4, T, 13\)", r"\(5, 3, 13\)"]),
    ("int8 frames", lambda s: s.step(_frame(N_ERR, F, dtype=np.int8)), TypeError,
     ["float", "int8"]),
    ("NaN in one row", lambda s: s.step(_with(np.nan, (2, 3), N_ERR, F)), ValueError, ["NaN"]),
    ("inf in a chunk's last row and frame",
     lambda s: s.process(_with(np.inf, (N_ERR - 1, 2, 0), N_ERR, 3, F)), ValueError,
     ["infinity"]),
    ("NaN in an active row",
     lambda s: s.process(_with(np.nan, (1, 0, 0), N_ERR, 3, F),
                         active=np.array([False, True, True, False])), ValueError, ["NaN"]),
    ("out too few rows", lambda s: s.step(_frame(N_ERR, F), out=np.zeros((3, OUTPUTS), np.float32)),
     ValueError, [r"\(4, 6\)", r"\(3, 6\)"]),
    ("out too wide", lambda s: s.step(_frame(N_ERR, F), out=np.zeros((4, OUTPUTS + 1), np.float32)),
     ValueError, [r"\(4, 6\)", r"\(4, 7\)"]),
    ("out float64", lambda s: s.step(_frame(N_ERR, F), out=np.zeros((4, OUTPUTS))), TypeError,
     ["float32", "float64"]),
    ("out Fortran order",
     lambda s: s.step(_frame(N_ERR, F), out=np.zeros((4, OUTPUTS), np.float32, order="F")),
     TypeError, ["C-contiguous", r"got .*(non-contiguous|not (C-)?contiguous|strides)"]),
    ("out read-only", lambda s: s.step(_frame(N_ERR, F), out=_read_only(N_ERR, OUTPUTS)), TypeError,
     ["writable", r"got .*(read-only|not writ|non-writ|readonly)"]),
    ("chunk out wrong T",
     lambda s: s.process(_frame(N_ERR, 3, F), out=np.zeros((4, 2, OUTPUTS), np.float32)),
     ValueError, [r"\(4, 3, 6\)", r"\(4, 2, 6\)"]),
    ("chunk out shares the chunk", lambda s: s.process(*_aliased_chunk(False)), ValueError,
     ["share memory"]),
    ("step out shares the frames", lambda s: s.step(*_aliased_frames(False)), ValueError,
     ["share memory"]),
    ("step out shares the frames, some active",
     lambda s: s.step(*_aliased_frames(False), active=np.array([True, False, True, True])),
     ValueError, ["share memory"]),
    ("mask too short", lambda s: s.step(_frame(N_ERR, F), active=np.ones(3, bool)), ValueError,
     [r"\(4,\)", r"\(3,\)"]),
    ("int mask", lambda s: s.step(_frame(N_ERR, F), active=np.ones(4, np.int32)), TypeError,
     ["bool", "int32"]),
]


def _check_failed_call(model, batch, call, error, patterns):
    x = signal(("errors", batch), (6, F) if batch is None else (batch, 6, F))
    head, nxt = (x[:5], x[5]) if batch is None else (x[:, :5], x[:, 5])
    stream, twin = model.stream(batch), model.stream(batch)
    stream.process(head)
    twin.process(head)
    before = stream.get_state()
    with pytest.raises(error) as raised:
        call(stream)
    message = str(raised.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in the message {message!r}"
    assert states_equal(stream.get_state(), before)
    assert_same_bits(stream.step(nxt), twin.step(nxt), "the step after the failed call")


@pytest.mark.parametrize("spec", ["lstm", "gru_before"])
@pytest.mark.parametrize("call, error, patterns", [case[1:] for case in SINGLE_ERRORS],
                         ids=[case[0] for case in SINGLE_ERRORS])
def test_failed_single_stream_call_leaves_state_untouched(spec, call, error, patterns):
    _check_failed_call(build(spec), None, call, error, patterns)


@pytest.mark.parametrize("spec", ["lstm", "stacked"])
@pytest.mark.parametrize("call, error, patterns", [case[1:] for case in BATCH_ERRORS],
                         ids=[case[0] for case in BATCH_ERRORS])
def test_failed_batch_stream_call_leaves_state_untouched(spec, call, error, patterns):
    _check_failed_call(build(spec), N_ERR, call, error, patterns)


def test_nan_policy_propagate_lets_nan_through():
    model = build("lstm")
    x = signal("propagate", (4, 6, F))
    stream = model.stream(nan_policy="propagate")
    stream.process(x[0, :2])
    assert np.all(np.isnan(stream.step(_with(np.nan, 3, F))))
    assert np.all(np.isnan(stream.process(x[0, 3:])))          # NaN stays in the state
    assert all(np.isnan(value).any() for value in stream.get_state().values())
    stream.set_state({name: np.full_like(value, np.nan)
                      for name, value in stream.get_state().items()})   # allowed here
    stream.reset()
    assert_same_bits(stream.process(x[0]), model.predict(x[0]), "after reset()")
    # One stream's NaN does not leak into the others of its batch.
    batch, clean = model.stream(4, nan_policy="propagate"), model.stream(4)
    poisoned = x.copy()
    poisoned[2, 1, 0] = np.nan
    got, expected = batch.process(poisoned), clean.process(x)
    assert np.all(np.isnan(got[2, 1:]))
    assert_same_bits(got[[0, 1, 3]], expected[[0, 1, 3]], "rows without NaN")


@pytest.mark.parametrize("kwargs, error, patterns", [
    ({"batch_size": 0}, ValueError, ["batch_size", "got 0"]),
    ({"batch_size": -3}, ValueError, ["batch_size", "got -3"]),
    ({"batch_size": True}, ValueError, ["batch_size", "got True"]),
    ({"batch_size": 2.0}, ValueError, ["batch_size", "got 2.0"]),
    ({"nan_policy": "ignore"}, ValueError, ["'raise'", "'propagate'", "'ignore'"]),
    ({"batch_size": 2**31}, ValueError, ["batch_size", "from 1 to 2147483647", "got 2147483648"]),
    ({"num_threads": 0}, ValueError, ["num_threads", "got 0"]),
    ({"num_threads": 2000}, ValueError, ["num_threads", "per core", "got 2000"]),
    ({"num_threads": 2**31}, ValueError, ["num_threads", "got 2147483648"]),
])
def test_stream_arguments_are_checked(kwargs, error, patterns):
    with pytest.raises(error) as raised:
        build("gru").stream(**kwargs)
    for pattern in patterns:
        assert pattern in str(raised.value), str(raised.value)


def test_numpy_integer_batch_size():
    """batch_size often comes out of NumPy (len of a mask's nonzero, a shape)."""
    model = build("gru")
    x = signal("numpy batch", (3, 5, F))
    stream = model.stream(batch_size=np.int64(3))
    assert_same_bits(stream.process(x), model.predict(x), "batch_size=np.int64(3)")


def test_stream_keeps_its_model_alive():
    model = build("gru")
    x = signal("alive", (6, F))
    expected = model.predict(x)
    stream = model.stream()
    del model
    import gc
    gc.collect()
    assert_same_bits(stream.process(x), expected, "stream after its model was dropped")


def test_bidirectional_model_does_not_stream():
    rng = make_rng("bidirectional")
    forward, backward = (fastrnn.LSTM.from_torch(*recurrent_weights(rng, 4, F, 8))
                         for _ in range(2))
    model = fastrnn.Sequential([fastrnn.Bidirectional(forward, backward)])
    with pytest.raises(ValueError, match="Bidirectional"):
        model.stream()


# ------------------------------------------------------------- 6. out=

@pytest.mark.parametrize("batch", [None, 4])
@pytest.mark.parametrize("spec", ["lstm", "gru", "stacked"])
def test_out_is_returned_and_holds_the_result(spec, batch):
    model = build(spec)
    rows = () if batch is None else (batch,)
    x = signal(("out", spec, batch), rows + (30, F))
    frames = [x[..., t, :] for t in range(30)]
    stream, twin = model.stream(batch), model.stream(batch)

    out = np.full(rows + (OUTPUTS,), np.nan, np.float32)
    assert stream.step(frames[0], out=out) is out
    assert_same_bits(out, twin.step(frames[0]), "step(out=)")
    chunk_out = np.full(rows + (5, OUTPUTS), np.nan, np.float32)
    assert stream.process(x[..., 1:6, :], out=chunk_out) is chunk_out
    assert_same_bits(chunk_out, twin.process(x[..., 1:6, :]), "process(out=)")
    empty_out = np.empty(rows + (0, OUTPUTS), np.float32)
    assert stream.process(x[..., 6:6, :], out=empty_out) is empty_out

    # Outputs returned without out= are new arrays, never reused.
    first = stream.step(frames[6])
    kept = first.copy()
    twin.step(frames[6])
    stream.step(frames[7])
    twin.step(frames[7])
    assert np.array_equal(first, kept)

    # A real-time loop writing into one buffer gives the same as without.
    loop, results = model.stream(batch), []
    out = np.empty(rows + (OUTPUTS,), np.float32)
    for frame in frames:
        assert loop.step(frame, out=out) is out
        results.append(out.copy())
    expected = model.predict(x)
    assert_same_bits(np.stack(results, axis=-2), expected, "real-time loop with out=")


def test_out_with_active_mask_zeroes_the_idle_rows():
    model = build("gru_before")
    x = signal("out active", (4, 3, F))
    stream, twin = model.stream(4), model.stream(4)
    mask = np.array([True, False, True, False])
    out = np.full((4, 3, OUTPUTS), np.nan, np.float32)
    assert stream.process(x, out=out, active=mask) is out
    assert np.all(out[~mask] == 0)
    assert_same_bits(out[mask], twin.process(x)[mask], "active rows")


# ------------------------------------------------------------- 7. threads

def test_streams_in_threads_equal_serial_results():
    model = build([("lstm", 128), ("gru", 96), ("dense", OUTPUTS, "softmax")])
    signals = [signal(("threads", i), (200, F)) for i in range(8)]
    serial = [model.predict(s) for s in signals]

    def run(x):
        stream, out, results = model.stream(), np.empty(OUTPUTS, np.float32), []
        for frame in x:
            results.append(stream.step(frame, out=out).copy())
        return np.stack(results)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, signals))
    for index, (got, expected) in enumerate(zip(results, serial)):
        assert_same_bits(got, expected, f"stream {index}")


def test_batch_streams_in_threads_with_two_threads_each_equal_serial():
    """Each stream running its own OpenMP team, from several Python threads."""
    model = build([("lstm", 128), ("gru_before", 128), ("dense", OUTPUTS, None)])
    signals = [signal(("batch threads", i), (24, 12, F)) for i in range(4)]
    serial = [model.predict(s) for s in signals]

    def run(x):
        stream = model.stream(batch_size=24, num_threads=2)
        return np.concatenate([stream.step(x[:, 0])[:, None], stream.process(x[:, 1:7]),
                               stream.process(x[:, 7:])], axis=1)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, signals))
    for index, (got, expected) in enumerate(zip(results, serial)):
        assert_same_bits(got, expected, f"batch stream {index}")


def test_one_stream_from_two_threads_never_gives_wrong_numbers():
    """Each call either succeeds or raises RuntimeError. All frames are the
    same, so whatever the order, k successful steps must leave the state of
    a serial stream after k steps, and their outputs must be the serial
    outputs of steps 1..k. Each thread keeps trying until it has had 80
    successes, so the two really overlap."""
    model = build([("lstm", 256), ("lstm", 256), ("dense", OUTPUTS, None)])
    frame = signal("hammer", (F,))
    stream = model.stream()
    start, lock = threading.Barrier(2), threading.Lock()
    outputs, refused = [], Counter()

    def hammer(use_process):
        start.wait()
        successes = 0
        while successes < 80:
            try:
                y = stream.process(frame[np.newaxis])[0] if use_process else stream.step(frame)
            except RuntimeError as error:
                assert "another thread" in str(error)
                refused[use_process] += 1
                time.sleep(1e-5)          # let the running call have the GIL back
                continue
            successes += 1
            with lock:
                outputs.append(y.tobytes())

    threads = [threading.Thread(target=hammer, args=(flag,)) for flag in (False, True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outputs) == 160
    serial = model.stream()
    expected = [serial.step(frame).tobytes() for _ in range(160)]
    assert Counter(outputs) == Counter(expected)
    assert states_equal(stream.get_state(), serial.get_state())


def test_get_state_from_another_thread_during_steps_is_never_torn():
    """get_state() while another thread steps the stream must raise
    RuntimeError or give a state the stream really had (after some number of
    whole steps), never a mix of two steps."""
    model = build([("lstm", 384), ("lstm", 384), ("dense", OUTPUTS, None)])
    frame = signal("torn", (F,))
    stream = model.stream()
    serial = model.stream()
    reachable = {state_bytes(serial.get_state())}
    for _ in range(60):
        serial.step(frame)
        reachable.add(state_bytes(serial.get_state()))
    done, counts = threading.Event(), Counter()

    def stepper():
        try:
            successes = 0
            while successes < 60:
                try:
                    stream.step(frame)
                except RuntimeError:       # the reader is inside get_state()
                    time.sleep(1e-5)
                    continue
                successes += 1
        finally:
            done.set()

    def reader():
        while not done.is_set():
            try:
                snapshot = state_bytes(stream.get_state())
            except RuntimeError:
                counts["refused"] += 1
                continue
            counts["read"] += 1
            counts["torn"] += snapshot not in reachable

    threads = [threading.Thread(target=stepper), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert states_equal(stream.get_state(), serial.get_state())
    assert counts["torn"] == 0, (f"{counts['torn']} of {counts['read']} get_state() results "
                                 "taken during steps match no state the stream passed through")


@pytest.mark.parametrize("spec", ["lstm", "gru", "gru_before"])
@pytest.mark.parametrize("batch, hidden", [(64, 128), (64, 512), (3, 512)])
def test_batch_stream_results_do_not_depend_on_thread_count(spec, batch, hidden):
    """Batch 64 splits the rows between threads; batch 3 with H = 512 splits
    each step's panels (csrc/parallel.h)."""
    kind = SPECS[spec][0][0]
    model = build([(kind, hidden), ("dense", OUTPUTS, "softmax")])
    x = signal(("thread count", spec, batch), (batch, 9, F))
    one = model.stream(batch, num_threads=1)
    two = model.stream(batch, num_threads=2)
    assert_same_bits(two.process(x[:, :6]), one.process(x[:, :6]), "process")
    assert_same_bits(two.step(x[:, 6]), one.step(x[:, 6]), "step")
    mask = np.arange(batch) % 3 != 1
    assert_same_bits(two.process(x[:, 7:], active=mask), one.process(x[:, 7:], active=mask),
                     "process with a mask")
    assert states_equal(two.get_state(), one.get_state())
    single_one, single_two = model.stream(num_threads=1), model.stream(num_threads=2)
    assert_same_bits(single_two.process(x[0]), single_one.process(x[0]), "single stream")


def _resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                    reason="reads the resident size from /proc (Linux)")
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="under AddressSanitizer freed memory stays resident (its quarantine): "
                           "the resident size does not show the stream's buffers")
def test_a_long_chunk_leaves_no_buffer_behind():
    """Issue 14 item 16: a stream's buffers only grew (490 MB kept after one
    long process call: with an active mask, copies of the active rows'
    chunk and outputs). A stream now runs a chunk in blocks of bounded size,
    reading and writing the caller's arrays: after 20,000 frames of 512
    outputs for two active rows (78 MB) it holds what it held after 10."""
    model = build([("lstm", 64), ("dense", 512, None)])
    stream = model.stream(batch_size=3)
    active = np.array([True, True, False])
    stream.process(signal("memory", (3, 10, F)), active=active)
    before = _resident_bytes()
    stream.process(signal("memory, long", (3, 20000, F)), active=active)
    assert _resident_bytes() - before < 16 * 2**20


# ------------------------------------------------- 8. dtypes and strides

def misaligned(array):
    """A C-contiguous float32 copy of `array` whose data is not 4-byte aligned."""
    raw = np.zeros(array.size * 4 + 1, np.uint8)
    view = raw[1:].view(np.float32).reshape(array.shape)
    view[...] = array
    assert not view.flags.aligned and view.flags.c_contiguous
    return view


@pytest.mark.parametrize("batch", [None, 3])
def test_input_dtypes_and_strides_give_the_float32_results(batch):
    model = build("stacked")
    rows = () if batch is None else (batch,)
    x = signal(("dtypes", batch), rows + (12, F))
    wide = np.zeros(rows + (12, 2 * F), np.float32)
    wide[..., ::2] = x
    reversed_copy = np.ascontiguousarray(x[..., ::-1, :])
    variants = {
        "float64": x.astype(np.float64),
        "every other column": wide[..., ::2],
        "Fortran order": np.asfortranarray(x),
        "negative time stride": reversed_copy[..., ::-1, :],
        "nested lists": x.tolist(),
        "big-endian float32": x.astype(">f4"),
        "big-endian float64": x.astype(">f8"),
        "misaligned float32": misaligned(x),
    }
    if batch is not None:
        time_major = np.ascontiguousarray(x.transpose(1, 0, 2))
        variants["time-major transposed"] = time_major.transpose(1, 0, 2)
    reference = model.stream(batch)
    expected = reference.process(x)
    for name, variant in variants.items():
        assert_same_bits(model.stream(batch).process(variant), expected, f"process {name}")
        stream, array = model.stream(batch), np.asarray(variant)
        got = [stream.step(array[..., t, :]) for t in range(12)]
        assert_same_bits(np.stack(got, axis=-2), expected, f"step {name}")
    stream = model.stream(batch)
    got = [stream.step(x[..., t, :].tolist()) for t in range(12)]
    assert_same_bits(np.stack(got, axis=-2), expected, "step lists")
    half = x.astype(np.float16)
    assert_same_bits(model.stream(batch).process(half),
                     model.stream(batch).process(half.astype(np.float32)), "float16")


class _ArraySubclass(np.ndarray):
    pass


@pytest.mark.parametrize("batch", [None, 3])
def test_out_may_be_an_ndarray_subclass(batch):
    """Issue 14 item 12: a writable subclass was refused as "a read-only array"."""
    model = build("lstm")
    rows = () if batch is None else (batch,)
    frame = signal(("out subclass", batch), rows + (F,))
    out = np.zeros(rows + (OUTPUTS,), np.float32).view(_ArraySubclass)
    assert model.stream(batch).step(frame, out=out) is out
    assert_same_bits(np.asarray(out), model.stream(batch).step(frame), "out= a subclass")


@pytest.mark.parametrize("batch", [None, 3])
def test_out_of_another_byte_order_or_alignment(batch):
    """out= must hold the right float32 values, or be refused with TypeError
    and the state unchanged."""
    model = build("lstm")
    rows = () if batch is None else (batch,)
    frame = signal(("out order", batch), rows + (F,))
    expected = model.stream(batch).step(frame)
    for name, out in [("big-endian", np.zeros(rows + (OUTPUTS,), ">f4")),
                      ("misaligned", misaligned(np.zeros(rows + (OUTPUTS,), np.float32)))]:
        stream = model.stream(batch)
        before = stream.get_state()
        try:
            returned = stream.step(frame, out=out)
        except TypeError:
            assert states_equal(stream.get_state(), before), name
            continue
        assert returned is out
        assert np.array_equal(out.astype(np.float32), expected), (
            f"out= {name}: holds {out} instead of {expected}")
