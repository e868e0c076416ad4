"""The shared argument checks: accepted values come back as Python scalars, others raise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theory_rl._checks import as_int, as_positive


def test_as_int_accepts_ints_at_or_above_the_minimum():
    assert as_int("n", 3) == 3 and type(as_int("n", np.int32(3))) is int
    assert as_int("m", 0, minimum=0) == 0


@pytest.mark.parametrize("value", [0, -2, True, 2.0, "3", None])
def test_as_int_refuses(value):
    with pytest.raises(ValueError, match=r"n must be an int >= 1, got "):
        as_int("n", value)


def test_as_positive():
    assert as_positive("eta", np.float32(0.5)) == 0.5
    assert as_positive("tol", 0, allow_zero=True) == 0.0
    for value, allow_zero, pattern in [
        (0.0, False, "eta must be > 0"),
        (-1e-300, True, "eta must be >= 0"),
        (math.inf, False, "eta must be > 0"),
        (math.nan, True, "eta must be >= 0"),
        ("x", False, "eta must be a real number"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            as_positive("eta", value, allow_zero=allow_zero)
