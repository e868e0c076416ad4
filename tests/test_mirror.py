"""Prox steps and divergences: closed forms, optimality conditions, extreme step sizes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from theory_rl.algorithms.mirror import (
    bregman_divergence,
    euclidean_prox,
    kl_prox,
    kl_prox_log,
    project_simplex,
    regularized_prox_log,
)

rows = arrays(
    np.float64, st.tuples(st.integers(1, 4), st.integers(1, 7)), elements=st.floats(-50, 50)
)


def test_kl_prox_closed_form():
    pi = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    q = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]])
    expected = pi * np.exp(0.7 * q)
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(kl_prox(pi, q, 0.7), expected, rtol=1e-14)


def test_kl_prox_huge_steps_are_greedy_and_finite():
    pi = np.array([[0.2, 0.3, 0.5]])
    q = np.array([[1.0, 2.0, 0.5]])
    for eta in (1e10, 1e200, 1e308, np.inf):
        out = kl_prox(pi, q, eta)
        assert np.all(np.isfinite(out))
        np.testing.assert_array_equal(out, [[0.0, 1.0, 0.0]])
    log_out = kl_prox_log(np.log(pi), q, 1e308)
    assert np.all(np.isfinite(log_out))


def test_kl_prox_batched_steps():
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(4), size=5)
    q = rng.normal(size=(5, 4))
    etas = np.array([0.1, 1.0, 10.0])
    batch = kl_prox(np.broadcast_to(pi, (3, 5, 4)), q, etas[:, None, None])
    for i, eta in enumerate(etas):
        np.testing.assert_allclose(batch[i], kl_prox(pi, q, eta), rtol=1e-14)


@settings(max_examples=200, deadline=None)
@given(x=rows)
def test_projection_is_the_euclidean_projection(x):
    p = project_simplex(x)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-12)
    # KKT: p = max(x - theta, 0) with one theta per row; off-support x <= theta.
    for xi, pi in zip(x, p, strict=True):
        support = pi > 0
        theta = np.mean(xi[support] - pi[support])
        np.testing.assert_allclose(xi[support] - pi[support], theta, atol=1e-9)
        assert np.all(xi[~support] <= theta + 1e-9)


def test_projection_against_cvxpy():
    cp = pytest.importorskip("cvxpy")
    x = np.array([0.9, -0.4, 0.7, 0.2, 1.5])
    p = cp.Variable(5)
    cp.Problem(cp.Minimize(cp.sum_squares(p - x)), [p >= 0, cp.sum(p) == 1]).solve()
    np.testing.assert_allclose(project_simplex(x), p.value, atol=1e-7)


def test_euclidean_prox_and_divergences():
    pi = np.array([0.5, 0.5, 0.0])
    q = np.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(euclidean_prox(pi, q, 0.2), [0.6, 0.4, 0.0])
    np.testing.assert_allclose(euclidean_prox(pi, q, 10.0), [1.0, 0.0, 0.0])
    p, r = np.array([0.25, 0.75]), np.array([0.5, 0.5])
    assert bregman_divergence(p, r) == pytest.approx(0.25 * np.log(0.5) + 0.75 * np.log(1.5))
    assert bregman_divergence(p, r, "euclidean") == pytest.approx(0.0625)
    assert bregman_divergence(np.array([0.0, 1.0]), np.array([1.0, 0.0])) == np.inf
    half = np.array([0.5, 0.5])
    assert bregman_divergence(np.array([0.0, 1.0]), half) == pytest.approx(np.log(2))
    with pytest.raises(ValueError, match="mirror must be"):
        bregman_divergence(p, r, "tsallis")


def test_regularized_prox_is_the_gpmd_entropy_and_staq_steps():
    """Parameter maps: GPMD-entropy is the prox with the same (eta, tau) and uniform mu; the
    StaQ step is the prox from the centre xi - alpha beta^(M-1) q_old, i.e.
    xi' = beta (xi - alpha beta^(M-1) q_old) + alpha q with beta = 1/(1+eta tau),
    alpha = eta beta."""
    rng = np.random.default_rng(3)
    pi = rng.dirichlet(np.ones(4), size=6)
    q, q_old = rng.normal(size=(2, 6, 4))
    eta, tau, M = 0.8, 0.4, 3
    beta = 1.0 / (1.0 + eta * tau)
    alpha = eta * beta
    gpmd = pi**beta * np.exp(alpha * q)
    out = np.exp(regularized_prox_log(np.log(pi), q, eta=eta, tau=tau))
    np.testing.assert_allclose(out, gpmd / gpmd.sum(-1, keepdims=True), rtol=1e-13)
    xi = rng.normal(size=(6, 4))
    staq = np.exp(beta * (xi - alpha * beta ** (M - 1) * q_old) + alpha * q)
    centre = xi - alpha * beta ** (M - 1) * q_old
    out = np.exp(regularized_prox_log(centre, q, eta=eta, tau=tau))
    np.testing.assert_allclose(out, staq / staq.sum(-1, keepdims=True), rtol=1e-13)


# ------------------------------------------------------------------ one prox, three steps
def _normalised(z):
    z = z - z.max(axis=-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 1.0])
def test_entropy_npg_nash_prox_and_shared_prox_agree_under_their_parameter_maps(fraction):
    """Cen's entropy NPG step (alpha = eta/(1-gamma)) is the shared regularised prox with
    eta' = alpha/(1 - alpha tau), uniform reference (eta' = inf at alpha tau = 1: soft policy
    iteration); Nash-MP's prox is the shared prox with tau = beta and mu = pi_ref."""
    from theory_rl.algorithms import nash, npg
    from theory_rl.algorithms.mirror import regularized_prox_log
    from theory_rl.mdps.games import random_preference_game

    rng = np.random.default_rng(21)
    pi, q = rng.dirichlet(np.ones(5), size=4), rng.normal(size=(4, 5))
    gamma, tau = 0.9, 0.2
    eta = fraction * (1 - gamma) / tau  # Cen's step, eta tau <= 1 - gamma
    alpha = eta / (1 - gamma)
    cen = _normalised((1 - alpha * tau) * np.log(pi) + alpha * q)  # Cen et al. eq. (14)
    got = npg.entropy_npg_step(pi, q, eta=eta, tau=tau, gamma=gamma)
    np.testing.assert_allclose(got, cen, rtol=1e-12, atol=1e-15)
    mapped = np.inf if fraction == 1.0 else alpha / (1 - alpha * tau)
    shared = np.exp(regularized_prox_log(np.log(pi), q, eta=mapped, tau=tau))
    np.testing.assert_allclose(shared, cen, rtol=1e-12, atol=1e-15)
    uniform = np.full_like(pi, np.log(1 / 5))  # the uniform reference is the default
    np.testing.assert_allclose(
        np.exp(regularized_prox_log(np.log(pi), q, eta=mapped, tau=tau, log_reference=uniform)),
        cen,
        rtol=1e-12,
        atol=1e-15,
    )
    if fraction == 1.0:  # soft policy iteration: pi' = softmax(Q / tau), whatever pi
        np.testing.assert_allclose(shared, _normalised(q / tau), rtol=1e-12)
    else:  # the plausible wrong map eta' = alpha does not agree
        wrong = np.exp(regularized_prox_log(np.log(pi), q, eta=alpha, tau=tau))
        assert not np.allclose(wrong, cen, rtol=1e-6)

    # Nash-MP: log pi' = (eta P pi + eta beta log ref + log pi)/(1 + eta beta) - log Z
    g = random_preference_game(5, beta=tau, n_contexts=4, seed=3)
    log_ref, P = np.log(g.reference_policy), g.preferences
    step_nash, beta = 2.0 * fraction, g.beta
    q_pi = (P @ pi[..., None])[..., 0]
    hand = _normalised(
        (step_nash * q_pi + step_nash * beta * log_ref + np.log(pi)) / (1 + step_nash * beta)
    )
    half = np.exp(nash.nash_mp_step(np.log(pi), P, log_ref, beta=beta, eta=step_nash).log_half)
    shared = regularized_prox_log(np.log(pi), q_pi, eta=step_nash, tau=beta, log_reference=log_ref)
    np.testing.assert_allclose(half, hand, rtol=1e-12)
    np.testing.assert_allclose(np.exp(shared), hand, rtol=1e-12)
    # with a uniform reference, Nash-MP's prox is Cen's step with alpha = eta/(1 + eta beta)
    a = step_nash / (1 + step_nash * beta)
    np.testing.assert_allclose(
        npg.entropy_npg_step(pi, q_pi, eta=a * (1 - gamma), tau=beta, gamma=gamma),
        np.exp(regularized_prox_log(np.log(pi), q_pi, eta=step_nash, tau=beta)),
        rtol=1e-12,
    )


def test_project_simplex_with_a_mask_projects_the_unmasked_entries():
    """``project_simplex(x, mask)``: zero on the masked entries, and on the others the
    projection of the unmasked entries alone (checked row by row)."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(50, 6)) * rng.choice([0.1, 1.0, 100.0], size=(50, 1))
    mask = rng.random((50, 6)) < 0.5
    mask[np.arange(50), rng.integers(6, size=50)] = True
    got = project_simplex(x, mask)
    for i in range(50):
        assert np.all(got[i, ~mask[i]] == 0.0)
        np.testing.assert_allclose(got[i, mask[i]], project_simplex(x[i, mask[i]]), atol=1e-15)
