"""The PMD claims hold for the real algorithms and FAIL for deliberately broken ones.

Each broken algorithm is monkeypatched into ``theory_rl.algorithms.pmd``, which the claim
modules call through the module attribute.
"""

from __future__ import annotations

import pytest

from theory_rl.algorithms import pmd
from theory_rl.experiments.claims.pmd import (
    pmd_gpmd,
    pmd_inexact,
    pmd_johnson,
    pmd_sampled,
    pmd_xiao,
)
from theory_rl.experiments.sweep import SerialExecutor, run_sweep

REAL_PMD = pmd.policy_mirror_descent
REAL_GPMD = pmd.generalized_policy_mirror_descent
REAL_STAQ = pmd.staq_policy_mirror_descent


def run(module, grid):
    return module.check(run_sweep(grid, module.compute, executor=SerialExecutor()))


def pick(grid, **where):
    return [c for c in grid if all(c.get(k) == v for k, v in where.items())]


XIAO = pick(pmd_xiao.QUICK_GRID, family="random", mirror="kl")
XIAO = pick(XIAO, theorem="thm8", eta=1.0) + pick(XIAO, theorem="thm10", eta=0.01)


def test_xiao_holds():
    assert all(v.holds for v in run(pmd_xiao, XIAO))


def test_xiao_fails_when_the_geometric_schedule_is_constant(monkeypatch):
    def broken(mdp, *, schedule="constant", **kw):
        return REAL_PMD(mdp, schedule="constant", **kw)

    monkeypatch.setattr(pmd, "policy_mirror_descent", broken)
    v8, v10 = run(pmd_xiao, XIAO)
    assert v8.holds and not v10.holds


def test_xiao_thm8_fails_when_the_step_is_smaller_than_stated(monkeypatch):
    def broken(mdp, *, eta=1.0, **kw):
        return REAL_PMD(mdp, eta=eta * 1e-3, **kw)

    monkeypatch.setattr(pmd, "policy_mirror_descent", broken)
    assert not run(pmd_xiao, XIAO)[0].holds


JOHNSON = pick(pmd_johnson.QUICK_GRID, family="random", c0=1.0) + pick(
    pmd_johnson.QUICK_GRID, family="chain", c0=1.0, mirror="kl"
)


def test_johnson_holds():
    assert all(v.holds for v in run(pmd_johnson, JOHNSON))


def test_johnson_fails_with_a_constant_step(monkeypatch):
    def broken(mdp, *, schedule="adaptive", eta=0.0, **kw):
        return REAL_PMD(mdp, schedule="constant", eta=1.0, **kw)

    monkeypatch.setattr(pmd, "policy_mirror_descent", broken)
    assert not run(pmd_johnson, JOHNSON)[0].holds


def test_johnson_fails_when_the_adaptive_step_is_too_small(monkeypatch):
    def broken(mdp, *, c0=1.0, **kw):
        return REAL_PMD(mdp, c0=c0 * 1e4, **kw)  # eta_k 1e4 times below Johnson's minimum

    monkeypatch.setattr(pmd, "policy_mirror_descent", broken)
    assert not run(pmd_johnson, JOHNSON)[0].holds


INEXACT = pick(pmd_inexact.QUICK_GRID, family="random", model="adversarial") + pick(
    pmd_inexact.QUICK_GRID, family="bandit", margin=3.0, model="uniform"
)


def test_inexact_holds():
    assert all(v.holds for v in run(pmd_inexact, INEXACT))


def test_inexact_fails_when_the_error_exceeds_b(monkeypatch):
    def broken(mdp, *, q_error=0.0, **kw):
        return REAL_PMD(mdp, q_error=100 * q_error, **kw)

    monkeypatch.setattr(pmd, "policy_mirror_descent", broken)
    bound, scaling, _ = run(pmd_inexact, INEXACT)
    assert not bound.holds and not scaling.holds


SAMPLED = pmd_sampled.QUICK_GRID


def test_sampled_fails_for_a_biased_estimator(monkeypatch):
    def broken(mdp, **kw):  # a bias that does not shrink with n: -0.5 on the optimal action
        return REAL_PMD(mdp, q_error=0.5, q_error_model="fixed", **kw)

    monkeypatch.setattr(pmd, "policy_mirror_descent", broken)
    assert not run(pmd_sampled, SAMPLED)[0].holds


GPMD = (
    pick(pmd_gpmd.QUICK_GRID, family="random", tau=1.0, eta=0.1, kind="gpmd")
    + pick(pmd_gpmd.QUICK_GRID, kind="staq", memory=4)
    + pick(pmd_gpmd.QUICK_GRID, kind="chain", eta=1e4)
)


def test_gpmd_holds():
    assert all(v.holds for v in run(pmd_gpmd, GPMD))


def test_gpmd_fails_with_a_smaller_step_than_stated(monkeypatch):
    def broken(mdp, *, eta=1.0, **kw):
        return REAL_GPMD(mdp, eta=eta * 1e-3, **kw)

    monkeypatch.setattr(pmd, "generalized_policy_mirror_descent", broken)
    rate, staq, attained = run(pmd_gpmd, GPMD)
    assert not rate.holds  # (StaQ calls the patched GPMD too)


def test_staq_check_fails_with_a_wrong_memory(monkeypatch):
    def broken(mdp, *, memory=1, **kw):
        return REAL_STAQ(mdp, memory=memory + 1, **kw)

    monkeypatch.setattr(pmd, "staq_policy_mirror_descent", broken)
    assert not run(pmd_gpmd, GPMD)[1].holds


@pytest.mark.parametrize("module", [pmd_xiao, pmd_johnson, pmd_inexact])
def test_check_catches_a_corrupted_iterate(module):
    grid = (
        XIAO[:1] if module is pmd_xiao else (JOHNSON[:1] if module is pmd_johnson else INEXACT[:1])
    )
    frame = run_sweep(grid, module.compute, executor=SerialExecutor())
    assert module.check(frame)[0].holds
    i = frame.index[frame["k"] == 3][0]
    frame.loc[i, "measured"] = frame.loc[i, "bound"] * 1.01
    assert not module.check(frame)[0].holds
