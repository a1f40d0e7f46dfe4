"""The trainable layer interface.

Inside the trainer, sequences are time-major: ``x (T, B, F)`` with a step
mask ``(T, B)`` bool (None when every step is real). A layer that returns
only the last step gives ``(B, F)`` and its successors see no time axis.
"""

import numpy as np


class Layer:
    """Base class: parameters and their gradients in fastrnn's canonical
    layout (the PyTorch one), a forward pass that caches what its backward
    pass needs, and the C-engine layer with the same weights.

    Attributes
    ----------
    params, grads : dict of str -> array
        Same keys and shapes; ``backward`` writes ``grads``.
    input_size, output_size : int
        Known once the layer is built (from the data, on the first call).
    """

    def __init__(self) -> None:
        self.params: dict = {}
        self.grads: dict = {}
        self.input_size: int | None = None
        self.output_size: int | None = None
        # False for the model's first layer: nothing needs dL/dx there.
        self.needs_input_grad = True

    @property
    def built(self) -> bool:
        return self.input_size is not None

    def build(self, input_size: int, rng: np.random.Generator, dtype) -> None:
        """Create the parameters for `input_size` features."""
        self.input_size = self.output_size = input_size

    def keeps_time_axis(self) -> bool:
        """Whether a sequence input gives a sequence output."""
        return True

    def forward(self, x: np.ndarray, mask: np.ndarray | None, training: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx from dL/dy of the last forward (None when
        ``needs_input_grad`` is False); writes ``self.grads``."""
        raise NotImplementedError

    def inference_layer(self):
        """The fastrnn (C engine) layer with these weights, or None if the
        layer does nothing at inference (Dropout)."""
        raise NotImplementedError

    def config(self) -> dict:
        """The constructor arguments, for copies (Bidirectional) and repr."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.config().items())
        return f"{type(self).__name__}({args})"
