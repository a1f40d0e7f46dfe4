"""ONNX Runtime's interface over fastrnn: ``fastrnn.onnx.InferenceSession``.

``InferenceSession(path_or_bytes)`` is a drop-in for
``onnxruntime.InferenceSession`` on the graphs fastrnn supports: the
recurrent nodes (``LSTM``, ``GRU`` with ``linear_before_reset`` 0 or 1,
``RNN``; directions forward, reverse, bidirectional; ``sequence_lens``;
``initial_h``/``initial_c``; ``layout`` 0 and 1; all of ``Y``, ``Y_h``,
``Y_c``) run in fastrnn, each as a model built when the session is created
(fastrnn.io.onnx converts the node); a few glue nodes run in NumPy. Anything
else raises NotImplementedError naming the node and what is unsupported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .io.onnx import RecurrentNode, initializers, load_model, node_attributes
from .model import Sequential

__all__ = ["InferenceSession"]


def _reverse_within(batch: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Each sequence of `batch` (B, T, ...) with its first `lengths[b]` steps
    reversed (all T without lengths); steps past a length stay where they are."""
    if lengths is None:
        return batch[:, ::-1]
    steps = np.arange(batch.shape[1])
    index = np.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return np.take_along_axis(batch, index.reshape(index.shape + (1,) * (batch.ndim - 2)),
                              axis=1)


class _RecurrentStep:
    """A recurrent node run by a one-layer fastrnn model, built once."""

    def __init__(self, node: RecurrentNode):
        self.node = node
        self.model = Sequential([node.layer])
        self.parts = ("h", "c") if node.op == "LSTM" else ("h",)

    def run(self, values: dict) -> list:
        node = self.node
        x = np.asarray(values[node.x_name], dtype=np.float32)
        if node.layout == 0:
            x = x.transpose(1, 0, 2)                    # (T, B, I) -> (B, T, I)
        batch = x.shape[0]
        lengths = None
        if node.lengths_name:
            lengths = np.asarray(values[node.lengths_name]).astype(np.int64)
        initial = {}
        for name, part in zip((node.h0_name, node.c0_name), self.parts):
            if name:
                value = np.asarray(values[name], dtype=np.float32)
                initial[part] = value if node.layout == 0 else value.transpose(1, 0, 2)
        # The model's state names: each direction's parts, forward first.
        names = self.model.state_names()
        name_of = {(d, p): names[d * len(self.parts) + p]
                   for d in range(node.directions) for p in range(len(self.parts))}
        state = None
        if initial:
            zeros = np.zeros((node.directions, batch, node.hidden), np.float32)
            state = {name_of[d, p]: initial.get(part, zeros)[d]
                     for d in range(node.directions) for p, part in enumerate(self.parts)}
        reverse = node.direction == "reverse"
        if reverse:
            x = _reverse_within(x, lengths)
        y, final = self.model.predict(x, lengths=lengths, initial_state=state, return_state=True)
        if reverse:
            y = _reverse_within(y, lengths)
        y = y.reshape(y.shape[:2] + (node.directions, node.hidden))          # (B, T, D, H)
        outputs = [y.transpose(1, 2, 0, 3) if node.layout == 0 else y]
        for p in range(len(self.parts)):
            last = np.stack([final[name_of[d, p]] for d in range(node.directions)])  # (D, B, H)
            outputs.append(last if node.layout == 0 else last.transpose(1, 0, 2))
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
        graph = load_model(path_or_bytes).graph
        self._constants = initializers(graph)
        self._inputs = [_Value(i) for i in graph.input if i.name not in self._constants]
        self._outputs = [_Value(o) for o in graph.output]
        self._steps = []
        for node in graph.node:
            attributes = node_attributes(node)
            if node.op_type in ("LSTM", "GRU", "RNN"):
                self._steps.append((node, _RecurrentStep(
                    RecurrentNode(node, attributes, self._constants))))
            elif node.op_type == "Constant":
                self._constants[node.output[0]] = attributes["value"]
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
            if isinstance(step, _RecurrentStep):
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
