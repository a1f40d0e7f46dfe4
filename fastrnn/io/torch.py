"""PyTorch: tensors, modules and files to fastrnn.

fastrnn's canonical layout *is* PyTorch's (``weight_ih (G*H, I)``,
``weight_hh (G*H, H)``, gate order LSTM i, f, g, o and GRU r, z, n), so layers
take PyTorch's tensors as they are. ``from_torch`` turns a whole module into a
``fastrnn.Sequential``:

- ``nn.LSTM``, ``nn.GRU``, ``nn.RNN`` (tanh, relu), any ``num_layers``,
  ``bias``, ``bidirectional``; ``nn.Linear``; ``nn.Tanh``, ``nn.ReLU``,
  ``nn.Sigmoid``, ``nn.ELU`` (alpha 1), ``nn.Softmax`` (last dimension),
  folded into the Linear before them; ``nn.Dropout`` and ``nn.Identity``
  (no-ops in inference); ``nn.Sequential`` of these, nested or not;
- a custom module whose forward chains these, found by ``torch.fx`` tracing,
  including the usual ways of keeping the last step: ``out[:, -1]`` (or
  ``out[-1]`` without batch_first) and ``h_n[-1]``.

fastrnn models always take batch-first input, (B, T, F) or (T, F), whatever
the source module's ``batch_first``.
"""

from __future__ import annotations

import os
from typing import Any

from ..layers import GRU, LSTM, Bidirectional, Dense, SimpleRNN
from ..model import Sequential
from .convert import fold_activation


def _torch():
    try:
        import torch
    except ImportError as error:
        raise ImportError("importing PyTorch models needs PyTorch: "
                          "pip install 'fastrnn[torch]'") from error
    return torch


_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_RECURRENT_CLASSES = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN}


def _recurrent_layers(get, kind: str, num_layers: int, bidirectional: bool,
                      activation: str = "tanh") -> list:
    """fastrnn layers from PyTorch's per-layer tensors: get(name) returns the
    tensor `name` (e.g. "weight_ih_l0_reverse") or None."""
    cls = _RECURRENT_CLASSES[kind]
    options = {"activation": activation} if kind == "rnn" else {}
    layers = []
    for layer in range(num_layers):
        directions = [cls.from_torch(*(get(f"{name}_l{layer}{suffix}") for name in _NAMES),
                                     **options)
                      for suffix in (("", "_reverse") if bidirectional else ("",))]
        layers.append(Bidirectional(*directions) if bidirectional else directions[0])
    return layers


def _from_rnn_module(module) -> list:
    torch = _torch()
    if isinstance(module, torch.nn.LSTM) and module.proj_size:
        raise NotImplementedError(f"{module}: LSTM proj_size is not supported by fastrnn")
    kind = ("lstm" if isinstance(module, torch.nn.LSTM) else
            "gru" if isinstance(module, torch.nn.GRU) else "rnn")
    activation = getattr(module, "nonlinearity", "tanh")
    return _recurrent_layers(lambda name: getattr(module, name, None), kind,
                             module.num_layers, module.bidirectional, activation)


def _activation_of(module) -> str | None:
    """fastrnn's name for an activation module, or None if it is not one."""
    torch = _torch()
    nn = torch.nn
    if isinstance(module, nn.Softmax):
        if module.dim not in (-1,):
            raise NotImplementedError(f"{module}: softmax over dimension {module.dim}; fastrnn "
                                      "applies softmax over the features (dim=-1)")
        return "softmax"
    if isinstance(module, nn.ELU) and module.alpha != 1.0:
        raise NotImplementedError(f"{module}: ELU with alpha={module.alpha}; fastrnn's elu "
                                  "has alpha 1")
    for cls, name in ((nn.Tanh, "tanh"), (nn.ReLU, "relu"), (nn.Sigmoid, "sigmoid"),
                      (nn.ELU, "elu")):
        if isinstance(module, cls):
            return name
    return None


class _Chain:
    """The layers found so far, and the rules for what may follow them."""

    def __init__(self):
        self.layers: list = []
        self.batch_first = True

    def add_module(self, module, where: str) -> None:
        torch = _torch()
        nn = torch.nn
        if isinstance(module, (nn.Dropout, nn.Identity)):
            return
        if isinstance(module, nn.Sequential):
            for index, child in enumerate(module):
                self.add_module(child, f"{where}[{index}]")
            return
        if isinstance(module, (nn.LSTM, nn.GRU, nn.RNN)):
            self.batch_first = module.batch_first
            self.layers += _from_rnn_module(module)
            return
        if isinstance(module, nn.Linear):
            self.layers.append(Dense.from_torch(module.weight, module.bias))
            return
        activation = _activation_of(module)
        if activation is None:
            raise NotImplementedError(f"{where} ({type(module).__name__}): not a module fastrnn "
                                      "can run (LSTM, GRU, RNN, Linear, Tanh, ReLU, Sigmoid, "
                                      "ELU, Softmax, Dropout, Identity, Sequential)")
        self.add_activation(activation, where)

    def add_activation(self, activation: str, where: str) -> None:
        fold_activation(self.layers, activation, where)

    def keep_last_step(self, where: str) -> None:
        recurrent = [layer for layer in self.layers if layer.recurrent]
        if not recurrent or self.layers[-1] is not recurrent[-1]:
            raise NotImplementedError(f"{where}: selecting the last step is supported right "
                                      "after a recurrent layer")
        last = recurrent[-1]
        if isinstance(last, Bidirectional):
            raise NotImplementedError(f"{where}: the last step of a bidirectional output mixes "
                                      "the backward direction's first step; not supported")
        last.return_sequences = False


def _is_last_step(index: Any, batch_first: bool) -> bool:
    """True for out[:, -1], out[:, -1, :] (batch first) or out[-1] (time first)."""
    full = slice(None, None, None)
    if batch_first:
        return isinstance(index, tuple) and index[:2] == (full, -1) and all(
            i == full for i in index[2:])
    return index == -1 or (isinstance(index, tuple) and index[:1] == (-1,)
                           and all(i == full for i in index[1:]))


def _trace(module) -> _Chain:
    """The chain of layers a custom module's forward computes, from torch.fx."""
    import operator

    torch = _torch()
    try:
        graph = torch.fx.symbolic_trace(module).graph
    except Exception as error:
        raise NotImplementedError(f"{type(module).__name__}: torch.fx cannot trace its forward "
                                  f"({type(error).__name__}: {error})") from None
    functions = {torch.relu: "relu", torch.tanh: "tanh", torch.sigmoid: "sigmoid",
                 torch.nn.functional.relu: "relu", torch.nn.functional.elu: "elu",
                 torch.nn.functional.tanh: "tanh", torch.nn.functional.sigmoid: "sigmoid",
                 torch.softmax: "softmax", torch.nn.functional.softmax: "softmax"}
    methods = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "softmax": "softmax"}
    name = type(module).__name__
    chain = _Chain()
    # kinds: node -> "sequence" (the flowing value), ("outputs", rnn node): its
    # (output, state) pair, ("state", rnn node): an LSTM's (h_n, c_n),
    # ("h_n", rnn node): the final hidden states of every layer
    kinds: dict = {}
    current = None
    for node in graph.nodes:
        where = f"{name}: {node.format_node()}"
        inputs = [arg for arg in node.args if isinstance(arg, torch.fx.Node)]
        if node.op == "placeholder":
            if current is not None:
                raise NotImplementedError(f"{where}: forward takes more than one input; "
                                          "fastrnn models take one")
            current = node
            kinds[node] = "sequence"
            continue
        if node.op == "output":
            if node.args[0] is not current:
                raise NotImplementedError(f"{where}: forward must return the chain's last "
                                          "value alone")
            break
        source = inputs[0] if inputs else None
        if node.op == "call_function" and node.target is operator.getitem:
            kind, index = kinds.get(source), node.args[1]
            if isinstance(kind, tuple) and kind[0] == "outputs" and index == 0:
                kinds[node], current = "sequence", node          # out, _ = rnn(x)
            elif isinstance(kind, tuple) and kind[0] == "outputs" and index == 1:
                lstm = isinstance(module.get_submodule(kind[1].target), torch.nn.LSTM)
                kinds[node] = ("state" if lstm else "h_n", kind[1])   # _, h = rnn(x)
            elif isinstance(kind, tuple) and kind[0] == "state" and index == 0:
                kinds[node] = ("h_n", kind[1])                 # _, (h, c) = lstm(x)
            elif isinstance(kind, tuple) and kind[0] == "h_n" and index == -1:
                chain.keep_last_step(where)                    # h_n[-1]
                kinds[node], current = "sequence", node
            elif (kind == "sequence" and source is current
                  and _is_last_step(index, chain.batch_first)):
                chain.keep_last_step(where)                    # out[:, -1]
                kinds[node], current = "sequence", node
            elif isinstance(kind, tuple) and not node.users:
                kinds[node] = kind                             # an unused state
            else:
                raise NotImplementedError(f"{where}: indexing fastrnn cannot express")
            continue
        if source is not current or len(inputs) != 1:
            raise NotImplementedError(f"{where}: not a chain (each step must take the previous "
                                      "step's output as its only tensor input)")
        if node.op == "call_module":
            submodule = module.get_submodule(node.target)
            chain.add_module(submodule, f"{name}.{node.target}")
            if isinstance(submodule, (torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN)):
                kinds[node] = ("outputs", node)
                current = None                                 # until its output is taken
                continue
        elif node.op == "call_function" and node.target in functions:
            if functions[node.target] == "softmax" and node.kwargs.get(
                    "dim", node.args[1] if len(node.args) > 1 else None) != -1:
                raise NotImplementedError(f"{where}: softmax must be over dim=-1")
            chain.add_activation(functions[node.target], where)
        elif node.op == "call_method" and node.target == "contiguous":
            pass
        elif node.op == "call_method" and node.target in methods:
            chain.add_activation(methods[node.target], where)
        else:
            raise NotImplementedError(f"{where}: an operation fastrnn cannot run")
        kinds[node], current = "sequence", node
    return chain


def from_torch(obj: Any, *, weights_only: bool = True, isa: str | None = None,
               precision: str = "float32"):
    """A fastrnn.Sequential computing what a PyTorch module computes.

    Parameters
    ----------
    obj : torch.nn.Module, or the path of a file saved with ``torch.save``
        holding a whole module. (A state dict does not say the architecture:
        build the layers with ``lstm_from_state_dict`` and its siblings.)
    weights_only : bool
        Passed to ``torch.load``. A whole module is a pickle, which loading
        executes: pass False only for a file you trust.
    isa, precision : see ``fastrnn.Sequential``.
    """
    torch = _torch()
    if isinstance(obj, (str, os.PathLike)):
        try:
            obj = torch.load(obj, map_location="cpu", weights_only=weights_only)
        except FileNotFoundError:
            raise
        except Exception as error:
            if weights_only and "weights_only" in str(error):
                raise ValueError(f"{os.fspath(obj)!r} holds a whole pickled module, which "
                                 "torch.load only reads with weights_only=False (that runs "
                                 "code from the file): pass weights_only=False if you trust "
                                 "it") from None
            raise
        if isinstance(obj, dict):
            raise ValueError("this file holds a state dict, which does not say the "
                             "architecture: build the layers with fastrnn.io.torch."
                             "lstm_from_state_dict / gru_from_state_dict / "
                             "rnn_from_state_dict / linear_from_state_dict")
    if not isinstance(obj, torch.nn.Module):
        raise TypeError(f"expected a torch.nn.Module or a path, got {type(obj).__name__}")
    leaves = (torch.nn.Sequential, torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN, torch.nn.Linear)
    if isinstance(obj, leaves):
        chain = _Chain()
        chain.add_module(obj, type(obj).__name__)
    else:
        chain = _trace(obj)
    if not chain.layers:
        raise ValueError(f"{type(obj).__name__}: no layers fastrnn can run")
    return Sequential(chain.layers, isa=isa, precision=precision)


def _state_dict_layers(state_dict: dict, prefix: str, kind: str, num_layers: int,
                       bidirectional: bool, activation: str = "tanh") -> list:
    prefix = f"{prefix}." if prefix else ""
    expected = f"{prefix}weight_ih_l0"
    if expected not in state_dict:
        found = sorted(k for k in state_dict if k.startswith(prefix))[:6]
        raise KeyError(f"no {expected!r} in the state dict (keys under {prefix!r}: {found})")
    return _recurrent_layers(lambda name: state_dict.get(prefix + name), kind, num_layers,
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
