"""LinearMDP: the induced kernel and rewards, validation, and the linear-Q property."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from theory_rl.mdps import InvalidMDPError, LinearMDP, TabularMDP, random_linear_mdp


def test_to_tabular_equals_the_explicit_einsum():
    m = random_linear_mdp(7, 3, 4, gamma=0.8, seed=0)
    tab = m.to_tabular()
    assert isinstance(tab, TabularMDP)
    P = np.einsum("sad,dt->sat", m.features, m.mu)
    r = np.einsum("sad,d->sa", m.features, m.theta)
    np.testing.assert_allclose(tab.transitions, P, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(tab.rewards, r, rtol=1e-13, atol=1e-16)
    assert tab.gamma == m.gamma == 0.8
    assert (m.n_states, m.n_actions, m.dim) == (7, 3, 4)
    assert tab is m.to_tabular()  # built once


def test_random_linear_mdp_is_an_exact_simplex_factorisation():
    m = random_linear_mdp(6, 2, 3, seed=1)
    np.testing.assert_allclose(m.features.sum(axis=2), 1.0, atol=1e-14)
    np.testing.assert_allclose(m.mu.sum(axis=1), 1.0, atol=1e-14)
    assert (m.features >= 0).all() and (m.mu >= 0).all()
    assert ((m.theta >= 0) & (m.theta <= 1)).all()
    r = m.to_tabular().rewards
    assert ((r >= 0) & (r <= 1)).all()


def test_random_linear_mdp_seeding():
    a, b, c = (random_linear_mdp(5, 2, 3, seed=s) for s in (4, 4, 5))
    for field in ("features", "mu", "theta"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert not np.array_equal(getattr(a, field), getattr(c, field))


def test_q_functions_are_linear_in_the_features():
    # The defining property: for every policy, q_pi(s, a) = phi(s, a) @ w_pi with
    # w_pi = theta + gamma * mu @ v_pi.
    m = random_linear_mdp(8, 3, 2, gamma=0.9, seed=2)
    tab = m.to_tabular()
    pi = np.random.default_rng(0).dirichlet(np.ones(3), size=8)
    P_pi = np.einsum("sa,sat->st", pi, tab.transitions)
    r_pi = (pi * tab.rewards).sum(axis=1)
    v = np.linalg.solve(np.eye(8) - 0.9 * P_pi, r_pi)
    q = tab.rewards + 0.9 * tab.transitions @ v
    w = m.theta + 0.9 * m.mu @ v
    np.testing.assert_allclose(q, m.features @ w, rtol=1e-12)


def test_signed_factors_and_rounding_clip():
    # phi(s, a) = e_1 + x (e_2 - e_3) with signed mu rows still gives a valid kernel.
    phi = np.array([[[1.0, 0.5, -0.5]], [[1.0, -0.25, 0.25]]])  # S=2, A=1, d=3
    mu = np.array([[0.5, 0.5], [0.5, -0.5], [0.0, 0.0]])
    m = LinearMDP(phi, mu, np.zeros(3), gamma=0.5)
    np.testing.assert_allclose(m.to_tabular().transitions[:, 0], [[0.75, 0.25], [0.375, 0.625]])
    # A -1e-17 entry from rounding is set to zero rather than rejected.
    phi2 = np.array([[[1.0, 1.0]], [[1.0, 0.0]]])
    mu2 = np.array([[1.0 - 1e-17, 1e-17], [2e-17, -2e-17]])
    assert (phi2[0, 0] @ mu2)[1] < 0
    assert LinearMDP(phi2, mu2, np.zeros(2), gamma=0.5).to_tabular().transitions[0, 0, 1] == 0


def test_linear_mdp_is_frozen_and_read_only():
    m = random_linear_mdp(3, 2, 2, seed=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.gamma = 0.5
    with pytest.raises(ValueError):
        m.features[0, 0, 0] = 1.0
    m2 = dataclasses.replace(m, gamma=0.5)
    assert m2.to_tabular().gamma == 0.5


@pytest.mark.parametrize(
    ("features", "mu", "theta", "match"),
    [
        (np.ones((2, 2)), np.ones((1, 2)), np.ones(1), r"features must have shape \(S, A, d\)"),
        (np.full((2, 1, 1), 1.0), np.full((1, 3), 0.5), np.ones(1), r"mu must have shape"),
        (np.full((2, 1, 1), 1.0), np.full((1, 2), 0.5), np.ones(2), r"theta must have shape"),
        (np.full((2, 1, 1), np.nan), np.full((1, 2), 0.5), np.ones(1), r"features\[0, 0, 0\]"),
        # rows sum to 0.8: the induced kernel is named with the offending index
        (np.full((2, 1, 1), 1.0), np.full((1, 2), 0.4), np.ones(1), r"features\[s, a\] @ mu.*sums"),
        # a clearly negative probability
        (np.full((2, 1, 1), 1.0), np.array([[1.5, -0.5]]), np.ones(1), r"negative"),
    ],
)
def test_linear_mdp_rejects_invalid_factors(features, mu, theta, match):
    with pytest.raises(ValueError, match=match):
        LinearMDP(features, mu, theta, gamma=0.9)


def test_linear_mdp_errors_are_invalid_mdp_errors():
    with pytest.raises(InvalidMDPError, match="gamma"):
        LinearMDP(np.ones((1, 1, 1)), np.ones((1, 1)), np.ones(1), gamma=1.0)
    with pytest.raises(ValueError, match="dim"):
        random_linear_mdp(3, 2, 0)


def test_gamma_must_be_a_real_number():
    m = random_linear_mdp(5, 2, 3, gamma=0.9, seed=0)
    with pytest.raises(InvalidMDPError, match=r"^gamma must be a real number"):
        LinearMDP(m.features, m.mu, m.theta, gamma="0.9")
