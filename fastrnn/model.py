"""Sequential: a stack of layers packed for the C engine, and predict()."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from . import runtime
from ._engine import FLOAT16_MAX, Stream
from ._engine import Model as EngineModel
from .layers import Layer


def check_stack(layers: list) -> None:
    """Raise ValueError/TypeError unless `layers` form a model: at least one
    fastrnn layer, each taking the previous one's output size, and only Dense
    layers after a return_sequences=False layer."""
    if not layers:
        raise ValueError("Sequential needs at least one layer, got none")
    for index, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"layer {index}: expected a fastrnn layer (LSTM, GRU, SimpleRNN, "
                            f"Dense), "
                            f"got {type(layer).__name__}")
    for index, (previous, layer) in enumerate(zip(layers, layers[1:]), start=1):
        if layer.input_size != previous.output_size:
            raise ValueError(f"layer {index} ({layer!r}) takes {layer.input_size} inputs "
                             f"but layer {index - 1} ({previous!r}) outputs "
                             f"{previous.output_size}")
    for index, layer in enumerate(layers):
        later = [i for i, other in enumerate(layers[index + 1:], index + 1) if other.recurrent]
        if not layer.return_sequences and later:
            raise ValueError(f"layer {later[0]} is recurrent but follows layer {index}, "
                             f"which has return_sequences=False (only Dense layers may)")


def state_parts(layers: list) -> list:
    """(name, layer index, part index) of every state array of a stack, in the
    engine's order: "layer<i>.h" and, for an LSTM, "layer<i>.c";
    "layer<i>.forward.h", ..., "layer<i>.backward.h", ... for a Bidirectional.
    The one place state names are made."""
    return [(f"layer{index}.{part}", index, number) for index, layer in enumerate(layers)
            for number, part in enumerate(layer.state)]


class Sequential:
    """A stack of layers run in order.

    Parameters
    ----------
    layers : sequence of Layer
        Each layer's input size must equal the previous layer's output size.
        After a recurrent layer with ``return_sequences=False`` only Dense
        layers may follow.
    isa : str, optional
        Instruction set to pack for ("generic", "avx2", "avx512"); default
        ``fastrnn.runtime.default_isa()``.
    precision : "float32" or "float16"
        Storage of the packed weights. "float16" (AVX2 and AVX-512 only)
        rounds every weight to IEEE half precision (relative error <= 2**-11),
        halving the memory the weights take and the bytes a step reads; a
        single stream's step, bounded by those bytes, gets faster by less
        than that (the widening conversions cost time). All arithmetic stays
        float32.
    mask_value : float, optional
        As a leading Keras ``Masking`` layer: in ``predict``, steps whose
        features all equal it are skipped (the state carries over them and
        their outputs are zero), wherever they are in a sequence. Streams
        take every frame as given.
    metadata : dict, optional
        JSON-serialisable data saved with the model (``save``/``load``):
        ``"front_end"`` (the audio features, ``fastrnn.audio.FrontEnd.to_dict()``),
        ``"labels"`` (class names), or anything an application needs.

    ``save(path)`` writes the model to one file (fastrnn.io.native, which
    attaches the method); ``fastrnn.load(path)`` reads it back.
    """

    def __init__(self, layers: Iterable[Layer], *, isa: str | None = None,
                 precision: str = "float32", mask_value: float | None = None,
                 metadata: dict | None = None):
        self.layers = list(layers)
        if metadata is not None and not isinstance(metadata, dict):
            raise TypeError(f"metadata: expected a dict, got {type(metadata).__name__}")
        self.metadata = dict(metadata or {})
        check_stack(self.layers)
        self.mask_value = None if mask_value is None else float(mask_value)
        self.isa = runtime.default_isa() if isa is None else isa
        self.precision = precision
        if precision == "float16":
            for index, layer in enumerate(self.layers):
                largest = max(float(np.abs(w).max(initial=0.0)) for w in layer.weights())
                if largest > FLOAT16_MAX:
                    raise ValueError(f"layer {index} ({layer!r}) has a weight of magnitude "
                                     f"{largest:g}, beyond float16's range "
                                     f"({FLOAT16_MAX:g}); use precision='float32'")
        self._engine = EngineModel(self.isa, precision, self.layers[0].input_size)
        for layer in self.layers:
            layer._add_to(self._engine)
        self._engine.state_parts = state_parts(self.layers)

    def state_names(self) -> list:
        """Keys of the state dicts (predict's initial_state and return_state,
        Stream.get_state): see ``state_parts``."""
        return [name for name, _, _ in self._engine.state_parts]

    @property
    def input_size(self) -> int:
        return self.layers[0].input_size

    @property
    def output_size(self) -> int:
        return self.layers[-1].output_size

    @property
    def returns_sequences(self) -> bool:
        """False if a layer has return_sequences=False: predict gives the last step only."""
        return all(layer.return_sequences for layer in self.layers)

    @property
    def needs_sequences(self) -> bool:
        """True if a layer is Bidirectional or goes backwards: the model reads
        whole sequences (predict), never frames (stream)."""
        return self._engine.needs_sequences

    @property
    def weight_bytes(self) -> int:
        """Bytes of the packed weights and biases the engine holds."""
        return self._engine.weight_bytes

    def __repr__(self) -> str:
        inner = ",\n    ".join(repr(layer) for layer in self.layers)
        mask = "" if self.mask_value is None else f", mask_value={self.mask_value!r}"
        return (f"Sequential([\n    {inner},\n], isa={self.isa!r}, "
                f"precision={self.precision!r}{mask})")

    def stream(self, batch_size: int | None = None, *, nan_policy: str = "raise",
               num_threads: int | None = None) -> Stream:
        """A stream over this model, state zero: frames in one call at a time.

        Parameters
        ----------
        batch_size : int, optional
            None: one stream, frames (F,) and chunks (T, F). N: N independent
            streams, frames (N, F) and chunks (N, T, F).
        nan_policy : "raise" or "propagate"
            "raise": a frame holding NaN or infinity raises ValueError and the
            state is unchanged. "propagate": no check (NaN enters the state).
        num_threads : int, optional
            Threads for this stream (default: ``fastrnn.get_num_threads()``);
            small steps run on one thread whatever this says.

        Returns
        -------
        fastrnn.Stream
        """
        if self.needs_sequences:
            raise ValueError("a model with a Bidirectional or go_backwards layer needs whole "
                             "sequences (it reads them from the end): use predict")
        threads = runtime.get_num_threads() if num_threads is None else num_threads
        return Stream(self._engine, batch_size, nan_policy, threads)

    def predict(self, x, *, lengths=None, initial_state: dict | None = None,
                return_state: bool = False):
        """Run the model over whole sequences.

        Parameters
        ----------
        x : array (T, F) or (B, T, F), any floating dtype and strides
        lengths : int array (B,), optional
            Steps of each sequence (0 <= length <= T): steps past a sequence's
            length leave its state untouched and output zeros (PyTorch's
            packed sequences); a return_sequences=False model returns each
            sequence's output at its own last step. A Bidirectional layer's
            backward direction starts at each sequence's own last step.
        initial_state : dict, optional
            The state to start from, as ``Stream.get_state()`` gives it:
            ``{"layer<i>.h": (H,) or (B, H), "layer<i>.c": ...}``. Default zeros.
        return_state : bool
            Also return the state after each sequence's last step (same form).

        Returns
        -------
        float32 array (T, O) or (B, T, O); with a return_sequences=False layer,
        (O,) or (B, O). With return_state, ``(outputs, state)``.
        """
        x = np.asarray(x)
        if x.dtype.kind != "f":
            raise TypeError(f"x: expected a floating-point array, got dtype {x.dtype}")
        features = self.input_size
        if x.ndim not in (2, 3) or x.shape[-1] != features:
            raise ValueError(f"x: expected shape (T, {features}) or (B, T, {features}), "
                             f"got {x.shape}")
        single = x.ndim == 2
        batch = x[np.newaxis] if single else x
        num_sequences, steps = batch.shape[:2]
        mask = self._step_mask(batch, lengths, single)
        engine = self._engine
        initial = None if initial_state is None else engine.checked_state(
            initial_state, num_sequences, single, False)
        if num_sequences == 0 or steps == 0:
            y = self._empty_outputs(num_sequences, steps)
            state = engine.new_state(num_sequences) if num_sequences else None
            if initial and num_sequences:
                engine.write_state(state, num_sequences, initial)
        else:
            if mask is not None and mask.all():
                mask = None
            if mask is not None and any(getattr(layer, "go_backwards", False)
                                        for layer in self.layers):
                raise NotImplementedError("go_backwards with masked or shorter sequences is "
                                          "not supported")
            state = engine.new_state(num_sequences)
            if initial:
                engine.write_state(state, num_sequences, initial)
            y = engine.run(np.ascontiguousarray(batch, dtype=np.float32), state, mask,
                           runtime.get_num_threads())
        if single:
            y = y[0]
        if not return_state:
            return y
        if state is None:       # no sequences: every part (0, units)
            return y, {name: np.zeros(shape, np.float32)
                       for name, shape in engine.state_shapes(0, False).items()}
        return y, engine.read_state(state, num_sequences, single)

    def _empty_outputs(self, num_sequences: int, steps: int) -> np.ndarray:
        """The outputs of no sequences or of sequences of no steps."""
        if num_sequences and not self.returns_sequences:
            raise ValueError("x: a model that returns only the last step needs at least one "
                             f"step, got {steps} steps")
        shape = (num_sequences, steps, self.output_size)
        return np.zeros(shape if self.returns_sequences else shape[::2], dtype=np.float32)

    def _step_mask(self, batch: np.ndarray, lengths, single: bool) -> np.ndarray | None:
        """Which steps of which sequences run, (B, T) bool, from `lengths` or
        from mask_value (steps whose features all equal it are skipped, as
        Keras' Masking does); None when every step runs."""
        num_sequences, steps = batch.shape[:2]
        if self.mask_value is not None:
            if lengths is not None:
                raise ValueError("lengths: this model has a mask_value, which decides the "
                                 "steps that run; give one or the other")
            mask = ~np.all(batch == self.mask_value, axis=-1)
        elif lengths is not None:
            lengths = np.asarray(lengths)
            if single:
                lengths = lengths.reshape(-1)
            if lengths.dtype.kind not in "iu" or lengths.shape != (num_sequences,):
                raise ValueError(f"lengths: expected {num_sequences} integers, got "
                                 f"{lengths.dtype} of shape {lengths.shape}")
            if lengths.size and (lengths.min() < 0 or lengths.max() > steps):
                raise ValueError(f"lengths: expected values in [0, {steps}], got "
                                 f"min {lengths.min()}, max {lengths.max()}")
            mask = np.arange(steps) < lengths[:, None]
        else:
            return None
        if (not self.returns_sequences and num_sequences and steps
                and not mask.any(axis=1).all()):
            raise ValueError("lengths: a model that returns only the last step needs at "
                             "least one step per sequence, got a sequence with none")
        return mask
