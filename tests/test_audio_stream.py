"""StreamingFeatures: blocks of any size give exactly (np.array_equal) the
offline features of the same signal, FrontEnd.features(y); frames arrive as
soon as they are complete; a push allocates nothing but its result."""

import json
import pathlib
import tracemalloc

import numpy as np
import pytest

import fastrnn
import fastrnn.audio as audio

FRONT_ENDS = {
    "log_mel_8k": dict(sample_rate=8000, n_fft=256, hop_length=80, n_mels=40),
    "log_mel_8k_200": dict(sample_rate=8000, n_fft=200, hop_length=80, n_mels=40),
    "mfcc_16k": dict(sample_rate=16000, n_fft=400, hop_length=160, win_length=320,
                     feature="mfcc", n_mels=40, n_mfcc=13),
    "mel_db_htk_power1": dict(sample_rate=8000, n_fft=200, hop_length=64, feature="mel_db",
                              n_mels=24, htk=True, norm=None, fmin=100.0, fmax=3500.0,
                              power=1.0, window="hamming"),
    "no_overlap": dict(sample_rate=8000, n_fft=128, hop_length=128, n_mels=20),
    "log_mel_deltas2": dict(sample_rate=8000, n_fft=256, hop_length=80, n_mels=40, deltas=2,
                            delta_width=5),
    "mfcc_deltas1": dict(sample_rate=8000, n_fft=256, hop_length=80, feature="mfcc",
                         deltas=1),
}
NORMALIZED = ("log_mel_8k_200", "mfcc_16k", "log_mel_deltas2")
# 1.5 s at 8 kHz: longer than twice a stream's sample buffer (n_fft + 64 hops),
# so that the large blocks also exercise the buffer's wrap-around.
NUM_SAMPLES = 12007


@pytest.fixture(scope="module")
def signal():
    t = np.arange(NUM_SAMPLES) / 8000
    chirp = 0.5 * np.sin(2 * np.pi * (100 + 1200 * t) * t)
    noise = 0.1 * np.random.default_rng(0).standard_normal(NUM_SAMPLES)
    return (chirp + noise).astype(np.float32)


def make_front_end(name, signal):
    front_end = audio.FrontEnd(**FRONT_ENDS[name])
    if name in NORMALIZED:
        front_end.fit_normalization([signal[:6000], signal[6000:]])
    return front_end


@pytest.fixture(params=FRONT_ENDS, ids=FRONT_ENDS.keys())
def front_end(request, signal):
    return make_front_end(request.param, signal)


def stream_in_blocks(stream, signal, sizes):
    """Push signal in blocks of the given sizes (to its end), then flush."""
    parts, start = [], 0
    for size in sizes:
        parts.append(stream.push(signal[start:start + size]))
        start += size
    assert start >= len(signal)
    parts.append(stream.flush())
    return np.concatenate(parts)


@pytest.mark.parametrize("block", [1, 2, 37, 80, 256, 512, 1000, 6000, NUM_SAMPLES])
def test_fixed_block_sizes_equal_offline(front_end, signal, block):
    offline = front_end.features(signal)
    streamed = stream_in_blocks(front_end.stream(), signal, [block] * -(-len(signal) // block))
    assert offline.dtype == streamed.dtype == np.float32
    assert streamed.shape == offline.shape == (front_end.num_frames(len(signal)),
                                               front_end.num_features)
    np.testing.assert_array_equal(streamed, offline)


@pytest.mark.parametrize("seed", range(4))
def test_random_chunkings_equal_offline(front_end, signal, seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 300, size=200)                # empty pushes on the way
    sizes[rng.integers(0, 200, size=3)] = rng.integers(3000, 7000, size=3)   # and big ones
    sizes = list(sizes[np.cumsum(sizes) < len(signal)]) + [len(signal)]
    np.testing.assert_array_equal(stream_in_blocks(front_end.stream(), signal, sizes),
                                  front_end.features(signal))


def test_unnormalized_stream_equals_unnormalized_features(signal):
    front_end = make_front_end("mfcc_16k", signal)
    streamed = stream_in_blocks(front_end.stream(normalize=False), signal, [37] * 325)
    np.testing.assert_array_equal(streamed, front_end.features(signal, normalize=False))
    assert not np.array_equal(streamed, front_end.features(signal))


def test_frames_arrive_when_complete(signal):
    front_end = make_front_end("log_mel_8k", signal)
    n_fft, hop = front_end.n_fft, front_end.hop_length
    stream = front_end.stream()
    assert stream.push(signal[:n_fft - 1]).shape == (0, 40)
    assert stream.push(signal[n_fft - 1:n_fft]).shape == (1, 40)    # completes frame 0
    assert stream.push(signal[n_fft:n_fft + hop - 1]).shape == (0, 40)
    assert stream.push(signal[n_fft + hop - 1:n_fft + hop]).shape == (1, 40)
    assert stream.push(signal[n_fft + hop:n_fft + 4 * hop]).shape == (3, 40)
    assert stream.flush().shape == (0, 40)


def test_deltas_arrive_delay_frames_later(signal):
    front_end = make_front_end("log_mel_deltas2", signal)        # delta_width 5: delay 2
    n_fft, hop, delay = front_end.n_fft, front_end.hop_length, front_end.delay_frames
    assert delay == 2
    stream = front_end.stream()
    first_ready = n_fft + (front_end.delta_width - 1) * hop      # base frame 4 complete
    assert stream.push(signal[:first_ready - 1]).shape == (0, 120)
    assert stream.push(signal[first_ready - 1:first_ready]).shape == (delay + 1, 120)
    assert stream.push(signal[first_ready:first_ready + hop]).shape == (1, 120)
    assert stream.flush().shape == (delay, 120)                 # the held-back frames


def test_flush_and_reset_start_a_new_signal(front_end, signal):
    offline = front_end.features(signal)
    stream = front_end.stream()
    stream.push(signal[:3001])
    stream.reset()
    np.testing.assert_array_equal(stream_in_blocks(stream, signal, [500] * 25), offline)
    np.testing.assert_array_equal(stream_in_blocks(stream, signal, [80] * 151), offline)


def test_deltas_need_delta_width_frames(signal):
    front_end = make_front_end("mfcc_deltas1", signal)           # delta_width 9
    too_short = signal[:front_end.n_fft + 7 * front_end.hop_length]  # 8 frames
    with pytest.raises(ValueError, match="deltas: the signal gives 8 frames, fewer than "
                                         "delta_width=9"):
        front_end.features(too_short)
    stream = front_end.stream()
    assert stream.push(too_short).shape == (0, 26)
    with pytest.raises(ValueError, match="8 frames, fewer than delta_width=9"):
        stream.flush()
    stream.push(signal[len(too_short):])                        # the stream is unchanged
    np.testing.assert_array_equal(np.concatenate([stream.push(signal[:0]), stream.flush()]),
                                  front_end.features(signal)[-front_end.delay_frames:])
    assert front_end.features(signal[:100]).shape == (0, 26)   # no frame: no deltas either


def test_failed_push_leaves_the_stream_unchanged(front_end, signal):
    stream = front_end.stream()
    first = stream.push(signal[:1001])
    with pytest.raises(TypeError, match="expected floating-point samples, got dtype int16"):
        stream.push(np.ones(500, np.int16))
    with pytest.raises(ValueError, match=r"expected mono samples \(n,\), got shape \(2, 500\)"):
        stream.push(np.ones((2, 500), np.float32))
    rest = stream_in_blocks(stream, signal[1001:], [333] * 40)
    np.testing.assert_array_equal(np.concatenate([first, rest]), front_end.features(signal))


def test_any_float_dtype_and_layout(signal):
    front_end = make_front_end("log_mel_8k", signal)
    as_float64 = signal.astype(np.float64)
    strided = np.repeat(signal, 2)[::2]                          # not contiguous
    for y in (as_float64, strided, list(signal[:1000])):
        expected = front_end.features(signal[:len(y)])
        np.testing.assert_array_equal(front_end.features(y), expected)
        np.testing.assert_array_equal(stream_in_blocks(front_end.stream(), np.asarray(y),
                                                       [80] * 151)[:len(expected)], expected)


@pytest.mark.parametrize("name", ["log_mel_8k", "log_mel_deltas2"])
@pytest.mark.parametrize("engine", ["c", "numpy"])
def test_a_push_allocates_only_its_result(signal, name, engine):
    front_end = make_front_end(name, signal)
    stream = front_end.stream() if engine == "c" else audio.StreamingFeatures(front_end)
    stream.push(signal[:3000])                                   # past the first frames
    buffers = (stream._samples, stream._history) if engine == "numpy" else ()
    tracemalloc.start()
    try:
        for start in range(3000, len(signal), 80):
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            frames = stream.push(signal[start:start + 80])
            growth = tracemalloc.get_traced_memory()[1] - before
            # The result, plus short-lived Python objects (array views, the
            # arguments NumPy's FFT wrapper builds): ~2 KB measured, where one
            # work array of the frame (the float64 spectrum alone is 2 KB) or
            # a copy of the block would add more.
            assert growth <= frames.nbytes + 3072, (start, growth, frames.nbytes)
        long_block = np.tile(signal, 3)                          # > the buffer: taken in pieces
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        frames = stream.push(long_block)
        assert tracemalloc.get_traced_memory()[1] - before <= frames.nbytes + 3072
    finally:
        tracemalloc.stop()
    if engine == "numpy":
        assert (stream._samples, stream._history) == buffers      # never reallocated


def test_front_end_from_json_gives_identical_frames(front_end, signal):
    copy = audio.FrontEnd.from_dict(json.loads(json.dumps(front_end.to_dict())))
    assert copy == front_end
    offline = front_end.features(signal)
    np.testing.assert_array_equal(copy.features(signal), offline)
    np.testing.assert_array_equal(stream_in_blocks(copy.stream(), signal, [80] * 151), offline)


def recordings():
    """The bundled spoken digits (8 kHz, 16-bit), what `fastrnn demo` streams."""
    return sorted((pathlib.Path(fastrnn.__file__).parent / "data").glob("*.wav"))


@pytest.mark.parametrize("path", recordings(), ids=lambda path: path.name)
def test_demo_path_on_real_recordings(path):
    """The bundled model's own front end, 10 ms blocks, as `fastrnn demo`."""
    pytest.importorskip("soundfile", reason="reading audio needs soundfile")
    front_end = audio.FrontEnd.from_dict(
        fastrnn.load(path.parent / "digits.fastrnn").metadata["front_end"])
    y, _ = audio.load(path, sr=front_end.sample_rate)
    offline = front_end.features(y)
    assert offline.shape == (front_end.num_frames(len(y)), 40)
    np.testing.assert_array_equal(stream_in_blocks(front_end.stream(), y,
                                                   [80] * -(-len(y) // 80)), offline)
