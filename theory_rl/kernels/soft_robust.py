"""Numba sweep of the soft-robust KL Bellman operator on CSR ``(S*A, S)`` transitions.

``out_v[s] = max_a r[row] + gamma * sigma_row(v)`` with the entropic risk
``sigma_row(v) = -lam_row log sum_k p̄_k exp(-v_k / lam_row)`` (``row = s*A + a``), computed by a
one-pass (online) log-sum-exp: a running maximum ``M`` of ``t_k = -v_k / lam`` and the sum
``acc = sum p̄_k exp(t_k - M)``, rescaled when ``M`` grows, so each stored entry costs one
gather and one ``exp``.  ``actions[s] >= 0`` evaluates that action only.  Serial and
``parallel=True`` variants share the per-state routine (as :mod:`theory_rl.kernels.bellman`).

With one weight ``lam`` for every row (the common case) the exponentials depend on the next
state only: ``w = exp(-(v - min v) / lam)`` is computed once per sweep (``S`` exps, NumPy) and
the ``_shared`` kernels form ``sigma_row = min v - lam log sum_k p̄_k w_k``, a sparse dot product
and one ``log`` per row; a row whose sum falls below ``SHARED_FLOOR`` (underflow of ``w`` when
``(v - min v)/lam`` exceeds about 640 on all its successors) is recomputed by the online rule.

Dtypes: ``indptr`` uint64, ``indices`` uint32, ``data``/``r``/``inv_lam``/``v``/``out_v``
float64, ``actions``/``out_a`` int64, ``gamma`` float.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

__all__: list[str] = []

_ONE = uint64(1)
#: Row sums below this are recomputed with the row's own shift (the shared weights underflowed).
SHARED_FLOOR = 1e-280


@njit(cache=True, inline="always")
def _kl_row(indptr, indices, data, inv_lam, v, row):
    k = indptr[row]
    end = indptr[row + 1]
    m = -np.inf
    acc = 0.0
    while k < end:
        t = -v[indices[k]] * inv_lam[row]
        if t > m:
            acc = acc * np.exp(m - t) + data[k]
            m = t
        else:
            acc += data[k] * np.exp(t - m)
        k += _ONE
    return -(m + np.log(acc)) / inv_lam[row]


@njit(cache=True, inline="always")
def _kl_state(indptr, indices, data, r, gamma, inv_lam, v, actions, s, n_actions, out_v, out_a):
    lo, hi = (actions[s], actions[s] + 1) if actions[s] >= 0 else (0, n_actions)
    best = -np.inf
    best_a = lo
    for a in range(lo, hi):
        row = s * n_actions + a
        q = r[row] + gamma * _kl_row(indptr, indices, data, inv_lam, v, row)
        if q > best:
            best = q
            best_a = a
    out_v[s] = best
    out_a[s] = best_a


@njit(cache=True)
def _csr_kl_sweep_serial(indptr, indices, data, r, gamma, inv_lam, v, actions, out_v, out_a):
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    for s in range(n_states):
        _kl_state(indptr, indices, data, r, gamma, inv_lam, v, actions, s, n_actions, out_v, out_a)


@njit(cache=True, parallel=True)
def _csr_kl_sweep_parallel(indptr, indices, data, r, gamma, inv_lam, v, actions, out_v, out_a):
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    for s in prange(n_states):
        _kl_state(indptr, indices, data, r, gamma, inv_lam, v, actions, s, n_actions, out_v, out_a)


@njit(cache=True, inline="always")
def _shared_state(
    indptr, indices, data, r, gamma, lam, w, vmin, inv_lam, v, actions, s, n_actions, out_v, out_a
):
    lo, hi = (actions[s], actions[s] + 1) if actions[s] >= 0 else (0, n_actions)
    best = -np.inf
    best_a = lo
    for a in range(lo, hi):
        row = s * n_actions + a
        k = indptr[row]
        end = indptr[row + 1]
        acc = 0.0
        while k < end:
            acc += data[k] * w[indices[k]]
            k += _ONE
        if acc > SHARED_FLOOR:
            sigma = vmin - lam * np.log(acc)
        else:
            sigma = _kl_row(indptr, indices, data, inv_lam, v, row)
        q = r[row] + gamma * sigma
        if q > best:
            best = q
            best_a = a
    out_v[s] = best
    out_a[s] = best_a


@njit(cache=True)
def _csr_kl_shared_serial(
    indptr, indices, data, r, gamma, lam, w, vmin, inv_lam, v, actions, out_v, out_a
):
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    for s in range(n_states):
        _shared_state(
            indptr,
            indices,
            data,
            r,
            gamma,
            lam,
            w,
            vmin,
            inv_lam,
            v,
            actions,
            s,
            n_actions,
            out_v,
            out_a,
        )


@njit(cache=True, parallel=True)
def _csr_kl_shared_parallel(
    indptr, indices, data, r, gamma, lam, w, vmin, inv_lam, v, actions, out_v, out_a
):
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    for s in prange(n_states):
        _shared_state(
            indptr,
            indices,
            data,
            r,
            gamma,
            lam,
            w,
            vmin,
            inv_lam,
            v,
            actions,
            s,
            n_actions,
            out_v,
            out_a,
        )


@njit(cache=True, inline="always")
def _kl_row_out(indptr, indices, data, inv_lam, v, row, out_sigma, out_data):
    sigma = _kl_row(indptr, indices, data, inv_lam, v, row)
    # worst row p_k = p̄_k exp(-(v_k - sigma)/lam), normalised again against round-off
    k = indptr[row]
    end = indptr[row + 1]
    total = 0.0
    while k < end:
        p = data[k] * np.exp((sigma - v[indices[k]]) * inv_lam[row])
        out_data[k] = p
        total += p
        k += _ONE
    k = indptr[row]
    while k < end:
        out_data[k] /= total
        k += _ONE
    out_sigma[row] = sigma


@njit(cache=True)
def _csr_kl_rows_serial(indptr, indices, data, inv_lam, v, out_sigma, out_data):
    """Every row's ``sigma`` and worst distribution (the exponential tilt), CSR pattern."""
    for row in range(indptr.shape[0] - 1):
        _kl_row_out(indptr, indices, data, inv_lam, v, row, out_sigma, out_data)


@njit(cache=True, parallel=True)
def _csr_kl_rows_parallel(indptr, indices, data, inv_lam, v, out_sigma, out_data):
    """Parallel variant of :func:`_csr_kl_rows_serial`."""
    for row in prange(indptr.shape[0] - 1):
        _kl_row_out(indptr, indices, data, inv_lam, v, row, out_sigma, out_data)
