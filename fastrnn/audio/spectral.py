"""The short-time Fourier transform and decibels, with librosa's conventions:
(..., frequency, time) orientation, periodic windows, ``center=True``
padding with zeros."""

import warnings

import numpy as np

from .filters import check_fft_size, get_window
from .util import frame, pad_center

# np.pad modes librosa.stft rejects (they read the whole signal).
_UNSUPPORTED_PAD_MODES = ("wrap", "maximum", "mean", "median", "minimum")
# Frames are windowed and transformed this many bytes of frames at a time,
# so that a long signal never needs all its float64 frames at once.
_BLOCK_BYTES = 2 ** 22


def check_audio(y) -> np.ndarray:
    """y as an array of finite floating-point samples (..., n), as
    librosa.util.valid_audio demands."""
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"audio: expected floating-point samples, got dtype {y.dtype}")
    if y.ndim == 0:
        raise ValueError("audio: expected at least one dimension (..., n), got a scalar")
    if not np.isfinite(y).all():
        raise ValueError("audio: the samples are not all finite (NaN or infinity)")
    return y


def stft(y: np.ndarray, n_fft: int = 2048, hop_length: int | None = None,
         win_length: int | None = None, window="hann", center: bool = True,
         pad_mode: str = "constant", dtype=None) -> np.ndarray:
    """Short-time Fourier transform (librosa.stft).

    Frame t covers samples [t * hop_length, t * hop_length + n_fft) of the
    signal, after padding it with n_fft // 2 samples on both sides when
    `center` (so that frame t is centred on sample t * hop_length). Each frame
    is multiplied by the window (win_length samples, zero-padded to n_fft in
    the middle) and transformed in float64, as librosa does.

    Parameters
    ----------
    y : (..., n) floating-point samples (channels first, like librosa)
    n_fft : FFT size, 1 to ``filters.MAX_N_FFT``
    hop_length : samples between frames; default win_length // 4
    win_length : window length <= n_fft; default n_fft
    window : see ``filters.get_window``
    center : pad the signal so that frames are centred on their time
    pad_mode : np.pad mode for the centring ("constant": zeros, "reflect", ...)
    dtype : complex dtype of the result; default complex64 for float32 input,
        complex128 for float64

    Returns
    -------
    D : complex (..., 1 + n_fft // 2, num_frames), num_frames =
        1 + len // hop_length with center, 1 + (len - n_fft) // hop_length without
    """
    y = check_audio(y)
    check_fft_size(n_fft, "stft n_fft")
    win_length = n_fft if win_length is None else win_length
    if hop_length is None:
        hop_length = int(win_length // 4)
    if not (isinstance(hop_length, (int, np.integer)) and hop_length > 0):
        raise ValueError(f"stft hop_length: expected an integer > 0, got {hop_length!r}")
    fft_window = pad_center(get_window(window, win_length, fftbins=True), size=n_fft)
    if center:
        if pad_mode in _UNSUPPORTED_PAD_MODES:
            raise ValueError(f"stft pad_mode: {pad_mode!r} is not supported (as in librosa)")
        if n_fft > y.shape[-1]:
            warnings.warn(f"n_fft={n_fft} is too large for an input signal of length "
                          f"{y.shape[-1]}", stacklevel=2)
        padding = [(0, 0)] * (y.ndim - 1) + [(n_fft // 2, n_fft // 2)]
        y = np.pad(y, padding, mode=pad_mode)
    elif n_fft > y.shape[-1]:
        raise ValueError(f"stft n_fft: {n_fft} is too large for uncentered analysis of a "
                         f"signal of length {y.shape[-1]}")
    if dtype is None:
        dtype = np.complex128 if y.dtype == np.float64 else np.complex64
    frames = frame(y, frame_length=n_fft, hop_length=hop_length)
    num_frames = frames.shape[-1]
    D = np.empty(frames.shape[:-2] + (1 + n_fft // 2, num_frames), dtype=dtype)
    block = max(1, _BLOCK_BYTES // (8 * frames[..., 0].size))
    for start in range(0, num_frames, block):
        D[..., start:start + block] = np.fft.rfft(
            fft_window[:, np.newaxis] * frames[..., start:start + block], axis=-2)
    return D


def power_to_db(S, ref=1.0, amin: float = 1e-10, top_db: float | None = 80.0) -> np.ndarray:
    """Power to decibels (librosa.power_to_db):
    10 log10(max(S, amin)) - 10 log10(max(ref, amin)), then floored at
    top_db below the maximum (top_db None: no floor).

    Parameters
    ----------
    S : power spectrogram (any shape); complex input uses |S| (with a warning)
    ref : scalar reference, or a callable giving it from |S| (e.g. np.max)
    amin : smallest power taken into account (> 0)
    top_db : dynamic range kept below the peak, or None

    Returns
    -------
    S_db : same shape as S
    """
    S = np.asarray(S)
    if amin <= 0:
        raise ValueError(f"power_to_db amin: expected > 0, got {amin}")
    if np.issubdtype(S.dtype, np.complexfloating):
        warnings.warn("power_to_db was called on complex input so phase information will "
                      "be discarded: call power_to_db(np.abs(D) ** 2) instead.", stacklevel=2)
        magnitude = np.abs(S)
    else:
        magnitude = S
    ref_value = ref(magnitude) if callable(ref) else np.abs(ref)
    log_spec = 10.0 * np.log10(np.maximum(amin, magnitude))
    log_spec -= 10.0 * np.log10(np.maximum(amin, ref_value))
    if top_db is not None:
        if top_db < 0:
            raise ValueError(f"power_to_db top_db: expected >= 0 or None, got {top_db}")
        log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return log_spec


def amplitude_to_db(S, ref=1.0, amin: float = 1e-5, top_db: float | None = 80.0) -> np.ndarray:
    """Amplitude to decibels (librosa.amplitude_to_db): 20 log10(|S| / ref),
    i.e. power_to_db(|S|^2, ref^2, amin^2, top_db)."""
    S = np.asarray(S)
    if np.issubdtype(S.dtype, np.complexfloating):
        warnings.warn("amplitude_to_db was called on complex input so phase information "
                      "will be discarded: call amplitude_to_db(np.abs(D)) instead.",
                      stacklevel=2)
    magnitude = np.abs(S)
    ref_value = ref(magnitude) if callable(ref) else np.abs(ref)
    return power_to_db(np.square(magnitude), ref=ref_value ** 2, amin=amin ** 2, top_db=top_db)


def db_to_power(S_db, ref: float = 1.0) -> np.ndarray:
    """Decibels to power (librosa.db_to_power): ref * 10^(S_db / 10)."""
    return ref * np.power(10.0, np.asarray(S_db) * 0.1)


def db_to_amplitude(S_db, ref: float = 1.0) -> np.ndarray:
    """Decibels to amplitude (librosa.db_to_amplitude): ref * 10^(S_db / 20)."""
    return db_to_power(S_db, ref=ref ** 2) ** 0.5
