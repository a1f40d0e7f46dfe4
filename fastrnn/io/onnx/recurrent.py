"""ONNX's recurrent operators: the whole spec in NumPy (``lstm``, ``gru``,
``rnn``, rows of the operator table), and ``RecurrentNode``, a node converted
to the fastrnn layer that computes it when it uses only what fastrnn's
kernels do.

ONNX layouts (layout 0; layout 1 puts batch first in X, Y, the states):
``X (T, B, I)``, ``W (D, G*H, I)``, ``R (D, G*H, H)``, ``B (D, 2*G*H)`` =
[Wb, Rb], ``sequence_lens (B,)``, ``initial_h / initial_c (D, B, H)``,
``P (D, 3*H)`` (peepholes i, o, f); outputs ``Y (T, D, B, H)``, ``Y_h / Y_c
(D, B, H)``. Gate order LSTM i, o, f, c; GRU z, r, h; the canonical fastrnn
(PyTorch) orders are i, f, g, o (``LSTM_ORDER``) and r, z, n (``GRU_ORDER``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...layers import GRU, LSTM, Bidirectional, SimpleRNN
from ..convert import reorder_gates
from .proto import check_size

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DEFAULT_ACTIVATIONS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"),
                       "RNN": ("Tanh",)}
DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}
LSTM_ORDER = (0, 2, 3, 1)      # ONNX blocks i, o, f, c -> canonical i, f, g, o
GRU_ORDER = (1, 0, 2)          # ONNX blocks z, r, h -> canonical r, z, n

# The spec's activation functions by lower-case name: (f(x, alpha, beta),
# default alpha, default beta). The defaults are those of the ONNX operators
# of the same name; None: the function takes no such parameter (and consumes
# no entry of activation_alpha / _beta); NO_DEFAULT: the spec gives none
# (ScaledTanh), so the model must. (ONNX Runtime 1.32 uses 0 for a missing
# ThresholdedRelu / Affine / ScaledTanh parameter, against the spec.)
NO_DEFAULT = "no default"
ACTIVATIONS = {
    "relu": (lambda x, a, b: np.maximum(x, 0), None, None),
    "tanh": (lambda x, a, b: np.tanh(x), None, None),
    "sigmoid": (lambda x, a, b: 1 / (1 + np.exp(-x)), None, None),
    "affine": (lambda x, a, b: a * x + b, 1.0, 0.0),
    "leakyrelu": (lambda x, a, b: np.where(x >= 0, x, a * x), 0.01, None),
    "thresholdedrelu": (lambda x, a, b: np.where(x >= a, x, 0), 1.0, None),
    "scaledtanh": (lambda x, a, b: a * np.tanh(b * x), NO_DEFAULT, NO_DEFAULT),
    "hardsigmoid": (lambda x, a, b: np.clip(a * x + b, 0, 1), 0.2, 0.5),
    "elu": (lambda x, a, b: np.where(x >= 0, x, a * np.expm1(x)), 1.0, None),
    "softsign": (lambda x, a, b: x / (1 + np.abs(x)), None, None),
    "softplus": (lambda x, a, b: np.logaddexp(0, x), None, None),
}


def check_direction(attributes: dict, where: str) -> int:
    """The number of directions; ValueError for a direction the spec lacks."""
    direction = attributes["direction"]
    if direction not in DIRECTIONS:
        raise ValueError(f"{where}: direction must be forward, reverse or bidirectional, "
                         f"got {direction!r}")
    return 2 if direction == "bidirectional" else 1


def activation_functions(op: str, attributes: dict, directions: int) -> list[list]:
    """Per direction, the op's activation functions (f, g, h for LSTM) as
    callables x -> y: ``activations`` (default the spec's), their alpha and
    beta taken in order from activation_alpha / _beta by the functions that
    have such a parameter, defaults where the lists run out."""
    names = attributes.get("activations") or DEFAULT_ACTIVATIONS[op] * directions
    per_direction = len(DEFAULT_ACTIVATIONS[op])
    if len(names) != per_direction * directions:
        raise ValueError(f"activations {list(names)}: expected {per_direction * directions} "
                         f"for {directions} direction(s) of {op}")
    alphas = list(attributes.get("activation_alpha") or ())
    betas = list(attributes.get("activation_beta") or ())
    functions = []
    for name in names:
        key = name.lower()
        if key not in ACTIVATIONS:
            raise ValueError(f"activation {name!r}: expected one of the spec's "
                             f"{sorted(ACTIVATIONS)}")
        function, alpha, beta = ACTIVATIONS[key]
        if alpha is not None and alphas:
            alpha = alphas.pop(0)
        if beta is not None and betas:
            beta = betas.pop(0)
        if NO_DEFAULT in (alpha, beta):
            raise ValueError(f"activation {name!r} needs its alpha and beta in activation_alpha "
                             "and activation_beta (the spec gives no default)")
        functions.append(lambda x, f=function, a=alpha, b=beta: f(x, a, b))
    return [functions[d * per_direction:(d + 1) * per_direction] for d in range(directions)]


def _step_order(steps: int, lengths: np.ndarray, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """(time index (T, B), active (T, B)): step s of sequence b reads time
    index[s, b]; a reverse direction reads each sequence backward from its
    own last step. Steps past a sequence's length are inactive."""
    step = np.arange(steps)[:, np.newaxis]
    active = step < lengths[np.newaxis, :]
    if not reverse:
        return np.broadcast_to(step, active.shape), active
    return np.where(active, lengths[np.newaxis, :] - 1 - step, step), active


def _recurrent(op: str, inputs: list, attributes: dict) -> list[np.ndarray]:
    """Y, Y_h (and Y_c for LSTM) of an LSTM, GRU or RNN node (see the module
    docstring for the shapes)."""
    inputs = list(inputs) + [None] * (8 - len(inputs))
    x, w, r, bias, lengths, h0, c0, peepholes = inputs
    if op != "LSTM":
        c0 = peepholes = None
    directions = check_direction(attributes, op)
    gates = GATES[op]
    batch_first = attributes["layout"] == 1
    if batch_first:
        x = x.transpose(1, 0, 2)
        h0 = None if h0 is None else h0.transpose(1, 0, 2)
        c0 = None if c0 is None else c0.transpose(1, 0, 2)
    steps, batch, input_size = x.shape
    hidden = attributes.get("hidden_size") or r.shape[-1]
    expected = {"W": (w, (directions, gates * hidden, input_size)),
                "R": (r, (directions, gates * hidden, hidden)),
                "B": (bias, (directions, 2 * gates * hidden)),
                "initial_h": (h0, (directions, batch, hidden)),
                "initial_c": (c0, (directions, batch, hidden)),
                "P": (peepholes, (directions, 3 * hidden))}
    for name, (array, shape) in expected.items():
        if array is not None and array.shape != shape:
            raise ValueError(f"{name}: expected shape {shape} ({directions} direction(s), "
                             f"hidden_size {hidden}, layout 0), got {array.shape}")
    dtype = x.dtype
    check_size((steps, directions, batch, hidden), dtype, f"{op} output Y")
    if lengths is None:
        lengths = np.full(batch, steps, np.int64)
    lengths = np.asarray(lengths, np.int64)
    if lengths.shape != (batch,) or np.any((lengths < 0) | (lengths > steps)):
        raise ValueError(f"sequence_lens: expected {batch} lengths in [0, {steps}], "
                         f"got {lengths.tolist()}")
    clip = attributes.get("clip")
    clipped = (lambda z: z) if clip is None else (lambda z: np.clip(z, -clip, clip))
    functions = activation_functions(op, attributes, directions)
    y = np.zeros((steps, directions, batch, hidden), dtype)
    final_h = np.zeros((directions, batch, hidden), dtype)
    final_c = np.zeros((directions, batch, hidden), dtype)
    columns = np.arange(batch)
    for d in range(directions):
        reverse = attributes["direction"] == "reverse" or d == 1
        index, active = _step_order(steps, lengths, reverse)
        w_bias = r_bias = np.zeros(gates * hidden, dtype)
        if bias is not None:
            w_bias, r_bias = bias[d, :gates * hidden], bias[d, gates * hidden:]
        projected = x[index, columns] @ w[d].T + w_bias                    # (T, B, G*H)
        h = np.zeros((batch, hidden), dtype) if h0 is None else h0[d].astype(dtype)
        c = np.zeros((batch, hidden), dtype) if c0 is None else c0[d].astype(dtype)
        for s in range(steps):
            if op == "LSTM":
                h_new, c_new = _lstm_cell(projected[s], h, c, r[d], r_bias,
                                          None if peepholes is None else peepholes[d],
                                          functions[d], clipped, attributes["input_forget"])
                c = np.where(active[s][:, np.newaxis], c_new, c)
            elif op == "GRU":
                h_new = _gru_cell(projected[s], h, r[d], r_bias, functions[d], clipped,
                                  attributes["linear_before_reset"])
            else:
                h_new = functions[d][0](clipped(projected[s] + h @ r[d].T + r_bias))
            keep = active[s][:, np.newaxis]
            h = np.where(keep, h_new, h).astype(dtype)
            y[index[s], d, columns] = np.where(keep, h_new, 0)
        final_h[d], final_c[d] = h, c
    # A sequence of length 0 has zero final states (ONNX Runtime's rule; the
    # spec says nothing), whatever its initial state.
    final_h[:, lengths == 0] = 0
    final_c[:, lengths == 0] = 0
    if batch_first:
        outputs = [y.transpose(2, 0, 1, 3), final_h.transpose(1, 0, 2),
                   final_c.transpose(1, 0, 2)]
    else:
        outputs = [y, final_h, final_c]
    return outputs if op == "LSTM" else outputs[:2]


def _lstm_cell(projected, h, c, r, r_bias, peepholes, functions, clipped, input_forget):
    """One LSTM step (gate blocks i, o, f, c):
    i = f(Wi x + Ri h + Pi * c + b), f = f(Wf x + Rf h + Pf * c + b)
    (1 - i with input_forget), g = g(Wc x + Rc h + b), c' = f * c + i * g,
    o = f(Wo x + Ro h + Po * c' + b), h' = o * h(c')."""
    hidden = h.shape[1]
    z = projected + h @ r.T + r_bias
    zi, zo, zf, zc = (z[:, k * hidden:(k + 1) * hidden] for k in range(4))
    if peepholes is not None:
        pi, po, pf = (peepholes[k * hidden:(k + 1) * hidden] for k in range(3))
        zi, zf = zi + pi * c, zf + pf * c
    f, g, h_activation = functions
    input_gate = f(clipped(zi))
    forget_gate = 1 - input_gate if input_forget else f(clipped(zf))
    c_new = forget_gate * c + input_gate * g(clipped(zc))
    if peepholes is not None:
        zo = zo + po * c_new
    return f(clipped(zo)) * h_activation(c_new), c_new


def _gru_cell(projected, h, r, r_bias, functions, clipped, linear_before_reset):
    """One GRU step (gate blocks z, r, h): z = f(Wz x + Rz h + b), r = f(Wr x
    + Rr h + b), n = g(Wh x + Rh (r * h) + b) or, linear_before_reset,
    g(Wh x + r * (Rh h + Rbh) + Wbh); h' = (1 - z) * n + z * h."""
    hidden = h.shape[1]
    f, g = functions
    recurrent = h @ r[:2 * hidden].T + r_bias[:2 * hidden]
    update = f(clipped(projected[:, :hidden] + recurrent[:, :hidden]))
    reset = f(clipped(projected[:, hidden:2 * hidden] + recurrent[:, hidden:]))
    r_h, rb_h = r[2 * hidden:], r_bias[2 * hidden:]
    if linear_before_reset:
        candidate = projected[:, 2 * hidden:] + reset * (h @ r_h.T + rb_h)
    else:
        candidate = projected[:, 2 * hidden:] + (reset * h) @ r_h.T + rb_h
    n = g(clipped(candidate))
    return (1 - update) * n + update * h


def lstm(inputs: list, attributes: dict) -> list[np.ndarray]:
    """ONNX LSTM: [Y, Y_h, Y_c]."""
    with np.errstate(over="ignore"):          # exp of large inputs: inf, then 0 or 1
        return _recurrent("LSTM", inputs, attributes)


def gru(inputs: list, attributes: dict) -> list[np.ndarray]:
    """ONNX GRU: [Y, Y_h]."""
    with np.errstate(over="ignore"):
        return _recurrent("GRU", inputs, attributes)


def rnn(inputs: list, attributes: dict) -> list[np.ndarray]:
    """ONNX RNN: [Y, Y_h]."""
    with np.errstate(over="ignore"):
        return _recurrent("RNN", inputs, attributes)


def _input(node: Any, index: int) -> str:
    return node.inputs[index] if index < len(node.inputs) else ""


def fastrnn_refusal(node: Any, constants: dict) -> str | None:
    """Why fastrnn's kernels cannot run this recurrent IR node (None when
    they can): weights that are not constants, peepholes, clip,
    input_forget, or activations other than the defaults (and Relu for RNN)."""
    attributes = node.attributes
    for index, name in ((1, "W"), (2, "R"), (3, "B")):
        if _input(node, index) and _input(node, index) not in constants:
            return f"weight {name} ({_input(node, index)!r}) is not a constant"
        if _input(node, index) and constants[_input(node, index)].dtype != np.float32:
            return f"weight {name} of dtype {constants[_input(node, index)].dtype} (the " \
                   "kernels compute in float32)"
    if node.op == "LSTM" and _input(node, 7):
        return "peepholes (input P)"
    if attributes.get("clip") is not None:
        return "attribute clip"
    if attributes.get("input_forget"):
        return "input_forget=1"
    directions = check_direction(attributes, node.name)
    activations = [a.lower() for a in attributes.get("activations") or ()]
    defaults = [a.lower() for a in DEFAULT_ACTIVATIONS[node.op]] * directions
    if activations and activations != defaults and not (
            node.op == "RNN" and set(activations) == {"relu"}):
        return f"activations {list(attributes['activations'])}"
    return None


class RecurrentNode:
    """One ONNX LSTM/GRU/RNN node of the IR converted to the fastrnn layer
    computing it: the names of its inputs, and ``layer`` (a Bidirectional for
    direction "bidirectional"; for "reverse", the layer to run over each
    sequence read backward).

    Parameters
    ----------
    node : fastrnn.io.onnx.ir.Node
    constants : dict, the graph's constants by name (W, R, B among them)

    Raises NotImplementedError (``fastrnn_refusal``) for what fastrnn's
    kernels do not compute; the operator table's ``lstm`` / ``gru`` / ``rnn``
    compute it.
    """

    def __init__(self, node: Any, constants: dict):
        self.node, self.op = node, node.op
        where = f"{self.op} node {node.name!r}"
        refusal = fastrnn_refusal(node, constants)
        if refusal:
            raise NotImplementedError(f"{where}: {refusal} is not supported by fastrnn's "
                                      "kernels")
        attributes = node.attributes
        self.x_name = _input(node, 0)
        self.lengths_name, self.h0_name = _input(node, 4), _input(node, 5)
        self.c0_name = _input(node, 6) if self.op == "LSTM" else ""
        self.direction = attributes["direction"]
        self.directions = check_direction(attributes, where)
        self.layout = attributes["layout"]
        W = np.asarray(constants[_input(node, 1)], np.float32)
        R = np.asarray(constants[_input(node, 2)], np.float32)
        B = np.asarray(constants[_input(node, 3)], np.float32) if _input(node, 3) else None
        hidden = attributes.get("hidden_size") or R.shape[-1]
        gates = GATES[self.op]
        if (W.ndim != 3 or W.shape[:2] != (self.directions, gates * hidden)
                or R.shape != (self.directions, gates * hidden, hidden)):
            raise ValueError(f"{where}: W {W.shape} / R {R.shape} do not match "
                             f"{self.directions} direction(s) of hidden_size {hidden}")
        self.hidden = hidden
        order = {"LSTM": LSTM_ORDER, "GRU": GRU_ORDER}.get(self.op)
        cls = {"LSTM": LSTM, "GRU": GRU, "RNN": SimpleRNN}[self.op]
        activations = {a.lower() for a in attributes.get("activations") or ()}
        options = ({"reset_after": bool(attributes["linear_before_reset"])} if self.op == "GRU"
                   else {"activation": "relu" if activations == {"relu"} else "tanh"}
                   if self.op == "RNN" else {})
        layers = []
        for d in range(self.directions):
            arrays = [W[d], R[d], None, None]
            if B is not None:
                arrays[2:] = B[d, :gates * hidden], B[d, gates * hidden:]
            if order is not None:
                arrays = [None if a is None else reorder_gates(a, order, hidden) for a in arrays]
            layers.append(cls(*arrays, **options))
        self.layer = Bidirectional(*layers) if self.directions == 2 else layers[0]
