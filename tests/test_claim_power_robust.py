"""The robust claims hold for the real algorithms and FAIL for plausible bugs planted into the
module attributes the claims call (damped or biased operator, doubled L1 budget, a set
ignored, a skipped minimum in IWOCS, a tie-break silently changed, an ascent step turned into
descent)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from theory_rl.algorithms import dp, robust
from theory_rl.experiments.claims.robust import (
    drpg_gap,
    inner_oracles,
    iwocs_certificate,
    iwocs_windy_walk,
    rvi_contraction,
    rvi_saddle,
)
from theory_rl.experiments.sweep import SerialExecutor, run_sweep
from theory_rl.mdps.robust import KLBall, L1Ball

iwocs_module = importlib.import_module("theory_rl.algorithms.iwocs")
drpg_module = importlib.import_module("theory_rl.algorithms.drpg")


def run(module, grid):
    frame = run_sweep(grid, module.compute, executor=SerialExecutor())
    return module.check(frame)


def pick(grid, **where):
    return [c for c in grid if all(c[k] == v for k, v in where.items())]


CONTRACTION_GRID = pick(rvi_contraction.QUICK_GRID, uncertainty="l1") + pick(
    rvi_contraction.QUICK_GRID, uncertainty="kl_penalty"
)
REAL_T = robust.robust_bellman_operator


def test_rvi_contraction_holds_then_fails_for_a_damped_operator(monkeypatch):
    assert all(v.holds for v in run(rvi_contraction, CONTRACTION_GRID))
    monkeypatch.setattr(
        robust,
        "robust_bellman_operator",
        lambda mdp, unc, v, **kw: 0.5 * v + 0.5 * REAL_T(mdp, unc, v, **kw),
    )
    assert not any(v.holds for v in run(rvi_contraction, CONTRACTION_GRID))


def test_rvi_contraction_fails_for_a_biased_operator(monkeypatch):
    monkeypatch.setattr(
        robust, "robust_bellman_operator", lambda mdp, unc, v, **kw: REAL_T(mdp, unc, v) + 1e-6
    )
    verdicts = run(rvi_contraction, CONTRACTION_GRID)
    assert not verdicts[1].holds and "FAILURES" in verdicts[1].detail


REAL_RVI = robust.robust_value_iteration


def test_rvi_saddle_fails_when_the_l1_budget_is_doubled(monkeypatch):
    """The classic slip of the sort rule: moving kappa instead of kappa / 2."""

    def doubled(mdp, unc, **kw):
        if isinstance(unc, L1Ball):
            unc = L1Ball(2 * np.asarray(unc.kappa) if np.ndim(unc.kappa) else 2 * unc.kappa)
        return REAL_RVI(mdp, unc, **kw)

    monkeypatch.setattr(robust, "robust_value_iteration", doubled)
    verdicts = run(rvi_saddle, pick(rvi_saddle.QUICK_GRID, check="lp"))
    assert len(verdicts) == 1 and not verdicts[0].holds


def test_rvi_saddle_fails_when_the_set_is_ignored(monkeypatch):
    """A robust solver that returns the nominal solution breaks the saddle point."""

    def nominal(mdp, unc, **kw):
        res = dp.value_iteration(mdp, tol=1e-11)
        P = mdp.transitions
        return type(res)(
            res.policy,
            res.values,
            res.q_values,
            res.n_iterations,
            True,
            "",
            params={"worst_kernel": P},
        )

    monkeypatch.setattr(robust, "robust_value_iteration", nominal)
    verdicts = run(rvi_saddle, pick(rvi_saddle.QUICK_GRID, check="saddle"))
    assert len(verdicts) == 1 and not verdicts[0].holds


REAL_ROWS = robust.inner_rows


@pytest.mark.parametrize("kind", ["l1", "kl"])
def test_inner_oracles_fail_for_a_doubled_radius(monkeypatch, kind):
    def doubled(unc, nominal, targets):
        if isinstance(unc, (L1Ball, KLBall)):
            unc = type(unc)(2 * getattr(unc, unc.radius_field))
        return REAL_ROWS(unc, nominal, targets)

    grid = pick(inner_oracles.QUICK_GRID, kind=kind)
    assert all(v.holds for v in run(inner_oracles, grid))
    monkeypatch.setattr(robust, "inner_rows", doubled)
    assert not any(v.holds for v in run(inner_oracles, grid))


IWOCS_GRID = pick(iwocs_certificate.QUICK_GRID, kind="finite")
REAL_STEP = iwocs_module.iwocs_step
REAL_IWOCS = iwocs_module.iwocs


def test_iwocs_certificate_fails_when_q_takes_the_max(monkeypatch):
    monkeypatch.setattr(
        iwocs_module,
        "iwocs_step",
        lambda q_min, q_new: (np.maximum(q_min, q_new), np.maximum(q_min, q_new).argmax(axis=1)),
    )
    verdicts = run(iwocs_certificate, IWOCS_GRID)
    assert not verdicts[0].holds or not verdicts[1].holds


def test_iwocs_certificate_fails_when_the_search_is_not_worst_case(monkeypatch):
    """A search that evaluates the policy under the nominal kernel only (no adversary)."""
    real = robust.robust_policy_evaluation

    def nominal_search(mdp, unc, policy, **kw):
        return real(mdp, L1Ball(0.0), policy, **kw)

    monkeypatch.setattr(robust, "robust_policy_evaluation", nominal_search)
    monkeypatch.setattr(robust, "worst_case_kernel", lambda mdp, unc, v, **kw: mdp.transitions)
    verdicts = run(iwocs_certificate, IWOCS_GRID)
    assert not verdicts[0].holds and not verdicts[1].holds


def test_iwocs_stall_verdict_fails_when_the_tie_break_is_ignored(monkeypatch):
    monkeypatch.setattr(
        iwocs_module,
        "iwocs",
        lambda mdp, unc, **kw: REAL_IWOCS(mdp, unc, **{**kw, "tie_break": "all_actions"}),
    )
    verdicts = run(iwocs_certificate, pick(IWOCS_GRID, instance=iwocs_certificate.STALL_SEED))
    assert not verdicts[2].holds


def test_windy_walk_figure_fails_when_iwocs_stops_on_a_loose_gap(monkeypatch):
    monkeypatch.setattr(
        iwocs_module, "iwocs", lambda mdp, unc, **kw: REAL_IWOCS(mdp, unc, **{**kw, "tol": 1e3})
    )
    assert not run(iwocs_windy_walk, iwocs_windy_walk.QUICK_GRID)[0].holds


def test_drpg_gap_fails_for_a_descent_step(monkeypatch):
    real = drpg_module.drpg_step
    monkeypatch.setattr(drpg_module, "drpg_step", lambda pi, g, a, *mask: real(pi, -g, a, *mask))
    verdicts = run(drpg_gap, drpg_gap.QUICK_GRID[:1])
    assert not verdicts[0].holds
