"""NPG: steps equal the hand formulas, fixed points, guarantees at every iterate, batching."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory_rl.algorithms import dp, npg
from theory_rl.algorithms.exact import reference, regularized_optimum
from theory_rl.algorithms.mirror import kl_prox
from theory_rl.bounds import mdp_constants
from theory_rl.bounds.agarwal2021 import npg_bound
from theory_rl.mdps import LinearMDP, bandit, chain, combination_lock, random_linear_mdp, random_mdp


def rand_policy(rng, S, A):
    p = rng.random((S, A)) + 0.05
    return p / p.sum(axis=1, keepdims=True)


def test_npg_step_is_the_hand_formula():
    rng = np.random.default_rng(0)
    pi, adv = rand_policy(rng, 4, 3), rng.normal(size=(4, 3))
    eta, gamma = 0.7, 0.9
    hand = pi * np.exp(eta * adv / (1 - gamma))
    hand /= hand.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(npg.npg_step(pi, adv, eta=eta, gamma=gamma), hand, rtol=1e-12)
    # = KL-PMD with step eta / (1 - gamma), and invariant to per-state shifts of the scores
    np.testing.assert_allclose(kl_prox(pi, adv, eta / (1 - gamma)), hand, rtol=1e-12)
    shifted = adv + rng.normal(size=(4, 1))
    np.testing.assert_allclose(npg.npg_step(pi, shifted, eta=eta, gamma=gamma), hand, rtol=1e-12)


def test_entropy_npg_step_is_cen_closed_form():
    rng = np.random.default_rng(1)
    pi, q = rand_policy(rng, 5, 4), rng.normal(size=(5, 4))
    eta, tau, gamma = 0.3, 0.2, 0.9
    hand = pi ** (1 - eta * tau / (1 - gamma)) * np.exp(eta * q / (1 - gamma))
    hand /= hand.sum(axis=1, keepdims=True)
    got = npg.entropy_npg_step(pi, q, eta=eta, tau=tau, gamma=gamma)
    np.testing.assert_allclose(got, hand, rtol=1e-12)
    # eta = (1-gamma)/tau is soft policy iteration: softmax(q / tau)
    spi = npg.entropy_npg_step(pi, q, eta=(1 - gamma) / tau, tau=tau, gamma=gamma)
    soft = np.exp(q / tau - (q / tau).max(1, keepdims=True))
    np.testing.assert_allclose(spi, soft / soft.sum(1, keepdims=True), rtol=1e-12)
    with pytest.raises(ValueError, match="eta"):
        npg.entropy_npg_step(pi, q, eta=1.0, tau=tau, gamma=gamma)


def test_regularized_optimum_is_a_fixed_point():
    mdp = random_mdp(6, 3, gamma=0.9, seed=2)
    tau = 0.1
    ref = regularized_optimum(mdp, tau=tau)
    v, q, pi = ref.values, ref.q_values, ref.policy
    # soft Bellman equation and stationarity under the entropy NPG step
    np.testing.assert_allclose(v, tau * np.log(np.exp(q / tau).sum(axis=1)), atol=1e-10)
    nxt = npg.entropy_npg_step(pi, q, eta=0.5 * (1 - mdp.gamma) / tau, tau=tau, gamma=mdp.gamma)
    np.testing.assert_allclose(nxt, pi, atol=1e-12)
    v2, q2 = npg.soft_evaluation(mdp, pi, tau=tau)
    np.testing.assert_allclose(v2, v, atol=1e-10)


def test_npg_optimal_policy_is_a_fixed_point():
    mdp = random_mdp(6, 3, gamma=0.9, seed=3)
    ref = dp.policy_iteration(mdp)
    adv = np.asarray(ref.q_values) - np.asarray(ref.values)[:, None]
    np.testing.assert_array_equal(
        npg.npg_step(np.asarray(ref.policy), adv, eta=5.0, gamma=0.9), ref.policy
    )


@pytest.mark.parametrize(
    "mdp", [random_mdp(10, 3, gamma=0.9, seed=4), chain(4)], ids=["random", "chain"]
)
def test_agarwal_bound_and_monotone_improvement_every_iterate(mdp):
    eta = np.array([0.01, 1.0, (1 - mdp.gamma) ** 2 * math.log(mdp.n_actions)])
    res = npg.natural_policy_gradient(
        mdp, eta=eta, n_iterations=100, record=("sup_gap", "values", "log_partition")
    )
    assert res.history["sup_gap"].shape == (3, 101)  # (B, K+1)
    atol = mdp_constants.value_error_floor(mdp)
    T = np.arange(1, 101)
    bound = npg_bound(T, eta=eta[:, None], gamma=mdp.gamma, n_actions=mdp.n_actions)
    assert np.all(res.history["sup_gap"][:, 1:] <= bound + atol)
    dv = np.diff(res.history["values"], axis=1)
    lower = (1 - mdp.gamma) / eta[:, None, None] * res.history["log_partition"][:, :-1]
    assert np.all(dv >= lower - atol) and np.all(lower >= -atol)


def test_batch_equals_separate_runs_and_rho_invariance():
    mdp = random_mdp(5, 3, gamma=0.8, seed=5)
    etas = [0.1, 2.0]
    batch = npg.natural_policy_gradient(mdp, eta=etas, n_iterations=20, record=("gap", "values"))
    for j, e in enumerate(etas):
        one = npg.natural_policy_gradient(mdp, eta=e, n_iterations=20, record=("gap",))
        np.testing.assert_allclose(batch.policy[j], one.policy, atol=1e-13)
        np.testing.assert_allclose(batch.history["gap"][j], one.history["gap"], atol=1e-12)
    other = npg.natural_policy_gradient(mdp, eta=etas, n_iterations=20, rho=np.eye(5)[0])
    np.testing.assert_allclose(other.policy, batch.policy, atol=1e-13)  # update is rho-free


def test_kl_to_opt_and_result_contract():
    mdp = random_mdp(5, 2, gamma=0.8, seed=6)
    seen = []
    res = npg.natural_policy_gradient(
        mdp, eta=1.0, n_iterations=10, callback=lambda r: seen.append(r.n_iterations)
    )
    assert seen == list(range(0, 11))  # every measured iterate, k = 0 first
    assert res.history["gap"].shape == (11,) and res.history["kl_to_opt"][0] > 0
    assert not res.converged and "fixed budget" in res.message
    assert res.history["kl_to_opt"][-1] < res.history["kl_to_opt"][0]
    assert not res.policy.flags.writeable

    def stop(r):
        if r.n_iterations == 3:
            raise StopIteration

    assert (
        npg.natural_policy_gradient(mdp, eta=1.0, n_iterations=10, callback=stop).n_iterations == 3
    )


def test_bad_inputs_name_the_field():
    mdp = random_mdp(3, 2, gamma=0.8, seed=0)
    with pytest.raises(ValueError, match="eta"):
        npg.natural_policy_gradient(mdp, eta=-1.0, n_iterations=5)
    with pytest.raises(ValueError, match="n_iterations"):
        npg.natural_policy_gradient(mdp, eta=1.0, n_iterations=-1)
    with pytest.raises(ValueError, match="n_iterations"):
        npg.natural_policy_gradient(mdp, eta=1.0, n_iterations=2.0)
    with pytest.raises(ValueError, match="eta"):
        npg.natural_policy_gradient(mdp, eta="1.0", n_iterations=2)
    with pytest.raises(ValueError, match="tau"):
        npg.natural_policy_gradient(mdp, eta=0.1, tau="0.1", n_iterations=2)
    with pytest.raises(ValueError, match="tol"):
        npg.natural_policy_gradient(mdp, eta=1.0, n_iterations=2, tol=-1.0)
    with pytest.raises(ValueError, match="reference"):
        npg.natural_policy_gradient(mdp, eta=1.0, n_iterations=2, reference="optimum")
    with pytest.raises(ValueError, match="reference"):  # the tau = 0.1 optimum, a tau = 0 run
        npg.natural_policy_gradient(
            mdp, eta=1.0, n_iterations=2, reference=regularized_optimum(mdp, tau=0.1)
        )
    with pytest.raises(ValueError, match="record"):
        npg.natural_policy_gradient(mdp, eta=1.0, n_iterations=2, record=("nope",))
    with pytest.raises(ValueError, match="eta"):
        npg.natural_policy_gradient(mdp, eta=1.0, tau=1.0, n_iterations=2)
    with pytest.raises(ValueError, match="initial_policy"):
        npg.natural_policy_gradient(mdp, eta=1.0, n_iterations=2, initial_policy=np.ones((3, 2)))


@settings(max_examples=15, deadline=None)
@given(
    st.integers(2, 6),
    st.integers(2, 4),
    st.integers(0, 10_000),
    st.floats(0.01, 10.0),
    st.sampled_from([0.5, 0.9]),
)
def test_npg_improves_statewise_property(S, A, seed, eta, gamma):
    mdp = random_mdp(S, A, gamma=gamma, seed=seed)
    res = npg.natural_policy_gradient(mdp, eta=eta, n_iterations=5, record=("values",))
    assert np.all(np.diff(res.history["values"], axis=0) >= -mdp_constants.value_error_floor(mdp))
    np.testing.assert_allclose(res.policy.sum(axis=1), 1.0, atol=1e-12)


def test_cen_rate_on_a_random_mdp():
    mdp = random_mdp(8, 3, gamma=0.9, seed=7)
    tau, eta = 0.1, 0.5 * 0.1 / 0.1
    res = npg.natural_policy_gradient(mdp, eta=eta, tau=tau, n_iterations=60, record=("q_error",))
    err = res.history["q_error"]
    k = np.flatnonzero(err < 1e-8)[0]
    slope = np.polyfit(np.arange(k), np.log(err[:k]), 1)[0]
    assert slope <= math.log(1 - eta * tau)


def test_q_npg_exact_critic_is_tabular_npg():
    """On a linear MDP Q^pi = phi w exactly, so Q-NPG with step eta equals NPG with step
    eta (1 - gamma) (module docstring of npg)."""
    lin = random_linear_mdp(6, 3, 4, gamma=0.8, seed=8)
    res = npg.q_npg(lin, eta=0.5, n_iterations=15)
    assert np.isnan(res.history["critic_error"][0])
    assert res.history["critic_error"][1:].max() < 1e-10
    tab = npg.natural_policy_gradient(lin.to_tabular(), eta=0.5 * 0.2, n_iterations=15)
    np.testing.assert_allclose(res.policy, tab.policy, atol=1e-10)
    np.testing.assert_allclose(res.history["gap"], tab.history["gap"], atol=1e-10)


def test_q_npg_sampled_critic_tracks_exact():
    lin = random_linear_mdp(5, 2, 3, gamma=0.7, seed=9)
    ex = npg.q_npg(lin, eta=1.0, n_iterations=10)
    sa = npg.q_npg(
        lin, eta=1.0, n_iterations=10, critic="sampled", n_rollouts=50, horizon=40, seed=0
    )
    assert sa.history["samples"][-1] > 0 and np.all(np.diff(sa.history["samples"]) > 0)
    # truncation bias gamma^39/(1-gamma) ~ 3e-6; MC error of a mean of 50 returns in [0, 3.4]:
    # 6 sigma / sqrt(50) <= 6 * 1.7 / 7.07 = 1.45; the critic is a projection of those errors.
    assert sa.history["critic_error"][1:].max() < 1.5
    assert sa.history["gap"][-1] < sa.history["gap"][0]
    assert abs(sa.history["gap"][-1] - ex.history["gap"][-1]) < 0.1 * ex.history["gap"][0]


def test_fit_q_weights_recovers_linear_targets():
    rng = np.random.default_rng(10)
    phi = rng.normal(size=(4, 3, 2))
    w = np.array([0.5, -1.0])
    np.testing.assert_allclose(npg.fit_q_weights(phi, phi @ w), w, atol=1e-12)
    assert isinstance(random_linear_mdp(3, 2, 2, seed=0), LinearMDP)


def test_combination_lock_structure():
    mdp = combination_lock(3, 4, gamma=0.9, seed=0)
    ref = dp.policy_iteration(mdp)
    assert mdp.n_states == 10
    np.testing.assert_allclose(ref.values @ mdp.initial_distribution, 0.9**2)
    uniform = np.full((10, 4), 0.25)
    v = dp.policy_evaluation(mdp, uniform) @ mdp.initial_distribution
    # success 4^-3 pays 1; every other episode pays the anti-shaped 0.05 at the last step
    np.testing.assert_allclose(v, 0.9**2 * (4.0**-3 + (1 - 4.0**-3) * 0.05))


def test_hybrid_policy_evaluation_exact_targets_give_q_pi():
    """Bellman-complete tabular class: one exact transition per pair, FQE -> Q^pi (notes §7 b)."""
    mdp = combination_lock(3, 3, gamma=0.9, seed=1)
    rng = np.random.default_rng(0)
    pi = rand_policy(rng, mdp.n_states, 3)
    _, q = npg.soft_evaluation(mdp, pi)
    S, A = q.shape
    s, a = np.repeat(np.arange(S), A), np.tile(np.arange(A), S)
    P = mdp.transitions
    # expected-next-state FQE: use every successor with its probability as repeated data
    rows = [(si, ai, sj) for si, ai in zip(s, a, strict=True) for sj in np.flatnonzero(P[si, ai])]
    weights = [P[si, ai, sj] for si, ai, sj in rows]
    assert all(abs(w - 0.5) < 1e-12 or abs(w - 1.0) < 1e-12 for w in weights)
    reps = [1 if abs(w - 0.5) < 1e-12 else 2 for w in weights]  # equal counts = probabilities
    data = np.repeat(np.array(rows), reps, axis=0)
    off = (data[:, 0], data[:, 1], mdp.rewards[data[:, 0], data[:, 1]], data[:, 2])
    f = npg.hybrid_policy_evaluation(pi, mdp.gamma, online=None, offline=off, n_rounds=4)
    np.testing.assert_allclose(f, q, atol=1e-12)
    # no offline data and lam -> anything: the MC average of exact targets is Q^pi
    f2 = npg.hybrid_policy_evaluation(
        pi, mdp.gamma, online=(s, a, q.ravel()), offline=None, n_rounds=4
    )
    np.testing.assert_allclose(f2, q, atol=1e-14)


def test_hybrid_npg_opens_the_lock_with_offline_data():
    mdp = combination_lock(4, 10, seed=3)
    pi_star = np.asarray(dp.policy_iteration(mdp).policy)
    data = npg.epsilon_greedy_offline_data(
        mdp, pi_star, n_samples=2000, epsilon=0.25, episode_length=4, seed=0
    )
    res = npg.hybrid_npg(
        mdp,
        eta=1.0,
        episode_length=4,
        episodes_per_iteration=50,
        max_samples=100_000,
        offline=data,
        seed=1,
    )
    assert res.converged and res.params["online_samples"] <= 20_000
    again = npg.hybrid_npg(
        mdp,
        eta=1.0,
        episode_length=4,
        episodes_per_iteration=50,
        max_samples=100_000,
        offline=data,
        seed=1,
    )
    np.testing.assert_array_equal(again.policy, res.policy)  # same seed, same numbers


def test_bandit_npg_converges():
    res = npg.natural_policy_gradient(bandit([1.0, 0.5]), eta=1.0, n_iterations=50)
    assert res.history["gap"][-1] < 1e-10


@pytest.mark.gpu
def test_npg_gpu_matches_cpu():
    mdp = random_mdp(6, 3, gamma=0.9, seed=11)
    cpu = npg.natural_policy_gradient(mdp, eta=[0.1, 1.0], n_iterations=20, tau=0.0)
    gpu = npg.natural_policy_gradient(mdp, eta=[0.1, 1.0], n_iterations=20, device="gpu")
    np.testing.assert_allclose(gpu.policy, cpu.policy, atol=1e-10)
    ent = npg.natural_policy_gradient(
        mdp, eta=0.5, tau=0.1, n_iterations=20, device="gpu", record=("q_error",)
    )
    assert ent.history["q_error"][-1] < ent.history["q_error"][0]


def test_given_reference_gives_the_same_numbers_and_tol_stops():
    mdp = random_mdp(6, 3, gamma=0.9, seed=12)
    keys = ("gap", "sup_gap", "kl_to_opt", "q_error", "log_policy_error")
    for tau, eta in ((0.0, [0.5, 2.0]), (0.1, [0.05, 0.1])):
        ref = reference(mdp, tau=tau, regularizer="entropy" if tau else None)
        own = npg.natural_policy_gradient(mdp, eta=eta, tau=tau, n_iterations=30, record=keys)
        given = npg.natural_policy_gradient(
            mdp, eta=eta, tau=tau, n_iterations=30, record=keys, reference=ref
        )
        for key in keys:
            np.testing.assert_array_equal(given.history[key], own.history[key])
    # tol on sup_gap: converged exactly when the rule was met, before the budget
    res = npg.natural_policy_gradient(mdp, eta=5.0, n_iterations=500, tol=1e-8, record=("sup_gap",))
    assert res.converged and res.n_iterations < 500 and res.history["sup_gap"][-1] <= 1e-8
    assert np.all(res.history["sup_gap"][:-1] > 1e-8)


def test_entropy_npg_soft_policy_iteration_limit_reaches_the_optimum():
    """eta = (1 - gamma)/tau (eta' = inf in the shared prox) is soft policy iteration, a
    gamma-contraction in Q: the q_error history must contract at least that fast."""
    mdp = random_mdp(8, 3, gamma=0.8, seed=13)
    tau = 0.2
    res = npg.natural_policy_gradient(
        mdp, eta=(1 - mdp.gamma) / tau, tau=tau, n_iterations=40, record=("q_error",)
    )
    err = res.history["q_error"]
    resolved = err > 1e-11
    ratios = err[1:][resolved[1:]] / err[:-1][resolved[1:]]
    assert err[-1] < 1e-10 and np.all(ratios <= mdp.gamma * (1 + 1e-6))


def test_q_npg_record_seed_and_device():
    lin = random_linear_mdp(5, 2, 3, gamma=0.7, seed=9)
    kw = dict(eta=1.0, n_iterations=5, critic="sampled", n_rollouts=5, horizon=10)
    a = npg.q_npg(lin, seed=3, record=("gap", "samples", "kl_to_opt"), device="cpu", **kw)
    b = npg.q_npg(lin, seed=3, record=("gap",), **kw)
    np.testing.assert_array_equal(a.policy, b.policy)  # one Generator, same order
    assert a.history["kl_to_opt"].shape == (6,) and a.params["theta"].shape == (3,)
    steps = np.diff(a.history["samples"])  # every update draws the same number
    assert a.history["samples"][0] == 0 and steps[0] > 0 and np.all(steps == steps[0])
    with pytest.raises(ValueError, match="record"):
        npg.q_npg(lin, eta=1.0, record=("value",))
    with pytest.raises(ValueError, match="device"):
        npg.q_npg(lin, eta=1.0, device="tpu")


def test_hybrid_npg_budget_record_and_device():
    mdp = combination_lock(4, 10, seed=3)
    kw = dict(eta=1.0, episode_length=4, episodes_per_iteration=5, seed=1)
    # the cap: 70 transitions allow ceil(70 / 20) = 4 updates; never success that soon
    res = npg.hybrid_npg(mdp, max_samples=70, **kw)
    assert not res.converged and res.n_iterations == 4 and res.params["online_samples"] == 80
    np.testing.assert_array_equal(res.history["samples"], [0, 20, 40, 60, 80])
    assert res.history["value"].shape == (5,)
    fewer = npg.hybrid_npg(mdp, max_samples=70, n_iterations=2, record=("value",), **kw)
    assert fewer.n_iterations == 2 and set(fewer.history) == {"value"}
    np.testing.assert_array_equal(fewer.history["value"], res.history["value"][:3])
    with pytest.raises(ValueError, match="device"):
        npg.hybrid_npg(mdp, max_samples=70, device="gpu", **kw)
    with pytest.raises(ValueError, match="success_fraction"):
        npg.hybrid_npg(mdp, max_samples=70, success_fraction=1.5, **kw)


def test_hybrid_npg_success_is_the_stopping_rule():
    """converged is True exactly at the first iterate whose value reaches the target."""
    mdp = combination_lock(3, 4, gamma=0.9, seed=0)
    res = npg.hybrid_npg(
        mdp, eta=1.0, episode_length=3, episodes_per_iteration=20, max_samples=60_000, seed=0
    )
    target = 0.5 * 0.9**2
    assert res.converged and "success" in res.message
    assert res.history["value"][-1] >= target and np.all(res.history["value"][:-1] < target)
