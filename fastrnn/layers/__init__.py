"""Layers: weights in fastrnn's canonical (PyTorch) layout, checked on
construction, called on tensors to build a model (see layers.base).

- recurrent.py: LSTM, GRU, SimpleRNN, Bidirectional
- dense.py: Dense
- conv.py: Conv1d, Pool1d, GlobalPool
- frames.py: Activation, Affine, BatchNorm, LayerNorm, Elementwise (Add,
  Subtract, Multiply), Concatenate, Slice, Reduce
"""

from .base import Input, Layer, Node, Tensor, as_float32, ends_sequence, to_numpy
from .conv import Conv1d, GlobalPool, Pool1d
from .dense import ACTIVATIONS, Dense
from .frames import (Activation, Add, Affine, BatchNorm, Concatenate, Elementwise, LayerNorm,
                     Multiply, Reduce, Slice, Subtract)
from .recurrent import (GRU, LSTM, MERGE_MODES, RECURRENT_LAYERS, Bidirectional, SimpleRNN,
                        merge_directions)

__all__ = ["Input", "Layer", "Node", "Tensor", "as_float32", "ends_sequence", "to_numpy",
           "Conv1d", "GlobalPool", "Pool1d", "ACTIVATIONS", "Dense", "Activation", "Add",
           "Affine", "BatchNorm", "Concatenate", "Elementwise", "LayerNorm", "Multiply",
           "Reduce", "Slice", "Subtract", "GRU", "LSTM", "MERGE_MODES", "RECURRENT_LAYERS",
           "Bidirectional", "SimpleRNN", "merge_directions"]
