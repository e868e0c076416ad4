"""Trajectory sampling throughput and one full N-HARPG run (stochastic policy gradient).

**Sampling** (environment steps per second, one core): FrozenLake-v1 (4x4, slippery) imported
exactly with :func:`theory_rl.mdps.from_gymnasium` (``gamma = 0.99``), the uniform softmax
policy (``theta = 0``), trajectories of ``H = 100`` steps from the start state, in one run:

* ``numba_returns`` -- :func:`theory_rl.algorithms.stochastic_pg.sample_returns`: 10^4
  trajectories per call, nothing stored but the return;
* ``numba_gpomdp`` -- :func:`~theory_rl.algorithms.stochastic_pg.gpomdp_gradient`: the same
  trajectories plus the GPOMDP accumulation of the ``d = S*A`` score per step;
* ``numpy_vectorised`` -- a plain NumPy sampler advancing all 10^4 trajectories together
  (inverse-CDF draws of actions and next states with ``argmax`` over cumulative rows);
* ``gymnasium_loop`` -- the environment's own ``step`` loop (``env.unwrapped``, no wrappers,
  reset on termination), 2*10^4 steps, actions drawn uniformly by ``rng.integers``.

Every side draws the same number of steps per call (the gymnasium loop fewer, it is slow);
``extra_info["steps_per_second"]`` is the ratio the report quotes.  The four samplers do not
draw the same random numbers; the unit tests check the numba samplers' means against exact
``J_H`` and ``grad J_H``.

**N-HARPG run**: 10^4 iterations x 256 seeds on the Gaussian bandit of the ``spg_exponents``
claim (instance 0, ``gamma_0 = 0.1``), ``record=("gap", "samples")``: seconds per run.
"""

from __future__ import annotations

import numpy as np
import pytest

from theory_rl.algorithms import stochastic_pg as spg
from theory_rl.mdps import from_gymnasium

H, N = 100, 10_000
GYM_STEPS = 20_000


@pytest.fixture(scope="module")
def frozen_lake():
    gym = pytest.importorskip("gymnasium")
    env = gym.make("FrozenLake-v1")
    return env, from_gymnasium(env, gamma=0.99)


def _numpy_sampler(mdp, rng):
    """All ``N`` trajectories advance together: one vectorised draw per step and kind."""
    S, A = mdp.n_states, mdp.n_actions
    P_cum = np.cumsum(mdp.to_dense().transitions, axis=-1)  # (S, A, S)
    pi_cum = np.cumsum(np.full((S, A), 1.0 / A), axis=-1)
    r = mdp.rewards
    s = np.full(N, int(np.argmax(mdp.initial_distribution)))
    total, disc = np.zeros(N), 1.0
    for _ in range(H):
        a = np.argmax(rng.random(N)[:, None] < pi_cum[s], axis=1)
        total += disc * r[s, a]
        disc *= mdp.gamma
        s = np.argmax(rng.random(N)[:, None] < P_cum[s, a], axis=1)
    return total


def _gym_loop(env, rng):
    raw = env.unwrapped
    raw.reset(seed=0)
    for _ in range(GYM_STEPS):
        _, _, terminated, truncated, _ = raw.step(int(rng.integers(4)))
        if terminated or truncated:
            raw.reset()


@pytest.mark.parametrize(
    "sampler", ["numba_returns", "numba_gpomdp", "numpy_vectorised", "gymnasium_loop"]
)
def test_sampling_throughput(benchmark, frozen_lake, sampler):
    env, mdp = frozen_lake
    theta = np.zeros(mdp.n_states * mdp.n_actions)
    rng = np.random.default_rng(0)
    if sampler == "numba_returns":
        fn, steps = (
            (lambda: spg.sample_returns(mdp, theta, horizon=H, n_trajectories=N, seed=rng)),
            N * H,
        )
    elif sampler == "numba_gpomdp":
        fn, steps = (
            (lambda: spg.gpomdp_gradient(mdp, theta, horizon=H, n_trajectories=N, seed=rng)),
            N * H,
        )
    elif sampler == "numpy_vectorised":
        fn, steps = (lambda: _numpy_sampler(mdp, rng)), N * H
    else:
        fn, steps = (lambda: _gym_loop(env, rng)), GYM_STEPS
    fn()  # warm-up (JIT cache, imports)
    benchmark.pedantic(fn, rounds=5, iterations=1)
    benchmark.extra_info.update(
        steps_per_call=steps,
        steps_per_second=steps / benchmark.stats.stats.median,
        n_states=mdp.n_states,
        horizon=H,
    )


def test_n_harpg_full_run(benchmark):
    contexts = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    bandit = spg.GaussianBandit(contexts, np.array([1.0, -0.5]), sigma=0.5)

    def run():
        return spg.n_harpg(
            bandit, step_size=0.1, n_iterations=10_000, n_runs=256, seed=0,
            record=("gap", "samples"),
        )  # fmt: skip

    run()
    res = benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info.update(
        n_iterations=10_000,
        n_runs=256,
        trajectories=int(res.history["samples"][0, -1]) * 256,
        final_mean_gap=float(res.history["gap"][:, -1].mean()),
    )
