"""Models: a graph of layers packed for the C engine (Model), a chain of them
(Sequential), and predict()."""

from __future__ import annotations

import copy
from typing import Iterable

import numpy as np

from . import runtime
from ._engine import BFLOAT16_MAX, FLOAT16_MAX, Stream, as_c_float32
from ._engine import Model as EngineModel
from .layers import (ACTIVATIONS, Activation, Affine, Conv1d, Dense, GlobalPool, Input, Layer,
                     Pool1d, Tensor)

# The largest |weight| of the precisions with a narrower range than float32
# (int8 scales each unit's weights: any finite weight).
_LARGEST = {"float16": FLOAT16_MAX, "bfloat16": BFLOAT16_MAX}


def check_stack(layers: list) -> None:
    """Raise ValueError/TypeError unless `layers` form a chain: at least one
    fastrnn layer, each taking the previous one's output, and only frame
    layers after one that ends the sequence (return_sequences=False)."""
    if not layers:
        raise ValueError("Sequential needs at least one layer, got none")
    for index, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"layer {index}: expected a fastrnn layer (LSTM, GRU, SimpleRNN, "
                            f"Dense, ...), got {type(layer).__name__}")
    if layers[0].input_size is None:
        raise ValueError(f"layer 0 ({layers[0]!r}) does not say how many features it takes: "
                         "a Sequential starts with a layer that has weights")
    features = layers[0].input_size
    for index, layer in enumerate(layers):
        if index and layer.input_size is not None and layer.input_size != features:
            raise ValueError(f"layer {index} ({layer!r}) takes {layer.input_size} inputs "
                             f"but layer {index - 1} ({layers[index - 1]!r}) outputs {features}")
        try:
            features = layer.output_features(features)
        except ValueError as error:
            raise ValueError(f"layer {index} ({layer!r}) does not fit the output of layer "
                             f"{index - 1} ({layers[index - 1]!r}): {error}") from None
    for index, layer in enumerate(layers):
        later = [i for i, other in enumerate(layers[index + 1:], index + 1) if other.recurrent]
        if not layer.return_sequences and later:
            raise ValueError(f"layer {later[0]} is recurrent but follows layer {index}, "
                             f"which has return_sequences=False (only Dense layers may)")


def state_parts(names: list, layers: list, engine: EngineModel | None = None) -> list:
    """(name, layer index, part index) of every state array, in the engine's
    order: "<layer name>.<part>", e.g. "layer0.h", "layer0.c" (LSTM),
    "layer1.forward.h" (Bidirectional), "conv.frames", "sub.input1.frames"
    (a merge's queue, whose parts the `engine` the layers were added to
    decides: ``Layer.state_names``; without it, each layer's ``state``).
    The one place state names are made."""
    return [(f"{name}.{part}", index, number)
            for index, (name, layer) in enumerate(zip(names, layers))
            for number, part in enumerate(layer.state if engine is None else
                                          layer.state_names(engine.part_kinds(index)))]


def _as_list(tensors) -> list:
    return list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]


def graph_nodes(inputs: list, outputs: list) -> list:
    """The nodes computing `outputs` from `inputs`, each after those it reads:
    depth first from each output, a node's inputs in order (iterative, so a
    graph of any depth is fine)."""
    order, done = [], set()
    for tensor in outputs:
        if not isinstance(tensor, Tensor):
            raise TypeError(f"outputs: expected fastrnn tensors, got {type(tensor).__name__}")
        pending = [(tensor, "the model", False)]      # (tensor, its reader, inputs visited)
        while pending:
            tensor, reader, visited = pending.pop()
            node = tensor.node
            if node is None:
                if all(tensor is not given for given in inputs):
                    raise ValueError(f"{reader!r} reads {tensor!r}, which is not one of the "
                                     "model's inputs")
                continue
            if id(node) in done:
                continue
            if visited:
                done.add(id(node))
                order.append(node)
                continue
            pending.append((tensor, reader, True))
            pending.extend((read, node.layer, False) for read in reversed(node.inputs))
    return order


def _fused(nodes: list, names: list, outputs: list) -> list:
    """[layer, inputs, output, name] per engine layer, with an Affine (a
    BatchNorm) folded into the Conv1d or linear Dense right before it, and an
    activation Dense can apply folded into it, when nothing else reads the
    tensor between them (the layer keeps its name)."""
    readers: dict = {}
    for node in nodes:
        for tensor in node.inputs:
            readers[id(tensor)] = readers.get(id(tensor), 0) + 1
    steps = [[node.layer, list(node.inputs), node.output, name]
             for node, name in zip(nodes, names)]
    made_by = {id(step[2]): step for step in steps}
    kept = []
    for step in steps:
        layer, (source,) = step[0], step[1][:1] or [None]
        before = made_by.get(id(source)) if source is not None else None
        alone = (before is not None and readers.get(id(source)) == 1
                 and all(source is not out for out in outputs))
        if alone and isinstance(layer, Affine) and _folds_affine(before[0]):
            before[0] = _fold_affine(before[0], layer)
            before[2] = step[2]
            made_by[id(step[2])] = before
            continue
        if alone and isinstance(layer, Activation) and _folds_activation(before[0], layer):
            before[0] = copy.copy(before[0])
            before[0].activation = layer.op
            before[2] = step[2]
            made_by[id(step[2])] = before
            continue
        kept.append(step)
    return kept


def _folds_affine(layer: Layer) -> bool:
    return isinstance(layer, Conv1d) or (isinstance(layer, Dense) and layer.activation == "linear")


def _fold_affine(layer: Layer, affine: Affine) -> Layer:
    """W' = W * scale per output, b' = b * scale + shift: the Affine folded in."""
    scale = np.ones(affine.input_size) if affine.scale is None else affine.scale.astype(np.float64)
    shift = np.zeros(affine.input_size) if affine.shift is None else affine.shift
    folded = copy.copy(layer)
    bias = np.zeros(len(scale)) if layer.bias is None else layer.bias.astype(np.float64)
    weight = layer.weight.astype(np.float64)
    folded.weight = (weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))).astype(np.float32)
    folded.bias = (bias * scale + shift).astype(np.float32)
    return folded


def _folds_activation(layer: Layer, activation: Activation) -> bool:
    if not isinstance(layer, Dense) or layer.activation != "linear":
        return False
    if activation.op == "elu":
        return activation.parameters["alpha"] == 1.0
    return activation.op in ACTIVATIONS and activation.op != "linear"


class Model:
    """A graph of layers run by the C engine: ``predict`` over whole
    sequences, ``stream`` frame by frame.

    Build it from tensors, as Keras' functional API::

        x = fastrnn.Input(65)
        h = fastrnn.Activation("tanh")(fastrnn.Conv1d(w, b)(x))
        g = fastrnn.GRU(w_ih, w_hh, b_ih, b_hh)(h)
        gains = fastrnn.Dense(w1, b1, activation="sigmoid")(fastrnn.Concatenate()(h, g))
        vad = fastrnn.Dense(w2, b2, activation="sigmoid")(g)
        model = fastrnn.Model(x, [gains, vad], output_names=["gains", "vad"])

    Parameters
    ----------
    inputs : Tensor or list of Tensor (``fastrnn.Input``)
    outputs : Tensor or list of Tensor
        A model with several outputs returns a tuple, in this order.
    output_names, input_names : list of str, optional
    layer_names : list of str, optional
        The names of the layers in the order the model runs them (default
        ``layer<i>``); the state is keyed "<layer name>.<part>".
    isa : str, optional
        Instruction set to pack for ("generic", "avx2", "avx512",
        "avx512_vnni", "avx512_bf16"); default ``fastrnn.runtime.default_isa()``.
    precision : "float32", "float16", "bfloat16" or "int8"
        Storage of the packed weights (biases stay float32), a property of
        the packed model; the README's Precision section gives each one's
        measured error against float32. "float16" (AVX2 and AVX-512 only)
        rounds every weight to IEEE half precision (relative error <= 2**-11)
        and computes in float32. "bfloat16" rounds them to bfloat16 (relative
        error <= 2**-9); with isa "avx512_bf16" the products are vdpbf16ps
        dot products, which round each layer's inputs (features and the
        recurrent state, every step) to bfloat16 too; elsewhere the weights
        are widened exactly and the arithmetic is float32. "int8" stores
        each weight as an int8 times a float scale per output unit and gate
        (its largest |weight| / 127); with "avx512_vnni" and above the
        products are vpdpbusd dot products of those with each layer's inputs
        quantized to 8 bits per frame (scale max |x| / 127), elsewhere the
        int8 weights are widened to float32. Sums are float32 (int32 for
        vpdpbusd) and results stay bit-for-bit independent of batching,
        chunking and threads for every precision.
    mask_value : float, optional
        As a leading Keras ``Masking`` layer: in ``predict``, steps whose
        features all equal it are skipped, wherever they are in a sequence,
        with Keras' outputs there: a recurrent layer carries its state over
        them and outputs it again, a Bidirectional layer outputs zeros, and
        the layers after them compute on that. Streams take every frame as
        given. Not with convolutions or pooling.
    metadata : dict, optional
        JSON-serialisable data saved with the model (``save``/``load``):
        ``"front_end"`` (``fastrnn.audio.FrontEnd.to_dict()``), ``"labels"``,
        or anything an application needs.

    ``save(path)`` writes the model to one file (fastrnn.io.native, which
    attaches the method); ``fastrnn.load(path)`` reads it back.
    """

    def __init__(self, inputs, outputs, *, output_names: list | None = None,
                 input_names: list | None = None, layer_names: list | None = None,
                 isa: str | None = None, precision: str = "float32",
                 mask_value: float | None = None, metadata: dict | None = None):
        self.inputs, self.outputs = _as_list(inputs), _as_list(outputs)
        if not self.inputs or not self.outputs:
            raise ValueError("a model needs at least one input and one output")
        for tensor in self.inputs:
            if not isinstance(tensor, Tensor) or tensor.node is not None:
                raise TypeError(f"inputs: expected fastrnn.Input tensors, got {tensor!r}")
        self.nodes = graph_nodes(self.inputs, self.outputs)
        if not self.nodes:
            raise ValueError("the model has no layers: every output is an input")
        self.layer_names = self._names(layer_names, len(self.nodes), "layer_names", "layer")
        self.input_names = self._names(input_names, len(self.inputs), "input_names", "input",
                                       [t.name for t in self.inputs])
        self.output_names = self._names(output_names, len(self.outputs), "output_names",
                                        "output", [t.name for t in self.outputs])
        if metadata is not None and not isinstance(metadata, dict):
            raise TypeError(f"metadata: expected a dict, got {type(metadata).__name__}")
        self.metadata = dict(metadata or {})
        self.isa = runtime.default_isa() if isa is None else isa
        self.precision = precision
        self.mask_value = None if mask_value is None else float(mask_value)
        if self.mask_value is not None and any(isinstance(node.layer, (Conv1d, Pool1d, GlobalPool))
                                               for node in self.nodes):
            raise NotImplementedError("mask_value with convolution or pooling layers: a Keras "
                                      "Masking does not pass through them")
        if precision in _LARGEST:
            for node, name in zip(self.nodes, self.layer_names):
                largest = max((float(np.abs(w).max(initial=0.0)) for w in node.layer.weights()),
                              default=0.0)
                if largest > _LARGEST[precision]:
                    raise ValueError(f"layer {name} ({node.layer!r}) has a weight of magnitude "
                                     f"{largest:g}, beyond {precision}'s range "
                                     f"({_LARGEST[precision]:g}); use precision='float32'")
        self._engine, self._engine_tensors = self._build()

    @staticmethod
    def _names(names, count: int, what: str, prefix: str, given: list | None = None) -> list:
        if names is None:
            names = [name or f"{prefix}{i}" for i, name in enumerate(given or [None] * count)]
        names = [str(name) for name in names]
        if len(names) != count or len(set(names)) != count:
            raise ValueError(f"{what}: expected {count} distinct names, got {names}")
        return names

    def _build(self) -> tuple:
        """The packed engine model, and the engine tensor of each tensor (by id)."""
        engine = EngineModel(self.isa, self.precision)
        tensors = {id(t): engine.add_input(t.features) for t in self.inputs}
        ends = set()                        # tensors after a sequence's end
        engine_layers, engine_names = [], []
        for layer, reads, output, name in _fused(self.nodes, self.layer_names, self.outputs):
            after_end = [t for t in reads if id(t) in ends]
            if after_end and (layer.recurrent or layer.state):
                raise ValueError(f"{layer!r} reads a tensor that has one frame per sequence "
                                 f"(after a layer with return_sequences=False or a global "
                                 f"pool): only frame layers may follow")
            tensors[id(output)] = layer._add_to(engine, [tensors[id(t)] for t in reads])
            if after_end or not layer.return_sequences:
                ends.add(id(output))
            engine_layers.append(layer)
            engine_names.append(name)
        engine.set_outputs([tensors[id(t)] for t in self.outputs])
        engine.state_parts = state_parts(engine_names, engine_layers, engine)
        return engine, tensors

    def state_names(self) -> list:
        """Keys of the state dicts (predict's initial_state and return_state,
        Stream.get_state): "<layer name>.<part>" (see ``state_parts``)."""
        return [name for name, _, _ in self._engine.state_parts]

    def state_shapes(self) -> dict:
        """{state name: shape} of one sequence's state: (features,), or
        (frames, features) for a window's history."""
        return self._engine.state_shapes(1, True)

    def tensor_timing(self, tensor: Tensor) -> tuple:
        """(rate, delay) of one of the model's tensors (an input or a node's
        output), as ``timing`` gives them for the outputs."""
        while id(tensor) not in self._engine_tensors:
            readers = [node for node in self.nodes if any(read is tensor for read in node.inputs)]
            if all(node is not tensor.node for node in self.nodes) or len(readers) != 1:
                raise ValueError(f"{tensor!r} is not a tensor of this model")
            tensor = readers[0].output      # folded into its one reader, which keeps its timing
        return self._engine.timing(self._engine_tensors[id(tensor)])

    @property
    def layers(self) -> list:
        """The layers, in the order the model runs them."""
        return [node.layer for node in self.nodes]

    @property
    def input_size(self) -> int:
        """Features per frame of the (first) input."""
        return self.inputs[0].features

    @property
    def output_size(self) -> int:
        """Features per frame of the (first) output."""
        return self.outputs[0].features

    @property
    def timing(self) -> list:
        """(rate, delay) of each output: its frame j follows input frame
        j * rate + delay (rate 0: one frame per sequence)."""
        return [self._engine.timing(t) for t in self._engine.outputs]

    @property
    def returns_sequences(self) -> bool:
        """False if the (first) output has one frame per sequence: predict
        gives the last step only."""
        return self.timing[0][0] != 0

    @property
    def needs_sequences(self) -> bool:
        """True if a layer is Bidirectional, goes backwards, or pads by each
        sequence's length: the model reads whole sequences (predict), never
        frames (stream)."""
        return self._engine.needs_sequences

    @property
    def weight_bytes(self) -> int:
        """Bytes of the packed weights and biases the engine holds."""
        return self._engine.weight_bytes

    def __repr__(self) -> str:
        inner = ",\n    ".join(f"{name}: {node.layer!r}"
                               for name, node in zip(self.layer_names, self.nodes))
        return (f"Model([\n    {inner},\n], inputs={self.input_names}, "
                f"outputs={self.output_names}, isa={self.isa!r}, precision={self.precision!r})")

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
            raise ValueError("a model with a Bidirectional or go_backwards layer, padding "
                             "that depends on the sequence's length, or a merge of tensors a "
                             "stream gives at different rates needs whole sequences: use "
                             "predict")
        threads = runtime.get_num_threads() if num_threads is None else num_threads
        return Stream(self._engine, batch_size, nan_policy, threads)

    def _input_arrays(self, x) -> list:
        """The model's inputs from `x` (an array for one input; a list, tuple or
        {name: array} for several), each checked: (T, F) or (B, T, F) floats."""
        if isinstance(x, dict):
            missing = sorted(set(self.input_names) - set(x))
            if missing or len(x) != len(self.inputs):
                raise ValueError(f"x: expected the inputs {self.input_names}, got {sorted(x)}")
            x = [x[name] for name in self.input_names]
        items = list(x) if isinstance(x, (list, tuple)) and len(self.inputs) > 1 else [x]
        if len(items) != len(self.inputs):
            raise ValueError(f"x: expected {len(self.inputs)} inputs, got {len(items)}")
        arrays = []
        for name, item, tensor in zip(self.input_names, items, self.inputs):
            array = np.asarray(item)
            if array.dtype.kind != "f":
                raise TypeError(f"x: expected a floating-point array, got dtype {array.dtype}")
            if array.ndim not in (2, 3) or array.shape[-1] != tensor.features:
                raise ValueError(f"x: expected shape (T, {tensor.features}) or (B, T, "
                                 f"{tensor.features}), got {array.shape}"
                                 + (f" for input {name!r}" if len(self.inputs) > 1 else ""))
            arrays.append(array)
        if len({a.shape[:-1] for a in arrays}) != 1:
            raise ValueError(f"x: the inputs' shapes differ before the features: "
                             f"{[a.shape for a in arrays]}")
        return arrays

    def predict(self, x, *, lengths=None, initial_state: dict | None = None,
                return_state: bool = False):
        """Run the model over whole sequences.

        Parameters
        ----------
        x : array (T, F) or (B, T, F), any floating dtype and strides; for a
            model with several inputs, a list or {input name: array} of them
        lengths : int array (B,), optional
            Steps of each sequence (0 <= length <= T): each sequence runs as
            if it had only those (PyTorch's packed sequences): steps past its
            length leave its state untouched and its outputs are zero; a
            model that returns only the last step returns each sequence's
            own. A Bidirectional layer's backward direction starts at each
            sequence's last step.
        initial_state : dict, optional
            The state to start from, as ``Stream.get_state()`` gives it:
            ``{"layer<i>.h": (H,) or (B, H), ...}``. Default zeros.
        return_state : bool
            Also return the state after each sequence's last step (same form).

        Returns
        -------
        float32 array (T_out, O) or (B, T_out, O) per output (T_out: the
        frames a sequence of T steps gives, as the framework's layers count
        them: T for layers that keep the timing, fewer after a stride or
        "valid" padding, more after padding beyond a kernel's span); (O,) or
        (B, O) for an output with one frame per sequence.
        A tuple of them for several outputs; with return_state,
        ``(outputs, state)``.
        """
        arrays = self._input_arrays(x)
        single = arrays[0].ndim == 2
        batches = [a[np.newaxis] if single else a for a in arrays]
        num_sequences, steps = batches[0].shape[:2]
        counts, mask = self._steps(batches[0], lengths, single)
        engine = self._engine
        initial = None if initial_state is None else engine.checked_state(
            initial_state, num_sequences, single, False)
        per_sequence = [rate == 0 for rate, _ in self.timing]
        if any(per_sequence) and num_sequences and (
                steps == 0 or (counts is not None and not counts.all())):
            raise ValueError("x: a model that returns only the last step needs at least one "
                             f"step, got {steps} steps"
                             if steps == 0 else "lengths: a model that returns only the last "
                             "step needs at least one step per sequence, got a sequence with "
                             "none")
        if mask is not None and any(getattr(node.layer, "go_backwards", False)
                                    for node in self.nodes):
            raise NotImplementedError("go_backwards with masked steps is not supported")
        run_sequences = max(num_sequences, 1)    # no sequences: shapes from a zero sequence
        inputs = [as_c_float32(b if num_sequences else np.zeros((1,) + b.shape[1:]))
                  for b in batches]
        state = engine.new_state(run_sequences)
        if initial and num_sequences:
            engine.write_state(state, num_sequences, initial)
        outputs, frames = engine.run(inputs, state, None if counts is None else counts,
                                     mask, True, runtime.get_num_threads())
        results = []
        for index, ((rate, _), y, made) in enumerate(zip(self.timing, outputs, frames)):
            if rate == 0:
                y = y[:, 0]
            else:       # a whole sequence's frames (a shorter one's then zeros), or more
                width = max(engine.sequence_frames(index, steps), int(made.max(initial=0)))
                y = y[:, :width]
            y = y[:num_sequences]
            results.append(y[0] if single else y)
        result = results[0] if len(results) == 1 else tuple(results)
        if not return_state:
            return result
        final = engine.read_state(state, run_sequences, single)
        if not num_sequences:
            final = {name: value[:0] for name, value in final.items()}
        return result, final

    def _steps(self, batch: np.ndarray, lengths, single: bool):
        """(counts, mask): each sequence's steps from `lengths` ((B,) int32 or
        None), and which steps run from mask_value ((B, T) bool or None,
        steps whose features all equal it are skipped, as Keras' Masking)."""
        num_sequences, steps = batch.shape[:2]
        if self.mask_value is not None:
            if lengths is not None:
                raise ValueError("lengths: this model has a mask_value, which decides the "
                                 "steps that run; give one or the other")
            mask = ~np.all(batch == self.mask_value, axis=-1)
            if not self.returns_sequences and num_sequences and steps \
                    and not mask.any(axis=1).all():
                raise ValueError("lengths: a model that returns only the last step needs at "
                                 "least one step per sequence, got a sequence with none")
            return None, (None if mask.all() else mask)
        if lengths is None:
            return None, None
        lengths = np.asarray(lengths)
        if single:
            lengths = lengths.reshape(-1)
        if lengths.dtype.kind not in "iu" or lengths.shape != (num_sequences,):
            raise ValueError(f"lengths: expected {num_sequences} integers, got "
                             f"{lengths.dtype} of shape {lengths.shape}")
        if lengths.size and (lengths.min() < 0 or lengths.max() > steps):
            raise ValueError(f"lengths: expected values in [0, {steps}], got "
                             f"min {lengths.min()}, max {lengths.max()}")
        return np.ascontiguousarray(lengths, dtype=np.intc), None


class Sequential(Model):
    """A chain of layers run in order: the Model of ``layers[0](x)``, then
    ``layers[1]`` on its output, and so on.

    Parameters
    ----------
    layers : sequence of Layer
        Each layer takes the previous one's output. After a recurrent layer
        with ``return_sequences=False`` only frame layers (Dense,
        activations, ...) may follow.
    isa, precision, mask_value, metadata : see ``Model``.

    The layers' state is keyed "layer<i>.h", "layer<i>.c", ... by index.
    """

    def __init__(self, layers: Iterable[Layer], *, isa: str | None = None,
                 precision: str = "float32", mask_value: float | None = None,
                 metadata: dict | None = None):
        self._chain = list(layers)
        check_stack(self._chain)
        x = Input(self._chain[0].input_size)
        y = x
        for layer in self._chain:
            y = layer(y)
        super().__init__(x, y, isa=isa, precision=precision, mask_value=mask_value,
                         metadata=metadata)

    @property
    def layers(self) -> list:
        return list(self._chain)

    def __repr__(self) -> str:
        inner = ",\n    ".join(repr(layer) for layer in self._chain)
        mask = "" if self.mask_value is None else f", mask_value={self.mask_value!r}"
        return (f"Sequential([\n    {inner},\n], isa={self.isa!r}, "
                f"precision={self.precision!r}{mask})")

    @property
    def returns_sequences(self) -> bool:
        """False if a layer has return_sequences=False: predict gives the last step only."""
        return all(layer.return_sequences for layer in self._chain)
