"""The distributional claims have power: each planted bug makes at least one verdict fail.

Bugs: the C51 floor/ceil projection that drops the mass of atoms landing on a support point;
the quantile tie convention flipped (round up); a contraction bound made tighter (gamma^k for
the categorical sqrt(gamma)^k); a CVaR solver restricted to Markov (t, s) policies; the
Rockafellar-Uryasev outer search with the 1/alpha dropped; a stock-augmented DVI with the discount
dropped from the stock recursion; a gamma^n bound made tighter (gamma^(n+1)); a squared discount
in the categorical stock sweep; a "fixed" exponential-utility DVI that is always optimal (so
the negative control no longer separates); quantile levels at the cell ends i/m instead of the
midpoints; a quantile stock bound claiming the rate M^-2; and a squared discount in the quantile
stock sweep.
"""

from __future__ import annotations

import numpy as np
import pytest

from theory_rl.algorithms import _stock_reference as ref
from theory_rl.algorithms import distributional as D
from theory_rl.bounds import pires2025, rowland2018
from theory_rl.experiments.claims.distributional import dist_evaluation, stock_cvar, stock_dvi
from theory_rl.experiments.sweep import SerialExecutor, run_sweep
from theory_rl.result import SolveResult


def verdicts(module, grid):
    return module.check(run_sweep(grid, module.compute, executor=SerialExecutor()))


def pick(grid, **where):
    return [c for c in grid if all(c.get(k) == v for k, v in where.items())]


def assert_caught(module, grid):
    vs = verdicts(module, grid)
    assert not all(v.holds for v in vs), [v.measured for v in vs]


def assert_holds(module, grid):
    vs = verdicts(module, grid)
    assert all(v.holds for v in vs), [v.detail or v.measured for v in vs if not v.holds]


EVAL_ATOMS = pick(dist_evaluation.QUICK_GRID, part="atoms")
EVAL_CON = pick(dist_evaluation.QUICK_GRID, part="contraction", family="self_loop")
CVAR_GRID = stock_cvar.QUICK_GRID[:2] + stock_cvar.QUICK_GRID[-1:]
DVI_GRID = pick(stock_dvi.QUICK_GRID, part="dvi", objective="cvar")
CONTROL_GRID = pick(stock_dvi.QUICK_GRID, part="control")


def test_the_real_algorithms_pass():
    assert_holds(dist_evaluation, EVAL_ATOMS + EVAL_CON)
    assert_holds(stock_cvar, CVAR_GRID)
    assert_holds(stock_dvi, DVI_GRID + CONTROL_GRID)


def test_floor_ceil_projection_bug_is_caught(monkeypatch):
    real = D._Operator.categorical

    def buggy(self, probs, theta):
        out = real(self, probs, theta)
        # the floor/ceil formula loses the mass of targets on a support point; the iterate is
        # then renormalised (as implementations that softmax or normalise their targets do)
        M = theta.size
        spacing = (theta[-1] - theta[0]) / (M - 1)
        y = self.out.rew[:, None] + self.gamma * theta[None, :]
        u = (y - theta[0]) / spacing
        on = np.isclose(u, np.round(u)) & (u > 0) & (u < M - 1)
        w = self.pi.reshape(-1)[self.out.row] * self.out.prob
        lost = np.zeros_like(out)
        q = w[:, None] * np.asarray(probs)[self.out.nxt] * on
        np.add.at(lost, (self.state[:, None], np.clip(np.round(u).astype(int), 0, M - 1)), q)
        out = out - lost
        return out / out.sum(axis=1, keepdims=True)

    monkeypatch.setattr(D._Operator, "categorical", buggy)
    assert_caught(dist_evaluation, pick(EVAL_ATOMS, kind="categorical"))


def test_round_up_tie_convention_is_caught(monkeypatch):
    monkeypatch.setattr(D, "TIE_TOL", -1e-10)  # a cumulative weight equal to tau does not count
    assert_caught(dist_evaluation, pick(EVAL_ATOMS, kind="quantile"))


def test_tighter_contraction_bound_is_caught(monkeypatch):
    real = rowland2018.contraction_factor
    monkeypatch.setattr(
        rowland2018, "contraction_factor", lambda kind, gamma: real("quantile", gamma)
    )  # gamma for sqrt(gamma)
    assert_caught(dist_evaluation, pick(EVAL_CON, kind="categorical"))


def test_markov_only_cvar_is_caught(monkeypatch):
    real = D.cvar_optimal_policy

    def markov_only(mdp, alpha, **kw):
        res = real(mdp, alpha, **kw)
        values = np.array(
            [
                [
                    ref.brute_force(mdp, s, alpha=a, policy_class="markov")[0]
                    for s in range(mdp.n_states)
                ]
                for a in np.atleast_1d(alpha)
            ]
        )
        return SolveResult(res.policy, values, None, 1, True, "markov", params=dict(res.params))

    monkeypatch.setattr(D, "cvar_optimal_policy", markov_only)
    assert_caught(stock_cvar, pick(stock_cvar.QUICK_GRID, horizon=4))


def test_outer_search_without_one_over_alpha_is_caught(monkeypatch):
    real = D._integer_backward

    def scaled(mdp, f):
        U, greedy, lo, span = real(mdp, f)
        return U * 0.5, greedy, lo, span  # as if b + U/alpha used alpha = 2 alpha

    monkeypatch.setattr(D, "_integer_backward", scaled)
    assert_caught(stock_cvar, CVAR_GRID)


def test_dropped_discount_in_the_stock_update_is_caught(monkeypatch):
    real_init = D._StockGrid.__init__

    def no_discount(self, mdp, obj, stock_grid, n_stocks, **kw):
        real_init(self, mdp, obj, stock_grid, n_stocks, **kw)
        self.gk = 1.0  # gamma^k dropped: U_{n+1} = max_a E U_n(S', (c + R)/gamma)

    monkeypatch.setattr(D._StockGrid, "__init__", no_discount)
    assert_caught(stock_dvi, DVI_GRID)


def test_tighter_gamma_n_bound_is_caught(monkeypatch):
    real = pires2025.dvi_value_bound
    monkeypatch.setattr(
        pires2025, "dvi_value_bound", lambda g0, gamma, n: real(g0, gamma, n) * gamma
    )
    assert_caught(stock_dvi, DVI_GRID)


def test_control_that_no_longer_separates_is_caught(monkeypatch):
    def always_optimal(mdp, objective, **kw):
        f = (
            (lambda x: -np.exp(-1.5 * np.asarray(x)))
            if objective == "exponential"
            else (lambda x: -np.abs(x))
        )
        best = [ref.brute_force(mdp, s, f=f)[0] for s in range(mdp.n_states)]
        return SolveResult(
            np.eye(mdp.n_actions)[[0] * mdp.n_states],
            np.array(best),
            None,
            mdp.horizon,
            True,
            "oracle",
        )

    monkeypatch.setattr(D, "distributional_value_iteration", always_optimal)
    vs = verdicts(stock_dvi, CONTROL_GRID)
    assert not vs[-1].holds and "0/" in vs[-1].measured


@pytest.mark.parametrize("module", [dist_evaluation, stock_cvar, stock_dvi])
def test_quick_grids_are_small(module):
    assert 0 < len(module.QUICK_GRID) <= len(module.GRID)


def test_squared_discount_in_the_categorical_stock_sweep_is_caught(monkeypatch):
    from theory_rl.kernels import distributional as kd

    real = kd._stock_categorical_sweep

    def squared(indptr, nxt, rew, prob, grid, laws, lo, hi, theta0, spacing, gamma, *rest):
        return real(indptr, nxt, rew, prob, grid, laws, lo, hi, theta0, spacing, gamma**2, *rest)

    monkeypatch.setattr(kd, "_stock_categorical_sweep", squared)
    vs = verdicts(stock_dvi, pick(stock_dvi.QUICK_GRID, part="representation"))
    assert not vs[-1].holds, vs[-1].measured


QUANTILE_GRID = pick(stock_dvi.QUICK_GRID, part="quantile", objective="cvar")


def test_quantile_stock_passes():
    assert_holds(stock_dvi, QUANTILE_GRID)


def test_quantile_levels_at_cell_ends_are_caught(monkeypatch):
    # tau_i = i/m (the upper end of each cell) for the midpoints (2i - 1)/(2m)
    monkeypatch.setattr(D, "_taus", lambda m: np.arange(1, m + 1) / m)
    assert_caught(stock_dvi, QUANTILE_GRID)


def test_quantile_stock_bound_with_a_faster_rate_is_caught(monkeypatch):
    real = pires2025.quantile_stock_error_bound

    def faster(span, gamma, horizon, m, **kw):  # claims M^-2 for the derived M^-1
        return real(span, gamma, horizon, m, **kw) / np.asarray(m, dtype=float)

    monkeypatch.setattr(pires2025, "quantile_stock_error_bound", faster)
    assert_caught(stock_dvi, QUANTILE_GRID)


def test_squared_discount_in_the_quantile_stock_sweep_is_caught(monkeypatch):
    from theory_rl.kernels import distributional as kd

    real = kd._stock_quantile_q

    def squared(indptr, nxt, rew, prob, grid, atoms, lo, hi, taus, tie, gamma, *rest):
        return real(indptr, nxt, rew, prob, grid, atoms, lo, hi, taus, tie, gamma**2, *rest)

    monkeypatch.setattr(kd, "_stock_quantile_q", squared)
    vs = verdicts(stock_dvi, pick(stock_dvi.QUICK_GRID, part="representation", objective="mean"))
    bad = [v for v in vs if "quantile" in v.theorem]
    assert bad and not bad[0].holds, bad[0].measured if bad else vs
