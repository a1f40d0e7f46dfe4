"""ONNX graphs compiled onto the engine: the nodes fastrnn's layers compute
become one fastrnn Model, run in one C call; the others run in NumPy
(the operator table) before it, or after it when they read its outputs.

Each compiled ONNX value is a ``Sequence``: the fastrnn tensor holding it as
(B, T, F) frames, and the ONNX array's layout: its shape is ``(B, T) +
feature_shape`` transposed by ``perm`` (ONNX axis i is canonical axis
perm[i]: 0 batch, 1 time, 2... the feature sub-axes, flattened in order to
F). Layout-only nodes (Transpose, Squeeze, Unsqueeze, a Reshape of the
features) change the layout and nothing else. A recurrent node's initial
states come from graph values sliced along their first axis (the layers of
a multi-layer export), and its final states go to graph outputs, joined by
Concat: they are the model's state, which ``CompiledGraph.run`` binds on
every call and ``Model.stream()`` carries itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ... import runtime
from ...layers import (Activation, BatchNorm, Concatenate, Conv1d, Dense, Elementwise,
                       GlobalPool, Input, LayerNorm, Pool1d, Reduce, Slice, Tensor)
from ..._engine import GraphCall
from ...model import Model, graph_nodes
from .ir import Graph, Node, reads_of_branches
from .proto import MAX_TENSOR_ELEMENTS, check_size
from .recurrent import RecurrentNode, fastrnn_refusal

# ONNX activations and the fastrnn Activation computing them: name, and
# {fastrnn parameter: (ONNX attribute, the spec's default)}.
UNARY = {
    "Relu": ("relu", {}), "Tanh": ("tanh", {}), "Sigmoid": ("sigmoid", {}),
    "Selu": ("selu", {}), "Softplus": ("softplus", {}), "Exp": ("exp", {}), "Log": ("log", {}),
    "Sqrt": ("sqrt", {}), "Abs": ("abs", {}), "Neg": ("neg", {}),
    "Reciprocal": ("reciprocal", {}),
    "LeakyRelu": ("leaky_relu", {"negative_slope": ("alpha", 0.01)}),
    "Elu": ("elu", {"alpha": ("alpha", 1.0)}),
    "HardSigmoid": ("hard_sigmoid", {"alpha": ("alpha", 0.2), "beta": ("beta", 0.5)}),
}
BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Max": "max", "Min": "min"}
REDUCE = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max"}
RECURRENT = ("LSTM", "GRU", "RNN")
# Ops whose outputs are never larger than their inputs: no size to check
# when the engine makes them unnecessary.
_VIEWS = {"Slice", "Squeeze", "Unsqueeze", "Transpose", "Reshape", "Gather", "Identity", "Shape",
          "Size", "Split"}
# Ops of the shape arithmetic exporters compute Reshape targets with.
_SHAPE_ARITHMETIC = {"Slice", "Gather", "Concat", "Mul", "Squeeze", "Unsqueeze", "Reshape",
                     "Cast", "Identity", "ConstantOfShape", "Expand"}
# Ops that carry zeros through unchanged: data input 0.
_ZERO_PRESERVING = {"Expand", "Slice", "Reshape", "Squeeze", "Unsqueeze", "Transpose",
                    "Identity", "Gather", "Concat", "Cast"}


def _is_zeros(name: str, graph: Graph) -> bool:
    """True if `name` is all zeros whatever the input: a zero constant, a
    ConstantOfShape of 0, or such a value sliced, expanded, reshaped or
    concatenated (how exporters build a default initial state)."""
    if name in graph.constants:
        return not np.any(graph.constants[name])
    node = graph.producers().get(name)
    if node is None:
        return False
    if node.op == "ConstantOfShape":
        value = node.attributes.get("value")
        return value is None or not np.any(value)
    if node.op == "Concat":
        return all(_is_zeros(n, graph) for n in node.inputs if n)
    return node.op in _ZERO_PRESERVING and _is_zeros(node.inputs[0], graph)


@dataclass
class Sequence:
    """A compiled ONNX value (see the module docstring). per_sequence: one
    frame per sequence (no time axis: canonical axes batch, features...);
    pad: zero frames (left, right) a Pad put on the time axis, pending for
    the convolution or pool that reads it."""

    tensor: Tensor
    perm: tuple
    feature_shape: tuple
    per_sequence: bool = False
    pad: tuple = (0, 0)

    @property
    def canonical(self) -> tuple:
        """The canonical axes' roles: batch, (time), feature 0, feature 1, ..."""
        return ("batch",) + (() if self.per_sequence else ("time",)) + tuple(
            f"feature{k}" for k in range(len(self.feature_shape)))

    def axis_of(self, onnx_axis: int) -> str:
        return self.canonical[self.perm[onnx_axis]]

    def onnx_axis(self, role: str) -> int:
        return self.perm.index(self.canonical.index(role))

    @property
    def rank(self) -> int:
        return len(self.perm)


@dataclass
class StateSource:
    """An initial state: graph value `name`, entry `index` of its first axis
    (a layer of a multi-layer export), then its (B, H) rows; batch_first:
    the value is (B, D, H) (ONNX layout 1)."""

    name: str
    index: int
    batch_first: bool = False


@dataclass
class FinalState:
    """A final state (Y_h or Y_c of one direction): the state part named."""

    state: str


@dataclass
class CompiledGraph:
    """A graph's nodes run as one fastrnn Model between NumPy nodes.

    before / after : IR nodes run by the operator table before and after
    model : the fastrnn.Model of the compiled nodes
    inputs : per model input, the ONNX value and its Sequence layout
    states : {model state name: StateSource} (zeros where absent)
    lengths : the ONNX value of the sequence lengths, or None
    size_checks, symbol_axes : the sizes of the nodes the engine made
        unnecessary, checked on every run (see ``_live``)
    call : the engine call (_engine.GraphCall), made from the above
    outputs : {ONNX name: (the model output computing it, its Sequence), or
        a list of FinalState (joined along axis 0, or axis 1 when batch_first)}
    """

    before: list
    after: list
    model: Model
    inputs: list
    states: dict
    lengths: str | None
    outputs: dict
    batch_first_states: dict = field(default_factory=dict)
    size_checks: list = field(default_factory=list)
    symbol_axes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        """The engine's call, worked out once (see _engine.GraphCall)."""
        engine = self.model._engine
        part_index = {name: k for k, (name, _, _) in enumerate(engine.state_parts)}
        initial = tuple(None if source is None else (source.name, source.index,
                                                     source.batch_first)
                        for source in (self.states.get(name) for name, _, _ in
                                       engine.state_parts))
        finals = tuple((name, tuple(part_index[part.state] for part in how),
                        bool(self.batch_first_states.get(name)))
                       for name, how in self.outputs.items() if isinstance(how, list))
        output_index = {name: k for k, name in enumerate(self.model.output_names)}
        input_index = {name: k for k, (name, _) in enumerate(self.inputs)}
        results = tuple((name, output_index.get(source, -1), input_index.get(source, -1),
                         tuple(layout.feature_shape), _permutation(layout.perm))
                        for name, how in self.outputs.items() if isinstance(how, tuple)
                        for source, layout in [how])
        inputs = tuple((name, _permutation(tuple(np.argsort(layout.perm))))
                       for name, layout in self.inputs)
        self.call = GraphCall(engine, inputs, initial, finals, results, self.lengths)

    @property
    def reads(self) -> set:
        """The values the segment reads: inputs, initial states, lengths."""
        return ({name for name, _ in self.inputs} | {s.name for s in self.states.values()}
                | ({self.lengths} if self.lengths else set()))

    def run(self, values: dict) -> None:
        """The compiled nodes on `values` ({name: array}), adding their
        outputs: one engine call from the initial states given."""
        for node, name, shape, dtype in self.size_checks:
            sizes = tuple(dim if isinstance(dim, int) else np.shape(
                values[self.symbol_axes[dim][0]])[self.symbol_axes[dim][1]] for dim in shape)
            check_size(sizes, dtype, f"ONNX node {node.name!r} ({node.op}) output {name!r}")
        self.call.run(values, runtime.get_num_threads())


def _whole_axes(starts, ends, steps) -> bool:
    """Whether a Slice keeps every element of the axes it names: each from
    0, step 1, to an end no axis reaches (MAX_TENSOR_ELEMENTS; exporters
    write INT64_MAX for `x[:, ...]`)."""
    if starts is None or ends is None:
        return False
    steps = [1] * len(list(starts)) if steps is None else list(steps)
    return all(int(start) == 0 and int(end) >= MAX_TENSOR_ELEMENTS and int(step) == 1
               for start, end, step in zip(starts, ends, steps, strict=True))


def _permutation(perm: tuple) -> tuple | None:
    """`perm` as ints, or None for the identity (no transpose needed)."""
    perm = tuple(int(axis) for axis in perm)
    return None if perm == tuple(range(len(perm))) else perm


class _Compiler:
    """One pass over a graph's nodes, in order, deciding for each whether the
    engine computes it (`compile_node` returns True) or NumPy does."""

    def __init__(self, graph: Graph, constants: dict, excluded: set):
        self.graph, self.constants, self.excluded = graph, constants, excluded
        self.sequences: dict[str, Sequence] = {}
        self.inputs: list = []                   # (ONNX name, Sequence) per model input
        self.frame_axes: tuple | None = None     # the inputs' (batch, time) dimensions
        self.states: dict = {}
        self.finals: dict[str, tuple] = {}       # Y_h / Y_c name -> (state names per direction)
        self.lengths: str | None = None
        self.batch_first: dict = {}
        self.numpy_outputs: set = set()          # values NumPy computes after the engine
        self.shape_values: set = set()           # shape arithmetic on engine values (_segment)
        self.compiled_layers: list = []          # (Tensor made, ONNX node name)

    @property
    def input_names(self) -> list:
        return [name for name, _ in self.inputs]

    # --- values ---

    def input_sequence(self, name: str) -> Sequence | None:
        """A graph input (or NumPy value computed before the engine) as a
        compiled sequence, when its layout is known: one batch and one time
        axis, the rest features."""
        value = self.graph.values.get(name)
        if value is None or value.axes is None or value.shape is None or name in self.excluded:
            return None
        roles = list(value.axes)
        if roles.count("batch") != 1 or roles.count("time") != 1:
            return None
        features = [i for i, role in enumerate(roles) if role not in ("batch", "time")]
        sizes = [value.shape[i] for i in features]
        frame_axes = (value.shape[roles.index("batch")], value.shape[roles.index("time")])
        if not all(isinstance(size, int) for size in sizes) or None in frame_axes \
                or self.frame_axes not in (None, frame_axes):
            return None                 # one model runs inputs of one batch and length
        self.frame_axes = frame_axes
        perm = [0] * len(roles)
        for k, i in enumerate(features):
            perm[i] = 2 + k
        perm[roles.index("batch")], perm[roles.index("time")] = 0, 1
        tensor = Input(int(np.prod(sizes)) if sizes else 1, name=name)
        sequence = Sequence(tensor, tuple(perm), tuple(sizes))
        self.inputs.append((name, sequence))
        self.sequences[name] = sequence
        return sequence

    def sequence(self, name: str) -> Sequence | None:
        if name in self.sequences:
            return self.sequences[name]
        if name in self.numpy_outputs or name in self.shape_values or name in self.constants \
                or not name:
            return None
        return self.input_sequence(name)

    def constant(self, name: str) -> np.ndarray | None:
        return None if not name else self.constants.get(name)

    def made(self, node: Node, output: str, sequence: Sequence) -> bool:
        self.sequences[output] = sequence
        self.compiled_layers.append((sequence.tensor, node.name))
        return True

    def relabeled(self, output: str, sequence: Sequence) -> bool:
        self.sequences[output] = sequence
        return True

    def feature_vector(self, sequence: Sequence, array: np.ndarray) -> np.ndarray | None:
        """A constant broadcast against `sequence` as one value per feature
        (or one value), when it varies along the feature axis only."""
        array = np.asarray(array)
        if array.ndim > sequence.rank or not np.issubdtype(array.dtype, np.floating):
            return None
        if array.size == 1:
            return array.reshape(1).astype(np.float32)
        if len(sequence.feature_shape) != 1:
            return None
        shaped = array.reshape((1,) * (sequence.rank - array.ndim) + array.shape)
        feature = sequence.onnx_axis("feature0")
        if any(size != 1 for axis, size in enumerate(shaped.shape) if axis != feature):
            return None
        if shaped.shape[feature] != sequence.feature_shape[0]:
            return None
        return shaped.reshape(-1).astype(np.float32)

    # --- nodes ---

    def compile_node(self, node: Node) -> bool:
        rule = getattr(self, f"_{node.op}", None)
        if rule is None:
            return False
        return bool(rule(node))

    def _LSTM(self, node: Node) -> bool:
        return self._recurrent(node)

    _GRU = _RNN = _LSTM

    def _recurrent(self, node: Node) -> bool:
        if fastrnn_refusal(node, self.constants) is not None:
            return False
        attributes = node.attributes
        if attributes["direction"] == "reverse":
            return False
        x = self.sequence(node.input(0))
        if x is None or x.per_sequence or len(x.feature_shape) != 1 or x.pad != (0, 0):
            return False
        recurrent = RecurrentNode(node, self.constants)
        batch_first = attributes["layout"] == 1
        sources = []
        for index in (5, 6):
            source = self.state_source(node.input(index), batch_first, recurrent)
            if source is False:
                return False
            sources.append(source)
        lengths = node.input(4)
        if lengths and (self.lengths not in (None, lengths) or lengths in self.numpy_outputs):
            return False
        if lengths:
            self.lengths = lengths
        layer = recurrent.layer
        tensor = layer(x.tensor)
        name = node.name
        directions, hidden = recurrent.directions, recurrent.hidden
        parts = ("h", "c") if node.op == "LSTM" else ("h",)
        prefixes = ["forward.", "backward."] if directions == 2 else [""]
        for part, source in zip(parts, sources):
            for d, prefix in enumerate(prefixes):
                if source is not None:
                    self.states[f"{name}.{prefix}{part}"] = StateSource(
                        source.name, source.index + d, source.batch_first)
        for output_index, part in ((1, "h"), (2, "c")):
            output = node.outputs[output_index] if len(node.outputs) > output_index else ""
            if output and part in parts:
                self.finals[output] = tuple(f"{name}.{prefix}{part}" for prefix in prefixes)
                self.batch_first[output] = batch_first
        y = node.outputs[0] if node.outputs else ""
        # Y: (T, D, B, H), or (B, T, D, H) with layout 1
        perm = (0, 1, 2, 3) if batch_first else (1, 2, 0, 3)
        self.compiled_layers.append((tensor, name))
        if y:
            self.sequences[y] = Sequence(tensor, perm, (directions, hidden))
        return True

    def state_source(self, name: str, batch_first: bool,
                     recurrent: RecurrentNode) -> StateSource | None | bool:
        """Where an initial state comes from: None (zeros), a StateSource
        (a graph value, or a slice of one along its first axis: a layer of a
        multi-layer export), or False (a value only NumPy computes after the
        engine ran, or a non-zero constant). A zero state counts as zeros
        only when its inferred shape is the node's (D, B, H): else it is
        computed, so that a wrong or oversized one raises as it would."""
        if not name:
            return None
        if _is_zeros(name, self.graph) and self._state_shape_known(name, batch_first, recurrent):
            return None
        if self.constant(name) is not None or name in self.numpy_outputs \
                or name in self.shape_values:
            return False
        producer = self.graph.producers().get(name)
        if producer is not None and producer.op == "Slice" \
                and producer.input(0) not in self.numpy_outputs:
            start = self._layer_index(producer)
            if start is not None:
                return StateSource(producer.input(0), start, batch_first)
        return StateSource(name, 0, batch_first)

    def _state_shape_known(self, name: str, batch_first: bool, recurrent: RecurrentNode) -> bool:
        """True if value `name` is inferred to be (D, B, H), or (B, D, H)
        with batch_first, B the batch dimension of the compiled inputs."""
        value = self.graph.values.get(name)
        if value is None or value.shape is None or self.frame_axes is None:
            return False
        batch = self.frame_axes[0]
        expected = (batch, recurrent.directions, recurrent.hidden) if batch_first else (
            recurrent.directions, batch, recurrent.hidden)
        return batch is not None and tuple(value.shape) == expected

    @staticmethod
    def _layer_index(node: Node) -> int | None:
        """The index a Slice of one entry along axis 0 starts at, else None."""
        attributes = node.attributes
        axes, starts, ends = (attributes.get(key) for key in ("axes", "starts", "ends"))
        steps = attributes.get("steps")
        if starts is None or ends is None or len(list(starts)) != 1 \
                or list(axes if axes is not None else [0]) != [0] \
                or (steps is not None and list(steps) != [1]):
            return None
        start, end = int(list(starts)[0]), int(list(ends)[0])
        return start if start >= 0 and end == start + 1 else None

    def _Transpose(self, node: Node) -> bool:
        x = self.sequence(node.input(0))
        if x is None:
            return False
        order = node.attributes.get("perm") or list(reversed(range(x.rank)))
        return self.relabeled(node.outputs[0], Sequence(
            x.tensor, tuple(x.perm[i] for i in order), x.feature_shape, x.per_sequence, x.pad))

    def _Squeeze(self, node: Node) -> bool:
        x = self.sequence(node.input(0))
        axes = node.attributes.get("axes")
        if x is None or axes is None:
            return False
        axes = sorted(a % x.rank for a in axes)
        features = list(x.feature_shape)
        removed = []
        for axis in axes:
            role = x.axis_of(axis)
            if not role.startswith("feature") or features[int(role[7:])] != 1:
                return False
            removed.append(x.perm[axis])
        return self.relabeled(node.outputs[0], self._without(x, axes, removed))

    def _without(self, x: Sequence, axes: list, removed: list) -> Sequence:
        """`x` without the size-1 feature sub-axes at ONNX `axes`
        (canonical `removed`)."""
        first = len(x.canonical) - len(x.feature_shape)
        keep = [c for c in range(len(x.canonical)) if c not in removed]
        renumber = {c: k for k, c in enumerate(keep)}
        perm = tuple(renumber[c] for i, c in enumerate(x.perm) if i not in axes)
        features = tuple(size for k, size in enumerate(x.feature_shape)
                         if first + k not in removed)
        return Sequence(x.tensor, perm, features, x.per_sequence, x.pad)

    def _Unsqueeze(self, node: Node) -> bool:
        x = self.sequence(node.input(0))
        axes = node.attributes.get("axes")
        if x is None or axes is None:
            return False
        rank = x.rank + len(axes)
        axes = sorted(a % rank for a in axes)
        perm, features = list(x.perm), list(x.feature_shape)
        for axis in axes:
            new = len(x.canonical) - len(x.feature_shape) + len(features)
            perm.insert(axis, new)
            features.append(1)
        return self.relabeled(node.outputs[0], Sequence(x.tensor, tuple(perm), tuple(features),
                                                        x.per_sequence, x.pad))

    def dimensions(self, name: str) -> list | None:
        """The dimensions of value `name`: of a compiled sequence, its
        features' sizes and tokens for its batch and time axes (("batch",),
        ("time", id of its tensor)); else the inferred ones (ints and
        symbols); None when one is unknown."""
        sequence = self.sequences.get(name)
        if sequence is not None and not sequence.per_sequence:
            tokens = {"batch": ("batch",), "time": ("time", id(sequence.tensor))}
            return [tokens.get(role) or sequence.feature_shape[int(role[7:])]
                    for role in map(sequence.axis_of, range(sequence.rank))]
        value = self.graph.values.get(name)
        if value is None or value.shape is None or any(dim is None for dim in value.shape):
            return None
        return list(value.shape)

    def shape_entries(self, name: str) -> list | None:
        """The entries of a 1-D shape value computed from Shape of graph
        values (as exporters compute a Reshape's target from its input's
        dynamic dimensions): each an int or the symbol of a dimension the
        graph names; None when it is computed otherwise."""
        if name in self.constants:
            array = np.asarray(self.constants[name])
            return [int(v) for v in array.reshape(-1)] if array.dtype.kind in "iu" else None
        node = self.graph.producers().get(name)
        if node is None or name in self.numpy_outputs:
            return None
        attributes = node.attributes
        if node.op == "Shape":
            dims = self.dimensions(node.input(0))
            return None if dims is None else dims[slice(attributes.get("start", 0),
                                                          attributes.get("end"))]
        if node.op == "Concat":
            parts = [self.shape_entries(part) for part in node.inputs]
            return None if None in parts else [entry for part in parts for entry in part]
        entries = self.shape_entries(node.input(0))
        if entries is None:
            return None
        if node.op in ("Squeeze", "Unsqueeze", "Reshape", "Cast", "Identity"):
            return entries if len(entries) == 1 or node.op in ("Cast", "Identity") else None
        if node.op == "Slice":
            axes, steps = attributes.get("axes"), attributes.get("steps")
            starts, ends = attributes.get("starts"), attributes.get("ends")
            if starts is None or ends is None or list(axes if axes is not None else [0]) != [0]:
                return None
            step = 1 if steps is None else int(list(steps)[0])
            return entries[int(list(starts)[0]):int(list(ends)[0]):step]
        if node.op == "Gather":
            indices = self.constant(node.input(1))
            if indices is None or attributes.get("axis", 0) != 0:
                return None
            return [entries[int(i)] for i in np.asarray(indices).reshape(-1)]
        if node.op == "Mul":
            other = self.shape_entries(node.input(1))
            if other is None or len(entries) != 1 or len(other) != 1 \
                    or not all(isinstance(e, int) for e in entries + other):
                return None
            return [entries[0] * other[0]]
        return None

    def _Reshape(self, node: Node) -> bool:
        """Only a reshape of the features, when they are the trailing ONNX
        axes in canonical order and the leading axes stay: the target shape
        a constant, or computed from the input's own dimensions."""
        x = self.sequence(node.input(0))
        out = self.graph.values.get(node.outputs[0])
        if x is None:
            return False
        lead = len(x.canonical) - len(x.feature_shape)
        if tuple(x.perm[lead:]) != tuple(range(lead, len(x.canonical))):
            return False
        if node.attributes.get("shape") is not None:
            if not self._constant_target_keeps(node, lead):
                return False
            target = None if out is None or out.shape is None else list(out.shape)
        else:
            target = self._reshape_target(node, x, lead)
        if target is None:
            return False
        if len(target) < lead or not all(isinstance(d, int) for d in target[lead:]):
            return False
        if int(np.prod(target[lead:])) != int(np.prod(x.feature_shape)):
            return False
        perm = tuple(x.perm[:lead]) + tuple(range(lead, lead + len(target) - lead))
        return self.relabeled(node.outputs[0], Sequence(x.tensor, perm, tuple(target[lead:]),
                                                        x.per_sequence, x.pad))

    def _constant_target_keeps(self, node: Node, lead: int) -> bool:
        """Whether a constant Reshape target keeps the input's batch and time
        axes: each leading entry 0 (copied) or the size the graph declares
        for that axis. (onnxscript's optimizer can bake the export example's
        sizes into a graph whose axes are dynamic: that Reshape is ONNX's
        for those sizes only, and runs as NumPy's.)"""
        target = [int(entry) for entry in np.ravel(node.attributes["shape"])]
        value = self.graph.values.get(node.input(0))
        declared = None if value is None or value.shape is None else list(value.shape)
        if len(target) < lead:
            return False
        for axis in range(lead):
            copied = target[axis] == 0 and not node.attributes.get("allowzero")
            if not copied and (declared is None or declared[axis] != target[axis]):
                return False
        return True

    def _reshape_target(self, node: Node, x: Sequence, lead: int) -> list | None:
        """A Reshape's target from its computed shape input: leading entries
        the input's own batch and time dimensions (or 0: kept), the feature
        entries ints (one may be -1)."""
        entries = self.shape_entries(node.input(1))
        dims = self.dimensions(node.input(0))
        if entries is None or dims is None or len(entries) < lead:
            return None
        for axis in range(lead):
            same = entries[axis] == dims[axis] or (entries[axis] == self.frame_axes[0]
                                                   and dims[axis] == ("batch",))
            if not same and not (entries[axis] == 0 and not node.attributes.get("allowzero")):
                return None
        features = entries[lead:]
        if not all(isinstance(e, int) and e > 0 or e == -1 for e in features) \
                or features.count(-1) > 1:
            return None
        if -1 in features:
            known = int(np.prod([e for e in features if e != -1]))
            total = int(np.prod(x.feature_shape))
            if known == 0 or total % known:
                return None
            features[features.index(-1)] = total // known
        return dims[:lead] + features

    def frame_input(self, name: str) -> Sequence | None:
        """A sequence whose features are one axis, the last ONNX axis (what
        a MatMul, Gemm, LayerNormalization or Softmax over -1 needs)."""
        x = self.sequence(name)
        if x is None or len(x.feature_shape) != 1 or x.pad != (0, 0):
            return None
        return x

    def _MatMul(self, node: Node) -> bool:
        x, weight = self.frame_input(node.input(0)), self.constant(node.input(1))
        if x is None or weight is None or weight.ndim != 2 \
                or x.onnx_axis("feature0") != x.rank - 1:
            return False
        return self._dense(node, x, weight.T, None)

    def _Gemm(self, node: Node) -> bool:
        attributes = node.attributes
        x, weight = self.frame_input(node.input(0)), self.constant(node.input(1))
        bias = self.constant(node.input(2))
        if x is None or weight is None or attributes.get("transA") or x.rank != 2 \
                or x.onnx_axis("feature0") != 1:
            return False
        weight = weight if attributes.get("transB") else weight.T
        alpha, beta = attributes.get("alpha", 1.0), attributes.get("beta", 1.0)
        if bias is not None:
            bias = self.feature_vector(Sequence(x.tensor, x.perm, (weight.shape[0],),
                                                x.per_sequence), bias)
            if bias is None:
                return False
            bias = np.broadcast_to(bias, (weight.shape[0],)) * beta
        return self._dense(node, x, weight * alpha, bias)

    def _dense(self, node: Node, x: Sequence, weight: np.ndarray, bias) -> bool:
        layer = Dense(weight, bias)
        output = node.outputs[0]
        # a bias added right after (the only reader) folds into the Dense layer
        return self.made(node, output, Sequence(layer(x.tensor), x.perm, (weight.shape[0],),
                                                x.per_sequence))

    def _binary(self, node: Node, op: str) -> bool:
        a_name, b_name = node.input(0), node.input(1)
        a, b = self.sequence(a_name), self.sequence(b_name)
        if a is not None and b is not None:
            if (a.perm, a.feature_shape, a.per_sequence) != (b.perm, b.feature_shape,
                                                             b.per_sequence):
                return False
            return self.made(node, node.outputs[0], Sequence(
                Elementwise(op)(a.tensor, b.tensor), a.perm, a.feature_shape, a.per_sequence))
        first = a is None
        x, constant = (b, self.constant(a_name)) if first else (a, self.constant(b_name))
        if x is None or constant is None or x.pad != (0, 0):
            return False
        vector = self.feature_vector(x, constant)
        if vector is None:
            return False
        return self.made(node, node.outputs[0], Sequence(
            Elementwise(op, vector, constant_first=first)(x.tensor), x.perm, x.feature_shape,
            x.per_sequence))

    def _Add(self, node): return self._binary(node, "add")
    def _Sub(self, node): return self._binary(node, "sub")
    def _Mul(self, node): return self._binary(node, "mul")
    def _Div(self, node): return self._binary(node, "div")

    def _unary(self, node: Node) -> bool:
        x = self.sequence(node.input(0))
        if x is None or x.pad != (0, 0):
            return False
        name, parameters = UNARY[node.op]
        values = {key: node.attributes.get(attribute, default)
                  for key, (attribute, default) in parameters.items()}
        return self.made(node, node.outputs[0], Sequence(
            Activation(name, **values)(x.tensor), x.perm, x.feature_shape, x.per_sequence))

    for _op in UNARY:
        locals()[f"_{_op}"] = _unary
    del _op

    def _Gelu(self, node: Node) -> bool:
        x = self.sequence(node.input(0))
        if x is None or x.pad != (0, 0):
            return False
        name = "gelu_tanh" if node.attributes.get("approximate") == "tanh" else "gelu"
        return self.made(node, node.outputs[0], Sequence(
            Activation(name)(x.tensor), x.perm, x.feature_shape, x.per_sequence))

    def _Clip(self, node: Node) -> bool:
        x = self.sequence(node.input(0))
        low, high = node.attributes.get("min"), node.attributes.get("max")
        if x is None or x.pad != (0, 0) or node.input(1) or node.input(2):
            return False
        clip = Activation("clip", min=-np.inf if low is None else float(np.asarray(low)),
                          max=np.inf if high is None else float(np.asarray(high)))
        return self.made(node, node.outputs[0], Sequence(clip(x.tensor), x.perm,
                                                         x.feature_shape, x.per_sequence))

    def _Pow(self, node: Node) -> bool:
        x, exponent = self.sequence(node.input(0)), self.constant(node.input(1))
        if x is None or exponent is None or np.asarray(exponent).size != 1:
            return False
        layer = Activation("pow", exponent=float(np.asarray(exponent).reshape(-1)[0]))
        return self.made(node, node.outputs[0], Sequence(layer(x.tensor), x.perm,
                                                         x.feature_shape, x.per_sequence))

    def _PRelu(self, node: Node) -> bool:
        x, slope = self.sequence(node.input(0)), self.constant(node.input(1))
        if x is None or slope is None:
            return False
        slopes = self.feature_vector(x, slope)
        if slopes is None:
            return False
        return self.made(node, node.outputs[0], Sequence(
            Activation("prelu", slopes=slopes)(x.tensor), x.perm, x.feature_shape,
            x.per_sequence))

    def _softmax(self, node: Node, name: str) -> bool:
        x = self.frame_input(node.input(0))
        if x is None or node.attributes.get("axis", -1) % x.rank != x.onnx_axis("feature0"):
            return False
        return self.made(node, node.outputs[0], Sequence(
            Activation(name)(x.tensor), x.perm, x.feature_shape, x.per_sequence))

    def _Softmax(self, node): return self._softmax(node, "softmax")
    def _LogSoftmax(self, node): return self._softmax(node, "log_softmax")

    def _BatchNormalization(self, node: Node) -> bool:
        x = self.frame_input(node.input(0))
        scale, bias, mean, var = (self.constant(node.input(i)) for i in range(1, 5))
        if x is None or any(v is None for v in (scale, bias, mean, var)) \
                or node.attributes.get("training_mode") or x.rank < 2 \
                or x.onnx_axis("feature0") != 1:
            return False
        layer = BatchNorm(mean, var, scale, bias, node.attributes.get("epsilon", 1e-5))
        return self.made(node, node.outputs[0], Sequence(layer(x.tensor), x.perm,
                                                         x.feature_shape, x.per_sequence))

    def _LayerNormalization(self, node: Node) -> bool:
        x = self.frame_input(node.input(0))
        scale, bias = self.constant(node.input(1)), self.constant(node.input(2))
        if x is None or scale is None or len(node.outputs) > 1 and any(node.outputs[1:]):
            return False
        axis = node.attributes.get("axis", -1) % x.rank
        if axis != x.rank - 1 or x.onnx_axis("feature0") != axis:
            return False
        features = x.feature_shape[0]
        layer = LayerNorm(features, np.broadcast_to(scale, (features,)),
                          None if bias is None else np.broadcast_to(bias, (features,)),
                          node.attributes.get("epsilon", 1e-5))
        return self.made(node, node.outputs[0], Sequence(layer(x.tensor), x.perm,
                                                         x.feature_shape, x.per_sequence))

    def _Concat(self, node: Node) -> bool:
        parts = [self.frame_input(name) for name in node.inputs]
        if not parts or any(p is None for p in parts):
            return False
        first = parts[0]
        axis = node.attributes["axis"] % first.rank
        if any(p.perm != first.perm or p.per_sequence != first.per_sequence for p in parts) \
                or first.onnx_axis("feature0") != axis:
            return False
        tensor = Concatenate()([p.tensor for p in parts])
        return self.made(node, node.outputs[0], Sequence(
            tensor, first.perm, (sum(p.feature_shape[0] for p in parts),), first.per_sequence))

    def _feature_slices(self, x: Sequence, bounds: list, outputs: list, node: Node) -> bool:
        for (begin, end), output in zip(bounds, outputs):
            if output:
                self.made(node, output, Sequence(Slice(begin, end)(x.tensor), x.perm,
                                                 (end - begin,), x.per_sequence))
        return True

    def _Slice(self, node: Node) -> bool:
        attributes = node.attributes
        axes, starts, ends = attributes.get("axes"), attributes.get("starts"), attributes.get(
            "ends")
        steps = attributes.get("steps")
        whole = self.sequence(node.input(0))
        if whole is not None and _whole_axes(starts, ends, steps):
            return self.relabeled(node.outputs[0], whole)       # x[:, ...]: x itself
        x = self.frame_input(node.input(0))
        if x is None or starts is None or ends is None or len(list(starts)) != 1:
            return False
        axis = (list(axes)[0] if axes is not None else 0) % x.rank
        if axis != x.onnx_axis("feature0") or (steps is not None and list(steps) != [1]):
            return False
        size = x.feature_shape[0]
        begin, end, _ = slice(int(list(starts)[0]), int(list(ends)[0])).indices(size)
        if begin >= end:
            return False
        return self._feature_slices(x, [(begin, end)], node.outputs, node)

    def _Split(self, node: Node) -> bool:
        x = self.frame_input(node.input(0))
        if x is None or node.attributes["axis"] % x.rank != x.onnx_axis("feature0"):
            return False
        size = x.feature_shape[0]
        sizes = node.attributes.get("split")
        if sizes is None:
            count = len(node.outputs)
            if size % count:
                return False
            sizes = [size // count] * count
        edges = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        return self._feature_slices(x, list(zip(edges[:-1], edges[1:])), node.outputs, node)

    def _reduce(self, node: Node) -> bool:
        """Over the features: a Reduce layer; over time (mean, max): a
        GlobalPool, one frame per sequence."""
        x = self.sequence(node.input(0))
        axes = node.attributes.get("axes")
        if x is None or axes is None or len(list(axes)) != 1 or x.pad != (0, 0) \
                or len(x.feature_shape) != 1:
            return False
        axis = list(axes)[0] % x.rank
        role, keep = x.axis_of(axis), bool(node.attributes.get("keepdims", 1))
        if role == "feature0":
            reduced = Reduce(REDUCE[node.op])(x.tensor)
            if keep:
                return self.made(node, node.outputs[0], Sequence(reduced, x.perm, (1,),
                                                                 x.per_sequence))
            return self.made(node, node.outputs[0], self._without(
                Sequence(reduced, x.perm, (1,), x.per_sequence), [axis], [x.perm[axis]]))
        if role != "time" or node.op == "ReduceSum" or x.per_sequence:
            return False
        pooled = GlobalPool("avg" if node.op == "ReduceMean" else "max")(x.tensor)
        if keep:    # the time axis stays, of size 1: a feature sub-axis before the features
            return self.made(node, node.outputs[0],
                             Sequence(pooled, x.perm, (1, x.feature_shape[0]), True))
        perm = tuple(c - (c > 1) for c in x.perm if c != 1)       # batch 0, features 1
        return self.made(node, node.outputs[0], Sequence(pooled, perm, x.feature_shape, True))

    def _ReduceMean(self, node): return self._reduce(node)
    def _ReduceSum(self, node): return self._reduce(node)
    def _ReduceMax(self, node): return self._reduce(node)

    def _Pad(self, node: Node) -> bool:
        """Zero frames on the time axis, left for the convolution after it."""
        x = self.sequence(node.input(0))
        pads = node.attributes.get("pads")
        if x is None or pads is None or node.attributes.get("mode", "constant") != "constant" \
                or node.input(2) or x.per_sequence:
            return False
        pads = [int(p) for p in pads]
        rank = x.rank
        time = x.onnx_axis("time")
        if any(p for axis in range(rank) for p in (pads[axis], pads[axis + rank])
               if axis != time) or min(pads) < 0:
            return False
        left, right = x.pad
        return self.relabeled(node.outputs[0], Sequence(
            x.tensor, x.perm, x.feature_shape, False, (left + pads[time],
                                                        right + pads[time + rank])))

    def window_input(self, node: Node) -> tuple | None:
        """(sequence, spatial axes beside time of size 1) of a Conv / pool
        input laid out (B, C, T) or (B, C, 1, T) / (B, C, T, 1)."""
        x = self.sequence(node.input(0))
        if x is None or x.per_sequence or len(x.feature_shape) < 1:
            return None
        if x.onnx_axis("batch") != 0 or x.axis_of(1) != "feature0":
            return None
        others = [axis for axis in range(2, x.rank) if x.axis_of(axis) != "time"]
        if x.rank not in (3, 4) or any(x.feature_shape[int(x.axis_of(a)[7:])] != 1
                                       for a in others):
            return None
        return x, others

    def window_padding(self, node: Node, x: Sequence, kernel: int, stride: int,
                       dilation: int, time_index: int, spatial: int):
        attributes = node.attributes
        auto_pad = attributes.get("auto_pad", "NOTSET")
        if auto_pad == "VALID":
            padding = (0, 0)
        elif auto_pad == "SAME_UPPER":
            padding = "same"
        elif auto_pad == "NOTSET":
            pads = list(attributes.get("pads") or [0] * (2 * spatial))
            padding = (pads[time_index], pads[time_index + spatial])
        else:
            return None
        if x.pad != (0, 0):
            if isinstance(padding, str):
                return None
            padding = (padding[0] + x.pad[0], padding[1] + x.pad[1])
        return padding

    def _Conv(self, node: Node) -> bool:
        found = self.window_input(node)
        weight, bias = self.constant(node.input(1)), self.constant(node.input(2))
        if found is None or weight is None:
            return False
        x, others = found
        spatial = x.rank - 2
        time_index = x.onnx_axis("time") - 2
        if any(weight.shape[2 + a - 2] != 1 for a in others):
            return False
        attributes = node.attributes
        strides = list(attributes.get("strides") or [1] * spatial)
        dilations = list(attributes.get("dilations") or [1] * spatial)
        if any(strides[a - 2] != 1 or dilations[a - 2] != 1 for a in others):
            return False
        kernel = weight.shape[2 + time_index]
        padding = self.window_padding(node, x, kernel, strides[time_index],
                                      dilations[time_index], time_index, spatial)
        if padding is None:
            return False
        conv = Conv1d(weight.reshape(weight.shape[:2] + (kernel,)), bias,
                      stride=strides[time_index], dilation=dilations[time_index],
                      groups=attributes.get("group", 1), padding=padding)
        features = (weight.shape[0],) + (1,) * len(others)
        return self.made(node, node.outputs[0], Sequence(conv(x.tensor), x.perm, features))

    def _pool(self, node: Node, pool: str) -> bool:
        found = self.window_input(node)
        if found is None:
            return False
        x, others = found
        attributes = node.attributes
        spatial = x.rank - 2
        time_index = x.onnx_axis("time") - 2
        kernel_shape = list(attributes["kernel_shape"])
        strides = list(attributes.get("strides") or [1] * spatial)
        if attributes.get("ceil_mode") or any(kernel_shape[a - 2] != 1 for a in others) \
                or list(attributes.get("dilations") or [1] * spatial) != [1] * spatial:
            return False
        padding = self.window_padding(node, x, kernel_shape[time_index], strides[time_index],
                                      1, time_index, spatial)
        if padding is None:
            return False
        layer = Pool1d(pool, kernel_shape[time_index], strides[time_index], padding,
                       count_padding=bool(attributes.get("count_include_pad", 0)))
        return self.made(node, node.outputs[0], Sequence(layer(x.tensor), x.perm,
                                                         x.feature_shape))

    def _MaxPool(self, node: Node) -> bool:
        return len([o for o in node.outputs if o]) == 1 and self._pool(node, "max")

    def _AveragePool(self, node: Node) -> bool:
        return self._pool(node, "avg")


def compile_plan(graph: Graph, constants: dict | None = None) -> list:
    """The graph's nodes as the steps that run them, in order: nodes the
    operator table runs, and CompiledGraph segments (each one fastrnn Model:
    the nodes reading inputs of one batch and one length, with what they
    lead to). `constants`: the enclosing graphs' (an If branch reads them)."""
    constants = {**(constants or {}), **graph.constants}
    return _steps(graph, constants, list(graph.nodes), {value.name for value in graph.outputs})


def _steps(graph: Graph, constants: dict, nodes: list, needed: set) -> list:
    """`nodes` as steps; `needed`: the names read after them."""
    segment = compile_graph(graph, constants, nodes, needed)
    if segment is None:
        return nodes
    after_needed = needed | {name for node in segment.after for name in node.inputs}
    before_needed = after_needed | segment.reads
    return (_steps(graph, constants, segment.before, before_needed) + [segment]
            + _steps(graph, constants, segment.after, needed))


def compile_graph(graph: Graph, constants: dict, nodes: list,
                  needed: set) -> CompiledGraph | None:
    """The first segment of `nodes` the engine computes, between the NumPy
    nodes before and after it; None when it computes none. `needed`: the
    names read after `nodes` (the graph's outputs among them)."""
    excluded: set = set()
    while True:
        compiler = _Compiler(graph, constants, excluded)
        segment = _segment(compiler, nodes, needed)
        if segment is not None or not compiler.inputs:
            return segment
        excluded |= set(compiler.input_names)   # inputs only relabelled: try the others


def _segment(compiler: _Compiler, nodes: list, needed: set) -> CompiledGraph | None:
    graph = compiler.graph
    before, after, shape_nodes = [], [], []
    shapes = compiler.shape_values
    for node in nodes:
        reads_numpy_after = any(name in compiler.numpy_outputs for name in node.inputs)
        reads_engine = any(name in compiler.finals or name in shapes
                           or (name in compiler.sequences and name not in compiler.input_names)
                           for name in node.inputs if name)
        if _is_shape_arithmetic(node, compiler, shapes) and (reads_engine or not reads_numpy_after):
            if reads_engine:        # of an engine value: run after it, if anything reads it
                shape_nodes.append(node)
                shapes.update(name for name in node.outputs if name)
            else:
                before.append(node)
            continue
        if node.op != "If" and not reads_numpy_after and compiler.compile_node(node):
            continue
        if reads_engine or reads_numpy_after:
            after.append(node)
            compiler.numpy_outputs.update(name for name in node.outputs if name)
        else:
            before.append(node)
    if not compiler.compiled_layers:
        return None
    after, unrun = _with_shape_nodes(_joined_final_states(after, compiler), shape_nodes, nodes,
                                     needed, graph)
    read = [name for name in sorted(needed) if name not in compiler.input_names]
    read += sorted({name for node in after for name in node.inputs if name} - set(read))
    outputs, tensors = {}, {}
    for name in read:
        if name in compiler.finals:
            outputs[name] = [FinalState(state) for state in compiler.finals[name]]
        elif name in compiler.sequences and name not in compiler.input_names:
            sequence = compiler.sequences[name]
            if sequence.pad != (0, 0):
                return None                 # a Pad nothing compiled consumed
            if sequence.tensor.node is None:    # a relabelled input: no layer computes it
                outputs[name] = (compiler.input_names[
                    [s.tensor for _, s in compiler.inputs].index(sequence.tensor)], sequence)
                continue
            first = tensors.setdefault(id(sequence.tensor), (sequence.tensor, name))[1]
            outputs[name] = (first, sequence)
    if not tensors:                         # only final states are read: any output will do
        last = compiler.compiled_layers[-1][0]
        tensors[id(last)] = (last, "_unread")
    model_inputs = [sequence.tensor for _, sequence in compiler.inputs]
    model_outputs = [tensor for tensor, _ in tensors.values()]
    model = Model(model_inputs, model_outputs,
                  output_names=[name for _, name in tensors.values()],
                  input_names=list(compiler.input_names),
                  layer_names=_layer_names(model_inputs, model_outputs, compiler))
    live, size_checks = _live(before, compiler, after, needed | set(read), graph)
    size_checks += [(node, name, graph.values[name].shape, graph.values[name].dtype or np.float32)
                    for node in unrun for name in node.outputs
                    if name and any(isinstance(dim, str) for dim in graph.values[name].shape)]
    return CompiledGraph(live, after, model, compiler.inputs, compiler.states, compiler.lengths,
                         outputs, compiler.batch_first, size_checks,
                         _symbol_axes(graph) if size_checks else {})


def _is_shape_arithmetic(node: Node, compiler: _Compiler, shapes: set) -> bool:
    """Shape or Size of any value, or shape arithmetic on such shapes (and
    constants): what a Reshape's computed target is made of
    (``_Compiler.shape_entries``), and the zero initial states exporters
    make of a shape (ConstantOfShape, Expand, then Slice...: ``_is_zeros``)."""
    if node.op in ("Shape", "Size"):
        return True
    inputs = [name for name in node.inputs if name]
    return node.op in _SHAPE_ARITHMETIC and any(name in shapes for name in inputs) and all(
        name in shapes or name in compiler.constants for name in inputs)


def _with_shape_nodes(after: list, shape_nodes: list, nodes: list, needed: set,
                      graph: Graph) -> tuple[list, list]:
    """(`after` with the shape nodes of engine values that it, or what is
    read later (`needed`), reads, in the graph's order; the shape nodes
    nothing reads, left unrun). A node whose output shape is unknown is run
    (its size could not be checked otherwise)."""
    symbols = {dim for value in graph.inputs for dim in (value.shape or ()) if isinstance(dim, str)}
    wanted = set(needed) | {name for node in after for name in node.inputs}
    kept, unrun = [], []
    for node in reversed(shape_nodes):
        shapes = [graph.values[name].shape if name in graph.values else None
                  for name in node.outputs if name]
        unknown = any(shape is None or any(not isinstance(dim, int) and dim not in symbols
                                           for dim in shape) for shape in shapes)
        if unknown or any(name in wanted for name in node.outputs):
            kept.append(node)
            wanted |= set(node.inputs)
        elif node.op not in _VIEWS:
            unrun.append(node)
    order = {id(node): k for k, node in enumerate(nodes)}
    return sorted(after + kept, key=lambda node: order[id(node)]), unrun[::-1]


def _joined_final_states(after: list, compiler: _Compiler) -> list:
    """`after` without the Concat nodes joining final states (the layers of
    a multi-layer export) along the direction axis: the engine gives those
    joined outputs itself."""
    kept = []
    for node in after:
        names = node.inputs
        if node.op == "Concat" and names and all(name in compiler.finals for name in names):
            batch_first = {compiler.batch_first[name] for name in names}
            if len(batch_first) == 1 and node.attributes["axis"] % 3 == int(batch_first.pop()):
                output = node.outputs[0]
                compiler.finals[output] = tuple(state for name in names
                                                for state in compiler.finals[name])
                compiler.batch_first[output] = compiler.batch_first[names[0]]
                continue
        kept.append(node)
    return kept


def _live(before: list, compiler: _Compiler, after: list, needed: set,
          graph: Graph) -> tuple[list, list]:
    """The nodes of `before` whose outputs something reads (the engine's
    inputs, initial states and sequence lengths, a node after it, or what
    is read later: `needed` less what the engine computes), and the size
    checks of the others: (ONNX node, output name, shape, dtype) for the
    outputs whose shapes name an input's dimensions, checked against the
    bound on every run as if they were computed (static ones were checked
    at load). A node whose output's shape is unknown stays."""
    symbols = {dim for value in graph.inputs for dim in (value.shape or ()) if isinstance(dim, str)}
    computed = set(compiler.finals) | set(compiler.sequences)
    wanted = (needed - computed) | set(compiler.input_names)
    wanted |= {source.name for source in compiler.states.values()}
    wanted |= {compiler.lengths} if compiler.lengths else set()
    wanted |= {name for node in after for name in node.inputs}
    live, checks = [], []
    for node in reversed(before):
        shapes = [(name, graph.values[name].shape if name in graph.values else None)
                  for name in node.outputs if name]
        unknown = any(shape is None or any(not isinstance(dim, int) and dim not in symbols
                                           for dim in shape) for _, shape in shapes)
        if unknown or any(name in wanted for name, _ in shapes):
            live.append(node)
            wanted |= set(node.inputs) | (reads_of_branches(node) if node.op == "If" else set())
        elif node.op not in _VIEWS:
            checks += [(node, name, shape, graph.values[name].dtype or np.float32)
                       for name, shape in shapes if any(isinstance(dim, str) for dim in shape)]
    return live[::-1], checks[::-1]


def _symbol_axes(graph: Graph) -> dict:
    """{symbolic dimension: (graph input, axis)} of the graph's inputs."""
    axes = {}
    for value in graph.inputs:
        for axis, dim in enumerate(value.shape or ()):
            if isinstance(dim, str):
                axes.setdefault(dim, (value.name, axis))
    return axes


def _layer_names(inputs: list, outputs: list, compiler: _Compiler) -> list:
    """The model's layer names in its order: each compiled ONNX node's name."""
    name_of = {id(tensor): name for tensor, name in compiler.compiled_layers}
    nodes = graph_nodes(inputs, outputs)
    names, used = [], set()
    for k, node in enumerate(nodes):
        name = name_of.get(id(node.output), f"layer{k}")
        while name in used:
            name += "_"
        used.add(name)
        names.append(name)
    return names
