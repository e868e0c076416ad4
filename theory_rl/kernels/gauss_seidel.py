"""Numba in-place (Gauss--Seidel) Bellman sweeps over dense and CSR ``(S*A, S)`` transitions.

Private kernels with the conventions of :mod:`theory_rl.kernels.bellman`: contiguous float64
``P2``/``data``/``r``/``v``, uint64 ``indptr``, uint32 ``indices``, int64 ``order``/``out_a``,
a float64 ``stats`` ``(2,)`` output, so each kernel compiles exactly one signature.

One sweep visits the states in ``order`` and overwrites ``v[s]`` with
``max_a r(s, a) + gamma * P(s, a) @ v`` *at once*, so later states of the same sweep read the
new values of earlier ones.  ``stats`` receives the smallest and largest increment
``v_new[s] - v_old[s]`` of the sweep; ``out_a[s]`` the maximising action.  Serial by nature.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from theory_rl.kernels.bellman import _csr_row_value, _dense_row_value

__all__: list[str] = []


@njit(cache=True)
def _dense_gs_sweep(P2, r, gamma, order, v, out_a, stats):
    """One in-place sweep ``v <- G v`` over dense ``P2`` ``(S*A, S)``."""
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    lo, hi = np.inf, -np.inf
    for i in range(n_states):
        s = order[i]
        best = -np.inf
        best_a = 0
        for a in range(n_actions):
            q = _dense_row_value(P2, r, gamma, v, s * n_actions + a)
            if q > best:
                best = q
                best_a = a
        d = best - v[s]
        lo = min(lo, d)
        hi = max(hi, d)
        v[s] = best
        out_a[s] = best_a
    stats[0] = lo
    stats[1] = hi


@njit(cache=True)
def _csr_gs_sweep(indptr, indices, data, r, gamma, order, v, out_a, stats):
    """One in-place sweep ``v <- G v`` over CSR ``P`` ``(S*A, S)``."""
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    lo, hi = np.inf, -np.inf
    for i in range(n_states):
        s = order[i]
        best = -np.inf
        best_a = 0
        for a in range(n_actions):
            q = _csr_row_value(indptr, indices, data, r, gamma, v, s * n_actions + a)
            if q > best:
                best = q
                best_a = a
        d = best - v[s]
        lo = min(lo, d)
        hi = max(hi, d)
        v[s] = best
        out_a[s] = best_a
    stats[0] = lo
    stats[1] = hi
