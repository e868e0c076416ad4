"""Claim ``pmd_rates`` holds on a tiny grid and FAILS when a broken algorithm is injected.

The broken algorithms are monkeypatched into ``theory_rl.algorithms.pmd`` / ``npg``, which the
claim module calls through the module attributes; the stated rates are computed from the
nominal settings, so a slower algorithm must show up as a fitted rate above the stated one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from theory_rl.algorithms import npg, pmd
from theory_rl.experiments.claims.pmd import pmd_rates
from theory_rl.experiments.sweep import SerialExecutor, run_sweep

REAL_PMD = pmd.policy_mirror_descent
REAL_NPG = npg.natural_policy_gradient

TINY = [
    {**c, "n_instances": 2}
    for c in pmd_rates.QUICK_GRID
    if c["family"] == "random" and c["n_states"] == 10 and c["gamma"] in (0.8, 0.95)
]


def run(grid=TINY):
    return pmd_rates.check(run_sweep(grid, pmd_rates.compute, executor=SerialExecutor()))


def test_tiny_grid_is_small_and_every_verdict_holds():
    assert len(TINY) == 2
    verdicts = run()
    assert [v.theorem for v in verdicts] == [s["theorem"] for s in pmd_rates.ALGORITHMS.values()]
    for v in verdicts:
        assert v.holds, v.detail
        assert v.metrics["n_runs"] > 0 and v.metrics["worst_ratio"] <= 1.0


def test_fails_when_the_geometric_schedule_is_constant(monkeypatch):
    def broken(mdp, *, schedule="constant", **kw):
        return REAL_PMD(mdp, schedule="constant" if schedule == "geometric" else schedule, **kw)

    monkeypatch.setattr(pmd, "policy_mirror_descent", broken)
    geometric, adaptive, entropy = run()
    assert not geometric.holds and geometric.metrics["worst_ratio"] > 1.0
    assert adaptive.holds and entropy.holds


def test_fails_when_the_adaptive_step_is_replaced_by_a_constant_one(monkeypatch):
    def broken(mdp, *, schedule="constant", eta=0.0, **kw):
        if schedule == "adaptive":
            return REAL_PMD(mdp, schedule="constant", eta=1.0, **kw)
        return REAL_PMD(mdp, schedule=schedule, eta=eta, **kw)

    monkeypatch.setattr(pmd, "policy_mirror_descent", broken)
    geometric, adaptive, entropy = run()
    assert not adaptive.holds and adaptive.metrics["worst_ratio"] > 1.0
    assert geometric.holds and entropy.holds


def test_fails_when_the_npg_step_is_smaller_than_stated(monkeypatch):
    def broken(mdp, *, eta=1.0, **kw):
        return REAL_NPG(mdp, eta=np.asarray(eta) * 0.1, **kw)

    monkeypatch.setattr(npg, "natural_policy_gradient", broken)
    geometric, adaptive, entropy = run()
    assert not entropy.holds and geometric.holds and adaptive.holds


def test_window_rule():
    k = np.arange(80)
    floor = 1e-12
    # a clean geometric sequence down to round-off: the fit recovers its rate
    fit = pmd_rates.fit_run(k, np.maximum(0.7**k, 1e-15), floor)
    assert fit["method"] == "ols" and fit["rate"] == pytest.approx(0.7, rel=1e-9)
    assert fit["n_points"] == int(np.ceil(math.log(1e3 * floor) / math.log(0.7)))
    # superlinear: round-off after 2 updates -> the deterministic average-rate bound
    fast = pmd_rates.fit_run(k[:5], [1.0, 1e-4, 0.0, 0.0, 0.0], floor)
    assert fast["method"] == "average" and fast["high"] == pytest.approx((1e-9) ** 0.5)
    # already at round-off: nothing to measure
    assert pmd_rates.fit_run(k[:3], [1e-10, 0, 0], floor)["method"] == "none"
