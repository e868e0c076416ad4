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



# ------------------------------------------------------------------------------------------
# relative_vi
# ------------------------------------------------------------------------------------------
from theory_rl.algorithms import average_reward  # noqa: E402
from theory_rl.bounds import goyal2023  # noqa: E402
from theory_rl.experiments.claims.dp import accelerated_vi, relative_vi  # noqa: E402

RVI_GRID = pick(relative_vi.QUICK_GRID, replicate=0)
REAL_RVI = average_reward.relative_value_iteration


def test_relative_vi_claim_holds():
    _, verdicts = run(relative_vi, relative_vi.QUICK_GRID)
    assert len(verdicts) == 4 and all(v.holds for v in verdicts), [v.measured for v in verdicts]


def test_relative_vi_lp_gain_matches_policy_iteration():
    mdp = relative_vi._instance({**RVI_GRID[0], "seed": 3})
    g_lp, lp_tol = relative_vi.lp_gain(mdp)
    g_pi = average_reward.average_reward_policy_iteration(mdp).params["gain"]
    assert lp_tol < 1e-8 and abs(g_lp - g_pi) <= lp_tol + 1e-12


def test_relative_vi_claim_fails_with_a_dropped_aperiodicity_factor(monkeypatch):
    def dropped(P2, r, v, A, tau):  # P_tau = tau I + P: (1 - tau) dropped
        q = (r + np.asarray(P2 @ v)).reshape(-1, A) + tau * v[:, None]
        return q.max(axis=1), q.argmax(axis=1)

    monkeypatch.setattr(average_reward, "_bellman", dropped)
    _, verdicts = run(relative_vi, RVI_GRID)
    assert not verdicts[0].holds  # the gain is no longer the LP's


def test_relative_vi_claim_fails_when_the_bias_is_not_rescaled(monkeypatch):
    def unscaled(mdp, **kw):
        res = REAL_RVI(mdp, **kw)
        return dataclasses.replace(res, values=res.values / (1.0 - kw["aperiodicity"]))

    monkeypatch.setattr(average_reward, "relative_value_iteration", unscaled)
    _, verdicts = run(relative_vi, RVI_GRID)
    assert not verdicts[3].holds


def test_relative_vi_claim_fails_with_a_wrong_reference_state(monkeypatch):
    def first_state(mdp, **kw):
        return REAL_RVI(mdp, **{**kw, "reference_state": 0})

    monkeypatch.setattr(average_reward, "relative_value_iteration", first_state)
    _, verdicts = run(relative_vi, RVI_GRID)
    assert not verdicts[3].holds


def test_relative_vi_contraction_verdict_fails_for_a_span_that_grows():
    frame, _ = run(relative_vi, pick(RVI_GRID, family="random", aperiodicity=0.0))
    i = frame.index[(frame["k"] == 1)][0]
    frame.loc[i, "next_span"] = 1.5 * frame.loc[i, "span"]
    verdicts = relative_vi.check(frame)
    assert not verdicts[1].holds and not verdicts[2].holds


def test_span_coefficient():
    P2 = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    assert relative_vi.span_coefficient(P2) == pytest.approx(1.0)
    assert relative_vi.span_coefficient(np.full((4, 4), 0.25)) == pytest.approx(0.0)
    assert relative_vi.span_coefficient(P2[:2]) == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------
# accelerated_vi
# ------------------------------------------------------------------------------------------
AVI_GRID = pick(accelerated_vi.QUICK_GRID, replicate=0)
REAL_RATE, REAL_MOMENTUM = goyal2023.avi_rate, goyal2023.avi_momentum


def test_accelerated_vi_claim_holds():
    _, verdicts = run(accelerated_vi, accelerated_vi.QUICK_GRID)
    assert len(verdicts) == 2 and all(v.holds for v in verdicts), [v.measured for v in verdicts]


def test_accelerated_vi_claim_fails_with_a_squared_rate_in_the_bound(monkeypatch):
    monkeypatch.setattr(goyal2023, "avi_rate", lambda gamma: REAL_RATE(gamma) ** 2)
    _, verdicts = run(accelerated_vi, pick(AVI_GRID, part="evaluation"))
    assert not verdicts[0].holds


def test_accelerated_vi_claim_fails_with_a_momentum_above_nesterovs(monkeypatch):
    # still < 1 (accepted by the solver) but outside the range where the rate rho holds
    monkeypatch.setattr(goyal2023, "avi_momentum", lambda gamma: (1 + REAL_MOMENTUM(gamma)) / 2)
    _, verdicts = run(accelerated_vi, pick(AVI_GRID, part="evaluation"))
    assert not verdicts[0].holds


def test_accelerated_vi_claim_fails_when_the_safeguard_accepts_every_step(monkeypatch):
    def unguarded(mdp, *, step, momentum, max_iterations, initial_values, **kw):
        v = prev = np.asarray(initial_values, dtype=float)
        residual = [float(np.abs(dp.bellman_optimality_operator(mdp, v) - v).max())]
        for _ in range(max_iterations):
            h = v + momentum * (v - prev)
            prev, v = v, h - step * (h - dp.bellman_optimality_operator(mdp, h))
            residual.append(float(np.abs(dp.bellman_optimality_operator(mdp, v) - v).max()))
        n = len(residual)
        return dataclasses.replace(
            dp.value_iteration(mdp, max_iterations=1),
            history={"residual": np.array(residual), "accepted": np.ones(n, dtype=int)},
        )

    monkeypatch.setattr(dp, "safeguarded_accelerated_value_iteration", unguarded)
    _, verdicts = run(accelerated_vi, pick(AVI_GRID, part="control"))
    assert len(verdicts) == 1 and "S-AVI" in verdicts[0].theorem and not verdicts[0].holds
