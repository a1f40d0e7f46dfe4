"""The options of a Keras layer config, checked.

A config Keras wrote holds values of the right types; one from a damaged or
edited file may not, and a value of the wrong type must not change what a
layer computes (``go_backwards=1``, ``mask_value=NaN``). Each reader names the
layer, the option, what it expected and what it got, and raises
fastrnn.FormatError (the config is the file's, or a live model's that Keras
would not write).
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import FormatError

REQUIRED = object()          # the default of an option that has none


def _value(config: dict, key: str, default: Any, where: str) -> Any:
    if key in config:
        return config[key]
    if default is REQUIRED:
        raise FormatError(f"{where}: the config has no {key!r}")
    return default


def flag(config: dict, key: str, default: Any, where: str) -> bool:
    """A bool option (JSON true or false, nothing else)."""
    value = _value(config, key, default, where)
    if not isinstance(value, bool):
        raise FormatError(f"{where}: {key}: expected true or false, got {value!r}")
    return value


def integer(config: dict, key: str, default: Any, where: str, minimum: int = 1) -> int:
    """An int option >= `minimum`; Keras' one-element lists ([3] for a 1-D
    kernel_size) are taken as their element."""
    value = _value(config, key, default, where)
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FormatError(f"{where}: {key}: expected an integer >= {minimum}, got {value!r}")
    return value


def number(config: dict, key: str, default: Any, where: str, minimum: float = -math.inf) -> float:
    """A finite real option >= `minimum` (not a bool)."""
    value = _value(config, key, default, where)
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value < minimum):
        bound = "" if minimum == -math.inf else f" >= {minimum:g}"
        raise FormatError(f"{where}: {key}: expected a finite number{bound}, got {value!r}")
    return float(value)


def choice(config: dict, key: str, default: Any, where: str, options: tuple) -> Any:
    """One of `options`."""
    value = _value(config, key, default, where)
    if not isinstance(value, (str, type(None))) or value not in options:
        raise FormatError(f"{where}: {key}: expected one of {options}, got {value!r}")
    return value


def axes(config: dict, key: str, default: Any, where: str) -> tuple:
    """An axis or a list of axes, as a tuple of ints."""
    value = _value(config, key, default, where)
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values or any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        raise FormatError(f"{where}: {key}: expected an axis or a list of axes, got {value!r}")
    return tuple(values)
