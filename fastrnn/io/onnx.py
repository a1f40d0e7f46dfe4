"""ONNX: LSTM, GRU and RNN nodes run by fastrnn, behind ONNX Runtime's API.

``InferenceSession(path_or_bytes)`` is a drop-in for
``onnxruntime.InferenceSession`` on the graphs fastrnn supports: the
recurrent nodes (``LSTM``, ``GRU`` with ``linear_before_reset`` 0 or 1,
``RNN``; directions forward, reverse, bidirectional; ``sequence_lens``;
``initial_h``/``initial_c``; ``layout`` 0 and 1; all of ``Y``, ``Y_h``,
``Y_c``) run in fastrnn, their initializer weights converted and packed once
when the session is created; a few glue nodes run in NumPy. Anything else
raises NotImplementedError naming the node and what is unsupported.

ONNX layouts, converted here to fastrnn's canonical (PyTorch) one:
``W (D, G*H, I)``, ``R (D, G*H, H)``, ``B (D, 2*G*H)`` = [Wb, Rb]; gate order
LSTM i, o, f, c (canonical i, f, g, o: ``LSTM_ORDER``) and GRU z, r, h
(canonical r, z, n).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

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


def _reorder(blocks: np.ndarray, order: tuple, hidden: int) -> np.ndarray:
    """Gate blocks (along axis 0, `hidden` rows each) in `order`."""
    return np.concatenate([blocks[i * hidden:(i + 1) * hidden] for i in order], axis=0)


class _RecurrentNode:
    """One ONNX LSTM/GRU/RNN node, converted to fastrnn models once."""

    def __init__(self, node, attributes: dict, constants: dict):
        from ..layers import GRU, LSTM, SimpleRNN
        from ..model import Sequential

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
        for attribute in ("clip",):
            if attribute in attributes:
                raise NotImplementedError(f"{where}: attribute {attribute!r} is not supported")
        if attributes.get("input_forget", 0):
            raise NotImplementedError(f"{where}: input_forget=1 is not supported")
        activations = [a.decode() if isinstance(a, bytes) else a
                       for a in attributes.get("activations", [])]
        default = DEFAULT_ACTIVATIONS[self.op]
        direction = attributes.get("direction", b"forward")
        self.direction = direction.decode() if isinstance(direction, bytes) else direction
        directions = 2 if self.direction == "bidirectional" else 1
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
        gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[self.op]
        if W.shape[:2] != (directions, gates * hidden) or R.shape != (directions, gates * hidden,
                                                                        hidden):
            raise ValueError(f"{where}: W {W.shape} / R {R.shape} do not match "
                             f"{directions} direction(s) of hidden_size {hidden}")
        B = constants[b_name].astype(np.float32) if b_name else None
        self.hidden, self.directions = hidden, directions
        self.models = []
        for d in range(directions):
            w, r = W[d], R[d]
            b_ih = b_hh = None
            if B is not None:
                b_ih, b_hh = B[d, :gates * hidden], B[d, gates * hidden:]
            if self.op == "LSTM":
                w, r, b_ih, b_hh = (None if a is None else _reorder(a, LSTM_ORDER, hidden)
                                    for a in (w, r, b_ih, b_hh))
                layer = LSTM(w, r, b_ih, b_hh)
            elif self.op == "GRU":
                w, r, b_ih, b_hh = (None if a is None else _reorder(a, GRU_ORDER, hidden)
                                    for a in (w, r, b_ih, b_hh))
                layer = GRU(w, r, b_ih, b_hh,
                            reset_after=bool(attributes.get("linear_before_reset", 0)))
            else:
                layer = SimpleRNN(w, r, b_ih, b_hh, activation=rnn_activation)
            self.models.append(Sequential([layer]))

    def run(self, values: dict) -> list:
        x = np.asarray(values[self.x_name], dtype=np.float32)
        if self.layout == 0:
            x = x.transpose(1, 0, 2)                    # (T, B, I) -> (B, T, I)
        batch, steps = x.shape[:2]
        mask = None
        if self.lengths_name:
            lengths = np.asarray(values[self.lengths_name]).astype(np.int64)
            mask = np.arange(steps) < lengths[:, None]
        states = {}
        for name, part in ((self.h0_name, "h"), (self.c0_name, "c")):
            if name:
                value = np.asarray(values[name], dtype=np.float32)
                states[part] = value if self.layout == 0 else value.transpose(1, 0, 2)
        ys, finals = [], []
        for d, model in enumerate(self.models):
            backward = self.direction == "reverse" or d == 1
            start = None
            if states:
                zeros = np.zeros((batch, self.hidden), np.float32)
                parts = ("h", "c") if self.op == "LSTM" else ("h",)
                start = {f"layer0.{part}": states[part][d] if part in states else zeros
                         for part in parts}
            if backward:        # read in reverse; masked (padding) steps are skipped
                y, final = model._predict_with_state(
                    x[:, ::-1], False, None if mask is None else mask[:, ::-1], start)
                y = y[:, ::-1]
            else:
                y, final = model._predict_with_state(x, False, mask, start)
            ys.append(y)
            finals.append(final)
        y = np.stack(ys, axis=2)                        # (B, T, D, H)
        h = np.stack([f["layer0.h"] for f in finals])   # (D, B, H)
        outputs = [y.transpose(1, 2, 0, 3) if self.layout == 0 else y,
                   h if self.layout == 0 else h.transpose(1, 0, 2)]
        if self.op == "LSTM":
            c = np.stack([f["layer0.c"] for f in finals])
            outputs.append(c if self.layout == 0 else c.transpose(1, 0, 2))
        return outputs


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# Glue nodes, in NumPy: f(inputs, attributes) -> outputs.
_GLUE = {
    "Identity": lambda i, a: [i[0]],
    "Transpose": lambda i, a: [np.transpose(i[0], a.get("perm"))],
    "Squeeze": lambda i, a: [np.squeeze(i[0], axis=tuple(np.atleast_1d(
        i[1] if len(i) > 1 else a.get("axes")).tolist()))],
    "Unsqueeze": lambda i, a: [np.expand_dims(i[0], axis=tuple(np.atleast_1d(
        i[1] if len(i) > 1 else a.get("axes")).tolist()))],
    "Reshape": lambda i, a: [i[0].reshape(tuple(int(s) if s != 0 else i[0].shape[k]
                                                for k, s in enumerate(i[1])))],
    "MatMul": lambda i, a: [np.matmul(i[0], i[1])],
    "Add": lambda i, a: [i[0] + i[1]],
    "Gemm": lambda i, a: [a.get("alpha", 1.0) * (
        (i[0].T if a.get("transA") else i[0]) @ (i[1].T if a.get("transB") else i[1]))
        + (a.get("beta", 1.0) * i[2] if len(i) > 2 else 0)],
    "Relu": lambda i, a: [np.maximum(i[0], 0)],
    "Tanh": lambda i, a: [np.tanh(i[0])],
    "Sigmoid": lambda i, a: [1 / (1 + np.exp(-i[0]))],
    "Softmax": lambda i, a: [_softmax(i[0], a.get("axis", -1))],
    "Concat": lambda i, a: [np.concatenate(i, axis=a["axis"])],
    # What exporters emit to build shapes (e.g. the zero initial states of
    # torch.onnx.export): evaluated as they come.
    "Shape": lambda i, a: [np.array(i[0].shape[a.get("start", 0):a.get("end")], np.int64)],
    "Gather": lambda i, a: [np.take(i[0], i[1], axis=a.get("axis", 0))],
    "Expand": lambda i, a: [np.broadcast_to(i[0], np.broadcast_shapes(
        i[0].shape, tuple(int(s) for s in i[1]))).copy()],
    "ConstantOfShape": lambda i, a: [np.full(tuple(int(s) for s in i[0]),
                                             a["value"].reshape(-1)[0] if "value" in a else 0.0,
                                             dtype=np.float32)],
    "Cast": lambda i, a: [i[0].astype({1: np.float32, 6: np.int32, 7: np.int64,
                                       11: np.float64}.get(a["to"], np.float32))],
    "Slice": lambda i, a: [_slice(*i)],
}


def _slice(data, starts, ends, axes=None, steps=None):
    index = [slice(None)] * data.ndim
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    for start, end, axis, step in zip(starts, ends, axes, steps):
        index[int(axis)] = slice(int(start), int(end), int(step))
    return data[tuple(index)]


class _Value:
    """What get_inputs() / get_outputs() return: .name, .shape, .type."""

    def __init__(self, info):
        self.name = info.name
        tensor = info.type.tensor_type
        self.shape = [d.dim_param or (d.dim_value if d.HasField("dim_value") else None)
                      for d in tensor.shape.dim]
        self.type = {1: "tensor(float)", 6: "tensor(int32)", 7: "tensor(int64)",
                     11: "tensor(double)"}.get(tensor.elem_type, f"tensor({tensor.elem_type})")

    def __repr__(self) -> str:
        return f"NodeArg(name={self.name!r}, type={self.type!r}, shape={self.shape})"


class InferenceSession:
    """Runs an ONNX graph of recurrent nodes (and simple glue) with fastrnn,
    with ONNX Runtime's interface: ``run(output_names, input_feed)``,
    ``get_inputs()``, ``get_outputs()``.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike or bytes (a serialized ModelProto)
    """

    def __init__(self, path_or_bytes: Any, *args: Any, **kwargs: Any):
        onnx = _onnx()
        if isinstance(path_or_bytes, (bytes, bytearray)):
            model = onnx.load_from_string(bytes(path_or_bytes))
        else:
            model = onnx.load(os.fspath(path_or_bytes))
        graph = model.graph
        self._constants = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
        self._inputs = [_Value(i) for i in graph.input if i.name not in self._constants]
        self._outputs = [_Value(o) for o in graph.output]
        self._steps = []
        for node in graph.node:
            attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type in ("LSTM", "GRU", "RNN"):
                self._steps.append((node, _RecurrentNode(node, attributes, self._constants)))
            elif node.op_type == "Constant":
                self._constants[node.output[0]] = onnx.numpy_helper.to_array(attributes["value"])
            elif node.op_type == "ConstantOfShape" and "value" in attributes:
                attributes["value"] = onnx.numpy_helper.to_array(attributes["value"])
                self._steps.append((node, attributes))
            elif node.op_type in _GLUE:
                self._steps.append((node, attributes))
            else:
                raise NotImplementedError(f"ONNX node {node.name or node.output[0]!r}: operator "
                                          f"{node.op_type} is not supported by fastrnn")

    def get_inputs(self) -> list:
        return list(self._inputs)

    def get_outputs(self) -> list:
        return list(self._outputs)

    def run(self, output_names: list | None, input_feed: dict, run_options: Any = None) -> list:
        expected = {i.name for i in self._inputs}
        missing = sorted(expected - set(input_feed))
        if missing:
            raise ValueError(f"input_feed: missing inputs {missing} (expected {sorted(expected)})")
        values = {**self._constants, **{k: np.asarray(v) for k, v in input_feed.items()}}
        for node, step in self._steps:
            if isinstance(step, _RecurrentNode):
                results = step.run(values)
            else:
                results = _GLUE[node.op_type]([values[n] for n in node.input if n], step)
            for name, value in zip(node.output, results):
                if name:
                    values[name] = value
        names = output_names or [o.name for o in self._outputs]
        unknown = [n for n in names if n not in values]
        if unknown:
            raise ValueError(f"output_names: unknown outputs {unknown}")
        return [np.asarray(values[n], dtype=np.float32)
                if np.asarray(values[n]).dtype.kind == "f" else np.asarray(values[n])
                for n in names]


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
    from ..layers import Bidirectional, Dense
    from ..model import Sequential

    onnx = _onnx()
    model = onnx.load_from_string(bytes(path)) if isinstance(path, (bytes, bytearray)) \
        else onnx.load(os.fspath(path))
    graph = model.graph
    constants = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in constants]
    if len(inputs) != 1:
        raise NotImplementedError(f"the graph has inputs {inputs}; fastrnn models take one")
    producers = {out: node for node in graph.node for out in node.output}
    chain, layers = {inputs[0]}, []
    for node in graph.node:
        where = f"ONNX node {node.name or node.output[0]!r} ({node.op_type})"
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Constant":
            constants[node.output[0]] = onnx.numpy_helper.to_array(attributes["value"])
            continue
        on_chain = [name for name in node.input if name in chain]
        if not on_chain or node.op_type == "Shape":
            continue                                 # shape arithmetic beside the chain
        if node.op_type in ("LSTM", "GRU", "RNN"):
            recurrent = _RecurrentNode(node, attributes, constants)
            if recurrent.lengths_name:
                raise NotImplementedError(f"{where}: sequence_lens; pass lengths to predict")
            for state in (recurrent.h0_name, recurrent.c0_name):
                if state and not _zero_state_source(state, producers, constants):
                    raise NotImplementedError(f"{where}: a non-zero initial state")
            if recurrent.direction == "reverse":
                raise NotImplementedError(f"{where}: a reverse-only direction")
            directions = [m.layers[0] for m in recurrent.models]
            layers.append(Bidirectional(*directions) if len(directions) == 2 else directions[0])
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
            if bias is None or layers[-1].bias is not None or bias.shape != (layers[-1].output_size,):
                raise NotImplementedError(f"{where}: only a bias after MatMul is supported")
            layers[-1] = Dense(layers[-1].weight, bias, layers[-1].activation)
            chain.add(node.output[0])
            continue
        if node.op_type in _ACTIVATIONS and layers and isinstance(layers[-1], Dense) \
                and layers[-1].activation == "linear":
            if node.op_type == "Softmax" and attributes.get("axis", -1) not in (-1, 2):
                raise NotImplementedError(f"{where}: softmax over axis {attributes['axis']}")
            if node.op_type == "Elu" and attributes.get("alpha", 1.0) != 1.0:
                raise NotImplementedError(f"{where}: Elu alpha {attributes['alpha']}")
            layers[-1].activation = _ACTIVATIONS[node.op_type]
            chain.add(node.output[0])
            continue
        raise NotImplementedError(f"{where}: not part of a chain fastrnn can express")
    if graph.output[0].name not in chain:
        raise NotImplementedError(f"the graph's first output {graph.output[0].name!r} is not "
                                  "computed by the chain from its input")
    if not layers:
        raise ValueError("the ONNX graph has no layers fastrnn can run")
    return Sequential(layers, isa=isa, precision=precision)
