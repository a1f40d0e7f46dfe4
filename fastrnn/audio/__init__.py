"""fastrnn.audio: reading audio and computing the features models take,
with librosa's names, parameters, defaults and (..., features, frames)
orientation (port librosa code by changing the import), plus a front end
that computes a model's features offline or block by block on a live
stream, time-major (frames, features).

>>> import fastrnn.audio as audio
>>> y, sr = audio.load("digit.wav", sr=8000)
>>> S = audio.melspectrogram(y=y, sr=sr, n_fft=256, hop_length=80, n_mels=40)
>>> front_end = audio.FrontEnd(sample_rate=8000, n_fft=256, hop_length=80, n_mels=40)
>>> x = front_end.features(y)                  # (frames, 40), time-major for models
>>> frames = front_end.stream().push(block)    # the frames a block completed
>>> frames, counts = front_end.stream(batch_size=256).push(blocks)   # (256, n) blocks
>>> pipeline = audio.StreamingPipeline(model, batch_size=256)        # front end + model
>>> outputs, counts = pipeline.push(blocks)     # the model's outputs of the completed frames

soundfile and soxr (reading, resampling) are imported by ``load`` and
``resample`` only; everything else needs NumPy alone.
"""

from .._engine import FrontEndStream
from . import feature, filters, util
from .feature import delta, melspectrogram, mfcc
from .filters import get_window, hz_to_mel, mel_frequencies, mel_to_hz
from .frontend import FrontEnd, Normalizer, StreamingFeatures
from .io import AudioFileError, load, resample, to_mono
from .pipeline import StreamingPipeline
from .spectral import amplitude_to_db, db_to_amplitude, db_to_power, power_to_db, stft
from .util import frame

__all__ = ["load", "resample", "to_mono", "AudioFileError", "stft", "power_to_db",
           "amplitude_to_db", "db_to_power", "db_to_amplitude", "melspectrogram", "mfcc",
           "delta", "frame", "get_window", "hz_to_mel", "mel_to_hz", "mel_frequencies",
           "feature", "filters", "util", "FrontEnd", "FrontEndStream", "Normalizer",
           "StreamingFeatures", "StreamingPipeline"]
