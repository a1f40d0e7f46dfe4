"""The features a model listens to, computed offline or block by block.

A ``FrontEnd`` describes the features (sample rate, framing, mel filters,
log-mel / dB-mel / MFCC, deltas, normalisation statistics) and is saved
inside the model file (``model.metadata["front_end"] = front_end.to_dict()``).
``FrontEnd.features(y)`` computes them for a whole signal, time-major
(frames, num_features) float32. ``FrontEnd.stream()`` gives a
``StreamingFeatures`` that takes blocks of samples of any size, as a sound
card delivers them, and returns the frames that became complete.

Both run in C (csrc/frontend.c, through ``fastrnn._engine.FrontEndStream``)
when n_fft is a power of two from 64 to 4096 (``FrontEnd.runs_in_c``), for one
stream or N at once (``stream(batch_size=N)``); other sizes, and
``features(y, reference=True)`` / ``StreamingFeatures``, run the NumPy
reference path, which the C path is tested against (within 1e-5 of it).
Each path gives streamed frames equal to its offline ones bit for bit,
whatever the block sizes: the same per-frame code runs on the same samples.
The NumPy per-frame code (``_FrameKernel``) is a handful of NumPy calls on
preallocated arrays of fixed shapes and alignment: window, rfft, |X|^2, one
matrix-vector product with the mel filters, log (in float64, rounded to
float32 at the end). (Batching frames into one matrix product would not do:
BLAS picks different kernels, and so different summation orders, for one
frame and for many.)

Framing is ``center=False``: frame k covers samples
[k * hop_length, k * hop_length + n_fft). A frame is complete when its last
sample has arrived, so a stream gives its first frame once n_fft samples
have arrived, then one frame per hop_length samples. With deltas the frames
come ``delta_width // 2`` frames later (see ``StreamingFeatures``).
"""

from dataclasses import dataclass, field, fields

import numpy as np

from .. import runtime
from .._engine import FrontEndEngine, FrontEndStream, as_c_float32, fft_sizes
from . import filters
from .feature import MAX_DELTA_WIDTH, dct_matrix, savgol_coefficients
from .util import aligned_copy, aligned_empty, pad_center

FEATURES = ("log_mel", "mel_db", "mfcc")
MEL_DB_AMIN = 1e-10          # power_to_db's amin: the floor of mel_db (-100 dB)
FRAMES_PER_CHUNK = 64        # a stream's sample buffer holds n_fft + 64 hops
_CONSTANT_STD = 1e-8         # Normalizer.fit: features this flat get std 1


class Normalizer:
    """Per-feature standardisation with stored statistics: (x - mean) / std.

    Statistics are kept in float64 (``mean``, ``std``, what ``to_dict``
    saves) and applied in float32.

    >>> normalizer = Normalizer.fit([features_1, features_2])   # (frames, F) each
    >>> x = normalizer(features)                                 # (frames, F) float32
    """

    def __init__(self, mean, std) -> None:
        try:
            mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"Normalizer mean/std: expected numbers, got {type(mean).__name__} "
                             f"and {type(std).__name__}") from None
        if mean.ndim != 1 or mean.shape != std.shape or mean.size == 0:
            raise ValueError(f"Normalizer mean/std: expected two 1-D arrays of the same "
                             f"length, got shapes {mean.shape} and {std.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            raise ValueError("Normalizer mean/std: expected finite values")
        if not (std > 0).all():
            raise ValueError(f"Normalizer std: expected values > 0, got minimum {std.min()}")
        self.mean, self.std = mean, std
        self.mean.flags.writeable = self.std.flags.writeable = False
        self._mean = aligned_copy(mean, np.float32)
        self._std = aligned_copy(std, np.float32)

    @property
    def num_features(self) -> int:
        return self.mean.size

    @classmethod
    def fit(cls, features) -> "Normalizer":
        """Mean and (population) standard deviation of each feature over all
        frames of `features`: a list of (frames, F) arrays, or one such array.
        Features with std below 1e-8 (constant) get std 1: centred, not scaled."""
        arrays = [features] if isinstance(features, np.ndarray) else list(features)
        arrays = [np.asarray(a) for a in arrays]
        if not arrays or any(a.ndim != 2 or a.shape[1] != arrays[0].shape[1] for a in arrays):
            raise ValueError(f"Normalizer.fit: expected (frames, F) arrays with the same F, "
                             f"got shapes {[a.shape for a in arrays]}")
        count = sum(len(a) for a in arrays)
        if count == 0:
            raise ValueError("Normalizer.fit: expected at least one frame, got none")
        mean = sum(a.sum(axis=0, dtype=np.float64) for a in arrays) / count
        variance = sum(np.square(a - mean).sum(axis=0) for a in arrays) / count
        std = np.sqrt(variance)
        return cls(mean, np.where(std < _CONSTANT_STD, 1.0, std))

    def __call__(self, features) -> np.ndarray:
        """(..., F) features -> normalised float32 copy (..., F)."""
        features = np.array(features, dtype=np.float32)
        if features.ndim == 0 or features.shape[-1] != self.num_features:
            raise ValueError(f"Normalizer: expected features (..., {self.num_features}), got "
                             f"shape {features.shape}")
        self.normalize_in_place(features)
        return features

    def normalize_in_place(self, features: np.ndarray) -> None:
        """Normalise a float32 (..., F) array in place (elementwise, so any
        batch of frames gives each frame the same values)."""
        np.subtract(features, self._mean, out=features)
        np.divide(features, self._std, out=features)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> "Normalizer":
        return cls(data["mean"], data["std"])

    def __eq__(self, other) -> bool:
        return (isinstance(other, Normalizer) and np.array_equal(self.mean, other.mean)
                and np.array_equal(self.std, other.std))

    def __repr__(self) -> str:
        return f"Normalizer(num_features={self.num_features})"


def _check_integer(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"FrontEnd {name}: expected an integer >= {minimum}, got {value!r}")


def _check_number(name: str, value, minimum: float, strict: bool) -> None:
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
            or not np.isfinite(value) or value < minimum or (strict and value == minimum)):
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise ValueError(f"FrontEnd {name}: expected a number {bound}, got {value!r}")


@dataclass(frozen=True)
class FrontEnd:
    """What a model listens to: framing, features and their normalisation
    (librosa's parameter names), offline with ``features`` and block by
    block with ``stream``.

    Parameters
    ----------
    sample_rate : Hz, of the samples given to ``features`` / ``stream``
    n_fft : samples per frame (and FFT size), at most ``filters.MAX_N_FFT``
    hop_length : samples between frame starts, 1..n_fft
    win_length : window length (zero-padded to n_fft), default n_fft
    window : window name (see ``filters.get_window``), periodic
    feature : "log_mel": log(mel power + log_floor), natural log;
        "mel_db": power_to_db(mel power, ref=1, amin=1e-10, top_db=None)
        (no top_db: it would depend on the whole signal);
        "mfcc": the first n_mfcc coefficients of the orthonormal DCT-II of
        mel_db (librosa.feature.mfcc of it)
    n_mels, fmin, fmax, htk, norm : the mel filters (``filters.mel``: n_mels
        * (1 + n_fft // 2) at most ``filters.MAX_MEL_WEIGHTS``); fmax at most
        sample_rate / 2
    n_mfcc : coefficients kept when feature == "mfcc", at most n_mels
    power : exponent of the STFT magnitude (2: power)
    log_floor : added to the mel power before "log_mel"'s log
    deltas : 0, 1 (append the deltas) or 2 (append deltas and delta-deltas),
        librosa.feature.delta(base, width=delta_width, order=k) with its
        default mode "interp"
    delta_width : odd, 3 to ``feature.MAX_DELTA_WIDTH`` (255), frames in each
        delta's fit
    mean, std : per-feature normalisation statistics (num_features values
        each), or None for none; ``fit_normalization`` computes them

    Features are float32 (frames, num_features), num_features =
    (n_mfcc if feature == "mfcc" else n_mels) * (1 + deltas), in that order:
    base features, deltas, delta-deltas.

    A FrontEnd is immutable (a changed copy: ``dataclasses.replace``), but
    for ``fit_normalization``, which sets mean and std in place. Bad
    parameters raise ValueError naming the parameter.
    """

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 160
    win_length: int | None = None
    window: str = "hann"
    feature: str = "log_mel"
    n_mels: int = 40
    n_mfcc: int = 13
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    norm: str | None = "slaney"
    power: float = 2.0
    log_floor: float = 1e-6
    deltas: int = 0
    delta_width: int = 9
    mean: tuple | None = field(default=None, repr=False)
    std: tuple | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        filters.check_fft_size(self.n_fft, "FrontEnd n_fft")
        for name in ("sample_rate", "hop_length", "n_mels", "n_mfcc"):
            _check_integer(name, getattr(self, name), 1)
        filters.check_mel_size(self.n_fft, self.n_mels, "FrontEnd n_mels")
        if self.hop_length > self.n_fft:
            raise ValueError(f"FrontEnd hop_length: expected at most n_fft ({self.n_fft}), "
                             f"got {self.hop_length}")
        if self.win_length is not None:
            _check_integer("win_length", self.win_length, 1)
            if self.win_length > self.n_fft:
                raise ValueError(f"FrontEnd win_length: expected at most n_fft ({self.n_fft}) "
                                 f"or None, got {self.win_length}")
        if not isinstance(self.window, str):
            raise ValueError(f"FrontEnd window: expected a window name, got {self.window!r}")
        if self.feature not in FEATURES:
            raise ValueError(f"FrontEnd feature: expected one of {FEATURES}, got "
                             f"{self.feature!r}")
        if self.feature == "mfcc" and self.n_mfcc > self.n_mels:
            raise ValueError(f"FrontEnd n_mfcc: expected at most n_mels ({self.n_mels}), got "
                             f"{self.n_mfcc}")
        _check_number("fmin", self.fmin, 0.0, strict=False)
        nyquist = self.sample_rate / 2
        if self.fmax is not None:
            _check_number("fmax", self.fmax, self.fmin, strict=True)
            if self.fmax > nyquist:
                raise ValueError(f"FrontEnd fmax: expected at most sample_rate / 2 "
                                 f"({nyquist}), got {self.fmax}")
        elif self.fmin >= nyquist:
            raise ValueError(f"FrontEnd fmin: expected below sample_rate / 2 ({nyquist}), got "
                             f"{self.fmin}")
        if not isinstance(self.htk, bool):
            raise ValueError(f"FrontEnd htk: expected True or False, got {self.htk!r}")
        if self.norm not in ("slaney", None):
            raise ValueError(f"FrontEnd norm: expected 'slaney' or None, got {self.norm!r}")
        _check_number("power", self.power, 0.0, strict=True)
        _check_number("log_floor", self.log_floor, 0.0, strict=True)
        if isinstance(self.deltas, bool) or self.deltas not in (0, 1, 2) \
                or not isinstance(self.deltas, (int, np.integer)):
            raise ValueError(f"FrontEnd deltas: expected 0, 1 or 2, got {self.deltas!r}")
        _check_integer("delta_width", self.delta_width, 3)
        if self.delta_width % 2 != 1 or self.delta_width > MAX_DELTA_WIDTH:
            raise ValueError(f"FrontEnd delta_width: expected an odd integer from 3 to "
                             f"{MAX_DELTA_WIDTH}, got {self.delta_width}")
        self._set_normalization(self.mean, self.std)
        self._build()

    def _set_normalization(self, mean, std) -> None:
        if (mean is None) != (std is None):
            raise ValueError("FrontEnd mean/std: expected both or neither")
        normalizer = None
        if mean is not None:
            try:
                normalizer = Normalizer(mean, std)
            except ValueError as error:
                raise ValueError(f"FrontEnd {error}") from None
            if normalizer.num_features != self.num_features:
                raise ValueError(f"FrontEnd mean/std: expected {self.num_features} values each "
                                 f"(num_features), got {normalizer.num_features}")
            mean, std = tuple(normalizer.mean.tolist()), tuple(normalizer.std.tolist())
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        object.__setattr__(self, "_normalizer", normalizer)

    def _build(self) -> None:
        """The constant arrays of the per-frame computation (float64, aligned)."""
        try:
            window = filters.get_window(self.window, self.win_length or self.n_fft)
        except (ValueError, ImportError) as error:
            raise ValueError(f"FrontEnd window: {error}") from None
        mel_basis = filters.mel(sr=self.sample_rate, n_fft=self.n_fft, n_mels=self.n_mels,
                                fmin=self.fmin, fmax=self.fmax, htk=self.htk, norm=self.norm)
        constants = {
            "window": aligned_copy(pad_center(window, size=self.n_fft), np.float64),
            "mel_filters": aligned_copy(mel_basis, np.float64),   # librosa's float32 weights
            # power 2: |X_f|^2 = re_f^2 + im_f^2, so the filters repeated for the
            # interleaved (re, im) pairs of the spectrum apply to its elementwise squares.
            "mel_basis": aligned_copy(np.repeat(mel_basis, 2, axis=1) if self.power == 2
                                      else mel_basis, np.float64),
            "dct": (aligned_copy(dct_matrix(self.n_mfcc, self.n_mels), np.float64)
                    if self.feature == "mfcc" else None),
            # [order - 1][position]: the weights giving a delta of that order at
            # that position of a window of delta_width base frames.
            "delta_weights": aligned_copy(
                [[savgol_coefficients(self.delta_width, order, position)
                  for position in range(self.delta_width)]
                 for order in range(1, self.deltas + 1)], np.float64),
        }
        object.__setattr__(self, "_constants", constants)

    @property
    def num_base_features(self) -> int:
        """Features per frame before deltas: n_mfcc or n_mels."""
        return self.n_mfcc if self.feature == "mfcc" else self.n_mels

    @property
    def num_features(self) -> int:
        """Features per frame: num_base_features * (1 + deltas)."""
        return self.num_base_features * (1 + self.deltas)

    @property
    def delay_frames(self) -> int:
        """Frames a stream holds back for the deltas: delta_width // 2, or 0."""
        return self.delta_width // 2 if self.deltas else 0

    @property
    def normalizer(self) -> Normalizer | None:
        """The Normalizer of mean/std, or None."""
        return self._normalizer

    @property
    def runs_in_c(self) -> bool:
        """Whether ``features`` and ``stream`` run in C: n_fft a power of two
        from 64 to 4096 (the sizes of the C FFT). Other sizes run the NumPy
        reference path, one stream at a time."""
        smallest, largest = fft_sizes()
        return smallest <= self.n_fft <= largest and self.n_fft & (self.n_fft - 1) == 0

    def _c_tables(self, normalize: bool, isa: str | None) -> FrontEndEngine:
        """The C tables of these features, normalised (when `normalize` and
        mean/std are set) with the statistics set now."""
        if not self.runs_in_c:
            smallest, largest = fft_sizes()
            raise ValueError(f"FrontEnd n_fft: the C front end needs a power of two from "
                             f"{smallest} to {largest}, got {self.n_fft} (use one NumPy stream: "
                             f"stream() without batch_size)")
        constants = self._constants
        normalizer = self._normalizer if normalize else None
        return FrontEndEngine(
            runtime.default_isa() if isa is None else isa, n_fft=self.n_fft,
            hop_length=self.hop_length, feature=self.feature, n_mels=self.n_mels,
            n_mfcc=self.n_mfcc, power=self.power, log_floor=self.log_floor, amin=MEL_DB_AMIN,
            deltas=self.deltas, delta_width=self.delta_width, window=constants["window"],
            mel_basis=constants["mel_filters"], dct=constants["dct"],
            delta_weights=constants["delta_weights"],
            mean=None if normalizer is None else normalizer._mean,
            std=None if normalizer is None else normalizer._std)

    def _check_delta_frames(self, num_frames: int, stream: int | None = None) -> None:
        """ValueError when a signal of num_frames frames is too short for the
        deltas (1 to delta_width - 1 frames); `stream`: which of N streams."""
        if self.deltas and 0 < num_frames < self.delta_width:
            which = "" if stream is None else f" (stream {stream})"
            raise ValueError(f"FrontEnd deltas: the signal{which} gives {num_frames} frames, "
                             f"fewer than delta_width={self.delta_width} (the shortest signal "
                             f"with deltas has n_fft + (delta_width - 1) * hop_length = "
                             f"{self.n_fft + (self.delta_width - 1) * self.hop_length} "
                             f"samples)")

    def num_frames(self, num_samples: int) -> int:
        """Complete frames in num_samples samples (center=False framing)."""
        if num_samples < self.n_fft:
            return 0
        return 1 + (num_samples - self.n_fft) // self.hop_length

    def as_samples(self, y) -> np.ndarray:
        """y as aligned, contiguous float32 mono samples (n,), without a copy
        when it already is; ValueError / TypeError for other shapes and dtypes."""
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"FrontEnd: expected mono samples (n,), got shape {y.shape}")
        if y.dtype.kind != "f":
            raise TypeError(f"FrontEnd: expected floating-point samples, got dtype {y.dtype} "
                            "(scale integer PCM to [-1, 1): int16 / 32768)")
        return as_c_float32(y)

    def features(self, y, normalize: bool = True, *, reference: bool = False) -> np.ndarray:
        """The features of a whole signal.

        Parameters
        ----------
        y : (n,) floating-point samples at sample_rate
        normalize : apply mean/std (when set)
        reference : compute them with the NumPy reference path, even when
            the C one can (``runs_in_c``)

        Returns
        -------
        features : float32 (num_frames(n), num_features); no rows when n < n_fft

        Raises
        ------
        ValueError
            With deltas, a signal of 1 to delta_width - 1 frames (librosa's
            "interp" deltas need delta_width frames).
        """
        y = self.as_samples(y)
        num_frames = self.num_frames(len(y))
        if self.deltas:
            self._check_delta_frames(num_frames)
        if self.runs_in_c and not reference:
            stream = self.stream(normalize=normalize)
            return np.concatenate([stream.push(y), stream.flush()])
        kernel = _FrameKernel(self, normalize)
        out = np.empty((num_frames, self.num_features), np.float32)
        hop, n_fft = self.hop_length, self.n_fft
        if self.deltas:
            base = np.empty((num_frames, self.num_base_features), np.float32)
            for index in range(num_frames):
                kernel.base_frame(y[index * hop:index * hop + n_fft], base[index])
            for index in range(num_frames):
                kernel.frame_with_deltas(base, 0, index, num_frames, out[index])
        else:
            for index in range(num_frames):
                kernel.frame(y[index * hop:index * hop + n_fft], out[index])
        return out

    def stream(self, normalize: bool = True, *, batch_size: int | None = None,
               isa: str | None = None, num_threads: int | None = None):
        """A new stream of these features, normalised (when `normalize`) with
        the statistics set now: blocks of samples in, the frames they
        completed out, equal bit for bit to ``features`` of the whole signal.

        Parameters
        ----------
        normalize : apply mean/std (when set)
        batch_size : None for one stream (``push(block (n,))``), N for N
            independent streams in one object (``push(blocks (N, n))``,
            ``active=``, ``reset(indices)``, ``get_state``/``set_state``);
            N streams need ``runs_in_c``
        isa : the C kernels' instruction set (default ``fastrnn``'s)
        num_threads : threads splitting N streams (default
            ``fastrnn.get_num_threads()``); the frames are the same for any

        Returns
        -------
        fastrnn._engine.FrontEndStream (C) when ``runs_in_c``, else a
        StreamingFeatures (NumPy, one stream); both push/flush the same way.
        """
        if batch_size is None and not self.runs_in_c:
            return StreamingFeatures(self, normalize=normalize)
        threads = runtime.get_num_threads() if num_threads is None else num_threads
        return FrontEndStream(self, self._c_tables(normalize, isa), batch_size, threads)

    def fit_normalization(self, signals_or_features) -> "FrontEnd":
        """Set mean/std (in place) from training data: a list of signals (n,)
        or of their unnormalised features (frames, num_features). Returns self."""
        parts = [np.asarray(part) for part in signals_or_features]
        features = [part if part.ndim == 2 else self.features(part, normalize=False)
                    for part in parts]
        normalizer = Normalizer.fit(features)
        self._set_normalization(normalizer.mean, normalizer.std)
        return self

    def to_dict(self) -> dict:
        """The parameters as JSON-serialisable data (lists for mean/std): what
        ``model.metadata["front_end"]`` holds."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.mean is not None:
            data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "FrontEnd":
        """The FrontEnd of ``to_dict``'s data (missing keys take the defaults)."""
        if not isinstance(data, dict):
            raise ValueError(f"FrontEnd.from_dict: expected a dict, got {type(data).__name__}")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"FrontEnd.from_dict: unknown parameters {sorted(unknown)}")
        return cls(**data)


class _FrameKernel:
    """The per-frame computation of a FrontEnd, in its own aligned work
    arrays: shared by the offline and the streaming path.

    Samples and features are float32; the arithmetic in between is float64,
    as librosa's STFT (and NumPy's FFT, which computes float32 input in
    float64 anyway): features are rounded to float32 once, at the end.
    """

    def __init__(self, front_end: FrontEnd, normalize: bool) -> None:
        constants = front_end._constants
        self._normalizer = front_end.normalizer if normalize else None
        self._window = constants["window"]
        self._mel_basis = constants["mel_basis"]
        self._dct = constants["dct"]
        self._delta_weights = constants["delta_weights"]
        self._squared = front_end.power == 2
        # Scalars as 0-d arrays: the cheapest operand for a ufunc call.
        self._exponent = None if front_end.power in (1, 2) \
            else np.array(front_end.power, np.float64)
        self._log_mel = front_end.feature == "log_mel"
        self._log_floor = np.array(front_end.log_floor, np.float64)
        self._amin = np.array(MEL_DB_AMIN, np.float64)
        self._ten = np.array(10.0, np.float64)
        self._num_base = front_end.num_base_features
        self._half_width = front_end.delta_width // 2
        self._width = front_end.delta_width
        bins = front_end.n_fft // 2 + 1
        self._windowed = aligned_empty(front_end.n_fft, np.float64)
        self._spectrum = aligned_empty(bins, np.complex128)
        self._spectral_power = aligned_empty(2 * bins if self._squared else bins, np.float64)
        self._mel = aligned_empty(front_end.n_mels, np.float64)
        self._base = aligned_empty(self._num_base, np.float64) if self._dct is not None \
            else self._mel
        self._window_frames = aligned_empty((self._width, self._num_base), np.float64)
        self._delta = aligned_empty(self._num_base, np.float64)

    def frame(self, samples: np.ndarray, out: np.ndarray) -> None:
        """out (num_features,) = the (normalised) features of samples (n_fft,),
        without deltas."""
        self.base_frame(samples, out)
        self._normalize(out)

    def _normalize(self, out: np.ndarray) -> None:
        # One frame at a time: (F,) with (F,) statistics, no broadcasting, so
        # NumPy needs no buffers (for a batch it allocates up to 32 KB).
        if self._normalizer is not None:
            self._normalizer.normalize_in_place(out)

    def base_frame(self, samples: np.ndarray, out: np.ndarray) -> None:
        """out (num_base_features,) = the features of samples (n_fft,) before
        deltas and normalisation."""
        windowed = self._windowed
        np.copyto(windowed, samples)
        np.multiply(windowed, self._window, out=windowed)
        np.fft.rfft(windowed, out=self._spectrum)
        if self._squared:
            np.square(self._spectrum.view(np.float64), out=self._spectral_power)
        else:
            np.abs(self._spectrum, out=self._spectral_power)
            if self._exponent is not None:
                np.power(self._spectral_power, self._exponent, out=self._spectral_power)
        mel = self._mel
        np.matmul(self._mel_basis, self._spectral_power, out=mel)
        if self._log_mel:
            np.add(mel, self._log_floor, out=mel)
            np.log(mel, out=mel)
        else:                                        # power_to_db(mel, top_db=None)
            np.maximum(mel, self._amin, out=mel)
            np.log10(mel, out=mel)
            np.multiply(mel, self._ten, out=mel)
        if self._dct is not None:
            np.matmul(self._dct, mel, out=self._base)
        np.copyto(out, self._base)

    def frame_with_deltas(self, base: np.ndarray, first: int, index: int, num_frames: int,
                          out: np.ndarray) -> None:
        """out (num_features,) = base frame `index` and its deltas (normalised), from the
        base frames known so far (num_frames of them); base (rows,
        num_base_features) holds frames first, first + 1, ... Frame `index`
        needs frames up to index + delta_width // 2 (or all of the first
        delta_width)."""
        start = min(max(index - self._half_width, 0), num_frames - self._width)
        rows = base[start - first:start - first + self._width]
        position = index - start
        num_base = self._num_base
        out[:num_base] = rows[position]
        np.copyto(self._window_frames, rows)
        for order, weights in enumerate(self._delta_weights, start=1):
            np.matmul(weights[position], self._window_frames, out=self._delta)
            out[order * num_base:(order + 1) * num_base] = self._delta
        self._normalize(out)


class StreamingFeatures:
    """The features of one stream of samples, block by block, on the NumPy
    reference path (``FrontEnd.stream()`` runs in C when it can, with the
    same interface).

    ``push(block)`` takes any number of samples (0, 1, 80, a whole file) and
    returns the feature frames they completed, float32
    (new_frames, num_features), equal bit for bit to the rows of
    ``front_end.features(y)`` for the signal pushed so far, whatever the
    block sizes.

    Latency: frame k is complete, and returned, once sample
    k * hop_length + n_fft - 1 has been pushed: the first frame after n_fft
    samples, then one per hop_length samples (with n_fft 256 and hop_length
    80 at 8 kHz: 32 ms, then every 10 ms). With deltas, frame k also needs
    the base frames up to k + delta_width // 2: frames come
    ``front_end.delay_frames`` = delta_width // 2 frames (that many hops)
    later, the first delay_frames + 1 together, and ``flush()`` gives the
    last delay_frames at the end of the signal.

    The stream keeps the last samples of the frame in progress (fewer than
    n_fft) in a preallocated buffer of n_fft + 64 hops, and, with deltas, the
    last base frames; a push allocates only the array it returns (a block
    longer than the buffer is taken in buffer-sized pieces).
    """

    def __init__(self, front_end: FrontEnd, normalize: bool = True) -> None:
        self.front_end = front_end
        self._kernel = _FrameKernel(front_end, normalize)
        self._samples = aligned_empty(front_end.n_fft + FRAMES_PER_CHUNK * front_end.hop_length,
                                      np.float32)
        self._history = aligned_empty((front_end.delta_width + FRAMES_PER_CHUNK,
                                       front_end.num_base_features), np.float32) \
            if front_end.deltas else None
        self.reset()

    def reset(self) -> None:
        """Start a new signal: forget held samples and frames."""
        self._start = 0            # _samples[_start:_end]: samples not yet in a frame
        self._end = 0
        self._num_base_frames = 0  # base frames computed since the start
        self._num_returned = 0     # frames returned since the start (deltas)
        self._history_first = 0    # the frame index of _history[0]
        self._history_rows = 0

    def push(self, block) -> np.ndarray:
        """Add samples (n,) (float, any length; float32 avoids a conversion).

        Returns
        -------
        frames : float32 (new_frames, num_features), possibly no rows
        """
        block = self.front_end.as_samples(block)
        out = np.empty((self._num_new_frames(len(block)), self.front_end.num_features),
                       np.float32)
        capacity, row, taken = len(self._samples), 0, 0
        while taken < len(block):
            if self._end == capacity:                 # move the partial frame to the front
                held = self._end - self._start
                self._samples[:held] = self._samples[self._start:self._end]
                self._start, self._end = 0, held
            count = min(len(block) - taken, capacity - self._end)
            self._samples[self._end:self._end + count] = block[taken:taken + count]
            self._end += count
            taken += count
            row = self._compute_frames(out, row)
        return out

    def flush(self) -> np.ndarray:
        """End of the signal: the frames held back for the deltas (none
        without deltas), float32 (delay_frames, num_features) or fewer; then
        ``reset()``. Samples of an incomplete frame are dropped, as offline.

        Raises
        ------
        ValueError
            With deltas, when the signal gave 1 to delta_width - 1 frames (as
            ``features``); the stream is left as it was.
        """
        front_end = self.front_end
        num_frames = self._num_base_frames
        held_back = num_frames - self._num_returned if front_end.deltas and num_frames else 0
        if held_back:
            front_end._check_delta_frames(num_frames)
        out = np.empty((held_back, front_end.num_features), np.float32)
        for row in range(held_back):
            self._kernel.frame_with_deltas(self._history, self._history_first,
                                           self._num_returned + row, num_frames, out[row])
        self.reset()
        return out

    def _num_new_frames(self, num_new_samples: int) -> int:
        """Frames the next push of num_new_samples samples returns."""
        front_end = self.front_end
        new_base = front_end.num_frames(self._end - self._start + num_new_samples)
        if not front_end.deltas:
            return new_base
        num_frames = self._num_base_frames + new_base
        if num_frames < front_end.delta_width:
            return 0
        return num_frames - front_end.delay_frames - self._num_returned

    def _compute_frames(self, out: np.ndarray, row: int) -> int:
        """Compute the frames complete in _samples into out[row:]; the next row."""
        front_end, kernel = self.front_end, self._kernel
        n_fft, hop = front_end.n_fft, front_end.hop_length
        while self._end - self._start >= n_fft:
            frame = self._samples[self._start:self._start + n_fft]
            self._start += hop
            if self._history is None:
                kernel.frame(frame, out[row])
                row += 1
                continue
            if self._history_rows == len(self._history):  # keep the last delta_width frames
                width = front_end.delta_width
                self._history[:width] = self._history[self._history_rows - width:]
                self._history_first += self._history_rows - width
                self._history_rows = width
            kernel.base_frame(frame, self._history[self._history_rows])
            self._history_rows += 1
            self._num_base_frames += 1
            if self._num_base_frames >= front_end.delta_width:
                ready = self._num_base_frames - front_end.delay_frames
                while self._num_returned < ready:
                    kernel.frame_with_deltas(self._history, self._history_first,
                                             self._num_returned, self._num_base_frames, out[row])
                    self._num_returned += 1
                    row += 1
        return row
