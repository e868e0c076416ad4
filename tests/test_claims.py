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


_QUICK: dict[str, tuple] = {}


@pytest.fixture(scope="module")
def quick_run():
    """``quick_run(claim_id) -> (frame, verdicts)`` of the claim's QUICK_GRID, computed once."""

    def get(claim_id):
        if claim_id not in _QUICK:
            m = registry.get_claim(claim_id)
            _QUICK[claim_id] = run(m, m.QUICK_GRID)
        return _QUICK[claim_id]

    yield get
    _QUICK.clear()


@pytest.mark.parametrize("claim_id", registry.claim_ids())
def test_claim_holds_on_its_quick_grid(claim_id, quick_run):
    frame, verdicts = quick_run(claim_id)
    assert verdicts and all(v.claim_id == claim_id for v in verdicts)
    for v in verdicts:
        assert v.holds, f"{v.theorem}: {v.measured}; {v.detail}"
        # a ratio above 1 that holds is round-off, and the verdict says so with its bound
        worst = v.metrics.get("worst_ratio")
        if isinstance(worst, float) and worst > 1.0:
            assert "round-off only" in v.measured and "atol <=" in v.measured, v.measured


def legend_texts(fig) -> set[str]:
    legends = [ax.get_legend() for ax in fig.axes] + list(fig.legends)
    return {t.get_text() for leg in legends if leg is not None for t in leg.get_texts()}


def unexplained_series(fig) -> list[str]:
    """Drawn series (lines with a line or marker, scatter, bands) without a legend entry, and
    legend entries claiming an IQR over fewer than 4 runs."""
    import re

    from matplotlib.collections import PathCollection, PolyCollection
    from matplotlib.lines import Line2D

    texts = legend_texts(fig)
    problems = []
    for t in texts:
        if "IQR" in t:
            n = re.search(r"n=(\d+)", t)
            if n is None or int(n.group(1)) < 4:
                problems.append(f"legend {t!r}: an IQR needs n >= 4 runs")
    for i, ax in enumerate(fig.axes):
        covered = set()
        for c in ax.containers:
            if c.get_label() in texts:
                covered |= {id(a) for a in c.get_children()}
        for a in [*ax.lines, *ax.collections]:
            if id(a) in covered or not a.get_visible():
                continue
            if isinstance(a, Line2D):
                no_line = a.get_linestyle() in ("None", "", " ")
                no_marker = a.get_marker() in ("None", "", " ", None)
                if no_line and no_marker:
                    continue
            elif not isinstance(a, (PathCollection, PolyCollection)):
                continue
            if a.get_label() not in texts:
                problems.append(f"axes {i}: {type(a).__name__} {a.get_label()!r} not in legend")
    return problems


@pytest.mark.parametrize("claim_id", registry.claim_ids())
def test_claim_figure_explains_every_series(claim_id, quick_run):
    import matplotlib.pyplot as plt

    frame, _ = quick_run(claim_id)
    fig = registry.get_claim(claim_id).plot(frame)
    try:
        assert fig.axes
        assert unexplained_series(fig) == []
    finally:
        plt.close(fig)


def test_unexplained_series_catches_an_unlabelled_band_and_a_small_iqr():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2], [1, 2], label="runs (median, IQR; n=2)")
    ax.fill_between([1, 2], [0, 1], [2, 3])
    ax.scatter([1], [1])
    ax.legend()
    problems = unexplained_series(fig)
    plt.close(fig)
    assert any("IQR" in p for p in problems)
    assert any("PolyCollection" in p or "FillBetween" in p for p in problems)
    assert any("PathCollection" in p for p in problems)


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


# ------------------------------------------------------------------------------------------
# shared checks and instances
# ------------------------------------------------------------------------------------------
CLAIM_T = Claim("t", "P (2020)", "Thm 1", "x <= b", "value_iteration")


def bound_frame(measured, bound, atol):
    import pandas as pd

    k = np.arange(len(measured))
    return pd.DataFrame(
        {"spawn_key": "r0", "k": k, "measured": measured, "bound": bound, "atol": atol}
    )


def test_bound_verdict_reports_a_ratio_above_one_as_round_off_with_its_bound():
    from theory_rl.experiments.checks import bound_verdict

    frame = bound_frame([1.0, 0.5 + 1e-14, 0.25], [1.0, 0.5, 0.25], 1e-13)
    v = bound_verdict(frame, CLAIM_T, theorem="T", stated="s", what="m / b")
    assert v.holds and v.metrics["worst_ratio"] > 1.0
    assert "round-off only" in v.measured and "atol <= 1e-13" in v.measured
    assert "holds" not in v.measured.split("round-off")[0]  # no bare "holds" before the reason
    worse = bound_frame([1.0, 0.5 + 1e-12, 0.25], [1.0, 0.5, 0.25], 1e-13)
    v = bound_verdict(worse, CLAIM_T, theorem="T", stated="s", what="m / b")
    assert not v.holds and "1 runs violate" in v.measured and "round-off only" not in v.measured


def test_bound_verdict_below_one_says_nothing_about_round_off():
    from theory_rl.experiments.checks import bound_verdict

    v = bound_verdict(
        bound_frame([1.0, 0.4, 0.2], [1.0, 0.5, 0.25], 1e-13),
        CLAIM_T,
        theorem="T",
        stated="s",
        what="m / b",
    )
    assert v.holds and "round-off only" not in v.measured and "= 0.8 over 1 runs" in v.measured


def test_rate_verdict_log_scale_explains_the_multiple():
    import pandas as pd

    from theory_rl.experiments.checks import rate_verdict

    q = 0.9
    table = pd.DataFrame(
        {"rate": [q**20], "low": [q**21], "high": [q**19], "slope": [20 * np.log(q)], "stated": [q]}
    )
    v = rate_verdict(table, CLAIM_T, theorem="T", stated="s", gate="estimate", scale="log")
    assert v.holds and "log(fitted rate) / log(stated rate) = 20" in v.measured
    assert "e-folds" in v.measured
    slow = table.assign(rate=0.95, slope=np.log(0.95))
    assert not rate_verdict(slow, CLAIM_T, theorem="T", stated="s", gate="estimate").holds
    with pytest.raises(ValueError, match="gate"):
        rate_verdict(table, CLAIM_T, theorem="T", stated="s", gate="median")


def test_rate_verdict_fails_unfitted_runs_when_asked():
    import pandas as pd

    from theory_rl.experiments.checks import rate_verdict

    table = pd.DataFrame({"rate": [0.5, np.nan], "low": [0.4, np.nan], "high": [0.6, np.nan]})
    table["stated"] = 0.7
    kw = dict(theorem="T", stated="s", gate="upper")
    assert rate_verdict(table, CLAIM_T, **kw).holds
    v = rate_verdict(table, CLAIM_T, unfitted="fail", **kw)
    assert not v.holds and "too few resolved points" in v.detail


def test_pmd_inexact_scaling_verdict_says_the_floor_is_an_upper_bound():
    from theory_rl.experiments.claims.pmd import pmd_inexact

    grid = [c for c in pmd_inexact.QUICK_GRID if c["family"] == "random" and c["mirror"] == "kl"]
    grid = [c for c in grid if c["model"] == "fixed"]
    _, verdicts = run(pmd_inexact, grid)
    scaling = verdicts[1]
    assert scaling.holds
    assert "upper bound" in scaling.stated and "not gated" in scaling.measured
    assert "slope" in scaling.measured


def test_instances_registry_builds_and_rejects():
    from theory_rl.experiments.instances import GAMES, INSTANCES, make_game, make_instance

    assert {"garnet", "random", "chain"} <= set(INSTANCES)
    assert {"random", "cyclic", "bradley_terry"} <= set(GAMES)
    mdp = make_instance(
        {"family": "garnet", "n_states": 5, "n_actions": 2, "gamma": 0.9, "branching": 2},
        np.random.SeedSequence(0),
    )
    assert mdp.n_states == 5 and mdp.gamma == 0.9
    chain = make_instance({"family": "chain", "horizon": 3}, np.random.SeedSequence(0))
    assert chain.n_states == 5 and chain.gamma == 0.75
    assert make_instance({"family": "chain", "horizon": 3, "gamma": 0.9}, None).gamma == 0.9
    game = make_game({"family": "cyclic", "n_responses": 5, "beta": 0.1}, np.random.SeedSequence(1))
    assert game.beta == 0.1
    with pytest.raises(ValueError, match="known: garnet, random, chain"):
        make_instance({"family": "grid"}, np.random.SeedSequence(0))
    with pytest.raises(ValueError, match="family"):
        make_game({"n_responses": 5}, np.random.SeedSequence(0))


def test_format_ratio_never_prints_a_ratio_above_one_as_one():
    from theory_rl.experiments.checks import format_ratio

    assert format_ratio(1.0 + 3e-14) == "1 + 3e-14"
    assert format_ratio(0.90081) == "0.9008" and format_ratio(1.5) == "1.5"
