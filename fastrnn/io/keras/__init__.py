"""Keras 3 models as fastrnn models (``fastrnn.from_keras``), from live
models and from ``.keras`` / legacy ``.h5`` files read without Keras.

- layouts.py: Keras' weight layouts -> canonical, and the layers' Keras
  constructors (``fastrnn.LSTM.from_keras``, ...), attached on import;
- files.py: reading Keras files within a memory budget, and the weights of
  live models behind the same interface;
- options.py: a layer config's options, checked;
- conversion.py: what a conversion carries from layer to layer (Values,
  RecurrentStates, Calls, the Conversion);
- rules.py: what each Keras layer computes, as fastrnn layers;
- graph.py: a model config's calls in dependency order, to a fastrnn.Model.
"""

from .graph import convert, from_keras
from .layouts import (GRU_ORDER, conv_weight, dense_weights, depthwise_weight, gru_weights,
                      lstm_weights, simple_rnn_weights)

__all__ = ["from_keras", "convert", "GRU_ORDER", "conv_weight", "depthwise_weight",
           "dense_weights", "gru_weights", "lstm_weights", "simple_rnn_weights"]
