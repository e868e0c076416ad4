"""Numba Bellman sweeps over dense ``(S*A, S)`` and CSR ``(S*A, S)`` transitions.

Private kernels: they take contiguous arrays of fixed dtypes and plain float scalars and write
into ``out`` arrays, so each compiles exactly one signature.  Public entry points live in
:mod:`theory_rl.algorithms.dp`, which coerces inputs before calling them.

Dtypes: ``data``/``P2``/``r``/``v``/``out_v`` float64; ``indptr`` uint64 (loop counters
are unsigned too, so no negative-index wraparound code is emitted); ``indices`` uint32
(unsigned 32-bit column indices halve index traffic against int64 and measured 1.6-2x faster
than signed ones on this project's planning machine); ``actions``/``out_a`` int64.

One sweep serves both Bellman operators: ``actions[s] >= 0`` evaluates that action only
(``T_pi v`` for a deterministic policy), ``actions[s] < 0`` maximises over all actions
(``T v``); ``out_a[s]`` receives the action used.  Each sweep has a serial and a
``parallel=True`` variant sharing one per-state routine: parallel kernels lose badly when another
process holds a core, so callers choose.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

__all__: list[str] = []

_ONE = uint64(1)
#: Row dot products may be reassociated (vectorised: AVX gathers for CSR rows, packed FMAs for
#: dense ones); results change in the last bits only.
_FASTMATH = {"reassoc", "contract"}


@njit(cache=True, inline="always", fastmath=_FASTMATH)
def _csr_row_value(indptr, indices, data, r, gamma, v, row):
    """``r[row] + gamma * P[row] @ v`` for CSR ``P``."""
    acc = 0.0
    k = indptr[row]  # uint64: unsigned counters carry no negative-index wraparound code
    end = indptr[row + 1]
    while k < end:
        acc += data[k] * v[indices[k]]
        k += _ONE
    return r[row] + gamma * acc


@njit(cache=True, inline="always", fastmath=_FASTMATH)
def _csr_state(indptr, indices, data, r, gamma, v, actions, s, n_actions, out_v, out_a):
    lo, hi = (actions[s], actions[s] + 1) if actions[s] >= 0 else (0, n_actions)
    best = -np.inf
    best_a = lo
    for a in range(lo, hi):
        q = _csr_row_value(indptr, indices, data, r, gamma, v, s * n_actions + a)
        if q > best:
            best = q
            best_a = a
    out_v[s] = best
    out_a[s] = best_a


@njit(cache=True, fastmath=_FASTMATH)
def _csr_sweep_serial(indptr, indices, data, r, gamma, v, actions, out_v, out_a):
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    for s in range(n_states):
        _csr_state(indptr, indices, data, r, gamma, v, actions, s, n_actions, out_v, out_a)


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def _csr_sweep_parallel(indptr, indices, data, r, gamma, v, actions, out_v, out_a):
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    for s in prange(n_states):
        _csr_state(indptr, indices, data, r, gamma, v, actions, s, n_actions, out_v, out_a)


@njit(cache=True, inline="always", fastmath=_FASTMATH)
def _dense_row_value(P2, r, gamma, v, row):
    """``r[row] + gamma * P2[row] @ v`` for dense ``P2``."""
    acc = 0.0
    for t in range(v.shape[0]):
        acc += P2[row, t] * v[t]
    return r[row] + gamma * acc


@njit(cache=True, inline="always", fastmath=_FASTMATH)
def _dense_state(P2, r, gamma, v, actions, s, n_actions, out_v, out_a):
    lo, hi = (actions[s], actions[s] + 1) if actions[s] >= 0 else (0, n_actions)
    best = -np.inf
    best_a = lo
    for a in range(lo, hi):
        q = _dense_row_value(P2, r, gamma, v, s * n_actions + a)
        if q > best:
            best = q
            best_a = a
    out_v[s] = best
    out_a[s] = best_a


@njit(cache=True, fastmath=_FASTMATH)
def _dense_sweep_serial(P2, r, gamma, v, actions, out_v, out_a):
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    for s in range(n_states):
        _dense_state(P2, r, gamma, v, actions, s, n_actions, out_v, out_a)


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def _dense_sweep_parallel(P2, r, gamma, v, actions, out_v, out_a):
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    for s in prange(n_states):
        _dense_state(P2, r, gamma, v, actions, s, n_actions, out_v, out_a)


@njit(cache=True, inline="always")
def _csr_policy_row_copy(indptr, indices, data, row, p_indptr, p_indices, p_data, s):
    k = indptr[row]
    end = indptr[row + 1]
    j = p_indptr[s]
    while k < end:
        p_indices[j] = indices[k]
        p_data[j] = data[k]
        j += _ONE
        k += _ONE


@njit(cache=True)
def _csr_policy_rows_serial(indptr, indices, data, r, actions, p_indptr, p_indices, p_data, r_pi):
    """Gather rows ``s*A + actions[s]`` into a compact CSR ``P_pi`` ``(S, S)`` and ``r_pi``."""
    n_states = actions.shape[0]
    n_actions = r.shape[0] // n_states
    p_indptr[0] = 0
    for s in range(n_states):
        row = s * n_actions + actions[s]
        p_indptr[s + 1] = p_indptr[s] + (indptr[row + 1] - indptr[row])
        r_pi[s] = r[row]
        _csr_policy_row_copy(indptr, indices, data, row, p_indptr, p_indices, p_data, s)


@njit(cache=True, parallel=True)
def _csr_policy_rows_parallel(indptr, indices, data, r, actions, p_indptr, p_indices, p_data, r_pi):
    n_states = actions.shape[0]
    n_actions = r.shape[0] // n_states
    for s in prange(n_states):  # row lengths, then their prefix sum, then the copies
        row = s * n_actions + actions[s]
        p_indptr[s + 1] = indptr[row + 1] - indptr[row]
        r_pi[s] = r[row]
    p_indptr[0] = 0
    for s in range(n_states):
        p_indptr[s + 1] += p_indptr[s]
    for s in prange(n_states):
        row = s * n_actions + actions[s]
        _csr_policy_row_copy(indptr, indices, data, row, p_indptr, p_indices, p_data, s)


# Policy sweeps ping-pong between ``v`` and ``tmp`` and reduce the increment's min and max in the
# same loop; the result is copied back into ``v`` when it ends in ``tmp``.
@njit(cache=True, fastmath=_FASTMATH)
def _csr_policy_sweeps_serial(p_indptr, p_indices, p_data, r_pi, gamma, n_sweeps, span_tol, v, tmp):
    """``v <- T_pi^j v`` in place, Jacobi sweeps; stops after ``j <= n_sweeps`` sweeps, as soon
    as an increment has span ``<= span_tol``; returns ``j`` (``tmp``: scratch ``(S,)``)."""
    src, dst = v, tmp
    done = 0
    while done < n_sweeps:
        lo, hi = np.inf, -np.inf
        for s in range(v.shape[0]):
            x = _csr_row_value(p_indptr, p_indices, p_data, r_pi, gamma, src, s)
            lo = min(lo, x - src[s])
            hi = max(hi, x - src[s])
            dst[s] = x
        src, dst = dst, src
        done += 1
        if hi - lo <= span_tol:
            break
    if done % 2 == 1:
        v[:] = tmp
    return done


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def _csr_policy_sweeps_parallel(
    p_indptr, p_indices, p_data, r_pi, gamma, n_sweeps, span_tol, v, tmp
):
    src, dst = v, tmp
    done = 0
    while done < n_sweeps:
        lo, hi = np.inf, -np.inf
        for s in prange(v.shape[0]):
            x = _csr_row_value(p_indptr, p_indices, p_data, r_pi, gamma, src, s)
            lo = min(lo, x - src[s])
            hi = max(hi, x - src[s])
            dst[s] = x
        src, dst = dst, src
        done += 1
        if hi - lo <= span_tol:
            break
    if done % 2 == 1:
        v[:] = tmp
    return done


@njit(cache=True, fastmath=_FASTMATH)
def _dense_policy_sweeps_serial(P2, r, gamma, actions, n_sweeps, span_tol, v, tmp):
    n_actions = r.shape[0] // v.shape[0]
    src, dst = v, tmp
    done = 0
    while done < n_sweeps:
        lo, hi = np.inf, -np.inf
        for s in range(v.shape[0]):
            x = _dense_row_value(P2, r, gamma, src, s * n_actions + actions[s])
            lo = min(lo, x - src[s])
            hi = max(hi, x - src[s])
            dst[s] = x
        src, dst = dst, src
        done += 1
        if hi - lo <= span_tol:
            break
    if done % 2 == 1:
        v[:] = tmp
    return done


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def _dense_policy_sweeps_parallel(P2, r, gamma, actions, n_sweeps, span_tol, v, tmp):
    n_actions = r.shape[0] // v.shape[0]
    src, dst = v, tmp
    done = 0
    while done < n_sweeps:
        lo, hi = np.inf, -np.inf
        for s in prange(v.shape[0]):
            x = _dense_row_value(P2, r, gamma, src, s * n_actions + actions[s])
            lo = min(lo, x - src[s])
            hi = max(hi, x - src[s])
            dst[s] = x
        src, dst = dst, src
        done += 1
        if hi - lo <= span_tol:
            break
    if done % 2 == 1:
        v[:] = tmp
    return done


@njit(cache=True, fastmath=_FASTMATH)
def _csr_q_serial(indptr, indices, data, r, gamma, v, out_q):
    """``out_q[row] = r[row] + gamma * P[row] @ v`` for every row ``(S*A,)``."""
    for row in range(r.shape[0]):
        out_q[row] = _csr_row_value(indptr, indices, data, r, gamma, v, row)


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def _csr_q_parallel(indptr, indices, data, r, gamma, v, out_q):
    for row in prange(r.shape[0]):
        out_q[row] = _csr_row_value(indptr, indices, data, r, gamma, v, row)


@njit(cache=True, fastmath=_FASTMATH)
def _dense_q_sweep_serial(P2, r, gamma, v, out_q, out_v, out_a):
    """One pass over dense ``P2``: ``out_q = r + gamma * P2 @ v`` ``(S*A,)`` together with
    ``out_v = T v`` and the greedy ``out_a`` (lowest index among the maximisers)."""
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    for s in range(n_states):
        best = -np.inf
        best_a = 0
        for a in range(n_actions):
            row = s * n_actions + a
            q = _dense_row_value(P2, r, gamma, v, row)
            out_q[row] = q
            if q > best:
                best = q
                best_a = a
        out_v[s] = best
        out_a[s] = best_a


@njit(cache=True, fastmath=_FASTMATH)
def _dense_mpi_serial(
    P2, r, gamma, n_sweeps, stop_span, inner_tol, inner_fraction, v, tmp, out_q, out_a, hist
):
    """Modified policy iteration on dense ``P2`` in one call (``solve(method="auto")``).

    Iteration ``k``: one pass forms ``q = r + gamma P2 v`` ``(S*A,)``, the greedy ``out_a``
    and the extremes of ``Delta = T v - v`` (``hist[k] = (min, max, sweeps)``); it stops when
    ``max - min <= stop_span`` (``v`` is then the iterate whose ``q`` is ``out_q``) and
    otherwise sets ``v <- T v`` followed by up to ``n_sweeps`` sweeps of ``T_a`` that end once
    an increment has span ``<= max(inner_tol, inner_fraction * (max - min))``.  Runs at most
    ``hist.shape[0]`` iterations; returns the number run (``tmp``: scratch ``(S,)``)."""
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    for k in range(hist.shape[0]):
        lo, hi = np.inf, -np.inf
        for s in range(n_states):
            best = -np.inf
            best_a = 0
            for a in range(n_actions):
                row = s * n_actions + a
                q = _dense_row_value(P2, r, gamma, v, row)
                out_q[row] = q
                if q > best:
                    best = q
                    best_a = a
            tmp[s] = best
            out_a[s] = best_a
            lo = min(lo, best - v[s])
            hi = max(hi, best - v[s])
        hist[k, 0] = lo
        hist[k, 1] = hi
        hist[k, 2] = 0.0
        if hi - lo <= stop_span:
            return k + 1
        tol_k = max(inner_tol, inner_fraction * (hi - lo))
        src, dst = tmp, v
        done = 0
        while done < n_sweeps:
            lo, hi = np.inf, -np.inf
            for s in range(n_states):
                x = _dense_row_value(P2, r, gamma, src, s * n_actions + out_a[s])
                lo = min(lo, x - src[s])
                hi = max(hi, x - src[s])
                dst[s] = x
            src, dst = dst, src
            done += 1
            if hi - lo <= tol_k:
                break
        hist[k, 2] = done
        if done % 2 == 0:  # the last iterate is in tmp
            v[:] = tmp
    return hist.shape[0]


@njit(cache=True, fastmath=_FASTMATH)
def _csr_mpi_serial(
    indptr,
    indices,
    data,
    r,
    gamma,
    n_sweeps,
    stop_span,
    inner_tol,
    inner_fraction,
    v,
    tmp,
    out_q,
    out_a,
    p_indptr,
    p_indices,
    p_data,
    r_pi,
    hist,
):
    """:func:`_dense_mpi_serial` on CSR ``P`` ``(S*A, S)``: the greedy pass writes ``q``, the
    greedy actions and the extremes of ``T v - v``; the rows of the greedy actions are then
    gathered into the compact CSR ``P_pi`` (``p_indptr``, ``p_indices``, ``p_data``, ``r_pi``:
    buffers of at least ``S + 1``, ``nnz(P_pi)`` and ``S`` entries) for the partial
    evaluation.  Returns the number of iterations run (at most ``hist.shape[0]``)."""
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    for k in range(hist.shape[0]):
        lo, hi = np.inf, -np.inf
        p_indptr[0] = 0
        for row in range(r.shape[0]):  # a flat loop over rows first: measured ~10% faster
            out_q[row] = _csr_row_value(indptr, indices, data, r, gamma, v, row)
        for s in range(n_states):
            best = -np.inf
            best_a = 0
            for a in range(n_actions):
                q = out_q[s * n_actions + a]
                if q > best:
                    best = q
                    best_a = a
            tmp[s] = best
            out_a[s] = best_a
            lo = min(lo, best - v[s])
            hi = max(hi, best - v[s])
        hist[k, 0] = lo
        hist[k, 1] = hi
        hist[k, 2] = 0.0
        if hi - lo <= stop_span:
            return k + 1
        tol_k = max(inner_tol, inner_fraction * (hi - lo))
        if n_sweeps > 0:
            for s in range(n_states):
                row = s * n_actions + out_a[s]
                p_indptr[s + 1] = p_indptr[s] + (indptr[row + 1] - indptr[row])
                r_pi[s] = r[row]
                _csr_policy_row_copy(indptr, indices, data, row, p_indptr, p_indices, p_data, s)
        src, dst = tmp, v
        done = 0
        while done < n_sweeps:
            lo, hi = np.inf, -np.inf
            for s in range(n_states):
                x = _csr_row_value(p_indptr, p_indices, p_data, r_pi, gamma, src, s)
                lo = min(lo, x - src[s])
                hi = max(hi, x - src[s])
                dst[s] = x
            src, dst = dst, src
            done += 1
            if hi - lo <= tol_k:
                break
        hist[k, 2] = done
        if done % 2 == 0:
            v[:] = tmp
    return hist.shape[0]
