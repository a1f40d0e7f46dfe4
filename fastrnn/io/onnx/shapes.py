"""Shapes, sizes and layouts of the IR's values.

- ``inferred_values``: ONNX's own shape inference (``onnx.shape_inference``
  with data propagation) over the model as read.
- ``propagate_shapes``: fastrnn's rules where ONNX's inference gave up
  (elementwise ops, broadcasts, transposes, the recurrent ops).
- ``check_sizes``: every static size against the bound (ValueError naming
  the node whose output it is).
- ``assign_axes``: which axis of each value is batch, time, feature (or a
  recurrent node's direction), from the ops that fix a layout (LSTM/GRU/RNN
  by ``layout``, Conv and the norms over (N, C, T)) through the ops that
  keep or permute it.
"""

from __future__ import annotations

import numpy as np

from .ir import Dim, Graph, Node, Value
from .proto import check_size, numpy_dtype, onnx_package

SAME_SHAPE = {"Relu", "LeakyRelu", "Elu", "Selu", "Gelu", "Sigmoid", "HardSigmoid", "Tanh",
              "Softplus", "Softmax", "LogSoftmax", "Sqrt", "Neg", "Abs", "Exp", "Log", "Clip",
              "Identity", "Dropout", "Not", "Cast", "BatchNormalization",
              "LayerNormalization", "InstanceNormalization"}
BROADCAST = {"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Greater", "Less", "And", "Where",
             "PRelu"}
LOGICAL = {"Equal", "Greater", "Less", "And", "Not"}
RECURRENT = {"LSTM", "GRU", "RNN"}


def inferred_values(model) -> dict[str, Value]:
    """{name: Value} for every value ONNX's shape inference types, in the
    graph and its subgraphs (empty when inference fails on the model)."""
    from .ir import value_info
    onnx = onnx_package()
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False,
                                                     data_prop=True)
    except (onnx.shape_inference.InferenceError, ValueError):
        return {}
    values: dict[str, Value] = {}

    def collect(graph) -> None:
        for info in list(graph.input) + list(graph.output) + list(graph.value_info):
            values[info.name] = value_info(info)
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.type == attribute.GRAPH:
                    collect(attribute.g)

    collect(inferred.graph)
    return values


def merge_values(graph: Graph, known: dict[str, Value]) -> None:
    """Fill in the graph's (and its branches') values from `known` where
    they lack a dtype or shape."""
    names = {name for node in graph.nodes for name in node.outputs + node.inputs if name}
    names |= {v.name for v in graph.inputs + graph.outputs}
    for name in names:
        have = graph.values.setdefault(name, Value(name))
        other = known.get(name)
        if other is not None:
            have.dtype = have.dtype or other.dtype
            have.elem_type = have.elem_type or other.elem_type
            if have.shape is None or (other.shape is not None and len(other.shape) == len(
                    have.shape) and _known(other.shape) > _known(have.shape)):
                have.shape = other.shape if have.shape is None else tuple(
                    h if isinstance(h, int) else o for h, o in zip(have.shape, other.shape))
    for node in graph.nodes:
        for branch in node.branches.values():
            merge_values(branch, known)


def _known(shape: tuple) -> int:
    return sum(isinstance(d, int) for d in shape)


def broadcast_dims(shapes: list[tuple]) -> tuple[Dim, ...]:
    """The multidirectional broadcast of shapes with symbolic dims: a known
    size other than 1 wins over 1 and over a symbol; unknown stays None."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    result = []
    for dims in zip(*padded):
        sizes = {d for d in dims if d != 1}
        if not sizes:
            result.append(1)
        elif len(sizes) == 1:
            result.append(sizes.pop())
        else:
            numbers = {d for d in sizes if isinstance(d, int)}
            result.append(numbers.pop() if len(numbers) == 1 else None)
    return tuple(result)


def _rule(node: Node, graph: Graph) -> list[tuple[np.dtype | None, tuple | None]]:
    """(dtype, shape) of each output, by fastrnn's rules (None: no rule)."""
    def shape(name):
        value = graph.values.get(name)
        if name in graph.constants:
            return tuple(np.shape(graph.constants[name]))
        return None if value is None else value.shape

    def dtype(name):
        if name in graph.constants:
            return graph.constants[name].dtype
        value = graph.values.get(name)
        return None if value is None else value.dtype

    first = node.input(0)
    if node.op in SAME_SHAPE:
        out_dtype = (np.dtype(np.bool_) if node.op in LOGICAL else
                     numpy_dtype(node.attributes["to"]) if node.op == "Cast" else dtype(first))
        return [(out_dtype, shape(first))]
    if node.op in BROADCAST:
        shapes = [shape(name) for name in node.inputs if name]
        operands = node.inputs[1:] if node.op == "Where" else node.inputs
        out_dtype = np.dtype(np.bool_) if node.op in LOGICAL else dtype(operands[0])
        return [(out_dtype, None if any(s is None for s in shapes) else broadcast_dims(shapes))]
    if node.op == "Transpose" and shape(first) is not None:
        dims = shape(first)
        perm = node.attributes.get("perm") or tuple(reversed(range(len(dims))))
        return [(dtype(first), tuple(dims[p] for p in perm))]
    if node.op in RECURRENT and shape(first) is not None and len(shape(first)) == 3:
        x = shape(first)
        steps, batch = (x[1], x[0]) if node.attributes["layout"] else (x[0], x[1])
        directions = 2 if node.attributes["direction"] == "bidirectional" else 1
        hidden = node.attributes.get("hidden_size")
        if hidden is None and shape(node.input(2)) is not None:
            hidden = shape(node.input(2))[-1]
        if node.attributes["layout"]:
            y, state = (batch, steps, directions, hidden), (batch, directions, hidden)
        else:
            y, state = (steps, directions, batch, hidden), (directions, batch, hidden)
        return [(dtype(first), y)] + [(dtype(first), state)] * (len(node.outputs) - 1)
    return []


def propagate_shapes(graph: Graph) -> None:
    """Shapes and dtypes by fastrnn's rules for the outputs ONNX's inference
    left without one (in place, branches included)."""
    for node in graph.nodes:
        for branch in node.branches.values():
            propagate_shapes(branch)
        outputs = [graph.values.setdefault(name, Value(name)) for name in node.outputs if name]
        if all(v.shape is not None and v.dtype is not None for v in outputs):
            continue
        for value, (dtype, shape) in zip(outputs, _rule(node, graph)):
            value.dtype = value.dtype or dtype
            value.shape = value.shape if value.shape is not None else shape


def check_sizes(graph: Graph) -> None:
    """ValueError naming the node (or graph input) whose declared or
    inferred static size exceeds the bound (``proto.MAX_TENSOR_BYTES``)."""
    producers = graph.producers()
    for name, value in graph.values.items():
        shape = value.static_shape
        if shape is None:
            continue
        node = producers.get(name)
        where = (f"ONNX node {node.name!r} ({node.op}) output {name!r}" if node
                 else f"graph {graph.name!r} value {name!r}")
        check_size(shape, value.dtype if value.dtype is not None and value.dtype.kind != "O"
                   else np.uint8, where)
    for node in graph.nodes:
        for branch in node.branches.values():
            check_sizes(branch)


# ---------------------------------------------------------------------------
# Layout roles.

def _recurrent_axes(node: Node) -> dict[str, tuple]:
    batch_first = node.attributes["layout"] == 1
    x = ("batch", "time", "feature") if batch_first else ("time", "batch", "feature")
    y = (("batch", "time", "direction", "feature") if batch_first
         else ("time", "direction", "batch", "feature"))
    state = ("batch", "direction", "feature") if batch_first else ("direction", "batch",
                                                                     "feature")
    roles = {node.input(0): x, node.input(5): state, node.input(6): state}
    roles.update(zip(node.outputs, (y, state, state)))
    return {name: axes for name, axes in roles.items() if name}


def _channels_first_axes(rank: int, shape: tuple | None) -> tuple:
    """(N, C, T) and the 2-D (N, C, 1, T) / (N, C, T, 1) of a 1-D conv."""
    if rank == 3:
        return ("batch", "feature", "time")
    if rank == 4 and shape is not None and shape[2] == 1:
        return ("batch", "feature", None, "time")
    if rank == 4 and shape is not None and shape[3] == 1:
        return ("batch", "feature", "time", None)
    return ("batch", "feature") + (None,) * (rank - 2)


def _seed_axes(node: Node, graph: Graph) -> dict[str, tuple]:
    if node.op in RECURRENT:
        return _recurrent_axes(node)
    if node.op in ("Conv", "BatchNormalization", "InstanceNormalization"):
        value = graph.values.get(node.inputs[0])
        if value is None or value.shape is None:
            return {}
        axes = _channels_first_axes(len(value.shape), value.shape)
        return {node.inputs[0]: axes, node.outputs[0]: axes}
    return {}


def _merge_axes(value: Value, axes: tuple) -> bool:
    """Give `value` the roles of `axes` where it has none; True if changed."""
    if value.shape is not None and len(value.shape) != len(axes):
        return False
    old = value.axes or (None,) * len(axes)
    new = tuple(o if o is not None else a for o, a in zip(old, axes))
    if new != value.axes and any(a is not None for a in new):
        value.axes = new
        return True
    return False


def _related_axes(node: Node, graph: Graph) -> list[tuple[str, str, list | None]]:
    """(from, to, permutation) pairs along which roles flow both ways:
    permutation[i] is the axis of `from` that axis i of `to` is (None: the
    same axes)."""
    data = node.input(0)
    if not data or not node.outputs:
        return []
    if node.op in SAME_SHAPE or node.op in ("Concat", "Slice", "Split", "Pad"):
        return [(data, out, None) for out in node.outputs[:1 if node.op != "Split" else None]]
    if node.op in BROADCAST:
        rank = len(graph.values[node.outputs[0]].shape or ())
        return [(name, node.outputs[0], None) for name in node.inputs if name
                and len(graph.values.get(name, Value(name)).shape or ()) == rank]
    if node.op == "Transpose":
        perm = node.attributes.get("perm")
        return [(data, node.outputs[0], list(perm))] if perm else []
    return []


def assign_axes(graph: Graph) -> None:
    """Set ``Value.axes`` where the layout is known (in place)."""
    for node in graph.nodes:
        for name, axes in _seed_axes(node, graph).items():
            _merge_axes(graph.values.setdefault(name, Value(name)), axes)
        for branch in node.branches.values():
            assign_axes(branch)
    relations = [r for node in graph.nodes for r in _related_axes(node, graph)]
    changed = True
    while changed:
        changed = False
        for source, target, perm in relations:
            a = graph.values.setdefault(source, Value(source))
            b = graph.values.setdefault(target, Value(target))
            if a.axes is not None:
                forward = a.axes if perm is None else tuple(a.axes[p] for p in perm)
                changed |= _merge_axes(b, forward)
            if b.axes is not None:
                if perm is None:
                    backward = b.axes
                else:
                    inverse = [0] * len(perm)
                    for i, p in enumerate(perm):
                        inverse[p] = i
                    backward = tuple(b.axes[inverse[k]] for k in range(len(perm)))
                changed |= _merge_axes(a, backward)
