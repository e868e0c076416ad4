"""Tests of theory_rl.bounds: check_bound, fit_rate, Verdict, Puterman's bounds, MDP constants."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory_rl.algorithms import dp
from theory_rl.bounds import mdp_constants as mc
from theory_rl.bounds import puterman1994 as put
from theory_rl.bounds.rates import Verdict, check_bound, fit_rate
from theory_rl.mdps.tabular import TabularMDP


def small_mdp(S: int = 5, A: int = 3, gamma: float = 0.9, seed: int = 0) -> TabularMDP:
    rng = np.random.default_rng(seed)
    return TabularMDP(rng.dirichlet(np.ones(S), size=(S, A)), rng.random((S, A)), gamma)


# ------------------------------------------------------------------------------------------
# check_bound
# ------------------------------------------------------------------------------------------
def test_check_bound_holds_and_reports_worst_ratio_and_index():
    res = check_bound([1.0, 0.5, 0.45, 0.1], [1.0, 0.9, 0.5, 0.8])
    assert res.holds and bool(res)
    assert res.worst_ratio == pytest.approx(1.0)
    assert res.worst_index == 0
    assert res.n_checked == 4 and res.n_violations == 0 and res.first_violation is None
    res = check_bound([0.5, 0.5, 0.45, 0.1], [1.0, 0.9, 0.5, 0.8])
    assert res.worst_index == 2 and res.worst_ratio == pytest.approx(0.9)


def test_check_bound_is_one_sided_faster_passes():
    k = np.arange(50)
    assert check_bound(0.5**k, 0.9**k).holds


def test_check_bound_detects_a_single_violation():
    values = 0.9 ** np.arange(30)
    values[17] *= 1.01
    res = check_bound(values, 0.9 ** np.arange(30))
    assert not res.holds
    assert res.n_violations == 1 and res.first_violation == 17 and res.worst_index == 17
    assert res.worst_ratio == pytest.approx(1.01)
    assert "17" in res.describe()


def test_check_bound_tolerances():
    assert not check_bound([1.001], [1.0]).holds
    assert check_bound([1.001], [1.0], rtol=1e-3).holds
    assert check_bound([1.001], [1.0], atol=1e-3).holds
    assert not check_bound([1e-9], [0.0]).holds
    assert check_bound([1e-9], [0.0], atol=1e-8).holds
    with pytest.raises(ValueError, match="non-negative"):
        check_bound([1.0], [1.0], atol=-1.0)


def test_check_bound_nan_and_zero_bound():
    assert not check_bound([np.nan, 0.1], [1.0, 1.0]).holds
    res = check_bound([0.0, 1e-3], [0.0, 0.0])
    assert not res.holds and res.worst_ratio == math.inf and res.worst_index == 1
    assert check_bound([0.0, 0.0], [0.0, 0.0]).holds


def test_check_bound_broadcasts_and_reports_nd_index():
    v = np.zeros((3, 4))
    v[2, 1] = 2.0
    res = check_bound(v, 1.0)
    assert not res.holds and res.worst_index == (2, 1) and res.first_violation == (2, 1)
    with pytest.raises(ValueError, match="broadcast"):
        check_bound(np.zeros(3), np.zeros(4))
    empty = check_bound([], [])
    assert empty.holds and empty.n_checked == 0


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(1e-6, 1e6), min_size=1, max_size=30),
    st.floats(1e-6, 0.5),
)
def test_check_bound_property_scaling(values, delta):
    """A sequence meets itself as bound with ratio 1; inflating it by (1+delta) fails unless
    rtol >= delta."""
    v = np.array(values)
    res = check_bound(v, v)
    assert res.holds and res.worst_ratio == pytest.approx(1.0)
    assert not check_bound(v * (1 + delta), v, rtol=delta / 2).holds
    assert check_bound(v * (1 + delta), v, rtol=delta * (1 + 1e-9)).holds


# ------------------------------------------------------------------------------------------
# fit_rate
# ------------------------------------------------------------------------------------------
def test_fit_rate_recovers_exact_geometric_and_power_rates():
    k = np.arange(40)
    fit = fit_rate(k, 3.0 * 0.8**k)
    assert fit.kind == "geometric" and fit.rate == pytest.approx(0.8, rel=1e-12)
    assert fit.ci_low <= fit.slope <= fit.ci_high and fit.r_squared == pytest.approx(1.0)
    n = np.arange(1, 200)
    fit = fit_rate(n, 5.0 / np.sqrt(n), kind="power")
    assert fit.rate == pytest.approx(-0.5, rel=1e-12) and fit.n_points == 199


def test_fit_rate_window_and_dropped_points():
    k = np.arange(60)
    y = np.maximum(0.5**k, 1e-16)  # the floor after k ~ 53 would bias the slope
    assert fit_rate(k, y, window=(0, 40)).rate == pytest.approx(0.5, rel=1e-10)
    assert fit_rate(k, y, window=slice(0, 40)).n_points == 40
    y2 = 0.5**k
    y2[[3, 7]] = 0.0
    fit = fit_rate(k, y2)
    assert fit.n_points == 58 and fit.rate == pytest.approx(0.5, rel=1e-10)


def test_fit_rate_confidence_interval_coverage():
    """The t-interval covers the true slope in about 95% of noisy data sets."""
    rng = np.random.default_rng(12345)
    x = np.arange(30.0)
    true = math.log(0.9)
    hits = 0
    n = 400
    for _ in range(n):
        y = np.exp(1.0 + true * x + 0.2 * rng.standard_normal(x.size))
        fit = fit_rate(x, y, confidence=0.95)
        hits += fit.ci_low <= true <= fit.ci_high
    # Binomial(400, 0.95): sd 0.011; [0.91, 0.99] is +-3.6 sd.
    assert 0.91 <= hits / n <= 0.99


def test_fit_rate_replicates_use_their_spread():
    rng = np.random.default_rng(0)
    x = np.arange(1, 50.0)
    slopes = -1.0 + 0.05 * rng.standard_normal(8)
    y = np.exp(slopes[:, None] * np.log(x)[None, :])
    fit = fit_rate(x, y, kind="power")
    assert fit.n_replicates == 8
    assert fit.slope == pytest.approx(slopes.mean(), rel=1e-10)
    half = (fit.ci_high - fit.ci_low) / 2
    from scipy import stats

    expected = stats.t.ppf(0.975, 7) * slopes.std(ddof=1) / math.sqrt(8)
    assert half == pytest.approx(expected, rel=1e-8)


def test_fit_rate_input_errors():
    with pytest.raises(ValueError, match="kind"):
        fit_rate([1, 2, 3], [1, 2, 3], kind="linear")
    with pytest.raises(ValueError, match="positive x"):
        fit_rate([0, 1, 2], [1, 2, 3], kind="power")
    with pytest.raises(ValueError, match=r"\(K,\)"):
        fit_rate([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="2 distinct"):
        fit_rate([1, 1, 1], [1, 2, 3])
    two = fit_rate([0, 1], [1.0, 0.5])
    assert two.rate == pytest.approx(0.5) and two.ci_low == -math.inf


def test_verdict_to_dict_is_json_serialisable():
    v = Verdict(
        claim_id="c",
        paper="P (1994)",
        theorem="Thm 1",
        stated="x <= y",
        measured="0.5",
        holds=np.bool_(True),
        detail="d",
        metrics={"worst": np.float64(0.5), "inf": math.inf, "n": np.int64(3)},
    )
    with pytest.raises(TypeError):
        Verdict("c", "P", "T", "s", "m", True)  # keywords only
    d = v.to_dict()
    assert d["holds"] is True and isinstance(v.holds, bool)
    text = json.dumps(d)
    assert json.loads(text)["metrics"] == {"worst": 0.5, "inf": "inf", "n": 3}


# ------------------------------------------------------------------------------------------
# Puterman (1994)
# ------------------------------------------------------------------------------------------
def test_puterman_bound_values():
    np.testing.assert_allclose(put.vi_contraction_bound(2.0, 0.5, [0, 1, 3]), [2.0, 1.0, 0.25])
    assert put.policy_iteration_bound(4, 2) == 16
    assert put.policy_iteration_bound(50, 4) == 4**50  # exact int
    assert put.sup_norm_stopping_threshold(0.1, 0.9) == pytest.approx(0.1 * 0.1 / 1.8)
    assert put.span_stopping_threshold(0.1, 0.9) == pytest.approx(0.1 * 0.1 / 0.9)
    assert put.span_stopping_guarantee(put.span_stopping_threshold(0.3, 0.9), 0.9) == (
        pytest.approx(0.3),
        pytest.approx(0.15),
    )
    with pytest.raises(ValueError):
        put.vi_contraction_bound(1.0, 1.0, [0])
    with pytest.raises(ValueError):
        put.policy_iteration_bound(0, 2)


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
def test_macqueen_bounds_bracket_optimal_and_greedy_values(gamma):
    mdp = small_mdp(8, 3, gamma, seed=3)
    v_star = dp.policy_iteration(mdp).values
    floor = mc.value_error_floor(mdp)
    v = np.random.default_rng(1).uniform(-5, 5, 8)
    for _ in range(5):
        tv = dp.bellman_optimality_operator(mdp, v)
        lo, hi = put.macqueen_bounds(v, tv, gamma)
        v_pi = dp.policy_evaluation(mdp, dp.greedy_policy(mdp, v))
        assert np.all(lo <= v_pi + floor) and np.all(v_pi <= v_star + floor)
        assert np.all(v_star <= hi + floor)
        v = tv


# ------------------------------------------------------------------------------------------
# MDP constants
# ------------------------------------------------------------------------------------------
def power_series_occupancy(mdp: TabularMDP, pi: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """(1 - gamma) sum_t gamma^t rho P_pi^t, summed until gamma^t < 1e-17 (no linear solve)."""
    P_pi = np.einsum("sa,sat->st", pi, mdp.transitions)
    d, x, g = np.zeros(mdp.n_states), rho.copy(), 1.0
    while g > 1e-17:
        d += g * x
        x, g = x @ P_pi, g * mdp.gamma
    return (1 - mdp.gamma) * d


def test_effective_horizon_and_value_range():
    assert mc.effective_horizon(0.9) == pytest.approx(10.0)
    with pytest.raises(ValueError):
        mc.effective_horizon(1.0)
    mdp = small_mdp()
    lo, hi = mc.value_range(mdp)
    rng = np.random.default_rng(0)
    pis = rng.dirichlet(np.ones(3), size=(20, 5))
    vals = dp.policy_evaluation(mdp, pis)
    assert lo <= vals.min() and vals.max() <= hi


def test_mismatch_coefficient_matches_power_series():
    mdp = small_mdp(6, 2, 0.8, seed=4)
    pi = dp.policy_iteration(mdp).policy
    rho = np.full(6, 1 / 6)
    mu = np.random.default_rng(2).dirichlet(np.ones(6))
    d = power_series_occupancy(mdp, pi, rho)
    assert mc.mismatch_coefficient(mdp, mu) == pytest.approx(np.max(d / mu), rel=1e-12)
    assert mc.vartheta_rho(mdp) == pytest.approx(np.max(d / rho) / 0.2, rel=1e-12)
    assert mc.vartheta_rho(mdp) >= mc.effective_horizon(0.8)


def test_mismatch_is_infinite_when_mu_misses_the_support():
    mdp = small_mdp(5, 2, 0.9, seed=5)  # dense: every state is visited
    mu = np.array([0.5, 0.5, 0.0, 0.0, 0.0])
    assert mc.mismatch_coefficient(mdp, mu) == math.inf
    with pytest.raises(ValueError, match="sum to 1"):
        mc.mismatch_coefficient(mdp, np.full(5, 0.3))


def test_vartheta_equals_horizon_at_the_stationary_distribution():
    """d_rho^{pi*} = rho when rho is stationary for P_{pi*}, so vartheta = 1/(1-gamma)."""
    mdp = small_mdp(6, 3, 0.9, seed=6)
    pi = dp.policy_iteration(mdp).policy
    P_pi = np.einsum("sa,sat->st", pi, mdp.transitions)
    w, vecs = np.linalg.eig(P_pi.T)
    nu = np.real(vecs[:, np.argmin(np.abs(w - 1))])
    nu = np.abs(nu) / np.abs(nu).sum()
    assert mc.vartheta_rho(mdp, nu, policy=pi) == pytest.approx(10.0, rel=1e-9)


def test_concentrability_equals_brute_force_over_deterministic_policies():
    S, A = 4, 2
    mdp = small_mdp(S, A, 0.7, seed=7)
    mu = np.random.default_rng(3).dirichlet(np.ones(S))
    rho = mdp.initial_distribution
    best = 0.0
    for actions in itertools.product(range(A), repeat=S):
        pi = np.eye(A)[list(actions)]
        best = max(best, float(np.max(power_series_occupancy(mdp, pi, rho) / mu)))
    c = mc.concentrability(mdp, mu)
    assert c == pytest.approx(best, rel=1e-10)
    assert c >= mc.mismatch_coefficient(mdp, mu) * (1 - 1e-12)


def test_value_error_floor_covers_observed_round_off():
    mdp = small_mdp(10, 3, 0.99, seed=8)
    floor = mc.value_error_floor(mdp)
    assert 0 < floor < 1e-8
    v_pi = dp.policy_iteration(mdp).values
    v_vi = dp.value_iteration(mdp, tol=1e-12).values
    assert np.abs(v_pi - v_vi).max() <= 1e-12 / 2 + floor
