"""The DP and PMD claims have power: each planted bug makes at least one verdict fail.

Every test runs a claim's ``compute`` on a small part of its quick grid with one bug
monkeypatched in (into the algorithm module the claim calls through its attribute, into a pure
step, or into the bound function in the claim's namespace), and asserts that some verdict fails;
a companion test runs the same grid without the bug and asserts that every verdict holds.

Bugs: a squared or dropped discount (value iteration, policy evaluation, PMD's action values),
a bound made more optimistic (``gamma^(k+1)`` for ``gamma^k``, ``gamma^(2k)`` in Johnson et
al.'s bound, a floor 10x too small, a squared GPMD rate), wrong step schedules
(``eta_0 gamma^k`` for ``eta_0 / gamma^k``), a larger error than stated (``U[-3b, 3b]``), a
biased sample mean (returns summed and divided by ``n + 1``) and a policy iteration that
switches one state at a time.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from theory_rl.algorithms import dp, pmd, sampling
from theory_rl.algorithms.exact import ExactEvaluator
from theory_rl.bounds import johnson2023
from theory_rl.experiments.claims.dp import pi_monotone, vi_contraction, vi_stopping
from theory_rl.experiments.claims.pmd import (
    pmd_gpmd,
    pmd_inexact,
    pmd_johnson,
    pmd_rates,
    pmd_sampled,
    pmd_xiao,
)
from theory_rl.experiments.sweep import SerialExecutor, run_sweep
from theory_rl.result import SolveResult

REAL_VI = dp.value_iteration
REAL_PI = dp.policy_iteration
REAL_PMD = pmd.policy_mirror_descent
REAL_ESTIMATE_Q = sampling.estimate_q
REAL_PERTURBATION = pmd._perturbation


def verdicts(module, grid):
    return module.check(run_sweep(grid, module.compute, executor=SerialExecutor()))


def pick(grid, **where):
    return [c for c in grid if all(c.get(k) == v for k, v in where.items())]


def assert_caught(module, grid):
    vs = verdicts(module, grid)
    assert not all(v.holds for v in vs), [v.measured for v in vs]
    return vs


def assert_holds(module, grid):
    vs = verdicts(module, grid)
    assert all(v.holds for v in vs), [v.detail for v in vs if not v.holds]
    return vs


def squared_discount(mdp):
    return dataclasses.replace(mdp, gamma=mdp.gamma**2)


class UndiscountedQ(ExactEvaluator):
    """Exact evaluation with the discount dropped from the action values: ``Q = r + P V``."""

    def action_values(self, v):
        return self.r + self.xp.matmul(self.P, v[..., None, :, None])[..., 0]


def patch_step(monkeypatch, factor):
    """Multiply PMD's step ``eta_k`` by ``factor(k, gamma)`` inside the prox (pure step)."""
    state = {"k": 0, "gamma": 0.0}

    def driver(mdp, **kw):
        first = mdp[0] if isinstance(mdp, (list, tuple)) else mdp
        state.update(k=0, gamma=first.gamma)
        return REAL_PMD(mdp, **kw)

    def wrap(prox):
        def broken(x, q, eta):
            out = prox(x, q, eta * factor(state["k"], state["gamma"]))
            state["k"] += 1
            return out

        return broken

    monkeypatch.setattr(pmd, "policy_mirror_descent", driver)
    monkeypatch.setattr(pmd, "kl_prox_log", wrap(pmd.kl_prox_log))
    monkeypatch.setattr(pmd, "euclidean_prox", wrap(pmd.euclidean_prox))


def geometric_shrinks(k, gamma):  # eta_0 gamma^k in place of eta_0 / gamma^k
    return gamma ** (2 * k)


# ------------------------------------------------------------------------------------------
# value iteration
# ------------------------------------------------------------------------------------------
def undiscounted_vi(mdp, *, tol=1e-8, max_iterations=2000, initial_values=None, callback=None):
    """Value iteration with the discount dropped from the update, ``v <- max_a r + P v``, and
    the span stopping rule of the real one (midpoint values, greedy policy)."""
    P, r, g = mdp.to_dense().transitions, mdp.rewards, mdp.gamma
    v = np.zeros(mdp.n_states) if initial_values is None else np.array(initial_values, float)
    done, k = False, 0
    for k in range(1, max_iterations + 1):
        q = r + P @ v
        new = q.max(axis=1)
        d = new - v
        policy = q.argmax(axis=1)
        if callback is not None:
            callback(SolveResult(policy, new, None, k, False, "in progress"))
        done = g * (d.max() - d.min()) / (1 - g) <= tol
        v = new
        if done:
            v = v + g * (d.max() + d.min()) / (2 * (1 - g))
            break
    return SolveResult(policy, v, None, k, done, "undiscounted VI")


VI_GRID = pick(vi_contraction.QUICK_GRID, gamma=0.9, replicate=0)
STOP_GRID = pick(vi_stopping.QUICK_GRID, gamma=0.9, replicate=0)


def test_vi_grids_hold_without_a_bug():
    assert len(pick(VI_GRID, init="offset")) == 3
    assert_holds(vi_contraction, VI_GRID)
    assert_holds(vi_stopping, STOP_GRID)


@pytest.mark.parametrize("module, grid", [(vi_contraction, VI_GRID), (vi_stopping, STOP_GRID)])
def test_vi_claims_catch_a_squared_discount(monkeypatch, module, grid):
    monkeypatch.setattr(
        dp, "value_iteration", lambda mdp, **kw: REAL_VI(squared_discount(mdp), **kw)
    )
    assert_caught(module, grid)


@pytest.mark.parametrize("module, grid", [(vi_contraction, VI_GRID), (vi_stopping, STOP_GRID)])
def test_vi_claims_catch_a_dropped_discount(monkeypatch, module, grid):
    monkeypatch.setattr(dp, "value_iteration", undiscounted_vi)
    assert_caught(module, grid)


def test_vi_contraction_catches_a_bound_one_power_of_gamma_too_optimistic(monkeypatch):
    """gamma^(k+1) for gamma^k: the start V* + c attains gamma^k exactly, so this fails."""
    real = vi_contraction.vi_contraction_bound
    monkeypatch.setattr(
        vi_contraction, "vi_contraction_bound", lambda e0, g, k: real(e0, g, np.asarray(k) + 1)
    )
    first, _ = assert_caught(vi_contraction, pick(VI_GRID, init="offset"))
    assert not first.holds


def test_vi_stopping_catches_a_stopping_constant_too_optimistic(monkeypatch):
    """Stop at gamma^2 sp/(1-gamma) <= tol (one power of gamma short of the rule)."""
    monkeypatch.setattr(
        dp, "value_iteration", lambda mdp, *, tol, **kw: REAL_VI(mdp, tol=tol / mdp.gamma, **kw)
    )
    assert_caught(vi_stopping, STOP_GRID)


# ------------------------------------------------------------------------------------------
# policy iteration
# ------------------------------------------------------------------------------------------
PI_GRID = pick(pi_monotone.QUICK_GRID, n_states=8, replicate=0)


def one_switch_pi(mdp, *, initial_policy=None, callback=None, **kw):
    """Policy iteration that switches only the most improvable state per iteration (the
    claim's own run: the reference ``V*``, solved without a start, uses the real one)."""
    if initial_policy is None:
        return REAL_PI(mdp, **kw)
    actions = np.array(initial_policy, dtype=int)
    k = 0
    while True:
        v = dp.policy_evaluation(mdp, actions)
        if callback is not None:
            callback(SolveResult(actions, v, None, k, False, "in progress"))
        q = dp.q_values(mdp, v)
        gain = q.max(axis=1) - v
        if gain.max() <= 1e-12 * max(1.0, np.abs(v).max()):
            return SolveResult(actions, v, None, k, True, "one-switch PI")
        s = int(gain.argmax())
        actions[s] = int(q[s].argmax())
        k += 1


def test_pi_grid_holds_without_a_bug():
    assert pick(PI_GRID, family="switch_chain")
    assert_holds(pi_monotone, PI_GRID)


def test_pi_monotone_catches_a_squared_discount_in_evaluation(monkeypatch):
    def squared(mdp, **kw):  # the claim's run (with a callback); the reference stays exact
        return REAL_PI(squared_discount(mdp) if "callback" in kw else mdp, **kw)

    monkeypatch.setattr(dp, "policy_iteration", squared)
    vs = assert_caught(pi_monotone, PI_GRID)
    assert not vs[1].holds  # not optimal for the real discount


def test_pi_monotone_catches_one_switch_per_iteration(monkeypatch):
    """Monotone and finally optimal, but slower than value iteration: the third verdict."""
    monkeypatch.setattr(dp, "policy_iteration", one_switch_pi)
    vs = assert_caught(pi_monotone, PI_GRID)
    assert vs[0].holds and not vs[2].holds


# ------------------------------------------------------------------------------------------
# PMD: Xiao, Johnson, rates
# ------------------------------------------------------------------------------------------
XIAO = pick(pmd_xiao.QUICK_GRID, family="random", mirror="kl")
XIAO = pick(XIAO, theorem="thm8", eta=1.0) + pick(XIAO, theorem="thm10", eta=0.01)
JOHNSON = pick(pmd_johnson.QUICK_GRID, family="switch_chain", c0=0.01) + pick(
    pmd_johnson.QUICK_GRID, family="random", mirror="kl"
)
RATES = [
    {**c, "n_instances": 2}
    for c in pmd_rates.QUICK_GRID
    if c["family"] == "random" and c["n_states"] == 10 and c["gamma"] in (0.8, 0.95)
]


def test_pmd_grids_hold_without_a_bug():
    assert_holds(pmd_xiao, XIAO)
    assert_holds(pmd_johnson, JOHNSON)
    assert_holds(pmd_rates, RATES)


def test_xiao_catches_a_shrinking_geometric_step(monkeypatch):
    patch_step(monkeypatch, geometric_shrinks)
    vs = assert_caught(pmd_xiao, XIAO)
    assert not vs[1].holds  # Thm 10


def test_rates_catch_a_shrinking_geometric_step(monkeypatch):
    patch_step(monkeypatch, geometric_shrinks)
    vs = assert_caught(pmd_rates, RATES)
    assert not vs[0].holds


TRAP = {"family": "cash_or_wait"}  # its optimal action is decided by the discount alone


@pytest.mark.parametrize(
    "module, grid",
    [
        (pmd_xiao, pick(pmd_xiao.QUICK_GRID, **TRAP)),
        (pmd_johnson, pick(pmd_johnson.QUICK_GRID, **TRAP)),
        (pmd_rates, RATES),
    ],
)
def test_pmd_claims_catch_a_dropped_discount_in_evaluation(monkeypatch, module, grid):
    assert_holds(module, grid)
    monkeypatch.setattr(pmd, "ExactEvaluator", UndiscountedQ)
    assert_caught(module, grid)


def test_johnson_catches_gamma_to_the_2k(monkeypatch):
    """The switch chain attains the gamma-rate, so a gamma^(2k) bound fails there."""

    def optimistic(k, *, gamma, sup_gap0, c, b=0.0):
        k = np.asarray(k)
        g = float(gamma)
        t = np.arange(1, np.asarray(c).size + 1)
        partial = np.concatenate(([0.0], np.cumsum(np.asarray(c) * g ** (-t.astype(float)))))
        return g ** (2 * k) * (sup_gap0 + partial[k] / (1 - g)) + johnson2023.inexact_floor(b, g)

    monkeypatch.setattr(johnson2023, "adaptive_bound", optimistic)
    assert_caught(pmd_johnson, pick(JOHNSON, family="switch_chain"))


def test_johnson_catches_an_adaptive_step_shrunk_by_gamma_k(monkeypatch):
    patch_step(monkeypatch, lambda k, gamma: gamma**k * 1e-3)
    assert_caught(pmd_johnson, JOHNSON)


# ------------------------------------------------------------------------------------------
# inexact PMD
# ------------------------------------------------------------------------------------------
INEXACT = pick(pmd_inexact.QUICK_GRID, family="bandit") + pick(
    pmd_inexact.QUICK_GRID, family="random", mirror="kl", model="uniform"
)


def test_inexact_grid_holds_without_a_bug():
    vs = assert_holds(pmd_inexact, INEXACT)
    assert vs[1].metrics["worst_ratio"] > 0.2  # the bandit with margin 1.9b nearly attains it


def test_inexact_catches_a_floor_ten_times_too_small(monkeypatch):
    real = johnson2023.inexact_floor
    monkeypatch.setattr(johnson2023, "inexact_floor", lambda b, gamma: 0.1 * real(b, gamma))
    vs = assert_caught(pmd_inexact, INEXACT)
    assert not vs[1].holds


def test_inexact_catches_noise_three_times_larger_than_stated(monkeypatch):
    def wide(model, b, q, pi_star, rng):
        return REAL_PERTURBATION(model, 3 * b if model == "uniform" else b, q, pi_star, rng)

    monkeypatch.setattr(pmd, "_perturbation", wide)
    vs = assert_caught(pmd_inexact, INEXACT)
    assert not vs[2].holds


def test_inexact_catches_a_dropped_discount_in_evaluation(monkeypatch):
    monkeypatch.setattr(pmd, "ExactEvaluator", UndiscountedQ)
    assert_caught(pmd_inexact, pick(INEXACT, family="random"))


# ------------------------------------------------------------------------------------------
# sampled PMD
# ------------------------------------------------------------------------------------------
SAMPLED = pmd_sampled.QUICK_GRID


def test_sampled_holds_and_states_its_power():
    env, unbiased = assert_holds(pmd_sampled, SAMPLED)
    assert env.metrics["worst_mean_over_envelope"] > 0  # ratios past the anchor only
    assert env.metrics["power_stuck"] > 0.9
    assert "power against 25% of seeds stuck at gap 0.05" in env.measured
    assert unbiased.metrics["power_bias"] > 0.99


def test_sampled_catches_a_mean_divided_by_n_plus_one(monkeypatch):
    def biased(mdp, policy, *, n_rollouts, **kw):
        q, drawn = REAL_ESTIMATE_Q(mdp, policy, n_rollouts=n_rollouts, **kw)
        return q * n_rollouts / (n_rollouts + 1), drawn

    monkeypatch.setattr(sampling, "estimate_q", biased)
    _, unbiased = assert_caught(pmd_sampled, SAMPLED)
    assert not unbiased.holds


def test_sampled_envelope_catches_stuck_seeds():
    """A quarter of the seeds stuck at gap 0.05 for every N (the named alternative)."""
    frame = run_sweep(SAMPLED, pmd_sampled.compute, executor=SerialExecutor())
    stuck = frame["replicate"] < frame["replicate"].nunique() // 4
    env, _ = pmd_sampled.check(frame.assign(gap=frame["gap"].where(~stuck, 0.05)))
    assert not env.holds


# ------------------------------------------------------------------------------------------
# GPMD
# ------------------------------------------------------------------------------------------
GPMD = (
    pick(pmd_gpmd.QUICK_GRID, kind="chain")
    + pick(pmd_gpmd.QUICK_GRID, family="random", tau=1.0, eta=0.1, kind="gpmd")
    + pick(pmd_gpmd.QUICK_GRID, kind="staq", memory=4)
)


def test_gpmd_grid_holds_without_a_bug():
    vs = assert_holds(pmd_gpmd, GPMD)
    assert vs[2].metrics["max_log_rate_ratio"] < 2.0


def test_gpmd_catches_a_squared_rate(monkeypatch):
    real = pmd_gpmd.gpmd_rate
    monkeypatch.setattr(pmd_gpmd, "gpmd_rate", lambda *a, **k: real(*a, **k) ** 2)
    vs = assert_caught(pmd_gpmd, GPMD)
    assert not vs[2].holds


def test_gpmd_catches_a_dropped_discount_in_evaluation(monkeypatch):
    monkeypatch.setattr(pmd, "ExactEvaluator", UndiscountedQ)
    assert_caught(pmd_gpmd, GPMD)


@pytest.mark.parametrize("module, grid", [(pmd_xiao, XIAO), (pmd_rates, RATES)])
def test_pmd_claims_catch_a_constant_step_where_geometric_is_stated(monkeypatch, module, grid):
    patch_step(monkeypatch, lambda k, gamma: gamma**k)  # eta_0 for eta_0 / gamma^k
    assert_caught(module, grid)


def test_inexact_catches_an_adaptive_step_shrunk_by_gamma_k(monkeypatch):
    patch_step(monkeypatch, lambda k, gamma: gamma**k * 1e-3)
    assert_caught(pmd_inexact, INEXACT)


@pytest.mark.parametrize("factor", [geometric_shrinks, lambda k, gamma: gamma**k])
def test_sampled_catches_a_wrong_geometric_schedule(monkeypatch, factor):
    """eta_0 gamma^k or a constant eta_0 for eta_0 / gamma^k: the gap stops shrinking in N."""
    patch_step(monkeypatch, factor)
    env, _ = assert_caught(pmd_sampled, SAMPLED)
    assert not env.holds
