"""The Nash claims hold for the real algorithms and FAIL for deliberately broken ones.

Broken algorithms are monkeypatched into ``theory_rl.algorithms.nash`` (the claim modules call
the drivers through the module attribute); measurement tables are corrupted by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from theory_rl.algorithms import nash
from theory_rl.experiments.claims.nash import nash_comparison, nash_mp_rate, nash_mp_sampled
from theory_rl.experiments.sweep import SerialExecutor, run_sweep

REAL_MP = nash.nash_mirror_prox
REAL_SAMPLED = nash.sampled_nash_mirror_prox


def run(module, grid):
    frame = run_sweep(grid, module.compute, executor=SerialExecutor())
    return frame, module.check(frame)


def pick(grid, **where):
    return [c for c in grid if all(c[k] == v for k, v in where.items())]


RATE_GRID = (
    pick(nash_mp_rate.QUICK_GRID, family="random", n_responses=20, beta=0.01) + nash_mp_rate.TIES
)
CMP_GRID = pick(nash_comparison.QUICK_GRID, beta=0.01)


@pytest.fixture(scope="module")
def rate_frame():
    return run(nash_mp_rate, RATE_GRID)[0]


def test_rate_claim_holds_for_real_nash_mp(rate_frame):
    assert all(v.holds for v in nash_mp_rate.check(rate_frame))


def test_rate_claim_fails_without_extrapolation(monkeypatch):
    """OMD in place of Nash-MP (same eta = 2): no last-iterate convergence at beta = 0.01."""
    monkeypatch.setattr(nash, "nash_mirror_prox", nash.online_mirror_descent)
    _, verdicts = run(nash_mp_rate, RATE_GRID)
    assert not verdicts[0].holds and not verdicts[1].holds
    assert "FAILURES" in verdicts[0].detail


def test_rate_claim_fails_for_the_wrong_regulariser(monkeypatch):
    """Nash-MP run with beta/2 converges to another point: KL to pi*_beta stalls.  (The broken
    driver relabels the claim's reference, since a reference of another beta is refused.)"""

    def broken(game, *, reference, **kw):
        half = game.with_beta(game.beta / 2)
        relabelled = nash.GameReference(policy=reference.policy, beta=half.beta)
        return REAL_MP(half, reference=relabelled, **kw)

    monkeypatch.setattr(nash, "nash_mirror_prox", broken)
    _, verdicts = run(nash_mp_rate, RATE_GRID)
    assert not verdicts[0].holds


def test_rate_claim_fails_when_the_step_is_too_large(monkeypatch):
    """eta = 8 > 1/L on a cyclic game: the derived bound needs eta <= 2 (beyond it, no claim)."""
    monkeypatch.setattr(
        nash, "nash_mirror_prox", lambda game, **kw: REAL_MP(game, **{**kw, "eta": 40.0})
    )
    grid = pick(nash_mp_rate.QUICK_GRID, family="cyclic", beta=0.1)
    _, verdicts = run(nash_mp_rate, grid)
    assert not verdicts[0].holds


def test_rate_check_catches_a_corrupted_iterate_and_a_slow_gap(rate_frame):
    bad = rate_frame.copy()
    i = bad.index[bad["k"] == 50][0]
    bad.loc[i, "kl"] = bad.loc[i, "bound"] * 1.05
    assert not nash_mp_rate.check(bad)[0].holds
    slow = rate_frame.copy()
    slow["gap"] = slow["gap"].iloc[0] * 0.999 ** slow["queries"]  # slower than (1.02)^(-1/2)
    assert not nash_mp_rate.check(slow)[1].holds


def test_comparison_claim_holds_and_fails_without_extrapolation(monkeypatch):
    _, verdicts = run(nash_comparison, CMP_GRID)
    assert all(v.holds for v in verdicts)
    monkeypatch.setattr(
        nash,
        "nash_mirror_prox",
        lambda game, *, n_iterations, **kw: nash.online_mirror_descent(
            game, n_iterations=2 * n_iterations, **kw
        ),
    )
    _, verdicts = run(nash_comparison, CMP_GRID)
    assert not verdicts[1].holds


def test_sampled_claim_fails_when_samples_are_ignored(monkeypatch):
    grid = pick(nash_mp_sampled.QUICK_GRID, replicate=0) + pick(
        nash_mp_sampled.QUICK_GRID, replicate=1
    )
    _, verdicts = run(nash_mp_sampled, grid)
    assert verdicts[0].holds
    monkeypatch.setattr(
        nash,
        "sampled_nash_mirror_prox",
        lambda game, **kw: REAL_SAMPLED(game, **{**kw, "n_samples": 4}),
    )
    _, verdicts = run(nash_mp_sampled, grid)
    assert not verdicts[0].holds
    assert np.isfinite(verdicts[0].metrics["exponent"])
