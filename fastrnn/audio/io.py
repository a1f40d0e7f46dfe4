"""Reading audio (librosa.load): soundfile reads every format libsndfile
knows (WAV, FLAC, OGG, MP3, AIFF, ...); soxr resamples. Both are imported
when first needed, so the rest of fastrnn.audio works without them."""

import importlib
import os

import numpy as np

from .util import fix_length

# librosa's res_type names for soxr's qualities.
SOXR_QUALITIES = ("soxr_vhq", "soxr_hq", "soxr_mq", "soxr_lq", "soxr_qq")
# Resampling bounds, so that neither a file's header nor an argument makes
# fastrnn allocate without bound: rates of at least 1 Hz (soxr does not return
# below 1e-5 Hz), and at most MAX_UPSAMPLING output samples per input sample
# (8 kHz to 384 kHz is 48; a 16 KB file declaring 1 Hz read at 8 kHz would be
# 8000, 546 MB).
MIN_SAMPLE_RATE = 1
MAX_UPSAMPLING = 256


class AudioFileError(ValueError):
    """An audio file that cannot be read: missing, not a file, or not in a
    format soundfile reads. The message names the file and the reason."""


def _import(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"fastrnn.audio needs {module} to read and resample audio: "
                          "pip install fastrnn[audio]") from error


def _check_number(value, name: str, minimum: float) -> None:
    """ValueError unless `value` is a finite real number >= minimum."""
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
            or not np.isfinite(value) or value < minimum):
        raise ValueError(f"{name}: expected a finite number >= {minimum}, got {value!r}")


def to_mono(y: np.ndarray) -> np.ndarray:
    """The mean of the channels (librosa.to_mono): (..., n) -> (n,)."""
    if y.ndim > 1:
        y = np.mean(y, axis=tuple(range(y.ndim - 1)))
    return y


def resample(y: np.ndarray, orig_sr: float, target_sr: float, res_type: str = "soxr_hq",
             fix: bool = True, scale: bool = False, axis: int = -1) -> np.ndarray:
    """Resample along `axis` with soxr (librosa.resample with a soxr res_type).

    Parameters
    ----------
    y : (..., n) samples; each channel is resampled on its own, as librosa does
    orig_sr, target_sr : sample rates (Hz), at least MIN_SAMPLE_RATE, and
        target_sr at most MAX_UPSAMPLING * orig_sr
    res_type : soxr quality: "soxr_hq" (librosa's default), "soxr_vhq",
        "soxr_mq", "soxr_lq" or "soxr_qq"
    fix : trim or zero-pad the result to exactly ceil(n * target_sr / orig_sr)
    scale : divide by sqrt(target_sr / orig_sr) (keeps the energy)

    Returns
    -------
    y_hat : (..., ceil(n * target_sr / orig_sr)) with fix, y's dtype
    """
    _check_number(orig_sr, "resample orig_sr", MIN_SAMPLE_RATE)
    _check_number(target_sr, "resample target_sr", MIN_SAMPLE_RATE)
    if target_sr > MAX_UPSAMPLING * orig_sr:
        raise ValueError(f"resample: {orig_sr} Hz to {target_sr} Hz makes "
                         f"{target_sr / orig_sr:g} samples of each, more than "
                         f"MAX_UPSAMPLING = {MAX_UPSAMPLING}")
    if res_type not in SOXR_QUALITIES:
        raise ValueError(f"resample res_type: expected one of {SOXR_QUALITIES}, got "
                         f"{res_type!r}")
    if orig_sr == target_sr:
        return y
    soxr = _import("soxr")
    ratio = float(target_sr) / orig_sr
    num_samples = int(np.ceil(y.shape[axis] * ratio))
    y_hat = np.apply_along_axis(soxr.resample, axis, y, in_rate=orig_sr, out_rate=target_sr,
                                quality=res_type)
    if fix:
        y_hat = fix_length(y_hat, size=num_samples, axis=axis)
    if scale:
        y_hat /= np.sqrt(ratio)
    return np.asarray(y_hat, dtype=y.dtype)


def _read(soundfile, source, name: str, offset: float, duration: float | None,
          dtype: str) -> tuple[np.ndarray, int]:
    """The samples of an open-able source, (n,) or (channels, n), and its rate."""
    try:
        with soundfile.SoundFile(source) as file:
            native_sr = file.samplerate
            start = int(offset * native_sr)
            if start > file.frames:
                raise AudioFileError(f"{name}: offset {offset} s is past the end of the file "
                                     f"({file.frames / native_sr:.3f} s)")
            if start:
                file.seek(start)
            num_frames = -1 if duration is None else int(duration * native_sr)
            return file.read(frames=num_frames, dtype=dtype, always_2d=False).T, native_sr
    except soundfile.SoundFileError as error:
        reason = getattr(error, "error_string", None) or str(error)
        raise AudioFileError(f"{name}: not a readable audio file ({reason})") from None


def load(path, sr: float | None = None, mono: bool = True, offset: float = 0.0,
         duration: float | None = None, dtype=np.float32,
         res_type: str = "soxr_hq") -> tuple[np.ndarray, float]:
    """Read an audio file (librosa.load; but sr=None, the file's own rate,
    is the default here).

    Parameters
    ----------
    path : str or path-like, or anything soundfile opens (an open file
        object, a soundfile.SoundFile)
    sr : target sample rate (Hz); None keeps the file's (see ``resample``
        for the bounds)
    mono : mix the channels down to one (their mean)
    offset : seconds to skip at the start
    duration : seconds to read (None: to the end)
    dtype : np.float32 or np.float64; integer PCM is scaled to [-1, 1)
    res_type : soxr quality used when sr differs from the file's rate (see
        ``resample``)

    Returns
    -------
    y : (n,) when mono or the file has one channel, else (channels, n)
    sr : the sample rate of y

    Raises
    ------
    AudioFileError
        A ValueError naming the file and the reason: missing, a folder, not
        audio soundfile can read, or offset past the end.
    ValueError
        An argument out of its range, or a resampling beyond the bounds of
        ``resample`` (a file declaring 1 Hz read at 8 kHz).
    ImportError
        soundfile (or soxr, to resample) is not installed.
    """
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"load dtype: expected a floating-point dtype, got {dtype!r}")
    _check_number(offset, "load offset", 0)
    if duration is not None:
        _check_number(duration, "load duration", 0)
    if sr is not None:
        _check_number(sr, "load sr", MIN_SAMPLE_RATE)
    if isinstance(path, (str, bytes, os.PathLike)):
        path = os.fsdecode(path)
        name = path
        if not os.path.exists(path):
            raise AudioFileError(f"{path}: no such file")
        if os.path.isdir(path):
            raise AudioFileError(f"{path}: is a folder, not an audio file")
        if not os.access(path, os.R_OK):
            raise AudioFileError(f"{path}: permission denied")
    else:
        name = str(getattr(path, "name", path))
    soundfile = _import("soundfile")
    y, native_sr = _read(soundfile, path, name, offset, duration, np.dtype(dtype).name)
    if mono:
        y = to_mono(y)
    if sr is None:
        return y, native_sr
    return resample(y, orig_sr=native_sr, target_sr=sr, res_type=res_type), sr
