"""Soft-robust MDPs: the KL soft-robust sweep against a nominal sweep, and batched PG.

* **Sweep** (target: within 3x of nominal): one Bellman sweep on the CSR garnet S = 20000,
  A = 20, b = 5 (gamma = 0.9): the soft-robust KL operator
  (:func:`theory_rl.algorithms.rrmdp.soft_robust_bellman_operator`, numba kernel: a log-sum-exp
  per row, one ``exp`` per stored entry) against the nominal
  :func:`theory_rl.algorithms.dp.bellman_optimality_operator`, measured in the same run.  Both
  operators' preparation (CSR arrays) is cached before timing.  ``extra_info`` has the ratio's
  inputs and the effective bandwidth of each sweep (bytes of the CSR arrays + rewards + v).
  Correctness gate: the soft-robust sweep equals the entropic-risk formula on dense rows of a
  sample of 200 states (``< 1e-10``).
* **Value iteration** on the same garnet to ``tol = 1e-6``: soft-robust KL against nominal.
* **Batched PG**: exact projected PG on the paper's ring for the 10 (p, beta) pairs, 200
  iterations, one call with a batch of 10 against 10 separate calls (the same iterates:
  ``tests/test_rrmdp.py::test_batched_pg_equals_separate_runs``).
"""

from __future__ import annotations

import _bench
import numpy as np
import pytest

from theory_rl.algorithms import dp, rrmdp
from theory_rl.mdps.robust import KLPenalty
from theory_rl.mdps.soft_robust import EntropicRisk, zhang_ring

INSTANCE = _bench.Instance(20000, 20, 5)
PEN = KLPenalty(1.0)
PAIRS = [(p, b) for p in (0.01, 0.15) for b in (0.01, 0.1, 1.0, 2.0, 3.0)]
PG_ITERATIONS = 200


@pytest.fixture(scope="module")
def garnet_problem():
    mdp = INSTANCE.build(0.9)
    v = np.random.default_rng(0).uniform(0, 10, mdp.n_states)
    # warm both operators (JIT, cached CSR structures) and gate the soft-robust sweep
    nominal = dp.bellman_optimality_operator(mdp, v)
    soft = rrmdp.soft_robust_bellman_operator(mdp, PEN, v)
    assert np.all(soft <= nominal + 1e-12)
    rows = np.random.default_rng(1).choice(mdp.n_states, 200, replace=False)
    P = mdp.transition_matrix
    _S, A = mdp.n_states, mdp.n_actions
    idx = (rows[:, None] * A + np.arange(A)).ravel()
    dense = P[idx].toarray()
    sigma = EntropicRisk(1.0).evaluate(dense, v)
    q = mdp.rewards.ravel()[idx] + mdp.gamma * sigma
    assert np.abs(q.reshape(-1, A).max(axis=1) - soft[rows]).max() < 1e-10
    return mdp, v


@pytest.mark.parametrize("operator", ["nominal", "soft_robust_kl", "soft_robust_kl_oracles"])
def test_soft_robust_sweep(benchmark, garnet_problem, operator, monkeypatch):
    """``soft_robust_kl_oracles``: the same operator through the robust family's oracle sweep
    (``USE_KL_KERNEL = False``), for comparison."""
    mdp, v = garnet_problem
    if operator == "nominal":
        fn = lambda: dp.bellman_optimality_operator(mdp, v)  # noqa: E731
    else:
        if operator == "soft_robust_kl_oracles":
            monkeypatch.setattr(rrmdp, "USE_KL_KERNEL", False)
        fn = lambda: rrmdp.soft_robust_bellman_operator(mdp, PEN, v)  # noqa: E731
    P = mdp.transition_matrix
    nbytes = _bench.csr_sweep_bytes(P.indptr, P.indices, P.data, P.shape[0], mdp.n_states)
    benchmark.extra_info.update(instance=INSTANCE.name, operator=operator, bytes=nbytes)
    benchmark.pedantic(fn, rounds=15, iterations=1, warmup_rounds=2)
    benchmark.extra_info["gb_per_s"] = nbytes / benchmark.stats.stats.median / 1e9


@pytest.mark.parametrize("solver", ["nominal_vi", "soft_robust_kl_vi"])
def test_soft_robust_value_iteration(benchmark, garnet_problem, solver):
    """Value iteration to ``tol = 1e-6`` (span rule) on the same garnet, both solvers' outputs
    included (the soft-robust one also returns its worst kernel and robust q)."""
    mdp, _ = garnet_problem
    if solver == "nominal_vi":
        fn = lambda: dp.value_iteration(mdp, tol=1e-6)  # noqa: E731
    else:
        fn = lambda: rrmdp.soft_robust_value_iteration(mdp, PEN, tol=1e-6)  # noqa: E731
    benchmark.extra_info.update(instance=INSTANCE.name, solver=solver)
    res = benchmark.pedantic(fn, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info["sweeps"] = int(res.n_iterations)


def _batched():
    return rrmdp.soft_robust_policy_gradient(
        [zhang_ring(p) for p, _ in PAIRS],
        [KLPenalty(1 / b) for _, b in PAIRS],
        eta=0.1,
        n_iterations=PG_ITERATIONS,
        record=("gap",),
    )


def _one_by_one():
    return [
        rrmdp.soft_robust_policy_gradient(
            zhang_ring(p),
            KLPenalty(1 / b),
            eta=0.1,
            n_iterations=PG_ITERATIONS,
            record=("gap",),
        )
        for p, b in PAIRS
    ]


@pytest.mark.parametrize("mode", ["batched", "one_by_one"])
def test_soft_robust_pg_batch(benchmark, mode):
    fn = _batched if mode == "batched" else _one_by_one
    fn()  # warm-up (JIT, imports)
    benchmark.extra_info.update(batch=len(PAIRS), n_iterations=PG_ITERATIONS, mode=mode)
    out = benchmark.pedantic(fn, rounds=3, iterations=1)
    gaps = out.history["gap"][:, -1] if mode == "batched" else [r.history["gap"][-1] for r in out]
    assert np.all(np.isfinite(gaps))
