"""Tests of :mod:`theory_rl.testing`: verdicts on success, exact failure messages, bad input,
and that the checks use the same gate as the claims."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from theory_rl.bounds.rates import Verdict, check_rate, fit_rate, rate_excess
from theory_rl.testing import (
    RateCheckError,
    assert_bound,
    assert_monotone,
    assert_rate,
    assert_sample_complexity,
    verdict_of,
)

K = np.arange(40)
GAP = 2.0 * 0.8**K * (1 + 0.05 * np.sin(K))  # fitted rate 0.7999, interval width ~1e-3


def _fails(fn, *args, **kwargs) -> RateCheckError:
    with pytest.raises(RateCheckError) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, AssertionError)
    assert not info.value.verdict.holds
    assert str(info.value) == info.value.verdict.detail
    return info.value


# ---------------------------------------------------------------- assert_bound


def test_assert_bound_names_first_and_worst_iterate():
    err = _fails(assert_bound, [1.0, 0.5, 0.9, 0.3, 0.8], [1.0, 0.9, 0.8, 0.7, 0.5])
    assert str(err) == (
        "bound violated at 2 of 5 iterates (value <= bound * (1 + 0) + 0): "
        "first at iterate 2: value 0.9 > limit 0.8 (bound 0.8) by 0.1; "
        "worst at iterate 4: value 0.8 > limit 0.5 (bound 0.5) by 0.3"
    )
    assert err.verdict.metrics["first_violation"] == 2
    assert err.verdict.metrics["n_violations"] == 2


def test_assert_bound_tolerances_in_limit_and_message():
    v = assert_bound([1.0, 0.905], [1.0, 0.9], rtol=0.01, label="mine")
    assert v.holds and v.claim_id == "mine"
    assert v.measured == "holds at all 2 iterates; worst value / bound = 1.006 at iterate 1"
    err = _fails(assert_bound, [1.0, 0.95], [1.0, 0.9], rtol=0.01, atol=0.02)
    assert "(value <= bound * (1 + 0.01) + 0.02)" in str(err)
    assert "first at iterate 1: value 0.95 > limit 0.929 (bound 0.9) by 0.021" in str(err)


def test_assert_bound_nan_is_a_violation_and_empty_is_refused():
    err = _fails(assert_bound, [0.1, np.nan], [1.0, 1.0])
    assert "first at iterate 1: value nan" in str(err)
    with pytest.raises(ValueError, match="values is empty"):
        assert_bound([], [])
    with pytest.raises(ValueError, match="rtol and atol"):
        assert_bound([1.0], [1.0], atol=-1)


def test_assert_bound_2d_index():
    err = _fails(assert_bound, [[0.1, 0.2], [0.3, 2.0]], 1.0)
    assert "first at index (1, 1): value 2 > limit 1 (bound 1) by 1" in str(err)


# ---------------------------------------------------------------- assert_rate


def test_assert_rate_passes_and_returns_verdict():
    v = assert_rate(K, GAP, kind="geometric", rate=0.9)
    assert isinstance(v, Verdict) and v.holds
    assert v.measured == (
        "fitted geometric rate 0.7999, 90% CI [0.7992, 0.8006] (one-sided 95% lower bound 0.7992)"
    )
    assert v.stated == "geometric rate <= 0.9"
    assert v.metrics["rate"] == pytest.approx(0.7999, abs=1e-4)


def test_assert_rate_upper_failure_message():
    err = _fails(assert_rate, K, GAP, kind="geometric", rate=0.7)
    assert str(err) == (
        "fitted geometric rate 0.7999, 90% CI [0.7992, 0.8006] (one-sided 95% lower bound "
        "0.7992): the interval lies above the stated rate 0.7: its lower end 0.7992 exceeds "
        "0.7 by 0.09924 (40 points, R^2 0.9998)"
    )


def test_assert_rate_lower_and_two_sided_messages():
    err = _fails(assert_rate, K, GAP, rate=0.9, side="lower")
    assert str(err).startswith(
        "fitted geometric rate 0.7999, 90% CI [0.7992, 0.8006] (one-sided 95% upper bound "
        "0.8006): the interval lies below the stated rate 0.9: its upper end 0.8006 is below "
        "0.9 by 0.09943"
    )
    err = _fails(assert_rate, K, GAP, rate=0.75, side="two-sided")
    assert str(err).startswith(
        "fitted geometric rate 0.7999, 95% CI [0.7991, 0.8007]: the interval lies above the "
        "stated rate 0.75: its lower end 0.7991 exceeds 0.75 by 0.04911"
    )
    assert assert_rate(K, GAP, rate=0.8, side="two-sided").holds
    # rtol widens the stated rate multiplicatively: 0.8006 >= 0.9 / 1.2 = 0.75
    assert assert_rate(K, GAP, rate=0.9, side="lower", rtol=0.2).holds


def test_assert_rate_power_kind_and_window():
    n = np.geomspace(10, 1e4, 12)
    err = 3.0 * n**-0.5 * (1 + 0.02 * np.cos(np.arange(12)))
    assert assert_rate(n, err, kind="power", rate=-0.5, side="two-sided").holds
    e = _fails(assert_rate, n, err, kind="power", rate=-1.0)
    assert str(e).startswith("fitted power exponent -0.5")
    assert "the interval lies above the stated exponent -1" in str(e)
    # a floor reached near k = 24 spoils the fit (rate 0.8635) unless the window leaves it out
    floored = np.maximum(GAP, 1e-2)
    _fails(assert_rate, K, floored, rate=0.81)
    assert assert_rate(K, floored, rate=0.81, window=(0, 20)).holds


def test_assert_rate_refuses_checks_that_cannot_fail():
    with pytest.raises(ValueError, match="cannot form an interval"):
        assert_rate([0, 1], [1.0, 0.5], rate=0.5)
    with pytest.raises(ValueError, match=r"one-sided check must be in \(0.5, 1\)"):
        assert_rate(K, GAP, rate=0.9, confidence=0.4)
    with pytest.raises(ValueError, match="side must be"):
        assert_rate(K, GAP, rate=0.9, side="both")
    with pytest.raises(ValueError, match="stated must be a finite rate"):
        assert_rate(K, GAP, rate=-0.9)


def test_assert_rate_false_failure_rate_matches_confidence():
    """At the stated rate, a 95% one-sided check fails about 5% of the time (Gaussian noise on
    the log scale, the fit's model), and catches a stated rate 10% too fast nearly always."""
    rng = np.random.default_rng(0)
    k = np.arange(30)
    n_trials, fails, caught = 2000, 0, 0
    for _ in range(n_trials):
        y = 0.9**k * np.exp(0.3 * rng.standard_normal(30))
        fails += not verdict_of(assert_rate, k, y, rate=0.9).holds
        caught += not verdict_of(assert_rate, k, y, rate=0.81).holds
    # binomial(2000, 0.05): sd 0.0049; the band is +-4 sd
    assert abs(fails / n_trials - 0.05) < 0.02
    assert caught / n_trials > 0.99


# ---------------------------------------------------------------- sample complexity

SAMPLES = np.array([10.0, 100.0, 1000.0])
ERRORS = np.array([[1.0, 0.3, 0.1], [1.1, 0.35, 0.12], [0.9, 0.3, 0.11]])


def test_assert_sample_complexity_messages():
    v = assert_sample_complexity(SAMPLES, ERRORS, exponent=-0.5)
    assert v.holds
    assert v.measured == (
        "fitted exponent (mean of 3 per-seed log-log slopes) -0.4792, 90% CI [-0.516, -0.4423] "
        "(one-sided 95% lower bound -0.516)"
    )
    err = _fails(assert_sample_complexity, SAMPLES, ERRORS, exponent=-1.0)
    assert str(err) == (
        "fitted exponent (mean of 3 per-seed log-log slopes) -0.4792, 90% CI [-0.516, -0.4423] "
        "(one-sided 95% lower bound -0.516): the interval lies above the stated exponent -1: "
        "its lower end -0.516 exceeds -1 by 0.484 (3 points x 3 replicates, R^2 0.9994)"
    )


def test_assert_sample_complexity_interval_is_from_replicates():
    v = assert_sample_complexity(SAMPLES, ERRORS, exponent=-0.5)
    slopes = [np.polyfit(np.log(SAMPLES), np.log(row), 1)[0] for row in ERRORS]
    assert v.metrics["rate"] == pytest.approx(np.mean(slopes))
    from scipy import stats

    half = stats.t.ppf(0.95, 2) * np.std(slopes, ddof=1) / np.sqrt(3)
    assert v.metrics["ci_low"] == pytest.approx(np.mean(slopes) - half)


def test_assert_sample_complexity_bad_input():
    with pytest.raises(ValueError, match="needs >= 2"):
        assert_sample_complexity(SAMPLES, ERRORS[:1], exponent=-0.5)
    with pytest.raises(ValueError, match=r"errors must be \(n_seeds, n\)"):
        assert_sample_complexity(SAMPLES, ERRORS[0], exponent=-0.5)
    with pytest.raises(ValueError, match="samples must be positive"):
        assert_sample_complexity([0.0, 1.0, 2.0], ERRORS, exponent=-0.5)


# ---------------------------------------------------------------- assert_monotone


def test_assert_monotone_messages():
    err = _fails(assert_monotone, [1.0, 2.0, 1.5, 3.0, 2.0])
    assert str(err) == (
        "not non-decreasing (tol 0): 2 of 4 steps decrease by more than tol; first at "
        "iterate 2: 2 -> 1.5 (decrease 0.5, beyond tol by 0.5); worst at iterate 4: 3 -> 2 "
        "(decrease 1, beyond tol by 1)"
    )
    err = _fails(assert_monotone, [3.0, 2.0, 2.5, 1.0], increasing=False, tol=0.1)
    assert str(err) == (
        "not non-increasing (tol 0.1): 1 of 3 steps increase by more than tol; first at "
        "iterate 2: 2 -> 2.5 (increase 0.5, beyond tol by 0.4); worst at iterate 2: 2 -> 2.5 "
        "(increase 0.5, beyond tol by 0.4)"
    )
    v = assert_monotone([1.0, 0.99, 2.0], tol=0.02)
    assert (
        v.holds and v.measured == "non-decreasing at all 2 steps; largest decrease 0.01 (tol 0.02)"
    )
    with pytest.raises(ValueError, match="K >= 2"):
        assert_monotone([1.0])
    with pytest.raises(ValueError, match="tol must be non-negative"):
        assert_monotone([1.0, 2.0], tol=-1)


# ---------------------------------------------------------------- one implementation


def test_claim_rate_gate_and_assert_rate_agree():
    """rate_verdict (the claims' gate) and check_rate / assert_rate use rate_excess: on the same
    fit, the 'lower' gate of rate_verdict and the consistent upper check decide alike."""
    from theory_rl.experiments.base import Claim
    from theory_rl.experiments.checks import rate_verdict

    claim = Claim("t", "P", "T", "s", "value_iteration")
    fit = fit_rate(K, GAP)
    lo, hi = fit.rate_interval
    for stated in (0.79, 0.7995, 0.8, 0.81):
        table = pd.DataFrame({"rate": [fit.rate], "low": [lo], "high": [hi], "stated": [stated]})
        claims_gate = rate_verdict(table, claim, theorem="T", stated="s", gate="lower").holds
        assert claims_gate == check_rate(fit, stated, side="upper").holds
        assert claims_gate == verdict_of(assert_rate, K, GAP, rate=stated, confidence=0.975).holds


def test_rate_excess_table():
    args = dict(kind="geometric", rtol=0.0)
    assert rate_excess(0.8, 0.7, 0.9, 0.85, side="upper", gate="consistent", **args) < 0
    assert rate_excess(0.8, 0.7, 0.9, 0.85, side="upper", gate="significant", **args) > 0
    assert rate_excess(0.8, 0.7, 0.9, 0.85, side="upper", gate="estimate", **args) < 0
    assert rate_excess(0.8, 0.7, 0.9, 0.95, side="two-sided", gate="consistent", **args) > 0
    assert np.isnan(rate_excess(np.nan, 0.7, 0.9, 0.85, side="two-sided", gate="estimate", **args))
    with pytest.raises(ValueError, match="gate must be"):
        rate_excess(0.8, 0.7, 0.9, 0.85, side="upper", gate="median", **args)
