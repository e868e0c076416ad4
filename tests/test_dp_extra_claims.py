"""The claims of the Gauss-Seidel, anchored/accelerated and average-reward solvers hold for the
real algorithms and FAIL for ones with a planted bug."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from theory_rl.algorithms import dp
from theory_rl.bounds import lee2023
from theory_rl.experiments.claims.dp import anchored_vi
from theory_rl.experiments.sweep import SerialExecutor, run_sweep

REAL_SCHEDULE = dp.anchoring_schedule


def run(module, grid):
    frame = run_sweep(grid, module.compute, executor=SerialExecutor())
    return frame, module.check(frame)


def pick(grid, **where):
    return [c for c in grid if all(c[k] == v for k, v in where.items())]


# ------------------------------------------------------------------------------------------
# anchored_vi
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gamma", [0.3, 0.9, 0.99, 0.999, 1.0])
def test_lee_ryu_closed_form_equals_the_derived_coefficient_bound(gamma):
    for k in (0, 1, 2, 7, 40):
        betas = dp.anchoring_schedule(gamma, np.arange(k + 1))
        derived = lee2023.anchored_coefficient_bound(betas, gamma)
        assert derived == pytest.approx(float(lee2023.anchored_vi_bound(gamma, k, 1.0)),
                                        rel=1e-9)


ANC_GRID = pick(anchored_vi.QUICK_GRID, replicate=0)


def test_anchored_vi_claim_holds():
    _, verdicts = run(anchored_vi, ANC_GRID)
    assert len(verdicts) == 2 and all(v.holds for v in verdicts)


def test_anchored_vi_claim_fails_with_the_undiscounted_schedule_at_gamma_below_one(monkeypatch):
    # a plausible bug: beta_k = 1/(k+1) (the gamma = 1 schedule) for every gamma
    monkeypatch.setattr(dp, "anchoring_schedule", lambda gamma, k: REAL_SCHEDULE(1.0, k))
    _, verdicts = run(anchored_vi, pick(ANC_GRID, gamma=0.9))
    assert not any(v.holds for v in verdicts)


def test_anchored_vi_claim_fails_with_a_dropped_square_in_the_schedule(monkeypatch):
    # beta_k = 1 / sum gamma^{-i} (gamma^{-2i} mistyped): anchors too strongly for too long
    def wrong(gamma, k):
        ks = np.asarray(k, dtype=float)
        return (1 - gamma) * gamma**ks / (1 - gamma ** (ks + 1)) if gamma < 1 else 1 / (ks + 1)

    monkeypatch.setattr(dp, "anchoring_schedule", wrong)
    _, verdicts = run(anchored_vi, pick(ANC_GRID, gamma=0.9))
    assert not all(v.holds for v in verdicts)


# ------------------------------------------------------------------------------------------
# gs_vi
# ------------------------------------------------------------------------------------------
from theory_rl.experiments.claims.dp import gs_vi  # noqa: E402

REAL_GS = dp.gauss_seidel_value_iteration
GS_GRID = pick(gs_vi.QUICK_GRID, replicate=0)


def test_gs_vi_claim_holds():
    _, verdicts = run(gs_vi, GS_GRID)
    assert len(verdicts) == 3 and all(v.holds for v in verdicts)


def test_gs_vi_claim_fails_when_the_stopping_rule_drops_its_factor(monkeypatch):
    # a plausible bug: stop on ||v' - v|| <= tol/2, dropping gamma/(1 - gamma)
    def dropped(mdp, *, tol, **kw):
        return REAL_GS(mdp, tol=tol * mdp.gamma / (1 - mdp.gamma), **kw)

    monkeypatch.setattr(dp, "gauss_seidel_value_iteration", dropped)
    _, verdicts = run(gs_vi, pick(GS_GRID, gamma=0.99))
    assert not verdicts[0].holds


def test_gs_vi_claim_sweep_verdict_fails_for_a_slower_iteration(monkeypatch):
    # a "Gauss-Seidel" that sweeps with stale values twice as often (Jacobi half-steps)
    def slow(mdp, *, tol, **kw):
        res = REAL_GS(mdp, tol=tol, **kw)
        return dataclasses.replace(res, n_iterations=2 * res.n_iterations + 5)

    monkeypatch.setattr(dp, "gauss_seidel_value_iteration", slow)
    _, verdicts = run(gs_vi, pick(GS_GRID, gamma=0.9))
    assert not verdicts[2].holds

