"""Importers: the only place that knows other frameworks' weight layouts.

``fastrnn.io.torch``, ``fastrnn.io.keras`` and ``fastrnn.io.onnx`` convert a
framework's models and arrays to fastrnn's layers in the canonical layout
(the PyTorch one, see DESIGN.md), sharing ``fastrnn.io.convert``;
``fastrnn.io.native`` is fastrnn's own model file.
"""
