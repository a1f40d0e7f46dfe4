"""Importers: the only place that knows other frameworks' weight layouts.

``fastrnn.io.torch`` and ``fastrnn.io.keras`` convert a framework's arrays to
fastrnn's canonical layout (the PyTorch one, see DESIGN.md).
"""
