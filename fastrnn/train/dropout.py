"""Inverted dropout: during training, each feature is zeroed with
probability `rate` and the rest scaled by 1 / (1 - rate); at inference the
layer is the identity (and is left out of the C engine's model)."""

import numpy as np

from .layer import Layer


class Dropout(Layer):
    """Keras ``Dropout(rate)``; its noise comes from the model's seeded
    generator, so a run is reproducible.

    Parameters
    ----------
    rate : float in [0, 1)
    """

    def __init__(self, rate: float) -> None:
        super().__init__()
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout rate: expected a number in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def config(self) -> dict:
        return {"rate": self.rate}

    def build(self, input_size: int, rng: np.random.Generator, dtype) -> None:
        super().build(input_size, rng, dtype)
        self.rng = rng

    def forward(self, x: np.ndarray, mask: np.ndarray | None, training: bool) -> np.ndarray:
        self.scale = None
        if not training or self.rate == 0:
            return x
        keep = self.rng.random(x.shape) >= self.rate
        self.scale = keep.astype(x.dtype) / (1 - self.rate)
        return x * self.scale

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if not self.needs_input_grad or self.scale is None:
            return dy if self.needs_input_grad else None
        return dy * self.scale

    def inference_layer(self):
        return None
