"""The native model file: one safetensors container holding a model graph.

Format version 2 (what ``save`` writes). The safetensors metadata holds:

- ``format``: ``"fastrnn"``; ``format_version``: ``"2"``; ``fastrnn_version``:
  the version that wrote the file
- ``architecture``: JSON, the graph::

    {"inputs": [{"name": "features", "features": 12}],
     "nodes": [{"name": "conv1", "inputs": ["features"],
                "layer": {"type": "Conv1d", "input_size": 12, "output_size": 8,
                          "kernel_size": 3, "stride": 1, "dilation": 1,
                          "groups": 1, "padding": [0, 0]}},
               {"name": "gru1", "inputs": ["conv1"], "layer": {"type": "GRU", ...}},
               ...],
     "outputs": [{"name": "gains", "tensor": "gains"}, ...],
     "mask_value": null, "sequential": false}

  A tensor of the graph is named by the input or the node that makes it
  (one namespace); a node reads only tensors named before it, so the graph
  has no cycles. ``sequential``: the model is a ``Sequential`` (one input
  ``input0``, nodes ``layer<i>`` each reading the one before, one output
  ``output0``) and loads as one.
- ``metadata`` (optional): JSON object, the model's ``metadata``

Tensors: node ``i``'s weights in the canonical layout, float32, named
``nodes.<i>.<tensor>``. The layers (``_FORMATS``: every field required, no
other; tensors marked * optional; F the features of the first tensor read):

=============  ===========================================================
LSTM, GRU,     input_size, hidden_size, return_sequences, go_backwards;
SimpleRNN      GRU reset_after, SimpleRNN activation ("tanh", "relu");
               weight_ih (G H, I), weight_hh (G H, H), bias_ih*, bias_hh*
Bidirectional  merge_mode, forward, backward (two recurrent layers);
               forward.<tensor>, backward.<tensor>
Dense          input_size, output_size, activation; weight (O, I), bias*
Conv1d         input_size, output_size, kernel_size, stride, dilation,
               groups, padding ([left, right], or "same" by the sequence's
               length, strided); weight (O, I / groups, K), bias* (O,)
Pool1d         pool, kernel_size, stride, padding, count_padding,
               replicate_edges (true, false or "uneven")
GlobalPool     pool
Activation     op, parameters ({name: number}; clip's unbounded min and max
               left out); prelu: slopes (1,) or (F,)
Affine         features; scale*, shift* (features,)
LayerNorm      features, eps; weight*, bias* (features,)
Elementwise    op, constant_first; constant* (1,) or (F,) (then one input)
Concatenate    -
Slice          begin, end
Reduce         op
=============  ===========================================================

The layer a node's fields and tensors make must have exactly those fields
(nothing is coerced, nothing disagrees).

Format version 1 (read only): ``architecture`` is ``{"layers": [<layer>,
...], "mask_value": ...}``, a Sequential's layers (LSTM, GRU, SimpleRNN,
Bidirectional, Dense, configured as in version 2, ``go_backwards`` optional)
and tensors ``layers.<i>.<tensor>``.

Reading checks everything before it allocates: safetensors checks every
tensor's size against the header and the header against the file's real
size; the JSON texts are at most ``MAX_JSON_CHARS`` and parsed without NaN,
infinities or repeated keys; every field is checked for its type and range
(sizes at most ``MAX_SIZE``, the engine's bound), every tensor's dtype and
shape against the configuration before it is read, and the graph (at most
``MAX_NODES`` nodes, ``MAX_GRAPH_FEATURES`` features summed over its
tensors) before it is packed. Every failure is a ``FormatError`` naming the
file and the problem. ``Model.save`` is this module's ``save``, attached to
the class at the end of the module.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from typing import Any, Callable, NamedTuple

import numpy as np

from .._engine import BINARY_OPS, POOLS, REDUCTIONS, SAME_LENGTH, UNARY_OPS
from .._engine import available_isas, available_precisions
from ..errors import FormatError
from ..layers import (ACTIVATIONS, MERGE_MODES, RECURRENT_LAYERS, Activation, Affine,
                      Bidirectional, Concatenate, Conv1d, Dense, Elementwise, GlobalPool, Input,
                      Layer, LayerNorm, Pool1d, Reduce, Slice)
from ..model import Model, Sequential, graph_nodes
from ..runtime import __version__, default_isa

FORMAT = "fastrnn"
FORMAT_VERSION = 2
MAX_SIZE = 1 << 20            # features, units, kernel, stride, dilation, padding (FR_MAX_SIZE)
MAX_NODES = 4096              # nodes (and inputs, outputs) of a graph
MAX_GRAPH_FEATURES = 1 << 22  # features summed over a graph's tensors: bounds what packing
#                               allocates beyond the file's tensors (default scales, ...)
MAX_JSON_CHARS = 1 << 20      # each of the architecture and metadata texts
MAX_NAME_CHARS = 256          # an input, node or output name
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_RECURRENT_TYPES = tuple(RECURRENT_LAYERS)   # compared by ==: a value read may be unhashable


class _Invalid(Exception):
    """A problem with the file; ``load`` makes it a FormatError naming the file."""


def _safetensors():
    try:
        import safetensors.numpy
        from safetensors import safe_open
    except ImportError as error:  # pragma: no cover - a core dependency
        raise ImportError("fastrnn model files need the safetensors package: "
                          "pip install safetensors") from error
    return safetensors.numpy, safe_open


def _shown(value: Any) -> str:
    """A value read from a file, for a message: short, and never the whole of
    a large or deeply nested one."""
    if isinstance(value, (list, dict)):
        items = value.values() if isinstance(value, dict) else value
        if len(value) > 8 or any(isinstance(item, (list, dict)) for item in items):
            return f"a JSON {'array' if isinstance(value, list) else 'object'} of {len(value)}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- field checks: the value read from a file -> the value a layer takes --------------------

def _integer(low: int, high: int) -> Callable:
    def check(value: Any) -> int:
        if type(value) is not int or not low <= value <= high:
            raise ValueError(f"expected an integer in [{low}, {high}], got {_shown(value)}")
        return value
    return check


_size = _integer(1, MAX_SIZE)
_offset = _integer(0, MAX_SIZE)


def _flag(value: Any) -> bool:
    if type(value) is not bool:
        raise ValueError(f"expected true or false, got {_shown(value)}")
    return value


def _replicate(value: Any) -> bool | str:
    """Pool1d's replicate_edges: true, false or "uneven"."""
    if type(value) is not bool and value != "uneven":
        raise ValueError(f"expected true, false or \"uneven\", got {_shown(value)}")
    return value


def _choice(options) -> Callable:
    options = tuple(options)

    def check(value: Any) -> str:
        if type(value) is not str or value not in options:
            raise ValueError(f"expected one of {list(options)}, got {_shown(value)}")
        return value
    return check


def _finite(value: Any) -> float:
    """A number within float32's finite range."""
    if type(value) not in (int, float) or not abs(value) <= _FLOAT32_MAX:
        raise ValueError(f"expected a finite float32 number, got {_shown(value)}")
    return float(value)


def _padding(value: Any) -> Any:
    """[left, right] frames, or "same" (padding from each sequence's length)."""
    if value == "same":
        return value
    if (type(value) is not list or len(value) != 2
            or any(type(p) is not int or not 0 <= p <= MAX_SIZE for p in value)):
        raise ValueError(f"expected [left, right] with each in [0, {MAX_SIZE}], or 'same', "
                         f"got {_shown(value)}")
    return tuple(value)


def _parameters(value: Any) -> dict:
    if (type(value) is not dict or len(value) > 8
            or any(type(key) is not str for key in value)):
        raise ValueError(f"expected an object of at most 8 named numbers, got {_shown(value)}")
    return {key: _finite(number) for key, number in value.items()}


def _write_padding(layer: Layer) -> Any:
    left, right = layer.padding
    return "same" if left == SAME_LENGTH else [left, right]


def _write_parameters(layer: Activation) -> dict:
    """The activation's finite parameters (a left-out one takes its default:
    clip's unbounded min and max)."""
    written = {}
    for key, value in layer.parameters.items():
        if math.isfinite(value):
            written[key] = value
        elif value != Activation(layer.op, slopes=layer.slopes).parameters[key]:
            raise ValueError(f"{layer!r}: parameter {key}={value} is neither finite nor its "
                             "default: a model file cannot hold it")
    return written


# --- the layer types -------------------------------------------------------------------------

class Field(NamedTuple):
    """A configuration field: `check` validates a value read from a file,
    `write` takes it from a layer (default: the attribute of its name)."""
    check: Callable
    write: Callable | None = None


class LayerFormat(NamedTuple):
    """How a layer type is stored: its configuration fields, its tensors
    (name -> (allowed shapes, required), from the checked configuration and
    the features of the tensors the node reads; a name is the layer's
    attribute path) and how to build the layer from both."""
    cls: type
    fields: dict
    tensors: Callable
    build: Callable


def _recurrent_fields(kind: str) -> dict:
    fields = {"input_size": Field(_size), "hidden_size": Field(_size),
              "return_sequences": Field(_flag), "go_backwards": Field(_flag)}
    if kind == "GRU":
        fields["reset_after"] = Field(_flag)
    if kind == "SimpleRNN":
        fields["activation"] = Field(_choice(("tanh", "relu")))
    return fields


def _recurrent_tensors(config: dict, features: list) -> dict:
    rows = RECURRENT_LAYERS[config["type"]].gates * config["hidden_size"]
    return {"weight_ih": ({(rows, config["input_size"])}, True),
            "weight_hh": ({(rows, config["hidden_size"])}, True),
            "bias_ih": ({(rows,)}, False), "bias_hh": ({(rows,)}, False)}


def _build_recurrent(config: dict, arrays: dict) -> Layer:
    options = ({"reset_after": config["reset_after"]} if config["type"] == "GRU" else
               {"activation": config["activation"]} if config["type"] == "SimpleRNN" else {})
    return RECURRENT_LAYERS[config["type"]](
        arrays["weight_ih"], arrays["weight_hh"], arrays.get("bias_ih"), arrays.get("bias_hh"),
        return_sequences=config["return_sequences"], go_backwards=config["go_backwards"],
        **options)


def _direction(value: Any) -> dict:
    """A Bidirectional layer's direction: a recurrent layer's configuration."""
    if type(value) is not dict or value.get("type") not in _RECURRENT_TYPES:
        raise ValueError(f"expected a {' / '.join(RECURRENT_LAYERS)} layer, got {_shown(value)}")
    return _checked_config(value, tuple(RECURRENT_LAYERS))


def _bidirectional_tensors(config: dict, features: list) -> dict:
    return {f"{direction}.{name}": spec for direction in ("forward", "backward")
            for name, spec in _recurrent_tensors(config[direction], features).items()}


def _build_bidirectional(config: dict, arrays: dict) -> Layer:
    directions = [_build_recurrent(config[direction], {
        name[len(direction) + 1:]: array for name, array in arrays.items()
        if name.startswith(direction + ".")}) for direction in ("forward", "backward")]
    return Bidirectional(*directions, merge_mode=config["merge_mode"])


def _per_feature(features: list) -> set:
    """A vector of one value per feature of the first input, or one value."""
    return {(1,), (features[0],)}


_FORMATS = {
    **{kind: LayerFormat(cls, _recurrent_fields(kind), _recurrent_tensors, _build_recurrent)
       for kind, cls in RECURRENT_LAYERS.items()},
    "Bidirectional": LayerFormat(
        Bidirectional,
        {"merge_mode": Field(_choice(MERGE_MODES)),
         "forward": Field(_direction, lambda layer: layer_config(layer.forward)),
         "backward": Field(_direction, lambda layer: layer_config(layer.backward))},
        _bidirectional_tensors, _build_bidirectional),
    "Dense": LayerFormat(
        Dense,
        {"input_size": Field(_size), "output_size": Field(_size),
         "activation": Field(_choice(ACTIVATIONS))},
        lambda config, features: {
            "weight": ({(config["output_size"], config["input_size"])}, True),
            "bias": ({(config["output_size"],)}, False)},
        lambda config, arrays: Dense(arrays["weight"], arrays.get("bias"),
                                     config["activation"])),
    "Conv1d": LayerFormat(
        Conv1d,
        {"input_size": Field(_size), "output_size": Field(_size), "kernel_size": Field(_size),
         "stride": Field(_size), "dilation": Field(_size), "groups": Field(_size),
         "padding": Field(_padding, _write_padding)},
        lambda config, features: {
            "weight": ({(config["output_size"], config["input_size"] // config["groups"],
                         config["kernel_size"])}, True),
            "bias": ({(config["output_size"],)}, False)},
        lambda config, arrays: Conv1d(
            arrays["weight"], arrays.get("bias"), stride=config["stride"],
            dilation=config["dilation"], groups=config["groups"], padding=config["padding"])),
    "Pool1d": LayerFormat(
        Pool1d,
        {"pool": Field(_choice(POOLS)), "kernel_size": Field(_size), "stride": Field(_size),
         "padding": Field(_padding, _write_padding), "count_padding": Field(_flag),
         "replicate_edges": Field(_replicate)},
        lambda config, features: {},
        lambda config, arrays: Pool1d(
            config["pool"], config["kernel_size"], config["stride"], config["padding"],
            count_padding=config["count_padding"], replicate_edges=config["replicate_edges"])),
    "GlobalPool": LayerFormat(
        GlobalPool, {"pool": Field(_choice(("avg", "max")))}, lambda config, features: {},
        lambda config, arrays: GlobalPool(config["pool"])),
    "Activation": LayerFormat(
        Activation,
        {"op": Field(_choice(UNARY_OPS)), "parameters": Field(_parameters, _write_parameters)},
        lambda config, features: {"slopes": (_per_feature(features), config["op"] == "prelu")},
        lambda config, arrays: Activation(config["op"], slopes=arrays.get("slopes"),
                                          **config["parameters"])),
    "Affine": LayerFormat(
        Affine, {"features": Field(_size, lambda layer: layer.input_size)},
        lambda config, features: {"scale": ({(config["features"],)}, False),
                                  "shift": ({(config["features"],)}, False)},
        lambda config, arrays: Affine(arrays.get("scale"), arrays.get("shift"),
                                      config["features"])),
    "LayerNorm": LayerFormat(
        LayerNorm,
        {"features": Field(_size, lambda layer: layer.input_size), "eps": Field(_finite)},
        lambda config, features: {"weight": ({(config["features"],)}, False),
                                  "bias": ({(config["features"],)}, False)},
        lambda config, arrays: LayerNorm(config["features"], arrays.get("weight"),
                                         arrays.get("bias"), config["eps"])),
    "Elementwise": LayerFormat(
        Elementwise, {"op": Field(_choice(BINARY_OPS)), "constant_first": Field(_flag)},
        lambda config, features: {"constant": (_per_feature(features), False)},
        lambda config, arrays: Elementwise(config["op"], arrays.get("constant"),
                                           config["constant_first"])),
    "Concatenate": LayerFormat(Concatenate, {}, lambda config, features: {},
                               lambda config, arrays: Concatenate()),
    "Slice": LayerFormat(
        Slice, {"begin": Field(_offset), "end": Field(_size)}, lambda config, features: {},
        lambda config, arrays: Slice(config["begin"], config["end"])),
    "Reduce": LayerFormat(
        Reduce, {"op": Field(_choice(REDUCTIONS))}, lambda config, features: {},
        lambda config, arrays: Reduce(config["op"])),
}
_TYPES = {layer_format.cls: kind for kind, layer_format in _FORMATS.items()}
_VERSION_1_TYPES = (*RECURRENT_LAYERS, "Bidirectional", "Dense")


def _format_of(layer: Layer) -> tuple:
    kind = _TYPES.get(type(layer))
    if kind is None:
        raise ValueError(f"{layer!r}: a {type(layer).__name__} layer cannot be saved in a model "
                         f"file (it holds {sorted(_FORMATS)})")
    return kind, _FORMATS[kind]


def layer_config(layer: Layer) -> dict:
    """The configuration a model file stores for `layer` (its "type" and fields)."""
    kind, layer_format = _format_of(layer)
    return {"type": kind, **{name: field.write(layer) if field.write else getattr(layer, name)
                             for name, field in layer_format.fields.items()}}


def layer_tensors(layer: Layer, features: list) -> dict:
    """{name: array} of the tensors a model file stores for `layer` when it
    reads tensors of `features` (its absent optional tensors left out)."""
    _, layer_format = _format_of(layer)
    arrays = {}
    for name in layer_format.tensors(layer_config(layer), features):
        value = layer
        for attribute in name.split("."):
            value = getattr(value, attribute)
        if value is not None:
            arrays[name] = value
    return arrays


def _checked_config(entry: Any, types: tuple | None = None) -> dict:
    """`entry` as a layer configuration, every field checked (ValueError)."""
    if type(entry) is not dict:
        raise ValueError(f"expected a layer object, got {_shown(entry)}")
    kind = entry.get("type")
    if type(kind) is not str or kind not in (types or _FORMATS):
        raise ValueError(f"unknown layer type {_shown(kind)}; expected one of "
                         f"{sorted(types or _FORMATS)}")
    fields = _FORMATS[kind].fields
    unknown = sorted(set(entry) - set(fields) - {"type"})
    missing = sorted(set(fields) - set(entry))
    if unknown or missing:
        raise ValueError(f"{kind}: " + "; ".join(
            part for part in (unknown and f"unknown fields {unknown}",
                              missing and f"missing fields {missing}") if part))
    config = {"type": kind}
    for name, field in fields.items():
        try:
            config[name] = field.check(entry[name])
        except ValueError as error:
            raise ValueError(f"{kind} {name!r}: {error}") from None
    return config


def _read_layer(file, unread: set, entry: Any, prefix: str, features: list,
                types: tuple | None = None) -> Layer:
    """The layer configured by `entry`, its tensors (named `prefix` + name)
    checked against the configuration, then read from `file` (and removed
    from `unread`). Raises ValueError."""
    config = _checked_config(entry, types)
    layer_format = _FORMATS[config["type"]]
    arrays = {}
    for name, (shapes, required) in layer_format.tensors(config, features).items():
        key = prefix + name
        if key not in unread:
            if required:
                raise ValueError(f"tensor {key!r} is missing")
            continue
        unread.discard(key)
        view = file.get_slice(key)
        dtype, shape = view.get_dtype(), tuple(view.get_shape())
        if dtype != "F32" or shape not in shapes:
            raise ValueError(f"tensor {key!r} is {dtype} {shape}, expected F32 "
                             f"{' or '.join(map(str, sorted(shapes)))} from the "
                             f"{config['type']} configuration")
        arrays[name] = file.get_tensor(key)
    try:
        layer = layer_format.build(config, arrays)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{config['type']}: {error}") from None
    built = layer_config(layer)
    if built != entry:
        differences = [f"{name} {built[name]!r}" for name in built if built[name] != entry[name]]
        raise ValueError(f"{config['type']}: the layer these tensors and fields make has "
                         f"{', '.join(differences)}: the configuration disagrees")
    return layer


# --- writing ---------------------------------------------------------------------------------

def _architecture(model: Model) -> tuple:
    """(architecture, tensors) of `model` as format version 2 stores them."""
    names = {id(tensor): name for tensor, name in zip(model.inputs, model.input_names)}
    for name in model.layer_names:
        if name in names.values():
            raise ValueError(f"layer name {name!r} is also an input's name: a model file names "
                             "tensors by both; rename one")
    nodes, tensors = [], {}
    for index, (node, name) in enumerate(zip(model.nodes, model.layer_names)):
        config = layer_config(node.layer)
        try:
            _checked_config(config)                 # what load would refuse
        except ValueError as error:
            raise ValueError(f"layer {name!r}: {error}: a model file cannot hold it") from None
        nodes.append({"name": name, "inputs": [names[id(t)] for t in node.inputs],
                      "layer": config})
        features = [t.features for t in node.inputs]
        for key, array in layer_tensors(node.layer, features).items():
            tensors[f"nodes.{index}.{key}"] = np.ascontiguousarray(array, np.float32)
        names[id(node.output)] = name
    try:
        mask_value = None if model.mask_value is None else _finite(model.mask_value)
    except ValueError as error:
        raise ValueError(f"mask_value: {error}") from None
    architecture = {
        "inputs": [{"name": name, "features": tensor.features}
                   for tensor, name in zip(model.inputs, model.input_names)],
        "nodes": nodes,
        "outputs": [{"name": name, "tensor": names[id(tensor)]}
                    for tensor, name in zip(model.outputs, model.output_names)],
        "mask_value": mask_value, "sequential": isinstance(model, Sequential)}
    return architecture, tensors


def _json_text(value: Any, what: str) -> str:
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what}: expected JSON-serialisable data (dicts, lists, strings, "
                         f"finite numbers): {error}") from None
    if len(text) > MAX_JSON_CHARS:
        raise ValueError(f"{what}: {len(text):,} characters of JSON, more than a model file "
                         f"holds ({MAX_JSON_CHARS:,})")
    return text


def save(model: Model, path: str | os.PathLike) -> None:
    """Write `model` (a fastrnn.Model or Sequential) to `path` in format
    version 2, atomically: a reader never sees a half-written file.

    Raises
    ------
    ValueError
        The model holds what a model file cannot: a layer type without a
        format, a layer named like an input, metadata that is not JSON.
    """
    numpy_api, _ = _safetensors()
    if max(len(model.inputs), len(model.nodes), len(model.outputs)) > MAX_NODES:
        raise ValueError(f"a model file holds at most {MAX_NODES} inputs, nodes and outputs")
    architecture, tensors = _architecture(model)
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                "fastrnn_version": __version__,
                "architecture": _json_text(architecture, "the architecture")}
    if model.metadata:
        metadata["metadata"] = _json_text(model.metadata, "model.metadata")
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


# --- reading ---------------------------------------------------------------------------------

def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _unique_keys(pairs: list) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("an object repeats a key")
    return result


def _parse_json(text: Any, what: str) -> Any:
    if type(text) is not str or len(text) > MAX_JSON_CHARS:
        raise _Invalid(f"the {what} is not JSON text of at most {MAX_JSON_CHARS:,} characters")
    try:
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as error:
        raise _Invalid(f"the {what} is not valid JSON: {type(error).__name__}: "
                       f"{str(error)[:200]}") from None


def _object(value: Any, keys: tuple, what: str) -> dict:
    if type(value) is not dict or set(value) != set(keys):
        shown = sorted(value)[:8] if type(value) is dict else type(value).__name__
        raise _Invalid(f"{what}: expected an object with exactly {list(keys)}, got {shown}")
    return value


def _list(value: Any, what: str, most: int = MAX_NODES) -> list:
    if type(value) is not list or not 1 <= len(value) <= most:
        raise _Invalid(f"{what}: expected a list of 1 to {most} entries, got "
                       f"{type(value).__name__}" + (f" of {len(value)}" if type(value) is list
                                                    else ""))
    return value


def _name(value: Any, what: str) -> str:
    if type(value) is not str or not 1 <= len(value) <= MAX_NAME_CHARS:
        raise _Invalid(f"{what}: expected a name of 1 to {MAX_NAME_CHARS} characters, got "
                       f"{_shown(value)}")
    return value


def _mask_value(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return _finite(value)
    except ValueError as error:
        raise _Invalid(f"mask_value: {error}") from None


def _read_graph(file, unread: set, architecture: Any, options: dict) -> Model:
    """Format version 2: the graph, checked, built as a Model or Sequential."""
    architecture = _object(architecture, ("inputs", "nodes", "outputs", "mask_value",
                                          "sequential"), "the architecture")
    tensors: dict = {}                       # name -> Tensor, in the order they are defined
    for index, entry in enumerate(_list(architecture["inputs"], "inputs")):
        entry = _object(entry, ("name", "features"), f"input {index}")
        name = _name(entry["name"], f"input {index} name")
        if name in tensors:
            raise _Invalid(f"input {index}: the name {name!r} is taken")
        try:
            tensors[name] = Input(_size(entry["features"]), name)
        except ValueError as error:
            raise _Invalid(f"input {name!r} features: {error}") from None
    layer_names: dict = {}                   # id(node) -> name
    total_features = sum(t.features for t in tensors.values())
    for index, entry in enumerate(_list(architecture["nodes"], "nodes")):
        entry = _object(entry, ("name", "inputs", "layer"), f"node {index}")
        name = _name(entry["name"], f"node {index} name")
        if name in tensors:
            raise _Invalid(f"node {index}: the name {name!r} is taken (by an input or an earlier "
                           "node)")
        reads = []
        for read in _list(entry["inputs"], f"node {name!r} inputs"):
            if type(read) is not str or read not in tensors:
                raise _Invalid(f"node {name!r} reads {_shown(read)}, which is no input and no node "
                               "before it")
            reads.append(tensors[read])
        try:
            layer = _read_layer(file, unread, entry["layer"], f"nodes.{index}.",
                                [t.features for t in reads])
            output = layer(*reads)
        except ValueError as error:
            raise _Invalid(f"node {name!r}: {error}") from None
        total_features += output.features
        if total_features > MAX_GRAPH_FEATURES:
            raise _Invalid(f"the graph's tensors have more than {MAX_GRAPH_FEATURES:,} features "
                           "in all")
        tensors[name] = output
        layer_names[id(output.node)] = name
    outputs, output_names = [], []
    for index, entry in enumerate(_list(architecture["outputs"], "outputs")):
        entry = _object(entry, ("name", "tensor"), f"output {index}")
        output_names.append(_name(entry["name"], f"output {index} name"))
        if type(entry["tensor"]) is not str or entry["tensor"] not in tensors:
            raise _Invalid(f"output {output_names[-1]!r} is tensor {_shown(entry['tensor'])}, "
                           "which is no input and no node")
        outputs.append(tensors[entry["tensor"]])
    inputs = [t for t in tensors.values() if t.node is None]
    options["mask_value"] = _mask_value(architecture["mask_value"])
    try:
        sequential = _flag(architecture["sequential"])
    except ValueError as error:
        raise _Invalid(f"sequential: {error}") from None
    order = graph_nodes(inputs, outputs)      # every tensor is an input's or a node's
    if len(order) != len(layer_names):
        used = {id(node) for node in order}
        raise _Invalid(f"nodes {sorted(n for i, n in layer_names.items() if i not in used)} "
                       "feed no output")
    if sequential:
        _check_chain(architecture)
        return _built(Sequential, [node.layer for node in order], **options)
    return _built(Model, inputs, outputs, input_names=[t.name for t in inputs],
                  output_names=output_names,
                  layer_names=[layer_names[id(node)] for node in order], **options)


def _check_chain(architecture: dict) -> None:
    """A file marked sequential holds the graph Sequential makes."""
    names = [f"layer{i}" for i in range(len(architecture["nodes"]))]
    if ([entry["name"] for entry in architecture["inputs"]] != ["input0"]
            or [entry["name"] for entry in architecture["nodes"]] != names
            or [entry["inputs"] for entry in architecture["nodes"]]
            != [[read] for read in ["input0"] + names[:-1]]
            or architecture["outputs"] != [{"name": "output0", "tensor": names[-1]}]):
        raise _Invalid("sequential: the graph is not a Sequential's chain (input0 -> layer0 -> "
                       "layer1 -> ... -> output0)")


def _built(cls: type, *arguments, **options) -> Model:
    try:
        return cls(*arguments, **options)
    except (ValueError, TypeError, NotImplementedError) as error:
        raise _Invalid(f"the layers do not form a model: {error}") from None


def _read_version_1(file, unread: set, architecture: Any, options: dict) -> Sequential:
    """Format version 1: a Sequential's layers."""
    if type(architecture) is not dict or set(architecture) - {"layers", "mask_value"}:
        raise _Invalid("the architecture: expected an object with 'layers' (and 'mask_value')")
    layers = []
    for index, entry in enumerate(_list(architecture.get("layers"), "layers")):
        try:
            layers.append(_read_layer(file, unread, _with_go_backwards(entry), f"layers.{index}.",
                                      [], _VERSION_1_TYPES))
        except ValueError as error:
            raise _Invalid(f"layer {index}: {error}") from None
    options["mask_value"] = _mask_value(architecture.get("mask_value"))
    return _built(Sequential, layers, **options)


def _with_go_backwards(entry: Any) -> Any:
    """A version 1 layer entry, go_backwards false where it predates the field."""
    if type(entry) is not dict:
        return entry
    if entry.get("type") == "Bidirectional":
        return {**entry, **{direction: _with_go_backwards(entry[direction])
                            for direction in ("forward", "backward") if direction in entry}}
    if entry.get("type") in _RECURRENT_TYPES:
        return {"go_backwards": False, **entry}
    return entry


_READERS = {1: _read_version_1, 2: _read_graph}


def _format_version(metadata: dict) -> int:
    version = metadata.get("format_version")
    if type(version) is not str or not re.fullmatch("[1-9][0-9]{0,8}", version):
        raise _Invalid(f"format_version {_shown(version)} is not a version number (1, 2, ...)")
    if int(version) > FORMAT_VERSION:
        raise _Invalid(f"format version {version}, written by fastrnn "
                       f"{str(metadata.get('fastrnn_version', '?'))[:40]}; this fastrnn reads "
                       f"versions up to {FORMAT_VERSION}: upgrade fastrnn")
    return int(version)


def _read(file, options: dict) -> Model:
    metadata = file.metadata() or {}
    if metadata.get("format") != FORMAT:
        raise _Invalid(f"a safetensors file but not a fastrnn model (metadata 'format' is "
                       f"{_shown(metadata.get('format'))})")
    reader = _READERS[_format_version(metadata)]
    architecture = _parse_json(metadata.get("architecture"), "architecture")
    model_metadata = _parse_json(metadata.get("metadata", "{}"), "model metadata")
    if type(model_metadata) is not dict:
        raise _Invalid(f"expected the model metadata to be a JSON object, got "
                       f"{type(model_metadata).__name__}")
    options["metadata"] = model_metadata
    unread = set(file.keys())
    model = reader(file, unread, architecture, options)
    if unread:
        raise _Invalid(f"unexpected tensors {sorted(unread)[:5]}")
    return model


def load(path: str | os.PathLike, *, isa: str | None = None,
         precision: str = "float32") -> Model:
    """Read a model written by ``Model.save`` (format version 2 or 1).

    Parameters
    ----------
    path : the model file
    isa, precision : as ``fastrnn.Model`` takes them

    Returns
    -------
    fastrnn.Sequential (a file of a Sequential, and every version 1 file)
    or fastrnn.Model

    Raises
    ------
    FormatError
        The file is truncated, corrupted, of a newer format version, not a
        fastrnn model file, or holds values a model cannot have; the message
        names the file and the problem.
    FileNotFoundError
        No file at `path`.
    ValueError
        `isa` or `precision` is not available here.
    """
    _, safe_open = _safetensors()
    path = os.fspath(path)
    chosen_isa = default_isa() if isa is None else isa
    if chosen_isa not in available_isas() or precision not in available_precisions(chosen_isa):
        raise ValueError(f"isa {chosen_isa!r} with precision {precision!r}: expected an "
                         f"instruction set of {available_isas()} and a precision it runs")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no fastrnn model file at {path!r}")
    try:
        handle = safe_open(path, framework="np")
    except Exception as error:  # safetensors raises its own error type for every damage
        raise FormatError(f"{path!r} is not a readable model file: {error}") from None
    try:
        with handle as file:
            return _read(file, {"isa": isa, "precision": precision})
    except _Invalid as error:
        raise FormatError(f"{path!r}: {error}") from None


Model.save = save
