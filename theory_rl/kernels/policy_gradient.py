"""Private numba kernels for stochastic policy gradient: batched trajectories with per-row policies.

Every kernel takes a :class:`numpy.random.Generator` (numba advances the same bit generator, so a
seed fixes the output), contiguous ``float64``/``int64`` arrays and plain scalars, and writes into
``out`` arrays; the public wrappers in :mod:`theory_rl.algorithms.stochastic_pg` coerce dtypes, so
each kernel compiles exactly one signature.  Categorical draws use
:func:`theory_rl.kernels.rollouts._draw` on the same CSR representation as
:mod:`theory_rl.kernels.rollouts`:

* transitions ``indptr`` ``(S*A + 1,)``, ``indices`` ``(nnz,)``, ``cum`` ``(nnz,)`` (per-row
  running sums), rewards ``(S*A,)`` flat, ``rho_cum`` ``(S,)``;
* ``m`` policies as ``pi_cum`` ``(m*S*A,)``: policy ``j``, state ``s`` is the segment
  ``[(j*S + s)*A, (j*S + s + 1)*A)``; trajectory ``i`` follows policy ``j = i // per_table``.

A trajectory has ``H = horizon`` steps ``t = 0..H-1``: ``s_0 ~ rho``, ``a_t ~ pi_j(.|s_t)``,
``r_t = r[s_t, a_t]``, ``s_{t+1} ~ P(.|s_t, a_t)`` (``H`` transitions are drawn, the last one
unused by the estimators, so that the stream does not depend on what is accumulated).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from theory_rl.kernels.rollouts import _draw

__all__: list[str] = []

#: Segments up to this length are searched linearly (faster than bisection for the few actions
#: and successors of tabular problems); longer ones by bisection (:func:`_draw`).
_LINEAR = 8


@njit(cache=True)
def _draw_short(cum, lo, hi, u):  # pragma: no cover
    """:func:`theory_rl.kernels.rollouts._draw` (first ``j`` in ``[lo, hi)`` with
    ``cum[j] > u * cum[hi - 1]``), by a linear scan when ``hi - lo <= _LINEAR``."""
    if hi - lo > _LINEAR:
        return _draw(cum, lo, hi, u)
    target = u * cum[hi - 1]
    j = lo
    while j < hi - 1 and cum[j] <= target:
        j += 1
    return j


@njit(cache=True)
def _policy_returns(
    rng, indptr, indices, cum, rewards, rho_cum, pi_cum, n_actions, gamma, horizon, per_table, out
):  # pragma: no cover
    """Truncated discounted returns ``out[i] = sum_{t<H} gamma^t r_t`` ``(n,)`` of trajectory
    ``i`` under policy ``i // per_table`` (module docstring): sampling only, nothing stored."""
    n_states = rho_cum.shape[0]
    first = n_states - n_states  # an int64 zero (a literal 0 would compile a second signature)
    table = n_states * n_actions
    for i in range(out.shape[0]):
        offset = (i // per_table) * table
        s = _draw_short(rho_cum, first, n_states, rng.random())
        total = 0.0
        discount = 1.0
        for _t in range(horizon):
            base = offset + s * n_actions
            a = _draw_short(pi_cum, base, base + n_actions, rng.random()) - base
            row = s * n_actions + a
            total += discount * rewards[row]
            discount *= gamma
            s = indices[_draw_short(cum, indptr[row], indptr[row + 1], rng.random())]
        out[i] = total


@njit(cache=True)
def _score_trajectories(
    rng,
    indptr,
    indices,
    cum,
    rewards,
    rho_cum,
    features,
    pi_cum,
    mean_features,
    hess_v,
    gamma,
    horizon,
    per_table,
    with_hvp,
    block,
    grad_out,
    score_out,
    hess_out,
    return_out,
):  # pragma: no cover
    r"""Sample ``n = grad_out.shape[0]`` trajectories and accumulate the GPOMDP quantities.

    Log-linear policies: ``features`` ``(S*A, d)`` :math:`\phi(s,a)`; policy ``j`` has
    ``mean_features[j, s]`` ``(m, S, d)`` :math:`\bar\phi_j(s) = \sum_b\pi_j(b|s)\phi(s,b)`, so
    the score is :math:`x_t = \phi(s_t,a_t) - \bar\phi_j(s_t)`; when ``with_hvp != 0``,
    ``hess_v[j, s]`` ``(m, S, d)`` is :math:`y_t = \nabla^2\log\pi_j(\cdot|s)\,v_j` (the same
    for every action).  With :math:`w_h = \gamma^hr_h`, :math:`W_t = \sum_{h<t}w_h` and
    :math:`W = W_H`, summing by parts (:math:`\sum_t(\sum_{h\ge t}w_h)x_t = W\sum_tx_t -
    \sum_tW_tx_t`) gives, in one forward pass:

    * ``grad_out[i]`` :math:`= \sum_t G_tx_t` (GPOMDP, :math:`\nabla\Phi`),
    * ``score_out[i]`` :math:`= \sum_t x_t = \nabla\log p(\tau)`,
    * ``hess_out[i]`` :math:`= \sum_t G_ty_t = \nabla^2\Phi\,v` (zero without HVP),
    * ``return_out[i]`` :math:`= W`.

    ``block > 0`` (tabular softmax, one-hot features): :math:`x_t` and :math:`y_t` vanish outside
    the coordinates ``[s_t*block, (s_t+1)*block)``, so only those are touched (O(A) per step
    instead of O(d)); ``block = 0``: dense features.
    """
    n_states = rho_cum.shape[0]
    n_actions = pi_cum.shape[0] // (mean_features.shape[0] * n_states)
    first = n_states - n_states
    d = features.shape[1]
    table = n_states * n_actions
    weighted = np.zeros(d)  # sum_t W_t x_t
    hess_sum = np.zeros(d)  # sum_t y_t
    hess_weighted = np.zeros(d)  # sum_t W_t y_t
    for i in range(grad_out.shape[0]):
        j = i // per_table
        offset = j * table
        for k in range(d):
            score_out[i, k] = 0.0
            weighted[k] = 0.0
            hess_sum[k] = 0.0
            hess_weighted[k] = 0.0
        s = _draw_short(rho_cum, first, n_states, rng.random())
        total = 0.0
        discount = 1.0
        for _t in range(horizon):
            base = offset + s * n_actions
            a = _draw_short(pi_cum, base, base + n_actions, rng.random()) - base
            row = s * n_actions + a
            lo = s * block if block > 0 else first
            hi = lo + block if block > 0 else d
            for k in range(lo, hi):
                x = features[row, k] - mean_features[j, s, k]
                score_out[i, k] += x
                weighted[k] += total * x
            if with_hvp != 0:
                for k in range(lo, hi):
                    y = hess_v[j, s, k]
                    hess_sum[k] += y
                    hess_weighted[k] += total * y
            total += discount * rewards[row]
            discount *= gamma
            s = indices[_draw_short(cum, indptr[row], indptr[row + 1], rng.random())]
        for k in range(d):
            grad_out[i, k] = total * score_out[i, k] - weighted[k]
            hess_out[i, k] = total * hess_sum[k] - hess_weighted[k]
        return_out[i] = total
