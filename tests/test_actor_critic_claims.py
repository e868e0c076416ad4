"""The actor-critic family's claims have power: each planted bug makes a verdict fail, and the
same grid without the bug holds.

Bugs: an actor step 100x too small (regret linear), a switch bound without its log factor
(tighter than derived), the bonus dropped from the optimistic variant (no exploration), offline
data ignored (no hybrid gain, no coverage), and a constant Q-learning step (error plateaus).
"""

from __future__ import annotations

import numpy as np
import pytest

from theory_rl.algorithms import actor_critic, exploration
from theory_rl.experiments.claims.actor_critic import ac_lock, ac_regret, q_learning_rate
from theory_rl.experiments.sweep import SerialExecutor, run_sweep

REAL_AC = actor_critic.optimistic_actor_critic


def verdicts(module, grid):
    return module.check(run_sweep(grid, module.compute, executor=SerialExecutor()))


def by_theorem(vs, text):
    found = [v for v in vs if text in v.theorem]
    assert found, [v.theorem for v in vs]
    return found[0]


AC_GRID = [{"algorithm": "actor_critic", "n_seeds": 6}]


def test_regret_claim_holds_without_bug():
    vs = verdicts(ac_regret, AC_GRID)
    assert all(v.holds for v in vs), [v.measured for v in vs if not v.holds]


def test_regret_claim_catches_a_tiny_actor_step(monkeypatch):
    real = actor_critic.hedge_step_size
    monkeypatch.setattr(actor_critic, "hedge_step_size", lambda *a: real(*a) / 100)
    vs = verdicts(ac_regret, AC_GRID)
    assert not by_theorem(vs, "sqrt(T) regret").holds


def test_switch_gate_catches_a_bound_without_its_log(monkeypatch):
    monkeypatch.setattr(actor_critic, "tabular_switch_bound", lambda S, A, H, T, n=0: S * A * H)
    vs = verdicts(ac_regret, AC_GRID)
    assert not by_theorem(vs, "switch counts").holds


#: 8 paired seeds: the smallest sign-test p-value is 2^-8 < 0.01 (6 pairs could not pass).
LOCK_GRID = [{"variant": v, "n_seeds": 8} for v in ac_lock.VARIANTS]


def test_lock_claim_catches_a_dropped_bonus(monkeypatch):
    monkeypatch.setattr(
        actor_critic,
        "optimistic_actor_critic",
        lambda mdp, **kw: REAL_AC(mdp, **{**kw, "bonus_scale": 0.0}),
    )
    vs = verdicts(ac_lock, LOCK_GRID)
    assert not by_theorem(vs, "optimism is needed").holds


def test_lock_claim_catches_ignored_offline_data(monkeypatch):
    monkeypatch.setattr(
        actor_critic,
        "optimistic_actor_critic",
        lambda mdp, **kw: REAL_AC(mdp, **{**kw, "offline": None}),
    )
    vs = verdicts(ac_lock, LOCK_GRID)
    assert not by_theorem(vs, "hybrid gain").holds
    assert not by_theorem(vs, "eps-optimal").holds


def test_lock_claim_holds_without_bug():
    vs = verdicts(ac_lock, LOCK_GRID)
    assert all(v.holds for v in vs), [v.measured for v in vs if not v.holds]


@pytest.mark.parametrize("bug", [False, True])
def test_q_learning_claim_catches_a_constant_step(monkeypatch, bug):
    if bug:
        monkeypatch.setattr(exploration, "q_learning_steps", lambda n, **kw: np.full(n, 0.1))
    vs = verdicts(q_learning_rate, [{"gamma": 0.8, "n_seeds": 6}])
    assert all(v.holds for v in vs) is not bug, [v.measured for v in vs]
