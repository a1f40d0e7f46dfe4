"""Audio in, model outputs out, block by block: ``StreamingPipeline`` (a
front end stream and a model stream, for one stream or N, in one object),
and ``stream_signal``, which times a whole signal through a pipeline as a
sound card would deliver it.

fastrnn.audio imports nothing of the models (the package's import
contract): the pipeline takes any model object with ``stream()``,
``input_size`` and ``metadata`` (a ``fastrnn.Model``) and uses its stream.
"""

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .._engine import all_finite
from .frontend import FrontEnd

NAN_POLICIES = ("raise", "propagate")
NONFINITE = "the samples hold NaN or infinity (nan_policy='raise'); the pipeline is unchanged"
BUSY = ("this StreamingPipeline is being run by another thread; use one pipeline per thread, "
        "or a lock")


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


class StreamingPipeline:
    """Blocks of samples in, the model's outputs for the frames they
    completed out: a front end stream feeding a model stream, for one
    stream or N.

    Parameters
    ----------
    model : fastrnn.Model
        One input, one output; any object with ``stream(batch_size, *,
        nan_policy, num_threads)``, ``input_size`` and ``metadata``.
    front_end : FrontEnd, optional
        The features the model takes; by default the model's own
        (``model.metadata["front_end"]``). Its num_features must be the
        model's input_size.
    batch_size : int, optional
        None for one stream (blocks (n,)); N for N independent streams
        (blocks (N, n)), which needs a front end that runs in C
        (``front_end.runs_in_c``).
    num_threads : int, optional
        Threads of the front end and the model (default
        ``fastrnn.get_num_threads()``); one stream runs on one thread.
    nan_policy : "raise" or "propagate"
        "raise" (default): blocks holding NaN or infinity (in a stream that
        takes its block: see ``active``) raise ValueError before anything
        changes. "propagate": no check (NaN samples give NaN features,
        which enter the model's state).

    One stream: ``push(block)`` returns float32 (frames, O), the outputs of
    the frames the block completed (often none, with blocks shorter than
    the hop). N streams: ``push(blocks, active=)`` returns ``(outputs,
    counts)``, outputs (N, T, O) with row b holding its counts[b] frames
    then zeros; streams started at different times, or left out by
    ``active``, complete frames at different pushes. The outputs equal, bit
    for bit, the front end's frames fed to the model's stream: with a
    model that gives a frame for a frame, frame k's output comes with
    frame k; a model whose outputs lag (``stream.delay``) gives the frames
    it completed so far, as its stream does.

    Each push is one front end push and one model call for all streams
    (one per distinct frame count when streams completed different
    numbers of frames in one push). A failed call (wrong shape or dtype,
    NaN) raises before either stream changes. Threads: the GIL is released
    while C runs; a pipeline used from a second thread while it runs
    raises RuntimeError before touching either stream (it never blocks,
    and its streams never get out of step): use one pipeline per thread,
    or a lock.
    """

    def __init__(self, model, front_end: FrontEnd | None = None,
                 batch_size: int | None = None, *, num_threads: int | None = None,
                 nan_policy: str = "raise") -> None:
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy: expected one of {NAN_POLICIES}, got {nan_policy!r}")
        front_end = front_end_of(model) if front_end is None else front_end
        if front_end.num_features != model.input_size:
            raise ValueError(f"front_end gives {front_end.num_features} features per frame, "
                             f"the model takes {model.input_size}")
        model_stream = model.stream(batch_size, nan_policy=nan_policy, num_threads=num_threads)
        if model_stream.num_inputs != 1 or model_stream.num_outputs != 1:
            raise ValueError(f"a pipeline feeds a model with one input and one output, got "
                             f"{model_stream.num_inputs} inputs and "
                             f"{model_stream.num_outputs} outputs")
        self.front_end = front_end
        self.batch_size = model_stream.batch_size
        self.output_size = model_stream.output_size
        self._features = front_end.stream(batch_size=batch_size, num_threads=num_threads)
        self._model = model_stream
        self._frame_for_frame = model_stream.in_step    # output frame k with input frame k
        self._check_samples = nan_policy == "raise"
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"StreamingPipeline(batch_size={self.batch_size}, "
                f"num_features={self.front_end.num_features}, output_size={self.output_size})")

    def push(self, blocks, active=None):
        """Add a block of samples to each stream.

        Parameters
        ----------
        blocks : (n,) samples for one stream, (N, n) for N; any floating
            dtype (C-contiguous float32 avoids a copy); n may be 0
        active : bool array (N,), optional
            Only these streams take their row of `blocks`; the others keep
            their state and get no frames.

        Returns
        -------
        outputs : float32 (frames, O) for one stream; for N streams
            ``(outputs, counts)``: outputs (N, T, O), T = max(counts), row
            b holding its counts[b] frames then zeros, counts int (N,)
        """
        if not self._lock.acquire(blocking=False):     # _claimed(), inlined: the hot path
            raise RuntimeError(BUSY)
        try:
            if self.batch_size is not None:
                if self._check_samples and not all_finite(_active_rows(np.asarray(blocks),
                                                                        active)):
                    raise ValueError(NONFINITE)
                return self._run_model(*self._features.push(blocks, active=active))
            if self._check_samples and not all_finite(np.asarray(blocks)):
                raise ValueError(NONFINITE)
            if active is not None:
                raise ValueError("active: only a batch of streams (batch_size=N) takes an "
                                 "active mask")
            frames = self._features.push(blocks)
            if self._frame_for_frame and len(frames) == 1:     # the model's lean path
                return self._model.step(frames[0])[np.newaxis]
            return self._model.process(frames)
        finally:
            self._lock.release()

    def flush(self, indices=None):
        """End the signals: the outputs of the frames the front end held
        back (for deltas), then those the model held back (lagging
        outputs; none for a model whose outputs keep step with its input,
        which gave its final answer with the last frame); those streams
        then start over, as after ``reset``.

        One stream: ``flush()`` -> float32 (frames, O). N streams:
        ``flush(indices=None)`` ends the streams at `indices` (all when
        None) -> ``(outputs, counts)`` as ``push``; the others are not
        touched and get no frames.

        Raises
        ------
        ValueError
            With deltas, for a stream that gave 1 to delta_width - 1 frames
            (as ``FrontEnd.features``); nothing changes.
        """
        with self._claimed():
            if self.batch_size is None:
                if indices is not None:
                    raise ValueError("indices: a single stream (batch_size=None) is flushed "
                                     "as a whole")
                frames = self._features.flush()
                outputs = self._model.process(frames)
                if not self._frame_for_frame:     # in step: the last answer was given
                    outputs = np.concatenate([outputs, self._model.flush()])
                self._model.reset()             # a model stream's flush keeps its final state
                return outputs
            frames, counts = self._features.flush(indices)
            ended = None
            if indices is not None:
                ended = np.zeros(self.batch_size, dtype=bool)
                ended[np.asarray(indices, dtype=np.intp)] = True   # checked by the front end
            held = self._run_model(frames, counts)
            tail = self._model.flush(active=ended)
            tail_counts = (np.zeros(self.batch_size, np.intc) if self._frame_for_frame
                           else self._model.counts)    # in step: the last answer was given
            self._model.reset(indices)
            return _concatenate_rows([held, (tail, tail_counts)])

    def reset(self, indices=None) -> None:
        """Start every stream, or the streams at `indices` (N streams), over:
        no held samples, the model's state zero."""
        with self._claimed():
            self._features.reset(indices)
            self._model.reset(indices)

    def get_state(self) -> dict:
        """A copy of the state: ``{"front_end": {...}, "model": {...}}``, the
        front end stream's (held samples, delta history) and the model
        stream's, as their own get_state() give them."""
        with self._claimed():
            return {"front_end": self._features.get_state(), "model": self._model.get_state()}

    def set_state(self, state: dict) -> None:
        """Replace the state with `state`, as returned by get_state(). A
        state either stream refuses leaves both as they were."""
        if not isinstance(state, dict) or set(state) != {"front_end", "model"}:
            given = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"state: expected a dict with keys ['front_end', 'model'], got "
                             f"{given}")
        with self._claimed():
            before = self._features.get_state()
            self._features.set_state(state["front_end"])
            try:
                self._model.set_state(state["model"])
            except BaseException:
                self._features.set_state(before)
                raise

    @contextlib.contextmanager
    def _claimed(self) -> Iterator[None]:
        """Hold the pipeline for one call; RuntimeError if another thread does."""
        if not self._lock.acquire(blocking=False):
            raise RuntimeError(BUSY)
        try:
            yield
        finally:
            self._lock.release()

    def _run_model(self, frames: np.ndarray, counts: np.ndarray) -> tuple:
        """The model's outputs of frames (N, T, F), row b holding counts[b]
        frames: (outputs (N, T', O), counts (N,))."""
        steps = frames.shape[1]
        with_frames = counts > 0
        if steps == 0:
            return np.zeros((self.batch_size, 0, self.output_size), np.float32), counts
        if (counts[with_frames] == steps).all():             # one call for every stream
            outputs = self._model.process(frames, active=None if with_frames.all()
                                          else with_frames)
            return outputs, self._output_counts(counts)
        # Streams completed different numbers of frames: one call per distinct
        # count, each running the streams that have frames that far.
        pieces, start = [], 0
        for end in np.unique(counts[with_frames]):
            running = counts >= end
            outputs = self._model.process(frames[:, start:end], active=running)
            pieces.append((outputs, self._output_counts(np.where(running, end - start, 0))))
            start = end
        return _concatenate_rows(pieces)

    def _output_counts(self, input_counts: np.ndarray) -> np.ndarray:
        """Output frames per stream of the model call just made, which ran
        input_counts frames per stream."""
        if self._frame_for_frame:
            return input_counts.astype(np.intc, copy=False)
        return self._model.counts


def _active_rows(samples: np.ndarray, active) -> np.ndarray:
    """The rows of blocks (N, n) that `active` (bool (N,), or None: all)
    selects: those the front end takes. All rows for a mask or blocks the
    front end refuses (it says why)."""
    if active is None:
        return samples
    mask = np.asarray(active)
    if mask.dtype != np.bool_ or mask.ndim != 1 or samples.ndim != 2 \
            or mask.shape[0] != samples.shape[0]:
        return samples
    return samples[mask]


def _concatenate_rows(pieces: list) -> tuple:
    """Per row b, the first counts[b] frames of each piece, one piece after
    the other: pieces [(frames (N, T_i, O), counts (N,)), ...] -> (frames
    (N, T, O) with T = max of the summed counts, zeros after each row's
    frames; the summed counts (N,) int)."""
    counts = sum(piece_counts for _, piece_counts in pieces).astype(np.intc)
    batch, _, size = pieces[0][0].shape
    out = np.zeros((batch, int(counts.max(initial=0)), size), np.float32)
    filled = np.zeros(batch, np.intp)
    for frames, piece_counts in pieces:
        rows, steps = np.nonzero(np.arange(frames.shape[1]) < piece_counts[:, None])
        out[rows, filled[rows] + steps] = frames[rows, steps]
        filled += piece_counts
    return out, counts


@dataclass
class StreamResult:
    """What streaming one signal gave.

    outputs : (frames, O) the model's output after each frame
    block_seconds : processing time of each block that completed a frame
        (features + model), seconds
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


def stream_signal(pipeline: StreamingPipeline, y: np.ndarray, block_size: int) -> StreamResult:
    """Feed `y` to a one-stream `pipeline`, `block_size` samples at a time,
    timing each block (and the final flush, which gives the frames held
    back for deltas or by a lagging model). The pipeline ends the signal
    (flush) and is ready for the next one, also when this raises."""
    if block_size < 1:
        raise ValueError(f"block_size: expected >= 1 samples, got {block_size}")
    if pipeline.batch_size is not None:
        raise ValueError(f"stream_signal: expected a one-stream pipeline, got batch_size "
                         f"{pipeline.batch_size}")
    y = pipeline.front_end.as_samples(y)
    outputs, seconds, counts = [], [], []
    try:
        for start in [*range(0, len(y), block_size), None]:    # None: the end (flush)
            began = time.perf_counter()
            output = (pipeline.flush() if start is None
                      else pipeline.push(y[start:start + block_size]))
            if len(output):
                seconds.append(time.perf_counter() - began)
                counts.append(len(output))
                outputs.append(output)
    except BaseException:
        pipeline.reset()
        raise
    if not outputs:
        front_end = pipeline.front_end
        raise ValueError(f"the audio is {len(y)} samples long, shorter than one analysis "
                         f"frame ({front_end.n_fft} samples at {front_end.sample_rate} Hz)")
    return StreamResult(np.concatenate(outputs), np.array(seconds), np.array(counts),
                        len(y) / pipeline.front_end.sample_rate)
