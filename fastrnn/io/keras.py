"""Keras 3 layouts, converted to fastrnn's canonical (PyTorch) layout.

Keras stores ``kernel (I, G*H)`` and ``recurrent_kernel (H, G*H)`` (inputs
along rows, so transposed relative to PyTorch), and:

- LSTM: gate order i, f, c, o (= canonical i, f, g, o); one bias (4H,).
- GRU: gate order z, r, h, canonical is r, z, n: the first two gate blocks
  swap (``GRU_ORDER``). With ``reset_after=True`` the bias is (2, 3H): row 0
  is the input bias, row 1 the recurrent bias; with ``reset_after=False`` it
  is one input bias (3H,).
- SimpleRNN: no gates; one bias (H,).
- Dense: ``kernel (I, O)``.

The layers' Keras constructors (``fastrnn.LSTM.from_keras``, ``GRU``,
``SimpleRNN``, ``Dense``) are defined here, beside the conversions they use,
and attached to the classes at the end of this module.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from typing import Any

import numpy as np

from ..errors import FormatError
from ..layers import ACTIVATIONS, GRU, LSTM, Bidirectional, Dense, SimpleRNN, to_numpy
from ..model import Sequential
from .convert import fold_activation, reorder_gates

GRU_ORDER = (1, 0, 2)          # Keras blocks z, r, h -> canonical r, z, n


def _swap_zr(blocks: np.ndarray, hidden_size: int) -> np.ndarray:
    return reorder_gates(blocks, GRU_ORDER, hidden_size)


def _transposed(kernel: Any, name: str) -> np.ndarray:
    array = to_numpy(kernel)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got shape {array.shape}")
    return array.T


def _check_gate_columns(kind: str, gates: int, weight_ih: np.ndarray,
                        weight_hh: np.ndarray) -> int:
    """Check the Keras kernels' columns (rows once transposed) against
    ``gates * units``, naming the arrays as the caller passed them; returns units."""
    hidden_size = weight_hh.shape[1]
    for name, weight in (("kernel", weight_ih), ("recurrent_kernel", weight_hh)):
        if weight.shape[0] != gates * hidden_size:
            raise ValueError(f"{kind} {name}: expected {gates * hidden_size} columns "
                             f"({gates} * units) for units={hidden_size} (the rows of "
                             f"recurrent_kernel), got {weight.shape[0]}")
    return hidden_size


def lstm_weights(kernel: Any, recurrent_kernel: Any, bias: Any = None):
    """Keras LSTM (kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,)) ->
    (weight_ih, weight_hh, bias_ih, bias_hh) in canonical layout."""
    weight_ih = _transposed(kernel, "LSTM kernel")
    weight_hh = _transposed(recurrent_kernel, "LSTM recurrent_kernel")
    _check_gate_columns("LSTM", 4, weight_ih, weight_hh)
    return weight_ih, weight_hh, to_numpy(bias), None


def gru_weights(kernel: Any, recurrent_kernel: Any, bias: Any = None, reset_after: bool = True):
    """Keras GRU (kernel (I, 3H), recurrent_kernel (H, 3H), bias (2, 3H) when
    reset_after else (3H,)) -> (weight_ih, weight_hh, bias_ih, bias_hh)."""
    weight_ih = _transposed(kernel, "GRU kernel")
    weight_hh = _transposed(recurrent_kernel, "GRU recurrent_kernel")
    hidden_size = _check_gate_columns("GRU", 3, weight_ih, weight_hh)
    bias_ih = bias_hh = None
    if bias is not None:
        bias = to_numpy(bias)
        expected = (2, 3 * hidden_size) if reset_after else (3 * hidden_size,)
        if bias.shape != expected:
            raise ValueError(f"GRU bias with reset_after={reset_after}: expected shape "
                             f"{expected}, got {bias.shape}")
        if reset_after:
            bias_ih, bias_hh = _swap_zr(bias[0], hidden_size), _swap_zr(bias[1], hidden_size)
        else:
            bias_ih = _swap_zr(bias, hidden_size)
    return _swap_zr(weight_ih, hidden_size), _swap_zr(weight_hh, hidden_size), bias_ih, bias_hh


def simple_rnn_weights(kernel: Any, recurrent_kernel: Any, bias: Any = None):
    """Keras SimpleRNN (kernel (I, H), recurrent_kernel (H, H), bias (H,)) ->
    (weight_ih, weight_hh, bias_ih, bias_hh)."""
    weight_ih = _transposed(kernel, "SimpleRNN kernel")
    weight_hh = _transposed(recurrent_kernel, "SimpleRNN recurrent_kernel")
    _check_gate_columns("SimpleRNN", 1, weight_ih, weight_hh)
    return weight_ih, weight_hh, to_numpy(bias), None


def dense_weights(kernel: Any, bias: Any = None):
    """Keras Dense (kernel (I, O), bias (O,)) -> (weight (O, I), bias)."""
    return _transposed(kernel, "Dense kernel"), to_numpy(bias)


# --- the layers' Keras constructors ------------------------------------------

def _lstm_from_keras(cls, kernel: Any, recurrent_kernel: Any, bias: Any = None, *,
                     return_sequences: bool = True, go_backwards: bool = False) -> LSTM:
    """From Keras' ``kernel (I, 4H)``, ``recurrent_kernel (H, 4H)``, ``bias (4H,)``."""
    return cls(*lstm_weights(kernel, recurrent_kernel, bias),
               return_sequences=return_sequences, go_backwards=go_backwards)


def _gru_from_keras(cls, kernel: Any, recurrent_kernel: Any, bias: Any = None,
                    reset_after: bool = True, *, return_sequences: bool = True,
                    go_backwards: bool = False) -> GRU:
    """From Keras' ``kernel (I, 3H)``, ``recurrent_kernel (H, 3H)`` (gate order
    z, r, h) and ``bias``: (2, 3H) when ``reset_after``, else (3H,)."""
    return cls(*gru_weights(kernel, recurrent_kernel, bias, reset_after),
               reset_after=reset_after, return_sequences=return_sequences,
               go_backwards=go_backwards)


def _simple_rnn_from_keras(cls, kernel: Any, recurrent_kernel: Any, bias: Any = None, *,
                           activation: str = "tanh", return_sequences: bool = True,
                           go_backwards: bool = False) -> SimpleRNN:
    """From Keras' ``kernel (I, H)``, ``recurrent_kernel (H, H)``, ``bias (H,)``."""
    return cls(*simple_rnn_weights(kernel, recurrent_kernel, bias), activation=activation,
               return_sequences=return_sequences, go_backwards=go_backwards)


def _dense_from_keras(cls, kernel: Any, bias: Any = None,
                      activation: str | None = None) -> Dense:
    """From Keras' ``kernel (I, O)`` and ``bias (O,)``."""
    return cls(*dense_weights(kernel, bias), activation)


# --- whole models -----------------------------------------------------------

_DEFAULT_RECURRENT = {"activation": "tanh", "recurrent_activation": "sigmoid"}


def _h5py():
    try:
        import h5py
    except ImportError as error:
        raise ImportError("reading Keras files needs h5py: pip install 'fastrnn[keras]'") from error
    return h5py


def _layer_entries_from_file(path: str) -> list:
    """[(class_name, config, weights)] of a .keras or legacy .h5 file, read with
    zipfile/json/h5py (no Keras needed)."""
    h5py = _h5py()
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
                weights_file = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
            layers = _model_layers(config)
            with weights_file:
                return [(layer["class_name"], layer["config"], _keras_v3_weights(weights_file, key))
                        for layer, key in zip(layers, _saving_keys(layers))]
        with h5py.File(path, "r") as file:
            config = json.loads(file.attrs["model_config"])
            group = file["model_weights"] if "model_weights" in file else file
            entries = []
            for layer in _model_layers(config):
                name = layer["config"]["name"]
                weights = []
                if name in group:
                    names = [n.decode() if isinstance(n, bytes) else n
                             for n in group[name].attrs.get("weight_names", [])]
                    weights = [np.asarray(group[name][n]) for n in names]
                entries.append((layer["class_name"], layer["config"], weights))
            return entries
    except (OSError, KeyError, ValueError, TypeError) as error:
        raise FormatError(f"{path!r} is not a readable Keras model file "
                          f"({type(error).__name__}: {error})") from None


def _snake_case(name: str) -> str:
    """Keras' naming.to_snake_case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _saving_keys(layers: list) -> list:
    """The names a Keras 3 weights file keys layers by: the snake-cased class
    name, then _1, _2, ... for the next layers of the same class."""
    keys, used = [], {}
    for layer in layers:
        name = _snake_case(layer["class_name"])
        keys.append(name if name not in used else f"{name}_{used[name] + 1}")
        used[name] = used.get(name, -1) + 1
    return keys


def _keras_v3_weights(file, name: str) -> list:
    """A layer's variables in a Keras 3 weights file: every `.../vars/<n>`
    under layers/<name>, forward layer before backward, in order of n."""
    if f"layers/{name}" not in file:
        return []
    found = []
    file[f"layers/{name}"].visititems(
        lambda path, item: found.append((path, item)) if path.rsplit("/", 2)[-2:-1] == ["vars"]
        else None)
    found.sort(key=lambda entry: ("backward" in entry[0], entry[0].rsplit("/", 1)[0],
                                  int(entry[0].rsplit("/", 1)[1])))
    return [np.asarray(item) for _, item in found]


def _model_layers(config: dict) -> list:
    """The layer configs of a Sequential or chain-shaped Functional model config."""
    kind = config.get("class_name")
    layers = config.get("config", {}).get("layers")
    if kind not in ("Sequential", "Functional", "Model") or not isinstance(layers, list):
        raise FormatError(f"expected a Keras Sequential or Functional model, got {kind!r}")
    if kind != "Sequential":
        for previous, layer in zip(layers, layers[1:]):
            inbound = json.dumps(layer.get("inbound_nodes", []))
            if f'"{previous["config"]["name"]}"' not in inbound or inbound.count(
                    "keras_history") != 1:
                raise NotImplementedError(f"layer {layer['config']['name']!r} does not take the "
                                          f"previous layer {previous['config']['name']!r} as "
                                          "its only input: fastrnn runs chains of layers")
    return layers


def _check_recurrent_config(kind: str, config: dict) -> None:
    name = config.get("name")
    for option in ("return_state", "stateful"):
        if config.get(option):
            raise NotImplementedError(f"{kind} {name!r}: {option}=True is not supported")
    if kind == "SimpleRNN":
        if config.get("activation") not in ("tanh", "relu"):
            raise NotImplementedError(f"SimpleRNN {name!r}: activation "
                                      f"{config.get('activation')!r}; fastrnn has tanh and relu")
        return
    for option, default in _DEFAULT_RECURRENT.items():
        if config.get(option, default) != default:
            raise NotImplementedError(f"{kind} {name!r}: {option}={config.get(option)!r}; "
                                      f"fastrnn's {kind} kernels use {default}")


def _recurrent_layer(kind: str, config: dict, weights: list, backward: bool = False):
    """backward: the backward half of a Bidirectional, which Keras builds with
    go_backwards=True and fastrnn's Bidirectional reverses itself."""
    _check_recurrent_config(kind, config)
    kernel, recurrent_kernel = weights[0], weights[1]
    bias = weights[2] if config.get("use_bias", True) and len(weights) > 2 else None
    options = {"return_sequences": bool(config.get("return_sequences", False)),
               "go_backwards": bool(config.get("go_backwards", False)) and not backward}
    if kind == "LSTM":
        return LSTM.from_keras(kernel, recurrent_kernel, bias, **options)
    if kind == "GRU":
        return GRU.from_keras(kernel, recurrent_kernel, bias,
                              reset_after=bool(config.get("reset_after", True)), **options)
    return SimpleRNN.from_keras(kernel, recurrent_kernel, bias,
                                activation=config.get("activation", "tanh"), **options)


def _dense_layer(config: dict, weights: list):
    activation = config.get("activation", "linear")
    if activation not in ACTIVATIONS:
        raise NotImplementedError(f"Dense {config.get('name')!r}: activation {activation!r}; "
                                  f"fastrnn has {ACTIVATIONS}")
    bias = weights[1] if config.get("use_bias", True) and len(weights) > 1 else None
    return Dense.from_keras(weights[0], bias, activation)


def _convert(entries: list):
    """fastrnn layers and the Masking value from [(class_name, config, weights)]."""
    layers, mask_value = [], None
    for kind, config, weights in entries:
        name = config.get("name")
        if kind in ("InputLayer", "Dropout", "SpatialDropout1D", "GaussianNoise",
                    "GaussianDropout", "AlphaDropout"):
            continue
        if kind == "Masking":
            if layers:
                raise NotImplementedError(f"Masking {name!r} must come first")
            mask_value = float(config.get("mask_value", 0.0))
        elif kind in ("LSTM", "GRU", "SimpleRNN"):
            layers.append(_recurrent_layer(kind, config, weights))
        elif kind == "Dense":
            layers.append(_dense_layer(config, weights))
        elif kind == "TimeDistributed":
            inner = config["layer"]
            if inner["class_name"] != "Dense":
                raise NotImplementedError(f"TimeDistributed {name!r}: only Dense inside is "
                                          f"supported, got {inner['class_name']}")
            layers.append(_dense_layer(inner["config"], weights))
        elif kind == "Activation":
            activation = config.get("activation")
            if activation not in ACTIVATIONS:
                raise NotImplementedError(f"Activation {name!r}: {activation!r} is not one of "
                                          f"fastrnn's activations {ACTIVATIONS}")
            fold_activation(layers, activation, f"Activation {name!r} ({activation!r})")
        elif kind == "Bidirectional":
            merge_mode = config.get("merge_mode")
            if merge_mode not in Bidirectional.MERGE_MODES:
                raise NotImplementedError(f"Bidirectional {name!r}: merge_mode {merge_mode!r}")
            inner = config["layer"]
            backward_config = config.get("backward_layer", inner)
            half = len(weights) // 2
            layers.append(Bidirectional(
                _recurrent_layer(inner["class_name"], inner["config"], weights[:half]),
                _recurrent_layer(backward_config["class_name"], backward_config["config"],
                                 weights[half:], backward=True), merge_mode))
        else:
            raise NotImplementedError(f"{kind} {name!r}: not a layer fastrnn can run")
    return layers, mask_value


def from_keras(model_or_path: Any, *, isa: str | None = None, precision: str = "float32"):
    """A fastrnn.Sequential computing what a Keras 3 model computes.

    Parameters
    ----------
    model_or_path : a live Keras model, or the path of a ``.keras`` or legacy
        ``.h5`` file (read with zipfile, json and h5py: Keras is not needed).
    isa, precision : see ``fastrnn.Sequential``.

    Supports InputLayer, LSTM, GRU (both reset_after), SimpleRNN, Dense,
    TimeDistributed(Dense), Activation (folded into the Dense before it),
    Dropout, Bidirectional (concat, sum, mul, ave) and a leading Masking
    (``Sequential.mask_value``); anything else raises NotImplementedError
    naming the layer.
    """
    if isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no Keras model file at {path!r}")
        entries = _layer_entries_from_file(path)
    else:
        model = model_or_path
        if not hasattr(model, "get_config") or not hasattr(model, "layers"):
            raise TypeError(f"expected a Keras model or a path, got {type(model).__name__}")
        configs = {layer["config"]["name"]: layer for layer in _model_layers(
            {"class_name": type(model).__name__, "config": model.get_config()})}
        entries = [(configs[layer.name]["class_name"], configs[layer.name]["config"],
                    [np.asarray(w) for w in layer.get_weights()])
                   for layer in model.layers if layer.name in configs]
    layers, mask_value = _convert(entries)
    if not layers:
        raise ValueError("the Keras model has no layers fastrnn can run")
    if mask_value is not None and any(getattr(layer, "go_backwards", False) for layer in layers):
        raise NotImplementedError("Masking with a go_backwards layer (Keras passes the mask on "
                                  "unreversed) is not supported")
    return Sequential(layers, isa=isa, precision=precision, mask_value=mask_value)


LSTM.from_keras = classmethod(_lstm_from_keras)
GRU.from_keras = classmethod(_gru_from_keras)
SimpleRNN.from_keras = classmethod(_simple_rnn_from_keras)
Dense.from_keras = classmethod(_dense_from_keras)
