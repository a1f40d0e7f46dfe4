"""Windows and mel filterbanks, as ``librosa.filters`` builds them."""

import warnings

import numpy as np

# The largest sizes an argument (or a model file's front end) may ask for, so
# that none makes fastrnn allocate without bound: frames (FFTs, windows) of
# MAX_N_FFT samples (4 s at 16 kHz), and mel filters of MAX_MEL_WEIGHTS
# weights (16 MB in float64: n_mels 1023 at n_fft 4096, 63 at 65536).
MAX_N_FFT = 2 ** 16
MAX_MEL_WEIGHTS = 2 ** 21

# Windows computed here, with scipy.signal.get_window's exact arithmetic (so
# the values are bit for bit scipy's): name -> cosine-sum coefficients.
COSINE_WINDOWS = {
    "hann": (0.5, 1.0 - 0.5), "han": (0.5, 1.0 - 0.5),
    "hamming": (0.54, 1.0 - 0.54), "hamm": (0.54, 1.0 - 0.54), "ham": (0.54, 1.0 - 0.54),
    "blackman": (0.42, 0.50, 0.08), "black": (0.42, 0.50, 0.08), "blk": (0.42, 0.50, 0.08),
    "boxcar": (1.0,), "box": (1.0,), "ones": (1.0,), "rect": (1.0,), "rectangular": (1.0,),
}


def _cosine_window(coefficients: tuple, length: int, fftbins: bool) -> np.ndarray:
    """sum_k a_k cos(k x), x evenly spaced over [-pi, pi]; periodic (fftbins)
    windows are the first `length` points of a symmetric one of length + 1."""
    if length <= 1:
        return np.ones(length)
    points = length + 1 if fftbins else length
    phase = np.linspace(-np.pi, np.pi, points)
    window = np.zeros(points)
    for k, coefficient in enumerate(coefficients):
        window += np.float64(coefficient) * np.cos(k * phase)
    return window[:length] if fftbins else window


def check_fft_size(n_fft, name: str) -> None:
    """ValueError unless n_fft is an integer from 1 to MAX_N_FFT."""
    if not (isinstance(n_fft, (int, np.integer)) and not isinstance(n_fft, bool)
            and 1 <= n_fft <= MAX_N_FFT):
        raise ValueError(f"{name}: expected an integer from 1 to {MAX_N_FFT}, got {n_fft!r}")


def check_mel_size(n_fft: int, n_mels: int, name: str) -> None:
    """ValueError if n_mels filters of 1 + n_fft // 2 bins hold more than
    MAX_MEL_WEIGHTS weights (n_fft checked by check_fft_size first)."""
    weights = n_mels * (1 + n_fft // 2)
    if weights > MAX_MEL_WEIGHTS:
        raise ValueError(f"{name}: {n_mels} mel filters of {1 + n_fft // 2} FFT bins are "
                         f"{weights} weights, more than the {MAX_MEL_WEIGHTS} allowed; use "
                         f"fewer n_mels or a smaller n_fft")


def get_window(window, Nx: int, fftbins: bool = True) -> np.ndarray:
    """A window of Nx samples (librosa.filters.get_window), float64 (Nx,).

    Parameters
    ----------
    window : "hann", "hamming", "blackman", "boxcar" (and scipy's aliases),
        computed here; any other name, tuple such as ("kaiser", 8.0) or number
        goes to scipy.signal.get_window; a callable is called with Nx; an
        array of Nx values is returned as is
    Nx : window length, 1 to MAX_N_FFT
    fftbins : periodic (True, for spectral analysis, librosa's default) or
        symmetric (False)
    """
    check_fft_size(Nx, "window length")
    if callable(window):
        return window(Nx)
    if isinstance(window, str) and window in COSINE_WINDOWS:
        return _cosine_window(COSINE_WINDOWS[window], int(Nx), fftbins)
    if isinstance(window, (str, tuple)) or np.isscalar(window):
        try:
            from scipy.signal import get_window as scipy_get_window
        except ImportError as error:
            raise ImportError(f"window {window!r} needs scipy (built in: "
                              f"{sorted(COSINE_WINDOWS)}): pip install fastrnn[audio]") from error
        return scipy_get_window(window, Nx, fftbins=fftbins)
    if isinstance(window, (np.ndarray, list)):
        if len(window) == Nx:
            return np.asarray(window)
        raise ValueError(f"window: expected {Nx} values, got {len(window)}")
    raise ValueError(f"window: expected a name, tuple, callable or array, got {window!r}")


# The Slaney (Auditory Toolbox) mel scale: linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3                        # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0                     # where the logarithmic part begins
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0            # log(Hz) per mel in the logarithmic part


def hz_to_mel(frequencies, htk: bool = False) -> np.ndarray | np.floating:
    """Hz to mels (librosa.hz_to_mel): HTK's 2595 log10(1 + f / 700) or
    Slaney's scale. Scalars give scalars, arrays arrays of the same shape."""
    frequencies = np.asanyarray(frequencies)
    if htk:
        return 2595.0 * np.log10(1.0 + frequencies / 700.0)
    mels = frequencies / _F_SP
    logarithmic = frequencies >= _MIN_LOG_HZ
    if frequencies.ndim:
        mels[logarithmic] = (_MIN_LOG_MEL
                             + np.log(frequencies[logarithmic] / _MIN_LOG_HZ) / _LOGSTEP)
    elif logarithmic:
        mels = _MIN_LOG_MEL + np.log(frequencies / _MIN_LOG_HZ) / _LOGSTEP
    return mels


def mel_to_hz(mels, htk: bool = False) -> np.ndarray | np.floating:
    """Mels to Hz (librosa.mel_to_hz), the inverse of hz_to_mel."""
    mels = np.asanyarray(mels)
    if htk:
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    frequencies = _F_SP * mels
    logarithmic = mels >= _MIN_LOG_MEL
    if mels.ndim:
        frequencies[logarithmic] = _MIN_LOG_HZ * np.exp(_LOGSTEP
                                                        * (mels[logarithmic] - _MIN_LOG_MEL))
    elif logarithmic:
        frequencies = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels - _MIN_LOG_MEL))
    return frequencies


def mel_frequencies(n_mels: int = 128, fmin: float = 0.0, fmax: float = 11025.0,
                    htk: bool = False) -> np.ndarray:
    """n_mels frequencies (Hz) evenly spaced on the mel scale from fmin to fmax."""
    mels = np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels)
    return mel_to_hz(mels, htk=htk)


def fft_frequencies(sr: float = 22050, n_fft: int = 2048) -> np.ndarray:
    """The frequencies (Hz) of the 1 + n_fft // 2 bins of an rfft."""
    return np.fft.rfftfreq(n=n_fft, d=1.0 / sr)


def mel(sr: float, n_fft: int, n_mels: int = 128, fmin: float = 0.0,
        fmax: float | None = None, htk: bool = False, norm: str | None = "slaney",
        dtype=np.float32) -> np.ndarray:
    """Triangular mel filters (librosa.filters.mel).

    Parameters
    ----------
    sr : sample rate (Hz) of the signal the spectra come from
    n_fft : FFT size of those spectra, 1 to MAX_N_FFT
    n_mels : number of filters; n_mels * (1 + n_fft // 2) at most MAX_MEL_WEIGHTS
    fmin, fmax : lowest and highest frequency (Hz); fmax None means sr / 2
    htk : HTK's mel scale instead of Slaney's
    norm : "slaney" (each filter divided by its width in Hz / 2: constant
        energy per channel) or None (peaks of 1)
    dtype : of the result

    Returns
    -------
    weights : (n_mels, 1 + n_fft // 2); ``weights @ power_spectrum`` gives the
        mel spectrum

    Warns
    -----
    UserWarning
        Some filters fall between FFT bins and are all zero (too many mels
        for n_fft, or fmax above the Nyquist frequency), as librosa warns.
    """
    if not sr > 0:
        raise ValueError(f"mel sr: expected a sample rate > 0, got {sr!r}")
    check_fft_size(n_fft, "mel n_fft")
    if not (isinstance(n_mels, (int, np.integer)) and n_mels >= 1):
        raise ValueError(f"mel n_mels: expected an integer >= 1, got {n_mels!r}")
    check_mel_size(n_fft, n_mels, "mel n_mels")
    fmax = float(sr) / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax:
        raise ValueError(f"mel fmin/fmax: expected 0 <= fmin < fmax, got fmin={fmin}, "
                         f"fmax={fmax}")
    if norm not in ("slaney", None):
        raise ValueError(f"mel norm: expected 'slaney' or None, got {norm!r}")
    # The operations and their order are librosa's, so that the float32
    # result is bit for bit librosa's (each filter rounded, then normalised).
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=dtype)
    fft_hz = fft_frequencies(sr=sr, n_fft=n_fft)
    mel_hz = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)
    widths = np.diff(mel_hz)
    ramps = np.subtract.outer(mel_hz, fft_hz)
    for index in range(n_mels):
        rising = -ramps[index] / widths[index]
        falling = ramps[index + 2] / widths[index + 1]
        weights[index] = np.maximum(0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= (2.0 / (mel_hz[2:n_mels + 2] - mel_hz[:n_mels]))[:, np.newaxis]
    if not np.all((mel_hz[:-2] == 0) | (weights.max(axis=1) > 0)):
        warnings.warn("Empty filters detected in mel frequency basis: some channels will "
                      "always be zero. Use a higher sample rate (and fmax) or fewer n_mels.",
                      stacklevel=2)
    return weights
