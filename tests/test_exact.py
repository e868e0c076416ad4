"""The one reference solution (``theory_rl.reference``) and the shared exact evaluator."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

import theory_rl
from theory_rl.algorithms.exact import ExactEvaluator
from theory_rl.algorithms.mirror import logsumexp
from theory_rl.mdps import garnet


@pytest.fixture(scope="module")
def mdp():
    return garnet(12, 3, 2, gamma=0.9, seed=4, sparse=False)


def _lp_values(mdp) -> np.ndarray:
    """V* from scipy's LP (min 1^T v s.t. v >= r + gamma P v), independent of the package."""
    S, A = mdp.n_states, mdp.n_actions
    P = mdp.to_dense().transitions.reshape(S * A, S)
    E = np.repeat(np.eye(S), A, axis=0)
    res = linprog(
        np.ones(S),
        A_ub=mdp.gamma * P - E,
        b_ub=-mdp.rewards.ravel(),
        bounds=[(None, None)] * S,
        method="highs",
    )
    assert res.status == 0
    return res.x


def test_reference_agrees_with_an_outside_lp(mdp):
    ref = theory_rl.reference(mdp)
    lp = _lp_values(mdp)
    np.testing.assert_allclose(ref.values, lp, atol=1e-7)  # HiGHS' own tolerance
    assert float(ref.error) < 1e-12
    assert np.allclose(ref.q_values.max(-1), ref.values, atol=1e-12)
    assert np.isclose(ref.occupancy.sum(), 1.0)


def test_regularized_reference_solves_the_soft_bellman_equation(mdp):
    tau = 0.3
    ref = theory_rl.reference(mdp, tau=tau)
    soft_v = tau * logsumexp(ref.q_values / tau)
    tq = mdp.rewards + mdp.gamma * mdp.to_dense().transitions @ soft_v
    assert np.abs(tq - ref.q_values).max() <= float(ref.error) * (1 - mdp.gamma) + 1e-13
    np.testing.assert_allclose(
        ref.policy, np.exp((ref.q_values - soft_v[:, None]) / tau), atol=1e-12
    )


def test_batch_equals_single_references(mdp):
    other = garnet(12, 3, 2, gamma=0.8, seed=5, sparse=False)
    batch = theory_rl.reference([mdp, other])
    for b, m in enumerate((mdp, other)):
        one = theory_rl.reference(m)
        np.testing.assert_array_equal(batch.values[b], one.values)
        np.testing.assert_array_equal(batch.policy[b], one.policy)


def test_a_mismatched_reference_is_refused(mdp):
    ev = ExactEvaluator(mdp)
    with pytest.raises(ValueError, match="reference is for tau"):
        theory_rl.reference(mdp).check(ev, tau=0.1, regularizer="entropy")
    with pytest.raises(ValueError, match="reference has q_values of shape"):
        theory_rl.reference(garnet(5, 3, 2, gamma=0.9, seed=0, sparse=False)).check(ev)
    with pytest.raises(ValueError, match="rho"):
        rho = np.arange(1.0, 13.0) / np.arange(1.0, 13.0).sum()
        theory_rl.reference(mdp, rho=rho).check(ev)
    with pytest.raises(ValueError, match="regularizer needs tau > 0"):
        theory_rl.reference(mdp, regularizer="entropy")
    with pytest.raises(ValueError, match="tau"):
        theory_rl.reference(mdp, tau="0.1")


def test_tiny_probabilities_are_flushed_without_changing_values(mdp):
    """Probabilities below eps**2 are dropped before the solve (subnormal arithmetic made the
    cost per iteration grow); the values move by far less than the round-off floor."""
    ev = ExactEvaluator(mdp)
    pi = np.zeros((1, 12, 3))
    pi[..., 0] = 1.0
    tiny = pi.copy()
    tiny[..., 1] = 1e-40
    tiny[..., 2] = 1e-310  # subnormal
    assert np.all(ev.flush_subnormal(tiny) == pi)
    kept = pi.copy()
    kept[..., 1] = 1e-20  # above eps**2: kept
    assert np.all(ev.flush_subnormal(kept) == kept)
    np.testing.assert_allclose(ev.evaluate(tiny)[0], ev.evaluate(pi)[0], rtol=1e-15)
