"""The C front end (csrc/fft.c, frame.c, frontend.c through
fastrnn._engine.FrontEndStream) against its references: FrontEnd's NumPy
path (``features(y, reference=True)``, the issue's bar 1e-5), librosa
(1e-4, as test_audio_features), numpy.fft.rfft for the FFT; N streams
against one stream bit for bit, whatever the blocks; active masks, resets,
state, flushes; bad input, which raises before anything changes; threads.
Every instruction set built in and run by this CPU is checked."""

import pathlib
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import ISAS

import fastrnn
import fastrnn.audio as audio
from fastrnn import _engine

# Bounds, in one place:
TOLERANCE = {
    # C vs the NumPy path, both float64 inside and rounded to float32 once:
    # |c - ref| <= 1e-5 (|ref| + max |ref|) elementwise (the max term for
    # values near zero, e.g. MFCCs at a zero crossing, whose rounding error
    # is relative to the terms they were summed from). Measured: equal bits
    # for log_mel and mel_db, 8e-17 of the maximum for MFCCs.
    "numpy": 1e-5,
    # C vs librosa 0.11 (float32 STFT): test_audio_features' bar.
    "librosa": 1e-4,
    # rfft vs numpy.fft.rfft, both float64: max |difference| over max |X|.
    # Rounding grows like log2(n) ulps; measured <= 6e-16 for n <= 4096.
    "fft": 1e-14,
}

FRONT_ENDS = {
    "digits_log_mel": dict(sample_rate=8000, n_fft=256, hop_length=80, n_mels=40),
    "mel_db": dict(sample_rate=8000, n_fft=256, hop_length=80, feature="mel_db", n_mels=32),
    "mfcc": dict(sample_rate=8000, n_fft=256, hop_length=80, feature="mfcc", n_mfcc=13),
    "mfcc_deltas2_normalized": dict(sample_rate=8000, n_fft=256, hop_length=80,
                                    feature="mfcc", deltas=2, delta_width=5),
    "log_mel_deltas1_normalized": dict(sample_rate=8000, n_fft=512, hop_length=160,
                                       n_mels=64, deltas=1),
    "mel_db_htk_power1": dict(sample_rate=8000, n_fft=128, hop_length=64, feature="mel_db",
                              n_mels=24, htk=True, norm=None, fmin=100.0, fmax=3500.0,
                              power=1.0, window="hamming"),
    "power_1_5_short_window": dict(sample_rate=8000, n_fft=256, hop_length=100,
                                   win_length=200, power=1.5, n_mels=20),
    "n_fft_64": dict(sample_rate=8000, n_fft=64, hop_length=32, n_mels=12),
    "n_fft_4096": dict(sample_rate=16000, n_fft=4096, hop_length=1024, n_mels=128),
    "no_overlap": dict(sample_rate=8000, n_fft=128, hop_length=128, n_mels=20),
}
NORMALIZED = ("mfcc_deltas2_normalized", "log_mel_deltas1_normalized")


def recordings():
    return sorted((pathlib.Path(fastrnn.__file__).parent / "data").glob("*.wav"))


def low_passed(rng, size):
    """Noise with nothing above 1 kHz at 8 kHz (as resampled audio): the mel
    bands above lie 100 dB below the rest, where a float32 FFT is off by
    1e-5 of the maximum dB value and float64 is not."""
    spectrum = np.fft.rfft(rng.standard_normal(size))
    spectrum[size // 8:] = 0
    return (0.3 * np.fft.irfft(spectrum, size)).astype(np.float32)


def make_signals():
    rng = np.random.default_rng(16)
    signals = {"noise": (0.3 * rng.standard_normal(9001)).astype(np.float32),
               "low_passed": low_passed(rng, 9000),
               "silence": np.zeros(7000, np.float32),
               "loud_chirp": (300 * np.sin(2 * np.pi * (50 + 900 * np.arange(9000) / 8000)
                                           * np.arange(9000) / 8000)).astype(np.float32)}
    try:
        import soundfile  # noqa: F401
    except ImportError:
        return signals
    for path in recordings():
        signals[path.stem] = audio.load(path)[0]
    return signals


SIGNALS = make_signals()


def make_front_end(name):
    front_end = audio.FrontEnd(**FRONT_ENDS[name])
    if name in NORMALIZED:
        front_end.fit_normalization([SIGNALS["noise"], SIGNALS["low_passed"]])
    return front_end


def c_features(front_end, y, isa, normalize=True):
    stream = front_end.stream(normalize=normalize, isa=isa)
    assert isinstance(stream, _engine.FrontEndStream)
    return np.concatenate([stream.push(y), stream.flush()])


def assert_within(got, expected, key):
    expected = np.asarray(expected, np.float64)
    assert np.shape(got) == expected.shape
    bound = TOLERANCE[key] * (np.abs(expected) + np.abs(expected).max())
    error = np.abs(np.asarray(got, np.float64) - expected)
    assert (error <= bound).all(), f"max error {error.max():.3g}, max |expected| " \
                                   f"{np.abs(expected).max():.3g} ({key})"


# --- the reference paths -----------------------------------------------------

@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("signal_name", SIGNALS)
@pytest.mark.parametrize("name", FRONT_ENDS)
def test_c_features_are_the_numpy_paths(name, signal_name, isa):
    front_end = make_front_end(name)
    y = SIGNALS[signal_name]
    y = np.tile(y, -(-3 * front_end.n_fft // len(y)))           # a few frames at least
    reference = front_end.features(y, reference=True)
    got = c_features(front_end, y, isa)
    assert got.dtype == np.float32 and len(got) == front_end.num_frames(len(y)) > 0
    assert_within(got, reference, "numpy")
    if name in NORMALIZED:
        assert_within(c_features(front_end, y, isa, normalize=False),
                      front_end.features(y, normalize=False, reference=True), "numpy")


def test_the_reference_is_another_path(monkeypatch):
    """features() runs in C; reference=True runs NumPy's FFT once per frame
    (so the comparisons above compare two computations)."""
    front_end = make_front_end("mfcc")
    y = SIGNALS["noise"]
    calls = Counter()
    rfft = np.fft.rfft

    def counted(*args, **kwargs):
        calls["rfft"] += 1
        return rfft(*args, **kwargs)

    monkeypatch.setattr(np.fft, "rfft", counted)
    assert front_end.runs_in_c
    front_end.features(y)
    assert calls["rfft"] == 0
    front_end.features(y, reference=True)
    assert calls["rfft"] == front_end.num_frames(len(y))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("feature, deltas", [("log_mel", 0), ("mel_db", 0), ("mfcc", 0),
                                             ("mfcc", 2)])
def test_c_features_are_librosas(feature, deltas, isa):
    librosa = pytest.importorskip("librosa", reason="librosa is the reference")
    front_end = audio.FrontEnd(sample_rate=8000, n_fft=256, hop_length=80, n_mels=40,
                               feature=feature, deltas=deltas, delta_width=7)
    for name, y in SIGNALS.items():
        if name == "silence":
            continue
        mel = librosa.feature.melspectrogram(y=y, sr=8000, n_fft=256, hop_length=80,
                                             n_mels=40, center=False)
        mel_db = librosa.power_to_db(mel, top_db=None)
        base = {"log_mel": np.log(mel + 1e-6), "mel_db": mel_db,
                "mfcc": librosa.feature.mfcc(S=mel_db, n_mfcc=13)}[feature]
        expected = np.concatenate([base] + [librosa.feature.delta(base, width=7, order=order)
                                            for order in range(1, deltas + 1)]).T
        got = c_features(front_end, y, isa)
        np.testing.assert_allclose(got, expected, rtol=TOLERANCE["librosa"],
                                   atol=1e-5 * np.abs(expected).max(), err_msg=name)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("n", [64, 128, 256, 512, 1024, 2048, 4096])
def test_rfft_is_numpys(n, isa):
    rng = np.random.default_rng(n)
    rows = np.concatenate([rng.standard_normal((3, n)),
                           np.sin(np.arange(n) * 2 * np.pi * 5 / n)[np.newaxis],     # one bin
                           np.zeros((1, n)), np.eye(1, n, n // 3)], axis=0)
    got = _engine.rfft(isa, rows)
    expected = np.fft.rfft(rows, axis=1)
    assert got.shape == (6, n // 2 + 1) and got.dtype == np.complex128
    scale = np.abs(expected).max(axis=1, keepdims=True) + (expected == 0).all(1, keepdims=True)
    assert (np.abs(got - expected) / scale).max() <= TOLERANCE["fft"]
    np.testing.assert_array_equal(_engine.rfft(isa, rows[0]), got[0])     # one row or many


@pytest.mark.parametrize("n", [0, 32, 100, 400, 8192])
def test_rfft_refuses_other_sizes(n):
    with pytest.raises(ValueError, match=f"expected a power of two from 64 to 4096 points, "
                                         f"got {n}"):
        _engine.rfft(ISAS[0], np.zeros(n))


# --- N streams -----------------------------------------------------------------

def batch_signals(count, length, seed):
    rng = np.random.default_rng(seed)
    return np.stack([(0.3 * rng.standard_normal(length)).astype(np.float32)
                     for _ in range(count)])


def push_all(stream, signals, sizes):
    """Push (N, n) signals in blocks of the given sizes, then flush: each
    stream's frames, concatenated."""
    frames = [[] for _ in signals]
    start = 0
    for size in list(sizes) + [None]:
        if size is None:
            block, counts = stream.flush()
        else:
            block, counts = stream.push(signals[:, start:start + size])
            start += size
        assert block.shape == (len(signals), counts.max(initial=0), stream.num_features)
        for row, count in enumerate(counts):
            frames[row].append(block[row, :count])
            assert not block[row, count:].any()              # zeros past a stream's frames
    assert start >= signals.shape[1]
    return [np.concatenate(parts) for parts in frames]


def random_sizes(rng, total):
    sizes = list(rng.integers(0, 400, size=60)) + [1, 1, 1, 0, 0, 257, 3001]
    rng.shuffle(sizes)
    return [int(size) for size in sizes] + [total]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", FRONT_ENDS)
def test_n_streams_give_one_streams_frames_bit_for_bit(name, seed):
    front_end = make_front_end(name)
    signals = batch_signals(5, 12000, seed)
    got = push_all(front_end.stream(batch_size=5), signals,
                   random_sizes(np.random.default_rng(seed), signals.shape[1]))
    for row, frames in enumerate(got):
        np.testing.assert_array_equal(frames, front_end.features(signals[row]))


def test_one_sample_blocks():
    front_end = make_front_end("mfcc_deltas2_normalized")
    signals = batch_signals(3, 1500, 4)
    got = push_all(front_end.stream(batch_size=3), signals, [1] * 1500)
    for row, frames in enumerate(got):
        np.testing.assert_array_equal(frames, front_end.features(signals[row]))


def test_one_stream_of_a_batch_equals_the_single_stream_on_the_same_blocks():
    front_end = make_front_end("digits_log_mel")
    signals = batch_signals(4, 5000, 5)
    single, batch = front_end.stream(), front_end.stream(batch_size=4)
    for start in range(0, 5000, 37):
        frames, counts = batch.push(signals[:, start:start + 37])
        np.testing.assert_array_equal(single.push(signals[2, start:start + 37]),
                                      frames[2, :counts[2]])


def test_active_streams_advance_and_the_others_keep_their_state():
    front_end = make_front_end("log_mel_deltas1_normalized")
    signals = batch_signals(4, 8000, 6)
    rng = np.random.default_rng(6)
    stream = front_end.stream(batch_size=4)
    fed = [[] for _ in range(4)]                     # what each stream was given
    frames = [[] for _ in range(4)]
    for start in range(0, 8000, 160):
        active = rng.random(4) < 0.6
        block = signals[:, start:start + 160]
        out, counts = stream.push(block, active=active)
        for row in range(4):
            if active[row]:
                fed[row].append(block[row])
            else:
                assert counts[row] == 0 and not out[row].any()
            frames[row].append(out[row, :counts[row]])
    out, counts = stream.flush()
    for row in range(4):
        frames[row].append(out[row, :counts[row]])
        np.testing.assert_array_equal(np.concatenate(frames[row]),
                                      front_end.features(np.concatenate(fed[row])))


def test_reset_slots_start_over_and_the_others_go_on():
    front_end = make_front_end("mfcc_deltas2_normalized")
    signals = batch_signals(3, 6000, 7)
    stream = front_end.stream(batch_size=3)
    before, _ = stream.push(signals[:, :2501])
    stream.reset([1])
    stream.reset(np.array([], dtype=int))            # nothing
    after = push_all(stream, signals[:, 2501:], [700] * 5)
    for row in (0, 2):
        first = before[row, :front_end.num_frames(2501) - front_end.delay_frames]
        np.testing.assert_array_equal(np.concatenate([first, after[row]]),
                                      front_end.features(signals[row]))
    np.testing.assert_array_equal(after[1], front_end.features(signals[1, 2501:]))


@pytest.mark.parametrize("name", ["digits_log_mel", "mfcc_deltas2_normalized"])
@pytest.mark.parametrize("split", [100, 255, 256, 2111])
def test_state_round_trips_mid_stream(name, split):
    front_end = make_front_end(name)
    signals = batch_signals(3, 6000, split)
    stream = front_end.stream(batch_size=3)
    head, head_counts = stream.push(signals[:, :split])
    state = stream.get_state()
    assert state["samples"].shape == (3, front_end.n_fft - 1)
    moved = front_end.stream(batch_size=3)
    order = [2, 0, 1]                                # slots may move between streams
    moved.set_state({key: value[order] for key, value in state.items()})
    rest = push_all(moved, signals[order, split:], [333] * 18)
    for slot, row in enumerate(order):
        whole = np.concatenate([head[row, :head_counts[row]], rest[slot]])
        np.testing.assert_array_equal(whole, front_end.features(signals[row]))
    assert all(np.array_equal(a, b) for a, b in zip(stream.get_state().values(),
                                                    state.values()))   # get_state copies


def test_single_stream_state_and_flush():
    front_end = make_front_end("mfcc_deltas2_normalized")
    y = SIGNALS["noise"]
    stream = front_end.stream()
    head = stream.push(y[:3000])
    state = stream.get_state()
    assert state["samples"].shape == (front_end.n_fft - 1,)
    assert state["history"].shape == (front_end.delta_width, front_end.num_base_features)
    assert state["num_frames"].shape == state["num_samples"].shape == ()
    other = front_end.stream()
    other.set_state(state)
    np.testing.assert_array_equal(np.concatenate([head, other.push(y[3000:]), other.flush()]),
                                  front_end.features(y))
    assert other.get_state()["num_frames"] == 0                     # a flush starts over


def test_flush_some_streams():
    front_end = make_front_end("mfcc_deltas2_normalized")
    signals = batch_signals(3, 4000, 8)
    stream = front_end.stream(batch_size=3)
    first, first_counts = stream.push(signals)
    held, counts = stream.flush([0, 2])
    assert counts.tolist() == [2, 0, 2] and held.shape == (3, 2, front_end.num_features)
    for row in (0, 2):
        np.testing.assert_array_equal(
            np.concatenate([first[row, :first_counts[row]], held[row, :counts[row]]]),
            front_end.features(signals[row]))
    assert stream.get_state()["num_frames"].tolist() == [0, front_end.num_frames(4000), 0]


def test_num_new_frames_and_out():
    front_end = make_front_end("digits_log_mel")
    stream = front_end.stream(batch_size=2)
    assert stream.num_new_frames(255).tolist() == [0, 0]
    assert stream.num_new_frames(256 + 80 * 3).tolist() == [4, 4]
    out = np.full((2, 6, 40), np.nan, np.float32)
    blocks = batch_signals(2, 256 + 80 * 3, 9)
    frames, counts = stream.push(blocks, out=out)
    assert counts.tolist() == [4, 4] and np.shares_memory(frames, out)
    assert frames.shape == (2, 4, 40) and np.isnan(out[:, 4:]).all()  # rows past T untouched
    np.testing.assert_array_equal(frames[1], front_end.features(blocks[1]))
    single = front_end.stream()
    assert single.num_new_frames(256) == 1
    out = np.empty((3, 40), np.float32)
    got = single.push(blocks[0, :256 + 80], out=out)
    assert got.shape == (2, 40) and np.shares_memory(got, out)


def test_the_demo_block_stream():
    """The bundled model's front end in 10 ms blocks: 1 frame per block."""
    model = fastrnn.load(pathlib.Path(fastrnn.__file__).parent / "data" / "digits.fastrnn")
    front_end = audio.FrontEnd.from_dict(model.metadata["front_end"])
    stream = front_end.stream(batch_size=8)
    signals = batch_signals(8, 80 * 20, 10)
    counts = [stream.push(signals[:, start:start + 80])[1].tolist()
              for start in range(0, 80 * 20, 80)]
    assert counts[:4] == [[0] * 8] * 3 + [[1] * 8] and counts[-1] == [1] * 8


# --- sizes the C FFT does not have -------------------------------------------

def test_other_n_fft_stay_on_the_numpy_path():
    front_end = audio.FrontEnd(sample_rate=16000, n_fft=400, hop_length=160)
    y = SIGNALS["noise"]
    assert not front_end.runs_in_c
    assert isinstance(front_end.stream(), audio.StreamingFeatures)
    np.testing.assert_array_equal(front_end.features(y), front_end.features(y, reference=True))
    with pytest.raises(ValueError, match="the C front end needs a power of two from 64 to 4096, "
                                         "got 400"):
        front_end.stream(batch_size=2)


# --- bad input -------------------------------------------------------------------

def state_bytes(stream):
    return {name: value.tobytes() for name, value in stream.get_state().items()}


BAD_BATCH_CALLS = [
    (lambda s: s.push(np.zeros((3, 80), np.float32)), ValueError,
     r"expected samples of shape \(4, n\), got \(3, 80\)"),
    (lambda s: s.push(np.zeros(80, np.float32)), ValueError,
     r"expected samples of shape \(4, n\), got \(80,\)"),
    (lambda s: s.push(np.zeros((4, 80), np.int16)), TypeError,
     "expected floating-point samples, got dtype int16"),
    (lambda s: s.push(np.zeros((4, 80), np.float32), active=np.ones(4, np.uint8)), TypeError,
     "active: expected a boolean array, got dtype uint8"),
    (lambda s: s.push(np.zeros((4, 80), np.float32), active=np.ones(5, bool)), ValueError,
     r"active: expected shape \(4,\), got \(5,\)"),
    (lambda s: s.push(np.zeros((4, 400), np.float32), out=np.empty((4, 1, 40), np.float32)),
     ValueError, (r"out: expected shape \(4, T, 40\) with T >= \d+ \(the most frames this "
                  r"call gives a stream\), got \(4, 1, 40\)")),
    (lambda s: s.push(np.zeros((4, 80), np.float32), out=np.empty((4, 2, 40))), TypeError,
     "out: expected a writable C-contiguous float32 ndarray, got an array of dtype float64"),
    (lambda s: s.push(np.zeros((4, 80), np.float32),
                      out=np.empty((4, 4, 40), np.float32)[:, ::2]), TypeError,
     "got a non-contiguous array"),
    (lambda s: s.reset([4]), ValueError, r"indices: expected values in \[0, 4\), got \[4\]"),
    (lambda s: s.reset([0.5]), TypeError, "indices: expected integers, got float64"),
    (lambda s: s.flush([-1]), ValueError, r"indices: expected values in \[0, 4\), got \[-1\]"),
    (lambda s: s.set_state({}), ValueError, (r"state: expected keys \['num_samples', "
                                             r"'samples'\]; missing")),
    (lambda s: s.set_state({"samples": np.zeros((4, 255), np.float32),
                            "num_samples": np.full(4, 256)}), ValueError,
     r"state\['num_samples'\]: expected values in \[0, 255\], got \[256, 256, 256, 256\]"),
    (lambda s: s.set_state({"samples": np.zeros((4, 200), np.float32),
                            "num_samples": np.zeros(4, int)}), ValueError,
     r"state\['samples'\]: expected shape \(4, 255\), got \(4, 200\)"),
    (lambda s: s.set_state({"samples": np.zeros((4, 255), np.float32),
                            "num_samples": np.zeros(4)}), TypeError,
     r"state\['num_samples'\]: expected integers, got dtype float64"),
]


@pytest.mark.parametrize("call, error, message", BAD_BATCH_CALLS)
def test_bad_input_raises_and_changes_nothing(call, error, message):
    front_end = make_front_end("digits_log_mel")
    signals = batch_signals(4, 4000, 11)
    stream, reference = front_end.stream(batch_size=4), front_end.stream(batch_size=4)
    for s in (stream, reference):
        s.push(signals[:, :1234])
    before = state_bytes(stream)
    with pytest.raises(error, match=message):
        call(stream)
    assert state_bytes(stream) == before
    np.testing.assert_array_equal(stream.push(signals[:, 1234:])[0],
                                  reference.push(signals[:, 1234:])[0])


def test_single_stream_bad_input():
    front_end = make_front_end("mfcc_deltas2_normalized")
    stream = front_end.stream()
    stream.push(SIGNALS["noise"][:300])
    before = state_bytes(stream)
    with pytest.raises(ValueError, match=r"expected mono samples \(n,\), got shape \(2, 5\)"):
        stream.push(np.zeros((2, 5), np.float32))
    with pytest.raises(TypeError, match="expected floating-point samples, got dtype int32"):
        stream.push(np.zeros(5, np.int32))
    with pytest.raises(ValueError, match="only a batch of streams"):
        stream.push(np.zeros(5, np.float32), active=np.ones(1, bool))
    with pytest.raises(ValueError, match="a single stream .* is reset as a whole"):
        stream.reset([0])
    with pytest.raises(ValueError, match="the signal gives 1 frames, fewer than delta_width=5"):
        stream.flush()
    assert state_bytes(stream) == before


def test_a_flush_with_too_few_frames_for_deltas_names_the_stream():
    front_end = make_front_end("mfcc_deltas2_normalized")
    stream = front_end.stream(batch_size=3)
    stream.push(np.zeros((3, 500), np.float32), active=np.array([True, False, True]))
    before = state_bytes(stream)
    with pytest.raises(ValueError, match=r"the signal \(stream 0\) gives 4 frames, fewer than "
                                         r"delta_width=5"):
        stream.flush()
    assert state_bytes(stream) == before
    held, counts = stream.flush([1])                 # no frames: nothing to refuse
    assert counts.tolist() == [0, 0, 0] and held.shape == (3, 0, front_end.num_features)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "4"])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError,
                       match="batch_size: expected None or an integer from 1 to 2147483647"):
        make_front_end("digits_log_mel").stream(batch_size=batch_size)


# --- threads -----------------------------------------------------------------------

def test_threads_give_the_same_bits():
    front_end = make_front_end("mfcc_deltas2_normalized")
    signals = batch_signals(37, 6000, 12)
    one = push_all(front_end.stream(batch_size=37, num_threads=1), signals, [480] * 13)
    two = push_all(front_end.stream(batch_size=37, num_threads=2), signals, [480] * 13)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_streams_in_python_threads_equal_serial():
    front_end = make_front_end("digits_log_mel")
    signals = [batch_signals(16, 8000, 20 + i) for i in range(4)]
    serial = [push_all(front_end.stream(batch_size=16, num_threads=1), s, [800] * 10)
              for s in signals]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda s: push_all(front_end.stream(batch_size=16,
                                                                     num_threads=1),
                                                    s, [800] * 10), signals))
    for got, expected in zip(threaded, serial):
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)


def test_one_stream_from_two_threads_never_gives_wrong_frames():
    """Every push either succeeds or raises RuntimeError; k successful pushes
    of the same block leave the frames and state of k serial pushes."""
    front_end = make_front_end("digits_log_mel")
    block = batch_signals(256, 800, 13)
    stream = front_end.stream(batch_size=256, num_threads=1)
    start, lock, outputs, refused = threading.Barrier(2), threading.Lock(), [], Counter()

    def hammer(name):
        start.wait()
        successes = 0
        while successes < 20:
            try:
                frames, counts = stream.push(block)
            except RuntimeError as error:
                assert "another thread" in str(error)
                refused[name] += 1
                continue
            successes += 1
            with lock:
                outputs.append((frames.tobytes(), counts.tobytes()))

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    serial = front_end.stream(batch_size=256, num_threads=1)
    expected = [tuple(part.tobytes() for part in serial.push(block)) for _ in range(40)]
    assert Counter(outputs) == Counter(expected)
    assert state_bytes(stream) == state_bytes(serial)
