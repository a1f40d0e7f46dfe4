"""Keras' default initializers, drawn from the model's seeded generator.

Shapes are fastrnn's canonical ones (PyTorch layout: ``weight (out, in)``),
while fan-in/fan-out follow Keras' kernels ``(in, out)``, so a layer starts
from the same distribution as its Keras counterpart.
"""

import numpy as np


def glorot_uniform(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    """U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)); shape (out, in)."""
    fan_out, fan_in = shape
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def orthogonal(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    """A (semi-)orthogonal matrix, as Keras' ``Orthogonal(gain=1)`` builds it
    for its kernel of shape (in, out) = shape[::-1]: QR of a normal matrix,
    signs fixed by the diagonal of R. Returned in canonical shape (out, in)."""
    rows, cols = shape[::-1]
    normal = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(normal)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return np.ascontiguousarray(q.T, dtype=dtype)
