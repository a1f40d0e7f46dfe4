"""Load-time simplification of the IR, in place: constant folding, If on a
constant condition inlined, constant parameters lifted into attributes,
identities removed, dead nodes and constants dropped.

A node is folded when every input it reads is a constant (initializer,
Constant node, or folded before it), when it is Shape/Size of a value
whose shape is static, or CastLike of a constant to a value whose type is
known: the operator table (``ops.OPERATORS``) computes it,
exactly as the session would at run time.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .ir import Graph, Node, Value, reads_of_branches
from .ops import OPERATORS
from .proto import check_size


def run_operator(node: Node, inputs: list) -> list:
    """The node's outputs from the operator table, errors naming the node."""
    try:
        outputs = OPERATORS[node.op].run(inputs, node.attributes)
    except (ValueError, TypeError, IndexError) as error:
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(f"ONNX node {node.name!r} ({node.op}): {error}") from error
    except NotImplementedError as error:
        raise NotImplementedError(f"ONNX node {node.name!r} ({node.op}): {error}") from error
    missing = [name for name in node.outputs[len(outputs):] if name]
    if missing:
        raise NotImplementedError(f"ONNX node {node.name!r} ({node.op}): outputs {missing} are "
                                  "not computed by fastrnn")
    return outputs


def _read_only(array) -> np.ndarray:
    array = np.asarray(array)
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array


def _static_dims(graph: Graph, name: str) -> tuple | None:
    value = graph.values.get(name)
    return None if value is None else value.shape


def _shape_constant(node: Node, graph: Graph) -> np.ndarray | None:
    """Shape or Size of a value whose needed dimensions are static."""
    dims = _static_dims(graph, node.inputs[0])
    if dims is None:
        return None
    if node.op == "Size":
        return np.array(int(np.prod(dims)), np.int64) if all(
            isinstance(d, int) for d in dims) else None
    wanted = dims[node.attributes["start"]:node.attributes.get("end")]
    if not all(isinstance(d, int) for d in wanted):
        return None
    return np.array(wanted, np.int64)


def _store(graph: Graph, node: Node, outputs: list) -> None:
    for name, array in zip(node.outputs, outputs):
        if not name:
            continue
        check_size(np.shape(array), np.asarray(array).dtype,
                   f"ONNX node {node.name!r} ({node.op}) output {name!r}")
        graph.constants[name] = _read_only(array)
        known = graph.values.get(name) or Value(name)
        known.dtype, known.shape = np.asarray(array).dtype, tuple(np.shape(array))
        graph.values[name] = known


def _inline(node: Node, branch: Graph, graph: Graph) -> list[Node]:
    """The nodes replacing an If whose condition is constant: the taken
    branch's nodes, then an Identity from each branch output to the If's."""
    graph.constants.update(branch.constants)
    for name, value in branch.values.items():
        graph.values.setdefault(name, value)
    identities = [Node(f"{node.name}/{output.name}", "Identity", "", 16, [output.name], [name], {})
                  for output, name in zip(branch.outputs, node.outputs) if name]
    return list(branch.nodes) + identities


def _lift_parameters(node: Node, constants: dict) -> None:
    """Constant parameter inputs (Operator.parameters) moved into the
    attributes of the same meaning; trailing omitted inputs dropped."""
    for index, name in OPERATORS[node.op].parameters.items():
        if index < len(node.inputs) and node.inputs[index] in constants:
            node.attributes[name] = constants[node.inputs[index]]
            node.inputs[index] = ""
    while node.inputs and not node.inputs[-1]:
        node.inputs.pop()


def fold_constants(graph: Graph, outer_constants: dict | None = None) -> None:
    """Fold `graph` in place (see the module docstring); `outer_constants`
    are the enclosing graphs' constants an If branch may read."""
    visible = dict(outer_constants or {})
    pending = deque(graph.nodes)
    kept: list[Node] = []
    while pending:
        node = pending.popleft()
        constants = {**visible, **graph.constants}
        if node.op == "If":
            condition = constants.get(node.inputs[0])
            if condition is not None:
                if np.size(condition) != 1:
                    raise ValueError(f"ONNX node {node.name!r} (If): the condition has "
                                     f"shape {np.shape(condition)}, expected one element")
                taken = "then_branch" if bool(np.asarray(condition).reshape(-1)[0]) else \
                    "else_branch"
                pending.extendleft(reversed(_inline(node, node.branches[taken], graph)))
                continue
            for branch in node.branches.values():
                fold_constants(branch, constants)
            kept.append(node)
            continue
        if node.op in ("Shape", "Size") and node.inputs[0] not in constants:
            shape = _shape_constant(node, graph)
            if shape is not None:
                _store(graph, node, [shape])
                continue
        target = graph.values.get(node.inputs[1]) if node.op == "CastLike" else None
        if target is not None and target.dtype is not None and node.inputs[0] in constants:
            _store(graph, node, [np.asarray(constants[node.inputs[0]]).astype(target.dtype)])
            continue                        # CastLike reads only its second input's type
        names = [name for name in node.inputs if name]
        if all(name in constants for name in names):
            inputs = [constants[name] if name else None for name in node.inputs]
            _store(graph, node, run_operator(node, inputs))
            continue
        _lift_parameters(node, constants)
        kept.append(node)
    graph.nodes = kept
    _remove_identities(graph)
    _remove_dead(graph)


def rename_uses(graph: Graph, old: str, new: str) -> None:
    """Every read of `old` in `graph` and its branches made a read of `new`."""
    for node in graph.nodes:
        node.inputs = [new if name == old else name for name in node.inputs]
        for branch in node.branches.values():
            if old in branch.outer:
                branch.outer = (branch.outer - {old}) | {new}
                rename_uses(branch, old, new)
    for output in graph.outputs:           # a branch returning an outer value
        if output.name == old:
            output.name = new


def _remove_identities(graph: Graph) -> None:
    """Identity nodes, and inference Dropouts whose mask nobody reads,
    bypassed: their readers read the input. An identity producing a graph
    output renames its input's producer instead (the output keeps its
    name); one whose input is a graph input, a constant or another output
    stays."""
    outputs = {o.name for o in graph.outputs}
    readers = graph.consumers()
    producers = graph.producers()
    kept = []
    for node in graph.nodes:
        unused_mask = len(node.outputs) < 2 or not readers.get(node.outputs[1])
        inference = len(node.inputs) == 1 and not (
            node.attributes.get("training_mode") is not None
            and bool(np.asarray(node.attributes["training_mode"])))
        identity = node.op == "Identity" or (node.op == "Dropout" and unused_mask and inference)
        source, target = node.inputs[0] if node.inputs else "", node.outputs[0]
        if identity and target not in outputs:
            rename_uses(graph, target, source)
            continue
        if identity and source in producers and source not in outputs:
            producer = producers[source]
            producer.outputs = [target if name == source else name for name in producer.outputs]
            rename_uses(graph, source, target)
            if source in graph.values:
                graph.values.setdefault(target, graph.values[source])
            continue
        kept.append(node)
    graph.nodes = kept


def _remove_dead(graph: Graph) -> None:
    """Nodes none of whose outputs is read or returned, and unread constants."""
    live = {o.name for o in graph.outputs}
    kept = []
    for node in reversed(graph.nodes):
        if any(name in live for name in node.outputs if name):
            kept.append(node)
            live |= set(node.inputs) | reads_of_branches(node)
    graph.nodes = kept[::-1]
    graph.constants = {name: array for name, array in graph.constants.items() if name in live}
