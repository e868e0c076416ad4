"""Numba sweeps of the projected distributional Bellman operators (categorical and quantile).

Private kernels: contiguous float64/int64 arrays and plain float scalars in, ``out`` arrays
written; the public wrappers in :mod:`theory_rl.algorithms.distributional` coerce dtypes, so
each kernel compiles one signature.

Transition outcomes come in two layouts:

* **CSR outcomes** (row ``s*A + a`` holds entries ``indptr[row]:indptr[row+1]``): next state
  ``nxt[e]`` (int64), reward ``rew[e]`` and probability ``prob[e]`` of one outcome
  ``(s', r)`` of ``(s, a)``.  Built from CSR transitions, from dense ones (zeros dropped), from
  ``r(s, a, s')`` and from a per-``(s, a)`` reward law alike.
* **dense**: ``P[s, a, s']`` and ``r3[s, a, s']`` of shape ``(S, A, S)``.

Categorical (support ``theta_i = theta0 + i * spacing``, ``i < M``): a target atom ``y`` has
position ``u = clip((y - theta0) / spacing, 0, M - 1)``; its mass goes to ``floor(u)`` with
weight ``1 - frac(u)`` and to ``floor(u) + 1`` with weight ``frac(u)``.  This is the kernel form
``h_j(y) = (1 - |u - j|)_+``: at an integer position all the mass stays on that atom (the
floor/ceil formulation with ``l == u`` drops it).  A row whose outcomes share one reward is
swept mixture-first (mix the next-state laws, then project ``m`` atoms once): same result,
``b`` times fewer projections.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__: list[str] = []


#: Mixture sums may be reassociated (vectorised); results change in the last bits only.
_FASTMATH = {"reassoc", "contract"}


@njit(cache=True, inline="always")
def _scatter_u(out, s, u, q, n_atoms):  # pragma: no cover
    """Add mass ``q`` at position ``u`` (in atoms from ``theta0``) in kernel form."""
    if u <= 0.0:
        out[s, 0] += q
    elif u >= n_atoms - 1:
        out[s, n_atoms - 1] += q
    else:
        lo = np.int64(u)  # floor: 0 < u < n_atoms - 1, so lo + 1 <= n_atoms - 1
        frac = u - lo
        out[s, lo] += q - q * frac  # frac = 0 (an atom on a support point): all mass here
        out[s, lo + 1] += q * frac


@njit(cache=True, inline="always")
def _scatter(out, s, y, q, theta0, spacing, n_atoms):  # pragma: no cover
    _scatter_u(out, s, (y - theta0) / spacing, q, n_atoms)


@njit(cache=True, fastmath=_FASTMATH)
def _categorical_sweep_csr(
    indptr, nxt, rew, prob, pi, probs, theta0, spacing, gamma, mix, out
):  # pragma: no cover
    """``out = Pi_C T^pi probs`` over CSR outcomes; ``mix`` is an ``(M,)`` scratch array."""
    n_states, n_actions = pi.shape
    n_atoms = probs.shape[1]
    for s in range(n_states):
        for j in range(n_atoms):
            out[s, j] = 0.0
        for a in range(n_actions):
            w_a = pi[s, a]
            if w_a == 0.0:
                continue
            row = s * n_actions + a
            start, end = indptr[row], indptr[row + 1]
            same = True
            for e in range(start + 1, end):
                if rew[e] != rew[start]:
                    same = False
                    break
            if same:
                for i in range(n_atoms):
                    mix[i] = 0.0
                for e in range(start, end):
                    w = prob[e]
                    t = nxt[e]
                    for i in range(n_atoms):
                        mix[i] += w * probs[t, i]
                # position of r + gamma theta_i: u0 + gamma i (no division per atom)
                u0 = (rew[start] + gamma * theta0 - theta0) / spacing
                for i in range(n_atoms):
                    _scatter_u(out, s, u0 + gamma * i, w_a * mix[i], n_atoms)
            else:
                for e in range(start, end):
                    w = w_a * prob[e]
                    t = nxt[e]
                    r = rew[e]
                    for i in range(n_atoms):
                        q = w * probs[t, i]
                        if q != 0.0:
                            y = r + gamma * (theta0 + i * spacing)
                            _scatter(out, s, y, q, theta0, spacing, n_atoms)


@njit(cache=True)
def _categorical_sweep_dense(P, r3, pi, probs, theta0, spacing, gamma, out):  # pragma: no cover
    """``out = Pi_C T^pi probs`` for dense ``P``, ``r3`` ``(S, A, S)``."""
    n_states, n_actions = pi.shape
    n_atoms = probs.shape[1]
    for s in range(n_states):
        for j in range(n_atoms):
            out[s, j] = 0.0
        for a in range(n_actions):
            w_a = pi[s, a]
            if w_a == 0.0:
                continue
            for t in range(n_states):
                w = w_a * P[s, a, t]
                if w == 0.0:
                    continue
                r = r3[s, a, t]
                for i in range(n_atoms):
                    q = w * probs[t, i]
                    if q != 0.0:
                        y = r + gamma * (theta0 + i * spacing)
                        _scatter(out, s, y, q, theta0, spacing, n_atoms)


@njit(cache=True)
def _quantile_sweep_csr(
    indptr, nxt, rew, prob, pi, atoms, taus, tie_tol, gamma, ys, ws, out
):  # pragma: no cover
    """``out = Pi_Q T^pi atoms`` over CSR outcomes.

    Per state: the mixture's atoms ``r + gamma * atoms[s', j]`` with weights
    ``pi(a|s) p(s', r|s, a) / M`` are collected in the scratch arrays ``ys``/``ws`` (length at
    least the largest number of outcomes of a state times ``M``), sorted, and read at each
    ``taus[i]``: the first atom whose cumulative weight reaches ``taus[i] - tie_tol``
    (``F^{-1}(tau) = inf{x : F(x) >= tau}``, a cumulative weight within ``tie_tol`` below
    ``tau`` counting as reaching it).
    """
    n_states, n_actions = pi.shape
    n_atoms = atoms.shape[1]
    n_out = taus.shape[0]
    inv = 1.0 / n_atoms
    for s in range(n_states):
        n = 0
        for a in range(n_actions):
            w_a = pi[s, a]
            if w_a == 0.0:
                continue
            row = s * n_actions + a
            for e in range(indptr[row], indptr[row + 1]):
                w = w_a * prob[e] * inv
                if w == 0.0:
                    continue
                t = nxt[e]
                r = rew[e]
                for j in range(n_atoms):
                    ys[n] = r + gamma * atoms[t, j]
                    ws[n] = w
                    n += 1
        order = np.argsort(ys[:n], kind="mergesort")
        cum = 0.0
        k = 0
        for i in range(n_out):
            target = taus[i] - tie_tol
            while k < n - 1 and cum + ws[order[k]] < target:
                cum += ws[order[k]]
                k += 1
            out[s, i] = ys[order[k]]


@njit(cache=True)
def _stock_q_csr(
    indptr, nxt, rew, prob, grid, U, lo_slope, lo_icpt, hi_slope, hi_icpt, gamma, gk, out
):  # pragma: no cover
    """``out[row, i] = gk * sum_e prob[e] * U~(nxt[e], (grid[i] + rew[e]) / gamma)``.

    ``U~(s, c)``: linear interpolation of ``U[s]`` on ``grid`` inside it, the closed forms
    ``lo_slope * c + lo_icpt[s]`` below and ``hi_slope * c + hi_icpt[s]`` above.  The next stock
    increases with ``i``, so the interpolation cell is found by a forward walk (O(C) per
    outcome).
    """
    n_rows = indptr.shape[0] - 1
    n_c = grid.shape[0]
    g0, g1 = grid[0], grid[n_c - 1]
    inv_width = np.empty(n_c - 1)
    for j in range(n_c - 1):
        inv_width[j] = 1.0 / (grid[j + 1] - grid[j])
    for row in range(n_rows):
        for i in range(n_c):
            out[row, i] = 0.0
        for e in range(indptr[row], indptr[row + 1]):
            t = nxt[e]
            r = rew[e]
            w = prob[e]
            j = 0
            for i in range(n_c):
                cn = (grid[i] + r) / gamma  # as the generic path: the same cells and tails
                if cn < g0:
                    v = lo_slope * cn + lo_icpt[t]
                elif cn > g1:
                    v = hi_slope * cn + hi_icpt[t]
                else:
                    while j < n_c - 2 and grid[j + 1] <= cn:
                        j += 1
                    x = (cn - grid[j]) * inv_width[j]
                    x = min(max(x, 0.0), 1.0)
                    v = (1.0 - x) * U[t, j] + x * U[t, j + 1]
                out[row, i] += w * v
        for i in range(n_c):
            out[row, i] *= gk


@njit(cache=True)
def _stock_categorical_sweep(
    indptr,
    nxt,
    rew,
    prob,
    grid,
    laws,
    tail_lo,
    tail_hi,
    theta0,
    spacing,
    gamma,
    fvals,
    tmp,
    out_laws,
    out_k,
    out_act,
):  # pragma: no cover
    """One stock-augmented DVI sweep on categorical laws of the return-to-go ``G``.

    ``laws[s, i]`` ``(M,)`` is the law of ``G`` at ``(s, grid[i])`` on the support
    ``theta0 + spacing * k``.  For every ``(s, i)`` and action ``a``: the target law
    ``sum_e prob[e] (rew[e] + gamma .)_# law(nxt[e], (grid[i] + rew[e]) / gamma)`` (the next
    stock's law a mixture of its two grid neighbours, or ``tail_lo`` / ``tail_hi`` of the next
    state off the grid), projected in kernel form into ``tmp`` (``(1, M)``); its objective
    ``sum_k tmp[k] fvals[i, k]`` (``fvals[i, k] = f(grid[i] + theta_k)``); the first action with
    the largest objective is kept: ``out_laws[s, i]``, ``out_k[s, i]``, ``out_act[s, i]``.
    """
    n_rows = indptr.shape[0] - 1
    n_c = grid.shape[0]
    n_atoms = laws.shape[2]
    n_states = laws.shape[0]
    n_actions = n_rows // n_states
    g0, g1 = grid[0], grid[n_c - 1]
    for s in range(n_states):
        for i in range(n_c):
            best = -np.inf
            for a in range(n_actions):
                row = s * n_actions + a
                for k in range(n_atoms):
                    tmp[0, k] = 0.0
                for e in range(indptr[row], indptr[row + 1]):
                    t = nxt[e]
                    r = rew[e]
                    w = prob[e]
                    cn = (grid[i] + r) / gamma
                    u0 = (r + gamma * theta0 - theta0) / spacing
                    if cn < g0 or cn > g1:
                        for k in range(n_atoms):
                            src = tail_lo[t, k] if cn < g0 else tail_hi[t, k]
                            _scatter_u(tmp, 0, u0 + gamma * k, w * src, n_atoms)
                    else:
                        j = 0
                        while j < n_c - 2 and grid[j + 1] <= cn:
                            j += 1
                        x = (cn - grid[j]) / (grid[j + 1] - grid[j])
                        x = min(max(x, 0.0), 1.0)
                        for k in range(n_atoms):
                            src = (1.0 - x) * laws[t, j, k] + x * laws[t, j + 1, k]
                            _scatter_u(tmp, 0, u0 + gamma * k, w * src, n_atoms)
                val = 0.0
                for k in range(n_atoms):
                    val += tmp[0, k] * fvals[i, k]
                if val > best:
                    best = val
                    out_act[s, i] = a
                    for k in range(n_atoms):
                        out_laws[s, i, k] = tmp[0, k]
            out_k[s, i] = best


@njit(cache=True)
def _stock_quantile_q(
    indptr, nxt, rew, prob, grid, atoms, tail_lo, tail_hi, taus, tie_tol, gamma, ys, ws, out
):  # pragma: no cover
    """Projected action laws of a stock-augmented DVI sweep on ``M``-quantile laws of ``G``.

    ``atoms[s, i]`` ``(M,)`` are the quantile atoms (weights ``1/M``) of the return-to-go at
    ``(s, grid[i])``.  For every row ``s*A + a`` and stock ``i``: the target law
    ``sum_e prob[e] (rew[e] + gamma .)_# law(nxt[e], (grid[i] + rew[e]) / gamma)``, the next
    stock's law the mixture ``(1 - x) law(j) + x law(j + 1)`` of its grid neighbours (``tail_lo``
    / ``tail_hi`` of the next state off the grid), is collected in the scratch arrays ``ys`` /
    ``ws`` (length at least twice the largest row length times ``M``), sorted, and read at each
    ``taus[k]`` with the tie convention of :func:`_quantile_sweep_csr`:
    ``out[row, i, k] = F^{-1}(taus[k])``.
    """
    n_rows = indptr.shape[0] - 1
    n_c = grid.shape[0]
    n_atoms = atoms.shape[2]
    n_out = taus.shape[0]
    inv = 1.0 / n_atoms
    g0, g1 = grid[0], grid[n_c - 1]
    for row in range(n_rows):
        for i in range(n_c):
            n = 0
            for e in range(indptr[row], indptr[row + 1]):
                t = nxt[e]
                r = rew[e]
                w = prob[e] * inv
                cn = (grid[i] + r) / gamma
                if cn < g0 or cn > g1:
                    for k in range(n_atoms):
                        ys[n] = r + gamma * (tail_lo[t, k] if cn < g0 else tail_hi[t, k])
                        ws[n] = w
                        n += 1
                else:
                    j = 0
                    while j < n_c - 2 and grid[j + 1] <= cn:
                        j += 1
                    x = (cn - grid[j]) / (grid[j + 1] - grid[j])
                    x = min(max(x, 0.0), 1.0)
                    for k in range(n_atoms):
                        ys[n] = r + gamma * atoms[t, j, k]
                        ws[n] = w * (1.0 - x)
                        n += 1
                        ys[n] = r + gamma * atoms[t, j + 1, k]
                        ws[n] = w * x
                        n += 1
            order = np.argsort(ys[:n], kind="mergesort")
            cum = 0.0
            m = 0
            for k in range(n_out):
                target = taus[k] - tie_tol
                while m < n - 1 and cum + ws[order[m]] < target:
                    cum += ws[order[m]]
                    m += 1
                out[row, i, k] = ys[order[m]]
