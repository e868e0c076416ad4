"""Gauss-Seidel, anchored and accelerated value iteration; average-reward solvers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import dense_mdp, sparse_mdp

from theory_rl.algorithms import dp
from theory_rl.bounds import goyal2023, lee2023
from theory_rl.mdps import TabularMDP, generators


def v_star(mdp):
    return dp.policy_iteration(mdp).values


# ------------------------------------------------------------------------------------------
# Gauss-Seidel value iteration
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
def test_gauss_seidel_meets_its_guarantee(sparse, gamma):
    mdp = sparse_mdp(60, 3, 4, gamma, seed=3) if sparse else dense_mdp(30, 4, gamma, seed=4)
    for tol in (1.0, 1e-3, 1e-8):
        res = dp.gauss_seidel_value_iteration(mdp, tol=tol)
        assert res.converged
        vs = v_star(mdp)
        floor = 4 * mdp.n_states * np.finfo(float).eps / (1 - gamma) ** 2 * 10
        assert np.abs(res.values - vs).max() <= tol / 2 + floor
        v_pi = dp.policy_evaluation(mdp, res.policy)
        assert np.abs(v_pi - vs).max() <= tol + floor
        hist = res.history
        assert hist["error_bound"][-1] <= tol / 2 and hist["policy_bound"][-1] <= tol


def test_gauss_seidel_dense_and_csr_agree_and_order_matters_only_in_the_path():
    mdp = sparse_mdp(80, 3, 3, 0.9, seed=5)
    a = dp.gauss_seidel_value_iteration(mdp, tol=1e-9)
    b = dp.gauss_seidel_value_iteration(mdp.to_dense(), tol=1e-9)
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)
    assert a.n_iterations == b.n_iterations
    rev = dp.gauss_seidel_value_iteration(mdp, tol=1e-9, order=np.arange(80)[::-1])
    np.testing.assert_allclose(rev.values, a.values, atol=1e-9)


def test_gauss_seidel_sweep_is_in_place():
    # one sweep from 0 on a 2-state chain where state 1 depends on state 0's new value
    P = np.zeros((2, 1, 2))
    P[0, 0, 0] = 1.0  # 0 -> 0
    P[1, 0, 0] = 1.0  # 1 -> 0
    mdp = TabularMDP(P, np.array([[1.0], [0.0]]), gamma=0.5)
    seen = []
    dp.gauss_seidel_value_iteration(
        mdp, tol=1e-6, initial_values=np.zeros(2), callback=lambda r: seen.append(r.values)
    )
    np.testing.assert_allclose(seen[0], [1.0, 0.5])  # Jacobi would give [1, 0]
    seen.clear()
    dp.gauss_seidel_value_iteration(
        mdp, tol=1e-6, initial_values=np.zeros(2), order=[1, 0],
        callback=lambda r: seen.append(r.values),
    )
    np.testing.assert_allclose(seen[0], [1.0, 0.0])


def test_gauss_seidel_against_pymdptoolbox_trajectory():
    mdptoolbox = pytest.importorskip("mdptoolbox.mdp")
    mdp = dense_mdp(25, 3, 0.9, seed=21)
    P_ass = np.transpose(mdp.transitions, (1, 0, 2))  # pymdptoolbox wants (A, S, S)
    for epsilon in (1.0, 1e-2, 1e-6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer = mdptoolbox.ValueIterationGS(P_ass, mdp.rewards, mdp.gamma, epsilon=epsilon)
            peer.run()
        n = peer.iter  # in-place sweeps, then one more to extract its policy
        seen = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dp.RoundoffWarning)
            dp.gauss_seidel_value_iteration(
                mdp, tol=1e-15, max_iterations=n + 1, initial_values=np.zeros(25),
                callback=lambda r, seen=seen: seen.append((r.values, r.policy)),
            )
        assert len(seen) == n + 1
        values, actions = seen[n]  # the peer's policy: the argmax of its last in-place sweep
        np.testing.assert_allclose(np.asarray(peer.V), values, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(np.asarray(peer.policy), actions.argmax(axis=1))
    ours = dp.gauss_seidel_value_iteration(mdp, tol=1e-9)
    assert np.abs(v_star(mdp) - ours.values).max() <= 5e-10


@pytest.mark.parametrize(
    "order", [[0, 1, 2], [0, 0, 1, 2], [1, 2, 3, 4], np.array([0.0, 1, 2, 3]), [[0, 1, 2, 3]]]
)
def test_gauss_seidel_rejects_orders_that_are_not_permutations(order):
    mdp = dense_mdp(4, 2, 0.9, seed=0)
    with pytest.raises(ValueError, match="order"):
        dp.gauss_seidel_value_iteration(mdp, order=order)


# ------------------------------------------------------------------------------------------
# anchored value iteration
# ------------------------------------------------------------------------------------------
def test_anchoring_schedule_matches_its_definition():
    for g in (0.5, 0.9, 0.999):
        k = np.arange(30)
        direct = np.array([1 / sum(g ** (-2 * i) for i in range(j + 1)) for j in k])
        np.testing.assert_allclose(dp.anchoring_schedule(g, k), direct, rtol=1e-12)
    np.testing.assert_allclose(dp.anchoring_schedule(1.0, np.arange(5)), 1 / np.arange(1, 6))
    assert np.isfinite(dp.anchoring_schedule(0.5, np.array([5000]))).all()
    with pytest.raises(ValueError, match="k"):
        dp.anchoring_schedule(0.9, -1)


@pytest.mark.parametrize("gamma", [0.9, 0.99])
def test_anchored_vi_bellman_error_bound_at_every_iterate(gamma):
    mdp = dense_mdp(20, 3, gamma, seed=7)
    vs = v_star(mdp)
    res = dp.anchored_value_iteration(mdp, max_iterations=200, tol=1e-8)
    err = res.history["bellman_error"]
    k = np.arange(err.size)
    v0 = np.full(20, mdp.rewards.min() / (1 - gamma))
    bound = lee2023.anchored_vi_bound(gamma, k, np.abs(v0 - vs).max())
    assert np.all(err <= bound + 1e-9)


def test_anchored_vi_converges_and_evaluates_policies():
    mdp = dense_mdp(15, 3, 0.9, seed=8)
    res = dp.anchored_value_iteration(mdp, tol=1e-8)
    assert res.converged
    assert np.abs(res.values - v_star(mdp)).max() <= 5e-9
    pi = np.zeros(15, dtype=np.int64)
    ev = dp.anchored_value_iteration(mdp, policy=pi, tol=1e-8)
    np.testing.assert_allclose(ev.values, dp.policy_evaluation(mdp, pi), atol=5e-9)


def test_accelerated_policy_evaluation_converges_and_rejects_bad_parameters():
    mdp = dense_mdp(20, 3, 0.95, seed=9)
    pi = np.zeros(20, dtype=np.int64)
    res = dp.accelerated_policy_evaluation(mdp, pi, tol=1e-8)
    assert res.converged
    np.testing.assert_allclose(res.values, dp.policy_evaluation(mdp, pi), atol=5e-9)
    for bad in (-0.1, 1.0, 1.5, np.nan):
        with pytest.raises(ValueError, match="momentum"):
            dp.accelerated_policy_evaluation(mdp, pi, momentum=bad)
        with pytest.raises(ValueError, match="momentum"):
            dp.safeguarded_accelerated_value_iteration(mdp, momentum=bad)
    for bad in (0.0, 2 / 1.95, 3.0):
        with pytest.raises(ValueError, match="step"):
            dp.accelerated_policy_evaluation(mdp, pi, step=bad)
    assert goyal2023.avi_momentum(0.95) == pytest.approx(res.params["momentum"])


def test_safeguarded_avi_keeps_the_value_iteration_guarantee():
    for seed in range(3):
        mdp = generators.garnet(40, 4, 3, gamma=0.99, seed=seed)
        res = dp.safeguarded_accelerated_value_iteration(mdp, tol=1e-6)
        assert res.converged
        r = res.history["residual"]
        k = np.arange(r.size)
        assert np.all(r <= 0.99**k * r[0] * (1 + 1e-12) + 1e-12)
        v_pi = dp.policy_evaluation(mdp, res.policy)
        assert np.abs(v_pi - v_star(mdp)).max() <= 1e-6 + 1e-9


# ------------------------------------------------------------------------------------------
# average reward
# ------------------------------------------------------------------------------------------
def lp_gain(mdp):
    """The average-reward primal LP: min g s.t. g + h(s) - P(s,a) h >= r(s,a) (g, h free)."""
    from scipy.optimize import linprog

    S, A = mdp.n_states, mdp.n_actions
    P2 = mdp.to_dense().transition_matrix
    E = np.repeat(np.eye(S), A, axis=0)
    G = np.hstack([np.ones((S * A, 1)), E - P2])
    c = np.zeros(S + 1)
    c[0] = 1.0
    res = linprog(c, A_ub=-G, b_ub=-mdp.rewards.ravel(), bounds=(None, None), method="highs",
                  options={"primal_feasibility_tolerance": 1e-10})
    assert res.status == 0
    return float(res.x[0])


from theory_rl.algorithms import average_reward as ar  # noqa: E402


@pytest.mark.parametrize("seed", range(3))
def test_gain_of_rvi_and_pi_matches_the_lp(seed):
    for mdp in (dense_mdp(20, 3, 0.9, seed=seed), generators.garnet(40, 3, 4, gamma=0.9,
                                                                     seed=seed)):
        g_lp = lp_gain(mdp)
        rvi = ar.relative_value_iteration(mdp, tol=1e-10, aperiodicity=0.5)
        pi = ar.average_reward_policy_iteration(mdp)
        assert rvi.converged and pi.converged
        assert abs(rvi.params["gain"] - g_lp) <= 1e-8
        assert abs(pi.params["gain"] - g_lp) <= 1e-8
        # the bias solves the optimality equation g + h = T h, h(0) = 0
        h = pi.values
        th = (mdp.rewards + mdp.to_dense().transitions @ h).max(axis=1)
        np.testing.assert_allclose(th - h, pi.params["gain"], atol=1e-8)
        assert h[0] == 0.0 and rvi.values[0] == 0.0
        np.testing.assert_allclose(rvi.values, h, atol=1e-6)


def test_rvi_brackets_the_gain_at_every_iterate():
    mdp = dense_mdp(15, 3, 0.9, seed=5)
    g = lp_gain(mdp)
    res = ar.relative_value_iteration(mdp, tol=1e-12)
    assert np.all(res.history["gain_lower"] <= g + 1e-10)
    assert np.all(res.history["gain_upper"] >= g - 1e-10)


def test_average_reward_rejects_multichain_models_and_bad_arguments():
    # two absorbing states with different rewards: the optimal gain depends on the start
    P = np.zeros((3, 1, 3))
    P[0, 0, 1] = P[0, 0, 2] = 0.5
    P[1, 0, 1] = 1.0
    P[2, 0, 2] = 1.0
    mdp = TabularMDP(P, np.array([[0.0], [1.0], [2.0]]), gamma=0.9)
    for f in (ar.relative_value_iteration, ar.average_reward_policy_iteration):
        with pytest.raises(ValueError, match="communicating or unichain"):
            f(mdp)
    # an absorbing state every policy reaches: unichain although not communicating
    P = np.zeros((3, 2, 3))
    P[:, :, 2] = 0.5
    P[0, :, 1] = 0.5
    P[1, :, 0] = 0.5
    P[2, :, 2] = 1.0
    P[2, :, :2] = 0.0
    uni = TabularMDP(P, np.arange(6.0).reshape(3, 2), gamma=0.9)
    assert ar.model_class(uni) == "unichain"
    assert abs(ar.average_reward_policy_iteration(uni).params["gain"] - 5.0) <= 1e-10
    good = dense_mdp(5, 2, 0.9, seed=0)
    with pytest.raises(ValueError, match="aperiodicity"):
        ar.relative_value_iteration(good, aperiodicity=1.0)
    with pytest.raises(ValueError, match="reference_state"):
        ar.relative_value_iteration(good, reference_state=5)
