"""PyTorch: tensors, modules and files to fastrnn.

fastrnn's canonical layout *is* PyTorch's (``weight_ih (G*H, I)``,
``weight_hh (G*H, H)``, gate order LSTM i, f, g, o and GRU r, z, n), so layers
take PyTorch's tensors as they are. ``from_torch`` turns a whole module into a
``fastrnn.Model`` (a ``fastrnn.Sequential`` when it is a chain of layers) by
tracing its forward with ``torch.fx`` (fastrnn.io.torch_fx has the rules):

- modules: ``nn.Conv1d`` (zero padding: an int, "valid", "same"; ``F.pad``
  of time right before it for causal or explicit padding), ``nn.BatchNorm1d``
  (its running statistics), ``nn.LayerNorm`` over the channels,
  ``nn.GroupNorm(1, C)`` on (batch, channels) data, ``nn.LSTM``, ``nn.GRU``,
  ``nn.RNN`` (any ``num_layers``, ``bidirectional``, ``batch_first`` or not,
  an initial state of zeros or none), ``nn.Linear``, ``nn.MaxPool1d``,
  ``nn.AvgPool1d``, ``nn.AdaptiveAvg/MaxPool1d(1)``, the activations (ReLU,
  ReLU6, Hardtanh, LeakyReLU, PReLU, ELU, SELU, GELU, SiLU, Tanh, Sigmoid,
  Hardsigmoid, Softplus, Softmax, LogSoftmax), ``nn.Dropout`` and
  ``nn.Identity`` (no-ops in inference), ``nn.Sequential`` of these;
- functions and methods: their functional forms (``torch.tanh``,
  ``F.relu``, ``F.gelu(approximate=)``, ``F.leaky_relu``, ``F.softmax(dim=-1)``,
  ...), ``exp``, ``log``, ``sqrt``, ``abs``, ``clamp``, ``pow``; ``+ - * /``
  of two tensors or with a constant (a number, a parameter or buffer of one
  value per channel), ``torch.cat`` and ``torch.split``/``chunk`` of the
  channels, ``x[..., a:b]``, ``transpose``/``permute`` (each value's layout
  is followed: fastrnn tensors are always (B, T, C)), ``x.mean(dim=1)`` and
  ``amax``/``max`` over time (a global pool), reductions over the channels
  with ``keepdim=True``, the last step ``out[:, -1]`` or ``h_n[-1]`` of a
  recurrent layer, ``torch.zeros(...)`` initial states;
- a forward taking the input first; its other arguments are traced as None
  (so ``if state is None:`` defaults run), returning one tensor or several,
  and recurrent states.

A model's input and outputs are always (B, T, C) or (T, C), whatever the
module's layout: a module that reads (B, C, T) (a Conv1d first) or (T, B, C)
(an RNN without batch_first) takes x.transpose in fastrnn. Recurrent states a
forward returns are not outputs: they are the stream's state, read with
``model.predict(x, return_state=True)`` or ``Stream.get_state()``; the
model's ``metadata["torch_states"]`` lists, for each state tensor the forward
returns, the state names whose (B, H) arrays torch stacks along its first
axis (e.g. ``[["lstm.h"], ["lstm.c"]]``).

TorchScript (``torch.jit.script`` or ``trace``, and saved TorchScript files)
imports when the module is an ``nn.Sequential`` (or one layer) of these: its
layers are rebuilt from their parameters. A TorchScript module with its own
forward does not say what it computes in a form fastrnn reads: import the
Python module instead (see ``from_torch``).
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

from ..layers import Dense
from ..model import Model, Sequential, graph_nodes
from .convert import fold_activations
from .torch_fx import RECURRENT_TENSORS, recurrent_layers, translate


def _torch():
    try:
        import torch
    except ImportError as error:
        raise ImportError("importing PyTorch models needs PyTorch: "
                          "pip install 'fastrnn[torch]'") from error
    return torch


def _chain(translation) -> list | None:
    """The layers of a translation that is a chain (one output, each layer
    reading the one before), first to last; None otherwise."""
    if len(translation.outputs) != 1:
        return None
    layers, tensor = [], translation.outputs[0]
    while tensor.node is not None:
        if len(tensor.node.inputs) != 1:
            return None
        layers.append(tensor.node.layer)
        tensor = tensor.node.inputs[0]
    if not layers or layers[-1].input_size is None:
        return None
    return layers[::-1]


def _state_names(returned_states: list, names: dict) -> list:
    """For each returned state tensor, the fastrnn state names of its rows."""
    return [[f"{names[id(layer)]}.{part}" for layer, part in entries]
            for entries in returned_states]


def _model(translation, isa: str | None, precision: str) -> Model:
    """The Sequential (a chain) or Model of a translation."""
    chain = _chain(translation)
    if chain is not None:
        layers = fold_activations(chain)
        names = {id(layer): f"layer{index}" for index, layer in enumerate(layers)}
        metadata = {"torch_states": _state_names(translation.returned_states, names)}
        return Sequential(layers, isa=isa, precision=precision, metadata=metadata)
    nodes = graph_nodes([translation.input], translation.outputs)
    metadata = {"torch_states": _state_names(translation.returned_states, translation.names)}
    return Model(translation.input, translation.outputs, isa=isa, precision=precision,
                 layer_names=[translation.names[id(node.layer)] for node in nodes],
                 metadata=metadata)


def _is_torchscript_file(path) -> bool:
    """True for a TorchScript archive (torch.jit.save): a zip holding code/
    and constants.pkl beside the data that torch.save files hold too."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, IsADirectoryError):
        return False
    return any(name.endswith("/constants.pkl") for name in names) and any(
        "/code/" in name for name in names)


def _load(path, weights_only: bool, torch):
    """The module (or state dict) a file holds: TorchScript through
    torch.jit.load, anything else through torch.load."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{os.fspath(path)!r}: no such file")
    if _is_torchscript_file(path):
        return torch.jit.load(path, map_location="cpu")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as error:
        if weights_only and "weights_only" in str(error):
            raise ValueError(f"{os.fspath(path)!r} holds a whole pickled module, which "
                             "torch.load only reads with weights_only=False (that runs "
                             "code from the file): pass weights_only=False if you trust "
                             "it") from None
        raise
    if isinstance(obj, dict):
        raise ValueError("this file holds a state dict, which does not say the "
                         "architecture: build the layers with fastrnn.io.torch."
                         "lstm_from_state_dict / gru_from_state_dict / "
                         "rnn_from_state_dict / linear_from_state_dict")
    return obj


def from_torch(obj: Any, *, weights_only: bool = True, isa: str | None = None,
               precision: str = "float32") -> Model:
    """A fastrnn.Model computing what a PyTorch module computes (a
    fastrnn.Sequential when the module is a chain of layers).

    Parameters
    ----------
    obj : torch.nn.Module, a TorchScript module, or the path of a file saved
        with ``torch.save`` (a whole module) or ``torch.jit.save``. (A state
        dict does not say the architecture: build the layers with
        ``lstm_from_state_dict`` and its siblings.) What fastrnn reads of a
        module is in this module's docstring.
    weights_only : bool
        Passed to ``torch.load``. A whole module is a pickle, which loading
        executes: pass False only for a file you trust. (TorchScript files
        are read by ``torch.jit.load``, which runs no Python.)
    isa, precision : see ``fastrnn.Model``.

    Returns
    -------
    fastrnn.Model
        Its input and outputs are (B, T, C) whatever the module's layout;
        the outputs are the forward's results that are not recurrent
        states, in order. ``metadata["torch_states"]`` names the states.

    Raises
    ------
    NotImplementedError
        For a module or operation fastrnn does not run, naming it and the
        line of the forward it is on.
    """
    torch = _torch()
    if isinstance(obj, (str, os.PathLike)):
        obj = _load(obj, weights_only, torch)
    if isinstance(obj, torch.jit.ScriptModule):
        obj = eager_module(obj, torch)
    if not isinstance(obj, torch.nn.Module):
        raise TypeError(f"expected a torch.nn.Module or a path, got {type(obj).__name__}")
    if not isinstance(obj, torch.nn.Sequential) and _is_leaf(obj, torch):
        obj = torch.nn.Sequential(obj)
    return _model(translate(obj, torch), isa, precision)


def _is_leaf(module, torch) -> bool:
    """True for a torch.nn module that torch.fx does not trace into (its
    forward is the layer itself)."""
    return type(module).__module__.startswith("torch.nn")


# ---------------------------------------------------------------------------
# TorchScript: the eager modules a scripted or traced nn.Sequential is made of.

# Constructor arguments of the torch.nn layers fastrnn rebuilds: a scripted
# module keeps them as attributes; a traced one only in its graph's call.
_RECURRENT_ARGUMENTS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first",
                        "dropout", "bidirectional")
# Traced modules: per layer, the aten operations it may call, each with
# {argument index: constructor argument} and the constructor arguments the
# operation itself means.
_RECURRENT_CALL = {7: "bidirectional", 8: "batch_first"}
_TRACED_CALLS = {
    "LSTM": [("aten::lstm", _RECURRENT_CALL, {})],
    "GRU": [("aten::gru", _RECURRENT_CALL, {})],
    "RNN": [("aten::rnn_tanh", _RECURRENT_CALL, {"nonlinearity": "tanh"}),
            ("aten::rnn_relu", _RECURRENT_CALL, {"nonlinearity": "relu"})],
    "Conv1d": [("aten::_convolution", {3: "stride", 4: "padding", 5: "dilation", 8: "groups"},
                {}),
               ("aten::_convolution_mode",                       # padding given as a string
                {3: "stride", 4: "padding", 5: "dilation", 6: "groups"}, {})],
    "Softmax": [("aten::softmax", {1: "dim"}, {})],
    "LogSoftmax": [("aten::log_softmax", {1: "dim"}, {})],
    "LeakyReLU": [("aten::leaky_relu", {1: "negative_slope"}, {})],
    "ELU": [("aten::elu", {1: "alpha"}, {})],
    "GELU": [("aten::gelu", {1: "approximate"}, {})],
    "Softplus": [("aten::softplus", {1: "beta", 2: "threshold"}, {})],
}
_PARAMETERLESS = ("ReLU", "Tanh", "Sigmoid", "SiLU", "SELU", "Hardsigmoid", "Identity", "Dropout")


def eager_module(script, torch, where: str = ""):
    """The torch.nn module a TorchScript module `script` is, rebuilt from its
    parameters: an nn.Sequential of the layers fastrnn runs, or one of them.
    NotImplementedError saying what to do instead for anything else."""
    kind = script.original_name
    where = where or kind
    if kind == "Sequential":
        return torch.nn.Sequential(*[eager_module(child, torch, f"{where}[{name}]")
                                     for name, child in script.named_children()])
    cls = getattr(torch.nn, kind, None)
    if cls is None or not _is_leaf_class(cls):
        raise NotImplementedError(
            f"{where}: a TorchScript module with its own forward, which fastrnn cannot read "
            "(torch.fx traces Python, not TorchScript). Import the Python module instead: "
            f"module = {kind}(...); module.load_state_dict(torch.jit.load(path).state_dict()); "
            "fastrnn.from_torch(module); or build the layers from the state dict with "
            "fastrnn.io.torch.lstm_from_state_dict and its siblings")
    arguments = _script_arguments(script, kind, cls, torch, where)
    module = cls(**arguments)
    module.load_state_dict(script.state_dict())
    return module


def _is_leaf_class(cls) -> bool:
    return cls.__module__.startswith("torch.nn.modules")


def _script_arguments(script, kind: str, cls, torch, where: str) -> dict:
    """The constructor arguments of the torch.nn layer `script` was made
    from: sizes and biases from its parameters, the rest from the constants
    a scripted module keeps (the class's __constants__) or, for a traced one,
    from its graph."""
    import inspect

    state = script.state_dict()
    known = {}
    if kind in ("LSTM", "GRU", "RNN"):
        names = _RECURRENT_ARGUMENTS + (("proj_size",) if kind == "LSTM" else ()) \
            + (("nonlinearity",) if kind == "RNN" else ())
        known = {"input_size": state["weight_ih_l0"].shape[1],
                 "hidden_size": state["weight_hh_l0"].shape[1],
                 "num_layers": sum(key.startswith("weight_ih_l") and not key.endswith("_reverse")
                                   for key in state),
                 "bidirectional": "weight_ih_l0_reverse" in state}
    else:
        parameters = inspect.signature(cls.__init__).parameters
        names = tuple(name for name in getattr(cls, "__constants__", ())
                      if name in parameters and name != "inplace")
        if "weight" in state and kind in ("Linear", "Conv1d"):
            weight = state["weight"]
            known = ({"in_features": weight.shape[1], "out_features": weight.shape[0]}
                     if kind == "Linear" else
                     {"out_channels": weight.shape[0], "kernel_size": weight.shape[2]})
        if kind == "PReLU":
            known = {"num_parameters": state["weight"].numel()}
        if "bias" in parameters:
            known["bias"] = any(key.startswith("bias") for key in state)
    if all(hasattr(script, name) for name in names if name not in known):
        arguments = {name: getattr(script, name) for name in names if name not in known}
    else:
        arguments = _traced_arguments(script, kind, where)
    arguments.update(known)
    if kind == "Conv1d":
        arguments.setdefault("in_channels", state["weight"].shape[1] * arguments["groups"])
    return arguments


def _traced_arguments(script, kind: str, where: str) -> dict:
    """The constructor arguments a traced module's graph shows (the
    constants its one aten call takes)."""
    if kind in _PARAMETERLESS:
        return {}
    if kind not in _TRACED_CALLS:
        raise NotImplementedError(f"{where}: a traced {kind} does not keep its settings; "
                                  "script it (torch.jit.script) or import the Python module")
    calls = {operation: (positions, means) for operation, positions, means in _TRACED_CALLS[kind]}
    found = [node for node in script.graph.nodes() if node.kind() in calls]
    if len(found) != 1:
        raise NotImplementedError(f"{where}: a traced {kind} that does not call one of "
                                  f"{sorted(calls)} once; script it (torch.jit.script) or "
                                  "import the Python module")
    if kind == "Conv1d" and any("pad" in node.kind() for node in script.graph.nodes()):
        raise NotImplementedError(f"{where}: a traced Conv1d that pads its input itself (a "
                                  "padding_mode other than zeros); fastrnn pads with zeros")
    positions, means = calls[found[0].kind()]
    inputs = list(found[0].inputs())
    return {**{name: _graph_constant(inputs[index]) for index, name in positions.items()},
            **means}


def _graph_constant(value):
    """The constant a TorchScript graph value holds (a list for a
    prim::ListConstruct of constants)."""
    node = value.node()
    if node.kind() == "prim::ListConstruct":
        return [_graph_constant(item) for item in node.inputs()]
    return value.toIValue()


def _state_dict_layers(state_dict: dict, prefix: str, kind: str, num_layers: int,
                       bidirectional: bool, activation: str = "tanh") -> list:
    """The layers of an nn.LSTM/GRU/RNN under `prefix`; KeyError naming the
    first missing tensor (weights of every layer and direction, and biases
    wherever layer 0 has them)."""
    prefix = f"{prefix}." if prefix else ""
    names = RECURRENT_TENSORS if prefix + "bias_ih_l0" in state_dict else RECURRENT_TENSORS[:2]
    for layer in range(num_layers):
        for suffix in ("", "_reverse") if bidirectional else ("",):
            for name in names:
                key = f"{prefix}{name}_l{layer}{suffix}"
                if key not in state_dict:
                    found = sorted(k for k in state_dict if k.startswith(prefix))[:8]
                    raise KeyError(f"no {key!r} in the state dict, which num_layers="
                                   f"{num_layers}, bidirectional={bidirectional} need (keys "
                                   f"under {prefix!r}: {found})")
    return recurrent_layers(lambda name: state_dict.get(prefix + name), kind, num_layers,
                            bidirectional, activation)


def lstm_from_state_dict(state_dict: dict, prefix: str = "", num_layers: int = 1,
                         bidirectional: bool = False) -> list:
    """The layers of an ``nn.LSTM`` stored under `prefix` in a state dict."""
    return _state_dict_layers(state_dict, prefix, "lstm", num_layers, bidirectional)


def gru_from_state_dict(state_dict: dict, prefix: str = "", num_layers: int = 1,
                        bidirectional: bool = False) -> list:
    """The layers of an ``nn.GRU`` stored under `prefix` in a state dict."""
    return _state_dict_layers(state_dict, prefix, "gru", num_layers, bidirectional)


def rnn_from_state_dict(state_dict: dict, prefix: str = "", num_layers: int = 1,
                        bidirectional: bool = False, nonlinearity: str = "tanh") -> list:
    """The layers of an ``nn.RNN`` stored under `prefix` in a state dict."""
    return _state_dict_layers(state_dict, prefix, "rnn", num_layers, bidirectional,
                              nonlinearity)


def linear_from_state_dict(state_dict: dict, prefix: str = "", activation: str | None = None):
    """The Dense layer of an ``nn.Linear`` stored under `prefix` in a state dict."""
    prefix = f"{prefix}." if prefix else ""
    if prefix + "weight" not in state_dict:
        raise KeyError(f"no {prefix + 'weight'!r} in the state dict")
    return Dense.from_torch(state_dict[prefix + "weight"], state_dict.get(prefix + "bias"),
                            activation)
