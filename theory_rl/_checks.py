"""Argument checks shared by the package: each raises a ``ValueError`` naming the argument.

Three functions, each returning a plain Python scalar:

* ``as_int(name, value, minimum=1) -> int``: an integer ``>= minimum``; Python and NumPy
  integers only (``bool``, floats and strings are refused).
* ``as_real(name, value, *, minimum=None, maximum=None, open_minimum=False,
  open_maximum=False, finite=True) -> float``: a real number in the interval given by the
  bounds (closed unless ``open_*``; a missing bound is unbounded), finite unless
  ``finite=False``.  Accepted: Python and NumPy integers and floats (any :class:`numbers.Real`
  except ``bool``).  Refused: ``str``, ``bytes``, ``bool``/``numpy.bool_``, ``None``, complex
  numbers, arrays (0-d included) -- nothing is parsed or silently converted.
* ``as_positive(name, value, *, allow_zero=False) -> float``: ``as_real`` with
  ``minimum=0``, open unless ``allow_zero``.

Messages: ``"<name> must be a real number <interval>, got <value!r>"`` for a value of the wrong
kind, ``"<name> must be <interval>, got <value!r>"`` for one out of range, where ``<interval>``
reads ``> 0``, ``>= 0``, ``<= 1`` or ``in [0, 1)``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["as_int", "as_positive", "as_positive_array", "as_real"]


def as_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as a Python int ``>= minimum`` (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _interval(
    minimum: float | None, maximum: float | None, open_minimum: bool, open_maximum: bool
) -> str:
    if minimum is not None and maximum is not None:
        left, right = "(" if open_minimum else "[", ")" if open_maximum else "]"
        return f"in {left}{minimum:g}, {maximum:g}{right}"
    if minimum is not None:
        return f"{'>' if open_minimum else '>='} {minimum:g}"
    if maximum is not None:
        return f"{'<' if open_maximum else '<='} {maximum:g}"
    return "finite"


def as_real(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    open_minimum: bool = False,
    open_maximum: bool = False,
    finite: bool = True,
) -> float:
    """``value`` as a Python float in the interval ``minimum .. maximum``.

    Bounds are closed unless ``open_minimum`` / ``open_maximum``; ``None`` leaves that side
    unbounded.  NaN is always refused, infinities unless ``finite=False``.  Only real numbers
    are accepted (see the module docstring): ``"0.9"``, ``True``, ``None`` and ``1 + 0j`` raise.
    """
    where = _interval(minimum, maximum, open_minimum, open_maximum)
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Real)
        or isinstance(value, np.ndarray)
    ):
        kind = "a real number" if where == "finite" else f"a real number {where}"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    v = float(value)
    bad = (
        math.isnan(v)
        or (finite and math.isinf(v))
        or (minimum is not None and (v < minimum or (open_minimum and v == minimum)))
        or (maximum is not None and (v > maximum or (open_maximum and v == maximum)))
    )
    if bad:
        raise ValueError(f"{name} must be {where}, got {v!r}")
    return v


def as_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float ``> 0`` (``>= 0`` with ``allow_zero``)."""
    return as_real(name, value, minimum=0.0, open_minimum=not allow_zero)


def as_positive_array(name: str, value: Any, *, allow_zero: bool = False) -> np.ndarray:
    """``value`` as a float64 array of shape ``()`` or ``(B,)`` (a scalar or a batch, e.g. of
    step sizes), finite and ``> 0`` (``>= 0`` with ``allow_zero``).

    Strings, bools, complex and object arrays, empty arrays and arrays of two or more axes are
    refused with a ``ValueError`` naming ``name``.  CuPy arrays are copied to the host.
    """
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be a real number or a 1-D array of them, got {value!r}")
    get = getattr(value, "get", None)  # CuPy -> NumPy
    arr = np.asarray(get() if callable(get) and not isinstance(value, np.ndarray) else value)
    if arr.dtype.kind not in "iuf" or arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"{name} must be a real number or a 1-D array of them, got {value!r}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)) or not np.all(arr >= 0 if allow_zero else arr > 0):
        raise ValueError(f"{name} must be finite and {'>= 0' if allow_zero else '> 0'}, "
                         f"got {value!r}")
    return arr
