"""StreamingFeatures: blocks of any size give exactly (bit for bit) the
offline features of the same signal."""

import json

import numpy as np
import pytest

import fastrnn.audio as audio

FRONT_ENDS = {
    "log_mel_8k": dict(sample_rate=8000, n_fft=256, hop_length=80, n_mels=40),
    "mfcc_16k": dict(sample_rate=16000, n_fft=400, hop_length=160, win_length=320,
                     feature="mfcc", n_mels=40, n_mfcc=13),
    "db_mel_htk": dict(sample_rate=8000, n_fft=200, hop_length=64, feature="db_mel",
                       n_mels=24, htk=True, norm=None, fmin=100.0, fmax=3500.0),
}


@pytest.fixture(params=FRONT_ENDS, ids=FRONT_ENDS.keys())
def front_end(request, rng):
    front_end = audio.FrontEnd(**FRONT_ENDS[request.param])
    if request.param == "mfcc_16k":          # normalisation on
        front_end.fit_normalization([rng.standard_normal(4000).astype(np.float32)])
    return front_end


@pytest.fixture
def signal(rng):
    return (rng.standard_normal(5003) * 0.3).astype(np.float32)


def stream_in_blocks(front_end, signal, sizes):
    stream, parts, start = front_end.stream(), [], 0
    for size in sizes:
        parts.append(stream.push(signal[start:start + size]))
        start += size
    assert start >= len(signal)
    return np.concatenate(parts)


@pytest.mark.parametrize("block", [1, 2, 37, 80, 256, 512, 1000, 5003])
def test_fixed_block_sizes_equal_offline(front_end, signal, block):
    offline = front_end.features(signal)
    streamed = stream_in_blocks(front_end, signal, [block] * -(-len(signal) // block))
    assert streamed.shape == offline.shape == (front_end.num_frames(len(signal)),
                                               front_end.num_features)
    np.testing.assert_array_equal(streamed, offline)


@pytest.mark.parametrize("seed", range(5))
def test_random_chunkings_equal_offline(front_end, signal, seed):
    sizes = np.random.default_rng(seed).integers(0, 700, size=400)
    sizes = sizes[np.cumsum(sizes) < len(signal) + 700]
    sizes = list(sizes) + [len(signal)]            # the rest (and an empty push on the way)
    np.testing.assert_array_equal(stream_in_blocks(front_end, signal, sizes),
                                  front_end.features(signal))


def test_frames_arrive_when_complete_and_reset(front_end, signal):
    stream = front_end.stream()
    assert stream.push(signal[:front_end.n_fft - 1]).shape == (0, front_end.num_features)
    assert len(stream.push(signal[front_end.n_fft - 1:front_end.n_fft])) == 1
    assert len(stream.push(signal[front_end.n_fft:front_end.n_fft + front_end.hop_length])) == 1
    stream.reset()
    np.testing.assert_array_equal(stream.push(signal), front_end.features(signal))


def test_front_end_round_trips_through_json(front_end, signal):
    copy = audio.FrontEnd.from_dict(json.loads(json.dumps(front_end.to_dict())))
    assert copy == front_end
    np.testing.assert_array_equal(copy.features(signal), front_end.features(signal))


def test_normalization_statistics(signal):
    front_end = audio.FrontEnd(sample_rate=8000, n_fft=256, hop_length=80)
    raw = front_end.features(signal)
    front_end.fit_normalization([signal])
    normalized = front_end.features(signal)
    np.testing.assert_allclose(normalized.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(normalized.std(axis=0), 1, atol=1e-3)
    np.testing.assert_allclose(normalized * np.array(front_end.std) + np.array(front_end.mean),
                               raw, atol=1e-4)
