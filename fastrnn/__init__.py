"""fastrnn: fused LSTM/GRU inference for audio from Python.

>>> import fastrnn
>>> model = fastrnn.Sequential([fastrnn.LSTM.from_torch(w_ih, w_hh, b_ih, b_hh),
...                             fastrnn.Dense.from_torch(w, b, activation="softmax")])
>>> y = model.predict(x)            # (T, F) -> (T, O)
"""

import importlib

from ._engine import Stream
from .errors import FormatError
from .io.keras import from_keras
from .io.native import load
from .io.onnx import from_onnx
from .io.torch import from_torch
from .layers import (GRU, LSTM, Activation, Add, Affine, BatchNorm, Bidirectional, Concatenate,
                     Conv1d, Dense, Elementwise, GlobalPool, Input, Layer, LayerNorm, Multiply,
                     Pool1d, Reduce, SimpleRNN, Slice, Subtract, Tensor)
from .model import Model, Sequential
from .runtime import __version__, get_num_threads, info, set_num_threads

__all__ = ["LSTM", "GRU", "SimpleRNN", "Bidirectional", "Dense", "Conv1d", "Pool1d",
           "GlobalPool", "Activation", "Affine", "BatchNorm", "LayerNorm", "Elementwise", "Add",
           "Subtract", "Multiply", "Concatenate", "Slice", "Reduce", "Input", "Tensor", "Layer",
           "Model", "Sequential", "Stream",
           "FormatError", "load", "from_torch", "from_keras", "from_onnx",
           "info", "set_num_threads",
           "get_num_threads", "__version__"]

# Submodules with heavier imports, loaded on first use (``fastrnn.onnx.InferenceSession``).
_LAZY_SUBMODULES = ("audio", "onnx", "train")


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
