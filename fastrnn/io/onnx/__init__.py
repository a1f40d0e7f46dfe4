"""ONNX models read into fastrnn.

- ``load_graph``: a model as the IR (``fastrnn.io.onnx.ir``: Graph, Node,
  Value), checked, constant-folded and shape-inferred; what the session
  (``fastrnn.onnx.InferenceSession``) runs and what a compiler onto the
  engine reads.
- ``OPERATORS`` (``fastrnn.io.onnx.ops``): the one NumPy implementation of
  each supported operator, used by folding and by the session.
- ``RecurrentNode``: an LSTM/GRU/RNN node as the fastrnn layer computing it.
- ``from_onnx``: a graph that compiles to one engine segment as a
  ``fastrnn.Model`` (its recurrent state inputs/outputs the model's state).
- ``load_model``, ``node_attributes``, ``initializers``: protobuf access.

Files: proto.py (reading files, sizes), ir.py (the IR), ops.py (the
operator table), recurrent.py (LSTM/GRU/RNN), fold.py (constant folding),
shapes.py (shapes, sizes, layouts), load.py (the pipeline), compile.py
(segments compiled onto the engine), graph_model.py (from_onnx).
"""

from .graph_model import from_onnx
from .ir import Graph, Node, Value
from .load import load_graph
from .ops import OPERATORS, Operator
from .proto import (MAX_TENSOR_BYTES, MAX_TENSOR_ELEMENTS, initializers, load_model,
                    node_attributes)
from .recurrent import RecurrentNode

__all__ = ["from_onnx", "load_graph", "load_model", "node_attributes", "initializers",
           "RecurrentNode", "OPERATORS", "Operator", "Graph", "Node", "Value",
           "MAX_TENSOR_BYTES", "MAX_TENSOR_ELEMENTS"]
