"""Robust Bellman sweeps and robust value iteration against the nominal sweep and an LP per row.

Benchmarks, in one run so that their ratios are meaningful on a shared, noisy machine:

* ``test_robust_sweep``: one sweep ``v -> T v`` through the public operators on the CSR garnet
  ``S = 20000, A = 20, b = 5`` (gamma 0.9): the nominal ``dp.bellman_optimality_operator``
  (serial numba kernel) and :func:`theory_rl.algorithms.robust.robust_bellman_operator` with
  the L1, KL and chi-square balls and the three penalties.  ``extra_info["ratio_to_nominal"]``
  is the robust median over the nominal median of the same run (targets: L1 within 3x, KL and
  chi-square within 10x; reported, not asserted).
* ``test_rvi_against_lp_per_row``: robust VI with an L1 ball to ``tol = 1e-8`` on the CSR
  garnet ``S = 200, A = 10, b = 10`` against the LP-per-row approach (scipy HiGHS on each
  (s, a), on the row's support).  The LP approach is timed for one sweep (2000 LPs) and
  checked to give the same sweep (1e-9); its robust-VI time is that sweep time times the
  number of sweeps robust VI needs (the iterates are the same up to the LP tolerance), stated
  as an estimate.  ``extra_info["speedup"]``: target at least 1000x.
* ``test_scale_l1`` (marked ``slow`` in spirit; runs in a subprocess so that its peak memory is
  its own): robust VI with an L1 ball on the CSR garnet ``S = 10**6, A = 10, b = 5`` to
  ``tol = 1e-6``; ``extra_info`` holds the wall time and the subprocess's peak resident memory.

Run: ``NUMBA_CACHE_DIR=/tmp/numba_cache python -m pytest benchmarks/test_robust.py
--benchmark-only --benchmark-json=/tmp/robust.json`` (see ``docs/performance.md``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import _bench
import numpy as np
import pytest
from scipy.optimize import linprog

from theory_rl.algorithms import dp
from theory_rl.algorithms import robust as R
from theory_rl.mdps import garnet
from theory_rl.mdps.robust import Chi2Ball, Chi2Penalty, KLBall, KLPenalty, L1Ball, TVPenalty

SWEEP = _bench.Instance(20000, 20, 5)
SETS = {
    "nominal": None,
    "l1": L1Ball(0.3),
    "kl": KLBall(0.1),
    "chi2": Chi2Ball(0.2),
    "kl_penalty": KLPenalty(1.0),
    "tv_penalty": TVPenalty(0.5),
    "chi2_penalty": Chi2Penalty(1.0),
}
MEDIANS: dict[str, float] = {}
ROUNDS, WARMUP = 15, 2


def _median(benchmark) -> float | None:
    stats = getattr(benchmark, "stats", None)
    return None if stats is None else float(stats.stats.median)


@pytest.fixture(scope="module")
def sweep_problem():
    mdp = SWEEP.build(0.9)
    v = np.random.default_rng(0).random(mdp.n_states) / (1.0 - mdp.gamma)
    return mdp, v


@pytest.mark.parametrize("name", list(SETS))
def test_robust_sweep(benchmark, sweep_problem, name):
    mdp, v = sweep_problem
    unc = SETS[name]
    benchmark.group = f"robust sweep {SWEEP.name}"
    if unc is None:
        fn, args = (lambda m, x: dp.bellman_optimality_operator(m, x, parallel=False)), (mdp, v)
    else:
        fn, args = R.robust_bellman_operator, (mdp, unc, v)
        R._operator(mdp, unc)  # preparation (CSR arrays) is not part of a sweep
    benchmark.pedantic(fn, args=args, rounds=ROUNDS, warmup_rounds=WARMUP)
    median = _median(benchmark)
    benchmark.extra_info.update(kind="robust_sweep", instance=SWEEP.name, set=name)
    if median is not None:
        MEDIANS[name] = median
        if "nominal" in MEDIANS:
            benchmark.extra_info["ratio_to_nominal"] = median / MEDIANS["nominal"]


def _lp_sweep(mdp, kappa, v):
    """One robust sweep with scipy linprog (HiGHS) per (s, a), on the row's support."""
    S, A = mdp.n_states, mdp.n_actions
    P = mdp.transitions
    out = np.empty(S)
    for s in range(S):
        best = -np.inf
        for a in range(A):
            row = P[[s * A + a]]
            cols, pb = row.indices, row.data
            n = cols.size
            eye = np.eye(n)
            res = linprog(
                np.concatenate([v[cols], np.zeros(n)]),
                A_ub=np.vstack(
                    [
                        np.hstack([eye, -eye]),
                        np.hstack([-eye, -eye]),
                        np.r_[np.zeros(n), np.ones(n)],
                    ]
                ),
                b_ub=np.concatenate([pb, -pb, [kappa]]),
                A_eq=np.r_[np.ones(n), np.zeros(n)][None],
                b_eq=[1.0],
                bounds=[(0, None)] * (2 * n),
                method="highs",
            )
            best = max(best, mdp.rewards[s, a] + mdp.gamma * res.fun)
        out[s] = best
    return out


def test_rvi_against_lp_per_row(benchmark):
    mdp = garnet(200, 10, 10, gamma=0.9, seed=2024)
    ball = L1Ball(0.3)
    res = R.robust_value_iteration(mdp, ball, tol=1e-8)
    benchmark.group = "robust VI vs LP per row, S=200 A=10 b=10"
    benchmark.pedantic(
        R.robust_value_iteration, args=(mdp, ball), kwargs={"tol": 1e-8}, rounds=10, warmup_rounds=1
    )
    sweeps = res.n_iterations + 1
    v = np.asarray(res.values)
    t0 = time.perf_counter()
    lp = _lp_sweep(mdp, 0.3, v)
    lp_sweep_seconds = time.perf_counter() - t0
    ours = R.robust_bellman_operator(mdp, ball, v)
    assert np.abs(lp - ours).max() <= 1e-9 * max(1.0, np.abs(ours).max())
    median = _median(benchmark)
    benchmark.extra_info.update(
        kind="rvi_vs_lp",
        sweeps=sweeps,
        lp_sweep_seconds=lp_sweep_seconds,
        lp_rvi_seconds_estimate=lp_sweep_seconds * sweeps,
        max_sweep_difference=float(np.abs(lp - ours).max()),
    )
    if median is not None:
        benchmark.extra_info["speedup"] = lp_sweep_seconds * sweeps / median


SCALE_SCRIPT = textwrap.dedent(
    """
    import json, resource, time
    import numpy as np
    from theory_rl.mdps import garnet
    from theory_rl.mdps.robust import L1Ball
    from theory_rl.algorithms import robust as R
    t0 = time.perf_counter()
    mdp = garnet(10**6, 10, 5, gamma=0.9, seed=2024)
    t1 = time.perf_counter()
    res = R.robust_value_iteration(mdp, L1Ball(0.2), tol=1e-6)
    t2 = time.perf_counter()
    print(json.dumps(dict(build_seconds=t1 - t0, rvi_seconds=t2 - t1,
                          sweeps=res.n_iterations + 1, converged=res.converged,
                          peak_rss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)))
    """
)


def test_scale_l1(benchmark):
    benchmark.group = "robust VI scale, S=10^6 A=10 b=5"

    def run():
        out = subprocess.run(
            [sys.executable, "-c", SCALE_SCRIPT], capture_output=True, text=True, check=True
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    info = benchmark.pedantic(run, rounds=1, warmup_rounds=0)
    assert info["converged"]
    benchmark.extra_info.update(kind="rvi_scale", **info)
