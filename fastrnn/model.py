"""Sequential: a stack of layers packed for the C engine, and predict()."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from . import _engine, runtime
import copy

from .layers import LSTM, Bidirectional, Layer


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
                if largest > float(np.finfo(np.float16).max):
                    raise ValueError(f"layer {index} ({layer!r}) has a weight of magnitude "
                                     f"{largest:g}, beyond float16's range (65504); use "
                                     "precision='float32'")
        # The engine runs every layer but go_backwards ones; masks and states
        # run through streams, which a backward direction cannot use: such
        # calls go through stages (see _predict_stages).
        self._engine = self._stages = None
        if not any(getattr(layer, "go_backwards", False) for layer in self.layers):
            self._engine = _engine.Model(self.isa, precision, self.layers[0].input_size)
            for layer in self.layers:
                layer._add_to(self._engine)
        if any(isinstance(layer, Bidirectional) or getattr(layer, "go_backwards", False)
               for layer in self.layers):
            self._stages = self._build_stages()

    def _build_stages(self) -> list:
        """With step masks or states, a model with Bidirectional layers runs in
        stages: each run of other layers as one sub-model, each Bidirectional
        layer as its two directions (without them, the engine runs both
        directions itself). Returns [(first layer index, Bidirectional or
        None, models)]."""
        stages, start = [], 0
        options = {"isa": self.isa, "precision": self.precision}
        for index, layer in enumerate(self.layers + [None]):
            backwards = getattr(layer, "go_backwards", False)
            if layer is not None and not isinstance(layer, Bidirectional) and not backwards:
                continue
            if start < index:
                stages.append((start, None, [Sequential(self.layers[start:index], **options)]))
            if isinstance(layer, Bidirectional):
                stages.append((index, layer, [Sequential([layer.forward], **options),
                                              Sequential([layer.backward], **options)]))
            elif backwards:
                forwards = copy.copy(layer)
                forwards.go_backwards = False
                stages.append((index, layer, [Sequential([forwards], **options)]))
            start = index + 1
        return stages

    def state_names(self) -> list:
        """Keys of the state dicts (predict's initial_state and return_state,
        Stream.get_state): "layer<i>.h" and, for an LSTM, "layer<i>.c";
        "layer<i>.forward.h", "layer<i>.backward.h", ... for a Bidirectional."""
        def parts(layer):
            return ("h", "c") if isinstance(layer, LSTM) else ("h",) if layer.recurrent else ()

        names = []
        for index, layer in enumerate(self.layers):
            if isinstance(layer, Bidirectional):
                names += [f"layer{index}.{direction}.{part}" for direction in ("forward", "backward")
                          for part in parts(layer.forward)]
            else:
                names += [f"layer{index}.{part}" for part in parts(layer)]
        return names

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

    def __repr__(self) -> str:
        inner = ",\n    ".join(repr(layer) for layer in self.layers)
        mask = "" if self.mask_value is None else f", mask_value={self.mask_value!r}"
        return (f"Sequential([\n    {inner},\n], isa={self.isa!r}, "
                f"precision={self.precision!r}{mask})")

    def stream(self, batch_size: int | None = None, *, nan_policy: str = "raise",
               num_threads: int | None = None) -> "_engine.Stream":
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
        if self._stages is not None:
            raise ValueError("a model with a Bidirectional or go_backwards layer needs whole "
                             "sequences (it reads them from the end): use predict")
        threads = runtime.get_num_threads() if num_threads is None else num_threads
        return _engine.Stream(self._engine, batch_size, nan_policy, threads)

    def save(self, path) -> None:
        """Write the model to one file (safetensors; see fastrnn.io.native).
        ``fastrnn.load(path)`` reads it back."""
        from .io import native

        native.save(self, path)

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
            sequence's output at its own last step.
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
        mask = self._step_mask(batch, lengths, single)
        if mask is None and initial_state is None and not return_state and self._engine:
            y = self._predict_from_zero(batch)
        elif self._stages is not None:
            y, state = self._predict_stages(batch, mask, initial_state)
        else:
            y, state = self._predict_with_state(batch, single, mask, initial_state)
        if single:
            y = y[0]
            if return_state:
                state = {name: value[0] for name, value in state.items()}
        return (y, state) if return_state else y

    def _predict_from_zero(self, batch: np.ndarray) -> np.ndarray:
        num_sequences, steps = batch.shape[:2]
        if steps == 0 and not self.returns_sequences:
            raise ValueError("x: a model that returns only the last step needs at least one "
                             f"step, got {steps} steps")
        if num_sequences == 0 or steps == 0:
            shape = (num_sequences, steps, self.output_size)
            return np.zeros(shape if self.returns_sequences else shape[::2], dtype=np.float32)
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        state = np.zeros(self._engine.state_size(num_sequences), dtype=np.float32)
        return self._engine.run(batch, state, runtime.get_num_threads())

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
        if not self.returns_sequences and num_sequences and not mask.any(axis=1).all():
            raise ValueError("lengths: a model that returns only the last step needs at "
                             "least one step per sequence, got a sequence with none")
        return mask

    def _predict_stages(self, batch, mask, initial_state):
        """predict for a model with Bidirectional or go_backwards layers, stage
        by stage. A backward direction reads the sequence, and its step mask,
        reversed; a go_backwards layer's outputs stay in its reading order."""
        num_sequences, steps = batch.shape[:2]
        if num_sequences == 0 or steps == 0:
            raise ValueError("a model with a Bidirectional or go_backwards layer needs at "
                             "least one sequence "
                             f"of at least one step, got {num_sequences} x {steps}")
        if mask is None:
            mask = np.ones((num_sequences, steps), dtype=bool)
        names = self.state_names()
        given = {}
        if initial_state is not None:
            missing = sorted(set(names) - set(initial_state))
            unexpected = sorted(set(initial_state) - set(names))
            if missing or unexpected:
                raise ValueError(f"initial_state: expected keys {names}; missing {missing}, "
                                 f"unexpected {unexpected}")
            given = {name: np.asarray(value).reshape(num_sequences, -1)
                     for name, value in initial_state.items()}
        state, x, sequence = {}, np.asarray(batch, dtype=np.float32), True
        for first, layer, models in self._stages:
            if not sequence:               # after return_sequences=False: one step left
                x, mask = x[:, np.newaxis], np.ones((num_sequences, 1), dtype=bool)
            if layer is None:
                directions = [("", models[0], x, mask)]
            elif not isinstance(layer, Bidirectional):      # go_backwards
                if not mask.all():
                    raise NotImplementedError(f"layer {first}: go_backwards with masked or "
                                              "shorter sequences is not supported")
                directions = [("", models[0], x[:, ::-1], mask)]
            else:
                directions = [(".forward", models[0], x, mask),
                              (".backward", models[1], x[:, ::-1], mask[:, ::-1])]
            outputs = []
            for direction, model, inputs, inputs_mask in directions:
                local = {name: f"layer{first + int(name[5:].split('.')[0])}{direction}."
                               f"{name.split('.')[-1]}" for name in model.state_names()}
                start = {key: given[name] for key, name in local.items()} if given else None
                y, final = model._predict_with_state(inputs, False, inputs_mask, start)
                state.update({name: final[key] for key, name in local.items()})
                outputs.append(y)
            if isinstance(layer, Bidirectional):
                backward = outputs[1][:, ::-1] if layer.return_sequences else outputs[1]
                outputs = [layer.merge(outputs[0], backward)]
            x = outputs[0]
            sequence = x.ndim == 3 and sequence
        if not sequence and x.ndim == 3:     # the one step stages after the last ran on
            x = x[:, -1]
        return x.astype(np.float32, copy=False), state

    def _predict_with_state(self, batch, single, mask, initial_state):
        """predict through a stream: state in and out, and a (B, T) step mask
        run as time segments over which the set of running sequences is
        constant (skipped steps keep the state and output zeros)."""
        num_sequences, steps = batch.shape[:2]
        if num_sequences == 0:
            empty = self.stream(batch_size=1).get_state()
            shape = (0, steps, self.output_size)
            return (np.zeros(shape if self.returns_sequences else shape[::2], np.float32),
                    {name: np.zeros((0,) + value.shape[1:], np.float32)
                     for name, value in empty.items()})
        if mask is None:
            mask = np.ones((num_sequences, steps), dtype=bool)
        if not self.returns_sequences and not mask.any(axis=1).all():
            raise ValueError("x: a model that returns only the last step needs at least one "
                             "step per sequence")
        stream = self.stream(batch_size=None if single else num_sequences,
                             nan_policy="propagate")
        if initial_state is not None:
            stream.set_state({name: np.asarray(value).reshape(-1) if single else value
                              for name, value in initial_state.items()})
        outputs = np.zeros((num_sequences, steps, self.output_size), dtype=np.float32)
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        changes = np.flatnonzero(np.any(mask[:, 1:] != mask[:, :-1], axis=0)) + 1
        bounds = np.concatenate([[0], changes, [steps]]).astype(int)
        for start, stop in zip(bounds[:-1], bounds[1:]):
            running = mask[:, start]
            if not running.any():
                continue
            if single:
                outputs[0, start:stop] = stream.process(batch[0, start:stop])
            else:
                outputs[:, start:stop] = stream.process(
                    batch[:, start:stop], active=None if running.all() else running)
        if not self.returns_sequences:
            last = steps - 1 - np.argmax(mask[:, ::-1], axis=1)
            outputs = outputs[np.arange(num_sequences), last]
        state = stream.get_state()
        if single:
            state = {name: value[np.newaxis] for name, value in state.items()}
        return outputs, state
