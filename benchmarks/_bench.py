"""Shared helpers of the benchmark suites: instances, reference values, byte counts, warm-up.

Imported by ``benchmarks/conftest.py`` and the ``test_*.py`` files of this folder (pytest puts
this folder on ``sys.path``); not part of the ``theory_rl`` package.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from theory_rl.algorithms import dp
from theory_rl.mdps.generators import garnet
from theory_rl.mdps.tabular import TabularMDP

#: Accuracy every solver must reach (sup norm of the returned values minus V*).
TARGET_ERROR = 1e-8
#: Peers (and settings) that were not timed, with the reason; written to the JSON by conftest.
NOT_TIMED: list[dict[str, Any]] = []
#: Values shared between the tests of one run (the copy bandwidth).
RUN: dict[str, Any] = {}


@dataclasses.dataclass(frozen=True)
class Instance:
    """A seeded garnet; ``branching = n_states`` with ``dense`` gives full-support rows."""

    n_states: int
    n_actions: int
    branching: int
    dense: bool = False
    seed: int = 2024

    @property
    def name(self) -> str:
        if self.dense:
            return f"dense-S{self.n_states}-A{self.n_actions}"
        return f"csr-S{self.n_states}-A{self.n_actions}-b{self.branching}"

    def build(self, gamma: float) -> TabularMDP:
        return garnet(self.n_states, self.n_actions, self.branching, gamma=gamma,
                      sparse=not self.dense, seed=self.seed)


def timed(fn, *args, **kwargs) -> tuple[Any, float]:
    """``(fn(*args, **kwargs), seconds)``."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def bellman_residual(mdp: TabularMDP, v: np.ndarray) -> float:
    """``||T v - v||_inf`` computed with scipy/numpy only (independent of the numba kernels),
    in extended precision (``np.longdouble``) so that the residual of ``v`` itself, not the
    rounding of its computation, is measured: at gamma = 0.999 a float64 residual's rounding
    (about 1e-13 of ``|V|``) divided by ``1 - gamma`` would exceed the certificate's target."""
    S, A = mdp.n_states, mdp.n_actions
    ld = np.longdouble
    P = mdp.transition_matrix
    P = sp.csr_array(P, dtype=ld) if sp.issparse(P) else np.asarray(P, dtype=ld)
    q = mdp.rewards.ravel().astype(ld) + ld(mdp.gamma) * np.asarray(P @ v.astype(ld))
    return float(np.abs(q.reshape(S, A).max(axis=1) - v).max())


def _refined(mdp: TabularMDP, policy: np.ndarray, v: np.ndarray, steps: int = 2) -> np.ndarray:
    """Iterative refinement of ``V^pi``: ``v += (I - gamma P_pi)^{-1} d`` with the residual
    ``d = r_pi + gamma P_pi v - v`` computed in extended precision."""
    S = mdp.n_states
    rows = np.arange(S) * mdp.n_actions + policy
    P_pi = mdp.transition_matrix[rows]
    M = (sp.identity(S, format="csc") - mdp.gamma * sp.csc_array(P_pi)) if sp.issparse(P_pi) \
        else np.eye(S) - mdp.gamma * P_pi
    ld = np.longdouble
    P_ld = sp.csr_array(P_pi, dtype=ld) if sp.issparse(P_pi) else np.asarray(P_pi, dtype=ld)
    r_pi = mdp.rewards.ravel()[rows].astype(ld)
    for _ in range(steps):
        d = r_pi + ld(mdp.gamma) * np.asarray(P_ld @ v.astype(ld)) - v
        d = np.asarray(d, dtype=np.float64)
        if sp.issparse(M):
            v = v + spla.gmres(M, d, rtol=1e-14, atol=0.0, restart=50, maxiter=20)[0]
        else:
            v = v + np.linalg.solve(M, d)
    return v


def reference_values(mdp: TabularMDP) -> tuple[np.ndarray, dict[str, Any]]:
    """V* by our policy iteration, with its cross-checks.

    Policy iteration with direct (LU) evaluation up to S = 2000, restarted GMRES above.  Checks:
    (1) the Bellman residual computed by scipy gives the a-posteriori bound
    ``||v - V*|| <= ||T v - v|| / (1 - gamma)``, which must be below ``TARGET_ERROR / 10``
    (``v`` refined in extended precision first; the bound cannot go much lower in float64 at
    gamma = 0.999: rounding ``v`` to float64 leaves a residual of about 1e-13, i.e. a bound of
    1e-10 whatever the true error, which the agreements below show to be about 1e-12);
    (2) up to S = 2000, policy iteration with the other evaluation method (GMRES) agrees; (3)
    value iteration at ``tol = 1e-11`` agrees within ``1e-10``.
    """
    S = mdp.n_states
    method = "direct" if S <= dp.DIRECT_SOLVE_MAX_STATES else "iterative"
    res, seconds = timed(dp.policy_iteration, mdp, evaluation=method)
    if not res.converged:
        raise RuntimeError(f"reference policy iteration did not converge: {res.message}")
    v = _refined(mdp, np.asarray(res.policy).argmax(axis=1), np.array(res.values))
    residual = bellman_residual(mdp, v)
    bound = residual / (1.0 - mdp.gamma)
    info: dict[str, Any] = {
        "vstar_method": f"policy_iteration(evaluation={method!r})",
        "vstar_seconds": seconds,
        "vstar_pi_iterations": res.n_iterations,
        "vstar_bellman_residual": residual,
        "vstar_error_bound": bound,
    }
    if not bound < TARGET_ERROR / 10:
        raise RuntimeError(f"reference values certified only to {bound:.3g}")
    if S <= dp.DIRECT_SOLVE_MAX_STATES:
        other = dp.policy_iteration(mdp, evaluation="iterative")
        info["vstar_vs_gmres_pi"] = float(np.abs(other.values - v).max())
        if not info["vstar_vs_gmres_pi"] < 1e-10:
            raise RuntimeError(f"direct and GMRES PI disagree: {info['vstar_vs_gmres_pi']:.3g}")
    vi = dp.value_iteration(mdp, tol=1e-11)
    info["vstar_vs_vi_1e-11"] = float(np.abs(vi.values - v).max())
    if not info["vstar_vs_vi_1e-11"] < 1e-10:
        raise RuntimeError(f"PI and VI(tol=1e-11) disagree: {info['vstar_vs_vi_1e-11']:.3g}")
    return v, info


def csr_sweep_bytes(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                    n_rows: int, n_states: int) -> int:
    """Bytes one Bellman sweep must move over CSR ``(S*A, S)`` transitions.

    indptr + indices + data + rewards (8 per row) + v read once (8 S) + outputs (T v and the
    greedy action, 8 S each).  Gathers of ``v`` that miss the cache are not counted: this is the
    compulsory traffic, the least any implementation moves.
    """
    return int(indptr.nbytes + indices.nbytes + data.nbytes + 8 * n_rows + 8 * n_states
               + 16 * n_states)


def dense_sweep_bytes(n_states: int, n_actions: int) -> int:
    """Bytes of one dense sweep: P (8 S*A*S) + rewards + v + outputs."""
    return int(8 * n_states * n_actions * n_states + 8 * n_states * n_actions + 24 * n_states)


def not_timed(record: dict[str, Any], reason: str) -> None:
    """Remember a peer that is not timed (the JSON keeps no entry for a skipped benchmark)."""
    NOT_TIMED.append({**record, "reason": reason})


#: Bytes of the array ``copy_gb_per_s`` copies (the copy moves twice this).
COPY_BYTES = 512 * 2**20


def copy_gb_per_s() -> float:
    """The single-thread copy bandwidth of this run in GB/s (read + write bytes counted):
    ``np.copyto`` of a 512 MiB float64 array, median of 8; measured once per run and kept in
    ``RUN`` (``test_bellman_sweep.test_copy_bandwidth`` stores its own measurement there)."""
    if "copy_gb_per_s" not in RUN:
        src = np.ones(COPY_BYTES // 8)
        dst = np.empty_like(src)
        times = [timed(np.copyto, dst, src)[1] for _ in range(8)]
        RUN["copy_gb_per_s"] = 2 * src.nbytes / float(np.median(times)) / 1e9
    return RUN["copy_gb_per_s"]


def warm_up_kernels() -> None:
    """Compile or load every numba kernel and signature the benchmarks reach."""
    dense = garnet(8, 3, 8, gamma=0.9, sparse=False, seed=0)
    sparse = garnet(8, 3, 2, gamma=0.9, seed=0)
    for mdp in (dense, sparse):
        for parallel in (False, True, None):
            op = dp._operator(mdp, "cpu", parallel)
            v = np.zeros(mdp.n_states)
            op.sweep(v)
            op.sweep(v, np.zeros(mdp.n_states, dtype=np.int64))
            dp.bellman_optimality_operator(mdp, v, parallel=parallel)
            dp.greedy_policy(mdp, v, parallel=parallel)
            dp.value_iteration(mdp, parallel=parallel)
            dp.modified_policy_iteration(mdp, parallel=parallel)
            dp.policy_iteration(mdp, parallel=parallel)
