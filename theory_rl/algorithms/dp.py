r"""Exact dynamic programming: the ground truth every other solver is checked against.

Operators, for a policy ``pi`` ``(S, A)`` and values ``v`` ``(S,)``:

.. math::

    q(s, a) = r(s, a) + \gamma \sum_{s'} P(s' | s, a)\, v(s'), \qquad
    (T_\pi v)(s) = \sum_a \pi(a|s)\, q(s, a), \qquad (T v)(s) = \max_a q(s, a).

``V^pi`` solves :math:`(I - \gamma P_\pi) v = r_\pi`; ``d_rho^pi`` is the normalised discounted
occupancy :math:`(1-\gamma)\rho^\top (I - \gamma P_\pi)^{-1}`.

Guarantees implemented here (Puterman, *Markov Decision Processes*, 1994):

* ``T`` and ``T_pi`` are gamma-contractions in the sup norm (Thm 6.2.3), so value iteration
  satisfies :math:`\|v_k - V^*\|_\infty \le \gamma^k \|v_0 - V^*\|_\infty`.
* **Span stopping rule** (MacQueen 1966; Porteus 1971; Puterman §6.6.3).  For *any* ``v``, with
  :math:`\Delta = Tv - v` and ``pi_v`` greedy with respect to ``v``,

  .. math::

      Tv + \tfrac{\gamma}{1-\gamma}\min_s \Delta(s) \;\le\; V^{\pi_v} \;\le\; V^*
      \;\le\; Tv + \tfrac{\gamma}{1-\gamma}\max_s \Delta(s).

  (Upper: ``u = v + max(Delta)/(1-gamma)`` has ``Tu <= u``, so ``V* <= Tu``.  Lower:
  :math:`V^{\pi_v} - v = (I-\gamma P_{\pi_v})^{-1}\Delta \ge \Delta + \gamma\min\Delta/(1-\gamma)`.)
  Value iteration and modified policy iteration stop at the first iteration where
  :math:`\gamma\,\mathrm{sp}(\Delta)/(1-\gamma) \le` ``tol``; then the returned policy ``pi_v``
  satisfies :math:`\|V^* - V^{\pi_v}\|_\infty \le` ``tol`` and the returned values (the midpoint
  of the bracket) satisfy :math:`\|v - V^*\|_\infty \le` ``tol / 2``.  On mixing problems the span
  of ``Delta`` shrinks much faster than its sup norm, so this rule needs far fewer sweeps than
  the classical :math:`\|\Delta\|_\infty < \epsilon(1-\gamma)/(2\gamma)` (Puterman Thm 6.3.1).
* Policy iteration improves monotonically, :math:`V^{\pi_{k+1}} \ge V^{\pi_k}` statewise, and
  terminates after finitely many iterations (at most :math:`|A|^{|S|}`) with an optimal policy
  (Thm 6.4.2).  Here it keeps the current action unless another is better by more than a
  rounding threshold, so it cannot cycle on floating-point ties.
* Modified policy iteration (Thm 6.5.5) with ``m`` partial-evaluation sweeps converges from
  :math:`v_0 = \min r / (1-\gamma)` monotonically; ``m = 0`` is value iteration.
* The LP :math:`\min_v \mathbf 1^\top v` s.t. :math:`v(s) \ge r(s,a) + \gamma P(s,a)^\top v`
  has the unique solution ``V*`` (Puterman §6.9).  A solver returns it only up to its
  feasibility tolerances, so the result is certified a posteriori: any ``v`` satisfies
  :math:`\|v - V^*\|_\infty \le \|Tv - v\|_\infty/(1-\gamma)`.

**Tolerances.**  The *value scale* is :math:`\max|r|/(1-\gamma)`, a bound on every
:math:`|V^\pi(s)|`.  Value iteration, modified policy iteration and linear programming take
``tol`` (absolute) and ``rtol`` (relative to the value scale) and aim at
:math:`\epsilon = \min(\mathtt{tol}, \mathtt{rtol}\cdot\text{scale})` over the ones given.
**The default is relative**: with neither given, ``rtol = DEFAULT_RTOL`` (``1e-9``; ``1e-7``
for linear programming, ``LP_DEFAULT_RTOL``), so problems whose rewards are tiny or huge get
the same relative accuracy.  The guarantee on success (``converged=True``) is: the policy is
within :math:`\epsilon` of optimal and the values within :math:`\epsilon/2` of ``V*`` -- in
exact arithmetic.  Computed in float64 each statement carries an additional round-off term
:math:`\delta = 4(S+2)\,\varepsilon_{\mathrm{mach}}\max|r|/(1-\gamma)^2`
(:func:`theory_rl.bounds.mdp_constants.value_error_floor`, a worst-case bound), which the
result message states; when :math:`\epsilon/2 < \delta` the accuracy asked for cannot be
certified and the solver emits :class:`~theory_rl.bounds.mdp_constants.RoundoffWarning`.

Backends: on the CPU the sweeps run in numba kernels (:mod:`theory_rl.kernels.bellman`), dense
or CSR, serial or parallel; with ``device="gpu"`` the same algorithms run as generic CuPy array
code (cuBLAS / cuSPARSE products).  Arrays are returned as NumPy.

References:
    M. L. Puterman. Markov Decision Processes. Wiley, 1994.
    J. MacQueen. A modified dynamic programming method for Markovian decision problems. 1966.
    E. Porteus. Some bounds for discounted sequential decision processes. Mgmt. Sci., 1971.
"""

from __future__ import annotations

import os
import time
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from theory_rl._checks import as_int, as_positive, as_real
from theory_rl.backend import array_namespace, resolve_device, to_device, to_numpy
from theory_rl.bounds.mdp_constants import RoundoffWarning, value_error_floor, value_range
from theory_rl.kernels import bellman as _kb
from theory_rl.kernels import gauss_seidel as _kgs
from theory_rl.mdps.tabular import (
    FiniteHorizonMDP,
    TabularMDP,
    _as_float_array,
    _validated_rho,
    validate_policy,
)
from theory_rl.result import SolveResult

__all__ = [
    "RoundoffWarning",
    "accelerated_policy_evaluation",
    "anchored_value_iteration",
    "anchoring_schedule",
    "auto_method",
    "backward_induction",
    "bellman_optimality_operator",
    "gauss_seidel_value_iteration",
    "greedy_policy",
    "linear_programming",
    "modified_policy_iteration",
    "occupancy_measure",
    "policy_evaluation",
    "policy_iteration",
    "q_values",
    "safeguarded_accelerated_value_iteration",
    "solve",
    "value_iteration",
]

#: Largest S for which evaluation uses a dense direct solve under ``method="auto"`` (above it,
#: GMRES unless ``P_pi`` is sparse with few entries per row: then sparse LU at any size).
DIRECT_SOLVE_MAX_STATES = 2000
#: Below ``DIRECT_SOLVE_MAX_STATES``, a sparse ``P_pi`` with at most this many stored entries
#: per row on average is solved by sparse LU, denser ones by dense LU.  Measured on 2 cores
#: (S = 2000, gamma 0.99, one solve): 1 or 2 entries per row (garnets with b = 1, 2; the
#: forest problem) 0.3-17 ms sparse against 70-77 ms dense; 3 per row breaks even (74 vs
#: 72 ms); 10 per row 467 vs 77 ms (fill-in).  Policy iteration on the S = 2000 forest went
#: from 1.24 s to a few milliseconds.
SPARSE_LU_MAX_ROW_NNZ = 2.5
#: Transition entries from which ``parallel=None`` picks the parallel kernel.
PARALLEL_MIN_NNZ = 1 << 20
#: Restarted-GMRES rounds (each ``GMRES_CYCLES`` cycles of ``GMRES_RESTART`` Arnoldi steps)
#: before iterative evaluation gives up.
GMRES_ROUNDS = 10
GMRES_CYCLES, GMRES_RESTART = 4, 50
#: When False, CPU sweeps use the generic NumPy code instead of numba (tests of that path).
USE_KERNELS = True
#: ``solve(method="auto")`` on CSR problems (one-call kernel): partial evaluation after a
#: greedy step whose ``T v - v`` has span ``sp`` also stops once an increment's span is
#: ``<= fraction * sp``.  Measured in passes over the transitions (a greedy pass = 1, a sweep
#: of ``P_pi`` = 1/A) on the benchmark garnets (gamma 0.9 / 0.99 / 0.999): 1e-3 cost 7.9 / 9.4
#: / 9.8 (S = 2000) and 8.4 / 11.6 / 11.7 (S = 20000) against 9.4 / 10.0 / 11.2 and 9.0 / 12.8
#: / 12.4 with 0; on the dense S = 200 garnet any fraction > 0 added a greedy pass (2.7-2.9 ->
#: 3.6-4.7), so dense problems use 0.
AUTO_INNER_FRACTION = 1e-3
#: ``solve(method="auto")``: the most partial-evaluation sweeps per greedy step.
AUTO_MAX_SWEEPS = 20
#: Default accuracy of value iteration and modified policy iteration, relative to the value
#: scale ``max|r| / (1 - gamma)`` (module docstring, "Tolerances").
DEFAULT_RTOL = 1e-9
#: Default accuracy promised by :func:`linear_programming` (HiGHS' and Clarabel's feasibility
#: tolerances are relative, about 1e-7), relative to the value scale.
LP_DEFAULT_RTOL = 1e-7

Callback = Callable[[SolveResult], None]


# --------------------------------------------------------------------------------------------
# Bellman sweeps of one MDP on one device
# --------------------------------------------------------------------------------------------
class _Operator:
    """Bellman sweeps ``v -> (T v, greedy)`` and ``v -> T_a v`` of one MDP on one device."""

    def __init__(self, mdp: TabularMDP, device: str, parallel: bool | None, kernels: bool):
        self.device = device
        self.xp = array_namespace(device)
        self.n_states, self.n_actions, self.gamma = mdp.n_states, mdp.n_actions, mdp.gamma
        self.kernels = kernels and device == "cpu"
        self.P2 = to_device(mdp.transition_matrix, device)  # (S*A, S)
        self.r = self.xp.asarray(mdp.rewards.ravel())  # (S*A,), -inf where infeasible
        # rewards with 0 at infeasible pairs: stochastic policies weight them by 0, and
        # 0 * -inf would be NaN
        self.r_policy = (
            self.xp.asarray(np.where(mdp.action_mask, mdp.rewards, 0.0).ravel())
            if mdp.has_infeasible_actions
            else self.r
        )
        self.action_mask = mdp.action_mask
        self._max_reward = mdp.rewards
        if self.kernels:
            threads = numba.get_num_threads() > 1
            # parallel=None: each kernel goes parallel when its own input is large enough (the
            # partial-evaluation sweeps work on P_pi, about nnz / A entries)
            self._parallel_policy = (
                bool(parallel)
                if parallel is not None
                else threads and mdp.nnz // mdp.n_actions >= PARALLEL_MIN_NNZ
            )
            if parallel is None:
                parallel = threads and mdp.nnz >= PARALLEL_MIN_NNZ
            if mdp.is_sparse:
                P = mdp.transitions
                self._args = (
                    P.indptr.astype(np.uint64),
                    P.indices.astype(np.uint32),
                    np.ascontiguousarray(P.data, dtype=np.float64),
                )
                self._kernel = _kb._csr_sweep_parallel if parallel else _kb._csr_sweep_serial
            else:
                self._args = (np.ascontiguousarray(self.P2, dtype=np.float64),)
                self._kernel = _kb._dense_sweep_parallel if parallel else _kb._dense_sweep_serial
            self._all = np.full(self.n_states, -1, dtype=np.int64)
            self._policy_nnz: int | None = None
        self.sparse = mdp.is_sparse
        self.parallel = bool(parallel) if self.kernels else None

    def policy_sweeps(
        self, v: Any, actions: Any, n_sweeps: int, span_tol: float = 0.0
    ) -> tuple[Any, int]:
        """``(T_a^j v, j)`` for deterministic ``actions`` ``(S,)``: up to ``n_sweeps`` sweeps,
        stopping after the first whose increment ``T_a^j v - T_a^{j-1} v`` has span
        ``<= span_tol``; one kernel call for all of them."""
        if n_sweeps == 0:
            return v, 0
        if not self.kernels:
            xp = self.xp
            P_pi, r_pi = self.policy_system(actions)  # (S, S), (S,): built once for all sweeps
            for j in range(1, n_sweeps + 1):
                tv = r_pi + self.gamma * xp.asarray(P_pi @ v)
                delta = tv - v
                v = tv
                if float(xp.max(delta) - xp.min(delta)) <= span_tol:
                    return v, j
            return v, n_sweeps
        v = np.array(v)  # the caller's array is never written
        tmp = np.empty_like(v)
        if self.sparse:
            indptr, indices, data = self._args
            if self._policy_nnz is None:  # a bound on nnz(P_pi): S * the longest row
                width = int(np.diff(indptr).max()) if indptr.size > 1 else 0
                self._policy_nnz = min(self.n_states * width, data.size)
            # fresh buffers per call: the operator is shared by threads solving the same MDP
            p_indptr = np.empty(self.n_states + 1, np.uint64)
            p_indices = np.empty(self._policy_nnz, np.uint32)
            p_data = np.empty(self._policy_nnz)
            r_pi = np.empty(self.n_states)
            # a gather of about nnz / A entries: parallel only when that is large
            rows = (
                _kb._csr_policy_rows_parallel
                if self._parallel_policy
                else _kb._csr_policy_rows_serial
            )
            rows(indptr, indices, data, self.r, actions, p_indptr, p_indices, p_data, r_pi)
            sweeps = (
                _kb._csr_policy_sweeps_parallel
                if self._parallel_policy
                else _kb._csr_policy_sweeps_serial
            )
            done = sweeps(p_indptr, p_indices, p_data, r_pi, self.gamma, n_sweeps, span_tol, v, tmp)
        else:
            sweeps = (
                _kb._dense_policy_sweeps_parallel
                if self._parallel_policy
                else _kb._dense_policy_sweeps_serial
            )
            done = sweeps(self._args[0], self.r, self.gamma, actions, n_sweeps, span_tol, v, tmp)
        return v, int(done)

    def q(self, v: Any) -> Any:
        """``(S, A)`` action values ``r + gamma P v``; ``(B, S, A)`` for ``v`` ``(B, S)``."""
        xp = self.xp
        if self.kernels and self.sparse and v.ndim == 1:
            out = np.empty(self.n_states * self.n_actions)
            q_kernel = _kb._csr_q_parallel if self.parallel else _kb._csr_q_serial
            q_kernel(*self._args, self.r, self.gamma, v, out)
            return out.reshape(self.n_states, self.n_actions)
        pv = (self.P2 @ v.T).T  # (S*A,) or (B, S*A)
        return (self.r + self.gamma * xp.asarray(pv)).reshape(
            v.shape[:-1] + (self.n_states, self.n_actions)
        )

    @property
    def max_reward(self) -> Any:
        """``(S,)`` ``max_a r(s, a)`` over feasible actions (computed once; do not write)."""
        if self._max_reward.ndim == 2:
            self._max_reward = self.xp.asarray(np.array(self._max_reward.max(axis=1)))
        return self._max_reward

    @property
    def fused_q(self) -> bool:
        """True when :meth:`q_sweep` forms ``q`` in the same pass as ``T v`` (CPU, serial)."""
        return self.kernels and not self.parallel

    def q_sweep(self, v: Any) -> tuple[Any, Any, Any]:
        """``(T v, greedy actions, q (S, A))`` from one pass (:attr:`fused_q`), else from
        :meth:`sweep` with ``q = None``."""
        if not self.fused_q:
            return (*self.sweep(v), None)
        if self.sparse:
            q = self.q(v)
            return q.max(axis=1), q.argmax(axis=1), q
        out_q = np.empty(self.n_states * self.n_actions)
        out_v = np.empty(self.n_states)
        out_a = np.empty(self.n_states, dtype=np.int64)
        _kb._dense_q_sweep_serial(self._args[0], self.r, self.gamma, v, out_q, out_v, out_a)
        return out_v, out_a, out_q.reshape(self.n_states, self.n_actions)

    def sweep(self, v: Any, actions: Any = None) -> tuple[Any, Any]:
        """``(T v, greedy actions)``, or ``(T_a v, a)`` for deterministic ``actions`` ``(S,)``."""
        if self.kernels:
            out_v = np.empty(self.n_states)
            out_a = np.empty(self.n_states, dtype=np.int64)
            acts = self._all if actions is None else actions
            self._kernel(*self._args, self.r, self.gamma, v, acts, out_v, out_a)
            return out_v, out_a
        q = self.q(v)
        if actions is None:
            actions = q.argmax(axis=1)
        return self.xp.take_along_axis(q, actions[:, None], axis=1)[:, 0], actions

    def policy_system(self, policy: Any) -> tuple[Any, Any]:
        """``(P_pi, r_pi)`` on the device for an ``(S,)`` int or ``(S, A)`` stochastic policy."""
        xp, S, A = self.xp, self.n_states, self.n_actions
        if policy.ndim == 1:
            rows = xp.arange(S) * A + xp.asarray(policy)
            return self.P2[rows], self.r[rows]
        pi = xp.asarray(policy)
        if _is_sparse(self.P2):
            sparse = _sparse_module(xp)
            W = sparse.csr_matrix(
                (pi.ravel(), xp.arange(S * A), xp.arange(0, S * A + 1, A)), shape=(S, S * A)
            )
            return (W @ self.P2).tocsr(), (pi * self.r_policy.reshape(S, A)).sum(axis=1)
        P3 = self.P2.reshape(S, A, S)
        return xp.einsum("sa,sat->st", pi, P3), (pi * self.r_policy.reshape(S, A)).sum(axis=1)


def _is_sparse(x: Any) -> bool:
    return sp.issparse(x) or type(x).__module__.startswith("cupyx")


def _sparse_module(xp: Any) -> Any:
    if xp is np:
        return sp
    import cupyx.scipy.sparse

    return cupyx.scipy.sparse


_OPERATORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _operator(mdp: TabularMDP, device: str | None, parallel: bool | None = None) -> _Operator:
    """The (cached) operator of ``mdp`` on ``device``; preparing kernel arrays costs O(nnz)."""
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    device = resolve_device(device)
    key = (device, parallel, USE_KERNELS)
    cache = _OPERATORS.setdefault(mdp, {})
    if key not in cache:
        cache[key] = _Operator(mdp, device, parallel, USE_KERNELS)
    return cache[key]


def _policy_array(policy: Any, n_actions: int) -> np.ndarray:
    """NumPy ``(S, A)`` policy from device ``(S,)`` actions (one-hot) or an ``(S, A)`` policy."""
    policy = to_numpy(policy)
    if policy.ndim == 2:
        return policy
    out = np.zeros((policy.shape[0], n_actions))
    out[np.arange(policy.shape[0]), policy] = 1.0
    return out


def _values_arg(values: Any, n_states: int, xp: Any, name: str = "values") -> Any:
    v = _as_float_array(name, to_numpy(values))
    if v.ndim not in (1, 2) or v.shape[-1] != n_states:
        raise ValueError(f"{name} must have shape (S,) = ({n_states},) or (B, S); got {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} must be finite")
    return xp.asarray(np.array(v, order="C"))  # a fresh writable copy: one kernel signature


# --------------------------------------------------------------------------------------------
# Operators and evaluation
# --------------------------------------------------------------------------------------------
def q_values(
    mdp: TabularMDP, values: Any, *, device: str | None = None, parallel: bool | None = None
) -> np.ndarray:
    r"""Action values :math:`q = r + \gamma P v`.

    Args:
        mdp: the MDP.
        values: ``(S,)`` or a batch ``(B, S)``.
        device: ``"cpu"``, ``"gpu"`` or None (infer from ``values``).
        parallel: CPU with CSR transitions only: the parallel numba kernel; None picks it for
            large problems when numba has several threads (dense products use BLAS threads).

    Returns:
        ``(S, A)`` (or ``(B, S, A)``) NumPy array, ``-inf`` at infeasible actions.  To reduce
        it over actions, call
        :func:`bellman_optimality_operator` or :func:`greedy_policy` instead: they never form
        the ``(S, A)`` array.
    """
    op = _operator(mdp, resolve_device(device, values), parallel)
    return to_numpy(op.q(_values_arg(values, mdp.n_states, op.xp)))


def _fused_sweep(
    mdp: TabularMDP, values: Any, device: str | None, parallel: bool | None
) -> tuple[Any, Any] | Any:
    """``(T v, greedy actions)`` for ``(S,)`` values and CSR transitions in one fused pass of
    the numba sweep kernel (no ``(S*A,)`` intermediate); otherwise the ``(S, A)`` / ``(B, S, A)``
    q array, reduced by the caller.  Dense transitions keep the BLAS product ``P @ v`` followed
    by the reduction: measured 1.6-1.7x faster than the dense numba sweep (garnet S = 2000,
    A = 10, two threads), whereas on CSR the fused sweep is 1.4-1.6x faster than the q array
    (S = 200000, A = 10, b = 10)."""
    op = _operator(mdp, resolve_device(device, values), parallel)
    v = _values_arg(values, mdp.n_states, op.xp)
    if op.kernels and op.sparse and v.ndim == 1:
        return op.sweep(v)
    return op.q(v)


def bellman_optimality_operator(
    mdp: TabularMDP, values: Any, *, device: str | None = None, parallel: bool | None = None
) -> np.ndarray:
    r"""``(T v)(s) = max_a q(s, a)``; ``values`` ``(S,)`` or ``(B, S)``, same shape returned.

    On the CPU with CSR transitions an ``(S,)`` input goes through the fused numba sweep of the
    solvers (no ``(S, A)`` array is formed); dense transitions use the BLAS product and a
    reduction, which is faster there.  ``device`` and ``parallel`` as in :func:`q_values`.
    """
    out = _fused_sweep(mdp, values, device, parallel)
    return to_numpy(out[0] if isinstance(out, tuple) else out.max(axis=-1))


def greedy_policy(
    mdp: TabularMDP, values: Any, *, device: str | None = None, parallel: bool | None = None
) -> np.ndarray:
    """Deterministic ``(S, A)`` one-hot policy greedy w.r.t. ``values``.

    Ties go to the lowest action index among the feasible actions (infeasible ones have
    ``q = -inf`` and are never chosen); every solver of this module breaks ties this way.

    ``values`` ``(S,)`` (or ``(B, S)``, giving ``(B, S, A)``); computed like
    :func:`bellman_optimality_operator`.
    """
    out = _fused_sweep(mdp, values, device, parallel)
    actions = to_numpy(out[1] if isinstance(out, tuple) else out.argmax(axis=-1))
    policy = np.zeros(actions.shape + (mdp.n_actions,))
    np.put_along_axis(policy, actions[..., None], 1.0, axis=-1)
    return policy


def _solve(
    op: _Operator,
    P_pi: Any,
    b: Any,
    *,
    method: str,
    tol: float,
    x0: Any = None,
    transpose: bool = False,
) -> Any:
    r"""Solve :math:`(I - \gamma P_\pi) x = b` (or its transpose) for ``x`` ``(S,)``.

    ``direct``: dense LU, or sparse LU for sparse systems that are large or have few entries
    per row (:data:`SPARSE_LU_MAX_ROW_NNZ`).  ``iterative``: restarted GMRES with
    residual :math:`\|b - (I-\gamma P_\pi)x\|_2 \le tol(1-\gamma)`, which bounds the sup-norm error
    by ``tol`` because :math:`\|(I-\gamma P_\pi)^{-1}\|_\infty = 1/(1-\gamma)`.
    """
    xp, S, gamma = op.xp, op.n_states, op.gamma
    sparse = _is_sparse(P_pi)
    kind = _evaluation_kind(P_pi, S, method)
    if kind != "gmres":
        if kind == "dense_lu" and sparse:
            P_pi, sparse = P_pi.toarray(), False
        if not sparse:
            M = xp.eye(S) - gamma * P_pi
            return xp.linalg.solve(M.T if transpose else M, b)
        M = _sparse_module(xp).identity(S, format="csr") - gamma * P_pi
        M = (M.T if transpose else M).tocsc() if xp is np else (M.T if transpose else M).tocsr()
        solver = spla.spsolve if xp is np else _cupy_sparse_linalg().spsolve
        return solver(M, b)
    return _gmres(op, P_pi, b, tol=tol, x0=x0, transpose=transpose, rounds=GMRES_ROUNDS)


def _gmres(
    op: _Operator, P_pi: Any, b: Any, *, tol: float, x0: Any, transpose: bool, rounds: int
) -> Any:
    """Restarted GMRES for :func:`_solve`; RuntimeError after ``rounds`` rounds."""
    xp, S, gamma = op.xp, op.n_states, op.gamma
    if _is_sparse(P_pi):
        M = _sparse_module(xp).identity(S, format="csr") - gamma * P_pi
    else:
        M = xp.eye(S) - gamma * P_pi
    if transpose:
        M = M.T
    # GMRES stops on the 2-norm; the guarantee needs the sup norm, which is checked directly.
    # Each round restarts from the current iterate; a few rounds absorb rounding stagnation.
    atol = tol * (1.0 - gamma)
    gmres = spla.gmres if xp is np else _cupy_sparse_linalg().gmres
    # SciPy's maxiter counts restart cycles, CuPy's (>= 14) counts Arnoldi steps
    maxiter = GMRES_CYCLES if xp is np else GMRES_CYCLES * GMRES_RESTART
    x = b.copy() if x0 is None else x0
    for _ in range(rounds):
        x, _ = gmres(M, b, x0=x, rtol=0.0, atol=atol, restart=GMRES_RESTART, maxiter=maxiter)
        residual = float(xp.abs(b - M @ x).max())
        if residual <= atol:
            return x
    raise RuntimeError(
        f"GMRES reached a residual of {residual:.3g} > {atol:.3g} after {rounds} rounds; "
        "ask for a larger tol or use method='direct'"
    )


def _evaluation_kind(P_pi: Any, n_states: int, method: str) -> str:
    """How ``(I - gamma P_pi) x = b`` is solved: ``"dense_lu"``, ``"sparse_lu"`` or ``"gmres"``.

    ``"direct"``: a sparse ``P_pi`` with at most ``SPARSE_LU_MAX_ROW_NNZ`` entries per row, or
    with more than ``DIRECT_SOLVE_MAX_STATES`` states, by sparse LU; otherwise dense LU.
    ``"auto"``: sparse LU for a sparse ``P_pi`` with at most ``SPARSE_LU_MAX_ROW_NNZ`` entries
    per row, at any size; otherwise dense LU up to ``DIRECT_SOLVE_MAX_STATES`` states and GMRES
    above.  ``"iterative"``: GMRES.

    Measured on 2 cores (gamma 0.99, one evaluation, ``docs/performance.md``): sparse LU costs
    what its fill-in costs, GMRES what the mixing of ``P_pi`` costs, and neither is known
    beforehand.  The forest problem (2 entries per row, slowly mixing) took 0.4 ms / 13 ms /
    0.17 s by sparse LU at S = 10^3 / 10^4 / 10^5 against 0.1 s / 0.53 s / 37 s by GMRES; a
    random garnet with 2 entries per row (fast mixing, heavy fill-in) took 11.5 ms / 3.2 s by
    sparse LU at S = 10^3 / 10^4 against 64 / 301 ms by GMRES (the one case this rule loses;
    one GMRES round before falling back to LU was tried and lost on both); dense LU is
    0.1-0.5 s at S = 10^3 on this machine.  :func:`solve` avoids the choice: its modified
    policy iteration solved all three in 30-270 ms.
    """
    if method not in ("auto", "direct", "iterative"):
        raise ValueError(f"method must be 'auto', 'direct' or 'iterative', got {method!r}")
    if method == "iterative":
        return "gmres"
    sparse = _is_sparse(P_pi)
    few = sparse and P_pi.nnz <= SPARSE_LU_MAX_ROW_NNZ * n_states
    if method == "direct":
        return "sparse_lu" if sparse and (few or n_states > DIRECT_SOLVE_MAX_STATES) else "dense_lu"
    if few:
        return "sparse_lu"
    return "dense_lu" if n_states <= DIRECT_SOLVE_MAX_STATES else "gmres"


def _cupy_sparse_linalg() -> Any:
    import cupyx.scipy.sparse.linalg

    return cupyx.scipy.sparse.linalg


def _value_scale(mdp: TabularMDP) -> float:
    """``max|r| / (1 - gamma)``, a bound on every ``|V^pi(s)|``."""
    return max(abs(x) for x in value_range(mdp))


_SCALES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _scale_and_floor(mdp: TabularMDP) -> tuple[float, float]:
    """``(_value_scale(mdp), value_error_floor(mdp))``, computed once per (frozen) MDP."""
    out = _SCALES.get(mdp)
    if out is None:
        out = _SCALES[mdp] = (_value_scale(mdp), value_error_floor(mdp))
    return out


def _evaluation_tol(mdp: TabularMDP) -> float:
    """Default accuracy of iterative evaluation: 1e-12 of the value scale ``max|r|/(1-gamma)``
    (the smallest positive float when all rewards are zero: then ``V^pi = 0`` exactly)."""
    return 1e-12 * max(_value_scale(mdp), float(np.finfo(np.float64).tiny))


def _target_accuracy(
    mdp: TabularMDP,
    tol: Any,
    rtol: Any,
    default_rtol: float,
    value_fraction: float,
    stacklevel: int,
) -> tuple[float, float]:
    """``(epsilon, delta)``: the absolute accuracy ``min(tol, rtol * scale)`` over the arguments
    given (``rtol = default_rtol`` when neither is), and the round-off floor ``delta`` of
    :func:`value_error_floor`.  Warns with :class:`RoundoffWarning` when the value accuracy
    ``value_fraction * epsilon`` promised on success is below ``delta``."""
    tol = None if tol is None else as_positive("tol", tol)
    rtol = None if rtol is None else as_positive("rtol", rtol)
    if tol is None and rtol is None:
        rtol = default_rtol
    scale, delta = _scale_and_floor(mdp)
    eps = min(x for x in (tol, None if rtol is None else rtol * scale) if x is not None)
    if scale > 0 and value_fraction * eps < delta:  # all-zero rewards: everything is exact
        warnings.warn(
            f"requested accuracy {eps:.3g} (values within {value_fraction * eps:.3g} of V*) is "
            f"below the float64 round-off bound {delta:.3g} of this problem "
            f"(4 (S+2) eps max|r| / (1-gamma)^2, value scale {scale:.3g}); the guarantee is "
            f"values within {value_fraction * eps:.3g} + {delta:.3g} of V*",
            RoundoffWarning,
            stacklevel=stacklevel + 1,
        )
    return eps, delta


def policy_evaluation(
    mdp: TabularMDP,
    policy: Any,
    *,
    method: str = "auto",
    tol: float | None = None,
    device: str | None = None,
) -> np.ndarray:
    r"""Exact values :math:`V^\pi = (I - \gamma P_\pi)^{-1} r_\pi`.

    Args:
        mdp: the MDP.
        policy: ``(S, A)`` row-stochastic, ``(S,)`` integer actions, or a batch ``(B, S, A)`` /
            ``(B, S)``.
        method: ``"direct"`` (LU), ``"iterative"`` (GMRES, for large sparse problems) or
            ``"auto"``: sparse LU when ``P_pi`` is sparse with at most
            ``SPARSE_LU_MAX_ROW_NNZ`` entries per row, else dense LU up to
            ``DIRECT_SOLVE_MAX_STATES`` states and GMRES above (measured rule, see
            ``docs/performance.md``).
        tol: sup-norm accuracy of the iterative method (default 1e-12 of ``max|r|/(1-gamma)``).
        device: ``"cpu"``, ``"gpu"`` or None.

    Returns:
        ``(S,)`` values (``(B, S)`` for a batch).

    Raises:
        ValueError: ``policy`` is not a policy of ``mdp``, or puts mass on an infeasible action.

    Example:
        >>> import numpy as np
        >>> P = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
        >>> mdp = TabularMDP(P, np.array([[1.0], [0.0]]), gamma=0.5)
        >>> policy_evaluation(mdp, np.array([0, 0]))
        array([2., 0.])
    """
    op = _operator(mdp, device)
    pi = np.asarray(policy)
    checked = validate_policy(pi, mdp.n_states, mdp.n_actions, action_mask=mdp.action_mask)
    deterministic = pi.dtype.kind in "iu"  # kept as actions: P_pi is then a row gather
    pi = pi if deterministic else checked
    tol = _evaluation_tol(mdp) if tol is None else as_positive("tol", tol)
    batch = pi.ndim == (2 if deterministic else 3)
    pis = pi if batch else pi[None]
    out = np.empty((pis.shape[0], mdp.n_states))
    for i, p in enumerate(pis):
        P_pi, r_pi = op.policy_system(op.xp.asarray(p))
        out[i] = to_numpy(_solve(op, P_pi, r_pi, method=method, tol=tol))
    return out if batch else out[0]


def occupancy_measure(
    mdp: TabularMDP,
    policy: Any,
    rho: Any = None,
    *,
    method: str = "auto",
    device: str | None = None,
) -> np.ndarray:
    r"""Normalised discounted occupancy :math:`(1-\gamma)\rho^\top(I-\gamma P_\pi)^{-1}`.

    ``d(s) = (1 - gamma) sum_t gamma^t Pr(s_t = s | s_0 ~ rho, pi)``; sums to one.  ``rho``
    defaults to ``mdp.initial_distribution``.  Returns ``(S,)``.
    """
    op = _operator(mdp, device)
    pi = np.asarray(policy)
    pi = validate_policy(pi, mdp.n_states, mdp.n_actions, action_mask=mdp.action_mask)
    if pi.ndim != 2:
        raise ValueError(f"policy must be a single (S, A) policy, got shape {pi.shape}")
    rho = mdp.initial_distribution if rho is None else _validated_rho(rho, mdp.n_states, "rho")
    P_pi, _ = op.policy_system(op.xp.asarray(pi))
    x = _solve(op, P_pi, op.xp.asarray(rho), method=method, tol=1e-13, transpose=True)
    return (1.0 - mdp.gamma) * to_numpy(x)


# --------------------------------------------------------------------------------------------
# Value iteration and modified policy iteration (one loop)
# --------------------------------------------------------------------------------------------
def _iterate(
    mdp: TabularMDP,
    *,
    method: str,
    m: int,
    tol: Any,
    rtol: Any,
    max_iterations: int,
    initial_values: Any,
    device: str | None,
    parallel: bool | None,
    callback: Callback | None,
    fast: bool = False,
) -> SolveResult:
    """The loop of VI and MPI.  ``fast`` (used by :func:`solve`): start from
    ``v_0 = max_a r(s, a)``, stop partial evaluation once the increment's span is below
    ``AUTO_INNER_SPAN_FRACTION`` of the last greedy step's, and on dense CPU problems take
    ``q`` from the greedy pass and return values centred on ``v_k`` (see :func:`solve`)."""
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    given_tol, given_rtol = tol, rtol
    tol, roundoff = _target_accuracy(mdp, tol, rtol, DEFAULT_RTOL, 0.5, stacklevel=3)
    max_iterations = as_int("max_iterations", max_iterations)
    op = _operator(mdp, device, parallel)
    xp = op.xp
    if initial_values is None and fast:
        v = op.max_reward  # finite: a feasible action each; copied before any write
    elif initial_values is None:
        v = xp.full(mdp.n_states, mdp.reward_range[0] / (1.0 - mdp.gamma))
    else:
        v = _values_arg(initial_values, mdp.n_states, xp, "initial_values")
        if v.ndim != 1:
            raise ValueError(f"initial_values must have shape (S,), got {v.shape}")
    factor = mdp.gamma / (1.0 - mdp.gamma)
    # Partial evaluation stops early once an increment of T_pi has span <= inner_tol: if pi stays
    # greedy, the next greedy step then has span <= gamma * inner_tol and meets the stopping rule
    # (bound <= tol / 2); further sweeps would shift v by a near-constant only.
    inner_tol = 0.5 * tol / factor if factor > 0 else np.inf
    residual, span, bound, sweeps = [], [], [], []
    params = dict(
        method=method,
        m=m,
        tol=tol,
        rtol=given_rtol if given_rtol is not None or given_tol is not None else DEFAULT_RTOL,
        roundoff_bound=roundoff,
        max_iterations=max_iterations,
        device=op.device,
        parallel=op.parallel,
    )
    fused = fast and op.fused_q
    fraction = AUTO_INNER_FRACTION if fast and op.sparse else 0.0
    one_call = fast and callback is None and op.kernels and not op.parallel
    if fast:
        params.update(initial_values="max_a r(s, a)", fused_q=fused or one_call)
    if one_call:
        return _one_call_mpi(op, mdp, v, m, tol, inner_tol, max_iterations, roundoff, params)
    converged, message = (
        False,
        f"max_iterations={max_iterations} reached before the span stopping rule",
    )
    q = None
    start = time.perf_counter()
    for k in range(1, max_iterations + 1):
        if fused:
            tv, actions, q = op.q_sweep(v)
        else:
            tv, actions = op.sweep(v)
        delta = tv - v
        lo, hi = float(delta.min()), float(delta.max())
        residual.append(max(-lo, hi))
        span.append(hi - lo)
        bound.append(factor * (hi - lo))
        sweeps.append(0)
        if callback is not None and _callback_stops(
            callback, actions, tv, mdp.n_actions, k, _history(residual, span, bound), params
        ):
            v, q, message = tv, None, "stopped by callback"
            break
        if fused and (hi - lo) / (1.0 - mdp.gamma) <= tol:
            # V* in [v + min(Delta) / (1 - gamma), v + max(Delta) / (1 - gamma)]: centre on v,
            # whose q (from this pass) shifts by gamma times the same constant
            shift = (lo + hi) / (2.0 * (1.0 - mdp.gamma))
            v, q = v + shift, q + mdp.gamma * shift
            converged = True
            message = (
                f"span stopping rule met: policy within {bound[-1]:.3g} + round-off bound "
                f"{roundoff:.3g} of optimal, values within "
                f"{(hi - lo) / (2.0 * (1.0 - mdp.gamma)):.3g} + round-off bound {roundoff:.3g} "
                f"of V* (requested tol {tol:.3g})"
            )
            break
        if not fused and bound[-1] <= tol:
            v = tv + factor * (lo + hi) / 2.0
            q = None
            converged = True
            message = (
                f"span stopping rule met: policy within {bound[-1]:.3g} + round-off bound "
                f"{roundoff:.3g} of optimal, values within {bound[-1] / 2:.3g} + round-off bound "
                f"{roundoff:.3g} of V* (requested tol {tol:.3g})"
            )
            break
        v, done = op.policy_sweeps(tv, actions, m, max(inner_tol, fraction * (hi - lo)))
        sweeps[-1] = done
        q = None
    history = _history(residual, span, bound)
    history["policy_sweeps"] = np.array(sweeps)
    history["wall_time"] = np.array([time.perf_counter() - start])
    return SolveResult(
        policy=_policy_array(actions, mdp.n_actions),
        values=to_numpy(v),
        q_values=to_numpy(op.q(v)) if q is None else q,
        n_iterations=k,
        converged=converged,
        message=message,
        history=history,
        params=params,
    )


def _one_call_mpi(
    op: _Operator,
    mdp: TabularMDP,
    v: np.ndarray,
    m: int,
    tol: float,
    inner_tol: float,
    max_iterations: int,
    roundoff: float,
    params: dict,
) -> SolveResult:
    """The loop of :func:`_iterate` with ``fast`` on the CPU with serial kernels, in one numba
    call (:func:`theory_rl.kernels.bellman._dense_mpi_serial` or ``_csr_mpi_serial``): the
    same iterates as the Python loop with the fused greedy pass, without the Python overhead
    per iteration (which dominates at S = 200)."""
    S, A, gamma = mdp.n_states, mdp.n_actions, mdp.gamma
    v = np.array(v, dtype=np.float64)
    tmp = np.empty(S)
    q = np.empty(S * A)
    actions = np.empty(S, dtype=np.int64)
    stop_span = tol * (1.0 - gamma)
    if op.sparse:
        indptr, indices, data = op._args
        width = int(np.diff(indptr).max()) if indptr.size > 1 else 0
        n_pi = min(S * width, data.size)  # a bound on nnz(P_pi)
        buffers = (
            np.empty(S + 1, np.uint64),
            np.empty(n_pi, np.uint32),
            np.empty(n_pi),
            np.empty(S),
        )
    chunks, k = [], 0
    start = time.perf_counter()
    while k < max_iterations:
        hist = np.empty((min(max_iterations - k, 256), 3))
        if op.sparse:
            n = _kb._csr_mpi_serial(
                *op._args, op.r, gamma, m, stop_span, inner_tol, AUTO_INNER_FRACTION, v, tmp, q,
                actions, *buffers, hist,
            )  # fmt: skip
        else:
            n = _kb._dense_mpi_serial(
                op._args[0], op.r, gamma, m, stop_span, inner_tol, 0.0, v, tmp, q, actions, hist
            )
        chunks.append(hist[:n])
        k += n
        lo, hi = hist[n - 1, 0], hist[n - 1, 1]
        if hi - lo <= stop_span:
            break
    hist = np.concatenate(chunks)
    lo, hi = float(hist[-1, 0]), float(hist[-1, 1])
    span = hist[:, 1] - hist[:, 0]
    factor = gamma / (1.0 - gamma)
    converged = hi - lo <= stop_span
    if converged:
        shift = (lo + hi) / (2.0 * (1.0 - gamma))
        values, q = v + shift, q + gamma * shift
        message = (
            f"span stopping rule met: policy within {factor * (hi - lo):.3g} + round-off bound "
            f"{roundoff:.3g} of optimal, values within {(hi - lo) / (2.0 * (1.0 - gamma)):.3g} "
            f"+ round-off bound {roundoff:.3g} of V* (requested tol {tol:.3g})"
        )
        q = q.reshape(S, A)
    else:
        values = v  # the last iterate after its partial evaluation
        q = to_numpy(op.q(v))
        actions = np.asarray(op.sweep(v)[1])
        message = f"max_iterations={max_iterations} reached before the span stopping rule"
    history = {
        "residual": np.maximum(-hist[:, 0], hist[:, 1]),
        "span": span,
        "error_bound": factor * span,
        "policy_sweeps": hist[:, 2].astype(np.int64),
        "wall_time": np.array([time.perf_counter() - start]),
    }
    return SolveResult(
        policy=_policy_array(actions, A),
        values=values,
        q_values=q,
        n_iterations=k,
        converged=converged,
        message=message,
        history=history,
        params=params,
    )


def _history(residual: list, span: list, bound: list) -> dict[str, np.ndarray]:
    return {"residual": np.array(residual), "span": np.array(span), "error_bound": np.array(bound)}


def _callback_stops(
    callback: Callback,
    policy: Any,
    values: Any,
    n_actions: int,
    k: int,
    history: dict,
    params: dict,
) -> bool:
    """Call ``callback`` with the iterate so far; True when it raised ``StopIteration``."""
    intermediate = SolveResult(
        policy=_policy_array(policy, n_actions),
        values=to_numpy(values),
        q_values=None,
        n_iterations=k,
        converged=False,
        message="in progress",
        history=history,
        params=params,
    )
    try:
        callback(intermediate)
    except StopIteration:
        return True
    return False


def value_iteration(
    mdp: TabularMDP,
    *,
    tol: float | None = None,
    rtol: float | None = None,
    max_iterations: int = 100_000,
    initial_values: Any = None,
    device: str | None = None,
    parallel: bool | None = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""Value iteration :math:`v_{k+1} = T v_k` with the span stopping rule.

    Stops at the first ``k`` with :math:`\gamma\,\mathrm{sp}(v_{k+1} - v_k)/(1-\gamma) \le
    \epsilon` (module docstring): the returned policy, greedy w.r.t. ``v_k``, is
    :math:`\epsilon`-optimal in sup norm, and the returned values are within
    :math:`\epsilon/2` of ``V*``, each up to the float64 round-off bound
    :func:`~theory_rl.bounds.mdp_constants.value_error_floor` that ``message`` and
    ``params["roundoff_bound"]`` state.  :math:`\epsilon = \min(\mathtt{tol},
    \mathtt{rtol}\max|r|/(1-\gamma))` over the arguments given; **by default relative**,
    ``rtol = DEFAULT_RTOL = 1e-9``.  Emits :class:`RoundoffWarning` when :math:`\epsilon/2`
    is below the round-off bound.

    Args:
        mdp: the MDP (dense or sparse).
        tol: absolute accuracy: guaranteed sup-norm suboptimality of the returned policy (> 0).
        rtol: accuracy relative to the value scale ``max|r| / (1 - gamma)`` (> 0).
        max_iterations: sweeps before giving up (then ``converged=False``, and ``message`` says so).
        initial_values: ``(S,)`` start; default ``min(r) / (1 - gamma)`` (a lower bound on V*).
        device: ``"cpu"`` (numba kernels) or ``"gpu"`` (CuPy).
        parallel: CPU only: parallel kernel; None picks it for large problems when numba has
            several threads.
        callback: called after each sweep with a :class:`SolveResult` whose ``values`` are the raw
            iterate ``v_k`` and ``policy`` the greedy policy; may raise ``StopIteration``.

    Returns:
        :class:`SolveResult`; ``params["tol"]`` is :math:`\epsilon` (absolute),
        ``params["rtol"]`` the relative tolerance in force (None when only ``tol`` was given);
        ``history`` keys ``residual`` (:math:`\|v_{k}-v_{k-1}\|_\infty`),
        ``span``, ``error_bound`` (:math:`\gamma\,\mathrm{sp}/(1-\gamma)`), ``policy_sweeps``
        (partial-evaluation sweeps after each greedy step; 0 for value iteration) and
        ``wall_time``.

    Example:
        >>> import numpy as np
        >>> P = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])
        >>> mdp = TabularMDP(P, np.array([[0.0, 1.0], [2.0, 0.0]]), gamma=0.9)
        >>> res = value_iteration(mdp, tol=1e-10)
        >>> res.converged, res.policy.argmax(axis=1).tolist()
        (True, [1, 0])
    """
    return _iterate(
        mdp,
        method="value_iteration",
        m=0,
        tol=tol,
        rtol=rtol,
        max_iterations=max_iterations,
        initial_values=initial_values,
        device=device,
        parallel=parallel,
        callback=callback,
    )


def modified_policy_iteration(
    mdp: TabularMDP,
    *,
    m: int = 20,
    tol: float | None = None,
    rtol: float | None = None,
    max_iterations: int = 100_000,
    initial_values: Any = None,
    device: str | None = None,
    parallel: bool | None = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""Modified policy iteration: greedy step, then ``m`` sweeps of :math:`T_{\pi_k}`.

    :math:`v_{k+1} = T_{\pi_k}^{m_k+1} v_k` with ``pi_k`` greedy w.r.t. ``v_k`` (Puterman §6.5);
    ``m = 0`` is value iteration and ``m -> inf`` policy iteration.  The partial evaluation
    stops early (``m_k < m``) once an increment :math:`T_{\pi_k}^{j} v - T_{\pi_k}^{j-1} v` has
    span at most :math:`\epsilon (1 - \gamma) / (2 \gamma)`: MPI converges for any orders
    ``m_k >= 0`` (Puterman Thm 6.5.5), and with ``pi_k`` still greedy the next greedy step then
    meets the stopping rule.  Same span stopping rule, tolerances (``tol`` absolute, ``rtol``
    relative to ``max|r| / (1 - gamma)``, relative by default) and guarantee as
    :func:`value_iteration`; ``n_iterations`` counts greedy steps,
    ``history["policy_sweeps"]`` the ``m_k``.  Arguments as in :func:`value_iteration`.
    """
    m = as_int("m", m, minimum=0)
    return _iterate(
        mdp,
        method="modified_policy_iteration",
        m=m,
        tol=tol,
        rtol=rtol,
        max_iterations=max_iterations,
        initial_values=initial_values,
        device=device,
        parallel=parallel,
        callback=callback,
    )


# --------------------------------------------------------------------------------------------
# Policy iteration, linear programming, backward induction
# --------------------------------------------------------------------------------------------
def policy_iteration(
    mdp: TabularMDP,
    *,
    initial_policy: Any = None,
    max_iterations: int = 10_000,
    evaluation: str = "auto",
    device: str | None = None,
    parallel: bool | None = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""Howard's policy iteration with exact (or GMRES) evaluation.

    :math:`\pi_{k+1}(s) \in \arg\max_a q^{\pi_k}(s, a)`, keeping :math:`\pi_k(s)` unless another
    action is better by more than ``4e-12`` of the value scale ``max|r| / (1 - gamma)`` (four
    times the evaluation accuracy), so the loop ends exactly when no state can improve by more.
    The stable policy and its values are then within :math:`\max_s (Tv - v)(s)/(1-\gamma)`
    of optimal (plus twice the GMRES accuracy over :math:`1-\gamma` for iterative evaluation),
    plus the round-off bound :func:`~theory_rl.bounds.mdp_constants.value_error_floor`;
    ``message`` states both.

    Args:
        mdp: the MDP.
        initial_policy: ``(S,)`` actions or ``(S, A)`` policy (stochastic allowed); default greedy
            w.r.t. ``v_0(s) = max_a r(s, a)`` (one sweep; often one improvement step less than
            the myopic policy ``argmax_a r``).
        max_iterations: improvement steps before giving up.
        evaluation: ``"direct"``, ``"iterative"`` or ``"auto"`` (see :func:`policy_evaluation`).
        device, parallel: as in :func:`value_iteration`.
        callback: called after each evaluation with ``values = V^{pi_k}`` and ``policy = pi_k``.

    Returns:
        :class:`SolveResult`; ``history`` keys ``n_changed`` (states whose action changed) and
        ``value_rho`` (:math:`\rho^\top V^{\pi_k}`), one entry per evaluated policy.
    """
    max_iterations = as_int("max_iterations", max_iterations)
    op = _operator(mdp, device, parallel)
    xp = op.xp
    if initial_policy is None:
        # Greedy w.r.t. v0 = max_a r(s, a) (quantecon's start): one sweep, often one PI step less.
        _, policy = op.sweep(xp.asarray(mdp.rewards.max(axis=1)))
    else:
        policy = np.asarray(initial_policy)
        validate_policy(
            policy, mdp.n_states, mdp.n_actions, name="initial_policy", action_mask=mdp.action_mask
        )
        policy = xp.asarray(
            policy if policy.dtype.kind in "iu" else np.asarray(policy, dtype=np.float64)
        )
    eval_tol = _evaluation_tol(mdp)
    threshold = 4.0 * eval_tol
    rho = xp.asarray(mdp.initial_distribution)
    n_changed, value_rho = [], []
    params = dict(
        method="policy_iteration",
        max_iterations=max_iterations,
        evaluation=evaluation,
        device=op.device,
        parallel=op.parallel,
    )
    converged, message, v = False, f"max_iterations={max_iterations} reached", None
    for k in range(1, max_iterations + 1):
        P_pi, r_pi = op.policy_system(policy)
        v = _solve(op, P_pi, r_pi, method=evaluation, tol=eval_tol, x0=v)
        value_rho.append(float(rho @ v))
        tv, greedy = op.sweep(v)
        if policy.ndim == 2:  # stochastic start: replace it by the greedy policy
            new = greedy
        else:
            new = xp.where(tv > v + threshold, greedy, policy)
        n_changed.append(int((new != policy).sum()) if policy.ndim == 1 else mdp.n_states)
        history = {"n_changed": np.array(n_changed), "value_rho": np.array(value_rho)}
        if callback is not None and _callback_stops(
            callback, policy, v, mdp.n_actions, k, history, params
        ):
            message = "stopped by callback"
            break
        if policy.ndim == 1 and n_changed[-1] == 0:
            # T v <= v + gain with ||v - V^pi|| <= e (e = eval_tol for GMRES; the round-off of
            # a direct solve is in value_error_floor) gives V* - V^pi <= (gain + 2e)/(1 - gamma)
            iterative = _evaluation_kind(P_pi, mdp.n_states, evaluation) == "gmres"
            gain = max(float((tv - v).max()), 0.0)
            bound = (gain + (2.0 * eval_tol if iterative else 0.0)) / (1.0 - mdp.gamma)
            converged = True
            message = (
                f"policy stable: no state improves by more than {threshold:.3g}; policy and "
                f"values within {bound:.3g} + round-off bound {value_error_floor(mdp):.3g} of "
                "optimal"
            )
            break
        policy = new
    return SolveResult(
        policy=_policy_array(policy, mdp.n_actions),
        values=to_numpy(v),
        q_values=to_numpy(op.q(v)),
        n_iterations=k,
        converged=converged,
        message=message,
        history={"n_changed": np.array(n_changed), "value_rho": np.array(value_rho)},
        params=params,
    )


def linear_programming(
    mdp: TabularMDP,
    *,
    solver: str = "highs",
    tol: float | None = None,
    rtol: float | None = None,
) -> SolveResult:
    r"""Solve the primal LP :math:`\min_v \mathbf 1^\top v` s.t. :math:`(E - \gamma P) v \ge r`.

    ``E`` ``(S*A, S)`` maps each row ``s*A + a`` to state ``s``.  ``solver="highs"`` uses
    :func:`scipy.optimize.linprog` (HiGHS, sparse constraint matrix); ``solver="cvxpy"`` builds the
    same LP in cvxpy (Clarabel; an independent path for cross-checks).  The policy is greedy
    w.r.t. the LP values.

    The solver's status certifies nothing about ``V*``: its feasibility tolerances are relative
    and, near ``gamma = 1``, allow errors far above them.  The result is certified a posteriori
    from the Bellman residual :math:`\Delta = Tv - v` of the returned values:
    :math:`\|v - V^*\|_\infty \le \|\Delta\|_\infty/(1-\gamma)` and the greedy policy is
    within :math:`\gamma\,\mathrm{sp}(\Delta)/(1-\gamma)` of optimal (module docstring), each
    up to the round-off bound of :func:`~theory_rl.bounds.mdp_constants.value_error_floor`.
    ``converged`` is True when the value bound is at most :math:`\epsilon/2` (then the policy
    is within :math:`\epsilon`), the guarantee of :func:`value_iteration`, with
    :math:`\epsilon = \min(\mathtt{tol}, \mathtt{rtol}\max|r|/(1-\gamma))` over the arguments
    given; by default relative, ``rtol = LP_DEFAULT_RTOL = 1e-7``.

    Returns:
        :class:`SolveResult` with ``history`` keys ``objective``, ``residual``
        (:math:`\|\Delta\|_\infty`), ``error_bound`` (:math:`\|\Delta\|_\infty/(1-\gamma)`)
        and ``policy_error_bound`` (:math:`\gamma\,\mathrm{sp}(\Delta)/(1-\gamma)`), one entry
        each; ``params["tol"]`` is :math:`\epsilon`.
    """
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    if solver not in ("highs", "cvxpy"):
        raise ValueError(f"solver must be 'highs' or 'cvxpy', got {solver!r}")
    given_tol, given_rtol = tol, rtol
    tol, roundoff = _target_accuracy(mdp, tol, rtol, LP_DEFAULT_RTOL, 0.5, stacklevel=2)
    S, A, gamma = mdp.n_states, mdp.n_actions, mdp.gamma
    E = sp.csr_array(
        (np.ones(S * A), np.repeat(np.arange(S), A), np.arange(S * A + 1)), shape=(S * A, S)
    )
    G = sp.csr_array(E - gamma * sp.csr_array(mdp.transition_matrix))  # G v >= r
    r = mdp.rewards.ravel()
    if mdp.has_infeasible_actions:  # v(s) >= -inf constrains nothing: drop those rows
        keep = np.flatnonzero(mdp.action_mask.ravel())
        G, r = sp.csr_array(G[keep]), r[keep]
    c = np.ones(S)
    if solver == "highs":
        from scipy.optimize import linprog

        res = linprog(
            c,
            A_ub=-G,
            b_ub=-r,
            bounds=(None, None),
            method="highs",
            options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
        )
        if res.status != 0:
            raise RuntimeError(f"HiGHS failed: {res.message}")
        v, status = np.asarray(res.x, dtype=np.float64), f"HiGHS: {res.message}"
    else:
        import cvxpy as cp

        x = cp.Variable(S)
        prob = cp.Problem(cp.Minimize(c @ x), [G @ x >= r])
        prob.solve(solver=cp.CLARABEL)
        if prob.status not in ("optimal", "optimal_inaccurate"):
            raise RuntimeError(f"cvxpy failed: status {prob.status}")
        v, status = np.asarray(x.value, dtype=np.float64), f"cvxpy/CLARABEL: {prob.status}"
    q = q_values(mdp, v)
    delta = q.max(axis=1) - v
    residual = float(np.abs(delta).max())
    value_bound = residual / (1.0 - gamma)
    policy_bound = gamma * float(delta.max() - delta.min()) / (1.0 - gamma)
    converged = value_bound <= tol / 2
    message = (
        f"{status}; Bellman residual {residual:.3g}: values within {value_bound:.3g} and policy "
        f"within {policy_bound:.3g} of optimal, + round-off bound {roundoff:.3g}; "
        + (
            f"meets the requested tol {tol:.3g}"
            if converged
            else f"NOT certified to the requested tol {tol:.3g} (values within tol/2 required)"
        )
    )
    return SolveResult(
        policy=_policy_array(q.argmax(axis=1), A),
        values=v,
        q_values=q,
        n_iterations=1,
        converged=converged,
        message=message,
        history={
            "objective": np.array([c @ v]),
            "residual": np.array([residual]),
            "error_bound": np.array([value_bound]),
            "policy_error_bound": np.array([policy_bound]),
        },
        params=dict(
            method="linear_programming",
            solver=solver,
            tol=tol,
            rtol=given_rtol if given_rtol is not None or given_tol is not None else LP_DEFAULT_RTOL,
            roundoff_bound=roundoff,
        ),
    )


def backward_induction(mdp: FiniteHorizonMDP, *, device: str | None = None) -> SolveResult:
    r"""Finite-horizon DP: :math:`V_H = 0`, :math:`Q_h = r_h + \gamma P_h V_{h+1}`,
    :math:`V_h = \max Q_h` (``gamma = mdp.gamma``, 1 unless the model is discounted).

    Returns:
        :class:`SolveResult` with ``policy`` ``(H, S, A)`` (greedy, lowest index on ties),
        ``values`` ``(H + 1, S)``, ``q_values`` ``(H, S, A)`` and ``history["value_rho"]``
        (:math:`\rho^\top V_h` for each h).
    """
    if not isinstance(mdp, FiniteHorizonMDP):
        raise ValueError(f"mdp must be a FiniteHorizonMDP, got {type(mdp).__name__}")
    device = resolve_device(device)
    xp = array_namespace(device)
    H, S, A = mdp.horizon, mdp.n_states, mdp.n_actions
    V = xp.zeros((H + 1, S))
    Q = xp.zeros((H, S, A))
    P2 = None
    for h in range(H - 1, -1, -1):
        if P2 is None or not mdp.is_stationary:
            Ph = mdp.transitions_at(h)
            P2 = to_device(Ph if sp.issparse(Ph) else Ph.reshape(S * A, S), device)
        Q[h] = xp.asarray(mdp.rewards_at(h)) + mdp.gamma * xp.asarray(P2 @ V[h + 1]).reshape(S, A)
        V[h] = Q[h].max(axis=1)
    Qn = to_numpy(Q)
    policy = np.zeros_like(Qn)
    np.put_along_axis(policy, Qn.argmax(axis=-1)[..., None], 1.0, axis=-1)
    Vn = to_numpy(V)
    return SolveResult(
        policy=policy,
        values=Vn,
        q_values=Qn,
        n_iterations=H,
        converged=True,
        message="exact backward induction",
        history={"value_rho": Vn @ mdp.initial_distribution},
        params=dict(method="backward_induction", gamma=mdp.gamma, device=device),
    )


# --------------------------------------------------------------------------------------------
# Gauss-Seidel, anchored and accelerated value iteration
# --------------------------------------------------------------------------------------------
def _validated_order(order: Any, n_states: int) -> np.ndarray:
    """``order`` as an int64 permutation of ``range(S)`` (identity when None)."""
    if order is None:
        return np.arange(n_states, dtype=np.int64)
    o = np.asarray(order)
    if o.ndim != 1 or o.shape[0] != n_states or o.dtype.kind not in "iu":
        raise ValueError(
            f"order must be a 1-D integer permutation of range(S) = range({n_states}); got "
            f"dtype {o.dtype} and shape {o.shape}"
        )
    if not np.array_equal(np.sort(o), np.arange(n_states)):
        raise ValueError(
            f"order must be a permutation of range(S) = range({n_states}): every state exactly "
            "once; it repeats or misses states"
        )
    return np.ascontiguousarray(o, dtype=np.int64)


def _kernel_arrays(mdp: TabularMDP) -> tuple:
    """The kernel dtypes of ``mdp``'s transitions: ``(P2,)`` dense or ``(indptr, indices,
    data)`` CSR, as :mod:`theory_rl.kernels.bellman` takes them."""
    if mdp.is_sparse:
        P = mdp.transitions
        return (
            P.indptr.astype(np.uint64),
            P.indices.astype(np.uint32),
            np.ascontiguousarray(P.data, dtype=np.float64),
        )
    return (np.ascontiguousarray(mdp.transition_matrix, dtype=np.float64),)


def _initial_values(mdp: TabularMDP, initial_values: Any, gamma: float) -> np.ndarray:
    """``(S,)`` start: ``initial_values`` checked, or ``min(r) / (1 - gamma)`` (0 at gamma=1)."""
    if initial_values is None:
        start = mdp.reward_range[0] / (1.0 - gamma) if gamma < 1.0 else 0.0
        return np.full(mdp.n_states, start)
    v = _values_arg(initial_values, mdp.n_states, np, "initial_values")
    if v.ndim != 1:
        raise ValueError(f"initial_values must have shape (S,), got {v.shape}")
    return np.array(v, dtype=np.float64)


def gauss_seidel_value_iteration(
    mdp: TabularMDP,
    *,
    tol: float | None = None,
    rtol: float | None = None,
    max_iterations: int = 100_000,
    order: Any = None,
    initial_values: Any = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""Gauss--Seidel value iteration: in-place sweeps, each state reading its predecessors' new
    values.

    One sweep :math:`v \mapsto G v` visits the states in ``order`` (default ``0, ..., S-1``) and
    sets :math:`v(s) \leftarrow \max_a r(s,a) + \gamma \sum_{s'} P(s'|s,a) v(s')` with the
    current (partly updated) ``v`` (Puterman 1994, §6.3.3).  A numba kernel
    (:mod:`theory_rl.kernels.gauss_seidel`) sweeps dense or CSR transitions; CPU only.

    **Stopping rule and guarantee.**  ``G`` is a :math:`\gamma`-contraction in the sup norm
    with fixed point ``V*`` (each coordinate update is a max of affine maps whose coefficients on
    ``v`` are non-negative and sum to :math:`\gamma`, so by induction over the sweep
    :math:`|(Gu)(s) - (Gw)(s)| \le \gamma\|u - w\|_\infty`).  Hence, for
    :math:`v_{k+1} = G v_k`,
    :math:`\|v_{k+1} - V^*\| \le \gamma\|v_k - V^*\| \le \gamma\|v_k - v_{k+1}\|
    + \gamma\|v_{k+1} - V^*\|`, i.e.

    .. math::  \|v_{k+1} - V^*\|_\infty \le \frac{\gamma}{1-\gamma}\,\|v_{k+1} - v_k\|_\infty .

    (1) Once this bound is at most :math:`\epsilon/2` -- the classical
    :math:`\|v_{k+1} - v_k\|_\infty \le \epsilon(1-\gamma)/(2\gamma)` -- the values are within
    :math:`\epsilon/2` of ``V*``.  (2) A value bound alone only makes the greedy policy
    :math:`2\gamma(\epsilon/2)/(1-\gamma)`-optimal, so the policy is certified separately: at
    each iterate meeting (1), one Jacobi sweep gives :math:`\Delta = T v - v` and the
    MacQueen bound of the module docstring, :math:`\|V^{\pi_v} - V^*\|_\infty \le
    \gamma\,\mathrm{sp}(\Delta)/(1-\gamma)`; the solver stops when this is at most
    :math:`\epsilon` and otherwise keeps sweeping.  On success the returned values (the last
    Gauss--Seidel iterate) are within :math:`\epsilon/2` and the returned policy (greedy
    w.r.t. them) within :math:`\epsilon` of optimal -- each, computed in float64, up to the
    round-off bound :func:`~theory_rl.bounds.mdp_constants.value_error_floor` that ``message``
    states, exactly as for :func:`value_iteration`.  ``tol``/``rtol`` as there (relative by
    default, ``DEFAULT_RTOL``).

    Args:
        mdp: the MDP (dense or sparse).
        tol, rtol: accuracy, as in :func:`value_iteration`.
        max_iterations: sweeps before giving up (``converged=False``).
        order: ``(S,)`` permutation of ``range(S)``: the order in which a sweep visits states.
        initial_values: ``(S,)`` start; default ``min(r) / (1 - gamma)``.
        callback: called after each sweep with the iterate (``values``) and the actions that
            attained the max in that sweep (``policy``); may raise ``StopIteration``.

    Returns:
        :class:`SolveResult`; ``history`` keys ``residual``
        (:math:`\|v_{k+1}-v_k\|_\infty`), ``error_bound``
        (:math:`\gamma\|v_{k+1}-v_k\|_\infty/(1-\gamma)`, the value bound), ``policy_bound``
        (the MacQueen bound where it was checked, NaN elsewhere) and ``wall_time``.

    Raises:
        ValueError: ``order`` is not a permutation of ``range(S)``; bad ``tol``/``rtol``.
    """
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    given_tol, given_rtol = tol, rtol
    tol, roundoff = _target_accuracy(mdp, tol, rtol, DEFAULT_RTOL, 0.5, stacklevel=2)
    max_iterations = as_int("max_iterations", max_iterations)
    order_arr = _validated_order(order, mdp.n_states)
    v = _initial_values(mdp, initial_values, mdp.gamma)
    args = _kernel_arrays(mdp)
    r = np.ascontiguousarray(mdp.rewards.ravel(), dtype=np.float64)
    gamma = float(mdp.gamma)
    kernel = _kgs._csr_gs_sweep if mdp.is_sparse else _kgs._dense_gs_sweep
    op = _operator(mdp, "cpu")
    factor = gamma / (1.0 - gamma)
    actions = np.zeros(mdp.n_states, dtype=np.int64)
    stats = np.empty(2)
    residual, bound, policy_bound = [], [], []
    params = dict(
        method="gauss_seidel_value_iteration",
        tol=tol,
        rtol=given_rtol if given_rtol is not None or given_tol is not None else DEFAULT_RTOL,
        roundoff_bound=roundoff,
        max_iterations=max_iterations,
        order="identity" if order is None else "given",
        device="cpu",
    )
    converged, message = False, f"max_iterations={max_iterations} reached before the stopping rule"
    start = time.perf_counter()
    k = 0
    for k in range(1, max_iterations + 1):
        kernel(*args, r, gamma, order_arr, v, actions, stats)
        inc = max(-float(stats[0]), float(stats[1]))
        residual.append(inc)
        bound.append(factor * inc)
        policy_bound.append(np.nan)
        if callback is not None and _callback_stops(
            callback,
            actions.copy(),
            v.copy(),
            mdp.n_actions,
            k,
            {
                "residual": np.array(residual),
                "error_bound": np.array(bound),
                "policy_bound": np.array(policy_bound),
            },
            params,
        ):
            message = "stopped by callback"
            break
        if bound[-1] <= tol / 2:
            tv, greedy = op.sweep(v)
            delta = tv - v
            policy_bound[-1] = factor * float(delta.max() - delta.min())
            if policy_bound[-1] <= tol:
                actions = np.asarray(greedy)
                converged = True
                message = (
                    f"Gauss-Seidel stopping rule met: values within {bound[-1]:.3g} and policy "
                    f"within {policy_bound[-1]:.3g} of optimal, each + round-off bound "
                    f"{roundoff:.3g} (requested tol {tol:.3g})"
                )
                break
    history = {
        "residual": np.array(residual),
        "error_bound": np.array(bound),
        "policy_bound": np.array(policy_bound),
        "wall_time": np.array([time.perf_counter() - start]),
    }
    return SolveResult(
        policy=_policy_array(actions, mdp.n_actions),
        values=v,
        q_values=to_numpy(op.q(v)),
        n_iterations=k,
        converged=converged,
        message=message,
        history=history,
        params=params,
    )


def anchoring_schedule(gamma: float, k: Any) -> np.ndarray:
    r"""Anchor weights :math:`\beta_k` of anchored value iteration (Lee and Ryu 2023, Anc-VI).

    .. math::  \beta_k = \Big(\sum_{i=0}^{k} \gamma^{-2i}\Big)^{-1}
               = \frac{(1-\gamma^2)\,\gamma^{2k}}{1 - \gamma^{2k+2}} \quad (\gamma < 1),
               \qquad \beta_k = \frac{1}{k+1} \quad (\gamma = 1),

    the second form evaluated without overflow; :math:`\beta_0 = 1` and :math:`\beta_k`
    decreases to 0 (to :math:`1-\gamma^2` is never reached: it tends to 0 like
    :math:`\gamma^{2k}`).  ``gamma`` in ``(0, 1]``; ``k`` an int or an array of ints ``>= 0``;
    returns float64 of ``k``'s shape.
    """
    gamma = as_real("gamma", gamma, minimum=0.0, maximum=1.0, open_minimum=True)
    ks = np.asarray(k)
    if ks.dtype.kind not in "iu" or (ks < 0).any():
        raise ValueError(f"k must be integers >= 0, got {k!r}")
    ks = ks.astype(np.float64)
    if gamma == 1.0:
        return 1.0 / (ks + 1.0)
    g2 = gamma * gamma
    return (1.0 - g2) * g2**ks / (1.0 - g2 ** (ks + 1.0))


def _dense_or_sparse_product(M: Any, v: np.ndarray) -> np.ndarray:
    return np.asarray(M @ v, dtype=np.float64)


def anchored_value_iteration(
    mdp: TabularMDP,
    *,
    policy: Any = None,
    gamma: float | None = None,
    tol: float | None = None,
    rtol: float | None = None,
    max_iterations: int = 100_000,
    initial_values: Any = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""Anchored value iteration (Anc-VI, Lee and Ryu 2023): a Halpern iteration on ``T``.

    .. math::  v_k = \beta_k\, v_0 + (1 - \beta_k)\, T v_{k-1}, \qquad k \ge 1,

    with :func:`anchoring_schedule` :math:`\beta_k`, ``T`` the Bellman optimality operator, or
    the policy operator :math:`T_\pi` when ``policy`` is given.  Its Bellman error
    :math:`\|T v_k - v_k\|_\infty` obeys :func:`theory_rl.bounds.lee2023.anchored_vi_bound`,
    :math:`O(1/k)` uniformly in :math:`\gamma` -- also at ``gamma = 1`` (undiscounted; a fixed
    point of ``T`` must exist, e.g. rewards centred by the optimal gain of a unichain model,
    see :mod:`theory_rl.algorithms.average_reward`).

    **Stopping rule.**  For :math:`\gamma < 1` the MacQueen bracket of the module docstring
    holds for any ``v``, so the span rule of :func:`value_iteration` applies to each iterate:
    stop when :math:`\gamma\,\mathrm{sp}(Tv_k - v_k)/(1-\gamma) \le \epsilon`; the returned
    policy (greedy w.r.t. :math:`v_k`) is then :math:`\epsilon`-optimal and the returned values
    (the bracket's midpoint) within :math:`\epsilon/2` of the fixed point, up to the round-off
    bound :func:`~theory_rl.bounds.mdp_constants.value_error_floor`.  For ``gamma = 1`` there is
    no such bracket: the solver stops when the Bellman error :math:`\|Tv_k - v_k\|_\infty` is at
    most :math:`\epsilon` and returns :math:`v_k` (``tol`` absolute; ``rtol`` relative to
    ``max|r|``).

    Args:
        mdp: the MDP (dense or sparse).
        policy: ``(S, A)`` or ``(S,)`` policy: iterate :math:`T_\pi` (policy evaluation).
        gamma: discount used by the iteration, in ``(0, 1]``; default ``mdp.gamma``.
        tol, rtol: accuracy (see above; relative by default, ``DEFAULT_RTOL``).
        max_iterations: iterations before giving up.
        initial_values: the anchor :math:`v_0` ``(S,)``; default ``min(r)/(1-gamma)`` (0 at
            ``gamma = 1``).
        callback: called after each iteration with ``values`` = :math:`v_k`; may raise
            ``StopIteration``.

    Returns:
        :class:`SolveResult`; ``history`` keys ``bellman_error``
        (:math:`\|Tv_k - v_k\|_\infty` for ``k = 0, 1, ...``, one longer than the iterations),
        ``beta`` (:math:`\beta_k`) and ``span``.
    """
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    g = (
        mdp.gamma
        if gamma is None
        else as_real("gamma", gamma, minimum=0.0, maximum=1.0, open_minimum=True)
    )
    max_iterations = as_int("max_iterations", max_iterations)
    given = tol is not None or rtol is not None
    if g < 1.0:
        eps, roundoff = _target_accuracy(
            mdp.with_gamma(g) if g != mdp.gamma else mdp, tol, rtol, DEFAULT_RTOL, 0.5, 2
        )
    else:
        tol = None if tol is None else as_positive("tol", tol)
        rtol = None if rtol is None else as_positive("rtol", rtol)
        if not given:
            rtol = DEFAULT_RTOL
        scale = max(*(abs(x) for x in mdp.reward_range), float(np.finfo(np.float64).tiny))
        eps = min(x for x in (tol, None if rtol is None else rtol * scale) if x is not None)
        roundoff = float("nan")
    op = _operator(mdp, "cpu")
    if policy is None:
        M, rv = op.P2, op.r
        A = mdp.n_actions

        def apply_T(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            q = (rv + g * _dense_or_sparse_product(M, x)).reshape(-1, A)
            return q.max(axis=1), q.argmax(axis=1)

    else:
        pi = np.asarray(policy)
        validate_policy(pi, mdp.n_states, mdp.n_actions, name="policy", action_mask=mdp.action_mask)
        pi = pi if pi.dtype.kind in "iu" else np.asarray(pi, dtype=np.float64)
        P_pi, r_pi = op.policy_system(pi)
        fixed = pi if pi.ndim == 1 else pi.argmax(axis=1)

        def apply_T(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return r_pi + g * _dense_or_sparse_product(P_pi, x), fixed

    v0 = _initial_values(mdp, initial_values, g)
    v = v0.copy()
    tv, actions = apply_T(v)
    errors = [float(np.abs(tv - v).max())]
    spans = [float((tv - v).max() - (tv - v).min())]
    betas = [1.0]
    factor = g / (1.0 - g) if g < 1.0 else np.inf
    params = dict(
        method="anchored_value_iteration",
        operator="optimality" if policy is None else "policy",
        gamma=g,
        tol=eps,
        roundoff_bound=roundoff,
        max_iterations=max_iterations,
    )

    def met() -> bool:
        return (factor * spans[-1] <= eps) if g < 1.0 else (errors[-1] <= eps)

    converged, message, k = met(), "", 0
    if not converged:
        for k in range(1, max_iterations + 1):
            beta = float(anchoring_schedule(g, k))
            v = beta * v0 + (1.0 - beta) * tv
            tv, actions = apply_T(v)
            d = tv - v
            errors.append(float(np.abs(d).max()))
            spans.append(float(d.max() - d.min()))
            betas.append(beta)
            if callback is not None and _callback_stops(
                callback,
                actions,
                v,
                mdp.n_actions,
                k,
                {
                    "bellman_error": np.array(errors),
                    "beta": np.array(betas),
                    "span": np.array(spans),
                },
                params,
            ):
                message = "stopped by callback"
                break
            if met():
                converged = True
                break
    d = tv - v
    if converged and g < 1.0:
        values = tv + factor * float(d.max() + d.min()) / 2.0
        message = (
            f"span stopping rule met: policy within {factor * spans[-1]:.3g} and values within "
            f"{factor * spans[-1] / 2:.3g} of the fixed point, + round-off bound "
            f"{roundoff:.3g} (requested tol {eps:.3g})"
        )
    else:
        values = v
        if converged:
            message = f"Bellman error {errors[-1]:.3g} <= tol {eps:.3g} (gamma = 1)"
        elif not message:
            message = f"max_iterations={max_iterations} reached before the stopping rule"
    return SolveResult(
        policy=_policy_array(np.asarray(actions), mdp.n_actions),
        values=values,
        q_values=None,
        n_iterations=k,
        converged=converged,
        message=message,
        history={
            "bellman_error": np.array(errors),
            "beta": np.array(betas),
            "span": np.array(spans),
        },
        params=params,
    )


def _momentum_args(gamma: float, step: Any, momentum: Any) -> tuple[float, float]:
    """``(alpha, beta)``: defaults ``1/(1+gamma)`` and ``(1 - sqrt(1-gamma^2))/gamma``;
    ``step`` must lie in ``(0, 2/(1+gamma))``, ``momentum`` in ``[0, 1)``."""
    alpha = (
        1.0 / (1.0 + gamma)
        if step is None
        else as_real(
            "step",
            step,
            minimum=0.0,
            maximum=2.0 / (1.0 + gamma),
            open_minimum=True,
            open_maximum=True,
        )
    )
    if momentum is None:
        beta = (1.0 - np.sqrt(1.0 - gamma * gamma)) / gamma if gamma > 0 else 0.0
    else:
        beta = as_real("momentum", momentum, minimum=0.0, maximum=1.0, open_maximum=True)
    return float(alpha), float(beta)


def accelerated_policy_evaluation(
    mdp: TabularMDP,
    policy: Any,
    *,
    step: float | None = None,
    momentum: float | None = None,
    tol: float | None = None,
    rtol: float | None = None,
    max_iterations: int = 100_000,
    initial_values: Any = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""Accelerated value iteration for :math:`V^\pi` (Goyal and Grand-Clément 2023, AVI).

    Value iteration :math:`v \mapsto T_\pi v` is a gradient step of size 1 on a quadratic
    whose gradient is :math:`v - T_\pi v`; AVI adds Nesterov momentum:

    .. math::  h_k = v_k + \beta\,(v_k - v_{k-1}), \qquad
               v_{k+1} = h_k - \alpha\,(h_k - T_\pi h_k), \qquad v_{-1} = v_0,

    with the defaults :math:`\alpha = 1/(1+\gamma)` and
    :math:`\beta = (1-\sqrt{1-\gamma^2})/\gamma` (Nesterov's parameters for the condition
    number :math:`\kappa = (1+\gamma)/(1-\gamma)`, :math:`\beta = (\sqrt\kappa-1)/(\sqrt\kappa
    +1)`).  For a reversible chain :math:`P_\pi` the error contracts asymptotically at
    :math:`1 - \sqrt{(1-\gamma)/(1+\gamma)}` per iteration instead of :math:`\gamma`
    (:func:`theory_rl.bounds.goyal2023.avi_rate`).

    **Stopping rule.**  :math:`\|v - V^\pi\|_\infty \le \|T_\pi v - v\|_\infty/(1-\gamma)` for any
    ``v``; the solver stops at the first :math:`v_k` with
    :math:`\|T_\pi v_k - v_k\|_\infty \le \epsilon(1-\gamma)/2`, so the returned values are
    within :math:`\epsilon/2` of :math:`V^\pi` (plus the round-off bound of
    :func:`~theory_rl.bounds.mdp_constants.value_error_floor`).

    Args:
        mdp: the MDP.
        policy: ``(S, A)`` or ``(S,)`` policy to evaluate.
        step: :math:`\alpha` in :math:`(0, 2/(1+\gamma))`.
        momentum: :math:`\beta` in ``[0, 1)``.
        tol, rtol: accuracy as in :func:`value_iteration` (relative by default).
        max_iterations: iterations before giving up.
        initial_values: ``(S,)`` start; default ``min(r)/(1-gamma)``.
        callback: called after each iteration with ``values`` = :math:`v_k`.

    Returns:
        :class:`SolveResult` (``policy`` is the evaluated policy); ``history["residual"]`` is
        :math:`\|T_\pi v_k - v_k\|_\infty` for ``k = 0, 1, ...``.

    Raises:
        ValueError: ``step`` or ``momentum`` outside its admissible range.
    """
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    gamma = float(mdp.gamma)
    alpha, beta = _momentum_args(gamma, step, momentum)
    eps, roundoff = _target_accuracy(mdp, tol, rtol, DEFAULT_RTOL, 0.5, stacklevel=2)
    max_iterations = as_int("max_iterations", max_iterations)
    pi = np.asarray(policy)
    checked = validate_policy(
        pi, mdp.n_states, mdp.n_actions, name="policy", action_mask=mdp.action_mask
    )
    pi = pi if pi.dtype.kind in "iu" else np.asarray(pi, dtype=np.float64)
    op = _operator(mdp, "cpu")
    P_pi, r_pi = op.policy_system(pi)

    def T(x: np.ndarray) -> np.ndarray:
        return r_pi + gamma * _dense_or_sparse_product(P_pi, x)

    v = _initial_values(mdp, initial_values, gamma)
    prev = v.copy()
    threshold = eps * (1.0 - gamma) / 2.0
    residual = [float(np.abs(T(v) - v).max())]
    params = dict(
        method="accelerated_policy_evaluation",
        step=alpha,
        momentum=beta,
        tol=eps,
        roundoff_bound=roundoff,
        max_iterations=max_iterations,
    )
    converged, message, k = residual[0] <= threshold, "", 0
    if not converged:
        for k in range(1, max_iterations + 1):
            h = v + beta * (v - prev)
            prev, v = v, h - alpha * (h - T(h))
            residual.append(float(np.abs(T(v) - v).max()))
            if callback is not None and _callback_stops(
                callback,
                checked,
                v,
                mdp.n_actions,
                k,
                {"residual": np.array(residual)},
                params,
            ):
                message = "stopped by callback"
                break
            if residual[-1] <= threshold:
                converged = True
                break
    if converged:
        message = (
            f"residual {residual[-1]:.3g} <= tol (1-gamma)/2: values within "
            f"{residual[-1] / (1 - gamma):.3g} of V^pi, + round-off bound {roundoff:.3g}"
        )
    elif not message:
        message = f"max_iterations={max_iterations} reached before the stopping rule"
    return SolveResult(
        policy=_policy_array(pi, mdp.n_actions) if pi.ndim == 1 else checked,
        values=v,
        q_values=None,
        n_iterations=k,
        converged=converged,
        message=message,
        history={"residual": np.array(residual)},
        params=params,
    )


def safeguarded_accelerated_value_iteration(
    mdp: TabularMDP,
    *,
    step: float | None = None,
    momentum: float | None = None,
    tol: float | None = None,
    rtol: float | None = None,
    max_iterations: int = 100_000,
    initial_values: Any = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""Accelerated value iteration for control with a safeguard that keeps VI's guarantee.

    Each iteration forms the momentum candidate of :func:`accelerated_policy_evaluation` with the
    optimality operator ``T``, :math:`h = v_k + \beta(v_k - v_{k-1})`,
    :math:`w = h - \alpha(h - Th)`, and **accepts it only if**
    :math:`\|Tw - w\|_\infty \le \gamma\,\|Tv_k - v_k\|_\infty`; otherwise it takes the value
    iteration step :math:`v_{k+1} = Tv_k`.  A VI step satisfies this inequality by the
    contraction (:math:`\|T(Tv) - Tv\| \le \gamma\|Tv - v\|`), so every iterate obeys

    .. math::  \|T v_k - v_k\|_\infty \le \gamma^k\, \|T v_0 - v_0\|_\infty ,

    value iteration's own guarantee: the safeguard can only be as slow as VI, never slower.
    (Goyal and Grand-Clément's S-AVI alternates accelerated and VI steps to the same end; the
    acceptance test here is this module's, and the guarantee above is derived here.)
    Same span stopping rule, tolerances and guarantee as :func:`value_iteration`.

    Args:
        step, momentum: :math:`\alpha \in (0, 2/(1+\gamma))`, :math:`\beta \in [0, 1)`;
            defaults as in :func:`accelerated_policy_evaluation`.
        Others as in :func:`value_iteration`.

    Returns:
        :class:`SolveResult`; ``history`` keys ``residual`` (:math:`\|Tv_k - v_k\|_\infty`,
        ``k = 0, 1, ...``), ``accepted`` (1 where the momentum candidate was taken) and
        ``error_bound`` (the span bound at each iterate).
    """
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    gamma = float(mdp.gamma)
    alpha, beta = _momentum_args(gamma, step, momentum)
    eps, roundoff = _target_accuracy(mdp, tol, rtol, DEFAULT_RTOL, 0.5, stacklevel=2)
    max_iterations = as_int("max_iterations", max_iterations)
    op = _operator(mdp, "cpu")
    factor = gamma / (1.0 - gamma)
    v = _initial_values(mdp, initial_values, gamma)
    prev = v.copy()
    tv, actions = op.sweep(v)
    d = tv - v
    residual, bound, accepted = [float(np.abs(d).max())], [factor * float(d.max() - d.min())], [0]
    params = dict(
        method="safeguarded_accelerated_value_iteration",
        step=alpha,
        momentum=beta,
        tol=eps,
        roundoff_bound=roundoff,
        max_iterations=max_iterations,
    )
    converged, message, k = bound[0] <= eps, "", 0
    if not converged:
        for k in range(1, max_iterations + 1):
            h = v + beta * (v - prev)
            th, _ = op.sweep(h)
            w = h - alpha * (h - th)
            tw, w_actions = op.sweep(w)
            if float(np.abs(tw - w).max()) <= gamma * residual[-1]:
                prev, v, tv, actions = v, w, tw, w_actions
                accepted.append(1)
            else:
                prev, v = v, tv
                tv, actions = op.sweep(v)
                accepted.append(0)
            d = tv - v
            residual.append(float(np.abs(d).max()))
            bound.append(factor * float(d.max() - d.min()))
            if callback is not None and _callback_stops(
                callback,
                actions,
                v,
                mdp.n_actions,
                k,
                {
                    "residual": np.array(residual),
                    "accepted": np.array(accepted),
                    "error_bound": np.array(bound),
                },
                params,
            ):
                message = "stopped by callback"
                break
            if bound[-1] <= eps:
                converged = True
                break
    values = v
    if converged:
        values = tv + factor * float(d.max() + d.min()) / 2.0
        message = (
            f"span stopping rule met: policy within {bound[-1]:.3g} and values within "
            f"{bound[-1] / 2:.3g} of optimal, + round-off bound {roundoff:.3g} "
            f"(requested tol {eps:.3g})"
        )
    elif not message:
        message = f"max_iterations={max_iterations} reached before the span stopping rule"
    return SolveResult(
        policy=_policy_array(np.asarray(actions), mdp.n_actions),
        values=to_numpy(values),
        q_values=None,
        n_iterations=k,
        converged=converged,
        message=message,
        history={
            "residual": np.array(residual),
            "accepted": np.array(accepted),
            "error_bound": np.array(bound),
        },
        params=params,
    )


# --------------------------------------------------------------------------------------------
# One entry point: the fastest exact method
# --------------------------------------------------------------------------------------------
_METHODS = {
    "value_iteration": value_iteration,
    "vi": value_iteration,
    "modified_policy_iteration": modified_policy_iteration,
    "mpi": modified_policy_iteration,
    "policy_iteration": policy_iteration,
    "pi": policy_iteration,
    "gauss_seidel_value_iteration": gauss_seidel_value_iteration,
    "gs": gauss_seidel_value_iteration,
    "linear_programming": linear_programming,
    "lp": linear_programming,
}


def solve(
    mdp: TabularMDP,
    method: str = "auto",
    *,
    tol: float | None = None,
    rtol: float | None = None,
    **options: Any,
) -> SolveResult:
    r"""Solve ``mdp`` exactly with ``method``, by default the fastest one for its size.

    ``method="auto"`` runs modified policy iteration (:func:`auto_method` states the measured
    rules) with these settings:

    * ``m = AUTO_MAX_SWEEPS`` partial-evaluation sweeps at most, ending early as in
      :func:`modified_policy_iteration`, and on CSR problems also once an increment's span is
      below ``AUTO_INNER_FRACTION`` times that of the last ``T v - v`` (any number of sweeps
      ``m_k >= 0`` per step keeps MPI's convergence, Puterman Thm 6.5.5);
    * start :math:`v_0(s) = \max_a r(s, a)` (over feasible actions), whose greedy policy looks
      one step ahead; MPI converges from any start, since its greedy policies and the spans
      that stop its sweeps do not change when a constant is added to ``v``, and
      ``v_0 - c`` with ``c`` large enough satisfies :math:`T v_0 \ge v_0` (Puterman Thm 6.5.5);
    * on the CPU with serial kernels the whole loop runs in one numba call whose greedy pass
      also forms ``q``; the run stops when :math:`\mathrm{sp}(\Delta)/(1-\gamma)
      \le \epsilon` for :math:`\Delta = Tv_k - v_k`, and returns
      :math:`v_k + (\min\Delta + \max\Delta)/(2(1-\gamma))` -- within
      :math:`\mathrm{sp}(\Delta)/(2(1-\gamma)) \le \epsilon/2` of ``V*`` by
      :math:`v + \min\Delta/(1-\gamma) \le V^{\pi_v} \le V^* \le v + \max\Delta/(1-\gamma)` --
      and its ``q`` shifted by :math:`\gamma` times the same constant, with no extra pass;
    * the parallel kernels only for large problems when the machine has an idle core per
      numba thread (``_auto_parallel``).

    The guarantee is that of :func:`modified_policy_iteration`: on success the policy (greedy
    w.r.t. the last iterate) is within :math:`\epsilon` of optimal and the values within
    :math:`\epsilon/2` of ``V*``, :math:`\epsilon = \min(\mathtt{tol},
    \mathtt{rtol}\max|r|/(1-\gamma))`, relative by default (``DEFAULT_RTOL``), up to the
    round-off bound the message states.  ``params`` echo the settings.

    Args:
        mdp: the MDP (dense or sparse; infeasible actions allowed).
        method: ``"auto"`` or a solver name (``"value_iteration"``/``"vi"``,
            ``"modified_policy_iteration"``/``"mpi"``, ``"policy_iteration"``/``"pi"``,
            ``"gauss_seidel_value_iteration"``/``"gs"``, ``"linear_programming"``/``"lp"``).
        tol, rtol: accuracy as in :func:`value_iteration` (policy iteration takes neither: it
            is exact up to its evaluation).
        options: passed on to the solver (``device``, ``parallel``, ``max_iterations``, ...).

    Returns:
        The solver's :class:`SolveResult`.
    """
    if not isinstance(method, str) or (method != "auto" and method not in _METHODS):
        raise ValueError(f"method must be 'auto' or one of {sorted(_METHODS)}, got {method!r}")
    if method == "auto":
        method = auto_method(mdp)
        if method == "modified_policy_iteration":
            unknown = set(options) - {"device", "parallel", "max_iterations", "callback", "m"}
            if unknown:
                raise ValueError(f"solve(method='auto') got unexpected options {sorted(unknown)}")
            return _iterate(
                mdp,
                method="modified_policy_iteration",
                m=as_int("m", options.get("m", AUTO_MAX_SWEEPS), minimum=0),
                tol=tol,
                rtol=rtol,
                max_iterations=options.get("max_iterations", 100_000),
                initial_values=None,
                device=options.get("device"),
                parallel=_auto_parallel(mdp, options.get("parallel")),
                callback=options.get("callback"),
                fast=True,
            )
    fn = _METHODS[method]
    if fn is policy_iteration:
        if tol is not None or rtol is not None:
            raise ValueError("policy_iteration takes no tol/rtol (its evaluation is exact)")
        return fn(mdp, **options)
    return fn(mdp, tol=tol, rtol=rtol, **options)


def _auto_parallel(mdp: TabularMDP, parallel: bool | None) -> bool | None:
    """``parallel`` for :func:`solve`: as given, else the parallel kernels only when the problem
    is large (``PARALLEL_MIN_NNZ``) *and* the 1-minute load average leaves a core per numba
    thread idle.  Measured (2-core VM, CSR S = 20000, A = 20, b = 5, gamma 0.9): with both cores
    free the parallel MPI took 18-23 ms against 29-37 ms serial; with another process holding a
    core (load average 5) 71 ms against 29 ms, since a parallel region waits for its slowest
    thread."""
    if parallel is not None:
        return parallel
    if mdp.nnz < PARALLEL_MIN_NNZ:
        return False
    threads = numba.get_num_threads()
    if threads < 2:
        return False
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform: trust the thread count
        return None
    # the calling process itself counts about 1 in the load average
    return load - 1.0 + threads <= (os.cpu_count() or 1) + 0.5


def auto_method(mdp: TabularMDP) -> str:
    """The method ``solve(mdp, method="auto")`` runs.

    Modified policy iteration, on every size, sparsity and discount measured so far
    (``docs/performance.md``, runs 9-12; 2-core VM): on the dense S = 200 and CSR S = 2000 /
    20000 garnets at gamma 0.9, 0.99 and 0.999 (``benchmarks/test_solvers.py``) the MPI of
    :func:`solve` or plain MPI was the fastest of this package's solvers in every cell, value
    iteration 2-9x and policy iteration 3-2000x slower; on the forest problem at S = 10^4 /
    10^5, gamma 0.99, it took 66 / 270 ms against 0.11 / 4.5 s for policy iteration with
    sparse-LU evaluation, and 33 ms against 3.5 s on a CSR garnet with 2 entries per row at
    S = 10^4.  What size, sparsity and load change is how it runs (:func:`solve`): one numba
    call with serial kernels, or the parallel kernels on large problems when a core is idle.
    """
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    return "modified_policy_iteration"
