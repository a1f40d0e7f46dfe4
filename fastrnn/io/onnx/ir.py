"""The graph representation ("IR") fastrnn compiles ONNX models from.

``Graph``: run-time ``inputs`` and ``outputs`` (``Value``), ``nodes``
(``Node``, topologically ordered), ``constants`` (read-only arrays by name:
initializers, Constant nodes, and what folding computed), ``values`` (the
``Value`` of every name whose type or shape is known) and ``outer`` (names a
subgraph reads from its enclosing graphs).

``Node``: ``op``, ``domain`` ("" for the standard one), ``version`` (the
since-version of the operator's schema at the model's opset), ``inputs`` /
``outputs`` (names; "" for an omitted optional input), ``attributes`` with
the schema's defaults filled in and strings as str, and ``branches`` (an If
node's then/else Graphs).

``build_graph`` reads a GraphProto, refusing (NotImplementedError naming
the node, the op and the domain) any operator outside the operator table or
any domain other than the standard one. ``load_graph`` (fastrnn.io.onnx.
load) also folds constants and infers shapes.

What a compiler pass reads, after ``load_graph``:

- ``graph.nodes`` in order; no Constant, Identity or inference Dropout
  nodes remain, nor anything computable from constants alone.
- ``node.attributes``: every attribute of the schema at the model's opset,
  defaults filled in; the parameter inputs (axes, pads, starts/ends/steps,
  shapes, split sizes, Clip bounds) lifted into attributes of those names
  when they are constants (then ``node.inputs[i]`` is ""). So ``Squeeze``
  has ``attributes["axes"]`` whatever the opset, unless the axes are
  computed at run time.
- ``graph.constants[name]``: weights as read-only arrays (W/R/B of an LSTM
  built by Slice/Concat in the file are single arrays here).
- ``graph.values[name]``: dtype, shape (ints, symbols such as "batch", None
  for unknown) and ``axes`` (roles "batch", "time", "feature", "direction").
- If nodes keep both branches (``node.branches``), each a Graph whose
  ``outer`` lists what it reads from the enclosing scope.
- ``graph.describe()``: all of this as text, one line per node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ops import OPERATORS
from .proto import (STANDARD_DOMAINS, attribute_values, check_inputs, initializers,
                    numpy_dtype, onnx_package, schema_defaults)
from .recurrent import DEFAULT_ACTIVATIONS, check_direction

Dim = int | str | None      # a static size, a symbolic size, or unknown


@dataclass
class Value:
    """A tensor's name, element type, shape and layout, as far as known.

    shape : tuple of Dim, or None when even the rank is unknown.
    axes : per dimension, its role where known: "batch", "time", "feature",
        "direction" (a recurrent node's D axis) or None; None for the whole
        tuple when nothing is known.
    """

    name: str
    dtype: np.dtype | None = None
    shape: tuple[Dim, ...] | None = None
    axes: tuple[str | None, ...] | None = None
    elem_type: int = 0          # the ONNX element type (0: unknown)

    @property
    def static_shape(self) -> tuple[int, ...] | None:
        """The shape if every dimension is a known integer, else None."""
        if self.shape is None or not all(isinstance(d, int) for d in self.shape):
            return None
        return tuple(self.shape)


@dataclass
class Node:
    """One operator application (see the module docstring)."""

    name: str
    op: str
    domain: str
    version: int
    inputs: list[str]
    outputs: list[str]
    attributes: dict[str, Any]
    branches: dict[str, Graph] = field(default_factory=dict)

    def input(self, index: int) -> str:
        """The name of input `index`, "" when omitted."""
        return self.inputs[index] if index < len(self.inputs) else ""


@dataclass
class Graph:
    """A graph or an If branch (see the module docstring)."""

    name: str
    opset: int
    inputs: list[Value]
    outputs: list[Value]
    nodes: list[Node]
    constants: dict[str, np.ndarray]
    values: dict[str, Value]
    outer: set[str] = field(default_factory=set)

    def producers(self) -> dict[str, Node]:
        """{output name: the node computing it}."""
        return {name: node for node in self.nodes for name in node.outputs if name}

    def describe(self, indent: str = "") -> str:
        """One line per node: op, name, inputs, outputs with shape and axes
        (branches indented below their If)."""
        def show(name: str) -> str:
            if not name:
                return "-"
            if name in self.constants:
                return f"{name}=const{tuple(np.shape(self.constants[name]))}"
            value = self.values.get(name)
            if value is None or value.shape is None:
                return name
            axes = "" if value.axes is None else " " + ",".join(a or "?" for a in value.axes)
            return f"{name}{list(value.shape)}{axes}"

        lines = [f"{indent}inputs: {', '.join(show(v.name) for v in self.inputs)}"]
        for node in self.nodes:
            lifted = sorted(name for name in OPERATORS[node.op].parameters.values()
                            if name in node.attributes)
            lines.append(f"{indent}{node.op} {node.name!r}: "
                         f"{', '.join(map(show, node.inputs))} -> "
                         f"{', '.join(map(show, node.outputs))}"
                         + (f"  (lifted: {', '.join(lifted)})" if lifted else ""))
            for key, branch in node.branches.items():
                lines.append(f"{indent}  {key}:")
                lines.append(branch.describe(indent + "    "))
        lines.append(f"{indent}outputs: {', '.join(v.name for v in self.outputs)}")
        return "\n".join(lines)

    def consumers(self) -> dict[str, list[Node]]:
        """{name: the nodes reading it, directly or from an If branch}."""
        readers: dict[str, list[Node]] = {}
        for node in self.nodes:
            for name in set(node.inputs) | reads_of_branches(node):
                if name:
                    readers.setdefault(name, []).append(node)
        return readers


def reads_of_branches(node: Node) -> set[str]:
    """The outer names an If node's branches read."""
    return set().union(*(branch.outer for branch in node.branches.values()))


def value_info(info) -> Value:
    """A ValueInfoProto as a Value (dtype, shape with symbolic dims as str)."""
    tensor = info.type.tensor_type
    if not info.type.HasField("tensor_type"):
        return Value(info.name)
    shape = None
    if tensor.HasField("shape"):
        shape = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                      for d in tensor.shape.dim)
    dtype = numpy_dtype(tensor.elem_type) if tensor.elem_type else None
    return Value(info.name, dtype, shape, elem_type=tensor.elem_type)


def node_name(node) -> str:
    """A NodeProto's name, else its first named output, else its op."""
    return node.name or next((out for out in node.output if out), node.op_type)


def _where(node) -> str:
    return f"ONNX node {node_name(node)!r}"


def _attributes(node, opset: int) -> tuple[int, dict]:
    """(schema since-version, the node's attributes with defaults filled
    in), refusing unknown and missing required attributes."""
    where = _where(node)
    version, defaults, required, known = schema_defaults(node.op_type, opset, where)
    given = {a.name: a for a in node.attribute}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"{where} ({node.op_type}): unknown attributes {unknown}")
    missing = sorted(required - set(given))
    if missing:
        raise ValueError(f"{where} ({node.op_type}): missing required attributes {missing}")
    graphs = {name: a for name, a in given.items() if a.type == a.GRAPH}
    values = attribute_values([a for name, a in given.items() if name not in graphs], where)
    return version, {**defaults, **values, **{name: a.g for name, a in graphs.items()}}


def build_graph(proto, opset: int, outer: frozenset = frozenset(), name: str = "") -> Graph:
    """The IR of a GraphProto (see the module docstring): nodes checked and
    topologically ordered, Constant nodes turned into constants, If
    branches built as Graphs that may read `outer` names."""
    constants = initializers(proto)
    values = {i.name: value_info(i) for i in list(proto.input) + list(proto.output)
              + list(proto.value_info)}
    inputs = [values[i.name] for i in proto.input if i.name not in constants]
    visible = set(outer) | set(constants) | {i.name for i in proto.input}
    visible |= {out for node in proto.node for out in node.output if out}
    elem_types = {v.name: v.elem_type for v in values.values()}
    elem_types.update((t.name, t.data_type) for t in proto.initializer)
    nodes = []
    for node in proto.node:
        where = _where(node)
        if node.domain not in STANDARD_DOMAINS:
            raise NotImplementedError(f"{where}: operator {node.op_type!r} of domain "
                                      f"{node.domain!r} is not supported (fastrnn runs the "
                                      "standard ONNX domain only)")
        if node.op_type not in OPERATORS:
            raise NotImplementedError(f"{where}: operator {node.op_type!r} (domain "
                                      f"{node.domain or 'ai.onnx'!r}) is not supported by "
                                      "fastrnn")
        version, attributes = _attributes(node, opset)
        check_inputs(node.op_type, opset, list(node.input),
                     [elem_types.get(i, 0) for i in node.input], where)
        if node.op_type in ("Softmax", "LogSoftmax") and version < 13:
            raise NotImplementedError(f"{where}: {node.op_type}-{version} (opsets below 13 "
                                      "flatten the input to 2-D first) is not supported; "
                                      "export at opset 13 or later")
        for key in ("direction", "approximate", "auto_pad", "mode"):
            if isinstance(attributes.get(key), bytes):
                attributes[key] = attributes[key].decode()
        if node.op_type in DEFAULT_ACTIVATIONS:
            directions = check_direction(attributes, f"{where} ({node.op_type})")
            if not any(a.name == "activations" for a in node.attribute):
                # the schema's default lists 2 for RNN whatever the direction
                attributes["activations"] = DEFAULT_ACTIVATIONS[node.op_type] * directions
        branches = {}
        for key in ("then_branch", "else_branch"):
            if key in attributes:
                branches[key] = build_graph(attributes.pop(key), opset, frozenset(visible),
                                            f"{node.name}.{key}")
        ir_node = Node(node_name(node), node.op_type, "", version,
                       list(node.input), list(node.output), attributes, branches)
        if node.op_type == "Constant":
            constants[node.output[0]] = _read_only(OPERATORS["Constant"].run([], attributes)[0])
            elem_types[node.output[0]] = _elem_type(constants[node.output[0]])
            continue
        if node.op_type == "Split" and "split" not in attributes and len(node.input) < 2:
            attributes.setdefault("num_outputs", len(node.output))
        nodes.append(ir_node)
    graph = Graph(name or proto.name, opset, inputs, [values[o.name] for o in proto.output],
                  topological_order(nodes, set(constants) | {i.name for i in proto.input}
                                    | set(outer)),
                  constants, values)
    defined = set(constants) | {i.name for i in proto.input} | {
        out for node in graph.nodes for out in node.outputs}
    graph.outer = {name for node in graph.nodes
                   for name in set(node.inputs) | reads_of_branches(node)
                   if name and name not in defined}
    graph.outer |= {o.name for o in graph.outputs if o.name not in defined}
    missing = graph.outer - set(outer)
    if missing:
        raise ValueError(f"graph {graph.name!r}: values {sorted(missing)} are read but never "
                         "defined")
    return graph


def _elem_type(array: np.ndarray) -> int:
    """The ONNX element type of a NumPy array (0 when ONNX has none)."""
    try:
        return onnx_package().helper.np_dtype_to_tensor_dtype(array.dtype)
    except (KeyError, ValueError, TypeError):
        return 0


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    array.flags.writeable = False
    return array


def topological_order(nodes: list[Node], available: set[str]) -> list[Node]:
    """`nodes` ordered so that each comes after the producers of what it
    reads (stable: already ordered graphs keep their order); ValueError for
    a cycle or a name produced twice."""
    producer: dict[str, int] = {}
    for k, node in enumerate(nodes):
        for out in node.outputs:
            if out in producer or (out and out in available):
                raise ValueError(f"value {out!r} is produced twice (node {node.name!r})")
            if out:
                producer[out] = k
    needs = [{producer[name] for name in set(node.inputs) | reads_of_branches(node)
              if name in producer} for node in nodes]
    done: set[int] = set()
    order: list[int] = []
    while len(order) < len(nodes):
        progressed = False
        for k in range(len(nodes)):
            if k not in done and needs[k] <= done:
                done.add(k)
                order.append(k)
                progressed = True
        if not progressed:
            stuck = [nodes[k].name for k in range(len(nodes)) if k not in done]
            raise ValueError(f"the graph has a cycle through nodes {stuck[:5]}")
    return [nodes[k] for k in order]
