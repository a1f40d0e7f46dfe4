"""ONNX Runtime's interface over fastrnn: ``fastrnn.onnx.InferenceSession``.

See ``fastrnn.io.onnx`` for what runs and how.
"""

from .io.onnx import InferenceSession

__all__ = ["InferenceSession"]
