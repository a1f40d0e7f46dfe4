"""``from_onnx``: an ONNX graph that is a chain of recurrent and dense
layers, read through the IR (so that weights built from initializers by
Slice/Concat/Unsqueeze, as the dynamo exporter writes them, are constants
by the time the chain is read), as a ``fastrnn.Sequential``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...layers import Dense
from ...model import Sequential
from ..convert import fold_activation
from .ir import Graph
from .load import load_graph
from .proto import file_errors
from .recurrent import RecurrentNode

LAYOUT_OPS = {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout"}
ACTIVATIONS = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Softmax": "softmax",
               "Elu": "elu"}
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


def _dense(node, graph: Graph, where: str) -> Dense:
    """The Dense layer of a MatMul or Gemm with a constant 2-D weight."""
    attributes = node.attributes
    weight = graph.constants.get(node.input(1))
    if weight is None or weight.ndim != 2:
        raise NotImplementedError(f"{where}: the weight must be a 2-D constant")
    if node.op == "Gemm" and (attributes["transA"] or attributes["alpha"] != 1.0
                              or attributes["beta"] != 1.0):
        raise NotImplementedError(f"{where}: Gemm with transA, alpha or beta")
    transposed = node.op == "Gemm" and attributes["transB"]
    bias = graph.constants.get(node.input(2)) if node.input(2) else None
    return Dense(weight if transposed else weight.T, bias)


def from_onnx(path: Any, *, isa: str | None = None, precision: str = "float32") -> Sequential:
    """A fastrnn.Sequential from an ONNX graph that is a chain: LSTM/GRU/RNN
    nodes (forward or bidirectional, zero initial states, no sequence_lens)
    and Dense heads (MatMul + Add, or Gemm, with constant weights, and their
    activations), joined by layout-only nodes (after constant folding: the
    shape arithmetic beside the chain disappears or is ignored).

    Parameters
    ----------
    path : str, os.PathLike, bytes or onnx.ModelProto
    isa, precision : as for ``fastrnn.Sequential``

    Returns
    -------
    A Sequential taking batch-first input (B, T, F) whatever the graph's
    layout, computing the graph's first output.
    """
    with file_errors():                      # what the graph holds is inconsistent
        layers = _chain_layers(load_graph(path))
    return Sequential(layers, isa=isa, precision=precision)


def _chain_layers(graph: Graph) -> list:
    """The fastrnn layers of a chain graph, in order (see from_onnx)."""
    if len(graph.inputs) != 1:
        raise NotImplementedError(f"the graph has inputs {[i.name for i in graph.inputs]}; "
                                  "fastrnn models take one")
    chain, layers = {graph.inputs[0].name}, []
    for node in graph.nodes:
        where = f"ONNX node {node.name!r} ({node.op})"
        on_chain = [name for name in node.inputs if name in chain]
        if not on_chain or node.op in ("Shape", "Size"):
            continue                                 # shape arithmetic beside the chain
        if node.op in ("LSTM", "GRU", "RNN"):
            recurrent = RecurrentNode(node, graph.constants)
            if recurrent.lengths_name:
                raise NotImplementedError(f"{where}: sequence_lens; pass lengths to predict")
            for state in (recurrent.h0_name, recurrent.c0_name):
                if state and not _is_zeros(state, graph):
                    raise NotImplementedError(f"{where}: a non-zero initial state")
            if recurrent.direction == "reverse":
                raise NotImplementedError(f"{where}: a reverse-only direction")
            layers.append(recurrent.layer)
        elif node.op in LAYOUT_OPS:
            pass
        elif node.op in ("MatMul", "Gemm") and on_chain == [node.input(0)]:
            layers.append(_dense(node, graph, where))
        elif node.op == "Add" and len(on_chain) == 1 and layers and isinstance(layers[-1], Dense):
            other = next(name for name in node.inputs if name not in chain)
            bias = graph.constants.get(other)
            last = layers[-1]
            if bias is None or last.bias is not None or bias.shape != (last.output_size,):
                raise NotImplementedError(f"{where}: only a bias after MatMul is supported")
            layers[-1] = Dense(last.weight, bias, last.activation)
        elif node.op in ACTIVATIONS:
            if node.op == "Softmax" and node.attributes["axis"] not in (-1, 2):
                raise NotImplementedError(f"{where}: softmax over axis {node.attributes['axis']}")
            if node.op == "Elu" and node.attributes["alpha"] != 1.0:
                raise NotImplementedError(f"{where}: Elu alpha {node.attributes['alpha']}")
            fold_activation(layers, ACTIVATIONS[node.op], where)
        else:
            raise NotImplementedError(f"{where}: not part of a chain fastrnn can express")
        chain.add(node.outputs[0])
    if graph.outputs[0].name not in chain:
        raise NotImplementedError(f"the graph's first output {graph.outputs[0].name!r} is not "
                                  "computed by the chain from its input")
    if not layers:
        raise ValueError("the ONNX graph has no layers fastrnn can run")
    return layers
