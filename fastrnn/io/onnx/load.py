"""``load_graph``: an ONNX model read into the IR, ready to run or compile."""

from __future__ import annotations

from typing import Any

from .fold import fold_constants
from .ir import Graph, build_graph
from .proto import file_errors, load_model, model_opset
from .shapes import assign_axes, check_sizes, inferred_values, merge_values, propagate_shapes


def load_graph(path_or_bytes: Any) -> Graph:
    """The IR of a model (path, bytes or ModelProto), after load-time
    compilation's front half:

    1. read and checked: IR and opset versions the installed onnx knows,
       every operator in the table and of the standard domain, attributes
       completed with the schema's defaults (``ir.build_graph``);
    2. shapes inferred (ONNX's inference, then fastrnn's rules) and every
       static size checked against the bound before anything is computed;
    3. constants folded, If on a constant condition inlined, constant
       parameters (axes, pads, shapes...) lifted into attributes,
       identities and dead nodes removed (``fold.fold_constants``);
    4. shapes completed again, sizes checked, layout roles assigned.

    Raises NotImplementedError (an operator or feature fastrnn lacks, naming
    the node, op and domain) or fastrnn.FormatError (a ValueError: bytes
    that are not a model, versions fastrnn does not read, an inconsistent or
    too-large graph, naming the node).
    """
    with file_errors():
        model = load_model(path_or_bytes)
        opset = model_opset(model)
        graph = build_graph(model.graph, opset)
        merge_values(graph, inferred_values(model))
        propagate_shapes(graph)
        check_sizes(graph)
        fold_constants(graph)
        propagate_shapes(graph)
        check_sizes(graph)
        assign_axes(graph)
    return graph
