"""The soft-robust claims hold for the real algorithms and FAIL for deliberately broken ones
(each bug is planted through the module attribute the claim calls)."""

from __future__ import annotations

import numpy as np
import pytest

from theory_rl.algorithms import rrmdp
from theory_rl.algorithms.mirror import project_simplex
from theory_rl.experiments.claims.soft_robust import (
    soft_equivalence,
    soft_limits,
    soft_pg_ring,
    soft_pg_sampled,
    soft_pg_theorem,
    soft_r2,
    soft_rfzi,
)
from theory_rl.experiments.sweep import SerialExecutor, run_sweep
from theory_rl.mdps.soft_robust import EntropicRisk, risk_of

pytestmark = pytest.mark.filterwarnings("ignore::theory_rl.bounds.mdp_constants.RoundoffWarning")


def verdicts(module, grid):
    frame = run_sweep(grid, module.compute, executor=SerialExecutor())
    return frame, module.check(frame)


def holds(vs, theorem_part):
    (v,) = [v for v in vs if theorem_part in v.theorem]
    return v.holds


def test_equivalence_fails_when_the_risk_route_confuses_lam_and_beta(monkeypatch):
    grid = [c for c in soft_equivalence.QUICK_GRID if c["penalty"] == "kl"][:1]

    def confused(penalty):
        return EntropicRisk(penalty.lam) if penalty.kind == "kl_penalty" else risk_of(penalty)

    monkeypatch.setattr(soft_equivalence, "risk_of", confused)
    _, vs = verdicts(soft_equivalence, grid)
    assert not holds(vs, "optimal values") and not holds(vs, "randomising policy")


def test_equivalence_failing_case_needs_the_joint_nesting(monkeypatch):
    """If the 'joint' nesting silently fell back to the paper's, the failing case would vanish."""
    grid = [c for c in soft_equivalence.QUICK_GRID if c["penalty"] == "kl"][:1]
    real = rrmdp.risk_sensitive_value_iteration

    def no_joint(mdp, risk, **kw):
        kw["nesting"] = "action"
        return real(mdp, risk, **kw)

    monkeypatch.setattr(rrmdp, "risk_sensitive_value_iteration", no_joint)
    _, vs = verdicts(soft_equivalence, grid)
    assert not holds(vs, "condition")


def test_limits_fail_for_an_inverted_weight_and_a_tighter_bound(monkeypatch):
    grid = soft_limits.QUICK_GRID[:1]  # KL
    monkeypatch.setattr(soft_limits, "CONSTANT", {"kl": 1 / 80, "chi2": 1 / 16, "tv": 0})
    _, vs = verdicts(soft_limits, grid)
    assert not holds(vs, "rate of the limit")
    monkeypatch.undo()
    real = soft_limits.penalty
    monkeypatch.setattr(soft_limits, "penalty", lambda name, lam: real(name, 1.0 / lam))
    _, vs = verdicts(soft_limits, grid)
    assert not holds(vs, "monotonically")


def test_lagrangian_identity_fails_for_a_misread_radius(monkeypatch):
    from theory_rl.mdps.robust import KLBall

    monkeypatch.setattr(soft_limits, "KLBall", lambda delta: KLBall(1.01 * delta))
    _, vs = verdicts(soft_limits, soft_limits.QUICK_GRID[:1])
    assert not holds(vs, "Lagrangian")


def test_pg_theorem_fails_with_the_nominal_occupancy(monkeypatch):
    def nominal(self, pi, worst):
        return real(self, pi, self.P2)

    real = rrmdp._Batch.occupancy
    monkeypatch.setattr(rrmdp._Batch, "occupancy", nominal)
    _, vs = verdicts(soft_pg_theorem, soft_pg_theorem.QUICK_GRID[:1])
    assert not vs[0].holds


def test_pg_theorem_fails_without_the_one_over_one_minus_gamma(monkeypatch):
    real = rrmdp.soft_robust_pg_gradient
    monkeypatch.setattr(
        rrmdp,
        "soft_robust_pg_gradient",
        lambda m, p, pi, **kw: real(m, p, pi, **kw) * (1 - m.gamma),
    )
    _, vs = verdicts(soft_pg_theorem, soft_pg_theorem.QUICK_GRID[:1])
    assert not vs[0].holds


def test_pg_sampled_fails_without_the_importance_weight(monkeypatch):
    real = rrmdp._sampled_gradient

    def no_weight(batch, pi, ev, n, rng):
        g, count = real(batch, pi, ev, n, rng)
        return g / batch.A, count

    monkeypatch.setattr(rrmdp, "_sampled_gradient", no_weight)
    _, vs = verdicts(soft_pg_sampled, soft_pg_sampled.QUICK_GRID)
    assert not holds(vs, "unbiased")


def test_pg_sampled_fails_when_the_nominal_kernel_is_sampled(monkeypatch):
    real = rrmdp._sampled_gradient

    def nominal(batch, pi, ev, n, rng):
        return real(batch, pi, dict(ev, worst=batch.P2.copy()), n, rng)

    monkeypatch.setattr(rrmdp, "_sampled_gradient", nominal)
    _, vs = verdicts(soft_pg_sampled, soft_pg_sampled.QUICK_GRID)
    assert not holds(vs, "unbiased")


def test_pg_ring_fails_for_a_renormalising_step(monkeypatch):
    """Clip-and-renormalise instead of the Euclidean projection: not projected gradient ascent."""

    def clipped(policy, gradient, *, eta, action_mask=None):
        x = np.maximum(np.asarray(policy) + np.asarray(eta) * np.asarray(gradient), 1e-12)
        return x / x.sum(axis=-1, keepdims=True)

    monkeypatch.setattr(rrmdp, "soft_robust_pg_step", clipped)
    _, vs = verdicts(soft_pg_ring, soft_pg_ring.QUICK_GRID)
    assert not all(v.holds for v in vs)


def test_pg_ring_rate_fails_against_a_tighter_exponent(monkeypatch):
    monkeypatch.setattr(soft_pg_ring, "pg_rate_exponent", lambda: -1.5)
    frame = run_sweep([{"n_iterations": 120}], soft_pg_ring.compute, executor=SerialExecutor())
    assert not holds(soft_pg_ring.check(frame), "rate")


def test_rfzi_fails_when_the_targets_drop_gamma(monkeypatch):
    real = rrmdp._rfzi_targets
    monkeypatch.setattr(rrmdp, "_rfzi_targets", lambda z, r, beta, gamma: real(z, r, beta, 1.0))
    grid = [c for c in soft_rfzi.QUICK_GRID if c["kind"] in ("exact", "sampled")]
    _, vs = verdicts(soft_rfzi, grid)
    assert not holds(vs, "contraction") and not holds(vs, "sample size")


def test_rfzi_slope_fails_when_only_one_sample_per_pair_is_used(monkeypatch):
    real = rrmdp.TabularClass.fit

    def first_only(self, states, actions, targets, n_states, n_actions):
        idx = states * n_actions + actions
        _, first = np.unique(idx, return_index=True)
        return real(self, states[first], actions[first], targets[first], n_states, n_actions)

    monkeypatch.setattr(rrmdp.TabularClass, "fit", first_only)
    grid = [c for c in soft_rfzi.QUICK_GRID if c["kind"] == "sampled"]
    _, vs = verdicts(soft_rfzi, grid)
    assert not holds(vs, "sample size")


def test_r2_fails_when_the_regulariser_drops_gamma(monkeypatch):
    def no_gamma(mdp, ball, v):
        q0 = rrmdp._dp.q_values(mdp, v)
        return (
            q0 - ball.per_pair("alpha", mdp) - ball.per_pair("beta", mdp) * rrmdp._norm_q(v, ball.q)
        )

    monkeypatch.setattr(rrmdp, "_r2_q", no_gamma)
    _, vs = verdicts(soft_r2, soft_r2.QUICK_GRID[:1])
    assert not all(v.holds for v in vs)


def test_project_simplex_is_what_the_pg_step_uses():
    x = np.array([[0.2, 0.9, -0.3]])
    np.testing.assert_allclose(rrmdp.soft_robust_pg_step(x, 0 * x, eta=1.0), project_simplex(x))
