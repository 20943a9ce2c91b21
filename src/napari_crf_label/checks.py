"""Checks of numeric parameters shared by the API, the CLI and the panel."""

from __future__ import annotations

import math
import numbers

from .errors import InputError

__all__ = ["finite_number"]


def finite_number(name: str, value, *, integer: bool = False) -> float | int:
    """Return ``value`` if it is a finite real number (a whole one with ``integer``).

    Raises
    ------
    InputError
        Naming the parameter: for NaN, infinity, booleans, text or fractions
        where a whole number is needed. Ranges are checked by the callers.

    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value}")
    if integer and value != int(value):
        raise InputError(f"{name} must be a whole number, got {value}")
    return value
