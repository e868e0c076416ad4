"""The stochastic-PG claims fail for plausibly broken algorithms and bounds (bug injection).

Each test plants one bug through the module attributes the claims call
(:mod:`theory_rl.algorithms.stochastic_pg`, :mod:`theory_rl.bounds.fatkhullin2023`) and runs
part of the claim's quick grid.  (That the claims hold for the real code is checked by
``tests/test_claims.py``.)
"""

from __future__ import annotations

import numpy as np

from theory_rl.algorithms import stochastic_pg as spg
from theory_rl.backend import as_generator
from theory_rl.bounds import fatkhullin2023 as fk
from theory_rl.experiments.claims.stochastic_pg import (
    spg_exponents,
    spg_tabular,
    spg_transport,
    spg_truncation,
    spg_unbiased,
)
from theory_rl.experiments.sweep import SerialExecutor, run_sweep


def run(module, grid):
    frame = run_sweep(grid, module.compute, executor=SerialExecutor())
    return module.check(frame)


def pick(grid, **where):
    return [c for c in grid if all(c[k] in v for k, v in where.items())]


def test_unbiased_fails_with_a_dropped_discount(monkeypatch):
    def undiscounted(problem, theta, *, horizon, n_trajectories=1, seed=None, rho=None):
        model = spg._model(problem)
        model.gamma = 1.0  # reward-to-go without gamma^h
        return model.sample(np.asarray(theta)[None], horizon, as_generator(seed), n_trajectories)[0]

    monkeypatch.setattr(spg, "gpomdp_gradient", undiscounted)
    grid = pick(spg_unbiased.QUICK_GRID, problem={"tabular"}, estimator={"gradient"})
    (verdict,) = run(spg_unbiased, grid)
    assert not verdict.holds and "FAILURES" in verdict.detail


def test_unbiased_fails_without_the_score_term_of_the_hvp(monkeypatch):
    """B v without the rank-one term grad Phi <grad log p, v> (Hess Phi v only): biased."""
    real = spg._kpg._score_trajectories

    def no_score(*args):
        real(*args)
        args[16][:] = 0.0  # score_out: grad log p(tau) dropped

    monkeypatch.setattr(spg._kpg, "_score_trajectories", no_score)
    grid = pick(spg_unbiased.QUICK_GRID, problem={"tabular"}, estimator={"hvp"})
    (verdict,) = run(spg_unbiased, grid)
    assert not verdict.holds


def test_transport_fails_with_a_sign_bug_in_the_extrapolation(monkeypatch):
    real = spg.extrapolation_point
    monkeypatch.setattr(spg, "extrapolation_point", lambda t, p, e: real(p, t, e))
    (verdict,) = run(spg_transport, spg_transport.QUICK_GRID)
    assert not verdict.holds and "n_pg_igt" in verdict.detail


def test_transport_fails_with_a_dropped_hvp_correction(monkeypatch):
    real = spg.momentum_direction
    monkeypatch.setattr(spg, "momentum_direction", lambda d, g, e, c=None: real(d, g, e))
    grid = pick(spg_transport.QUICK_GRID, method={"harpg", "normalized_momentum_pg"})
    (verdict,) = run(spg_transport, grid)
    assert not verdict.holds


def test_exponents_fail_with_a_constant_step(monkeypatch):
    """A normalised step that does not decay (wrong schedule) plateaus: slope about 0."""
    bad = {k: (0.0, q) for k, (p, q) in spg._SCHEDULES.items()}
    monkeypatch.setattr(spg, "_SCHEDULES", bad)
    grid = pick(spg_exponents.QUICK_GRID, method={"n_pg_igt", "n_harpg"})
    verdicts = run(spg_exponents, grid)
    assert len(verdicts) == 2 and not any(v.holds for v in verdicts)


def test_truncation_fails_for_a_bound_decaying_too_fast(monkeypatch):
    real = fk.gradient_truncation_bound
    monkeypatch.setattr(
        fk,
        "gradient_truncation_bound",
        lambda H, *, gamma, **kw: real(2 * np.asarray(H), gamma=gamma, **kw),  # gamma^(2H)
    )
    grid = pick(spg_truncation.QUICK_GRID, family={"tabular"}, gamma={0.9})
    gradient, _ = run(spg_truncation, grid)
    assert not gradient.holds


def test_truncation_fails_for_an_undiscounted_truncated_gradient(monkeypatch):
    real = spg._MDPModel.truncated

    def undiscounted(self, theta, horizon, order, partial=False):
        gamma, self.gamma = self.gamma, 1.0
        try:
            return real(self, theta, horizon, order, partial)
        finally:
            self.gamma = gamma

    monkeypatch.setattr(spg._MDPModel, "truncated", undiscounted)
    grid = pick(spg_truncation.QUICK_GRID, family={"tabular"}, gamma={0.8})
    verdicts = run(spg_truncation, grid)
    assert not any(v.holds for v in verdicts)


def test_tabular_fails_for_descent(monkeypatch):
    real = spg.ascent_step
    monkeypatch.setattr(
        spg, "ascent_step", lambda t, d, s, normalize: real(t, -d, s, normalize=normalize)
    )
    grid = [{**c, "n_iterations": 300, "n_runs": 16} for c in spg_tabular.QUICK_GRID[:1]]
    (verdict,) = run(spg_tabular, grid)
    assert not verdict.holds
