"""Exceptions of fastrnn."""


class FormatError(ValueError):
    """A model file is truncated, corrupted, of an unsupported version, or not a
    fastrnn file at all; the message says which."""
