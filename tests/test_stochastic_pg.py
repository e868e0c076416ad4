"""Stochastic policy gradient: oracles, estimators, pure steps, transport identities, drivers.

Ground truth from outside the estimators: central finite differences of the exact truncated
objective (itself a forward recursion), two independent exact routes for the gradient (policy
gradient theorem with truncated Q, forward moment recursion), Monte Carlo with a stated
confidence (4 standard errors per coordinate), and the exact transport identities on a quadratic.
"""

from __future__ import annotations

import numpy as np
import pytest

from theory_rl.algorithms import stochastic_pg as spg
from theory_rl.bounds import fatkhullin2023 as fk
from theory_rl.mdps import garnet, random_linear_mdp

H = 20
EPS = 1e-5


@pytest.fixture(scope="module")
def tab():
    return garnet(4, 3, 2, gamma=0.9, seed=1, sparse=False)


@pytest.fixture(scope="module")
def lin():
    return random_linear_mdp(5, 3, 4, gamma=0.8, seed=2)


@pytest.fixture(scope="module")
def bandit():
    contexts = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    return spg.GaussianBandit(contexts, np.array([1.0, -0.5]), sigma=0.5)


def _theta(d, seed=0):
    return np.random.default_rng(seed).normal(size=d)


def _fd(f, theta):
    """Central differences of ``f`` ``(d,) -> (...)`` along each axis: ``(d, ...)``."""
    return np.array(
        [(f(theta + EPS * e) - f(theta - EPS * e)) / (2 * EPS) for e in np.eye(theta.size)]
    )


# ------------------------------------------------------------------------------------------
# policies
# ------------------------------------------------------------------------------------------
def test_softmax_closed_forms():
    pol = spg.LogLinearPolicy.softmax(2, 3)
    theta = _theta(6)
    pi = pol.probabilities(theta)
    score, hess = pol.score(theta), pol.log_hessian(theta)
    for s in range(2):
        block = slice(3 * s, 3 * s + 3)
        for a in range(3):
            expected = np.zeros(6)
            expected[block] = np.eye(3)[a] - pi[s]
            np.testing.assert_allclose(score[s, a], expected, atol=1e-15)
        expected = np.zeros((6, 6))
        expected[block, block] = -(np.diag(pi[s]) - np.outer(pi[s], pi[s]))
        np.testing.assert_allclose(hess[s], expected, atol=1e-15)


def test_log_linear_derivatives_match_finite_differences(lin):
    pol = spg.LogLinearPolicy(lin.features)
    theta = _theta(4)
    fd_score = _fd(lambda t: np.log(pol.probabilities(t)), theta)  # (d, S, A)
    np.testing.assert_allclose(np.moveaxis(fd_score, 0, -1), pol.score(theta), atol=1e-9)
    fd_hess = _fd(lambda t: pol.score(t)[:, 0], theta)  # (d, S, d) for action 0
    np.testing.assert_allclose(np.moveaxis(fd_hess, 0, -1), pol.log_hessian(theta), atol=1e-9)
    assert pol.score_bound >= np.sqrt((pol.score(theta) ** 2).sum(-1)).max()
    assert pol.hessian_bound >= np.abs(np.linalg.eigvalsh(pol.log_hessian(theta))).max()


# ------------------------------------------------------------------------------------------
# exact oracles
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("problem", ["tab", "lin", "bandit"])
def test_exact_gradient_and_hessian_three_routes(problem, request):
    prob = request.getfixturevalue(problem)
    theta = _theta(spg._model(prob).d, 3)
    grad = spg.truncated_gradient(prob, theta, horizon=H)
    moments = spg.truncated_gradient(prob, theta, horizon=H, method="moments")
    np.testing.assert_allclose(grad, moments, atol=1e-13)
    fd = _fd(lambda t: spg.truncated_objective(prob, t, horizon=H), theta)
    np.testing.assert_allclose(grad, fd, atol=1e-8)
    hess = spg.truncated_hessian(prob, theta, horizon=H)
    np.testing.assert_allclose(hess, hess.T, atol=1e-14)
    fd_h = _fd(lambda t: spg.truncated_gradient(prob, t, horizon=H), theta)
    np.testing.assert_allclose(hess, fd_h, atol=1e-8)


def test_truncated_objective_limits(tab):
    theta = _theta(12)
    J = spg.truncated_objective(tab, theta, horizon=None)
    J400 = spg.truncated_objective(tab, theta, horizon=400)
    assert abs(J - J400) < 1e-12
    g = spg.truncated_gradient(tab, theta, horizon=None)
    np.testing.assert_allclose(g, spg.truncated_gradient(tab, theta, horizon=400), atol=1e-12)
    # batch of parameters: one row each
    thetas = np.stack([theta, 2 * theta])
    np.testing.assert_allclose(
        spg.truncated_gradient(tab, thetas, horizon=H)[1],
        spg.truncated_gradient(tab, 2 * theta, horizon=H),
        atol=1e-14,
    )


@pytest.mark.parametrize("problem", ["tab", "lin"])
def test_truncation_bias_bound_at_every_horizon(problem, request):
    prob = request.getfixturevalue(problem)
    model = spg._model(prob)
    theta = _theta(model.d, 5)
    g_inf = spg.truncated_gradient(prob, theta, horizon=None)
    h_inf = spg.truncated_hessian(prob, theta, horizon=None)
    consts = dict(gamma=model.gamma, r_max=model.r_max, score_bound=model.policy.score_bound)
    for horizon in range(1, 60):
        err = np.linalg.norm(spg.truncated_gradient(prob, theta, horizon=horizon) - g_inf)
        assert err <= fk.gradient_truncation_bound(horizon, **consts) * (1 + 1e-12) + 1e-14
        err_h = np.linalg.norm(spg.truncated_hessian(prob, theta, horizon=horizon) - h_inf, 2)
        bound_h = fk.hessian_truncation_bound(
            horizon, **consts, hessian_bound=model.policy.hessian_bound
        )
        assert err_h <= bound_h * (1 + 1e-12) + 1e-13


def test_truncation_bounds_by_hand():
    # D_g gamma^H = r M / (1-g) sqrt(H + 1/(1-g)) g^H; gamma = 0.5, H = 2: 2 * 2 * 0.25 = 1
    assert fk.gradient_truncation_bound(2, gamma=0.5, r_max=1.0, score_bound=1.0) == 1.0
    # D_h gamma^H = r (M^2 + M_h)/(1-g) (H + 1/(1-g)) g^H = 1 * 2/0.5 * 4 * 0.25 = 4
    assert (
        fk.hessian_truncation_bound(2, gamma=0.5, r_max=1.0, score_bound=1.0, hessian_bound=1.0)
        == 4.0
    )
    c = fk.proposition1_constants(
        gamma=0.5, r_max=1.0, score_bound=1.0, hessian_bound=1.0, horizon=2
    )
    assert c["L_g"] == 8.0 and c["sigma_g"] == np.sqrt(8.0)
    assert c["sigma_h"] == np.sqrt((4.0 + 1.0) * 16.0)


# ------------------------------------------------------------------------------------------
# estimators: unbiased within 4 standard errors (fixed seeds)
# ------------------------------------------------------------------------------------------
def _z(samples, target):
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / np.sqrt(samples.shape[0])
    return np.abs(mean - target) / se


@pytest.mark.parametrize("problem", ["tab", "lin", "bandit"])
def test_estimators_unbiased(problem, request):
    prob = request.getfixturevalue(problem)
    model = spg._model(prob)
    theta, v = _theta(model.d, 7), _theta(model.d, 8)
    n = 100_000
    g = spg.gpomdp_gradient(prob, theta, horizon=H, n_trajectories=n, seed=0)
    assert g.shape == (n, model.d)
    assert _z(g, spg.truncated_gradient(prob, theta, horizon=H)).max() < 4.0
    bv = spg.hessian_vector_product(prob, theta, v, horizon=H, n_trajectories=n, seed=1)
    assert _z(bv, spg.truncated_hessian(prob, theta, horizon=H) @ v).max() < 4.0


def test_estimator_catches_a_dropped_discount(tab, monkeypatch):
    """The 4-s.e. test has teeth: gamma dropped from the reward-to-go moves the mean."""
    theta = _theta(12, 7)
    model = spg._MDPModel(tab)
    model.gamma = 1.0  # the kernel then sums undiscounted rewards
    g = model.sample(theta[None], H, np.random.default_rng(0), 100_000)[0]
    assert _z(g, spg.truncated_gradient(tab, theta, horizon=H)).max() > 4.0


def test_sample_returns_mean(tab):
    theta = _theta(12, 1)
    out = spg.sample_returns(tab, theta, horizon=H, n_trajectories=100_000, seed=0)
    assert _z(out[:, None], spg.truncated_objective(tab, theta, horizon=H)).max() < 4.0
    two = spg.sample_returns(tab, np.stack([theta, -theta]), horizon=H, n_trajectories=5, seed=0)
    assert two.shape == (2, 5)
    with pytest.raises(ValueError, match="mdp"):
        spg.sample_returns(spg.QuadraticObjective(-np.eye(2), np.zeros(2)), [0, 0], horizon=2)


def test_same_seed_same_estimates(tab):
    a = spg.gpomdp_gradient(tab, np.zeros(12), horizon=5, n_trajectories=7, seed=3)
    b = spg.gpomdp_gradient(tab, np.zeros(12), horizon=5, n_trajectories=7, seed=3)
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------------
# pure steps and schedules
# ------------------------------------------------------------------------------------------
def test_pure_steps_hand_formulas():
    th, prev, d, g, v = (np.array(x, float) for x in ([1, 2], [0, 1], [3, 4], [1, -1], [2, 0]))
    np.testing.assert_allclose(spg.extrapolation_point(th, prev, 0.25), th + 3 * (th - prev))
    np.testing.assert_allclose(spg.momentum_direction(d, g, 0.25), 0.75 * d + 0.25 * g)
    np.testing.assert_allclose(spg.momentum_direction(d, g, 0.25, v), 0.75 * (d + v) + 0.25 * g)
    np.testing.assert_allclose(spg.ascent_step(th, d, 0.5, normalize=True), th + 0.5 * d / 5)
    np.testing.assert_allclose(spg.ascent_step(th, d, 0.5, normalize=False), th + 0.5 * d)
    np.testing.assert_array_equal(spg.ascent_step(th, 0 * d, 0.5, normalize=True), th)


def test_schedules():
    k = np.arange(4)
    step, eta = spg.step_schedule("n_pg_igt", k, step_size=3.0)
    np.testing.assert_allclose(step, 6.0 / (k + 2))
    np.testing.assert_allclose(eta, (2.0 / (k + 2)) ** 0.8)
    step, eta = spg.step_schedule("harpg", k, step_size=2.0)
    np.testing.assert_allclose(step, 2.0 * np.sqrt(2.0 / (k + 2)))
    np.testing.assert_allclose(eta, 2.0 / (k + 2))
    step, eta = spg.step_schedule("vanilla_policy_gradient", k)
    assert eta is None
    np.testing.assert_allclose(step, (2.0 / (k + 2)) ** (2 / 3))
    assert spg.default_horizon(0.9, 99) == int(np.ceil(np.log(100) / 0.1))
    with pytest.raises(ValueError, match="momentum"):
        spg.step_schedule("n_harpg", k, momentum=1.5)


# ------------------------------------------------------------------------------------------
# transport identities: the strict gates
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def quad():
    rng = np.random.default_rng(0)
    M = rng.normal(size=(5, 5))
    return spg.QuadraticObjective(-(M @ M.T + np.eye(5)), rng.normal(size=5))


@pytest.mark.parametrize("driver", [spg.n_pg_igt, spg.harpg, spg.n_harpg])
def test_transport_identity_on_a_quadratic(driver, quad):
    res = driver(
        quad, oracle="exact", n_iterations=200, n_runs=3, step_size=0.3, seed=0,
        initial_theta=np.random.default_rng(1).normal(size=(3, 5)),
        record=("direction_error", "grad_norm", "gap"),
    )  # fmt: skip
    scale = res.history["grad_norm"].max()
    assert res.history["direction_error"].max() <= 1e-12 * scale
    assert res.history["gap"][:, -1].max() < res.history["gap"][:, 0].min()


def test_momentum_without_transport_breaks_the_identity(quad):
    """Plain momentum (no extrapolation) lags the gradient: the gate can fail."""
    res = spg.normalized_momentum_pg(
        quad, oracle="exact", n_iterations=50, step_size=0.3, record=("direction_error",)
    )
    assert res.history["direction_error"].max() > 1e-3


@pytest.mark.parametrize("bug", ["sign", "index"])
def test_transport_identity_catches_extrapolation_bugs(quad, monkeypatch, bug):
    real = spg.extrapolation_point
    if bug == "sign":
        monkeypatch.setattr(spg, "extrapolation_point", lambda t, p, e: real(p, t, e))
    else:  # eta_k instead of eta_{k+1}: the wrong momentum weight for the point
        monkeypatch.setattr(
            spg, "extrapolation_point", lambda t, p, e: real(t, p, min(1.0, e * 1.3))
        )
    res = spg.n_pg_igt(quad, oracle="exact", n_iterations=30, record=("direction_error",))
    assert res.history["direction_error"].max() > 1e-6


def test_harpg_identity_catches_a_dropped_correction(quad, monkeypatch):
    real = spg.momentum_direction
    monkeypatch.setattr(spg, "momentum_direction", lambda d, g, e, c=None: real(d, g, e))
    res = spg.harpg(quad, oracle="exact", n_iterations=30, record=("direction_error",))
    assert res.history["direction_error"].max() > 1e-6


# ------------------------------------------------------------------------------------------
# drivers
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("driver", "per"),
    [
        (spg.n_pg_igt, 1),
        (spg.harpg, 2),
        (spg.n_harpg, 2),
        (spg.vanilla_policy_gradient, 1),
        (spg.normalized_momentum_pg, 1),
    ],
)
def test_driver_samples_and_shapes(driver, per, bandit, tab):
    res = driver(bandit, n_iterations=10, n_runs=4, seed=0, record=("gap", "samples"))
    assert res.history["gap"].shape == (4, 11)
    np.testing.assert_array_equal(res.history["samples"][0], 1 + per * np.arange(11))
    assert res.params["trajectories_per_iteration"] == per
    assert res.policy.shape == (4, 2)
    one = driver(tab, n_iterations=3, seed=0, record=("gap", "objective"))
    assert one.history["gap"].shape == (4,) and one.policy.shape == (4, 3)
    np.testing.assert_allclose(
        one.history["gap"] + one.history["objective"], one.params["optimum"], rtol=1e-12
    )
    assert one.params["horizon"] == spg.default_horizon(tab.gamma, 3)


def test_log_linear_driver_improves(lin):
    res = spg.n_harpg(lin, step_size=0.5, n_iterations=300, n_runs=16, seed=0)
    gap = res.history["gap"]
    assert res.policy.shape == (16, 5, 3) and gap.shape == (16, 301)
    assert gap[:, -1].mean() < gap[:, 0].mean()


def test_batched_runs_are_independent(bandit):
    res = spg.n_harpg(bandit, n_iterations=5, n_runs=3, seed=0, record=("objective",))
    assert len({tuple(np.round(row, 12)) for row in res.policy}) == 3


def test_bad_input_names_the_field(tab, bandit, quad):
    with pytest.raises(ValueError, match="horizon"):
        spg.gpomdp_gradient(tab, np.zeros(12), horizon=0)
    with pytest.raises(ValueError, match="horizon"):
        spg.n_pg_igt(tab, horizon=0, n_iterations=2)
    with pytest.raises(ValueError, match="step_size"):
        spg.n_harpg(bandit, step_size=-0.1, n_iterations=2)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="momentum"):
            spg.n_pg_igt(bandit, momentum=bad, n_iterations=2)
    with pytest.raises(ValueError, match="theta"):
        spg.gpomdp_gradient(tab, np.zeros(11), horizon=3)
    with pytest.raises(ValueError, match="initial_theta"):
        spg.harpg(bandit, initial_theta=np.zeros(3), n_iterations=2)
    with pytest.raises(ValueError, match="zero probabilities"):
        spg.gpomdp_gradient(tab, np.r_[1000.0, -1000.0, 0.0, np.zeros(9)], horizon=3)
    with pytest.raises(ValueError, match="oracle"):
        spg.n_harpg(quad, n_iterations=2)
    with pytest.raises(ValueError, match="n_trajectories"):
        spg.gpomdp_gradient(tab, np.zeros(12), horizon=3, n_trajectories=0)
    with pytest.raises(ValueError, match="rho"):
        spg.truncated_objective(tab, np.zeros(12), horizon=3, rho=[1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="problem"):
        spg.n_harpg(object(), n_iterations=2)
    with pytest.raises(ValueError, match="sigma"):
        spg.GaussianBandit(np.eye(2), np.zeros(2), sigma=0.0)
    with pytest.raises(ValueError, match="hessian"):
        spg.QuadraticObjective(np.eye(2), np.zeros(2))
