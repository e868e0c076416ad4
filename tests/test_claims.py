"""Registered claims: they hold for the real algorithms and FAIL for deliberately broken ones.

A claim check that cannot fail checks nothing, so each claim is run here against algorithms
with a planted bug (monkeypatched into ``theory_rl.algorithms.dp``, which the claim modules call
through the module attribute), and against corrupted measurement tables.
"""

from __future__ import annotations

import numpy as np
import pytest

from theory_rl.algorithms import dp
from theory_rl.experiments import registry
from theory_rl.experiments.base import Claim
from theory_rl.experiments.claims.dp import pi_monotone, vi_contraction, vi_stopping
from theory_rl.experiments.sweep import SerialExecutor, run_sweep
from theory_rl.result import SolveResult

REAL_VI = dp.value_iteration


def run(module, grid):
    frame = run_sweep(grid, module.compute, executor=SerialExecutor())
    return frame, module.check(frame)


def pick(grid, **where):
    return [c for c in grid if all(c[k] == v for k, v in where.items())]


def one_hot(actions, n_actions):
    return np.eye(n_actions)[actions]


# ------------------------------------------------------------------------------------------
# the registry and the claims as they are
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("claim_id", registry.claim_ids())
def test_claim_module_interface(claim_id):
    m = registry.get_claim(claim_id)
    assert isinstance(m.CLAIM, Claim) and m.CLAIM.id == claim_id
    assert m.__doc__ and "References" in m.__doc__  # the theorem is stated in the module
    assert 0 < len(m.QUICK_GRID) <= len(m.GRID)
    for grid in (m.GRID, m.QUICK_GRID):
        assert all(isinstance(c, dict) and "seed" not in c for c in grid)
    rows = m.compute({**m.QUICK_GRID[0], "seed": 0})
    assert rows and all(isinstance(r, dict) for r in rows)


@pytest.mark.parametrize("claim_id", registry.claim_ids())
def test_claim_holds_on_its_quick_grid(claim_id):
    m = registry.get_claim(claim_id)
    frame, verdicts = run(m, m.QUICK_GRID)
    assert verdicts and all(v.claim_id == claim_id for v in verdicts)
    for v in verdicts:
        assert v.holds, f"{v.theorem}: {v.measured}; {v.detail}"
    fig = m.plot(frame)
    assert fig.axes
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_get_claim_unknown():
    with pytest.raises(KeyError, match="known"):
        registry.get_claim("no_such_claim")


# ------------------------------------------------------------------------------------------
# vi_contraction
# ------------------------------------------------------------------------------------------
def make_vi(step):
    """A value iteration whose update is ``v <- step(mdp, v)`` (same signature as dp's)."""

    def vi(mdp, *, tol=1e-8, max_iterations=100_000, initial_values=None, callback=None, **_):
        v = np.zeros(mdp.n_states) if initial_values is None else np.array(initial_values)
        for k in range(1, max_iterations + 1):
            new = step(mdp, v)
            policy = dp.greedy_policy(mdp, v)
            if callback is not None:
                callback(SolveResult(policy, new, None, k, False, "in progress"))
            d = new - v
            done = mdp.gamma * (d.max() - d.min()) / (1 - mdp.gamma) <= tol
            v = new
            if done:
                break
        return SolveResult(policy, v, None, k, done, "broken VI")

    return vi


VI_GRID = pick(vi_contraction.QUICK_GRID, gamma=0.9, replicate=0)


def test_vi_contraction_holds_for_the_real_value_iteration():
    _, verdicts = run(vi_contraction, VI_GRID)
    assert all(v.holds for v in verdicts)


def test_vi_contraction_fails_for_damped_value_iteration(monkeypatch):
    """v <- (v + Tv)/2 contracts at (1 + gamma)/2 > gamma."""
    damped = make_vi(lambda mdp, v: 0.5 * v + 0.5 * dp.bellman_optimality_operator(mdp, v))
    monkeypatch.setattr(dp, "value_iteration", damped)
    _, verdicts = run(vi_contraction, VI_GRID)
    assert not any(v.holds for v in verdicts)


def test_vi_contraction_fails_for_biased_value_iteration(monkeypatch):
    """v <- Tv + 1e-6 converges to V* + 1e-5: the error stalls above gamma^k ||v_0 - V*||."""
    biased = make_vi(lambda mdp, v: dp.bellman_optimality_operator(mdp, v) + 1e-6)
    monkeypatch.setattr(dp, "value_iteration", biased)
    _, verdicts = run(vi_contraction, VI_GRID)
    assert not verdicts[0].holds and not verdicts[1].holds
    assert "FAILURES" in verdicts[0].detail


def test_vi_contraction_check_catches_a_single_corrupted_iterate():
    frame, _ = run(vi_contraction, VI_GRID[:1])
    bad = frame.copy()
    i = bad.index[(bad["k"] == 20)][0]
    bad.loc[i, "error"] = bad.loc[i, "bound"] * 1.05  # 5% above the bound at one iterate
    verdicts = vi_contraction.check(bad)
    assert not verdicts[0].holds


# ------------------------------------------------------------------------------------------
# vi_stopping
# ------------------------------------------------------------------------------------------
STOP_GRID = pick(vi_stopping.QUICK_GRID, replicate=0, gamma=0.9)


def test_vi_stopping_fails_for_the_naive_sup_norm_rule(monkeypatch):
    """Stopping at ||Tv - v|| <= tol and returning Tv leaves an error up to
    gamma tol / (1 - gamma) > tol / 2 (the classical rule needs tol (1-gamma)/(2 gamma))."""

    def naive(mdp, *, tol=1e-8, max_iterations=100_000, **_):
        v = np.zeros(mdp.n_states)
        for k in range(1, max_iterations + 1):
            tv = dp.bellman_optimality_operator(mdp, v)
            if np.abs(tv - v).max() <= tol:
                return SolveResult(dp.greedy_policy(mdp, v), tv, None, k, True, "naive stop")
            v = tv
        raise AssertionError("naive VI did not stop")

    monkeypatch.setattr(dp, "value_iteration", naive)
    _, verdicts = run(vi_stopping, STOP_GRID)
    assert not verdicts[1].holds  # values


def test_vi_stopping_fails_when_value_iteration_stops_one_tolerance_early(monkeypatch):
    monkeypatch.setattr(
        dp, "value_iteration", lambda mdp, *, tol=1e-8, **kw: REAL_VI(mdp, tol=10 * tol, **kw)
    )
    _, verdicts = run(vi_stopping, STOP_GRID)
    assert not verdicts[1].holds


def test_vi_stopping_fails_for_a_stale_policy(monkeypatch):
    """Correct values but the policy greedy w.r.t. the first iterate: not tol-optimal."""

    def stale(mdp, **kw):
        res = REAL_VI(mdp, **kw)
        early = dp.greedy_policy(mdp, np.zeros(mdp.n_states))  # the myopic policy
        return SolveResult(early, res.values, None, res.n_iterations, True, "stale")

    monkeypatch.setattr(dp, "value_iteration", stale)
    _, verdicts = run(vi_stopping, STOP_GRID)
    assert not verdicts[0].holds and verdicts[1].holds


def test_vi_stopping_fails_when_value_iteration_does_not_converge(monkeypatch):
    monkeypatch.setattr(
        dp, "value_iteration", lambda mdp, **kw: REAL_VI(mdp, **{**kw, "max_iterations": 2})
    )
    _, verdicts = run(vi_stopping, STOP_GRID[:2])
    assert not verdicts[0].holds and not verdicts[1].holds
    assert "all converged: False" in verdicts[0].detail


# ------------------------------------------------------------------------------------------
# pi_monotone
# ------------------------------------------------------------------------------------------
def make_pi(*, worsen_at=None, stop_after=None, converged=True):
    """Howard PI with planted bugs: an argmin step at iteration ``worsen_at``; stop (claiming
    convergence ``converged``) after ``stop_after`` evaluations."""

    def pi(mdp, *, initial_policy=None, callback=None, max_iterations=10_000, **_):
        actions = np.asarray(
            initial_policy if initial_policy is not None else np.zeros(mdp.n_states, int)
        )
        for k in range(1, max_iterations + 1):
            v = dp.policy_evaluation(mdp, actions)
            if callback is not None:
                callback(SolveResult(one_hot(actions, mdp.n_actions), v, None, k, False, ""))
            q = dp.q_values(mdp, v)
            better = q.max(axis=1) > v + 1e-12 * max(1.0, np.abs(v).max())
            new = np.where(better, q.argmax(axis=1), actions)
            if k == worsen_at:
                new = q.argmin(axis=1)
            stable = np.array_equal(new, actions)
            if stable or k == stop_after:
                break
            actions = new
        done = stable or converged
        return SolveResult(one_hot(actions, mdp.n_actions), v, None, k, done, "broken PI")

    return pi


PI_GRID = pick(pi_monotone.QUICK_GRID, n_states=8, replicate=0)


def test_pi_monotone_reference_implementation_passes(monkeypatch):
    """The test's own PI, without a planted bug, passes (so failures below are the bugs')."""
    monkeypatch.setattr(dp, "policy_iteration", make_pi())
    _, verdicts = run(pi_monotone, PI_GRID)
    assert all(v.holds for v in verdicts)


def test_pi_monotone_fails_for_a_worsening_step(monkeypatch):
    monkeypatch.setattr(dp, "policy_iteration", make_pi(worsen_at=1))
    _, verdicts = run(pi_monotone, PI_GRID)
    assert not verdicts[0].holds
    assert verdicts[1].holds  # it still terminates, optimally, after the detour


def test_pi_monotone_fails_when_pi_stops_before_optimality(monkeypatch):
    monkeypatch.setattr(dp, "policy_iteration", make_pi(stop_after=1))
    _, verdicts = run(pi_monotone, PI_GRID)
    assert not verdicts[1].holds


def test_pi_monotone_fails_when_pi_does_not_terminate(monkeypatch):
    monkeypatch.setattr(dp, "policy_iteration", make_pi(stop_after=1, converged=False))
    _, verdicts = run(pi_monotone, PI_GRID)
    assert not verdicts[1].holds and "all converged: False" in verdicts[1].detail


def test_pi_monotone_check_catches_too_many_iterations():
    frame, _ = run(pi_monotone, pick(pi_monotone.QUICK_GRID, n_states=4, replicate=0))
    assert pi_monotone.check(frame)[1].holds
    bad = frame.assign(iteration_bound=1.0)  # pretend |A|^|S| = 1: any second policy violates
    assert not pi_monotone.check(bad)[1].holds
