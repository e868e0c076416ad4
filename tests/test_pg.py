"""Softmax and projected PG: exact gradients against finite differences, steps, drivers."""

from __future__ import annotations

import numpy as np
import pytest

from theory_rl.algorithms import dp, pg
from theory_rl.algorithms.exact import reference
from theory_rl.bounds.mei2020 import BANDIT_STEP, bandit_bound
from theory_rl.mdps import bandit, chain, random_mdp


def fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        g[idx] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("tau,barrier", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.5), (0.2, 0.1)])
def test_softmax_gradient_matches_finite_differences(tau, barrier):
    mdp = random_mdp(5, 3, gamma=0.8, seed=1)
    theta = np.random.default_rng(0).normal(size=(5, 3))
    g = pg.softmax_pg_gradient(mdp, theta, tau=tau, barrier=barrier)
    fd = fd_grad(lambda t: pg.softmax_pg_objective(mdp, t, tau=tau, barrier=barrier), theta)
    # central differences: truncation O(h^2 L''') and round-off O(eps V / h) ~ 1e-9
    np.testing.assert_allclose(g, fd, atol=1e-7)


def test_projected_gradient_is_the_policy_gradient_theorem():
    mdp = random_mdp(4, 3, gamma=0.8, seed=2)
    rng = np.random.default_rng(1)
    pi = rng.random((4, 3)) + 0.1
    pi /= pi.sum(1, keepdims=True)

    def value(p):  # V^p(rho) extended off the simplex by the same formula
        P_pi = np.einsum("sa,sat->st", p, mdp.transitions)
        r_pi = (p * mdp.rewards).sum(1)
        return np.linalg.solve(np.eye(4) - 0.8 * P_pi, r_pi) @ mdp.initial_distribution

    np.testing.assert_allclose(pg.projected_pg_gradient(mdp, pi), fd_grad(value, pi), atol=1e-7)


def test_steps_are_the_hand_formulas():
    mdp = random_mdp(4, 2, gamma=0.7, seed=3)
    theta = np.zeros((4, 2))
    g = pg.softmax_pg_gradient(mdp, theta)
    np.testing.assert_allclose(pg.softmax_pg_step(mdp, theta, eta=0.3), theta + 0.3 * g)
    pi = np.full((4, 2), 0.5)
    out = pg.projected_pg_step(pi, np.array([[1.0, 0.0]] * 4), eta=0.2)
    np.testing.assert_allclose(out, [[0.6, 0.4]] * 4)  # shift by 0.1 each way keeps the sum


def test_bandit_gradient_closed_form():
    """One state, gamma = 0: d/dtheta_a (pi . r) = pi_a (r_a - pi . r)."""
    r = np.array([1.0, 0.9, 0.1])
    theta = np.log(np.array([[0.2, 0.3, 0.5]]))
    pi = np.exp(theta) / np.exp(theta).sum()
    np.testing.assert_allclose(
        pg.softmax_pg_gradient(bandit(r), theta), pi * (r - (pi * r).sum()), atol=1e-14
    )


def test_mei_bound_every_iterate_uniform_init():
    res = pg.softmax_policy_gradient(
        bandit([1.0, 0.9, 0.1]), eta=BANDIT_STEP, n_iterations=3000, record=("gap", "prob_opt")
    )
    t = np.arange(1, 3002)
    assert np.all(res.history["gap"] <= bandit_bound(t, res.history["prob_opt"]))
    assert np.all(res.history["prob_opt"] >= 1 / 3 - 1e-15)  # pi_t(a*) >= 1/K (uniform init)
    assert np.all(np.diff(res.history["gap"]) <= 1e-15)


def test_batched_initialisations_and_tol_stop():
    mdp = bandit([1.0, 0.9, 0.1])
    logits = np.log(np.array([[[0.05, 0.01, 0.94]], [[0.01, 0.05, 0.94]]]))
    rec = ("gap", "sup_gap", "values", "prob_opt")
    res = pg.softmax_policy_gradient(
        mdp, eta=0.4, n_iterations=500, initial_logits=logits, record=rec
    )
    one = pg.softmax_policy_gradient(
        mdp, eta=0.4, n_iterations=500, initial_logits=logits[1], record=rec
    )
    np.testing.assert_allclose(res.policy[1], one.policy, atol=1e-13)
    assert res.history["gap"].shape == (2, 501) and one.history["gap"].shape == (501,)
    assert res.history["values"].shape == (2, 501, 1)
    for key in rec:  # batch member 1 of the (B, K+1) history is the single run
        np.testing.assert_allclose(res.history[key][1], one.history[key], atol=1e-13)
    assert not res.converged and res.n_iterations == 500  # a fixed budget is not convergence
    stop = pg.softmax_policy_gradient(chain(2), eta=1.0, n_iterations=10_000, tol=0.1)
    assert stop.converged and stop.history["gap"][-1] <= 0.1 < stop.history["gap"][-2]
    assert stop.n_iterations == stop.history["gap"].size - 1


def test_entropy_pg_converges_to_regularised_optimum_and_projected_pg_to_optimum():
    mdp = random_mdp(4, 2, gamma=0.6, seed=4)
    ent = pg.softmax_policy_gradient(mdp, eta=1.0, tau=0.5, n_iterations=3000)
    assert abs(ent.history["gap"][-1]) < 1e-8
    proj = pg.projected_policy_gradient(mdp, eta=0.5, n_iterations=500)
    ref = dp.policy_iteration(mdp)
    np.testing.assert_allclose(proj.values, ref.values, atol=1e-8)


def test_given_reference_gives_the_same_numbers():
    mdp = random_mdp(4, 2, gamma=0.6, seed=4)
    soft = reference(mdp, tau=0.5, regularizer="entropy")
    kw = dict(eta=1.0, tau=0.5, n_iterations=20, record=("gap", "sup_gap", "kl_to_opt"))
    a = pg.softmax_policy_gradient(mdp, reference=soft, **kw)
    b = pg.softmax_policy_gradient(mdp, **kw)
    for key in a.history:
        np.testing.assert_array_equal(a.history[key], b.history[key])
    hard = reference(mdp)
    a = pg.projected_policy_gradient(mdp, eta=0.5, n_iterations=20, reference=hard)
    b = pg.projected_policy_gradient(mdp, eta=0.5, n_iterations=20)
    np.testing.assert_array_equal(a.history["gap"], b.history["gap"])
    with pytest.raises(ValueError, match="reference"):  # unregularised reference, tau > 0
        pg.softmax_policy_gradient(mdp, eta=1.0, tau=0.5, reference=hard)
    with pytest.raises(ValueError, match="reference"):
        pg.projected_policy_gradient(mdp, eta=1.0, reference=soft)


def test_bad_inputs_name_the_field():
    mdp = random_mdp(3, 2, gamma=0.8, seed=0)
    with pytest.raises(ValueError, match="eta"):
        pg.softmax_policy_gradient(mdp, eta=0.0, n_iterations=3)
    with pytest.raises(ValueError, match="eta"):
        pg.softmax_policy_gradient(mdp, eta="0.5", n_iterations=3)
    with pytest.raises(ValueError, match="tol"):
        pg.softmax_policy_gradient(mdp, eta=0.5, tol="0.1")
    with pytest.raises(ValueError, match="record"):
        pg.softmax_policy_gradient(mdp, eta=0.5, record=("gap_inf",))
    with pytest.raises(ValueError, match="initial_logits"):
        pg.softmax_policy_gradient(mdp, eta=1.0, n_iterations=3, initial_logits=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="barrier"):
        pg.softmax_pg_gradient(mdp, np.zeros((3, 2)), barrier=-1.0)
    with pytest.raises(ValueError, match="rho"):
        pg.softmax_pg_gradient(mdp, np.zeros((3, 2)), rho=np.ones(3))
    with pytest.raises(ValueError, match="initial_policy"):
        pg.projected_policy_gradient(mdp, eta=1.0, n_iterations=3, initial_policy=np.ones((3, 2)))


@pytest.mark.gpu
def test_pg_gpu_matches_cpu():
    mdp = random_mdp(5, 3, gamma=0.8, seed=5)
    cpu = pg.softmax_policy_gradient(mdp, eta=[0.5, 1.0], n_iterations=30)
    gpu = pg.softmax_policy_gradient(mdp, eta=[0.5, 1.0], n_iterations=30, device="gpu")
    np.testing.assert_allclose(gpu.policy, cpu.policy, atol=1e-10)
