"""The optimistic actor-critic, UCBVI, LSVI-UCB and synchronous Q-learning.

The numba kernels are checked against plain-Python implementations of the same algorithms
driven by the same uniforms (every episode, every count, every regret), the regret accounting
against exact values from backward induction, the switch counts against their bounds on every
run (a strict gate), and the pure steps against hand formulas.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import theory_rl
from theory_rl.algorithms import actor_critic as ac
from theory_rl.algorithms import dp
from theory_rl.algorithms import exploration as ex
from theory_rl.bounds import tan2025
from theory_rl.mdps import garnet, random_linear_mdp
from theory_rl.mdps.combination_lock import episodic_combination_lock
from theory_rl.mdps.episodic import random_episodic_mdp
from theory_rl.mdps.tabular import FiniteHorizonMDP


# ------------------------------------------------------------------------------------------
# a plain-Python reference of the episodic algorithms (same uniforms as the drivers)
# ------------------------------------------------------------------------------------------
def _dense(mdp):
    H, S, A = mdp.horizon, mdp.n_states, mdp.n_actions
    P = np.stack([np.asarray(mdp.transitions_at(h)) for h in range(H)])
    r = np.broadcast_to(np.asarray(mdp.rewards, float), (H, S, A))
    return P, r


def _value(P, r, pi):
    H, S, _ = r.shape
    v = np.zeros((H + 1, S))
    for h in range(H - 1, -1, -1):
        v[h] = (pi[h] * (r[h] + P[h] @ v[h + 1])).sum(axis=1)
    return v


def _first_above(weights, u):
    c = np.cumsum(weights)
    return int(np.flatnonzero(c > u * c[-1])[0])


def reference_run(
    mdp,
    *,
    actor_critic,
    seed,
    n_iterations,
    E,
    bonus="count",
    bonus_scale=1.0,
    log_term=1.0,
    eta=0.1,
    features=None,
    lam=1.0,
    beta=0.0,
    offline=None,
):
    """Plain Python: per-episode regret and switches, final critic, counts, raw data."""
    H, S, A = mdp.horizon, mdp.n_states, mdp.n_actions
    P, r = _dense(mdp)
    v_star = mdp.initial_distribution @ dp.backward_induction(mdp).values[0]
    N, NS, R = ex.data_statistics(offline, horizon=H, n_states=S, n_actions=A)
    data = [] if offline is None else list(zip(*offline, strict=True))
    if features is not None:
        d = features.shape[2]
        logdet = np.full(H, d * math.log(lam))
        if offline is not None:
            for h in range(H):
                X = features[offline[0][:, h], offline[1][:, h]]
                logdet[h] = np.linalg.slogdet(lam * np.eye(d) + X.T @ X)[1]
        ref_logdet = logdet.copy()
    gen = np.random.default_rng(seed).spawn(1)[0]
    q = np.zeros((H, S, A))
    log_pi = np.full((H, S, A), -math.log(A))
    pending, switches = True, -1
    regrets, sw = [], []

    def plan():
        if features is None:
            return ex.optimistic_q_values(
                N, NS, R, bonus=bonus, bonus_scale=bonus_scale, log_term=log_term
            )[0]
        if not data:
            states = np.zeros((0, H + 1), int)
            acts = np.zeros((0, H), int)
            rews = np.zeros((0, H))
        else:
            states, acts, rews = (np.array(x) for x in zip(*data, strict=True))
        return ex.lsvi_q_values(features, (states, acts, rews), lam=lam, beta=beta)[0]

    for _ in range(n_iterations):
        U = gen.random((E, 2 * H + 1))
        for e in range(E):
            if not actor_critic or pending:
                q = plan()
                switches += 1
                pending = False
                if actor_critic:
                    log_pi = np.full((H, S, A), -math.log(A))
                    if features is not None:
                        ref_logdet = logdet.copy()
            if actor_critic:
                log_pi = ac.hedge_step(log_pi, q, eta=eta)
                pi = np.exp(log_pi)
            else:
                pi = np.eye(A)[q.argmax(axis=-1)]
            regrets.append(v_star - mdp.initial_distribution @ _value(P, r, pi)[0])
            u = U[e]
            s = _first_above(mdp.initial_distribution, u[0])
            traj_s, traj_a, traj_r = [s], [], []
            before = N.copy()
            for h in range(H):
                if actor_critic:  # the kernel's rule: first a with cumsum(pi)[a] > u
                    above = np.flatnonzero(np.cumsum(pi[h, s]) > u[1 + 2 * h])
                    a = int(above[0]) if above.size else A - 1
                else:
                    a = int(np.argmax(pi[h, s]))
                s2 = _first_above(P[h, s, a], u[2 + 2 * h])
                N[h, s, a] += 1
                NS[h, s, a, s2] += 1
                R[h, s, a] += r[h, s, a]
                traj_a.append(a)
                traj_r.append(r[h, s, a])
                s = s2
                traj_s.append(s)
            data.append((np.array(traj_s), np.array(traj_a), np.array(traj_r)))
            if features is not None:
                states, acts, _ = (np.array(x) for x in zip(*data, strict=True))
                for h in range(H):
                    X = features[states[:, h], acts[:, h]]
                    Lam = lam * np.eye(features.shape[2]) + X.T @ X
                    logdet[h] = np.linalg.slogdet(Lam)[1]
                if actor_critic and ac.det_switch(logdet, ref_logdet):
                    pending = True
            elif actor_critic and ac.count_switch(before, N):
                pending = True
            sw.append(switches)
    return np.array(regrets), np.array(sw), q, N


def _lock():
    return episodic_combination_lock(3, 2, seed=1)


def _kernel_and_python(driver, mdp, *, seed, n_iterations, E, record, python, **settings):
    """``driver`` on ``mdp`` and :func:`reference_run` on the same seed, sizes and bonus scale
    (``python``: its other arguments; it gets the driver's log term); asserts that the episode
    regrets and the final ``Q`` agree and returns ``(result, regrets, switches)``."""
    res = driver(
        mdp,
        episodes_per_iteration=E,
        n_iterations=n_iterations,
        seed=seed,
        record=record,
        **settings,
    )
    regret, sw, q, _ = reference_run(
        mdp,
        seed=seed,
        n_iterations=n_iterations,
        E=E,
        bonus_scale=settings["bonus_scale"],
        log_term=res.params["log_term"],
        **python,
    )
    np.testing.assert_allclose(res.history["episode_regret"][1:].ravel(), regret, atol=1e-12)
    np.testing.assert_allclose(res.q_values, q, atol=1e-12)
    return res, regret, sw


@pytest.mark.parametrize("problem", ["lock", "random"])
def test_actor_critic_kernel_equals_python(problem):
    mdp = _lock() if problem == "lock" else random_episodic_mdp(3, 2, 3, seed=4)
    res, regret, sw = _kernel_and_python(
        ac.optimistic_actor_critic,
        mdp,
        seed=11,
        n_iterations=6,
        E=5,
        record=("episode_regret", "switches", "regret"),
        python=dict(actor_critic=True, eta=0.7),
        bonus_scale=0.3,
        eta=0.7,
    )
    np.testing.assert_array_equal(res.history["switches"][1:], sw.reshape(6, 5)[:, -1])
    np.testing.assert_allclose(res.history["regret"][-1], regret.sum(), atol=1e-10)
    assert sw[-1] >= 1  # the trigger fired: resets are exercised


def test_non_optimistic_and_hybrid_equal_python():
    mdp = _lock()
    off = ex.sample_episodes(mdp, np.full((mdp.n_states, 2), 0.5), n_episodes=7, seed=3)
    for c, offline in ((0.0, None), (0.2, off)):
        res, _, sw = _kernel_and_python(
            ac.optimistic_actor_critic,
            mdp,
            seed=2,
            n_iterations=5,
            E=4,
            record=("episode_regret", "switches"),
            python=dict(actor_critic=True, eta=0.5, offline=offline),
            bonus_scale=c,
            eta=0.5,
            offline=offline,
        )
        np.testing.assert_array_equal(res.history["switches"][1:], sw.reshape(5, 4)[:, -1])


@pytest.mark.parametrize("bonus", ["hoeffding", "bernstein", "count"])
def test_ucbvi_kernel_equals_python(bonus):
    res, _, _ = _kernel_and_python(
        ex.ucbvi,
        random_episodic_mdp(3, 2, 3, seed=5),
        seed=7,
        n_iterations=5,
        E=4,
        record=("episode_regret", "switches"),
        python=dict(actor_critic=False, bonus=bonus),
        bonus=bonus,
        bonus_scale=0.02,
    )
    assert res.history["switches"][-1] == 19  # UCBVI replans before every episode


@pytest.mark.parametrize("actor_critic", [False, True])
def test_linear_kernel_equals_ridge_solves(actor_critic):
    lin = random_linear_mdp(4, 2, 3, seed=3)
    H = 3
    kw = dict(
        horizon=H,
        bonus_scale=0.02,
        episodes_per_iteration=4,
        n_iterations=5,
        seed=9,
        record=("episode_regret", "switches"),
    )
    if actor_critic:
        res = ac.optimistic_actor_critic(lin, eta=0.5, **kw)
    else:
        res = ex.lsvi_ucb(lin, **kw)
    mdp = ex.finite_horizon(lin, H)
    regret, sw, q, _ = reference_run(
        mdp,
        actor_critic=actor_critic,
        seed=9,
        n_iterations=5,
        E=4,
        eta=0.5,
        features=np.asarray(lin.features),
        beta=res.params["beta"],
    )
    np.testing.assert_allclose(res.history["episode_regret"][1:].ravel(), regret, atol=1e-9)
    np.testing.assert_allclose(res.q_values, q, atol=1e-9)
    np.testing.assert_array_equal(res.history["switches"][1:], sw.reshape(5, 4)[:, -1])


def test_regret_accounting_against_backward_induction():
    """The recorded gap of a greedy policy equals rho^T (V* - V^pi) with both values from
    dp.backward_induction (V^pi: the MDP restricted to pi's actions)."""
    mdp = random_episodic_mdp(4, 3, 3, seed=8)
    res = ex.ucbvi(
        mdp, bonus_scale=0.01, episodes_per_iteration=3, n_iterations=2, seed=0, record=("gap",)
    )
    pi = res.policy
    P, r = _dense(mdp)
    H, S, A = r.shape
    # V^pi by backward induction on the one-action MDP that plays pi
    P_pi = np.einsum("hsa,hsat->hst", pi, P)[:, :, None, :]
    r_pi = np.einsum("hsa,hsa->hs", pi, r)[:, :, None]
    v_pi = dp.backward_induction(FiniteHorizonMDP(P_pi, r_pi, H, mdp.initial_distribution))
    v_star = dp.backward_induction(mdp)
    rho = mdp.initial_distribution
    assert res.history["gap"][-1] == pytest.approx(
        rho @ (v_star.values[0] - v_pi.values[0]), abs=1e-12
    )
    np.testing.assert_allclose(res.values, v_pi.values, atol=1e-12)


def test_optimal_critic_gives_zero_regret():
    """Fixed point: a greedy player whose plan is Q* (every pair visited, exact model through
    huge counts, bonus 0) has zero regret."""
    mdp = random_episodic_mdp(3, 2, 3, seed=1)
    P, r = _dense(mdp)
    big = 10**6
    N = np.full((3, 3, 2), big, np.int64)
    NS = np.rint(P * big).astype(np.int64)
    N = NS.sum(axis=-1)
    q, _ = ex.optimistic_q_values(N, NS, r * N, bonus="none", bonus_scale=0.0)
    np.testing.assert_allclose(
        q,
        dp.backward_induction(
            FiniteHorizonMDP(NS / N[..., None], r, 3, mdp.initial_distribution)
        ).q_values,
        atol=1e-12,
    )


# ------------------------------------------------------------------------------------------
# switch counts: a strict gate on every run
# ------------------------------------------------------------------------------------------
def test_switch_counts_within_bounds():
    lock = episodic_combination_lock(4, 3, seed=0)
    off = ex.sample_episodes(lock, np.full((lock.n_states, 3), 1 / 3), n_episodes=50, seed=1)
    for offline in (None, off):
        res = ac.optimistic_actor_critic(
            lock,
            bonus_scale=0.1,
            offline=offline,
            episodes_per_iteration=64,
            n_iterations=8,
            n_seeds=4,
            seed=0,
        )
        T = 64 * 8
        n_off = 0 if offline is None else 50
        bound = tan2025.tabular_switch_bound(lock.n_states, 3, 4, T, n_off)
        assert res.params["switch_bound"] == bound
        assert res.history["switches"].max() <= bound
        assert res.history["switches"][:, -1].min() >= 1
    lin = random_linear_mdp(6, 3, 3, seed=0)
    res = ac.optimistic_actor_critic(
        lin,
        horizon=4,
        bonus_scale=0.05,
        episodes_per_iteration=64,
        n_iterations=8,
        n_seeds=4,
        seed=0,
    )
    norm = float(np.sqrt((np.asarray(lin.features) ** 2).sum(-1)).max())
    assert res.params["switch_bound"] == tan2025.linear_switch_bound(3, 4, 512, feature_norm=norm)
    assert res.history["switches"].max() <= res.params["switch_bound"]


def test_switch_bound_hand_values():
    assert tan2025.tabular_switch_bound(25, 4, 8, 2**14) == 25 * 4 * 8 * 15
    assert tan2025.tabular_switch_bound(1, 1, 1, 7) == 3  # counts 1, 2, 4 fire
    # d log2(1 + T/(d lam)) = 2 log2(1 + 6/2) = 4 per step
    assert tan2025.linear_switch_bound(2, 3, 6) == 12
    assert tan2025.hedge_step_size(4, 2, 8, 1) == pytest.approx(math.sqrt(8 * math.log(4) / 32))


def test_count_switch_fires_exactly_at_powers_of_two():
    fired = [n for n in range(1, 40) if ac.count_switch([n - 1], [n])]
    assert fired == [1, 2, 4, 8, 16, 32]
    assert ac.det_switch([math.log(2.0)], [0.0]) and not ac.det_switch([0.69], [0.0])


def test_hedge_step_hand_formula():
    logp = np.log(np.array([0.2, 0.3, 0.5]))
    f = np.array([1.0, 0.0, 2.0])
    want = np.array([0.2, 0.3, 0.5]) * np.exp(0.4 * f)
    np.testing.assert_allclose(np.exp(ac.hedge_step(logp, f, eta=0.4)), want / want.sum())


def test_bonus_hand_values():
    assert ex.exploration_bonus(4, kind="hoeffding", scale=1.0, horizon=2, log_term=3.0) == 21.0
    b = ex.exploration_bonus(2, kind="bernstein", scale=1.0, horizon=3, log_term=1.0, variance=0.5)
    assert b == pytest.approx(math.sqrt(8 * 0.5 / 2) + 14 * 3 / 6)


# ------------------------------------------------------------------------------------------
# Q-learning
# ------------------------------------------------------------------------------------------
def test_q_learning_kernel_equals_steps():
    mdp = garnet(5, 2, 3, gamma=0.8, seed=2, sparse=False)
    res = ex.q_learning(mdp, updates_per_iteration=6, n_iterations=3, seed=4, record=("error",))
    P = np.asarray(mdp.transitions)
    q_star = theory_rl.reference(mdp).q_values
    gen = np.random.default_rng(4).spawn(1)[0]
    q = np.zeros((5, 2))
    errs = [np.abs(q - q_star).max()]
    k = 0
    for _ in range(3):
        U = gen.random((6, 10))
        for j in range(6):
            nxt = np.array(
                [[_first_above(P[s, a], U[j, s * 2 + a]) for a in range(2)] for s in range(5)]
            )
            alpha = 1.0 / (1.0 + 0.2 * (k + 1))
            q = ex.q_learning_step(q, nxt, mdp.rewards, gamma=0.8, alpha=alpha)
            k += 1
        errs.append(np.abs(q - q_star).max())
    np.testing.assert_allclose(res.history["error"], errs, atol=1e-12)
    np.testing.assert_allclose(res.q_values, q, atol=1e-12)


def test_q_learning_fixed_point_and_step_sizes():
    mdp = garnet(4, 2, 1, gamma=0.5, seed=0, sparse=False)  # deterministic: no noise
    q_star = theory_rl.reference(mdp).q_values
    res = ex.q_learning(mdp, initial_q=q_star, n_iterations=2, seed=0)
    assert res.history["error"].max() < 1e-12
    steps = ex.q_learning_steps(3, gamma=0.9, schedule="polynomial", omega=0.5)
    np.testing.assert_allclose(steps, [1, 2**-0.5, 3**-0.5])


# ------------------------------------------------------------------------------------------
# batching, environments, bad input
# ------------------------------------------------------------------------------------------
def test_batch_entry_zero_equals_single_run():
    mdp = _lock()
    one = ac.optimistic_actor_critic(
        mdp, bonus_scale=0.1, episodes_per_iteration=8, n_iterations=3, seed=5
    )
    many = ac.optimistic_actor_critic(
        mdp, bonus_scale=0.1, episodes_per_iteration=8, n_iterations=3, n_seeds=3, seed=5
    )
    np.testing.assert_array_equal(many.history["regret"][0], one.history["regret"])
    assert many.history["regret"].shape == (3, 4)


def test_lock_values_by_backward_induction():
    lock = episodic_combination_lock(8, 4, seed=0)
    assert (lock.n_states, lock.n_actions, lock.horizon) == (25, 4, 8)
    ref = dp.backward_induction(lock)
    assert ref.history["value_rho"][0] == pytest.approx(1.0)
    P, r = _dense(lock)
    uniform = np.full((8, 25, 4), 0.25)
    # the random walk opens the lock with probability 4^-8, else earns the anti-shaped 0.05
    v = lock.initial_distribution @ _value(P, r, uniform)[0]
    assert v == pytest.approx(4.0**-8 + (1 - 4.0**-8) * 0.05)


def test_bad_input_names_the_field():
    lock = _lock()
    with pytest.raises(ValueError, match="horizon"):
        episodic_combination_lock(0)
    with pytest.raises(ValueError, match="horizon"):
        ex.lsvi_ucb(random_linear_mdp(3, 2, 2, seed=0), horizon=0)
    with pytest.raises(ValueError, match="bonus_scale"):
        ac.optimistic_actor_critic(lock, bonus_scale=-1.0)
    with pytest.raises(ValueError, match="bonus_scale"):
        ex.ucbvi(lock, bonus_scale=-0.1)
    bad = (np.array([[0, 99, 0, 0]]), np.zeros((1, 3), int), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="offline states"):
        ac.optimistic_actor_critic(lock, offline=bad)
    bad = (np.zeros((1, 4), int), np.array([[0, 5, 0]]), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="offline actions"):
        ac.optimistic_actor_critic(lock, offline=bad)
    with pytest.raises(ValueError, match="features"):
        ex.lsvi_ucb(lock, features=np.ones((lock.n_states, 2, 1, 1)))
    with pytest.raises(ValueError, match="features"):
        ac.optimistic_actor_critic(lock, features=np.ones((3, 2, 2)))
    with pytest.raises(ValueError, match="rewards"):
        ex.ucbvi(FiniteHorizonMDP(np.eye(2)[:, None, :], np.full((2, 1), 2.0), 2))
    with pytest.raises(ValueError, match="device"):
        ex.ucbvi(lock, device="gpu")
    with pytest.raises(ValueError, match="step_size"):
        ex.q_learning(garnet(3, 2, 1, seed=0), step_size="constant")
