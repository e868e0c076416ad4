"""The shared argument checks: accepted values come back as Python scalars, others raise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theory_rl._checks import as_int, as_positive, as_real


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


@pytest.mark.parametrize(
    "value", ["0.9", b"0.9", True, np.bool_(True), None, 0.9 + 0j, np.array(0.9)]
)
def test_as_real_refuses_what_is_not_a_real_number(value):
    with pytest.raises(ValueError, match=r"gamma must be a real number in \[0, 1\), got "):
        as_real("gamma", value, minimum=0.0, maximum=1.0, open_maximum=True)


def test_as_real_intervals():
    assert type(as_real("x", np.float32(0.5))) is float and as_real("x", np.int64(3)) == 3.0
    assert as_real("g", 0, minimum=0, maximum=1, open_maximum=True) == 0.0
    assert as_real("x", -math.inf, finite=False) == -math.inf
    for kwargs, value, pattern in [
        (dict(minimum=0.0, maximum=1.0, open_maximum=True), 1.0, r"g must be in \[0, 1\), got 1.0"),
        (dict(minimum=0.0, open_minimum=True), 0.0, r"g must be > 0, got 0.0"),
        (dict(maximum=1.0), 1.5, r"g must be <= 1, got 1.5"),
        (dict(minimum=0.0, maximum=1.0, open_minimum=True), 0, r"g must be in \(0, 1\]"),
        ({}, math.inf, "g must be finite, got inf"),
        (dict(finite=False), math.nan, "g must be finite, got nan"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            as_real("g", value, **kwargs)


def test_as_positive_refuses_strings_it_used_to_parse():
    with pytest.raises(ValueError, match="tol must be a real number > 0, got '1e-8'"):
        as_positive("tol", "1e-8")


def test_as_positive_array_keeps_scalar_or_batch_shape_and_refuses_bad_kinds():
    from theory_rl._checks import as_positive_array

    assert as_positive_array("eta", 2).shape == ()
    np.testing.assert_array_equal(as_positive_array("eta", [0.5, 1.0]), [0.5, 1.0])
    assert as_positive_array("eta", np.array([0.0, 1.0]), allow_zero=True).dtype == np.float64
    for bad in ("0.5", [True, False], np.array(["1"]), np.ones((2, 2)), [], [1.0, np.nan]):
        with pytest.raises(ValueError, match="^eta must be"):
            as_positive_array("eta", bad)
    with pytest.raises(ValueError, match="^eta must be finite and > 0"):
        as_positive_array("eta", [1.0, 0.0])
