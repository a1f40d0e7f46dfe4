"""fastrnn.audio: reading audio and computing the features models take,
with librosa's names, defaults and (features, frames) orientation, plus a
front end that runs the same features block by block on a live stream.

>>> y, sr = fastrnn.audio.load("digit.wav")
>>> S = fastrnn.audio.melspectrogram(y=y, sr=sr, n_fft=256, hop_length=80, n_mels=40)
>>> front_end = fastrnn.audio.FrontEnd(sample_rate=8000, n_fft=256, hop_length=80)
>>> x = front_end.features(y)                  # (frames, 40), time-major for models
"""

from . import feature, filters
from .feature import delta, melspectrogram, mfcc
from .frontend import FrontEnd, StreamingFeatures
from .io import AudioFileError, load, resample
from .spectral import amplitude_to_db, db_to_power, frame, get_window, power_to_db, stft

__all__ = ["load", "resample", "AudioFileError", "stft", "frame", "get_window", "power_to_db",
           "amplitude_to_db", "db_to_power", "melspectrogram", "mfcc", "delta", "feature",
           "filters", "FrontEnd", "StreamingFeatures"]
