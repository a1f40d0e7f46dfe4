"""Streams: any chunking equals predict, state handling, errors, threads."""

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import dense_weights, recurrent_weights

import fastrnn

F, O = 12, 5


def model_of(rng, kind, hidden=24, last=True, layers=2):
    stack, size = [], F
    for index in range(layers):
        return_sequences = last or index < layers - 1
        if kind == "lstm":
            stack.append(fastrnn.LSTM(*recurrent_weights(rng, 4, size, hidden),
                                      return_sequences=return_sequences))
        else:
            stack.append(fastrnn.GRU(*recurrent_weights(rng, 3, size, hidden),
                                     reset_after=kind == "gru", return_sequences=return_sequences))
        size = hidden
    return fastrnn.Sequential(stack + [fastrnn.Dense(*dense_weights(rng, hidden, O), "softmax")])


KINDS = ["lstm", "gru", "gru_before"]


def chunkings(steps, rng):
    yield [1] * steps
    yield [7] * (steps // 7) + [steps % 7]
    yield [13, 0, 0, 1] + [steps - 14]
    yield [steps]
    cuts = np.sort(rng.choice(np.arange(1, steps), 6, replace=False))
    yield list(np.diff(np.concatenate([[0], cuts, [steps]])))


# The stream runs the same kernels with the same per-row arithmetic order as
# predict, so the outputs are equal bit for bit, not merely close.
@pytest.mark.parametrize("kind", KINDS)
def test_any_chunking_equals_predict(kind, rng):
    model = model_of(rng, kind)
    x = rng.standard_normal((90, F)).astype(np.float32)
    expected = model.predict(x)
    for sizes in chunkings(90, rng):
        stream, start, outputs = model.stream(), 0, []
        for size in sizes:
            outputs.append(stream.process(x[start:start + size]))
            start += size
        assert np.array_equal(np.concatenate(outputs), expected), sizes
    stream = model.stream()
    assert np.array_equal(np.stack([stream.step(frame) for frame in x]), expected)


@pytest.mark.parametrize("kind", KINDS)
def test_batch_of_streams_equals_predict(kind, rng):
    model = model_of(rng, kind)
    x = rng.standard_normal((9, 40, F)).astype(np.float32)
    expected = model.predict(x)
    stream = model.stream(batch_size=9)
    got = np.concatenate([stream.process(x[:, :17]), stream.process(x[:, 17:17]),
                          stream.step(x[:, 17])[:, None], stream.process(x[:, 18:])], axis=1)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("kind", KINDS)
def test_return_sequences_false_answers_every_frame(kind, rng):
    model = model_of(rng, kind, last=False)
    x = rng.standard_normal((12, F)).astype(np.float32)
    stream = model.stream()
    for t in range(12):
        assert np.array_equal(stream.step(x[t]), model.predict(x[:t + 1]))


def test_reset_and_state_round_trip(rng):
    model = model_of(rng, "lstm")
    x = rng.standard_normal((4, 30, F)).astype(np.float32)
    stream = model.stream(batch_size=4)
    stream.process(x[:, :10])
    snapshot = stream.get_state()
    assert set(snapshot) == {"layer0.h", "layer0.c", "layer1.h", "layer1.c"}
    assert snapshot["layer0.h"].shape == (4, 24)
    after = stream.process(x[:, 10:])
    stream.set_state(snapshot)
    assert np.array_equal(stream.process(x[:, 10:]), after)
    buffer = io.BytesIO()
    np.savez(buffer, **snapshot)
    buffer.seek(0)
    moved = model.stream(batch_size=4)
    moved.set_state(dict(np.load(buffer)))
    assert np.array_equal(moved.process(x[:, 10:]), after)
    stream.reset()
    assert np.array_equal(stream.process(x), model.predict(x))


def test_reset_some_streams(rng):
    model = model_of(rng, "gru")
    x = rng.standard_normal((5, 20, F)).astype(np.float32)
    stream = model.stream(batch_size=5)
    stream.process(x[:, :8])
    stream.reset([1, 3])
    rest = stream.process(x[:, 8:])
    fresh = model.predict(x[:, 8:])
    continued = model.predict(x)[:, 8:]
    for row in range(5):
        assert np.array_equal(rest[row], fresh[row] if row in (1, 3) else continued[row])
    with pytest.raises(ValueError, match=r"indices: expected values in \[0, 5\), got \[5\]"):
        stream.reset([0, 5])
    with pytest.raises(TypeError, match="indices: expected integers"):
        stream.reset([0.5])


@pytest.mark.parametrize("kind", KINDS)
def test_active_mask(kind, rng):
    model = model_of(rng, kind)
    x = rng.standard_normal((6, 10, F)).astype(np.float32)
    masked, full = model.stream(batch_size=6), model.stream(batch_size=6)
    masked.process(x[:, :5]), full.process(x[:, :5])
    before = masked.get_state()
    active = np.array([True, False, True, True, False, False])
    out = masked.step(x[:, 5], active=active)
    expected = full.step(x[:, 5])
    assert np.array_equal(out[active], expected[active])
    assert np.all(out[~active] == 0)
    after = masked.get_state()
    for name in before:
        assert np.array_equal(after[name][~active], before[name][~active])
        assert np.array_equal(after[name][active], full.get_state()[name][active])
    assert np.all(masked.step(x[:, 6], active=np.zeros(6, bool)) == 0)
    assert np.array_equal(masked.get_state()["layer0.h"], after["layer0.h"])
    with pytest.raises(ValueError, match=r"active: expected shape \(6,\), got \(5,\)"):
        masked.step(x[:, 6], active=np.ones(5, bool))
    with pytest.raises(TypeError, match="active: expected a boolean array, got dtype int64"):
        masked.step(x[:, 6], active=np.ones(6, np.int64))


def states_equal(a, b):
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("call, error, message", [
    (lambda s: s.step(np.zeros(F + 1, np.float32)), ValueError, r"expected shape \(12,\).*got \(13,\)"),
    (lambda s: s.step(np.zeros((2, F), np.float32)), ValueError, r"got \(2, 12\)"),
    (lambda s: s.step(np.zeros(F, np.int32)), TypeError, "floating-point array, got dtype int32"),
    (lambda s: s.step(np.full(F, np.nan, np.float32)), ValueError, "NaN or infinity"),
    (lambda s: s.process(np.concatenate([np.zeros((3, F)), np.full((1, F), np.inf)])),
     ValueError, "NaN or infinity"),
    (lambda s: s.step(np.zeros(F, np.float32), out=np.empty(O, np.float64)), TypeError,
     "out: expected a writable C-contiguous float32"),
    (lambda s: s.step(np.zeros(F, np.float32), out=np.empty(O + 1, np.float32)), ValueError,
     r"out: expected shape \(5,\), got \(6,\)"),
    (lambda s: s.step(np.zeros(F, np.float32), out=np.empty((O, 2), np.float32)[:, 0]), TypeError,
     "C-contiguous"),
    (lambda s: s.step(np.zeros(F, np.float32), active=np.ones(1, bool)), ValueError,
     "only a batch of streams"),
])
def test_failed_calls_leave_state_untouched(call, error, message, rng):
    model = model_of(rng, "lstm")
    x = rng.standard_normal((6, F)).astype(np.float32)
    stream, twin = model.stream(), model.stream()
    stream.process(x[:5]), twin.process(x[:5])
    before = stream.get_state()
    with pytest.raises(error, match=message):
        call(stream)
    assert states_equal(stream.get_state(), before)
    assert np.array_equal(stream.step(x[5]), twin.step(x[5]))


def test_read_only_out_and_bad_state_are_refused(rng):
    model = model_of(rng, "gru")
    stream = model.stream()
    stream.step(np.ones(F, np.float32))
    before = stream.get_state()
    out = np.empty(O, np.float32)
    out.flags.writeable = False
    with pytest.raises(TypeError, match="writable"):
        stream.step(np.ones(F, np.float32), out=out)
    bad_states = [({"layer0.h": before["layer0.h"]}, ValueError, "missing \\['layer1.h'\\]"),
                  ({**before, "layer9.h": before["layer0.h"]}, ValueError, "unexpected"),
                  ({**before, "layer1.h": np.zeros(3)}, ValueError, r"expected shape \(24,\)"),
                  ({**before, "layer1.h": np.zeros(24, int)}, TypeError, "expected floats"),
                  ({**before, "layer1.h": np.full(24, np.nan)}, ValueError, "NaN")]
    for state, error, message in bad_states:
        with pytest.raises(error, match=message):
            stream.set_state(state)
        assert states_equal(stream.get_state(), before)


def test_nan_policy_propagate(rng):
    stream = model_of(rng, "lstm").stream(nan_policy="propagate")
    assert np.all(np.isnan(stream.step(np.full(F, np.nan, np.float32))))
    with pytest.raises(ValueError, match="nan_policy: expected one of"):
        model_of(rng, "lstm").stream(nan_policy="ignore")


def test_out_is_filled_and_returned(rng):
    model = model_of(rng, "gru_before")
    x = rng.standard_normal((20, F)).astype(np.float32)
    stream, out = model.stream(), np.empty(O, np.float32)
    results = []
    for frame in x:
        assert stream.step(frame, out=out) is out
        results.append(out.copy())
    assert np.array_equal(np.stack(results), model.predict(x))
    chunk_out = np.empty((20, O), np.float32)
    assert model.stream().process(x, out=chunk_out) is chunk_out
    assert np.array_equal(chunk_out, model.predict(x))


def test_other_dtypes_and_strides(rng):
    model = model_of(rng, "lstm")
    x = rng.standard_normal((10, 2 * F)).astype(np.float64)[:, ::2]
    expected = model.predict(x.astype(np.float32))
    assert np.array_equal(model.stream().process(x), expected)
    stream = model.stream()
    assert np.array_equal(np.stack([stream.step(frame) for frame in x]), expected)


def test_streams_in_threads_equal_serial(rng):
    model = model_of(rng, "lstm", hidden=64)
    signals = [rng.standard_normal((150, F)).astype(np.float32) for _ in range(8)]
    expected = [model.predict(signal) for signal in signals]

    def run(signal):
        stream = model.stream()
        return np.stack([stream.step(frame).copy() for frame in signal])

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, signals))
    assert all(np.array_equal(a, b) for a, b in zip(results, expected))


def test_one_stream_from_two_threads_never_corrupts(rng):
    """Concurrent use raises RuntimeError or succeeds; the state ends exactly
    as k serial steps of the same frame, k the number of successes."""
    model = model_of(rng, "lstm", hidden=256)
    frame = rng.standard_normal(F).astype(np.float32)
    stream, successes, lock = model.stream(), [0], threading.Lock()

    def hammer():
        for _ in range(300):
            try:
                stream.step(frame)
            except RuntimeError as error:
                assert "another thread" in str(error)
                continue
            with lock:
                successes[0] += 1

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    serial = model.stream()
    serial.process(np.tile(frame, (successes[0], 1)))
    assert states_equal(stream.get_state(), serial.get_state())


@pytest.mark.parametrize("batch, hidden", [(64, 64), (3, 512)])
def test_batch_stream_thread_invariance(batch, hidden, rng):
    model = model_of(rng, "gru", hidden=hidden)
    x = rng.standard_normal((batch, 6, F)).astype(np.float32)
    one, two = model.stream(batch, num_threads=1), model.stream(batch, num_threads=2)
    assert np.array_equal(one.process(x), two.process(x))
    assert np.array_equal(one.step(x[:, 0]), two.step(x[:, 0]))


def test_stream_argument_errors(rng):
    model = model_of(rng, "lstm")
    with pytest.raises(ValueError, match="batch_size: expected None or an integer >= 1, got 0"):
        model.stream(batch_size=0)
    with pytest.raises(ValueError, match="a single stream .* is reset as a whole"):
        model.stream().reset([0])
