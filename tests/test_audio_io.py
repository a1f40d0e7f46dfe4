"""fastrnn.audio.load and resample: formats, channels, resampling, offsets,
and clear errors; against librosa.load, the definition, where it is
installed. Files are written into tmp_path with soundfile."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastrnn.audio as audio

soundfile = pytest.importorskip("soundfile", reason="reading audio needs soundfile")


def librosa_or_skip():
    return pytest.importorskip("librosa", reason="librosa is the reference: pip install librosa")


@pytest.fixture(scope="module")
def tone():
    """1 s at 8 kHz, two partials: well inside any resampler's passband."""
    t = np.arange(8000) / 8000
    return (0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1250 * t)) \
        .astype(np.float32)


@pytest.mark.parametrize("extension, subtype, step", [
    ("wav", "PCM_16", 2 ** -15), ("wav", "PCM_24", 2 ** -23), ("wav", "FLOAT", 0.0),
    ("flac", "PCM_16", 2 ** -15), ("flac", "PCM_24", 2 ** -23), ("aiff", "PCM_16", 2 ** -15)])
def test_formats_read_back(tmp_path, tone, extension, subtype, step):
    path = tmp_path / f"tone.{extension}"
    soundfile.write(path, tone, 8000, subtype=subtype)
    y, sr = audio.load(path)
    assert sr == 8000 and y.dtype == np.float32 and y.shape == tone.shape
    # One quantisation step: libsndfile writes floats as PCM scaled by
    # 2^(bits-1) - 1 and reads PCM back divided by 2^(bits-1).
    assert np.abs(y - tone).max() <= step
    y64, _ = audio.load(str(path), dtype=np.float64)
    assert y64.dtype == np.float64
    np.testing.assert_array_equal(y64.astype(np.float32), y)


def test_int16_samples_are_scaled_like_librosa(tmp_path):
    librosa = librosa_or_skip()
    pcm = np.array([0, 1, -1, 16384, -32768, 32767], np.int16)
    path = tmp_path / "pcm.wav"
    soundfile.write(path, pcm, 8000, subtype="PCM_16")
    y, _ = audio.load(path)
    np.testing.assert_array_equal(y, pcm / np.float32(32768))
    np.testing.assert_array_equal(y, librosa.load(path, sr=None)[0])


@pytest.fixture
def stereo_file(tmp_path, tone):
    path = tmp_path / "stereo.flac"
    soundfile.write(path, np.stack([tone, -0.5 * tone[::-1]], axis=1), 8000, subtype="PCM_24")
    return path


def test_stereo_mixed_to_mono_or_kept_channels_first(stereo_file):
    both, sr = audio.load(stereo_file, mono=False)
    assert sr == 8000 and both.shape == (2, 8000)            # librosa's (channels, n)
    mono, _ = audio.load(stereo_file)
    assert mono.shape == (8000,)
    np.testing.assert_array_equal(mono, both.mean(axis=0))
    librosa = librosa_or_skip()
    np.testing.assert_array_equal(mono, librosa.load(stereo_file, sr=None)[0])
    np.testing.assert_array_equal(both, librosa.load(stereo_file, sr=None, mono=False)[0])


def test_mono_file_with_mono_false_stays_one_dimensional(tmp_path, tone):
    path = tmp_path / "mono.wav"
    soundfile.write(path, tone, 8000)
    assert audio.load(path, mono=False)[0].shape == (8000,)


@pytest.mark.parametrize("mono", [True, False])
@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_resampled_from_44100_like_librosa(tmp_path, subtype, mono):
    librosa = librosa_or_skip()
    t = np.arange(44100 + 37) / 44100
    left = 0.3 * np.sin(2 * np.pi * 300 * t) + 0.2 * np.sin(2 * np.pi * 1200 * t)
    path = tmp_path / "cd.wav"
    soundfile.write(path, np.stack([left, 0.5 * left], axis=1).astype(np.float32), 44100,
                    subtype=subtype)
    ours, sr = audio.load(path, sr=8000, mono=mono)
    theirs, their_sr = librosa.load(path, sr=8000, mono=mono)
    assert sr == their_sr == 8000 and ours.dtype == np.float32
    assert ours.shape == theirs.shape == ((8007,) if mono else (2, 8007))   # ceil(n * 8000 / 44100)
    # The same reader and resampler (soxr, quality HQ, each channel on its
    # own) on the same samples: measured identical. The bound leaves room for
    # a soxr build whose SIMD path rounds differently: 1e-6 is ~30 float32
    # ulps of the signal's peak (0.5), far below the 16-bit step (3e-5).
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


def test_resample_like_librosa(tone):
    librosa = librosa_or_skip()
    for target_sr in (16000, 22050, 4000):                   # bound: as above
        np.testing.assert_allclose(audio.resample(tone, orig_sr=8000, target_sr=target_sr),
                                   librosa.resample(tone, orig_sr=8000, target_sr=target_sr),
                                   rtol=0, atol=1e-6)
    assert audio.resample(tone, orig_sr=8000, target_sr=8000) is tone
    with pytest.raises(ValueError, match="res_type: expected one of"):
        audio.resample(tone, orig_sr=8000, target_sr=16000, res_type="kaiser_best")


@pytest.mark.parametrize("sr, offset, duration", [
    (8000, 0.25, 0.5), (8000, 0.0, 0.1), (8000, 0.7, None), (44100, 0.7, 0.3),
    (8000, 1.0, None)])
def test_offset_and_duration_like_librosa(tmp_path, tone, sr, offset, duration):
    path = tmp_path / "tone.wav"
    soundfile.write(path, np.resize(tone, sr), sr, subtype="FLOAT")
    y, _ = audio.load(path, offset=offset, duration=duration)
    start = int(offset * sr)                                  # truncated, as librosa does
    stop = None if duration is None else start + int(duration * sr)
    np.testing.assert_array_equal(y, np.resize(tone, sr)[start:stop])
    librosa = pytest.importorskip("librosa", reason="librosa is the reference")
    np.testing.assert_array_equal(y, librosa.load(path, sr=None, offset=offset,
                                                  duration=duration)[0])


def test_open_file_objects(tmp_path, tone):
    path = tmp_path / "tone.flac"
    soundfile.write(path, tone, 8000)
    with open(path, "rb") as file:
        y, sr = audio.load(file)
    assert sr == 8000
    np.testing.assert_array_equal(y, audio.load(path)[0])


def test_missing_folder_and_unreadable_files(tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(audio.AudioFileError, match=f"{missing}: no such file"):
        audio.load(missing)
    with pytest.raises(audio.AudioFileError, match="is a folder, not an audio file"):
        audio.load(tmp_path)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(audio.AudioFileError,
                       match=r"junk.wav: not a readable audio file \(Format not recognised"):
        audio.load(junk)
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    with pytest.raises(audio.AudioFileError, match="empty.flac: not a readable audio file"):
        audio.load(empty)
    assert issubclass(audio.AudioFileError, ValueError)


def test_bad_arguments(tmp_path, tone):
    path = tmp_path / "tone.wav"
    soundfile.write(path, tone, 8000)
    with pytest.raises(audio.AudioFileError, match="offset 2.0 s is past the end"):
        audio.load(path, offset=2.0)
    for arguments, message in [
            (dict(offset=-1.0), "load offset: expected a finite number >= 0, got -1.0"),
            (dict(offset="1"), "load offset: expected a finite number >= 0, got '1'"),
            (dict(duration=np.nan), "load duration: expected a finite number >= 0, got nan"),
            (dict(sr=0), "load sr: expected a finite number >= 1, got 0"),
            (dict(sr="8000"), "load sr: expected a finite number >= 1, got '8000'"),
            (dict(sr=float("inf")), "load sr: expected a finite number >= 1, got inf"),
            (dict(dtype=np.int16), "dtype: expected a floating-point dtype")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            audio.load(path, **arguments)


def test_sample_rates_are_bounded_before_resampling(tmp_path):
    """Issue 14 item 11: a 16 KB WAV declaring 1 Hz, loaded at 8 kHz, became
    64 M samples (546 MB); sr=1e-9 hung inside soxr beyond interruption."""
    path = tmp_path / "one_hertz.wav"
    soundfile.write(path, np.zeros(8000, np.float32), 1, subtype="PCM_16")
    assert audio.load(path)[0].shape == (8000,)           # read as it is: the file's size
    with pytest.raises(ValueError, match=re.escape(
            "resample: 1 Hz to 8000 Hz makes 8000 samples of each, more than "
            f"MAX_UPSAMPLING = {audio.io.MAX_UPSAMPLING}")):
        audio.load(path, sr=8000)
    assert audio.load(path, sr=audio.io.MAX_UPSAMPLING)[0].shape == (8000 * 256,)
    with pytest.raises(ValueError, match="load sr: expected a finite number >= 1, got 1e-09"):
        audio.load(path, sr=1e-9)
    with pytest.raises(ValueError, match="resample target_sr: expected a finite number >= 1"):
        audio.resample(np.zeros(100, np.float32), orig_sr=8000, target_sr=1e-9)


def test_numpy_parts_work_without_soundfile_and_soxr(tmp_path):
    """soundfile and soxr are imported by load / resample only; without them
    those raise an ImportError saying what to install."""
    script = (
        "import sys\n"
        "sys.modules['soundfile'] = sys.modules['soxr'] = None\n"     # import fails
        "import numpy as np, fastrnn.audio as audio\n"
        "y = np.zeros(4000, np.float32)\n"
        "assert audio.FrontEnd(sample_rate=8000, n_fft=256, hop_length=80).features(y).shape"
        " == (47, 40)\n"
        "assert audio.mfcc(y=y, sr=8000).shape == (20, 8)\n"
        "for call in (lambda: audio.load(sys.argv[1]),\n"
        "             lambda: audio.resample(y, orig_sr=8000, target_sr=16000)):\n"
        "    try:\n"
        "        call()\n"
        "    except ImportError as error:\n"
        "        print(error)\n")
    path = tmp_path / "exists.wav"
    path.write_bytes(b"")
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all("pip install fastrnn[audio]" in line for line in lines)
    assert "soundfile" in lines[0] and "soxr" in lines[1]


def fsdd_recordings():
    root = os.environ.get("FASTRNN_FSDD",
                          os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                       "fsdd"))
    folder = os.path.join(root, "recordings")
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if name.endswith(".wav"))[:20:4] if os.path.isdir(folder) else []


@pytest.mark.skipif(not fsdd_recordings(), reason="no FSDD recordings (set FASTRNN_FSDD or put "
                    "them in ../shared/data/fsdd/recordings)")
@pytest.mark.parametrize("sr", [None, 16000])
def test_real_recordings_like_librosa(sr):
    librosa = librosa_or_skip()
    for path in fsdd_recordings():
        ours, our_sr = audio.load(path, sr=sr)
        theirs, their_sr = librosa.load(path, sr=sr)
        assert our_sr == their_sr
        np.testing.assert_array_equal(ours, theirs)         # the same reader and resampler
