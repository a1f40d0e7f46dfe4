"""Spectral features with librosa.feature's names and defaults, output
(..., features, frames)."""

import math

import numpy as np

from . import filters
from .spectral import power_to_db, stft

# The widest delta an argument (or a model file's front end) may ask for: its
# weights are width x width per order.
MAX_DELTA_WIDTH = 255

# delta's edge modes other than "interp" -> the np.pad mode that extends the
# data the same way (scipy.signal.savgol_filter's meaning of each).
_DELTA_PAD_MODES = {"mirror": "reflect", "nearest": "edge", "constant": "constant",
                    "wrap": "wrap"}


def melspectrogram(y: np.ndarray | None = None, sr: float = 22050, S: np.ndarray | None = None,
                   n_fft: int = 2048, hop_length: int = 512, win_length: int | None = None,
                   window="hann", center: bool = True, pad_mode: str = "constant",
                   power: float = 2.0, n_mels: int = 128, fmin: float = 0.0,
                   fmax: float | None = None, htk: bool = False,
                   norm: str | None = "slaney") -> np.ndarray:
    """Mel spectrogram (librosa.feature.melspectrogram): mel filters applied
    to |STFT(y)|^power, or to a given spectrogram S.

    Parameters
    ----------
    y : (..., n) samples, or None when S is given
    sr : sample rate (Hz)
    S : (..., 1 + n_fft // 2, frames) magnitude or power spectrogram; its
        n_fft is taken from its shape
    n_fft, hop_length, win_length, window, center, pad_mode : see ``stft``
    power : exponent of the magnitude (2: power, 1: energy)
    n_mels, fmin, fmax, htk, norm : see ``filters.mel``

    Returns
    -------
    M : (..., n_mels, frames), float32 for float32 input
    """
    if S is not None:
        S = np.asarray(S)
        if n_fft // 2 + 1 != S.shape[-2]:
            n_fft = 2 * (S.shape[-2] - 1)
    elif y is None:
        raise ValueError("melspectrogram: expected an audio signal y or a spectrogram S, "
                         "got neither")
    else:
        S = np.abs(stft(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                        window=window, center=center, pad_mode=pad_mode)) ** power
    mel_basis = filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk,
                            norm=norm)
    return np.matmul(mel_basis, S)


def dct_matrix(num_coefficients: int, size: int, dct_type: int = 2,
               norm: str | None = "ortho") -> np.ndarray:
    """The first num_coefficients rows of the DCT of `size` points as a
    matrix, float64 (num_coefficients, size): ``dct_matrix(...) @ x`` equals
    ``scipy.fft.dct(x, type=dct_type, norm=norm, axis=0)[:num_coefficients]``.

    dct_type 1 (size >= 2), 2, 3 or 4; norm None or "backward" (unscaled),
    "ortho" (orthonormal) or "forward" (scaled by 1 / (2 size), or
    1 / (2 (size - 1)) for type 1).
    """
    if norm not in (None, "backward", "ortho", "forward"):
        raise ValueError(f"dct norm: expected None, 'backward', 'ortho' or 'forward', got "
                         f"{norm!r}")
    k = np.arange(num_coefficients)[:, np.newaxis]
    n = np.arange(size)[np.newaxis, :]
    if dct_type == 1:
        if size < 2:
            raise ValueError(f"dct type 1: expected at least 2 points, got {size}")
        # y_k = x_0 + (-1)^k x_{N-1} + 2 sum_{n=1}^{N-2} x_n cos(pi k n / (N - 1))
        basis = 2 * np.cos(np.pi * k * n / (size - 1))
        basis[:, [0, -1]] /= 2
        if norm == "ortho":
            basis[:, [0, -1]] *= np.sqrt(2)
            basis[(k[:, 0] == 0) | (k[:, 0] == size - 1)] /= np.sqrt(2)
            basis /= np.sqrt(2 * (size - 1))
        forward_scale = 2 * (size - 1)
    elif dct_type == 2:
        # y_k = 2 sum_n x_n cos(pi k (2n + 1) / (2N))
        basis = 2 * np.cos(np.pi * k * (2 * n + 1) / (2 * size))
        if norm == "ortho":
            basis *= np.where(k == 0, np.sqrt(1 / (4 * size)), np.sqrt(1 / (2 * size)))
        forward_scale = 2 * size
    elif dct_type == 3:
        # y_k = x_0 + 2 sum_{n>=1} x_n cos(pi n (2k + 1) / (2N))
        basis = np.where(n == 0, 1.0, 2.0) * np.cos(np.pi * n * (2 * k + 1) / (2 * size))
        if norm == "ortho":
            basis *= np.where(n == 0, np.sqrt(1 / size), np.sqrt(1 / (2 * size)))
        forward_scale = 2 * size
    elif dct_type == 4:
        # y_k = 2 sum_n x_n cos(pi (2k + 1) (2n + 1) / (4N))
        basis = 2 * np.cos(np.pi * (2 * k + 1) * (2 * n + 1) / (4 * size))
        if norm == "ortho":
            basis /= np.sqrt(2 * size)
        forward_scale = 2 * size
    else:
        raise ValueError(f"dct_type: expected 1, 2, 3 or 4, got {dct_type!r}")
    if norm == "forward":
        basis /= forward_scale
    return basis


def mfcc(y: np.ndarray | None = None, sr: float = 22050, S: np.ndarray | None = None,
         n_mfcc: int = 20, dct_type: int = 2, norm: str | None = "ortho", lifter: float = 0,
         mel_norm: str | None = "slaney", **kwargs) -> np.ndarray:
    """Mel-frequency cepstral coefficients (librosa.feature.mfcc): the DCT of
    the log-power mel spectrogram power_to_db(melspectrogram(y)) (top_db 80).

    Parameters
    ----------
    y : (..., n) samples, or None when S is given
    sr : sample rate (Hz)
    S : (..., n_mels, frames) log-power (dB) mel spectrogram, instead of y
    n_mfcc : number of coefficients kept
    dct_type, norm : the DCT (see ``dct_matrix``); librosa's default is the
        orthonormal DCT-II
    lifter : > 0 scales coefficient i by 1 + (lifter / 2) sin(pi (i + 1) / lifter)
    mel_norm : ``norm`` of the mel filters
    **kwargs : melspectrogram's parameters (n_fft, hop_length, n_mels, fmin, ...)

    Returns
    -------
    M : (..., n_mfcc, frames)
    """
    if lifter < 0:
        raise ValueError(f"mfcc lifter: expected a number >= 0, got {lifter}")
    if S is None:
        S = power_to_db(melspectrogram(y=y, sr=sr, norm=mel_norm, **kwargs))
    S = np.asarray(S)
    num_coefficients = min(n_mfcc, S.shape[-2])
    basis = dct_matrix(num_coefficients, S.shape[-2], dct_type=dct_type, norm=norm)
    M = np.matmul(basis, S).astype(S.dtype, copy=False)
    if lifter > 0:
        lifters = np.sin(np.pi * np.arange(1, 1 + num_coefficients, dtype=M.dtype) / lifter)
        M *= (1 + (lifter / 2) * lifters)[:, np.newaxis]
    return M


def savgol_coefficients(width: int, order: int, position: int) -> np.ndarray:
    """Savitzky-Golay weights, float64 (width,): the dot product of a window
    of `width` samples with them is the `order`-th derivative, at sample
    `position` of the window, of the polynomial of degree `order` fitted to
    the window by least squares (scipy.signal.savgol_coeffs(width, order,
    deriv=order, pos=position, use="dot"))."""
    offsets = np.arange(width, dtype=np.float64) - position
    powers = offsets[np.newaxis, :] ** np.arange(order + 1)[:, np.newaxis]    # (order + 1, width)
    target = np.zeros(order + 1)
    target[order] = math.factorial(order)
    return np.linalg.lstsq(powers, target, rcond=None)[0]


def delta(data: np.ndarray, width: int = 9, order: int = 1, axis: int = -1,
          mode: str = "interp") -> np.ndarray:
    """Local estimate of the derivative of `data` along `axis`
    (librosa.feature.delta): a Savitzky-Golay filter of `width` samples and
    polynomial degree `order`.

    Parameters
    ----------
    data : (..., frames) features, e.g. the output of mfcc
    width : odd number of frames in each fit, 3 to MAX_DELTA_WIDTH; with mode
        "interp" at most the number of frames
    order : 1 (delta), 2 (delta-delta), ..., below width
    axis : the time axis
    mode : at the edges, "interp" fits the polynomial to the first / last
        `width` frames; "mirror", "nearest", "constant" (zeros) and "wrap"
        extend the data instead (scipy.signal.savgol_filter's modes)

    Returns
    -------
    delta_data : same shape and floating dtype as data
    """
    data = np.atleast_1d(data)
    if not (isinstance(width, (int, np.integer)) and 3 <= width <= MAX_DELTA_WIDTH
            and width % 2 == 1):
        raise ValueError(f"delta width: expected an odd integer from 3 to {MAX_DELTA_WIDTH}, "
                         f"got {width!r}")
    if not (isinstance(order, (int, np.integer)) and 1 <= order < width):
        raise ValueError(f"delta order: expected a positive integer below width ({width}), "
                         f"got {order!r}")
    if mode != "interp" and mode not in _DELTA_PAD_MODES:
        raise ValueError(f"delta mode: expected 'interp' or one of {sorted(_DELTA_PAD_MODES)}, "
                         f"got {mode!r}")
    if mode == "interp" and width > data.shape[axis]:
        raise ValueError(f"delta width: with mode='interp', width={width} cannot exceed "
                         f"data.shape[axis]={data.shape[axis]}")
    dtype = data.dtype if data.dtype in (np.float32, np.float64) else np.float64
    series = np.moveaxis(data, axis, -1).astype(np.float64)
    half = width // 2
    centred = savgol_coefficients(width, order, half)
    if mode == "interp":
        edges = np.stack([savgol_coefficients(width, order, p) for p in range(width)])
        windows = np.lib.stride_tricks.sliding_window_view(series, width, axis=-1)
        result = np.concatenate([series[..., :width] @ edges[:half].T,
                                 windows @ centred,
                                 series[..., -width:] @ edges[half + 1:].T], axis=-1)
    else:
        padding = [(0, 0)] * (series.ndim - 1) + [(half, half)]
        padded = np.pad(series, padding, mode=_DELTA_PAD_MODES[mode])
        result = np.lib.stride_tricks.sliding_window_view(padded, width, axis=-1) @ centred
    return np.moveaxis(result.astype(dtype), -1, axis)
