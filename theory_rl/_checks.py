"""Argument checks shared by the package: each raises a ``ValueError`` naming the argument."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["as_int", "as_positive"]


def as_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as a Python int ``>= minimum`` (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def as_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float ``> 0`` (``>= 0`` with ``allow_zero``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return v
