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
        if sorted(perm) != list(range(len(dims))):
            raise ValueError(f"ONNX node {node.name!r} (Transpose): perm {list(perm)} is not a "
                             f"permutation of the input's {len(dims)} axes")
        return [(dtype(first), tuple(dims[p] for p in perm))]
    if node.op == "Reshape" and shape(first) is not None and "shape" in node.attributes:
        return [(dtype(first), _reshaped(shape(first), node))]
    if node.op == "Conv" and shape(first) is not None and shape(node.input(1)) is not None:
        return [(dtype(first), _conv_shape(shape(first), shape(node.input(1)), node))]
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


def _unknown(dim: Dim) -> bool:
    """None, or a placeholder symbol ONNX's inference made up ("unk__3")."""
    return dim is None or (isinstance(dim, str) and dim.startswith("unk__"))


def _reshaped(dims: tuple, node: Node) -> tuple:
    """Reshape's output: 0 copies the input's dim (unless allowzero), -1 is
    the rest when every other size is known."""
    target = [int(d) for d in np.ravel(node.attributes["shape"])]
    if not node.attributes["allowzero"]:
        target = [dims[k] if d == 0 and k < len(dims) else d for k, d in enumerate(target)]
    if -1 in target and all(isinstance(d, int) for d in dims) and all(
            isinstance(d, int) for d in target):
        rest = int(np.prod(dims)) // max(int(np.prod([d for d in target if d != -1])), 1)
        target = [rest if d == -1 else d for d in target]
    return tuple(None if d == -1 else d for d in target)


def _conv_shape(dims: tuple, kernel_dims: tuple, node: Node) -> tuple:
    """Conv's (N, M, *spatial): a symbolic spatial size is kept when the
    conv keeps the length (stride 1, pads totalling the kernel extent - 1)."""
    attributes = node.attributes
    spatial = len(dims) - 2
    kernel = kernel_dims[2:]
    strides = attributes.get("strides") or (1,) * spatial
    dilations = attributes.get("dilations") or (1,) * spatial
    pads = attributes.get("pads") or (0,) * (2 * spatial)
    sizes = []
    for k in range(spatial):
        extent = (kernel[k] - 1) * dilations[k] + 1
        size = dims[2 + k]
        same = attributes.get("auto_pad") in ("SAME_UPPER", "SAME_LOWER") or (
            attributes.get("auto_pad", "NOTSET") == "NOTSET"
            and pads[k] + pads[k + spatial] == extent - 1)
        if isinstance(size, int) and attributes.get("auto_pad", "NOTSET") in ("NOTSET", "VALID"):
            total = pads[k] + pads[k + spatial] if attributes.get("auto_pad") != "VALID" else 0
            sizes.append((size + total - extent) // strides[k] + 1)
        elif isinstance(size, str) and same and strides[k] == 1:
            sizes.append(size)
        else:
            sizes.append(None)
    return (dims[0], kernel_dims[0], *sizes)


def propagate_shapes(graph: Graph) -> None:
    """Shapes and dtypes by fastrnn's rules where ONNX's inference left a
    shape or some of its dims unknown (in place, branches included)."""
    for node in graph.nodes:
        for branch in node.branches.values():
            propagate_shapes(branch)
        outputs = [graph.values.setdefault(name, Value(name)) for name in node.outputs if name]
        if all(v.dtype is not None and v.shape is not None and not any(map(_unknown, v.shape))
               for v in outputs):
            continue
        for value, (dtype, shape) in zip(outputs, _rule(node, graph)):
            value.dtype = value.dtype or dtype
            if shape is None:
                continue
            if value.shape is None or len(value.shape) != len(shape):
                value.shape = tuple(shape)
            else:
                value.shape = tuple(r if _unknown(v) and not _unknown(r) else v
                                    for v, r in zip(value.shape, shape))


def check_sizes(graph: Graph) -> None:
    """ValueError naming the graph input or node whose declared or inferred
    static size exceeds the bound (``proto.MAX_TENSOR_BYTES``), the first
    in topological order (branches included)."""
    def check(name: str, where: str) -> None:
        value = graph.values.get(name)
        shape = None if value is None else value.static_shape
        if shape is not None:
            dtype = value.dtype if value.dtype is not None and value.dtype.kind != "O" else np.uint8
            check_size(shape, dtype, where)

    for value in graph.inputs:
        check(value.name, f"graph {graph.name!r} input {value.name!r}")
    for node in graph.nodes:
        for branch in node.branches.values():
            check_sizes(branch)
        for name in node.outputs:
            if name:
                check(name, f"ONNX node {node.name!r} ({node.op}) output {name!r}")


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
    """(from, to, mapping) triples along which roles flow both ways:
    mapping[i] is the axis of `from` that axis i of `to` is (None in it: an
    axis of its own; None for the whole: the same axes)."""
    data = node.input(0)
    if not data or not node.outputs:
        return []
    out = node.outputs[0]
    rank_in = len(graph.values.get(data, Value(data)).shape or ())
    rank_out = len(graph.values.get(out, Value(out)).shape or ())
    if node.op in SAME_SHAPE or node.op in ("Slice", "Pad"):
        return [(data, out, None)]
    if node.op == "Split":
        return [(data, name, None) for name in node.outputs if name]
    if node.op == "Concat":
        return [(name, out, None) for name in node.inputs if name]
    if node.op in BROADCAST:
        return [(name, out, None) for name in node.inputs if name
                and len(graph.values.get(name, Value(name)).shape or ()) == rank_out]
    if node.op == "MatMul" and node.input(1) in graph.constants and np.ndim(
            graph.constants[node.input(1)]) == 2:
        return [(data, out, None)]
    if node.op == "Transpose" and node.attributes.get("perm"):
        return [(data, out, list(node.attributes["perm"]))]
    if node.op in ("Squeeze", "Unsqueeze") and "axes" in node.attributes and rank_in:
        axes = {int(a) % max(rank_in, rank_out) for a in np.ravel(node.attributes["axes"])}
        if node.op == "Squeeze":
            return [(data, out, [a for a in range(rank_in) if a not in axes])]
        kept = iter(range(rank_in))
        return [(data, out, [None if a in axes else next(kept) for a in range(rank_out)])]
    if node.op == "Reshape" and rank_in and rank_out:
        before = graph.values[data].shape
        after = graph.values[out].shape
        leading = 0
        while (leading < min(rank_in, rank_out) - 1 and before[leading] == after[leading]
               and before[leading] is not None):
            leading += 1
        mapping: list = list(range(leading)) + [None] * (rank_out - leading)
        if rank_out < rank_in and leading == rank_out - 1:
            mapping[-1] = rank_in - 1                 # trailing axes merged into features
        return [(data, out, mapping)]
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
        for source, target, mapping in relations:
            a = graph.values.setdefault(source, Value(source))
            b = graph.values.setdefault(target, Value(target))
            if mapping is None:
                mapping = list(range(len(a.axes or b.axes or ())))
            if a.axes is not None and b.shape is not None and len(mapping) == len(b.shape):
                forward = tuple(None if m is None else a.axes[m] for m in mapping)
                changed |= _merge_axes(b, forward)
            if b.axes is not None and a.shape is not None:
                backward = [None] * len(a.shape)
                for i, m in enumerate(mapping):
                    if m is not None and m < len(backward) and i < len(b.axes):
                        backward[m] = b.axes[i]
                changed |= _merge_axes(a, tuple(backward))
