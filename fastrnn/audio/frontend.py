"""The front end a model is trained on, offline and block by block.

A ``FrontEnd`` describes the features (sample rate, framing, mel filters,
log/dB/MFCC, normalisation statistics) and is saved inside the model file
(``model.metadata["front_end"]``). ``FrontEnd.features(y)`` computes them
for a whole signal; ``FrontEnd.stream()`` gives a ``StreamingFeatures``
that takes blocks of any size as a sound card delivers them and returns
the frames that became complete, equal bit for bit to the offline ones:
both run the same per-frame code on the same samples.

Framing is ``center=False``: frame k covers samples [k * hop_length,
k * hop_length + n_fft). A frame is complete once its last sample has
arrived, so a stream's first frame comes after n_fft samples, and each
later one after another hop_length samples; the oldest sample in a frame is
n_fft - 1 samples old when the frame is computed.
"""

from dataclasses import asdict, dataclass, field

import numpy as np

from . import filters
from .feature import dct_matrix
from .spectral import WINDOWS, stft_window

FEATURES = ("log_mel", "db_mel", "mfcc")


@dataclass
class FrontEnd:
    """Feature extraction parameters (librosa's names).

    feature : "log_mel" (natural log of mel power + log_floor), "db_mel"
        (10 log10 of mel power, floored at amin = 1e-10, no top_db: that
        would depend on the whole signal) or "mfcc" (DCT-II ortho of db_mel,
        n_mfcc coefficients)
    mean, std : per-feature normalisation statistics (None: no
        normalisation); ``fit_normalization`` computes them.
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
    mean: list | None = field(default=None, repr=False)
    std: list | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        positive = {"sample_rate": self.sample_rate, "n_fft": self.n_fft,
                    "hop_length": self.hop_length, "n_mels": self.n_mels,
                    "n_mfcc": self.n_mfcc, "power": self.power, "log_floor": self.log_floor}
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"FrontEnd {name}: expected a number > 0, got {value!r}")
        if self.win_length is not None and not 0 < self.win_length <= self.n_fft:
            raise ValueError(f"FrontEnd win_length: expected 1..n_fft ({self.n_fft}) or None, "
                             f"got {self.win_length!r}")
        if self.window not in WINDOWS:
            raise ValueError(f"FrontEnd window: expected one of {WINDOWS}, got {self.window!r}")
        if self.feature not in FEATURES:
            raise ValueError(f"FrontEnd feature: expected one of {FEATURES}, got "
                             f"{self.feature!r}")
        if self.feature == "mfcc" and self.n_mfcc > self.n_mels:
            raise ValueError(f"FrontEnd n_mfcc: expected at most n_mels ({self.n_mels}), got "
                             f"{self.n_mfcc}")
        if (self.mean is None) != (self.std is None):
            raise ValueError("FrontEnd mean/std: give both or neither")
        if self.mean is not None:
            self.mean = [float(v) for v in self.mean]
            self.std = [float(v) for v in self.std]
            if len(self.mean) != self.num_features or len(self.std) != self.num_features:
                raise ValueError(f"FrontEnd mean/std: expected {self.num_features} values each, "
                                 f"got {len(self.mean)} and {len(self.std)}")
            if min(self.std) <= 0:
                raise ValueError("FrontEnd std: expected values > 0")
        self._build()

    def _build(self) -> None:
        """The constant arrays of the per-frame computation (float32)."""
        self._window = stft_window(self.n_fft, self.win_length, self.window).astype(np.float32)
        self._mel_basis = filters.mel(sr=self.sample_rate, n_fft=self.n_fft, n_mels=self.n_mels,
                                      fmin=self.fmin, fmax=self.fmax, htk=self.htk,
                                      norm=self.norm, dtype=np.float32)
        self._dct = (dct_matrix(self.n_mfcc, self.n_mels, np.float32)
                     if self.feature == "mfcc" else None)
        self._mean = None if self.mean is None else np.array(self.mean, np.float32)
        self._inverse_std = None if self.std is None else 1 / np.array(self.std, np.float32)

    @property
    def num_features(self) -> int:
        return self.n_mfcc if self.feature == "mfcc" else self.n_mels

    def num_frames(self, num_samples: int) -> int:
        """Complete frames in a signal of num_samples samples."""
        if num_samples < self.n_fft:
            return 0
        return 1 + (num_samples - self.n_fft) // self.hop_length

    def scratch(self) -> dict:
        """Work arrays for frame_features (one set per stream: no allocation per frame)."""
        bins = self.n_fft // 2 + 1
        return {"windowed": np.empty(self.n_fft, np.float32),
                "spectrum": np.empty(bins, np.complex64),
                "power": np.empty(bins, np.float32),
                "mel": np.empty(self.n_mels, np.float32)}

    def frame_features(self, frame: np.ndarray, out: np.ndarray, scratch: dict,
                       normalize: bool = True) -> None:
        """The features of one frame (n_fft samples) into out (num_features,),
        computed in the arrays of `scratch` (see ``scratch()``)."""
        windowed, spectrum = scratch["windowed"], scratch["spectrum"]
        power, mel = scratch["power"], scratch["mel"]
        np.multiply(frame, self._window, out=windowed)
        np.fft.rfft(windowed, out=spectrum)
        np.abs(spectrum, out=power)
        if self.power == 2:
            np.multiply(power, power, out=power)
        else:
            np.power(power, np.float32(self.power), out=power)
        np.matmul(self._mel_basis, power, out=mel)
        if self.feature == "log_mel":
            np.add(mel, np.float32(self.log_floor), out=mel)
            np.log(mel, out=mel)
        else:
            np.maximum(mel, np.float32(1e-10), out=mel)
            np.log10(mel, out=mel)
            np.multiply(mel, np.float32(10), out=mel)
        if self._dct is not None:
            np.matmul(self._dct, mel, out=out)
        else:
            out[:] = mel
        if normalize and self._mean is not None:
            np.subtract(out, self._mean, out=out)
            np.multiply(out, self._inverse_std, out=out)

    def features(self, y: np.ndarray, normalize: bool = True) -> np.ndarray:
        """Features of a whole mono signal, (frames, num_features) float32,
        time-major as models take them."""
        y = self._samples(y)
        count = self.num_frames(len(y))
        out = np.empty((count, self.num_features), np.float32)
        scratch = self.scratch()
        for index in range(count):
            start = index * self.hop_length
            self.frame_features(y[start:start + self.n_fft], out[index], scratch, normalize)
        return out

    def _samples(self, y) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"expected a mono signal (n,), got shape {y.shape}")
        if y.dtype.kind != "f":
            raise TypeError(f"expected floating-point samples, got dtype {y.dtype}")
        return np.ascontiguousarray(y, dtype=np.float32)

    def fit_normalization(self, signals_or_features) -> "FrontEnd":
        """Set mean/std from training data: signals (1-D) or their
        unnormalised features (2-D). Returns self."""
        parts = [np.asarray(s) for s in signals_or_features]
        parts = [p if p.ndim == 2 else self.features(p, normalize=False) for p in parts]
        stacked = np.concatenate(parts).astype(np.float64)
        self.mean = stacked.mean(axis=0).tolist()
        self.std = np.maximum(stacked.std(axis=0), 1e-8).tolist()
        self._build()
        return self

    def to_dict(self) -> dict:
        """JSON-serialisable parameters (what ``model.metadata["front_end"]`` holds)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FrontEnd":
        if not isinstance(data, dict):
            raise ValueError(f"FrontEnd: expected a dict, got {type(data).__name__}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"FrontEnd: unknown parameters {sorted(unknown)}")
        return cls(**data)

    def stream(self) -> "StreamingFeatures":
        return StreamingFeatures(self)


class StreamingFeatures:
    """Block-by-block features of one stream of samples (see the module
    docstring for the framing and the latency it implies).

    >>> features = front_end.stream()
    >>> frames = features.push(block)     # (new_frames, num_features), maybe 0 rows
    """

    def __init__(self, front_end: FrontEnd) -> None:
        self.front_end = front_end
        self._buffer = np.zeros(4 * front_end.n_fft, np.float32)
        self._scratch = front_end.scratch()
        self._filled = 0          # samples in _buffer not yet consumed
        self.samples_seen = 0

    def reset(self) -> None:
        """Forget the samples of an unfinished frame (a new stream starts)."""
        self._filled = 0
        self.samples_seen = 0

    def push(self, block) -> np.ndarray:
        """Add samples; return the feature frames completed by them,
        (new_frames, num_features) float32. For float32 blocks that is the
        only array a call allocates (the sample buffer grows once if a block
        outgrows it)."""
        block = self.front_end._samples(block)
        front_end = self.front_end
        needed = self._filled + len(block)
        if needed > len(self._buffer):
            grown = np.zeros(max(needed, 2 * len(self._buffer)), np.float32)
            grown[:self._filled] = self._buffer[:self._filled]
            self._buffer = grown
        self._buffer[self._filled:needed] = block
        self._filled = needed
        self.samples_seen += len(block)
        count = front_end.num_frames(self._filled)
        out = np.empty((count, front_end.num_features), np.float32)
        for index in range(count):
            start = index * front_end.hop_length
            front_end.frame_features(self._buffer[start:start + front_end.n_fft], out[index],
                                     self._scratch)
        if count:
            consumed = count * front_end.hop_length
            remaining = self._filled - consumed
            self._buffer[:remaining] = self._buffer[consumed:self._filled]
            self._filled = remaining
        return out
