"""Episodes per second of the batched numba actor-critic against a plain-Python loop over the
same algorithm, and of UCBVI against rlberry-scool's UCBVI when it is installed.

Instance: :func:`~theory_rl.mdps.combination_lock.episodic_combination_lock` with ``A = 4``,
``H = 8`` (25 states).  Settings (``extra_info``):

* ``numba``: :func:`theory_rl.algorithms.actor_critic.optimistic_actor_critic`, bonus scale
  0.1, 4 seeds x 4096 episodes in one call (the kernels are serial: episodes/s is per core);
  exact regret of every played policy included (one policy evaluation per episode).
* ``python``: :func:`python_actor_critic`, the same algorithm as a plain Python/NumPy loop (one
  Python iteration per step; NumPy for the critic and the exact evaluation), 128 episodes.  Its
  per-episode regrets equal the kernel's on the same seed (checked before timing).
* ``ucbvi``: :func:`theory_rl.algorithms.exploration.ucbvi` (Bernstein bonus, scale 0.1),
  4 x 1024 episodes; ``rlberry_ucbvi``: ``rlberry_scool.agents.UCBVIAgent`` (its
  "simplified_bernstein" bonus, scale 0.1, ``horizon = 8``, stationary model) ``fit`` on the
  same lock as an ``rlberry.envs.finite_mdp.FiniteMDP``, 1024 episodes -- skipped when
  ``rlberry_scool`` is not importable (it is not in the project's environment: see
  docs/performance.md).  The
  two UCBVIs differ in details (bonus form, stationary vs per-step model, rlberry computes no
  exact regret), so the ratio is indicative.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from theory_rl.algorithms import actor_critic, dp, exploration
from theory_rl.mdps.combination_lock import episodic_combination_lock

H, A = 8, 4


@pytest.fixture(scope="module")
def lock():
    return episodic_combination_lock(H, A, seed=0)


def python_actor_critic(
    lock, n_episodes: int, *, bonus_scale: float, eta: float, log_term: float, seed: int
) -> np.ndarray:
    """The optimistic actor-critic of :mod:`theory_rl.algorithms.actor_critic` as a plain loop
    (one seed, all episodes drawn as one block of the driver's random stream)."""
    S = lock.n_states
    P = np.asarray(lock.transitions)
    r = np.asarray(lock.rewards)
    rho = lock.initial_distribution
    v_star = rho @ dp.backward_induction(lock).values[0]
    N = np.zeros((H, S, A), np.int64)
    NS = np.zeros((H, S, A, S), np.int64)
    R = np.zeros((H, S, A))
    U = np.random.default_rng(seed).spawn(1)[0].random((n_episodes, 2 * H + 1))
    logits = np.zeros((H, S, A))
    q = np.zeros((H, S, A))
    pending = True
    regret = np.empty(n_episodes)
    for e in range(n_episodes):
        if pending:
            q = exploration.optimistic_q_values(
                N, NS, R, bonus="count", bonus_scale=bonus_scale, log_term=log_term
            )[0]
            logits[:] = 0.0
            pending = False
        logits += eta * q
        pi = np.exp(logits - logits.max(axis=-1, keepdims=True))
        pi /= pi.sum(axis=-1, keepdims=True)
        v = np.zeros(S)
        for h in range(H - 1, -1, -1):
            v = (pi[h] * (r + P @ v)).sum(axis=1)
        regret[e] = v_star - rho @ v
        u = U[e]
        s = int(np.flatnonzero(np.cumsum(rho) > u[0] * rho.sum())[0])
        for h in range(H):
            above = np.flatnonzero(np.cumsum(pi[h, s]) > u[1 + 2 * h])
            a = int(above[0]) if above.size else A - 1
            c = np.cumsum(P[s, a])
            s2 = int(np.flatnonzero(c > u[2 + 2 * h] * c[-1])[0])
            N[h, s, a] += 1
            NS[h, s, a, s2] += 1
            R[h, s, a] += r[s, a]
            n = N[h, s, a]
            if n & (n - 1) == 0:
                pending = True
            s = s2
    return regret


def test_python_loop_equals_kernel(lock):
    res = actor_critic.optimistic_actor_critic(
        lock,
        bonus_scale=0.1,
        episodes_per_iteration=64,
        n_iterations=1,
        seed=3,
        record=("episode_regret",),
    )
    mine = python_actor_critic(
        lock, 64, bonus_scale=0.1, eta=res.params["eta"], log_term=res.params["log_term"], seed=3
    )
    np.testing.assert_allclose(res.history["episode_regret"][1], mine, atol=1e-12)


@pytest.mark.parametrize("impl", ["numba", "python"])
def test_actor_critic_episodes_per_second(benchmark, lock, impl):
    if impl == "numba":
        B, E = 4, 4096

        def run():
            return actor_critic.optimistic_actor_critic(
                lock,
                bonus_scale=0.1,
                episodes_per_iteration=E,
                n_iterations=1,
                n_seeds=B,
                seed=0,
            )
    else:
        B, E = 1, 128
        ref = actor_critic.optimistic_actor_critic(
            lock, bonus_scale=0.1, episodes_per_iteration=E, n_iterations=1
        )

        def run():
            return python_actor_critic(
                lock,
                E,
                bonus_scale=0.1,
                eta=ref.params["eta"],
                log_term=ref.params["log_term"],
                seed=0,
            )

    run()  # warm-up (JIT from cache, backward induction)
    out = benchmark.pedantic(run, rounds=3, iterations=1)
    assert out is not None
    benchmark.extra_info.update(
        impl=impl, episodes=B * E, horizon=H, n_actions=A, n_states=lock.n_states
    )
    benchmark.extra_info["episodes_per_second"] = B * E / benchmark.stats.stats.median


def _rlberry_ucbvi(lock, n_episodes: int):
    from rlberry.envs.finite_mdp import FiniteMDP
    from rlberry_scool.agents import UCBVIAgent

    env = FiniteMDP(
        np.asarray(lock.rewards),
        np.asarray(lock.transitions),
        initial_state_distribution=np.asarray(lock.initial_distribution),
    )
    agent = UCBVIAgent(env, gamma=1.0, horizon=H, bonus_scale_factor=0.1)
    agent.fit(budget=n_episodes)
    return agent


@pytest.mark.parametrize("impl", ["theory_rl", "rlberry"])
def test_ucbvi_episodes_per_second(benchmark, lock, impl):
    if impl == "rlberry":
        pytest.importorskip("rlberry_scool", reason="rlberry-scool (UCBVI) is not installed")
        B, E = 1, 1024

        def run():
            return _rlberry_ucbvi(lock, E)
    else:
        B, E = 4, 1024

        def run():
            return exploration.ucbvi(
                lock,
                bonus="bernstein",
                bonus_scale=0.1,
                episodes_per_iteration=E,
                n_iterations=1,
                n_seeds=B,
                seed=0,
            )

    run()
    benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info.update(impl=impl, episodes=B * E)
    benchmark.extra_info["episodes_per_second"] = B * E / benchmark.stats.stats.median
    assert math.isfinite(benchmark.extra_info["episodes_per_second"])
