"""Spectral features with librosa.feature's names and defaults, output
(features, frames)."""

import numpy as np

from . import filters
from .spectral import power_to_db, stft


def _spectrogram(y, S, n_fft, hop_length, win_length, window, center, pad_mode, power):
    if S is not None:
        return S
    if y is None:
        raise ValueError("expected an audio signal y or a spectrogram S, got neither")
    return np.abs(stft(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                       window=window, center=center, pad_mode=pad_mode)) ** power


def melspectrogram(y=None, sr: float = 22050, S=None, n_fft: int = 2048, hop_length: int = 512,
                   win_length: int | None = None, window: str = "hann", center: bool = True,
                   pad_mode: str = "constant", power: float = 2.0, n_mels: int = 128,
                   fmin: float = 0.0, fmax: float | None = None, htk: bool = False,
                   norm: str | None = "slaney") -> np.ndarray:
    """Mel spectrogram (n_mels, frames): mel filters applied to |STFT|^power
    (or to a given power spectrogram S (1 + n_fft // 2, frames))."""
    spectrogram = _spectrogram(y, S, n_fft, hop_length, win_length, window, center, pad_mode,
                               power)
    basis = filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk,
                        norm=norm, dtype=spectrogram.dtype)
    return basis @ spectrogram


def dct_matrix(n_out: int, n_in: int, dtype=np.float64) -> np.ndarray:
    """Orthonormal DCT-II rows (n_out, n_in): scipy.fft.dct(type=2, norm="ortho")."""
    k = np.arange(n_out)[:, np.newaxis]
    n = np.arange(n_in)[np.newaxis, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[0] /= np.sqrt(2.0)
    return basis.astype(dtype)


def mfcc(y=None, sr: float = 22050, S=None, n_mfcc: int = 20, dct_type: int = 2,
         norm: str | None = "ortho", lifter: float = 0, **mel_options) -> np.ndarray:
    """Mel-frequency cepstral coefficients (n_mfcc, frames): DCT-II (ortho) of
    the log-power (dB, top_db 80) mel spectrogram, as librosa.feature.mfcc.
    S, if given, is a log-power mel spectrogram."""
    if dct_type != 2 or norm != "ortho":
        raise ValueError(f"mfcc: only dct_type=2 with norm='ortho' is implemented, got "
                         f"dct_type={dct_type}, norm={norm!r}")
    if S is None:
        S = power_to_db(melspectrogram(y=y, sr=sr, **mel_options))
    coefficients = dct_matrix(n_mfcc, S.shape[0], S.dtype) @ S
    if lifter > 0:
        lifters = 1 + (lifter / 2) * np.sin(np.pi * np.arange(1, n_mfcc + 1) / lifter)
        coefficients *= lifters[:, np.newaxis].astype(S.dtype)
    elif lifter < 0:
        raise ValueError(f"mfcc: expected lifter >= 0, got {lifter}")
    return coefficients


def delta(data, width: int = 9, order: int = 1, axis: int = -1, mode: str = "interp"):
    """Local derivative of `order` along `axis` by a Savitzky-Golay filter of
    `width` (odd, >= 3) samples, as librosa.feature.delta (needs scipy)."""
    from scipy.signal import savgol_filter

    data = np.asarray(data)
    if width < 3 or width % 2 != 1:
        raise ValueError(f"delta: expected an odd width >= 3, got {width}")
    if order < 1:
        raise ValueError(f"delta: expected order >= 1, got {order}")
    if mode == "interp" and width > data.shape[axis]:
        raise ValueError(f"delta: width={width} exceeds the data's {data.shape[axis]} frames "
                         "(mode='interp')")
    return savgol_filter(data, width, deriv=order, polyorder=order, axis=axis, mode=mode)
