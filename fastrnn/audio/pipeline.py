"""Audio through a model as it would arrive from a sound card: blocks of
samples -> StreamingFeatures -> the model's stream, with the time each
block takes."""

import time
from dataclasses import dataclass

import numpy as np

from .frontend import FrontEnd


@dataclass
class StreamResult:
    """What streaming one signal gave.

    outputs : (frames, O) the model's output after each frame
    block_seconds : processing time of each block that completed a frame
        (features + model step), seconds
    frames_per_block : frames completed by each of those blocks
    duration : seconds of audio
    """

    outputs: np.ndarray
    block_seconds: np.ndarray
    frames_per_block: np.ndarray
    duration: float

    @property
    def frame_latency_us(self) -> np.ndarray:
        """Per frame: its block's processing time over the frames it completed (µs)."""
        return 1e6 * self.block_seconds / np.maximum(self.frames_per_block, 1)

    @property
    def real_time_factor(self) -> float:
        """Processing time over audio duration (below 1: faster than real time)."""
        return float(self.block_seconds.sum() / self.duration) if self.duration else 0.0


def front_end_of(model) -> FrontEnd:
    """The FrontEnd saved with a model (``model.metadata["front_end"]``)."""
    description = model.metadata.get("front_end")
    if description is None:
        raise ValueError("the model has no audio front end in its metadata (a model trained "
                         "on audio features saves one: see examples/train_fsdd.py)")
    front_end = FrontEnd.from_dict(description)
    if front_end.num_features != model.input_size:
        raise ValueError(f"the model's front end gives {front_end.num_features} features, the "
                         f"model takes {model.input_size}")
    return front_end


def stream_signal(model, front_end: FrontEnd, y: np.ndarray, block_size: int) -> StreamResult:
    """Feed `y` to a fresh feature stream and model stream, `block_size`
    samples at a time, timing each block (and the final flush, which gives
    the frames a front end with deltas holds back)."""
    if block_size < 1:
        raise ValueError(f"block_size: expected >= 1 samples, got {block_size}")
    features, stream = front_end.stream(), model.stream()
    outputs, seconds, counts = [], [], []
    blocks = [y[start:start + block_size] for start in range(0, len(y), block_size)]
    for block in blocks + [None]:                 # None: the end (frames held for deltas)
        began = time.perf_counter()
        frames = features.flush() if block is None else features.push(block)
        if len(frames):
            output = stream.process(frames)
            seconds.append(time.perf_counter() - began)
            counts.append(len(frames))
            outputs.append(output)
    if not outputs:
        raise ValueError(f"the audio is {len(y)} samples long, shorter than one analysis "
                         f"frame ({front_end.n_fft} samples at {front_end.sample_rate} Hz)")
    return StreamResult(np.concatenate(outputs), np.array(seconds), np.array(counts),
                        len(y) / front_end.sample_rate)
