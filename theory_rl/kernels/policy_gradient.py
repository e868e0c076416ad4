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
        s = _draw(rho_cum, first, n_states, rng.random())
        total = 0.0
        discount = 1.0
        for _t in range(horizon):
            base = offset + s * n_actions
            a = _draw(pi_cum, base, base + n_actions, rng.random()) - base
            row = s * n_actions + a
            total += discount * rewards[row]
            discount *= gamma
            s = indices[_draw(cum, indptr[row], indptr[row + 1], rng.random())]
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
    grad_out,
    score_out,
    hess_out,
    return_out,
):  # pragma: no cover
    r"""Sample ``n = grad_out.shape[0]`` trajectories and accumulate the GPOMDP quantities.

    Log-linear policies: ``features`` ``(S*A, d)`` :math:`\phi(s,a)`; policy ``j`` has
    ``mean_features[j, s]`` ``(m, S, d)`` :math:`\bar\phi_j(s) = \sum_b\pi_j(b|s)\phi(s,b)`, so
    the score is :math:`x_t = \phi(s_t,a_t) - \bar\phi_j(s_t)`; when ``with_hvp != 0``,
    ``hess_v[j, s]`` ``(m, S, d)`` is :math:`\nabla^2\log\pi_j(\cdot|s)\,v_j` (the same for every
    action).  With :math:`c_h = \sum_{t\le h} x_t` and :math:`u_h = \sum_{t\le h}
    \nabla^2\log\pi(a_t|s_t)v`, summing by parts (:math:`\sum_t G_t x_t = \sum_h \gamma^h r_h
    c_h`, :math:`G_t = \sum_{h\ge t}\gamma^h r_h`) gives, in one forward pass:

    * ``grad_out[i]`` :math:`= \sum_h \gamma^h r_h c_h` (GPOMDP, :math:`\nabla\Phi`),
    * ``score_out[i]`` :math:`= c_{H-1} = \nabla\log p(\tau)`,
    * ``hess_out[i]`` :math:`= \sum_h \gamma^h r_h u_h = \nabla^2\Phi\,v` (zero without HVP),
    * ``return_out[i]`` :math:`= \sum_h \gamma^h r_h`.
    """
    n_states = rho_cum.shape[0]
    n_actions = pi_cum.shape[0] // (mean_features.shape[0] * n_states)
    first = n_states - n_states
    d = features.shape[1]
    table = n_states * n_actions
    u = np.zeros(d)
    for i in range(grad_out.shape[0]):
        j = i // per_table
        offset = j * table
        for k in range(d):
            grad_out[i, k] = 0.0
            score_out[i, k] = 0.0
            hess_out[i, k] = 0.0
            u[k] = 0.0
        s = _draw(rho_cum, first, n_states, rng.random())
        total = 0.0
        discount = 1.0
        for _t in range(horizon):
            base = offset + s * n_actions
            a = _draw(pi_cum, base, base + n_actions, rng.random()) - base
            row = s * n_actions + a
            weight = discount * rewards[row]
            total += weight
            for k in range(d):
                score_out[i, k] += features[row, k] - mean_features[j, s, k]
                grad_out[i, k] += weight * score_out[i, k]
            if with_hvp != 0:
                for k in range(d):
                    u[k] += hess_v[j, s, k]
                    hess_out[i, k] += weight * u[k]
            discount *= gamma
            s = indices[_draw(cum, indptr[row], indptr[row + 1], rng.random())]
        return_out[i] = total
