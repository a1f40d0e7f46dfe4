"""The native model file: one safetensors container.

Tensors are the layers' weights in the canonical layout, named
``layers.<index>.<name>`` (``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh`` for LSTM/GRU/SimpleRNN; ``weight``, ``bias`` for Dense), float32. The
safetensors metadata holds:

- ``format``: ``"fastrnn"``
- ``format_version``: ``"1"``
- ``fastrnn_version``: the version that wrote the file
- ``architecture``: JSON, ``{"layers": [{"type": "LSTM", "input_size": 40,
  "hidden_size": 128, "return_sequences": true}, {"type": "GRU", ...,
  "reset_after": true}, {"type": "SimpleRNN", ..., "activation": "tanh"},
  {"type": "Dense", "input_size": 128, "output_size": 10,
  "activation": "softmax"}]}``; a Bidirectional layer is
  ``{"type": "Bidirectional", "merge_mode": "concat", "forward": {...},
  "backward": {...}}`` with tensors ``layers.<index>.forward.<name>`` and
  ``layers.<index>.backward.<name>``

Reading goes through safetensors' memory map: every size is checked against
the header, and the header against the file's real size, before any tensor is
read. ``Sequential.save`` is this module's ``save``, attached to the class at
the end of the module.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import numpy as np

from ..errors import FormatError
from ..layers import GRU, RECURRENT_LAYERS, Bidirectional, Dense, SimpleRNN
from ..model import Sequential, check_stack
from ..runtime import __version__

FORMAT = "fastrnn"
FORMAT_VERSION = 1

_TENSORS = {**{kind: ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
               for kind in RECURRENT_LAYERS},
            "Dense": ("weight", "bias")}


def _safetensors():
    try:
        import safetensors.numpy
        from safetensors import safe_open
    except ImportError as error:  # pragma: no cover - a core dependency
        raise ImportError("fastrnn model files need the safetensors package: "
                          "pip install safetensors") from error
    return safetensors.numpy, safe_open


def _describe(layer) -> dict:
    if isinstance(layer, Bidirectional):
        return {"type": "Bidirectional", "merge_mode": layer.merge_mode,
                "forward": _describe(layer.forward), "backward": _describe(layer.backward)}
    if isinstance(layer, Dense):
        return {"type": "Dense", "input_size": layer.input_size,
                "output_size": layer.output_size, "activation": layer.activation}
    entry = {"type": layer.kind, "input_size": layer.input_size,
             "hidden_size": layer.hidden_size, "return_sequences": layer.return_sequences,
             "go_backwards": layer.go_backwards}
    if isinstance(layer, GRU):
        entry["reset_after"] = layer.reset_after
    if isinstance(layer, SimpleRNN):
        entry["activation"] = layer.activation
    return entry


def _collect(layer, prefix: str, tensors: dict) -> None:
    """The tensors of `layer` into `tensors`, named prefix + tensor name."""
    kind = _describe(layer)["type"]
    if kind == "Bidirectional":
        _collect(layer.forward, prefix + "forward.", tensors)
        _collect(layer.backward, prefix + "backward.", tensors)
        return
    for name in _TENSORS[kind]:
        value = getattr(layer, name)
        if value is not None:
            tensors[prefix + name] = np.ascontiguousarray(value, np.float32)


def save(model, path: str | os.PathLike) -> None:
    """Write `model` (a fastrnn.Sequential) to `path`, atomically: a reader
    never sees a half-written file."""
    numpy_api, _ = _safetensors()
    tensors = {}
    for index, layer in enumerate(model.layers):
        _collect(layer, f"layers.{index}.", tensors)
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                "fastrnn_version": __version__,
                "architecture": json.dumps({"layers": [_describe(layer) for layer in model.layers],
                                            "mask_value": model.mask_value})}
    if model.metadata:
        try:
            metadata["metadata"] = json.dumps(model.metadata, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"model.metadata: expected JSON-serialisable data "
                             f"(dicts, lists, strings, finite numbers): {error}") from None
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".fastrnn-", dir=directory)
    os.close(handle)
    try:
        numpy_api.save_file(tensors, temporary, metadata=metadata)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _field(entry: dict, name: str, kind: type, index: int) -> Any:
    value = entry.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FormatError(f"layer {index}: expected {name!r} of type {kind.__name__}, "
                          f"got {value!r}")
    return value


def _expected_shapes(entry: dict, index: int) -> dict:
    kind = entry.get("type")
    if kind not in _TENSORS:
        raise FormatError(f"layer {index}: unknown layer type {kind!r}; expected one of "
                          f"{sorted(_TENSORS)}")
    inputs = _field(entry, "input_size", int, index)
    if kind == "Dense":
        outputs = _field(entry, "output_size", int, index)
        _field(entry, "activation", str, index)
        return {"weight": (outputs, inputs), "bias": (outputs,)}
    hidden = _field(entry, "hidden_size", int, index)
    _field(entry, "return_sequences", bool, index)
    if kind == "GRU":
        _field(entry, "reset_after", bool, index)
    if kind == "SimpleRNN":
        _field(entry, "activation", str, index)
    rows = RECURRENT_LAYERS[kind].gates * hidden
    return {"weight_ih": (rows, inputs), "weight_hh": (rows, hidden), "bias_ih": (rows,),
            "bias_hh": (rows,)}


def _read_layer(file, names: set, path: str, entry: Any, prefix: str, index: int):
    """The layer described by `entry`, its tensors read from `file` under
    `prefix` (and removed from `names`)."""
    if isinstance(entry, dict) and entry.get("type") == "Bidirectional":
        merge_mode = entry.get("merge_mode")
        directions = [_read_layer(file, names, path, entry.get(direction), f"{prefix}{direction}.",
                                  index) for direction in ("forward", "backward")]
        try:
            return Bidirectional(*directions, merge_mode=merge_mode)
        except (ValueError, TypeError) as error:
            raise FormatError(f"{path!r}: layer {index}: {error}") from None
    if not isinstance(entry, dict):
        raise FormatError(f"{path!r}: layer {index}: expected an object, got {entry!r}")
    try:
        shapes = _expected_shapes(entry, index)
    except FormatError as error:
        raise FormatError(f"{path!r}: {error}") from None
    arrays = {}
    for name, shape in shapes.items():
        key = prefix + name
        if key not in names:
            if name.startswith("bias"):
                continue
            raise FormatError(f"{path!r}: tensor {key!r} is missing")
        names.discard(key)
        view = file.get_slice(key)
        if view.get_dtype() != "F32" or tuple(view.get_shape()) != shape:
            raise FormatError(f"{path!r}: tensor {key!r} is {view.get_dtype()} "
                              f"{tuple(view.get_shape())}, expected F32 {shape}")
        arrays[name] = file.get_tensor(key)
    try:
        if entry["type"] == "Dense":
            return Dense(arrays["weight"], arrays.get("bias"), entry["activation"])
        cls = RECURRENT_LAYERS[entry["type"]]
        options = ({"reset_after": entry["reset_after"]} if cls is GRU else
                   {"activation": entry["activation"]} if cls is SimpleRNN else {})
        return cls(arrays["weight_ih"], arrays["weight_hh"], arrays.get("bias_ih"),
                   arrays.get("bias_hh"), return_sequences=entry["return_sequences"],
                   go_backwards=entry.get("go_backwards") is True, **options)
    except (ValueError, TypeError) as error:
        raise FormatError(f"{path!r}: layer {index}: {error}") from None


def load(path: str | os.PathLike, *, isa: str | None = None, precision: str = "float32"):
    """Read a model written by ``Sequential.save``.

    Raises
    ------
    FormatError
        The file is truncated, corrupted, of a newer format version, or not a
        fastrnn model file.
    FileNotFoundError
        No file at `path`.
    """
    _, safe_open = _safetensors()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no fastrnn model file at {path!r}")
    try:
        handle = safe_open(path, framework="np")
    except Exception as error:  # safetensors raises its own error type for every damage
        raise FormatError(f"{path!r} is not a readable model file: {error}") from None
    with handle as file:
        metadata = file.metadata() or {}
        if metadata.get("format") != FORMAT:
            raise FormatError(f"{path!r} is a safetensors file but not a fastrnn model "
                              f"(metadata 'format' is {metadata.get('format')!r})")
        version = metadata.get("format_version", "")
        if not version.isdigit():
            raise FormatError(f"{path!r}: format_version {version!r} is not a number")
        if int(version) > FORMAT_VERSION:
            raise FormatError(f"{path!r} has format version {version}, written by fastrnn "
                              f"{metadata.get('fastrnn_version', '?')}; this fastrnn reads "
                              f"versions up to {FORMAT_VERSION}: upgrade fastrnn")
        try:
            architecture = json.loads(metadata.get("architecture", ""))
            entries = architecture["layers"]
        except (ValueError, TypeError, KeyError):
            raise FormatError(f"{path!r}: the architecture metadata is not valid JSON with "
                              "a 'layers' list") from None
        if (not isinstance(entries, list) or not entries
                or not all(isinstance(entry, dict) for entry in entries)):
            raise FormatError(f"{path!r}: expected a non-empty list of layers, got {entries!r}")

        names = set(file.keys())
        layers = [_read_layer(file, names, path, entry, f"layers.{index}.", index)
                  for index, entry in enumerate(entries)]
        if names:
            raise FormatError(f"{path!r}: unexpected tensors {sorted(names)[:5]}")
    try:
        check_stack(layers)
    except ValueError as error:
        raise FormatError(f"{path!r}: the layers do not form a model: {error}") from None
    mask_value = architecture.get("mask_value")
    if mask_value is not None and not isinstance(mask_value, (int, float)):
        raise FormatError(f"{path!r}: mask_value {mask_value!r} is not a number")
    try:
        model_metadata = json.loads(metadata.get("metadata", "{}"))
    except ValueError:
        raise FormatError(f"{path!r}: the model metadata is not valid JSON") from None
    if not isinstance(model_metadata, dict):
        raise FormatError(f"{path!r}: expected the model metadata to be a JSON object, got "
                          f"{type(model_metadata).__name__}")
    return Sequential(layers, isa=isa, precision=precision, mask_value=mask_value,
                      metadata=model_metadata)


Sequential.save = save
