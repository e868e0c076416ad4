"""Cost per iteration of the iterative drivers on the shared loop, and the loop's overhead.

* ``test_cost_per_iteration``: every exact driver on a small MDP (S = 20, A = 4, K = 100, 1000
  and 10 000) and a medium one (S = 2000, A = 4, K = 10 and 100: one exact evaluation there is
  an O(S^3) dense solve of tens of milliseconds, so K = 10 000 would take hours; growth with K
  shows at the small size, where per-iteration work is smallest), and the Nash drivers on a
  game with X = 4 contexts and Y = 20 (small) or Y = 500 (medium) responses.  ``extra_info``:
  seconds per iteration.  The cost per iteration must not grow with K.
* ``test_loop_overhead``: the driver against a bare loop of the same pure step and exact
  evaluation (no history, no metrics, no callback), ``K = 100``, with ``record=()`` (the loop
  alone: ``overhead_ratio``, goal <= 1.2 at S = 2000) and with the driver's default metrics
  (``metrics_ratio``: the loop plus the per-iterate metrics it records).

``python benchmarks/report.py`` turns both into the "Driver overhead" table.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import theory_rl
from theory_rl.algorithms import mirror, nash, pg
from theory_rl.algorithms.exact import ExactEvaluator
from theory_rl.mdps.games import random_preference_game
from theory_rl.mdps.generators import garnet

SIZES = {"small": 20, "medium": 2000}
GAME_Y = {"small": 20, "medium": 500}
ITERATIONS = {"small": (100, 1000, 10_000), "medium": (10, 100)}
MDP_DRIVERS = {
    "policy_mirror_descent": {"eta": 1.0},
    "generalized_policy_mirror_descent": {"eta": 1.0, "tau": 0.1},
    "staq_policy_mirror_descent": {"eta": 1.0, "tau": 0.1, "memory": 5},
    "natural_policy_gradient": {"eta": 1.0},
    "softmax_policy_gradient": {"eta": 1.0},
    "projected_policy_gradient": {"eta": 0.1},
}
GAME_DRIVERS = {
    "nash_mirror_prox": {"beta": 0.1},
    "online_mirror_descent": {"beta": 0.1},
    "optimistic_mirror_descent": {"beta": 0.1},
    "nash_md": {"beta": 0.1, "eta": 0.5},
}
_PROBLEMS: dict = {}


def _problem(name: str, size: str):
    key = (name in GAME_DRIVERS, size)
    if key not in _PROBLEMS:
        if name in GAME_DRIVERS:
            _PROBLEMS[key] = random_preference_game(GAME_Y[size], n_contexts=4, beta=0.1, seed=0)
        else:
            _PROBLEMS[key] = garnet(SIZES[size], 4, 3, gamma=0.9, seed=0, sparse=False)
    return _PROBLEMS[key]


def _run(name: str, size: str, K: int, **extra):
    kwargs = {**MDP_DRIVERS, **GAME_DRIVERS}[name]
    problem = _problem(name, size)
    ref = _reference(name, problem)
    return getattr(theory_rl, name)(problem, n_iterations=K, reference=ref, **kwargs, **extra)


_REFS: dict = {}


def _reference(name: str, problem):
    """One reference per problem (outside the timing, as a sweep does)."""
    kwargs = {**MDP_DRIVERS, **GAME_DRIVERS}[name]
    key = (id(problem), kwargs.get("tau", 0.0), name in GAME_DRIVERS)
    if key not in _REFS:
        if name in GAME_DRIVERS:
            _REFS[key] = nash.regularized_equilibrium(problem, beta=kwargs["beta"])
        else:
            tau = kwargs.get("tau", 0.0)
            _REFS[key] = theory_rl.reference(problem, tau=tau)
    return _REFS[key]


CASES = [
    (name, size, K)
    for size in SIZES
    for name in (*MDP_DRIVERS, *GAME_DRIVERS)
    for K in ITERATIONS[size]
]


@pytest.mark.parametrize(("name", "size", "K"), CASES)
def test_cost_per_iteration(benchmark, name, size, K):
    _run(name, size, 2)  # warm-up: compilation, imports, the reference
    rounds = 3 if K * SIZES[size] <= 20 * 1000 else 1
    res = benchmark.pedantic(_run, args=(name, size, K), rounds=rounds, iterations=1)
    assert res.n_iterations == K
    benchmark.extra_info.update(
        driver=name, size=size, n_iterations=K,
        seconds_per_iteration=benchmark.stats.stats.median / K,
    )


def _bare_pmd(mdp, K):
    ev = ExactEvaluator(mdp)
    log_pi = np.full((1, mdp.n_states, mdp.n_actions), -np.log(mdp.n_actions))
    for _ in range(K):
        _, q = ev.evaluate(np.exp(log_pi))
        log_pi = mirror.kl_prox_log(log_pi, q, 1.0)
    return log_pi


def _bare_npg(mdp, K):
    ev = ExactEvaluator(mdp)
    log_pi = np.full((1, mdp.n_states, mdp.n_actions), -np.log(mdp.n_actions))
    for _ in range(K):
        v, q = ev.evaluate(np.exp(log_pi))
        log_pi = mirror.kl_prox_log(log_pi, q - v[..., None], 1.0 / (1.0 - mdp.gamma))
    return log_pi


def _bare_softmax_pg(mdp, K):
    theta = np.zeros((mdp.n_states, mdp.n_actions))
    for _ in range(K):
        theta = pg.softmax_pg_step(mdp, theta, eta=1.0)
    return theta


def _bare_nash_mp(game, K):
    log_pi = np.log(game.reference_policy)
    log_ref = log_pi
    P = game.preferences
    for _ in range(K):
        log_pi = nash.nash_mp_step(log_pi, P, log_ref, beta=0.1, eta=2.0).log_next
    return log_pi


BARE = {
    "policy_mirror_descent": _bare_pmd,
    "natural_policy_gradient": _bare_npg,
    "softmax_policy_gradient": _bare_softmax_pg,
    "nash_mirror_prox": _bare_nash_mp,
}


def _median_seconds(fn, *args, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("name", list(BARE))
def test_loop_overhead(benchmark, name, size):
    K = 100
    problem = _problem(name, size)
    _run(name, size, 2)
    BARE[name](problem, 2)
    rounds = 5 if size == "small" else 1
    bare = _median_seconds(BARE[name], problem, K, rounds=rounds)
    with_metrics = _median_seconds(_run, name, size, K, rounds=rounds)
    benchmark.pedantic(_run, args=(name, size, K), kwargs={"record": ()}, rounds=rounds,
                       iterations=1)
    driver = benchmark.stats.stats.median
    benchmark.extra_info.update(
        driver=name, size=size, n_iterations=K, bare_seconds=bare, driver_seconds=driver,
        overhead_ratio=driver / bare, metrics_seconds=with_metrics,
        metrics_ratio=with_metrics / bare,
    )
