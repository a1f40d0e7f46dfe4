"""fastrnn.train: train recurrent models with NumPy alone (backpropagation
through time), the Keras way, and run them in the C engine unchanged.

>>> from fastrnn.train import Sequential, LSTM, Dense
>>> model = Sequential([LSTM(128, return_sequences=True), LSTM(64, return_sequences=False),
...                     Dense(10, activation="softmax")], seed=0)
>>> model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
>>> history = model.fit(x_train, y_train, epochs=10, batch_size=32,
...                     validation_data=(x_test, y_test))
>>> engine_model = model.to_inference()      # fastrnn.Sequential on the C kernels
"""

from .bidirectional import Bidirectional
from .callbacks import Callback, EarlyStopping, History, ModelCheckpoint
from .data import to_categorical, train_test_split
from .dense import Dense
from .dropout import Dropout
from .gru import GRU
from .layer import Layer
from .losses import (BinaryCrossentropy, CategoricalCrossentropy, Loss, MeanSquaredError,
                     SparseCategoricalCrossentropy)
from .lstm import LSTM
from .model import Sequential
from .optimizers import SGD, Adam, AdamW, Optimizer
from .simple_rnn import SimpleRNN

__all__ = ["Sequential", "LSTM", "GRU", "SimpleRNN", "Dense", "Dropout", "Bidirectional",
           "Layer", "to_categorical", "train_test_split",
           "Loss", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "BinaryCrossentropy", "MeanSquaredError",
           "Optimizer", "SGD", "Adam", "AdamW",
           "Callback", "History", "EarlyStopping", "ModelCheckpoint"]
