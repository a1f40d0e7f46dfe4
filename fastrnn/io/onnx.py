"""ONNX: recurrent nodes converted to fastrnn layers, and ``from_onnx``.

``RecurrentNode`` reads one ``LSTM``, ``GRU`` (``linear_before_reset`` 0 or
1) or ``RNN`` node with initializer weights into the fastrnn layer computing
it; ``fastrnn.onnx.InferenceSession`` (the session, beside ONNX Runtime's
API) and ``from_onnx`` (a whole chain as a ``fastrnn.Sequential``) build on it.

ONNX layouts, converted here to fastrnn's canonical (PyTorch) one:
``W (D, G*H, I)``, ``R (D, G*H, H)``, ``B (D, 2*G*H)`` = [Wb, Rb]; gate order
LSTM i, o, f, c (canonical i, f, g, o: ``LSTM_ORDER``) and GRU z, r, h
(canonical r, z, n: ``GRU_ORDER``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..layers import GRU, LSTM, Bidirectional, Dense, SimpleRNN
from ..model import Sequential
from .convert import fold_activation, reorder_gates

LSTM_ORDER = (0, 2, 3, 1)      # ONNX blocks i, o, f, c -> canonical i, f, g, o
GRU_ORDER = (1, 0, 2)          # ONNX blocks z, r, h -> canonical r, z, n
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"],
                       "RNN": ["Tanh"]}


def _onnx():
    try:
        import onnx
        import onnx.numpy_helper
    except ImportError as error:
        raise ImportError("reading ONNX models needs the onnx package: "
                          "pip install 'fastrnn[onnx]'") from error
    return onnx


def load_model(path_or_bytes: Any):
    """The ModelProto of a path or of serialized bytes."""
    onnx = _onnx()
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return onnx.load_from_string(bytes(path_or_bytes))
    return onnx.load(os.fspath(path_or_bytes))


def node_attributes(node) -> dict:
    """{name: value} of a node's attributes (tensors as NumPy arrays)."""
    onnx = _onnx()
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    return {name: onnx.numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto)
            else value for name, value in attributes.items()}


def initializers(graph) -> dict:
    """{name: array} of a graph's initializers."""
    onnx = _onnx()
    return {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RecurrentNode:
    """One ONNX LSTM/GRU/RNN node: the names of its inputs and outputs, and
    ``layer``, the fastrnn layer computing it (a Bidirectional for
    direction "bidirectional"; for "reverse", the layer to run over each
    sequence read backward).

    Parameters
    ----------
    node : onnx.NodeProto
    attributes : dict, its attributes (``node_attributes``)
    constants : dict, the initializers and constants by name
    """

    def __init__(self, node, attributes: dict, constants: dict):
        self.node, self.op = node, node.op_type
        where = f"{self.op} node {node.name or node.output[0]!r}"
        inputs = list(node.input) + [""] * (8 - len(node.input))
        self.x_name, w_name, r_name, b_name = inputs[:4]
        self.lengths_name, self.h0_name = inputs[4], inputs[5]
        self.c0_name = inputs[6] if self.op == "LSTM" else ""
        if self.op == "LSTM" and inputs[7]:
            raise NotImplementedError(f"{where}: peepholes (input P) are not supported")
        for name in (w_name, r_name, b_name):
            if name and name not in constants:
                raise NotImplementedError(f"{where}: weight {name!r} must be an initializer")
        if "clip" in attributes:
            raise NotImplementedError(f"{where}: attribute 'clip' is not supported")
        if attributes.get("input_forget", 0):
            raise NotImplementedError(f"{where}: input_forget=1 is not supported")
        self.direction = _text(attributes.get("direction", "forward"))
        directions = 2 if self.direction == "bidirectional" else 1
        activations = [_text(a) for a in attributes.get("activations", [])]
        default = DEFAULT_ACTIVATIONS[self.op]
        rnn_activation = "tanh"
        if activations and activations != default * directions:
            if self.op == "RNN" and set(activations) == {"Relu"}:
                rnn_activation = "relu"
            else:
                raise NotImplementedError(f"{where}: activations {activations} are not "
                                          f"supported (the defaults are {default})")
        self.layout = int(attributes.get("layout", 0))
        W = constants[w_name].astype(np.float32)
        R = constants[r_name].astype(np.float32)
        hidden = int(attributes.get("hidden_size", R.shape[-1]))
        cls = {"LSTM": LSTM, "GRU": GRU, "RNN": SimpleRNN}[self.op]
        gates = cls.gates
        if W.shape[:2] != (directions, gates * hidden) or R.shape != (directions, gates * hidden,
                                                                        hidden):
            raise ValueError(f"{where}: W {W.shape} / R {R.shape} do not match "
                             f"{directions} direction(s) of hidden_size {hidden}")
        B = constants[b_name].astype(np.float32) if b_name else None
        self.hidden, self.directions = hidden, directions
        order = {"LSTM": LSTM_ORDER, "GRU": GRU_ORDER}.get(self.op)
        options = ({"reset_after": bool(attributes.get("linear_before_reset", 0))}
                   if self.op == "GRU" else
                   {"activation": rnn_activation} if self.op == "RNN" else {})
        layers = []
        for d in range(directions):
            arrays = [W[d], R[d], None, None]
            if B is not None:
                arrays[2:] = B[d, :gates * hidden], B[d, gates * hidden:]
            if order is not None:
                arrays = [None if a is None else reorder_gates(a, order, hidden) for a in arrays]
            layers.append(cls(*arrays, **options))
        self.layer = Bidirectional(*layers) if directions == 2 else layers[0]


_LAYOUT_GLUE = {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity"}
_ACTIVATIONS = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Softmax": "softmax",
                "Elu": "elu"}


def _zero_state_source(name: str, producers: dict, constants: dict) -> bool:
    """True if `name` is built as zeros (Expand or ConstantOfShape of 0), as
    exporters build a default initial state."""
    node = producers.get(name)
    if node is None:
        return False
    if node.op_type == "Expand":
        value = constants.get(node.input[0])
        return value is not None and not np.any(value)
    if node.op_type == "ConstantOfShape":
        return True          # value checked when the attribute is read (default 0)
    return False


def from_onnx(path: Any, *, isa: str | None = None, precision: str = "float32"):
    """A fastrnn.Sequential from an ONNX graph that is a chain: LSTM/GRU/RNN
    nodes (forward or bidirectional, zero initial states, no sequence_lens)
    and Dense heads (MatMul + Add, or Gemm, with constant weights, and their
    activations), joined by layout-only nodes. The model takes batch-first
    input (B, T, F), whatever the graph's layout; it computes the graph's
    first output.
    """
    graph = load_model(path).graph
    constants = initializers(graph)
    inputs = [i.name for i in graph.input if i.name not in constants]
    if len(inputs) != 1:
        raise NotImplementedError(f"the graph has inputs {inputs}; fastrnn models take one")
    producers = {out: node for node in graph.node for out in node.output}
    chain, layers = {inputs[0]}, []
    for node in graph.node:
        where = f"ONNX node {node.name or node.output[0]!r} ({node.op_type})"
        attributes = node_attributes(node)
        if node.op_type == "Constant":
            constants[node.output[0]] = attributes["value"]
            continue
        on_chain = [name for name in node.input if name in chain]
        if not on_chain or node.op_type == "Shape":
            continue                                 # shape arithmetic beside the chain
        if node.op_type in ("LSTM", "GRU", "RNN"):
            recurrent = RecurrentNode(node, attributes, constants)
            if recurrent.lengths_name:
                raise NotImplementedError(f"{where}: sequence_lens; pass lengths to predict")
            for state in (recurrent.h0_name, recurrent.c0_name):
                if state and not _zero_state_source(state, producers, constants):
                    raise NotImplementedError(f"{where}: a non-zero initial state")
            if recurrent.direction == "reverse":
                raise NotImplementedError(f"{where}: a reverse-only direction")
            layers.append(recurrent.layer)
            chain.add(node.output[0])
            continue
        if node.op_type in _LAYOUT_GLUE:
            chain.add(node.output[0])
            continue
        if node.op_type in ("MatMul", "Gemm") and len(on_chain) == 1 and node.input[0] in chain:
            weight = constants.get(node.input[1])
            if weight is None or weight.ndim != 2:
                raise NotImplementedError(f"{where}: the weight must be a 2-D initializer")
            if node.op_type == "Gemm" and (attributes.get("transA") or attributes.get(
                    "alpha", 1.0) != 1.0 or attributes.get("beta", 1.0) != 1.0):
                raise NotImplementedError(f"{where}: Gemm with transA, alpha or beta")
            transposed = node.op_type == "Gemm" and attributes.get("transB")
            bias = constants.get(node.input[2]) if len(node.input) > 2 else None
            layers.append(Dense(weight if transposed else weight.T, bias))
            chain.add(node.output[0])
            continue
        if node.op_type == "Add" and len(on_chain) == 1 and isinstance(layers[-1:] and layers[-1],
                                                                       Dense):
            other = next(n for n in node.input if n not in chain)
            bias = constants.get(other)
            if (bias is None or layers[-1].bias is not None
                    or bias.shape != (layers[-1].output_size,)):
                raise NotImplementedError(f"{where}: only a bias after MatMul is supported")
            layers[-1] = Dense(layers[-1].weight, bias, layers[-1].activation)
            chain.add(node.output[0])
            continue
        if node.op_type in _ACTIVATIONS:
            if node.op_type == "Softmax" and attributes.get("axis", -1) not in (-1, 2):
                raise NotImplementedError(f"{where}: softmax over axis {attributes['axis']}")
            if node.op_type == "Elu" and attributes.get("alpha", 1.0) != 1.0:
                raise NotImplementedError(f"{where}: Elu alpha {attributes['alpha']}")
            fold_activation(layers, _ACTIVATIONS[node.op_type], where)
            chain.add(node.output[0])
            continue
        raise NotImplementedError(f"{where}: not part of a chain fastrnn can express")
    if graph.output[0].name not in chain:
        raise NotImplementedError(f"the graph's first output {graph.output[0].name!r} is not "
                                  "computed by the chain from its input")
    if not layers:
        raise ValueError("the ONNX graph has no layers fastrnn can run")
    return Sequential(layers, isa=isa, precision=precision)
