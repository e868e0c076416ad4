"""Property tests (hypothesis) on small random MDPs: contraction, agreement, linear systems."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from theory_rl.algorithms import dp
from theory_rl.mdps import TabularMDP

small = st.builds(
    lambda S, A, gamma, seed, sparse: _mdp(S, A, gamma, seed, sparse),
    S=st.integers(1, 6),
    A=st.integers(1, 6),
    gamma=st.floats(0.0, 0.98),
    seed=st.integers(0, 2**32 - 1),
    sparse=st.booleans(),
)


def _mdp(S, A, gamma, seed, sparse):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(S, 0.5), size=(S, A))
    P[rng.random((S, A, S)) < 0.3] = 0.0  # some structural zeros
    P[..., 0] += P.sum(-1) == 0  # keep rows non-empty
    P /= P.sum(-1, keepdims=True)
    m = TabularMDP(P, rng.normal(size=(S, A)), gamma)
    return m.to_sparse() if sparse else m


SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(mdp=small, seed=st.integers(0, 1000))
def test_bellman_operator_is_gamma_contraction(mdp, seed):
    rng = np.random.default_rng(seed)
    u, v = rng.normal(scale=10, size=(2, mdp.n_states))
    lhs = np.max(
        np.abs(dp.bellman_optimality_operator(mdp, u) - dp.bellman_optimality_operator(mdp, v))
    )
    assert lhs <= mdp.gamma * np.max(np.abs(u - v)) + 1e-12


@SETTINGS
@given(mdp=small)
def test_vi_pi_mpi_lp_agree(mdp):
    pi = dp.policy_iteration(mdp)
    scale = 1 + np.abs(mdp.rewards).max() / (1 - mdp.gamma)
    for res in (
        dp.value_iteration(mdp, tol=1e-10),
        dp.modified_policy_iteration(mdp, m=3, tol=1e-10),
    ):
        assert np.max(np.abs(res.values - pi.values)) <= 1e-10
        # the policies may differ on ties, but each must be optimal to the guaranteed tolerance
        assert np.max(pi.values - dp.policy_evaluation(mdp, res.policy)) <= 1e-10 + 1e-12 * scale
    assert np.max(np.abs(dp.linear_programming(mdp).values - pi.values)) <= 1e-6 * scale


@SETTINGS
@given(mdp=small, seed=st.integers(0, 1000))
def test_policy_values_solve_their_linear_system(mdp, seed):
    pi = np.random.default_rng(seed).dirichlet(np.ones(mdp.n_actions), size=mdp.n_states)
    v = dp.policy_evaluation(mdp, pi)
    P_pi, r_pi = mdp.policy_matrix(pi)
    assert np.max(np.abs(v - mdp.gamma * (P_pi @ v) - r_pi)) <= 1e-11 * (1 + np.abs(v).max())
    d = dp.occupancy_measure(mdp, pi)
    assert abs(d.sum() - 1) <= 1e-12 and d.min() >= -1e-14


@SETTINGS
@given(mdp=small)
def test_optimal_policy_dominates_every_deterministic_policy_sampled(mdp):
    res = dp.policy_iteration(mdp)
    rng = np.random.default_rng(0)
    others = rng.integers(0, mdp.n_actions, size=(8, mdp.n_states))
    assert np.all(dp.policy_evaluation(mdp, others) <= res.values + 1e-10)
    np.testing.assert_allclose(res.policy.sum(1), 1.0)
