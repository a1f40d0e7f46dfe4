"""fastrnn.audio.load: formats soundfile reads, channels, resampling, errors."""

import numpy as np
import pytest

import fastrnn.audio as audio

soundfile = pytest.importorskip("soundfile", reason="reading audio needs soundfile")


@pytest.fixture
def tone():
    t = np.arange(8000) / 8000
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("extension, subtype, tolerance", [
    ("wav", "PCM_16", 2 ** -15), ("wav", "PCM_24", 2 ** -23), ("wav", "FLOAT", 0.0),
    ("flac", "PCM_16", 2 ** -15), ("flac", "PCM_24", 2 ** -23), ("ogg", "VORBIS", None)])
def test_formats_read_back(tmp_path, tone, extension, subtype, tolerance):
    path = tmp_path / f"tone.{extension}"
    soundfile.write(path, tone, 8000, subtype=subtype)
    y, sr = audio.load(path)
    assert sr == 8000 and y.dtype == np.float32 and y.shape == tone.shape
    if tolerance is not None:                              # one quantisation step
        assert np.abs(y - tone).max() <= tolerance
    else:                                                  # lossy: the tone is still there
        assert np.corrcoef(y, tone)[0, 1] > 0.99


def test_stereo_mixed_to_mono_or_kept(tmp_path, tone):
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([tone, -0.5 * tone], axis=1), 8000, subtype="FLOAT")
    mono, _ = audio.load(path)
    np.testing.assert_allclose(mono, 0.25 * tone, atol=1e-7)
    both, _ = audio.load(path, mono=False)
    assert both.shape == (2, tone.size)


def test_resampled_like_librosa(tmp_path):
    librosa = pytest.importorskip("librosa", reason="librosa is the reference")
    t = np.arange(44100) / 44100
    signal = (0.3 * np.sin(2 * np.pi * 300 * t) + 0.2 * np.sin(2 * np.pi * 1200 * t))
    path = tmp_path / "cd.wav"
    soundfile.write(path, signal.astype(np.float32), 44100, subtype="FLOAT")
    ours, sr = audio.load(path, sr=8000)
    theirs, _ = librosa.load(path, sr=8000)           # soxr_hq too: the same resampler
    assert sr == 8000 and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_offset_and_duration(tmp_path, tone):
    path = tmp_path / "tone.wav"
    soundfile.write(path, tone, 8000, subtype="FLOAT")
    y, _ = audio.load(path, offset=0.25, duration=0.5)
    np.testing.assert_array_equal(y, tone[2000:6000])


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(audio.AudioFileError, match="no such file"):
        audio.load(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(audio.AudioFileError, match="junk.wav: not a readable audio file"):
        audio.load(junk)
    assert issubclass(audio.AudioFileError, ValueError)
