"""IWOCS (certificate, tie-break rules, static sets) and DRPG (gap to robust VI, output rule),
and the DRPG bound of :mod:`theory_rl.bounds.wang2023` against hand values."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

from theory_rl.algorithms import dp
from theory_rl.algorithms import robust as R
from theory_rl.algorithms.drpg import drpg, drpg_gradient, drpg_step
from theory_rl.algorithms.iwocs import iwocs, iwocs_step, static_worst_case
from theory_rl.bounds import wang2023
from theory_rl.mdps import TabularMDP, garnet
from theory_rl.mdps.robust import KernelSet, KLBall, L1Ball, drpg_garnet, windy_walk

#: A finite sa-rectangular set on which the played-actions tie-break stalls (pinned).
STALL_SEED = 1


def finite_instance(seed):
    rng = np.random.default_rng(seed)
    S, A, m = int(rng.integers(3, 9)), int(rng.integers(2, 4)), int(rng.integers(2, 4))
    K = rng.dirichlet(np.ones(S), size=(m, S, A))
    mdp = TabularMDP(K[0], rng.uniform(size=(S, A)), 0.9, np.eye(S)[0])
    return mdp, KernelSet(list(K))


def rvi_value(mdp, unc):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return R.robust_value_iteration(mdp, unc, tol=1e-12).values


@pytest.mark.parametrize("seed", range(12))
def test_iwocs_all_actions_equals_rvi_with_certificate(seed):
    mdp, ks = finite_instance(seed)
    v_star = rvi_value(mdp, ks)[0]
    res = iwocs(mdp, ks, tol=1e-8)
    h = res.history
    assert res.params["status"] == "certified" and res.converged
    assert res.n_iterations <= 5
    assert abs(h["upper"][-1] - v_star) < 1e-8
    assert np.all(h["lower"] <= v_star + 1e-9) and np.all(v_star <= h["upper"] + 1e-9)
    assert np.all(np.diff(h["upper"]) <= 1e-12)  # Property 2: Q_i nonincreasing
    assert np.all(np.diff(res.q_values.ravel()) == np.diff(res.q_values.ravel()))


def test_iwocs_l1_garnet_equals_rvi():
    for seed in range(5):
        mdp = garnet(5, 4, 3, gamma=0.95, seed=seed, sparse=False)
        ball = L1Ball(0.4)
        v_star = mdp.initial_distribution @ rvi_value(mdp, ball)
        res = iwocs(mdp, ball, tol=1e-8)
        assert res.params["status"] == "certified" and res.n_iterations <= 5
        assert abs(res.history["upper"][-1] - v_star) < 1e-8


def test_iwocs_played_actions_stalls_on_the_pinned_instance():
    mdp, ks = finite_instance(STALL_SEED)
    v_star = rvi_value(mdp, ks)[0]
    res = iwocs(mdp, ks, tol=1e-8, tie_break="played_actions")
    assert res.params["status"] == "stalled" and not res.converged
    assert res.history["gap"][-1] > 0.1
    # Q_i stays above the robust value: the stall leaves the upper bound unresolved
    assert res.history["upper"][-1] > v_star + 0.1
    # the certificate's bounds still hold
    assert res.history["lower"][-1] <= v_star + 1e-9 <= res.history["upper"][-1] + 2e-9


def test_iwocs_static_non_rectangular_set_against_brute_force():
    rng = np.random.default_rng(0)
    S, A = 3, 2
    K = rng.dirichlet(np.ones(S), size=(3, S, A))
    mdp = TabularMDP(K[0], rng.uniform(size=(S, A)), 0.9, np.eye(S)[0])
    ks = KernelSet(list(K))
    res = iwocs(mdp, ks, tol=1e-8, static=True)
    brute = max(
        static_worst_case(mdp, ks, np.eye(A)[list(acts)])[1].min(axis=0)[0]
        for acts in itertools.product(range(A), repeat=S)
    )
    j, values = static_worst_case(mdp, ks, res.policy)
    assert values[j, 0] <= brute + 1e-9
    assert res.params["status"] in ("certified", "stalled", "max_iterations")


def test_iwocs_windy_walk_finds_the_worst_case_in_two_iterations():
    mdp, ks = windy_walk()
    res = iwocs(mdp, ks, tol=1e-6)
    v_star = rvi_value(mdp, ks)[0]
    assert res.params["status"] == "certified" and res.n_iterations <= 2
    assert abs(res.history["upper"][-1] - v_star) < 1e-6
    assert res.history["backups"][-1] > 0


def test_iwocs_step_closed_form_and_bad_input():
    q = np.array([[1.0, 3.0], [2.0, 0.0]])
    q2, actions = iwocs_step(q, np.array([[2.0, 0.5], [1.0, 4.0]]))
    np.testing.assert_array_equal(q2, [[1.0, 0.5], [1.0, 0.0]])
    np.testing.assert_array_equal(actions, [0, 0])
    mdp, ks = finite_instance(0)
    with pytest.raises(ValueError, match="tie_break"):
        iwocs(mdp, ks, tie_break="nominal")
    with pytest.raises(ValueError, match="static"):
        iwocs(mdp, L1Ball(0.1), static=True)
    with pytest.raises(ValueError, match="max_iterations"):
        iwocs(mdp, ks, max_iterations=0)


@pytest.mark.parametrize("seed", range(3))
def test_drpg_gap_to_rvi_vanishes_and_is_never_negative(seed):
    mdp, ball = drpg_garnet(5, 6, 3, seed=seed)
    res = drpg(mdp, ball, n_iterations=200)
    gap = res.history["gap"]
    scale = np.abs(mdp.rewards).max() / (1 - mdp.gamma)
    assert gap.min() >= -1e-10 * scale
    assert gap[-1] <= 1e-6
    t_star = res.params["t_star"]
    assert res.history["value"][t_star] == res.history["value"].max()  # the output rule
    np.testing.assert_allclose(
        mdp.initial_distribution @ res.values, res.params["reference_value"], atol=1e-6
    )


def test_drpg_gradient_matches_finite_differences_and_step_projects():
    mdp, ball = drpg_garnet(4, 3, 3, seed=5)
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(3), size=4)
    worst = R.robust_policy_evaluation(mdp, ball, pi, tol=1e-12).params["worst_mdp"]
    grad = drpg_gradient(worst, pi)
    h = 1e-6
    for s, a in [(0, 0), (1, 2), (3, 1)]:
        e = np.zeros_like(pi)
        e[s, a] = h
        # J is linear in each pi(a|s) direction through V^pi (no simplex constraint needed)
        plus = mdp.initial_distribution @ _value(worst, pi + e)
        minus = mdp.initial_distribution @ _value(worst, pi - e)
        assert abs((plus - minus) / (2 * h) - grad[s, a]) <= 1e-5 * max(1, abs(grad[s, a]))
    stepped = drpg_step(pi, grad, 0.1)
    np.testing.assert_allclose(stepped.sum(axis=1), 1.0)
    assert stepped.min() >= 0


def _value(m, pi):
    P = m.transitions
    P_pi = np.einsum("sa,sat->st", pi, P)
    r_pi = (pi * m.rewards).sum(axis=1)
    return np.linalg.solve(np.eye(m.n_states) - m.gamma * P_pi, r_pi)


def test_drpg_on_kl_ball_and_bad_input():
    mdp, _ = drpg_garnet(4, 3, 3, seed=1)
    res = drpg(mdp, KLBall(0.05), n_iterations=150)
    assert res.history["gap"].min() >= -1e-9 and res.history["gap"][-1] <= 1e-5
    with pytest.raises(ValueError, match="step_size"):
        drpg(mdp, KLBall(0.05), step_size=0.0)
    with pytest.raises(ValueError, match="device"):
        drpg(mdp, KLBall(0.05), device="gpu")


def test_wang2023_bound_hand_values():
    S, A, g = 5, 6, 0.95
    L = math.sqrt(6) / 0.05**2
    ell = 2 * 0.95 * 6 / 0.05**3
    assert wang2023.lipschitz_constant(A, g) == pytest.approx(L)
    assert wang2023.smoothness_constant(A, g) == pytest.approx(ell)
    delta = math.sqrt(10) / L
    assert wang2023.best_delta(S, A, g) == pytest.approx(delta)
    first = math.sqrt(30) / 0.05 + L / (2 * ell)
    second = 4 * ell * 5 / delta + 2 * delta * ell * L**2 + 4 * ell / 0.05
    expected = first**4 * second**2 / 0.1**4
    assert wang2023.drpg_iteration_bound(
        0.1, n_states=S, n_actions=A, gamma=g, mismatch=1.0
    ) == pytest.approx(expected)
    # the theory notes' magnitude: about 1.9e26 / eps^4
    assert (
        1.8e26
        < wang2023.drpg_iteration_bound(1.0, n_states=S, n_actions=A, gamma=g, mismatch=1.0)
        < 1.95e26
    )

    # the best delta minimises the bound
    def at(d):
        return wang2023.drpg_iteration_bound(
            1.0, n_states=S, n_actions=A, gamma=g, mismatch=1.0, delta=d
        )

    assert at(delta) <= min(at(delta * 1.1), at(delta / 1.1))
    with pytest.raises(ValueError, match="mismatch"):
        wang2023.drpg_iteration_bound(1.0, n_states=S, n_actions=A, gamma=g, mismatch=0.5)


def test_drpg_rvi_static_optimal_policy_under_worst_kernel():
    """Saddle point in DRPG's setting: the worst kernel of the robust policy is one in which the
    robust policy is optimal (checked by nominal VI on the worst MDP)."""
    mdp, ball = drpg_garnet(5, 6, 3, seed=2)
    res = R.robust_value_iteration(mdp, ball, tol=1e-10)
    worst = TabularMDP(res.params["worst_kernel"], mdp.rewards, mdp.gamma)
    np.testing.assert_allclose(dp.value_iteration(worst, tol=1e-10).values, res.values, atol=1e-9)


def test_action_masks_in_drpg_and_iwocs():
    """Infeasible actions: DRPG starts uniform over the feasible actions and projects onto
    them (no mass ever on an infeasible action; its gap still goes to 0), ``drpg_step`` with a
    mask equals the projection of the feasible entries alone, and IWOCS on a finite set
    certifies the robust VI value of the masked MDP."""
    from theory_rl.algorithms.drpg import drpg_step
    from theory_rl.algorithms.mirror import project_simplex

    rng = np.random.default_rng(8)
    S, A = 6, 3
    P = rng.dirichlet(np.ones(S), size=(S, A))
    mask = rng.random((S, A)) < 0.6
    mask[np.arange(S), rng.integers(A, size=S)] = True
    mdp = TabularMDP(P, rng.normal(size=(S, A)), 0.9, action_mask=mask)
    res = drpg(mdp, L1Ball(0.2), n_iterations=800)  # gap 5e-3 at 300, round-off by 600
    assert np.asarray(res.policy)[~mask].max() == 0.0
    assert np.asarray(res.params["last_policy"])[~mask].max() == 0.0
    assert np.min(res.history["gap"]) >= -1e-9 and abs(res.history["best_gap"][-1]) <= 1e-9
    x, g = rng.dirichlet(np.ones(A), size=S), rng.normal(size=(S, A)) * 5
    step = drpg_step(x, g, 0.3, mask)
    for s in range(S):
        np.testing.assert_allclose(step[s, mask[s]], project_simplex((x + 0.3 * g)[s, mask[s]]))
        assert np.all(step[s, ~mask[s]] == 0.0)
    kernels = KernelSet([P, rng.dirichlet(np.ones(S), size=(S, A))])
    iw = iwocs(mdp, kernels)
    rvi = R.robust_value_iteration(mdp, kernels, tol=1e-10)
    assert iw.params["status"] == "certified"
    np.testing.assert_allclose(np.asarray(iw.values), rvi.values, atol=1e-8)
    assert mask[np.arange(S), np.asarray(iw.policy).argmax(axis=1)].all()
