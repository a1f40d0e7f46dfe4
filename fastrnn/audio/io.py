"""Reading audio: soundfile for every format it knows, soxr to resample."""

import os

import numpy as np


class AudioFileError(ValueError):
    """An audio file that cannot be read (missing, unreadable, unsupported)."""


def _soundfile():
    try:
        import soundfile
    except ImportError as error:
        raise ImportError("reading audio needs soundfile: pip install 'fastrnn[audio]'") from error
    return soundfile


def resample(y: np.ndarray, orig_sr: float, target_sr: float) -> np.ndarray:
    """Resample along the last axis with soxr (quality "HQ", librosa's
    default "soxr_hq")."""
    if orig_sr == target_sr:
        return y
    try:
        import soxr
    except ImportError as error:
        raise ImportError("resampling needs soxr: pip install 'fastrnn[audio]'") from error
    resampled = soxr.resample(np.ascontiguousarray(y.T), orig_sr, target_sr, quality="HQ")
    return np.ascontiguousarray(resampled.T, dtype=y.dtype)


def load(path, sr: float | None = None, mono: bool = True, offset: float = 0.0,
         duration: float | None = None, dtype=np.float32):
    """Read an audio file, as librosa.load (but with sr=None as default: the
    file's own rate).

    Parameters
    ----------
    path : str or path-like
    sr : target sample rate; None keeps the file's
    mono : average the channels
    offset, duration : seconds to skip, seconds to read (None: to the end)

    Returns
    -------
    y : (n,) when mono (or the file has one channel), else (channels, n)
    sr : the sample rate of y

    Raises
    ------
    AudioFileError
        The file is missing or soundfile cannot read it.
    """
    soundfile = _soundfile()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioFileError(f"{path}: no such file")
    try:
        with soundfile.SoundFile(path) as file:
            file_sr = file.samplerate
            if offset:
                file.seek(int(round(offset * file_sr)))
            frames = -1 if duration is None else int(round(duration * file_sr))
            y = file.read(frames=frames, dtype=np.dtype(dtype).name, always_2d=True).T
    except (RuntimeError, soundfile.LibsndfileError, TypeError) as error:
        raise AudioFileError(f"{path}: not a readable audio file ({error})") from None
    if mono or y.shape[0] == 1:
        y = y.mean(axis=0, dtype=dtype) if y.shape[0] > 1 else y[0]
    if sr is not None and sr != file_sr:
        if sr <= 0:
            raise ValueError(f"sr: expected a positive sample rate, got {sr}")
        y = resample(y, file_sr, sr)
        file_sr = sr
    return np.ascontiguousarray(y, dtype=dtype), file_sr
