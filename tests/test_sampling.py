"""Sampling API against exact quantities.

Statistical checks use 5 standard errors (two-sided normal tail 5.7e-7 per comparison; at most a
few hundred comparisons per test, so a false alarm has probability below 1e-3 for a random seed;
the seeds are fixed, so the tests are deterministic).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dense_mdp, sparse_mdp

from theory_rl.algorithms import dp
from theory_rl.algorithms import sampling as sm
from theory_rl.mdps.generators import chain

Z = 5.0


@pytest.fixture(scope="module")
def small():
    return dense_mdp(6, 3, 0.8, seed=3)


def random_policy(S, A, seed):
    return np.random.default_rng(seed).dirichlet(np.ones(A), size=S)


def truncated_q(mdp, pi, H):
    """Exact E[sum_{t<H} gamma^t r] from every pair (the rollout estimator's mean)."""
    P = mdp.transitions
    q = mdp.rewards.copy()
    for _ in range(H - 1):
        q = mdp.rewards + mdp.gamma * P @ (pi * q).sum(axis=1)
    return q


def test_same_seed_same_numbers(small):
    pi = random_policy(6, 3, 0)
    a = sm.sample_next_states(small, 50, seed=7)
    assert np.array_equal(a, sm.sample_next_states(small, 50, seed=7))
    assert not np.array_equal(a, sm.sample_next_states(small, 50, seed=8))
    q1, n1 = sm.estimate_q(small, pi, n_rollouts=5, horizon=10, seed=np.random.SeedSequence(3))
    q2, n2 = sm.estimate_q(small, pi, n_rollouts=5, horizon=10, seed=np.random.SeedSequence(3))
    assert np.array_equal(q1, q2) and n1 == n2 == 6 * 3 * 5 * 9
    t1 = sm.sample_trajectories(small, pi, n_episodes=4, horizon=6, seed=1)
    t2 = sm.sample_trajectories(small, pi, n_episodes=4, horizon=6, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(t1, t2, strict=True))
    # a Generator's stream continues: two calls differ
    rng = np.random.default_rng(0)
    assert not np.array_equal(
        sm.sample_next_states(small, 20, seed=rng), sm.sample_next_states(small, 20, seed=rng)
    )


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_next_state_frequencies(kind):
    mdp = dense_mdp(6, 3, 0.8, seed=3) if kind == "dense" else sparse_mdp(8, 3, 3, 0.8, seed=2)
    n = 20_000
    x = sm.sample_next_states(mdp, n, seed=0)
    assert x.shape == (mdp.n_states, mdp.n_actions, n) and x.dtype == np.int64
    P = mdp.to_dense().transitions
    freq = np.stack([(x == s).mean(axis=-1) for s in range(mdp.n_states)], axis=-1)
    se = np.sqrt(P * (1 - P) / n)
    assert np.all(np.abs(freq - P) <= Z * se)  # exact zeros where P = 0 (se = 0)


def test_rollout_mean_matches_truncated_value_and_truncation_bias(small):
    pi = random_policy(6, 3, 1)
    H, n = 8, 4000
    returns = sm.rollout_returns(small, pi, n_rollouts=n, horizon=H, seed=2)
    q_hat, used = sm.estimate_q(small, pi, n_rollouts=n, horizon=H, seed=2)
    assert np.array_equal(q_hat, returns.mean(axis=-1)) and used == 6 * 3 * n * (H - 1)
    se = returns.std(axis=-1, ddof=1) / np.sqrt(n)
    qH = truncated_q(small, pi, H)
    assert np.all(np.abs(q_hat - qH) <= Z * se)
    # the documented truncation bias bound gamma^H max|r| / (1 - gamma)
    q = dp.q_values(small, dp.policy_evaluation(small, pi))
    bias = small.gamma**H * np.abs(small.rewards).max() / (1 - small.gamma)
    assert np.abs(qH - q).max() <= bias * (1 + 1e-12)
    assert np.all(np.abs(q_hat - q) <= Z * se + bias)


def test_horizon_one_is_the_reward(small):
    q, used = sm.estimate_q(small, np.zeros(6, dtype=int), n_rollouts=3, horizon=1, seed=0)
    np.testing.assert_allclose(q, small.rewards, rtol=1e-15)  # mean of 3 equal numbers
    assert used == 0


def test_generative_plug_in_is_exact_on_a_deterministic_mdp():
    mdp = chain(3)
    pi = random_policy(mdp.n_states, 4, 5)
    q, used = sm.estimate_q(mdp, pi, n_rollouts=2, seed=0, method="generative")
    exact = dp.q_values(mdp, dp.policy_evaluation(mdp, pi))
    np.testing.assert_allclose(q, exact, rtol=1e-12, atol=1e-12)
    assert used == mdp.n_states * 4 * 2


def test_generative_plug_in_matches_its_empirical_model(small):
    pi = random_policy(6, 3, 2)
    q, _ = sm.estimate_q(small, pi, n_rollouts=50, seed=4, method="generative")
    nxt = sm.sample_next_states(small, 50, seed=4)
    P_hat = np.stack([(nxt == s).mean(axis=-1) for s in range(6)], axis=-1)
    from theory_rl.mdps import TabularMDP

    emp = TabularMDP(P_hat, small.rewards, small.gamma)
    np.testing.assert_allclose(q, dp.q_values(emp, dp.policy_evaluation(emp, pi)), atol=1e-12)


def test_trajectories_are_consistent_and_unbiased(small):
    pi = random_policy(6, 3, 3)
    rho = np.random.default_rng(0).dirichlet(np.ones(6))
    n, H = 20_000, 40
    s, a, r = sm.sample_trajectories(
        small, pi, n_episodes=n, horizon=H, seed=9, initial_distribution=rho
    )
    assert s.shape == (n, H + 1) and a.shape == (n, H) and r.shape == (n, H)
    assert np.array_equal(r, small.rewards[s[:, :-1], a])
    # first state ~ rho, second ~ rho P_pi
    P_pi, _ = small.policy_matrix(pi)
    for t, law in ((0, rho), (1, rho @ P_pi)):
        freq = np.bincount(s[:, t], minlength=6) / n
        assert np.all(np.abs(freq - law) <= Z * np.sqrt(law * (1 - law) / n))
    # discounted return estimates rho^T V^pi up to the truncation bias
    G = r @ small.gamma ** np.arange(H)
    v = rho @ dp.policy_evaluation(small, pi)
    bias = small.gamma**H * np.abs(small.rewards).max() / (1 - small.gamma)
    assert abs(G.mean() - v) <= Z * G.std(ddof=1) / np.sqrt(n) + bias


def test_deterministic_policy_follows_its_actions(small):
    acts = np.array([2, 0, 1, 1, 0, 2])
    s, a, _ = sm.sample_trajectories(small, acts, n_episodes=10, horizon=5, seed=0)
    assert np.array_equal(a, acts[s[:, :-1]])


def test_bad_input_names_the_field(small):
    pi = random_policy(6, 3, 0)
    with pytest.raises(ValueError, match="n_samples"):
        sm.sample_next_states(small, 0, seed=0)
    with pytest.raises(ValueError, match="horizon"):
        sm.estimate_q(small, pi, n_rollouts=3, seed=0)
    with pytest.raises(ValueError, match="method"):
        sm.estimate_q(small, pi, n_rollouts=3, horizon=2, method="mc")
    with pytest.raises(ValueError, match="n_episodes"):
        sm.sample_trajectories(small, pi, n_episodes=-1, horizon=3)
    with pytest.raises(ValueError, match="policy"):
        sm.rollout_returns(small, np.ones((6, 3)), n_rollouts=2, horizon=2)
    with pytest.raises(ValueError, match="mdp"):
        sm.sample_next_states("not an mdp", 3)
    with pytest.raises(ValueError, match="initial_distribution"):
        sm.sample_trajectories(small, pi, n_episodes=2, horizon=2, initial_distribution=[1, 0])
