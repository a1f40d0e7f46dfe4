"""fastrnn.audio's features against librosa's (the definition: the API
copies librosa's names and defaults).

Tolerance: 1e-4 relative (the issue's bar), measured as max |ours - librosa|
over max |librosa| for dB/cepstral outputs and elementwise (with a floor of
1e-6 of the maximum, below which float32 spectra are rounding noise) for
power spectra. Both compute in float32 through different FFT and summation
orders; measured differences are ~5e-7.
"""

import numpy as np
import pytest

import fastrnn.audio as audio

librosa = pytest.importorskip("librosa", reason="librosa is the reference: pip install librosa")
RELATIVE = 1e-4


def assert_relative(got, expected, elementwise=True):
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert got.shape == expected.shape
    scale = np.abs(expected).max()
    if elementwise:
        error = np.max(np.abs(got - expected) / (np.abs(expected) + 1e-6 * scale))
    else:
        error = np.abs(got - expected).max() / scale
    assert error <= RELATIVE, f"relative error {error:.2e}"


@pytest.fixture
def signal(rng):
    """A chirp plus noise: energy across the spectrum."""
    t = np.arange(12000) / 8000
    chirp = np.sin(2 * np.pi * (100 + 1500 * t) * t)
    return (0.5 * chirp + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("sr, n_fft, n_mels, fmin, fmax", [
    (8000, 256, 40, 0.0, None), (16000, 512, 64, 20.0, 7600.0), (22050, 2048, 128, 0.0, None),
    (44100, 1024, 80, 300.0, 8000.0)])
@pytest.mark.parametrize("htk", [False, True], ids=["slaney_scale", "htk_scale"])
@pytest.mark.parametrize("norm", ["slaney", None], ids=["slaney_norm", "no_norm"])
def test_mel_filters(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    ours = audio.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk,
                             norm=norm)
    theirs = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                                 htk=htk, norm=norm)
    assert_relative(ours, theirs, elementwise=False)


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("n_fft, hop_length, win_length, window", [
    (256, 80, None, "hann"), (512, 128, 400, "hann"), (2048, None, None, "hamming")])
def test_stft(signal, n_fft, hop_length, win_length, window, center):
    options = dict(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                   center=center)
    ours, theirs = audio.stft(signal, **options), librosa.stft(signal, **options)
    assert ours.dtype == theirs.dtype == np.complex64
    assert_relative(np.abs(ours), np.abs(theirs))
    assert np.abs(ours - theirs).max() <= RELATIVE * np.abs(theirs).max()


@pytest.mark.parametrize("power", [1.0, 2.0])
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("options", [
    dict(sr=8000, n_fft=256, hop_length=80, n_mels=40),
    dict(sr=8000, n_fft=200, hop_length=80, n_mels=32, fmin=50.0, fmax=3800.0, htk=True),
    dict(sr=8000, n_fft=512, hop_length=256, n_mels=64, norm=None)])
def test_melspectrogram(signal, options, center, power):
    ours = audio.melspectrogram(y=signal, center=center, power=power, **options)
    theirs = librosa.feature.melspectrogram(y=signal, center=center, power=power, **options)
    assert_relative(ours, theirs)
    assert audio.feature.melspectrogram is audio.melspectrogram


@pytest.mark.parametrize("top_db", [80.0, None])
def test_power_to_db(signal, top_db):
    S = librosa.feature.melspectrogram(y=signal, sr=8000, n_fft=256, hop_length=80)
    assert_relative(audio.power_to_db(S, top_db=top_db),
                    librosa.power_to_db(S, top_db=top_db), elementwise=False)
    assert_relative(audio.power_to_db(S, ref=np.max), librosa.power_to_db(S, ref=np.max),
                    elementwise=False)
    assert_relative(audio.amplitude_to_db(np.sqrt(S)), librosa.amplitude_to_db(np.sqrt(S)),
                    elementwise=False)


@pytest.mark.parametrize("n_mfcc", [13, 20, 40])
@pytest.mark.parametrize("lifter", [0, 22])
def test_mfcc(signal, n_mfcc, lifter):
    options = dict(sr=8000, n_fft=256, hop_length=80, n_mels=40, n_mfcc=n_mfcc, lifter=lifter)
    ours, theirs = audio.mfcc(y=signal, **options), librosa.feature.mfcc(y=signal, **options)
    assert_relative(ours, theirs, elementwise=False)
    assert audio.feature.mfcc is audio.mfcc


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("width", [3, 9])
def test_delta(signal, width, order):
    M = librosa.feature.mfcc(y=signal, sr=8000, n_fft=256, hop_length=80, n_mels=40)
    assert_relative(audio.delta(M, width=width, order=order),
                    librosa.feature.delta(M, width=width, order=order), elementwise=False)


@pytest.mark.parametrize("feature", ["log_mel", "db_mel", "mfcc"])
def test_front_end_equals_librosa_with_center_false(signal, feature):
    front_end = audio.FrontEnd(sample_rate=8000, n_fft=256, hop_length=80, n_mels=40,
                               feature=feature)
    mel = librosa.feature.melspectrogram(y=signal, sr=8000, n_fft=256, hop_length=80,
                                         n_mels=40, center=False)
    expected = {"log_mel": np.log(mel + 1e-6),
                "db_mel": librosa.power_to_db(mel, top_db=None),
                "mfcc": librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None),
                                             n_mfcc=13)}[feature]
    assert_relative(front_end.features(signal), expected.T, elementwise=False)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="FrontEnd hop_length: expected a number > 0, got 0"):
        audio.FrontEnd(hop_length=0)
    with pytest.raises(ValueError, match=r"FrontEnd win_length: expected 1..n_fft \(256\)"):
        audio.FrontEnd(n_fft=256, win_length=400)
    with pytest.raises(ValueError, match="FrontEnd feature: expected one of"):
        audio.FrontEnd(feature="spectrogram")
    with pytest.raises(ValueError, match="FrontEnd window: expected one of"):
        audio.FrontEnd(window="kaiser")
    with pytest.raises(ValueError, match="FrontEnd mean/std: expected 40 values each"):
        audio.FrontEnd(n_mels=40, mean=[0.0], std=[1.0])
    with pytest.raises(ValueError, match="mel: expected 0 <= fmin < fmax"):
        audio.filters.mel(sr=8000, n_fft=256, fmin=5000.0)
    with pytest.raises(ValueError, match="expected a mono signal"):
        audio.FrontEnd().features(np.zeros((2, 100), np.float32))
