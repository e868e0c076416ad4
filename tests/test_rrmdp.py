"""Soft-robust and risk-sensitive MDPs, soft-robust PG, RFZI and R2 MDPs
(:mod:`theory_rl.algorithms.rrmdp`, :mod:`theory_rl.mdps.soft_robust`).

Ground truth from outside the family: scipy SLSQP / HiGHS on the primal inner problems, central
finite differences, Monte Carlo with a stated confidence, brute-force empirical models.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import masked_mdp_pair
from scipy import optimize, stats

from theory_rl.algorithms import dp, rrmdp
from theory_rl.algorithms.mirror import project_simplex
from theory_rl.algorithms.robust import inner_rows
from theory_rl.bounds import derman2021, zhang2024
from theory_rl.bounds.mdp_constants import RoundoffWarning
from theory_rl.mdps import TabularMDP, random_mdp
from theory_rl.mdps.robust import Chi2Penalty, KLPenalty, L1Ball, TVPenalty
from theory_rl.mdps.soft_robust import (
    Chi2Risk,
    EntropicRisk,
    R2Ball,
    TransitionDataset,
    TVRisk,
    risk_of,
    sample_dataset,
    zhang_ring,
)

pytestmark = pytest.mark.filterwarnings("ignore::theory_rl.bounds.mdp_constants.RoundoffWarning")


@pytest.fixture(scope="module")
def mdp():
    return random_mdp(5, 3, gamma=0.9, seed=3)


# ------------------------------------------------------------------------------------------
# problem types
# ------------------------------------------------------------------------------------------
def test_zhang_ring_matches_the_authors_kernel():
    ring = zhang_ring(0.15)
    P = ring.transitions
    assert ring.n_states == 14 and ring.n_actions == 3 and ring.gamma == 0.95
    # action a moves to s + a - 1 w.p. 1 - 2p, to s + a - 2 and s + a w.p. p (mod 14)
    assert P[0, 2, 1] == pytest.approx(0.7) and P[0, 2, 0] == pytest.approx(0.15)
    assert P[0, 2, 2] == pytest.approx(0.15) and P[0, 0, 13] == pytest.approx(0.7)
    assert P[0, 0, 12] == pytest.approx(0.15)
    np.testing.assert_allclose(ring.rewards[:, 0], ring.rewards[:, 2])
    assert ring.rewards[7, 1] == -10.0 and ring.rewards[8, 0] == 5.0
    with pytest.raises(ValueError, match="p"):
        zhang_ring(0.6)


def _primal(pb, y, lam, kind):
    """min_p p.y + lam D(p, pb) by SLSQP on the nominal support (outside ground truth)."""
    sup = pb > 0
    q, z = pb[sup], y[sup]

    def f(p):
        if kind == "kl":
            d = np.sum(np.where(p > 0, p * np.log(np.maximum(p, 1e-300) / q), 0.0))
        else:
            d = np.sum((p - q) ** 2 / q)
        return p @ z + lam * d

    res = optimize.minimize(
        f,
        q,
        method="SLSQP",
        bounds=[(0, 1)] * q.size,
        constraints=[{"type": "eq", "fun": lambda p: p.sum() - 1}],
        options={"ftol": 1e-14, "maxiter": 500},
    )
    return res.fun


@pytest.mark.parametrize("kind", ["kl", "chi2"])
def test_risk_measures_equal_the_primal_by_slsqp(kind):
    rng = np.random.default_rng(0)
    risk = EntropicRisk(1 / 0.7) if kind == "kl" else Chi2Risk(0.7)
    for _ in range(20):
        pb = rng.dirichlet(np.ones(6))
        pb[rng.integers(6)] = 0.0
        pb /= pb.sum()
        y = rng.uniform(0, 5, 6)
        got = float(risk.evaluate(pb[None], y[None])[0])
        assert got == pytest.approx(_primal(pb, y, 0.7, kind), abs=1e-6)


def test_tv_risk_equals_the_primal_lp():
    rng = np.random.default_rng(1)
    for support in ("nominal", "full"):
        for _ in range(20):
            n = 6
            pb = rng.dirichlet(np.ones(n))
            pb[0] = 0.0
            pb /= pb.sum()
            y = rng.uniform(0, 5, n)
            lam = 0.8
            # variables p (n), t (n) >= |p - pb|; min p.y + lam/2 sum t
            c = np.r_[y, np.full(n, lam / 2)]
            A_ub = np.block([[np.eye(n), -np.eye(n)], [-np.eye(n), -np.eye(n)]])
            b_ub = np.r_[pb, -pb]
            ub = [(0, None) if (support == "full" or pb[i] > 0) else (0, 0) for i in range(n)]
            res = optimize.linprog(
                c,
                A_ub=A_ub,
                b_ub=b_ub,
                A_eq=np.r_[np.ones(n), np.zeros(n)][None],
                b_eq=[1],
                bounds=ub + [(0, None)] * n,
                method="highs",
            )
            got = float(TVRisk(lam, support=support).evaluate(pb[None], y[None])[0])
            assert got == pytest.approx(res.fun, abs=1e-9)


@pytest.mark.parametrize(
    "pen", [KLPenalty(0.4), TVPenalty(0.4), TVPenalty(0.4, support="full"), Chi2Penalty(0.4)]
)
def test_risk_rows_equal_the_penalty_oracle_rows(pen):
    rng = np.random.default_rng(2)
    pb = rng.dirichlet(np.ones(7), size=200)
    pb[pb < 0.05] = 0.0
    pb /= pb.sum(axis=1, keepdims=True)
    y = rng.normal(size=(200, 7)) * 4
    np.testing.assert_allclose(
        risk_of(pen).evaluate(pb, y), inner_rows(pen, pb, y)[0], atol=1e-12, rtol=0
    )


def test_risk_measure_properties():
    """Monotone, translation equivariant, concave (a convex risk measure in reward form)."""
    rng = np.random.default_rng(4)
    pb = rng.dirichlet(np.ones(5), size=50)
    for risk in (EntropicRisk(2.0), TVRisk(0.5), Chi2Risk(0.5)):
        x, y = rng.normal(size=(50, 5)), rng.normal(size=(50, 5))
        sx, sy = risk.evaluate(pb, x), risk.evaluate(pb, y)
        np.testing.assert_allclose(risk.evaluate(pb, x + 1.5), sx + 1.5, atol=1e-12)
        assert np.all(risk.evaluate(pb, np.maximum(x, y)) >= np.maximum(sx, sy) - 1e-12)
        assert np.all(risk.evaluate(pb, 0.5 * (x + y)) >= 0.5 * (sx + sy) - 1e-12)
        assert np.all(sx <= (pb * x).sum(axis=1) + 1e-12)  # sigma <= expectation


def test_bad_input_names_the_field(mdp):
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="beta"):
            EntropicRisk(bad)
        with pytest.raises(ValueError, match="beta"):
            rrmdp.rfzi(mdp, beta=bad)
    with pytest.raises(ValueError, match="lam"):
        rrmdp.soft_robust_value_iteration(mdp, KLPenalty(np.ones((2, 2))))
    with pytest.raises(ValueError, match="beta"):
        rrmdp.risk_sensitive_value_iteration(mdp, EntropicRisk(np.ones((2, 2))))
    with pytest.raises(ValueError, match="penalty"):
        rrmdp.soft_robust_value_iteration(mdp, L1Ball(0.1))
    with pytest.raises(ValueError, match="risk"):
        rrmdp.risk_sensitive_value_iteration(mdp, KLPenalty(1.0))
    with pytest.raises(ValueError, match="p"):
        R2Ball(0.1, 0.1, p=0.5)
    with pytest.raises(ValueError, match="eta"):
        rrmdp.soft_robust_policy_gradient(mdp, KLPenalty(1.0), eta=-1.0, n_iterations=1)
    with pytest.raises(ValueError, match="gradient"):
        rrmdp.soft_robust_policy_gradient(mdp, KLPenalty(1.0), gradient="noisy")
    with pytest.raises(ValueError, match="batch"):
        rrmdp.soft_robust_policy_gradient([mdp, mdp], [KLPenalty(1.0)] * 3)


def test_dataset_validation(mdp):
    S, A = mdp.n_states, mdp.n_actions
    s = np.repeat(np.arange(S), A)
    a = np.tile(np.arange(A), S)
    TransitionDataset(s, a, np.zeros(S * A, int), mdp.rewards)
    with pytest.raises(ValueError, match=r"misses 1 \(s, a\) pairs, e.g. \(s, a\) = \(4, 2\)"):
        TransitionDataset(s[:-1], a[:-1], np.zeros(S * A - 1, int), mdp.rewards)
    with pytest.raises(ValueError, match=r"next_states\[3\] = 5 is out of range"):
        nxt = np.zeros(S * A, int)
        nxt[3] = 5
        TransitionDataset(s, a, nxt, mdp.rewards)
    with pytest.raises(ValueError, match="actions"):
        TransitionDataset(s, a.astype(float), np.zeros(S * A, int), mdp.rewards)
    with pytest.raises(ValueError, match="same length"):
        TransitionDataset(s, a, np.zeros(3, int), mdp.rewards)


# ------------------------------------------------------------------------------------------
# soft-robust and risk-sensitive operators
# ------------------------------------------------------------------------------------------
def test_two_routes_agree_for_every_penalty(mdp):
    rng = np.random.default_rng(5)
    pi = rng.dirichlet(np.ones(3), size=5)
    for pen in (KLPenalty(0.5), TVPenalty(0.5), Chi2Penalty(0.5)):
        a = rrmdp.soft_robust_value_iteration(mdp, pen, rtol=1e-13)
        b = rrmdp.risk_sensitive_value_iteration(mdp, risk_of(pen), rtol=1e-13)
        np.testing.assert_allclose(a.values, b.values, atol=1e-10, rtol=0)
        np.testing.assert_array_equal(np.argmax(a.policy, 1), np.argmax(b.policy, 1))
        pe = rrmdp.soft_robust_policy_evaluation(mdp, pen, pi, tol=1e-13)
        rs = rrmdp.risk_sensitive_value_iteration(mdp, risk_of(pen), policy=pi, rtol=1e-13)
        np.testing.assert_allclose(pe.values, rs.values, atol=1e-10, rtol=0)
        assert b.converged and "error_bound" in b.history


def test_kl_worst_kernel_is_the_exponential_tilt(mdp):
    lam = 0.6
    res = rrmdp.soft_robust_value_iteration(mdp, KLPenalty(lam), rtol=1e-13)
    v = np.asarray(res.values)
    tilt = mdp.transitions * np.exp(-(v - v.min()) / lam)
    tilt /= tilt.sum(axis=2, keepdims=True)
    np.testing.assert_allclose(res.params["worst_kernel"], tilt, atol=1e-12)
    # fixed point: V = max_a r + gamma (-lam log E exp(-V/lam))
    q = mdp.rewards - mdp.gamma * lam * np.log(mdp.transitions @ np.exp(-v / lam))
    np.testing.assert_allclose(q.max(axis=1), v, atol=1e-10)


def test_markov_risk_differs_for_randomising_policies_only(mdp):
    risk = EntropicRisk(2.0)
    det = np.eye(3)[[0, 1, 2, 0, 1]]
    rnd = np.full((5, 3), 1 / 3)
    v = np.linspace(0, 3, 5)
    for nesting, close in (("action", True), ("joint", True)):
        a = rrmdp.risk_bellman_operator(mdp, risk, v, policy=det, nesting=nesting)
        b = rrmdp.soft_robust_bellman_operator(mdp, KLPenalty(0.5), v, policy=det)
        assert np.allclose(a, b, atol=1e-12) == close
    a = rrmdp.risk_bellman_operator(mdp, risk, v, policy=rnd, nesting="joint")
    b = rrmdp.soft_robust_bellman_operator(mdp, KLPenalty(0.5), v, policy=rnd)
    assert np.abs(a - b).max() > 1e-3
    with pytest.raises(ValueError, match="nesting"):
        rrmdp.risk_bellman_operator(mdp, risk, v, nesting="joint")
    with pytest.raises(ValueError, match="support"):
        rrmdp.risk_bellman_operator(
            mdp, TVRisk(1.0, support="full"), v, policy=rnd, nesting="joint"
        )


# ------------------------------------------------------------------------------------------
# policy gradient
# ------------------------------------------------------------------------------------------
def _objective(m, pen, pi):
    b = rrmdp._Batch([m], [pen], None)
    return float(b.rho[0] @ b.evaluate(pi[None], np.zeros((1, m.n_states)))["v"][0])


@pytest.mark.parametrize("pen", [KLPenalty(0.5), Chi2Penalty(0.5)])
def test_pg_theorem_against_central_differences(mdp, pen):
    pi = 0.5 * np.random.default_rng(6).dirichlet(np.ones(3), size=5) + 0.5 / 3
    g = rrmdp.soft_robust_pg_gradient(mdp, pen, pi)
    fd = np.zeros_like(pi)
    for s in range(5):
        for a in range(3):
            e = np.zeros_like(pi)
            e[s, a] = 1e-6
            fd[s, a] = (_objective(mdp, pen, pi + e) - _objective(mdp, pen, pi - e)) / 2e-6
    assert np.abs(g - fd).max() / np.abs(g).max() < 1e-5


def test_pg_step_is_the_projection_by_hand():
    pi = np.array([[0.5, 0.5, 0.0]])
    g = np.array([[1.0, 0.0, 0.0]])
    # pi + 0.5 g = (1, 0.5, 0): projection subtracts theta = 0.25 on the top two
    np.testing.assert_allclose(rrmdp.soft_robust_pg_step(pi, g, eta=0.5), [[0.75, 0.25, 0.0]])
    np.testing.assert_allclose(
        rrmdp.soft_robust_pg_step(pi, g, eta=0.5), project_simplex(pi + 0.5 * g)
    )


def test_pg_optimum_is_a_fixed_point_and_the_gap_vanishes(mdp):
    pen = KLPenalty(0.5)
    v_star = rrmdp.soft_robust_optimum(mdp, pen)
    pi_star = np.asarray(rrmdp.soft_robust_value_iteration(mdp, pen, rtol=1e-12).policy)
    g = rrmdp.soft_robust_pg_gradient(mdp, pen, pi_star)
    np.testing.assert_allclose(rrmdp.soft_robust_pg_step(pi_star, g, eta=0.1), pi_star, atol=1e-12)
    res = rrmdp.soft_robust_policy_gradient(
        mdp, pen, initial_policy=pi_star, n_iterations=2, reference=v_star
    )
    assert abs(res.history["gap"]).max() < 1e-12


def test_batched_pg_equals_separate_runs():
    mdps = [zhang_ring(0.01), zhang_ring(0.15)]
    pens = [KLPenalty(1.0), KLPenalty(1 / 3)]
    batch = rrmdp.soft_robust_policy_gradient(mdps, pens, n_iterations=15, record=("gap",))
    assert batch.history["gap"].shape == (2, 16) and batch.policy.shape == (2, 14, 3)
    for j in range(2):
        one = rrmdp.soft_robust_policy_gradient(mdps[j], pens[j], n_iterations=15, record=("gap",))
        np.testing.assert_allclose(batch.history["gap"][j], one.history["gap"], atol=1e-10)


def _sampled_gradient(m, pen, pi, n, seed, kernel="adversarial"):
    b = rrmdp._Batch([m], [pen], None)
    ev = b.evaluate(pi[None], np.zeros((1, m.n_states)))
    if kernel == "nominal":  # Remark 4's mistake: trajectories of the nominal kernel
        ev = dict(ev, worst=b.P2.copy())
    return rrmdp._sampled_gradient(b, pi[None], ev, n, np.random.default_rng(seed))[0][0]


def test_sampled_gradient_is_unbiased_and_nominal_samples_are_not():
    """z-test per entry over 30 independent batch means (Bonferroni over the 15 entries,
    family-wise level 1e-3): the adversarial-kernel estimator passes, the nominal one fails."""
    m = random_mdp(5, 3, gamma=0.8, seed=7)
    pen = KLPenalty(0.3)
    pi = np.random.default_rng(8).dirichlet(np.ones(3), size=5)
    g = rrmdp.soft_robust_pg_gradient(m, pen, pi)
    z_crit = stats.norm.ppf(1 - 1e-3 / (2 * g.size))

    def zmax(kernel):
        reps = np.stack([_sampled_gradient(m, pen, pi, 4000, s, kernel) for s in range(30)])
        se = reps.std(axis=0, ddof=1) / np.sqrt(reps.shape[0])
        return float((np.abs(reps.mean(axis=0) - g) / se).max())

    assert zmax("adversarial") < z_crit
    assert zmax("nominal") > z_crit


def test_sampled_pg_counts_samples_and_improves(mdp):
    res = rrmdp.soft_robust_policy_gradient(
        mdp,
        KLPenalty(0.5),
        gradient="sampled",
        n_trajectories=300,
        n_iterations=20,
        seed=0,
        eta=0.05,
        record=("gap", "samples"),
    )
    s = res.history["samples"]
    assert s[0] > 0 and np.all(np.diff(s) > 0)
    assert res.history["gap"][-1] < res.history["gap"][0]


# ------------------------------------------------------------------------------------------
# RFZI
# ------------------------------------------------------------------------------------------
def test_rfzi_step_by_hand(mdp):
    beta = 0.7
    z = np.random.default_rng(9).uniform(0.2, 1.0, (5, 3))
    data = sample_dataset(mdp, 4, seed=1)
    target = np.exp(-mdp.gamma * (beta * mdp.rewards - np.log(z)).max(axis=1))
    expected = np.zeros((5, 3))
    for s, a, s2 in zip(data.states, data.actions, data.next_states, strict=True):
        expected[s, a] += target[s2] / 4
    np.testing.assert_allclose(rrmdp.rfzi_step(z, data, beta=beta, gamma=mdp.gamma), expected)
    exact = rrmdp.rfzi_step(z, mdp, beta=beta)
    np.testing.assert_allclose(exact, mdp.transitions @ target)


def test_rfzi_fixed_point_is_the_empirical_soft_robust_optimum(mdp):
    beta = 1.5
    data = sample_dataset(mdp, 7, seed=2)
    S, A = mdp.n_states, mdp.n_actions
    P = np.zeros((S, A, S))
    np.add.at(P, (data.states, data.actions, data.next_states), 1.0 / 7)
    empirical = TabularMDP(P, mdp.rewards, mdp.gamma)
    res = rrmdp.rfzi(data, beta=beta, n_iterations=400, tol=1e-15)
    pen = rrmdp.rfzi_penalty(beta, mdp.gamma)
    v = rrmdp.soft_robust_optimum(empirical, pen)
    np.testing.assert_allclose(res.values, v, atol=1e-10)
    q = np.asarray(res.q_values)
    np.testing.assert_array_equal(np.argmax(res.policy, 1), q.argmax(1))  # greedy on r - log Z / b
    np.testing.assert_allclose(res.params["z"], np.exp(beta * (mdp.rewards - q)))


def test_rfzi_exact_model_contracts_at_gamma(mdp):
    res = rrmdp.rfzi(mdp, beta=2.0, n_iterations=80, record=("q_error",))
    e = res.history["q_error"]
    assert np.all(e[1:] <= mdp.gamma * e[:-1] + 1e-12)
    assert e[-1] < 1e-2 * e[0]


def test_rfzi_function_class_interface(mdp):
    class Shrunk(rrmdp.TabularClass):
        """A class whose fit is not the mean: RFZI must use it."""

        def fit(self, states, actions, targets, n_states, n_actions):
            return 0.5 * super().fit(states, actions, targets, n_states, n_actions)

    data = sample_dataset(mdp, 3, seed=0)
    a = rrmdp.rfzi(data, beta=1.0, n_iterations=1)
    b = rrmdp.rfzi(data, beta=1.0, n_iterations=1, function_class=Shrunk())
    np.testing.assert_allclose(b.params["z"], 0.5 * a.params["z"])
    assert b.params["function_class"] == "Shrunk"


# ------------------------------------------------------------------------------------------
# R2 MDPs
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
def test_r2_regulariser_equals_the_inner_solves(mdp, p):
    rng = np.random.default_rng(10)
    ball = R2Ball(rng.uniform(0, 0.2, (5, 3)), rng.uniform(0, 0.01, (5, 3)), p=p)
    v = rng.normal(size=5)
    pi = rng.dirichlet(np.ones(3), size=5)
    tol = 1e-10 if p != 2.0 else 1e-7
    for policy in (None, pi):
        a = rrmdp.r2_bellman_operator(mdp, ball, v, policy=policy)
        b = rrmdp.r2_robust_bellman_operator(mdp, ball, v, policy=policy)
        np.testing.assert_allclose(a, b, atol=tol, rtol=0)


def test_r2_value_iteration_and_its_guard(mdp):
    ball = R2Ball(0.1, 0.02, p=2)
    res = rrmdp.r2_value_iteration(mdp, ball)
    L = rrmdp.r2_contraction_modulus(mdp, ball)
    assert L == pytest.approx(derman2021.r2_modulus(0.9, 0.02, 5, 2.0))
    v = np.asarray(res.values)
    np.testing.assert_allclose(rrmdp.r2_bellman_operator(mdp, ball, v), v, atol=1e-10)
    nominal = np.asarray(dp.value_iteration(mdp, rtol=1e-12).values)
    assert np.all(v < nominal)  # the adversary only lowers values
    with pytest.raises(ValueError, match="beta"):
        rrmdp.r2_value_iteration(mdp, R2Ball(0.0, 0.5, p=1))


# ------------------------------------------------------------------------------------------
# bounds by hand
# ------------------------------------------------------------------------------------------
def test_bounds_by_hand():
    # (e^{1*0.9*2} - 1)/(1 * 0.1) * sqrt(log(2*18/0.01)/(2*100))
    hand = (math.exp(1.8) - 1) / 0.1 * math.sqrt(math.log(3600) / 200)
    got = zhang2024.rfzi_error_bound(
        100, 10, beta=1.0, gamma=0.9, value_span=2.0, n_pairs=18, delta=0.01, initial_error=3.0
    )
    assert float(got) == pytest.approx(0.9**10 * 3.0 + hand, rel=1e-14)
    assert zhang2024.pg_rate_exponent() == -0.5
    assert derman2021.r2_modulus(0.9, 0.1, 4, 2.0) == pytest.approx(0.9 * 1.2)
    assert derman2021.r2_modulus(0.9, 0.1, 4, math.inf) == pytest.approx(0.99)
    assert derman2021.r2_fixed_point_error(1e-3, 0.9) == pytest.approx(1e-2)
    with pytest.raises(ValueError):
        zhang2024.rfzi_statistical_term(0, beta=1, gamma=0.9, value_span=1, n_pairs=1, delta=0.1)


def test_no_roundoff_warning_leaks_from_the_optimum(mdp):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RoundoffWarning)
        rrmdp.soft_robust_optimum(mdp, KLPenalty(1.0))


@pytest.mark.parametrize("scale", [5.0, 5000.0])  # 5000: shared weights underflow, row fallback
def test_kl_sweep_kernels_equal_the_oracle_path(monkeypatch, scale):
    from theory_rl.mdps import garnet

    m = garnet(40, 4, 3, gamma=0.9, seed=1)
    rng = np.random.default_rng(0)
    v = rng.normal(size=40) * scale
    for lam in (0.1, rng.uniform(0.1, 2.0, (40, 4))):  # shared weight, then per-row weights
        fast = rrmdp.soft_robust_bellman_operator(m, KLPenalty(lam), v)
        monkeypatch.setattr(rrmdp, "USE_KL_KERNEL", False)
        slow = rrmdp.soft_robust_bellman_operator(m, KLPenalty(lam), v)
        monkeypatch.setattr(rrmdp, "USE_KL_KERNEL", True)
        np.testing.assert_allclose(fast, slow, rtol=1e-14, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_operators_are_monotone_gamma_contractions(seed):
    """Both routes: ||Tv - Tw|| <= gamma ||v - w||, v <= w implies Tv <= Tw, T(v + c) = Tv +
    gamma c, for the optimal and a policy's operator."""
    m = random_mdp(6, 3, gamma=0.85, seed=seed)
    rng = np.random.default_rng(seed)
    pi = rng.dirichlet(np.ones(3), size=6)
    for pen in (KLPenalty(0.4), TVPenalty(0.4), Chi2Penalty(0.4)):
        for op in (
            lambda v, p=pen, pol=None: rrmdp.soft_robust_bellman_operator(m, p, v, policy=pol),
            lambda v, p=pen, pol=None: rrmdp.risk_bellman_operator(m, risk_of(p), v, policy=pol),
        ):
            for pol in (None, pi):
                v, w = rng.normal(size=6) * 3, rng.normal(size=6) * 3
                tv, tw = op(v, pol=pol), op(w, pol=pol)
                assert np.abs(tv - tw).max() <= m.gamma * np.abs(v - w).max() + 1e-12
                assert np.all(op(np.maximum(v, w), pol=pol) >= np.maximum(tv, tw) - 1e-12)
                np.testing.assert_allclose(op(v + 2.0, pol=pol), tv + 2.0 * m.gamma, atol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_kl_value_iteration_kernel_equals_the_oracle_path(monkeypatch, sparse):
    from theory_rl.mdps import garnet

    m = garnet(30, 4, 3, gamma=0.9, seed=2, sparse=sparse)
    for lam in (0.3, np.random.default_rng(0).uniform(0.2, 2.0, (30, 4))):
        fast = rrmdp.soft_robust_value_iteration(m, KLPenalty(lam), rtol=1e-12)
        monkeypatch.setattr(rrmdp, "USE_KL_KERNEL", False)
        slow = rrmdp.soft_robust_value_iteration(m, KLPenalty(lam), rtol=1e-12)
        monkeypatch.setattr(rrmdp, "USE_KL_KERNEL", True)
        assert fast.n_iterations == slow.n_iterations and fast.converged
        np.testing.assert_allclose(fast.values, slow.values, atol=1e-12)
        np.testing.assert_allclose(fast.q_values, slow.q_values, atol=1e-12)
        fw, sw = fast.params["worst_kernel"], slow.params["worst_kernel"]
        if sparse:
            fw, sw = fw.toarray(), sw.toarray()
        np.testing.assert_allclose(fw, sw, atol=1e-13)


def test_action_masks():
    """Infeasible actions (reward ``-inf``, transition rows all zero): risk-sensitive VI (optimal,
    a policy's, joint nesting), soft-robust VI and the soft-robust policy gradient equal the
    same problems with those actions feasible but rewarded -50 (never worth taking), and put
    no mass on them; the exact gradient is 0 there."""
    mdp, free, mask = masked_mdp_pair()
    pi = mask / mask.sum(axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no 0 * -inf anywhere
        for risk in (EntropicRisk(2.0), TVRisk(0.3), Chi2Risk(1.0)):
            for kw in ({}, {"policy": pi}, {"policy": pi, "nesting": "joint"}):
                if kw.get("nesting") == "joint" and not isinstance(risk, EntropicRisk):
                    continue
                got = rrmdp.risk_sensitive_value_iteration(mdp, risk, tol=1e-10, **kw)
                want = rrmdp.risk_sensitive_value_iteration(free, risk, tol=1e-10, **kw)
                np.testing.assert_allclose(got.values, want.values, atol=1e-9)
                assert np.asarray(got.policy)[~mask].max() == 0.0
        for pen in (KLPenalty(0.5), TVPenalty(0.3), Chi2Penalty(0.5)):
            got = rrmdp.soft_robust_value_iteration(mdp, pen, tol=1e-10)
            want = rrmdp.soft_robust_value_iteration(free, pen, tol=1e-10)
            np.testing.assert_allclose(got.values, want.values, atol=1e-9)
        res = rrmdp.soft_robust_policy_gradient(mdp, KLPenalty(0.5), n_iterations=300)
        assert np.asarray(res.policy)[~mask].max() == 0.0
        assert abs(res.history["gap"][-1]) <= 1e-9
        grad = rrmdp.soft_robust_pg_gradient(mdp, KLPenalty(0.5), pi)
        assert np.isfinite(grad).all() and np.all(grad[~mask] == 0.0)
