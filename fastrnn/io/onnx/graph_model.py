"""``from_onnx``: an ONNX graph as one fastrnn Model, compiled by the
session's compiler (``compile.compile_plan``). The graph qualifies when its
plan is one engine segment and nothing else: every node either runs in the
engine or is shape arithmetic the compiler made unnecessary, and every
graph output is computed by the segment. Its recurrent states fed from
graph inputs and returned as graph outputs become the model's own state."""

from __future__ import annotations

from typing import Any

from ...model import Model, graph_nodes
from .compile import CompiledGraph, compile_plan
from .ir import Graph
from .load import load_graph
from .proto import file_errors
from .recurrent import fastrnn_refusal

SESSION_HINT = "run the graph with fastrnn.onnx.InferenceSession instead"


def _refuse(reason: str) -> NotImplementedError:
    return NotImplementedError(f"from_onnx: {reason}; a fastrnn model is one engine segment "
                               f"with one input batch: {SESSION_HINT}")


def _numpy_step(node: Any, constants: dict) -> str:
    """A node the engine does not run, as an error names it."""
    refusal = None
    if node.op in ("LSTM", "GRU", "RNN"):
        refusal = fastrnn_refusal(node, constants)
        if refusal is None and node.attributes.get("direction") == "reverse":
            refusal = "a reverse-only direction"
    return f"{node.name!r} ({node.op}{': ' + refusal if refusal else ''})"


def _the_segment(graph: Graph, plan: list) -> CompiledGraph:
    """The plan's one engine segment, or the NotImplementedError saying why
    the graph is not one."""
    segments = [step for step in plan if isinstance(step, CompiledGraph)]
    numpy_nodes = [step for step in plan if not isinstance(step, CompiledGraph)]
    if numpy_nodes:
        listed = ", ".join(_numpy_step(node, graph.constants) for node in numpy_nodes[:5])
        more = f" and {len(numpy_nodes) - 5} more" if len(numpy_nodes) > 5 else ""
        where = "no node runs in the engine; " if not segments else ""
        raise _refuse(f"{where}ONNX nodes {listed}{more} run outside the engine (in NumPy)")
    if len(segments) != 1:
        raise _refuse(f"the graph compiles to {len(segments)} engine segments (inputs of "
                      "different batch sizes or lengths)")
    segment = segments[0]
    if segment.lengths:
        raise _refuse(f"its sequence lengths come from graph value {segment.lengths!r} "
                      "(a fastrnn model takes them as predict's `lengths`, not as an input)")
    missing = [value.name for value in graph.outputs if value.name not in segment.outputs]
    if missing:
        raise _refuse(f"graph outputs {missing} are not computed by the engine")
    return segment


def _state_map(segment: CompiledGraph) -> dict:
    """{"state_inputs": {ONNX value: [model state name of each entry of its
    layer/direction axis, or None]}, "state_outputs": {ONNX output: [model
    state names, in the order the output joins them]}}."""
    inputs: dict = {}
    for state, source in segment.states.items():
        entries = inputs.setdefault(source.name, [])
        entries.extend([None] * (source.index + 1 - len(entries)))
        entries[source.index] = state
    outputs = {name: [part.state for part in how] for name, how in segment.outputs.items()
               if isinstance(how, list)}
    return {"state_inputs": inputs, "state_outputs": outputs}


def from_onnx(path_or_bytes: Any, *, isa: str | None = None,
              precision: str = "float32") -> Model:
    """A fastrnn Model computing an ONNX graph, compiled as
    ``fastrnn.onnx.InferenceSession`` compiles it: the graph must compile to
    one engine segment, inputs of one batch and one length (a conv front
    end, recurrent layers, heads: the operators the README's ONNX section
    lists as run in the engine), with nothing left to NumPy.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike, bytes or onnx.ModelProto
    isa, precision : as for ``fastrnn.Model``

    Returns
    -------
    fastrnn.Model
        Inputs and outputs named as the graph's, each (B, T, F) batch first
        whatever the graph's layout (F: the features of a frame, its
        non-batch, non-time axes flattened in ONNX order; (B, F) for an
        output with one frame per sequence). The recurrent states the graph
        reads from inputs (initial_h / initial_c) and writes to outputs
        (Y_h / Y_c) are the model's state, not inputs and outputs:
        ``model.stream()`` carries them from step to step (as a caller of
        the graph feeds its state outputs back), ``predict`` takes them as
        ``initial_state`` and gives them with ``return_state``. Layers are
        named after the ONNX nodes, so the state names are "<node>.h",
        "<node>.c" ("<node>.forward.h"... when bidirectional), and
        ``model.metadata["onnx"]`` maps the graph's state values to them:
        ``"state_inputs"``: {input: [state name of each entry of its
        layer/direction axis]}, ``"state_outputs"``: {output: [state
        names, joined in that order]}.

    Raises
    ------
    NotImplementedError
        The graph is not one model (naming the nodes that run in NumPy,
        or why), or uses what fastrnn does not run: use
        ``fastrnn.onnx.InferenceSession``.
    fastrnn.FormatError
        Bytes that are not a model, versions fastrnn does not read, an
        inconsistent or oversized graph (naming the node).
    """
    graph = load_graph(path_or_bytes)
    with file_errors():                      # what the graph holds is inconsistent
        segment = _the_segment(graph, compile_plan(graph))
    compiled = segment.model
    outputs, names, seen = [], [], {}
    for value in graph.outputs:
        how = segment.outputs[value.name]
        if isinstance(how, list):
            continue                                    # a final state: the model's state
        source, _ = how
        if source not in compiled.output_names:
            raise _refuse(f"graph output {value.name!r} is graph input {source!r} as it is")
        tensor = compiled.outputs[compiled.output_names.index(source)]
        if id(tensor) in seen:
            raise _refuse(f"graph outputs {seen[id(tensor)]!r} and {value.name!r} are the same "
                          "values in two layouts")
        seen[id(tensor)] = value.name
        outputs.append(tensor)
        names.append(value.name)
    if not outputs:
        raise _refuse("every graph output is a final recurrent state (a model needs an output "
                      "besides its state)")
    layer_name = {id(node.output): name for node, name in zip(compiled.nodes,
                                                                compiled.layer_names)}
    nodes = graph_nodes(compiled.inputs, outputs)
    model = Model(compiled.inputs, outputs, output_names=names,
                  input_names=list(compiled.input_names),
                  layer_names=[layer_name[id(node.output)] for node in nodes],
                  isa=isa, precision=precision, metadata={"onnx": _state_map(segment)})
    lost = sorted(set(compiled.state_names()) - set(model.state_names()))
    if lost:
        raise _refuse(f"states {lost} belong to layers no non-state graph output reads")
    return model
