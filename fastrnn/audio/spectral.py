"""Framing, windows, STFT and decibels, with librosa's conventions:
(frequency, time) orientation, periodic windows, ``center=True`` padding."""

import numpy as np

WINDOWS = ("hann", "hamming", "rectangular", "ones", "boxcar")


def get_window(window: str, length: int) -> np.ndarray:
    """A periodic window of `length` samples (scipy's fftbins=True): "hann",
    "hamming" or "rectangular" (also "ones", "boxcar")."""
    if window not in WINDOWS:
        raise ValueError(f"window: expected one of {WINDOWS}, got {window!r}")
    if window in ("rectangular", "ones", "boxcar"):
        return np.ones(length)
    phase = 2 * np.pi * np.arange(length) / length
    if window == "hann":
        return 0.5 - 0.5 * np.cos(phase)
    return 0.54 - 0.46 * np.cos(phase)


def pad_center(data: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad a 1-D array on both sides to `size` (librosa.util.pad_center)."""
    if size < len(data):
        raise ValueError(f"pad_center: expected size >= {len(data)}, got {size}")
    left = (size - len(data)) // 2
    return np.pad(data, (left, size - len(data) - left))


def stft_window(n_fft: int, win_length: int | None, window: str) -> np.ndarray:
    win_length = n_fft if win_length is None else win_length
    if not 0 < win_length <= n_fft:
        raise ValueError(f"win_length: expected 1 <= win_length <= n_fft = {n_fft}, got "
                         f"{win_length}")
    return pad_center(get_window(window, win_length), n_fft)


def frame(y: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Overlapping frames of a 1-D signal as a view, shape (frame_length,
    n_frames) (librosa.util.frame on the last axis)."""
    if frame_length < 1 or hop_length < 1:
        raise ValueError(f"frame: expected frame_length and hop_length >= 1, got "
                         f"{frame_length} and {hop_length}")
    if len(y) < frame_length:
        raise ValueError(f"frame: the signal has {len(y)} samples, fewer than one frame of "
                         f"{frame_length}")
    windows = np.lib.stride_tricks.sliding_window_view(y, frame_length)[::hop_length]
    return windows.T


def stft(y: np.ndarray, n_fft: int = 2048, hop_length: int | None = None,
         win_length: int | None = None, window: str = "hann", center: bool = True,
         pad_mode: str = "constant") -> np.ndarray:
    """Short-time Fourier transform, complex (1 + n_fft // 2, n_frames), as
    librosa.stft: hop_length default win_length // 4; with `center`, the
    signal is padded by n_fft // 2 on both sides (zeros, or `pad_mode`)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"stft: expected a mono signal (n,), got shape {y.shape}")
    win_length = n_fft if win_length is None else win_length
    hop_length = win_length // 4 if hop_length is None else hop_length
    fft_window = stft_window(n_fft, win_length, window)
    if center:
        y = np.pad(y, n_fft // 2, mode=pad_mode)
    frames = frame(y, n_fft, hop_length)
    dtype = np.complex64 if y.dtype == np.float32 else np.complex128
    return np.fft.rfft(frames * fft_window[:, np.newaxis].astype(y.dtype), axis=0).astype(dtype)


def power_to_db(S, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0):
    """10 log10(max(S, amin) / ref), clipped to top_db below the maximum."""
    S = np.asarray(S)
    if amin <= 0:
        raise ValueError(f"power_to_db: expected amin > 0, got {amin}")
    magnitude = np.abs(S) if np.iscomplexobj(S) else S
    ref_value = ref(magnitude) if callable(ref) else np.abs(ref)
    log_spec = 10.0 * np.log10(np.maximum(amin, magnitude))
    log_spec -= 10.0 * np.log10(np.maximum(amin, ref_value))
    if top_db is not None:
        if top_db < 0:
            raise ValueError(f"power_to_db: expected top_db >= 0, got {top_db}")
        log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return log_spec


def amplitude_to_db(S, ref: float = 1.0, amin: float = 1e-5, top_db: float | None = 80.0):
    """20 log10(max(|S|, amin) / ref): power_to_db of |S|^2."""
    magnitude = np.abs(S)
    ref_value = ref(magnitude) if callable(ref) else np.abs(ref)
    return power_to_db(magnitude ** 2, ref=ref_value ** 2, amin=amin ** 2, top_db=top_db)


def db_to_power(S_db, ref: float = 1.0):
    return ref * np.power(10.0, 0.1 * np.asarray(S_db))
