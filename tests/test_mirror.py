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

rows = arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 7)),
              elements=st.floats(-50, 50))


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
