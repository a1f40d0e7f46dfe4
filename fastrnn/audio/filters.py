"""Mel filterbanks, as ``librosa.filters.mel`` builds them."""

import numpy as np


def hz_to_mel(frequencies, htk: bool = False):
    """Hz to mels: HTK's 2595 log10(1 + f / 700), or Slaney's (linear below
    1 kHz, logarithmic above), as librosa.hz_to_mel."""
    frequencies = np.asanyarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + frequencies / 700.0)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    mels = frequencies / f_sp
    log_part = frequencies >= min_log_hz
    return np.where(log_part, min_log_mel + np.log(np.maximum(frequencies, min_log_hz)
                                                   / min_log_hz) / logstep, mels)


def mel_to_hz(mels, htk: bool = False):
    """The inverse of hz_to_mel."""
    mels = np.asanyarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)),
                    f_sp * mels)


def mel_frequencies(n_mels: int = 128, fmin: float = 0.0, fmax: float = 11025.0,
                    htk: bool = False) -> np.ndarray:
    """n_mels frequencies evenly spaced in mels between fmin and fmax (Hz)."""
    mels = np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels)
    return mel_to_hz(mels, htk)


def fft_frequencies(sr: float = 22050, n_fft: int = 2048) -> np.ndarray:
    """The 1 + n_fft // 2 frequencies (Hz) of an rfft's bins."""
    return np.fft.rfftfreq(n=n_fft, d=1.0 / sr)


def mel(sr: float, n_fft: int, n_mels: int = 128, fmin: float = 0.0,
        fmax: float | None = None, htk: bool = False, norm: str | None = "slaney",
        dtype=np.float32) -> np.ndarray:
    """Triangular mel filters, shape (n_mels, 1 + n_fft // 2).

    Parameters
    ----------
    sr, n_fft : sample rate and FFT size of the spectra the filters apply to
    n_mels, fmin, fmax : number of filters and their range in Hz (fmax
        default sr / 2)
    htk : HTK's mel scale instead of Slaney's
    norm : "slaney" (each filter's area 1 in Hz, as librosa) or None (peak 1)
    """
    if sr <= 0 or n_fft < 1 or n_mels < 1:
        raise ValueError(f"mel: expected sr > 0, n_fft >= 1 and n_mels >= 1, got sr={sr}, "
                         f"n_fft={n_fft}, n_mels={n_mels}")
    fmax = float(sr) / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax:
        raise ValueError(f"mel: expected 0 <= fmin < fmax, got fmin={fmin}, fmax={fmax}")
    if norm not in ("slaney", None):
        raise ValueError(f"mel: norm expected 'slaney' or None, got {norm!r}")
    fft_hz = fft_frequencies(sr=sr, n_fft=n_fft)
    mel_hz = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)
    widths = np.diff(mel_hz)
    ramps = np.subtract.outer(mel_hz, fft_hz)
    lower = -ramps[:-2] / widths[:-1, np.newaxis]
    upper = ramps[2:] / widths[1:, np.newaxis]
    weights = np.maximum(0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_hz[2:n_mels + 2] - mel_hz[:n_mels]))[:, np.newaxis]
    return weights.astype(dtype)
