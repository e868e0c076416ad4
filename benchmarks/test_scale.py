"""Value iteration at scale: a sparse garnet with S = 10**6 states, A = 10, b = 10, gamma 0.9.

One round (the solve takes seconds).  ``extra_info``: garnet generation time, operator
preparation time (kernel arrays, excluded from the timed solve as in ``test_solvers.py``), the
median of three Bellman sweeps and its GB/s, iterations, the solve time, the a-posteriori
error bound from an independent scipy Bellman residual, and peak memory: ``ru_maxrss`` of the
process (``resource.getrusage``; includes earlier benchmarks of the same run) and ``VmHWM``
(the peak resident set of this test alone, after resetting it through
``/proc/self/clear_refs`` where Linux allows).
"""

from __future__ import annotations

import resource
from pathlib import Path

import _bench
import numpy as np

from theory_rl.algorithms import dp
from theory_rl.mdps.generators import garnet

N_STATES, N_ACTIONS, BRANCHING, GAMMA = 10**6, 10, 10, 0.9


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _vm_hwm_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def test_value_iteration_million_states(benchmark):
    reset = _reset_peak_rss()
    mdp, gen_seconds = _bench.timed(garnet, N_STATES, N_ACTIONS, BRANCHING, gamma=GAMMA,
                                    seed=2024)
    op, prep_seconds = _bench.timed(dp._operator, mdp, "cpu", None)
    v = np.zeros(mdp.n_states)
    sweep_times = [_bench.timed(dp.bellman_optimality_operator, mdp, v)[1] for _ in range(3)]
    sweep_seconds = float(np.median(sweep_times))
    indptr, indices, data = op._args
    moved = _bench.csr_sweep_bytes(indptr, indices, data, N_STATES * N_ACTIONS, N_STATES)

    benchmark.group = "scale"
    res = benchmark.pedantic(dp.value_iteration, args=(mdp,), kwargs={"tol": 1e-8}, rounds=1,
                             iterations=1, warmup_rounds=0)
    assert res.converged, res.message
    residual = _bench.bellman_residual(mdp, np.asarray(res.values))
    stats = getattr(benchmark, "stats", None)
    benchmark.extra_info.update(
        kind="scale", instance=f"csr-S{N_STATES}-A{N_ACTIONS}-b{BRANCHING}", gamma=GAMMA,
        nnz=mdp.nnz, parallel=op.parallel, generation_seconds=gen_seconds,
        operator_prep_seconds=prep_seconds, sweep_seconds=sweep_seconds, sweep_bytes=moved,
        sweep_gb_per_s=moved / sweep_seconds / 1e9, n_iterations=res.n_iterations,
        solve_seconds=None if stats is None else float(stats.stats.median),
        guaranteed_value_error=float(res.history["error_bound"][-1]) / 2,
        bellman_residual=residual, error_bound_from_residual=residual / (1 - GAMMA),
        ru_maxrss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        vm_hwm_mib=_vm_hwm_mib(), vm_hwm_is_this_test_only=reset,
    )
    assert residual / (1 - GAMMA) < 1e-7
