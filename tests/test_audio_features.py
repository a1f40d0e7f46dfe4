"""fastrnn.audio's spectral functions against librosa 0.11's, the definition
(the API copies librosa's names, defaults and orientation).

Tolerance, the issue's bar: ``assert_allclose(rtol=1e-4, atol=ATOL_SCALE *
max |librosa|)``. The atol term is needed because both sides are float32:
an element far below the largest (a spectrum's empty bins, an MFCC near a
zero crossing) carries rounding errors relative to the largest values it was
summed from, not to itself, so a purely elementwise relative bound would
measure noise. 1e-6 of the maximum is ~8 float32 ulps of it, and 10x the
largest difference measured (mfcc: 3e-7 of the maximum; filters.mel, stft,
power_to_db are bit for bit librosa's). delta is the exception, see there.
"""

import numpy as np
import pytest

import fastrnn.audio as audio

librosa = pytest.importorskip("librosa", reason="librosa is the reference: pip install librosa")
scipy_fft = pytest.importorskip("scipy.fft", reason="librosa needs scipy")
scipy_signal = pytest.importorskip("scipy.signal", reason="librosa needs scipy")

RTOL = 1e-4
ATOL_SCALE = 1e-6


def assert_librosa_close(got, expected, atol_scale=ATOL_SCALE):
    expected = np.asarray(expected)
    assert np.shape(got) == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL,
                               atol=atol_scale * np.abs(expected).max())


@pytest.fixture(scope="module")
def signal():
    """1.5 s at 8 kHz: a chirp plus noise, energy across the spectrum."""
    t = np.arange(12000) / 8000
    chirp = np.sin(2 * np.pi * (100 + 1500 * t) * t)
    noise = np.random.default_rng(0).standard_normal(t.size)
    return (0.5 * chirp + 0.05 * noise).astype(np.float32)


@pytest.mark.parametrize("name", ["hann", "hamming", "blackman", "boxcar", "ones", "rect"])
@pytest.mark.parametrize("length", [1, 2, 7, 200, 256, 400])
@pytest.mark.parametrize("fftbins", [True, False], ids=["periodic", "symmetric"])
def test_windows_are_scipys_bit_for_bit(name, length, fftbins):
    np.testing.assert_array_equal(audio.get_window(name, length, fftbins=fftbins),
                                  scipy_signal.get_window(name, length, fftbins=fftbins))


def test_other_window_specifications():
    np.testing.assert_array_equal(audio.get_window(("kaiser", 8.0), 64),     # through scipy
                                  librosa.filters.get_window(("kaiser", 8.0), 64))
    np.testing.assert_array_equal(audio.get_window(np.hanning, 64), np.hanning(64))
    np.testing.assert_array_equal(audio.get_window(np.ones(64), 64), np.ones(64))
    with pytest.raises(ValueError, match="window: expected 64 values, got 63"):
        audio.get_window(np.ones(63), 64)


@pytest.mark.parametrize("htk", [False, True], ids=["slaney_scale", "htk_scale"])
def test_mel_scale(htk):
    hz = np.array([0.0, 20.0, 440.0, 999.0, 1000.0, 1001.0, 4000.0, 11025.0])
    np.testing.assert_allclose(audio.hz_to_mel(hz, htk=htk), librosa.hz_to_mel(hz, htk=htk),
                               rtol=1e-12)
    mels = audio.hz_to_mel(hz, htk=htk)
    np.testing.assert_allclose(audio.mel_to_hz(mels, htk=htk), hz, rtol=1e-12, atol=1e-9)
    assert np.isscalar(audio.hz_to_mel(4000.0, htk=htk))
    assert audio.hz_to_mel(4000.0, htk=htk) == pytest.approx(librosa.hz_to_mel(4000.0, htk=htk))
    np.testing.assert_allclose(audio.mel_frequencies(40, fmin=30.0, fmax=3800.0, htk=htk),
                               librosa.mel_frequencies(40, fmin=30.0, fmax=3800.0, htk=htk),
                               rtol=1e-12)


@pytest.mark.parametrize("sr, n_fft, n_mels, fmin, fmax", [
    (8000, 256, 40, 0.0, None), (8000, 200, 32, 50.0, 3800.0), (16000, 512, 64, 20.0, 7600.0),
    (22050, 2048, 128, 0.0, None), (44100, 1024, 80, 300.0, 8000.0)])
@pytest.mark.parametrize("htk", [False, True], ids=["slaney_scale", "htk_scale"])
@pytest.mark.parametrize("norm", ["slaney", None], ids=["slaney_norm", "no_norm"])
def test_mel_filters(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    ours = audio.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk,
                             norm=norm)
    theirs = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                                 htk=htk, norm=norm)
    assert ours.dtype == theirs.dtype == np.float32
    assert_librosa_close(ours, theirs)


def test_mel_filters_defaults_and_warning():
    assert_librosa_close(audio.filters.mel(sr=22050, n_fft=2048),
                         librosa.filters.mel(sr=22050, n_fft=2048))
    with pytest.warns(UserWarning, match="Empty filters"):
        audio.filters.mel(sr=8000, n_fft=64, n_mels=128)


@pytest.mark.parametrize("center, pad_mode", [(True, "constant"), (True, "reflect"),
                                              (False, "constant")])
@pytest.mark.parametrize("n_fft, hop_length, win_length, window", [
    (256, 80, None, "hann"), (200, 80, None, "hann"), (512, 128, 400, "hann"),
    (2048, None, None, "hamming"), (64, 16, 63, ("kaiser", 4.0))])
def test_stft(signal, n_fft, hop_length, win_length, window, center, pad_mode):
    options = dict(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                   center=center, pad_mode=pad_mode)
    ours, theirs = audio.stft(signal, **options), librosa.stft(signal, **options)
    assert ours.dtype == theirs.dtype == np.complex64
    assert_librosa_close(ours, theirs)


def test_stft_channels_and_float64(signal):
    stereo = np.stack([signal, 0.5 * signal[::-1]])                   # (2, n): channels first
    assert_librosa_close(audio.stft(stereo, n_fft=256, hop_length=80),
                         librosa.stft(stereo, n_fft=256, hop_length=80))
    ours = audio.stft(signal.astype(np.float64), n_fft=256)
    assert ours.dtype == np.complex128
    assert_librosa_close(ours, librosa.stft(signal.astype(np.float64), n_fft=256))


def test_stft_rejects_what_librosa_rejects(signal):
    with pytest.raises(ValueError, match="n_fft: 2048 is too large for uncentered"):
        audio.stft(signal[:1000], center=False)
    with pytest.raises(ValueError, match="hop_length: expected an integer > 0, got 0"):
        audio.stft(signal, hop_length=0)
    with pytest.raises(ValueError, match="pad_mode: 'wrap' is not supported"):
        audio.stft(signal, pad_mode="wrap")
    with pytest.raises(ValueError, match="floating-point samples"):
        audio.stft(np.zeros(4096, np.int16))
    with pytest.raises(ValueError, match="not all finite"):
        audio.stft(np.full(4096, np.nan, np.float32))


@pytest.mark.parametrize("power", [1.0, 2.0])
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("options", [
    dict(sr=8000, n_fft=256, hop_length=80, n_mels=40),
    dict(sr=8000, n_fft=200, hop_length=80, n_mels=32, fmin=50.0, fmax=3800.0, htk=True),
    dict(sr=8000, n_fft=512, hop_length=256, n_mels=64, norm=None, window="hamming")],
    ids=["8k_256", "8k_200_htk", "8k_512_no_norm"])
def test_melspectrogram(signal, options, center, power):
    ours = audio.melspectrogram(y=signal, center=center, power=power, **options)
    theirs = librosa.feature.melspectrogram(y=signal, center=center, power=power, **options)
    assert ours.dtype == theirs.dtype == np.float32
    assert_librosa_close(ours, theirs)
    assert audio.feature.melspectrogram is audio.melspectrogram


def test_melspectrogram_of_a_spectrogram(signal):
    S = np.abs(librosa.stft(signal, n_fft=512)) ** 2        # n_fft from S's shape, not 2048
    assert_librosa_close(audio.melspectrogram(S=S, sr=8000, n_mels=40),
                         librosa.feature.melspectrogram(S=S, sr=8000, n_mels=40))
    assert_librosa_close(audio.melspectrogram(y=signal), librosa.feature.melspectrogram(y=signal))
    with pytest.raises(ValueError, match="expected an audio signal y or a spectrogram S"):
        audio.melspectrogram()


@pytest.fixture(scope="module")
def mel_power(signal):
    return librosa.feature.melspectrogram(y=signal, sr=8000, n_fft=256, hop_length=80)


@pytest.mark.parametrize("top_db", [80.0, 40.0, None])
@pytest.mark.parametrize("ref", [1.0, np.max], ids=["ref_1", "ref_max"])
def test_decibels(mel_power, top_db, ref):
    assert_librosa_close(audio.power_to_db(mel_power, ref=ref, top_db=top_db),
                         librosa.power_to_db(mel_power, ref=ref, top_db=top_db))
    amplitude = np.sqrt(mel_power)
    assert_librosa_close(audio.amplitude_to_db(amplitude, ref=ref, top_db=top_db),
                         librosa.amplitude_to_db(amplitude, ref=ref, top_db=top_db))


def test_decibels_back(mel_power):
    S_db = librosa.power_to_db(mel_power, top_db=None)
    assert_librosa_close(audio.db_to_power(S_db), librosa.db_to_power(S_db))
    assert_librosa_close(audio.db_to_amplitude(S_db), librosa.db_to_amplitude(S_db))
    with pytest.raises(ValueError, match="amin: expected > 0"):
        audio.power_to_db(mel_power, amin=0)


@pytest.mark.parametrize("n_mfcc", [13, 20, 40])
@pytest.mark.parametrize("lifter", [0, 22, 6.5])
def test_mfcc(signal, n_mfcc, lifter):
    options = dict(sr=8000, n_fft=256, hop_length=80, n_mels=40, n_mfcc=n_mfcc, lifter=lifter)
    ours, theirs = audio.mfcc(y=signal, **options), librosa.feature.mfcc(y=signal, **options)
    assert ours.dtype == theirs.dtype == np.float32
    assert_librosa_close(ours, theirs)
    assert audio.feature.mfcc is audio.mfcc


@pytest.mark.parametrize("dct_type", [1, 2, 3])
@pytest.mark.parametrize("norm", [None, "ortho"])
def test_mfcc_of_a_log_mel_spectrogram(mel_power, dct_type, norm):
    S_db = librosa.power_to_db(mel_power)
    assert_librosa_close(audio.mfcc(S=S_db, n_mfcc=20, dct_type=dct_type, norm=norm),
                         librosa.feature.mfcc(S=S_db, n_mfcc=20, dct_type=dct_type, norm=norm))


def test_mfcc_defaults_and_mel_norm(signal):
    assert_librosa_close(audio.mfcc(y=signal, sr=8000, mel_norm=None, htk=True, n_mels=64),
                         librosa.feature.mfcc(y=signal, sr=8000, mel_norm=None, htk=True,
                                              n_mels=64))
    with pytest.raises(ValueError, match="lifter: expected a number >= 0"):
        audio.mfcc(y=signal, sr=8000, lifter=-1)


@pytest.mark.parametrize("dct_type", [1, 2, 3, 4])
@pytest.mark.parametrize("norm", [None, "backward", "ortho", "forward"])
def test_dct_matrix_is_scipys_dct(dct_type, norm):
    x = np.random.default_rng(1).standard_normal((40, 5))
    np.testing.assert_allclose(audio.feature.dct_matrix(13, 40, dct_type, norm) @ x,
                               scipy_fft.dct(x, type=dct_type, norm=norm, axis=0)[:13],
                               rtol=1e-12, atol=1e-12 * np.abs(x).sum())


@pytest.fixture(scope="module")
def cepstra(signal):
    return librosa.feature.mfcc(y=signal, sr=8000, n_fft=256, hop_length=80, n_mels=40)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("width", [3, 5, 9])
@pytest.mark.parametrize("mode", ["interp", "nearest", "mirror", "constant", "wrap"])
def test_delta(cepstra, width, order, mode):
    ours = audio.delta(cepstra, width=width, order=order, mode=mode)
    theirs = librosa.feature.delta(cepstra, width=width, order=order, mode=mode)
    assert ours.dtype == theirs.dtype == np.float32
    # librosa's "interp" edges (np.polyfit on the float32 frames) are off the
    # float64 result by up to 4e-6 of the maximum (measured), 100x more than
    # ours: atol 1e-5 of the maximum there. The exact comparison is the next
    # one, against scipy's filter in float64.
    assert_librosa_close(ours, theirs, atol_scale=1e-5)
    exact = scipy_signal.savgol_filter(cepstra.astype(np.float64), width, deriv=order,
                                       polyorder=order, mode=mode)
    np.testing.assert_allclose(ours, exact, rtol=1e-5, atol=1e-6 * np.abs(exact).max())


def test_delta_axis_and_errors(cepstra):
    np.testing.assert_array_equal(audio.delta(cepstra.T, axis=0), audio.delta(cepstra).T)
    with pytest.raises(ValueError, match="width: expected an odd integer from 3 to 255, got 4"):
        audio.delta(cepstra, width=4)
    for order in (0, 9):
        with pytest.raises(ValueError, match=r"order: expected a positive integer below "
                                             rf"width \(9\), got {order}"):
            audio.delta(cepstra, order=order)
    with pytest.raises(ValueError, match="width: expected an odd integer from 3 to 255, got 257"):
        audio.delta(cepstra, width=257, mode="nearest")
    with pytest.raises(ValueError, match="width=9 cannot exceed data.shape"):
        audio.delta(cepstra[:, :5])


@pytest.mark.parametrize("frame_length, hop_length, axis", [(256, 80, -1), (5, 1, -1),
                                                             (7, 3, 0)])
def test_frame(frame_length, hop_length, axis):
    x = np.arange(2 * 1000, dtype=np.float32).reshape((2, 1000) if axis == -1 else (1000, 2))
    np.testing.assert_array_equal(
        audio.frame(x, frame_length=frame_length, hop_length=hop_length, axis=axis),
        librosa.util.frame(x, frame_length=frame_length, hop_length=hop_length, axis=axis))
    with pytest.raises(ValueError, match="too short"):
        audio.frame(np.zeros(10), frame_length=11, hop_length=1)


@pytest.mark.parametrize("feature", ["log_mel", "mel_db", "mfcc"])
@pytest.mark.parametrize("n_fft, hop_length, n_mels, power", [
    (256, 80, 40, 2.0), (200, 80, 32, 1.0), (512, 160, 64, 1.5)])
def test_front_end_is_librosa_with_center_false(signal, feature, n_fft, hop_length, n_mels,
                                                power):
    front_end = audio.FrontEnd(sample_rate=8000, n_fft=n_fft, hop_length=hop_length,
                               n_mels=n_mels, feature=feature, power=power)
    mel = librosa.feature.melspectrogram(y=signal, sr=8000, n_fft=n_fft, hop_length=hop_length,
                                         n_mels=n_mels, center=False, power=power)
    mel_db = librosa.power_to_db(mel, top_db=None)
    expected = {"log_mel": np.log(mel + 1e-6), "mel_db": mel_db,
                "mfcc": librosa.feature.mfcc(S=mel_db, n_mfcc=13)}[feature]
    assert_librosa_close(front_end.features(signal), expected.T)


@pytest.mark.parametrize("deltas", [1, 2])
def test_front_end_deltas_are_librosas(signal, deltas):
    base = audio.FrontEnd(sample_rate=8000, n_fft=256, hop_length=80, feature="mfcc")
    front_end = audio.FrontEnd(sample_rate=8000, n_fft=256, hop_length=80, feature="mfcc",
                               deltas=deltas, delta_width=7)
    cepstra = base.features(signal).T
    expected = np.concatenate([cepstra] + [librosa.feature.delta(cepstra, width=7, order=order)
                                           for order in range(1, deltas + 1)])
    assert_librosa_close(front_end.features(signal), expected.T, atol_scale=1e-5)
