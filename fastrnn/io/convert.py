"""What the importers share: reordering gate blocks into the canonical order,
and folding activations into the Dense layers before them."""

from __future__ import annotations

import numpy as np

from ..layers import ACTIVATIONS, Activation, Dense


def reorder_gates(blocks: np.ndarray, order: tuple, hidden_size: int) -> np.ndarray:
    """Gate blocks (along axis 0, `hidden_size` rows each) taken in `order`:
    ``order[i]`` is the source block of canonical gate i."""
    return np.concatenate([blocks[i * hidden_size:(i + 1) * hidden_size] for i in order],
                          axis=0)


def fold_activations(layers: list) -> list:
    """`layers` (a chain) with each Activation that the linear Dense layer
    right before it can apply folded into that Dense (fastrnn.Model does the
    same when it packs a graph; folded here, a chain is the Sequential of
    Dense(activation=...) layers it was before graphs, and saves as one)."""
    folded = []
    for layer in layers:
        before = folded[-1] if folded else None
        if (isinstance(layer, Activation) and isinstance(before, Dense)
                and before.activation == "linear" and layer.op in ACTIVATIONS
                and layer.op != "linear"
                and (layer.op != "elu" or layer.parameters["alpha"] == 1.0)):
            before.activation = layer.op
            continue
        folded.append(layer)
    return folded
