"""A Keras model's config as calls of its layers, converted in dependency
order to a fastrnn.Model (a Sequential when it is a chain).

Keras 3 configs name the tensors a call reads as ``__keras_tensor__``
entries of its ``args`` (``keras_history``: layer, call, output index);
Keras 2 configs as ``[layer, call, output index, kwargs]`` lists. A
Sequential config lists its layers, each reading the previous one's output.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from ...errors import FormatError
from ...layers import Input
from ...model import Model, Sequential, graph_nodes
from .files import KerasFile, LiveWeights
from .conversion import Call, Conversion, RecurrentState, Value
from .rules import MULTI_INPUT, RULES

_MODELS = ("Sequential", "Functional", "Model")


def _reference(value: Any, where: str) -> tuple:
    """(layer name, call, output index) of a tensor reference."""
    if (not isinstance(value, (list, tuple)) or len(value) < 3 or not isinstance(value[0], str)
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value[1:3])):
        raise FormatError(f"{where}: expected a tensor reference [layer, call, output], got "
                          f"{value!r}")
    return value[0], value[1], value[2]


def _references(value: Any, where: str) -> list:
    """A model's input_layers / output_layers: one reference or a list of them."""
    if isinstance(value, dict):
        raise NotImplementedError(f"{where} as a dict: fastrnn models take and return tensors "
                                  "in order")
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise FormatError(f"{where}: expected a list of tensor references, got {value!r}")
    return [_reference(item, where) for item in value]


def _holds_tensors(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if item.get("class_name") == "__keras_tensor__":
                return True
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
    return False


def _keras3_inputs(node: dict, where: str) -> tuple:
    """([reference], [static shape or None]) of a Keras 3 call's args, in order."""
    kwargs = node.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise FormatError(f"{where}: kwargs: expected an object, got {kwargs!r}")
    tensor_kwargs = sorted(key for key, value in kwargs.items() if _holds_tensors(value))
    if tensor_kwargs:
        raise NotImplementedError(f"{where} takes tensors as {tensor_kwargs} (initial states, "
                                  "masks): fastrnn starts recurrent layers from their stream "
                                  "state and takes masks from a leading Masking only")
    references, shapes, pending = [], [], [node.get("args", [])]
    while pending:
        item = pending.pop()
        if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
            tensor = item.get("config")
            if not isinstance(tensor, dict):
                raise FormatError(f"{where}: a tensor without a config: {item!r}")
            references.append(_reference(tensor.get("keras_history"), where))
            shape = tensor.get("shape")
            shapes.append(list(shape) if isinstance(shape, (list, tuple)) else None)
        elif isinstance(item, dict):
            pending.extend(reversed(list(item.values())))
        elif isinstance(item, (list, tuple)):
            pending.extend(reversed(item))
    return references, shapes


def _keras2_inputs(node: list, where: str) -> tuple:
    references = []
    for entry in node:
        reference = _reference(entry, where)
        kwargs = entry[3] if len(entry) > 3 else {}
        if isinstance(kwargs, dict) and set(kwargs) - {"training", "mask"}:
            raise NotImplementedError(f"{where} takes {sorted(kwargs)}: fastrnn starts recurrent "
                                      "layers from their stream state")
        references.append(reference)
    return references, [None] * len(references)


class KerasGraph:
    """A Keras model config as calls of its layers.

    Parameters
    ----------
    config : {"class_name": "Functional" | "Sequential" | "Model", "config": {...}}

    Attributes
    ----------
    layers : [(class name, layer name)] in the config's order
    calls : [Call], each after the calls it reads
    inputs, outputs : [(layer name, call, output index)]
    """

    def __init__(self, config: dict):
        kind = config.get("class_name")
        body = config.get("config")
        if kind not in _MODELS or not isinstance(body, dict) \
                or not isinstance(body.get("layers"), list):
            raise FormatError(f"expected a Keras Sequential or Functional model, got {kind!r}")
        entries = [self._entry(entry, index) for index, entry in enumerate(body["layers"])]
        names = [name for _, name, _, _ in entries]
        if len(set(names)) != len(names):
            raise FormatError(f"the model's layer names repeat: {sorted(names)}")
        self.layers = [(kind, name) for kind, name, _, _ in entries]
        if kind == "Sequential":
            calls = self._sequential_calls(entries, body)
            self.inputs = [(calls[0].name, 0, 0)]
            self.outputs = [(calls[-1].name, 0, 0)]
        else:
            calls = self._functional_calls(entries)
            self.inputs = _references(body.get("input_layers"), "input_layers")
            self.outputs = _references(body.get("output_layers"), "output_layers")
        self.calls = self._ordered(calls)

    @staticmethod
    def _entry(entry: Any, index: int) -> tuple:
        """(class name, layer name, config, inbound nodes) of one layer entry."""
        config = entry.get("config") if isinstance(entry, dict) else None
        if not isinstance(config, dict) or not isinstance(entry.get("class_name"), str):
            raise FormatError(f"layer {index} of the model config: expected an object with a "
                              f"class_name and a config, got {str(entry)[:200]!r}")
        name = entry.get("name", config.get("name"))
        if not isinstance(name, str):
            raise FormatError(f"layer {index} of the model config: expected a name, got {name!r}")
        return entry["class_name"], name, config, entry.get("inbound_nodes", [])

    @staticmethod
    def _sequential_calls(entries: list, body: dict) -> list:
        """An InputLayer call (the config's, or one from the input shape the
        first layer or the model gives), then each layer on the previous one."""
        calls = []
        if not entries or entries[0][0] != "InputLayer":
            first = entries[0][2] if entries else {}
            shape = first.get("batch_input_shape", first.get("batch_shape",
                                                             body.get("build_input_shape")))
            calls.append(Call("InputLayer", "input", {"batch_shape": shape}))
        for kind, name, config, _ in entries:
            inputs = [(calls[-1].name, 0, 0)] if calls else []
            calls.append(Call(kind, name, config, 0, inputs, [None] * len(inputs)))
        return calls

    @staticmethod
    def _functional_calls(entries: list) -> list:
        calls = []
        for kind, name, config, nodes in entries:
            where = f"{kind} {name!r}"
            if not isinstance(nodes, list):
                raise FormatError(f"{where}: inbound_nodes: expected a list, got {nodes!r}")
            if kind == "InputLayer" or not nodes:
                calls.append(Call(kind, name, config))
                continue
            for index, node in enumerate(nodes):
                if isinstance(node, dict):
                    references, shapes = _keras3_inputs(node, where)
                elif isinstance(node, list):
                    references, shapes = _keras2_inputs(node, where)
                else:
                    raise FormatError(f"{where}: expected inbound nodes, got {node!r}")
                calls.append(Call(kind, name, config, index, references, shapes))
        return calls

    @staticmethod
    def _ordered(calls: list) -> list:
        """The calls, each after the calls it reads (FormatError for a cycle
        or a read of a call that does not exist)."""
        by_key = {(call.name, call.index): call for call in calls}
        waiting = {}
        readers: dict = {}
        for call in calls:
            producers = {(layer, index) for layer, index, _ in call.inputs}
            for producer in producers:
                if producer not in by_key:
                    raise FormatError(f"{call.where} reads call {producer[1]} of layer "
                                      f"{producer[0]!r}, which the model does not have")
                readers.setdefault(producer, []).append(call)
            waiting[id(call)] = len(producers)
        ready = [call for call in calls if waiting[id(call)] == 0]
        ordered = []
        while ready:
            call = ready.pop(0)
            ordered.append(call)
            for reader in readers.get((call.name, call.index), []):
                waiting[id(reader)] -= 1
                if waiting[id(reader)] == 0:
                    ready.append(reader)
        if len(ordered) != len(calls):
            raise FormatError("the model's layers read each other in a cycle")
        return ordered


def _input(call: Call) -> Value:
    shape = call.config.get("batch_shape", call.config.get("batch_input_shape"))
    if not isinstance(shape, (list, tuple)):
        raise FormatError(f"{call.where}: expected its batch_shape, got {shape!r}")
    features = shape[-1] if len(shape) == 3 else None
    if len(shape) != 3 or isinstance(features, bool) or not isinstance(features, int) \
            or features < 1:
        raise NotImplementedError(f"{call.where} of shape {list(shape)}: fastrnn models read "
                                  "sequences (batch, time, features) of a known number of "
                                  "features")
    return Value(Input(features, name=call.name))


def _read(call: Call, value: Any) -> Value:
    if isinstance(value, RecurrentState):
        if value.last_output is None:
            raise NotImplementedError(f"{call.where} reads the state {value.part!r} of "
                                      f"{value.layer!r}: fastrnn keeps recurrent states as the "
                                      "stream's state, not as tensors layers read")
        return value.last_output
    return value


def _is_chain(nodes: list, start: Any, end: Any) -> bool:
    previous = start
    for node in nodes:
        if len(node.inputs) != 1 or node.inputs[0] is not previous:
            return False
        previous = node.output
    return previous is end


def _unique(names: list) -> list:
    seen: dict = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, -1) + 1
        unique.append(name if not seen[name] else f"{name}_{seen[name]}")
    return unique


def convert(config: dict, weights_for: Callable, *, isa: str | None = None,
            precision: str = "float32") -> Model:
    """The fastrnn model of a Keras model config; `weights_for(layers)` gives
    the weight source of [(class name, layer name)]."""
    graph = KerasGraph(config)
    conversion = Conversion(weights_for(graph.layers))
    values: dict = {}
    for call in graph.calls:
        if call.kind == "InputLayer":
            outputs = [_input(call)]
        elif call.kind in _MODELS:
            raise NotImplementedError(f"{call.where}: a model used as a layer; fastrnn imports "
                                      "the layers of one model")
        elif call.kind not in RULES:
            raise NotImplementedError(f"{call.kind} {call.name!r}: not a layer fastrnn can run")
        else:
            if not call.inputs:
                raise FormatError(f"{call.where} reads no tensor")
            if call.kind not in MULTI_INPUT and len(call.inputs) != 1:
                raise NotImplementedError(f"{call.where} reads {len(call.inputs)} tensors; "
                                          "fastrnn runs it on one")
            missing = [ref for ref in call.inputs if ref not in values]
            if missing:
                raise FormatError(f"{call.where} reads output {missing[0][2]} of "
                                  f"{missing[0][0]!r}, which that layer does not have")
            inputs = [_read(call, values[ref]) for ref in call.inputs]
            outputs = RULES[call.kind](conversion, call, inputs)
        for index, output in enumerate(outputs):
            values[(call.name, call.index, index)] = output
    return _model(graph, values, conversion, isa, precision)


def _model(graph: KerasGraph, values: dict, conversion: Conversion, isa: str | None,
           precision: str) -> Model:
    for reference in graph.inputs + graph.outputs:
        if reference not in values:
            raise FormatError(f"the model's inputs or outputs name output {reference[2]} of "
                              f"{reference[0]!r}, which the model does not make")
    inputs = [values[reference] for reference in graph.inputs]
    if any(not isinstance(value, Value) or value.tensor.node is not None for value in inputs):
        raise FormatError(f"the model's inputs {graph.inputs} are not all InputLayers")
    kept = [(reference, values[reference]) for reference in graph.outputs
            if not isinstance(values[reference], RecurrentState)]
    if not kept:
        raise ValueError("the Keras model outputs only recurrent states, which fastrnn keeps "
                         "as the stream's state")
    for (layer, _, _), value in kept:
        if value.channels_first:
            raise NotImplementedError(f"output {layer!r} is held (batch, channels, time); "
                                      "fastrnn outputs (batch, time, channels): end the model "
                                      "with a Permute((2, 1))")
    input_tensors = [value.tensor for value in inputs]
    output_tensors = [value.tensor for _, value in kept]
    nodes = graph_nodes(input_tensors, output_tensors)
    if not nodes:
        raise ValueError("the Keras model has no layers fastrnn can run")
    mask_value = conversion.mask_value
    if len(inputs) == 1 and len(kept) == 1 and _is_chain(nodes, input_tensors[0],
                                                         output_tensors[0]) \
            and nodes[0].layer.input_size is not None:
        if mask_value is not None and any(getattr(node.layer, "go_backwards", False)
                                          for node in nodes):
            raise NotImplementedError("Masking with a go_backwards layer (Keras passes the mask "
                                      "on unreversed) is not supported")
        return Sequential([node.layer for node in nodes], isa=isa, precision=precision,
                          mask_value=mask_value)
    if mask_value is not None:
        raise NotImplementedError("Masking in a model with branches, several inputs or outputs: "
                                  "fastrnn applies a mask_value to chains of layers only")
    return Model(input_tensors, output_tensors,
                 input_names=[layer for layer, _, _ in graph.inputs],
                 output_names=_unique([layer for (layer, _, _), _ in kept]),
                 layer_names=[conversion.names[id(node)] for node in nodes],
                 isa=isa, precision=precision)


_DAMAGED_CONFIG = (KeyError, TypeError, AttributeError, IndexError, RecursionError,
                   OverflowError)


def from_keras(model_or_path: Any, *, isa: str | None = None,
               precision: str = "float32") -> Model:
    """A fastrnn.Model computing what a Keras 3 model computes: a
    fastrnn.Sequential when the model is a chain of layers.

    Parameters
    ----------
    model_or_path : a live Keras Sequential or Functional model, or the path
        of a ``.keras`` or legacy ``.h5`` file (read with zipfile, json and
        h5py, within a memory budget: Keras is not needed, see
        fastrnn.io.keras.files).
    isa, precision : see ``fastrnn.Model``.

    Returns
    -------
    fastrnn.Model (a Sequential for a chain). Its outputs are the Keras
    model's in order, without the recurrent states a layer with
    ``return_state=True`` returns: those are the stream's state
    (``predict(..., return_state=True)``, ``Stream.get_state()``, keyed
    "<Keras layer name>.h" / ".c"; "layer<i>.h" in a Sequential).
    ``output_names`` and the layer names are Keras'.

    Layers: InputLayer, Conv1D (every padding, strides, dilation, groups,
    channels_first between Permutes), DepthwiseConv1D, SeparableConv1D,
    BatchNormalization, LayerNormalization, Dense, TimeDistributed(Dense),
    Activation, ReLU, LeakyReLU, PReLU, ELU, Softmax, Add, Subtract,
    Multiply, Maximum, Minimum, Average, Concatenate, MaxPooling1D,
    AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, Reshape
    and Permute that only relabel axes, LSTM, GRU, SimpleRNN, Bidirectional,
    Dropout-like layers (identities) and a leading Masking (a chain's
    ``mask_value``). Anything else raises NotImplementedError naming the
    layer and why; a damaged file raises fastrnn.FormatError.
    """
    if isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no Keras model file at {path!r}")
        with KerasFile(path) as file:
            try:
                return convert(file.config, file.weights, isa=isa, precision=precision)
            except FormatError as error:
                message = str(error)
                raise FormatError(message if message.startswith(repr(path))
                                  else f"{path!r}: {message}") from None
            except _DAMAGED_CONFIG as error:
                raise FormatError(f"{path!r}: a damaged Keras model config "
                                  f"({type(error).__name__}: {error})") from None
    model = model_or_path
    if not hasattr(model, "get_config") or not hasattr(model, "get_layer"):
        raise TypeError(f"expected a Keras model or a path, got {type(model).__name__}")
    classes = [cls.__name__ for cls in type(model).__mro__]
    kind = next((name for name in ("Sequential", "Functional") if name in classes), None)
    if kind is None:
        raise NotImplementedError(f"a subclassed Keras model ({type(model).__name__}): its call "
                                  "is Python code; fastrnn imports Sequential and Functional "
                                  "models")
    weights = LiveWeights(model)
    return convert({"class_name": kind, "config": model.get_config()}, lambda layers: weights,
                   isa=isa, precision=precision)
