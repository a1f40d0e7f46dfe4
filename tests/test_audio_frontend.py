"""FrontEnd (parameters, validation, JSON round trip, normalisation) and
Normalizer; the front end of the bundled model; real recordings."""

import json
import os
import pathlib

import numpy as np
import pytest

import fastrnn
import fastrnn.audio as audio


@pytest.fixture(scope="module")
def signal():
    return (0.3 * np.random.default_rng(0).standard_normal(6000)).astype(np.float32)


@pytest.mark.parametrize("parameters, message", [
    (dict(sample_rate=0), "FrontEnd sample_rate: expected an integer >= 1, got 0"),
    (dict(sample_rate=8000.5), "FrontEnd sample_rate: expected an integer >= 1, got 8000.5"),
    (dict(hop_length=0), "FrontEnd hop_length: expected an integer >= 1, got 0"),
    (dict(hop_length=-80), "FrontEnd hop_length: expected an integer >= 1, got -80"),
    (dict(n_fft=256, hop_length=300), r"FrontEnd hop_length: expected at most n_fft \(256\)"),
    (dict(n_fft=0), "FrontEnd n_fft: expected an integer from 1 to 65536, got 0"),
    (dict(n_fft=256, win_length=400), r"FrontEnd win_length: expected at most n_fft \(256\)"),
    (dict(win_length=0), "FrontEnd win_length: expected an integer >= 1, got 0"),
    (dict(window="no-such-window"), "FrontEnd window: .*no-such-window"),
    (dict(window=("kaiser", 8.0)), "FrontEnd window: expected a window name"),
    (dict(feature="spectrogram"),
     "FrontEnd feature: expected one of .*'log_mel', 'mel_db', 'mfcc'.*, got 'spectrogram'"),
    (dict(n_mels=0), "FrontEnd n_mels: expected an integer >= 1, got 0"),
    (dict(feature="mfcc", n_mels=20, n_mfcc=30), r"FrontEnd n_mfcc: expected at most n_mels"),
    (dict(fmin=-1.0), "FrontEnd fmin: expected a number >= 0.0, got -1.0"),
    (dict(fmin=500.0, fmax=400.0), "FrontEnd fmax: expected a number > 500.0, got 400.0"),
    (dict(sample_rate=8000, fmax=5000.0), r"FrontEnd fmax: expected at most sample_rate / 2"),
    (dict(sample_rate=8000, fmin=4000.0), r"FrontEnd fmin: expected below sample_rate / 2"),
    (dict(htk="yes"), "FrontEnd htk: expected True or False"),
    (dict(norm="l2"), "FrontEnd norm: expected 'slaney' or None, got 'l2'"),
    (dict(power=0), "FrontEnd power: expected a number > 0.0, got 0"),
    (dict(log_floor=0.0), "FrontEnd log_floor: expected a number > 0.0, got 0.0"),
    (dict(deltas=3), "FrontEnd deltas: expected 0, 1 or 2, got 3"),
    (dict(deltas=1, delta_width=4),
     "FrontEnd delta_width: expected an odd integer from 3 to 255, got 4"),
    (dict(deltas=1, delta_width=257),
     "FrontEnd delta_width: expected an odd integer from 3 to 255, got 257"),
    (dict(n_fft=2 ** 16 + 1), "FrontEnd n_fft: expected an integer from 1 to 65536"),
    (dict(n_fft=4096, n_mels=1024), "FrontEnd n_mels: 1024 mel filters of 2049 FFT bins are "
                                    "2098176 weights, more than the 2097152 allowed"),
    (dict(delta_width=1), "FrontEnd delta_width: expected an integer >= 3, got 1"),
    (dict(mean=[0.0] * 40), "FrontEnd mean/std: expected both or neither"),
    (dict(n_mels=40, mean=[0.0], std=[1.0]), r"FrontEnd mean/std: expected 40 values each"),
    (dict(n_mels=2, mean=[0.0, 0.0], std=[1.0, 0.0]),
     "FrontEnd Normalizer std: expected values > 0"),
    (dict(n_mels=2, mean=[0.0, np.nan], std=[1.0, 1.0]), "expected finite values"),
])
def test_bad_parameters_raise_value_error_naming_them(parameters, message):
    with pytest.raises(ValueError, match=message):
        audio.FrontEnd(**parameters)


def test_sizes_from_a_model_file_are_bounded_before_anything_is_built():
    """Issue 14 item 11: model metadata with delta_width=10001 cost 9.6 s and
    3.2 GB (its delta weights are delta_width**2 per order); large n_fft /
    n_mels asked for GiB of mel filters."""
    for data, message in [
            ({"deltas": 2, "delta_width": 10001}, "delta_width: expected an odd integer from 3"),
            ({"n_fft": 2 ** 30}, "n_fft: expected an integer from 1 to 65536"),
            ({"n_fft": 65536, "n_mels": 128}, "n_mels: 128 mel filters of 32769 FFT bins"),
            ({"mean": [{}] * 40, "std": [1.0] * 40}, "mean/std: expected numbers")]:
        with pytest.raises(ValueError, match=message):
            audio.FrontEnd.from_dict(data)
    with pytest.raises(ValueError, match="mel n_mels: 128 mel filters of 32769 FFT bins"):
        audio.filters.mel(sr=16000, n_fft=65536, n_mels=128)
    with pytest.raises(ValueError, match="stft n_fft: expected an integer from 1 to 65536"):
        audio.stft(np.zeros(100, np.float32), n_fft=2 ** 30, win_length=4)


def test_from_dict_rejects_what_it_does_not_know():
    with pytest.raises(ValueError, match=r"unknown parameters \['hop_size'\]"):
        audio.FrontEnd.from_dict({"hop_size": 80})
    with pytest.raises(ValueError, match="expected a dict, got list"):
        audio.FrontEnd.from_dict([8000])
    with pytest.raises(ValueError, match="FrontEnd hop_length: expected an integer >= 1"):
        audio.FrontEnd.from_dict({"hop_length": 0})


def test_sizes_and_defaults():
    front_end = audio.FrontEnd(sample_rate=8000, n_fft=256, hop_length=80, feature="mfcc",
                               n_mfcc=13, deltas=2)
    assert (front_end.num_base_features, front_end.num_features) == (13, 39)
    assert front_end.delay_frames == 4                                   # delta_width 9
    assert [front_end.num_frames(n) for n in (0, 255, 256, 335, 336, 8000)] == [0, 0, 1, 1, 2, 97]
    assert front_end.features(np.zeros(255, np.float32)).shape == (0, 39)
    assert audio.FrontEnd().num_features == 40 and audio.FrontEnd().normalizer is None


def test_to_dict_is_json_and_round_trips(signal):
    front_end = audio.FrontEnd(sample_rate=8000, n_fft=200, hop_length=80, win_length=160,
                               window="hamming", feature="mfcc", n_mels=32, n_mfcc=12,
                               fmin=60.0, fmax=3900.0, htk=True, norm=None, log_floor=1e-5,
                               deltas=1, delta_width=5)
    front_end.fit_normalization([signal])
    data = front_end.to_dict()
    assert isinstance(data["mean"], list) and len(data["mean"]) == 24
    copy = audio.FrontEnd.from_dict(json.loads(json.dumps(data)))
    assert copy == front_end and copy.to_dict() == data
    np.testing.assert_array_equal(copy.features(signal), front_end.features(signal))


def test_front_end_is_immutable_but_fits_its_normalization(signal):
    front_end = audio.FrontEnd(sample_rate=8000, n_fft=256, hop_length=80)
    with pytest.raises(AttributeError):
        front_end.n_mels = 64                        # a changed copy: dataclasses.replace
    raw = front_end.features(signal)
    assert front_end.fit_normalization([signal]) is front_end
    normalized = front_end.features(signal)
    np.testing.assert_allclose(normalized.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(normalized.std(axis=0), 1, atol=1e-4)
    np.testing.assert_array_equal(front_end.features(signal, normalize=False), raw)
    np.testing.assert_array_equal(normalized, front_end.normalizer(raw))
    refit = audio.FrontEnd(sample_rate=8000, n_fft=256, hop_length=80)
    refit.fit_normalization([raw])                   # from features instead of signals
    assert refit == front_end


def test_normalizer_fit_call_and_dict():
    rng = np.random.default_rng(2)
    parts = [rng.normal(3.0, 2.0, size=(n, 4)).astype(np.float32) for n in (50, 1, 77)]
    parts[0][:, 3] = parts[1][:, 3] = parts[2][:, 3] = 5.0              # a constant feature
    normalizer = audio.Normalizer.fit(parts)
    stacked = np.concatenate(parts).astype(np.float64)
    np.testing.assert_allclose(normalizer.mean, stacked.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(normalizer.std[:3], stacked.std(axis=0)[:3], rtol=1e-12)
    assert normalizer.std[3] == 1.0                                     # centred, not scaled
    x = normalizer(parts[0])
    assert x.dtype == np.float32 and x.shape == (50, 4)
    expected = ((parts[0] - normalizer.mean.astype(np.float32))
                / normalizer.std.astype(np.float32))
    np.testing.assert_array_equal(x, expected)       # float32 (x - mean) / std, as trainers do
    np.testing.assert_array_equal(normalizer(parts[0][7]), x[7])      # one frame or many
    copy = audio.Normalizer.from_dict(json.loads(json.dumps(normalizer.to_dict())))
    assert copy == normalizer
    np.testing.assert_array_equal(audio.Normalizer.fit(parts[0]).mean,
                                  audio.Normalizer.fit([parts[0]]).mean)


@pytest.mark.parametrize("arguments, message", [
    (([0.0, 1.0], [1.0]), "expected two 1-D arrays of the same length"),
    (([], []), "expected two 1-D arrays of the same length"),
    (([0.0], [-1.0]), "std: expected values > 0"),
    (([np.inf], [1.0]), "expected finite values"),
])
def test_normalizer_rejects_bad_statistics(arguments, message):
    with pytest.raises(ValueError, match=message):
        audio.Normalizer(*arguments)


def test_normalizer_rejects_bad_features():
    normalizer = audio.Normalizer([0.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"expected features \(..., 2\), got shape \(5, 3\)"):
        normalizer(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="expected at least one frame"):
        audio.Normalizer.fit([np.zeros((0, 2))])
    with pytest.raises(ValueError, match="the same F"):
        audio.Normalizer.fit([np.zeros((3, 2)), np.zeros((3, 5))])


def test_features_reject_what_is_not_a_mono_float_signal():
    front_end = audio.FrontEnd()
    with pytest.raises(ValueError, match=r"expected mono samples \(n,\), got shape \(2, 100\)"):
        front_end.features(np.zeros((2, 100), np.float32))
    with pytest.raises(TypeError, match="expected floating-point samples, got dtype int16"):
        front_end.features(np.zeros(1000, np.int16))


def test_the_bundled_models_front_end():
    """What the model file holds (written before deltas existed) still loads."""
    model = fastrnn.load(pathlib.Path(fastrnn.__file__).parent / "data" / "digits.fastrnn")
    front_end = audio.FrontEnd.from_dict(model.metadata["front_end"])
    assert (front_end.sample_rate, front_end.n_fft, front_end.hop_length) == (8000, 256, 80)
    assert front_end.num_features == model.input_size == 40
    assert front_end.deltas == 0 and front_end.normalizer is not None


def fsdd_recordings(count):
    root = pathlib.Path(os.environ.get("FASTRNN_FSDD", pathlib.Path(__file__).parents[2]
                                       / "shared" / "data" / "fsdd"))
    return sorted((root / "recordings").glob("*.wav"))[::250][:count]


@pytest.mark.skipif(not fsdd_recordings(1), reason="no FSDD recordings (set FASTRNN_FSDD or "
                    "put them in ../shared/data/fsdd/recordings)")
@pytest.mark.parametrize("parameters", [
    dict(feature="log_mel", n_mels=40), dict(feature="mfcc", n_mfcc=13, deltas=2)],
    ids=["log_mel", "mfcc_deltas"])
def test_real_recordings_stream_like_offline(parameters):
    """Spoken digits in 10 ms blocks, as `fastrnn demo` streams them."""
    pytest.importorskip("soundfile", reason="reading audio needs soundfile")
    recordings = [audio.load(path)[0] for path in fsdd_recordings(8)]
    front_end = audio.FrontEnd(sample_rate=8000, n_fft=256, hop_length=80, **parameters)
    front_end.fit_normalization(recordings)
    stream = front_end.stream()
    for y in recordings:
        frames = [stream.push(y[start:start + 80]) for start in range(0, len(y), 80)]
        np.testing.assert_array_equal(np.concatenate(frames + [stream.flush()]),
                                      front_end.features(y))
