"""PyTorch layouts.

fastrnn's canonical layout *is* PyTorch's (``weight_ih (G*H, I)``,
``weight_hh (G*H, H)``, gate order LSTM i, f, g, o and GRU r, z, n), so the
conversion is only from tensors to float32 NumPy arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(tensor: Any) -> np.ndarray | None:
    """A tensor (including one that requires grad, or on another device), or any
    array-like, as a NumPy array; None stays None."""
    if tensor is None:
        return None
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().cpu()
    return np.asarray(tensor)
