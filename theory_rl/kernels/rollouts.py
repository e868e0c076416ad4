"""Private numba kernels for sampling from a tabular MDP (generative model, rollouts, episodes).

Every kernel takes a :class:`numpy.random.Generator` (numba advances the same bit generator, so
a seed fixes the output), contiguous ``float64``/``int64`` arrays and plain scalars, and writes
into ``out`` arrays.  The public wrappers in :mod:`theory_rl.algorithms.sampling` coerce dtypes,
so each kernel compiles exactly one signature.

Representation.  Every categorical law is a segment ``cum[lo:hi]`` of a cumulative-sum array:

* transitions as CSR rows ``row = s * A + a``: ``indptr`` ``(S*A + 1,)`` int64, ``indices``
  ``(nnz,)`` int64 next states, ``cum`` ``(nnz,)`` float64 running sums of the row's
  probabilities (restarting at every row);
* a policy ``(S, A)`` as ``pi_cum`` ``(S*A,)``: row ``s`` is ``cum(pi[s])`` at ``[s*A, (s+1)*A)``;
* an initial distribution as ``rho_cum`` ``(S,)``.

A draw is ``u = U[0, 1) * cum[hi - 1]`` followed by the first ``j`` with ``cum[j] > u``
(inverse CDF by bisection; the row total replaces 1 so rounding in the row sum cannot select
past the row, and zero-probability entries are never selected).
"""

from __future__ import annotations

from numba import njit

__all__: list[str] = []


@njit(cache=True)
def _draw(cum, lo, hi, u):  # pragma: no cover
    """First ``j`` in ``[lo, hi)`` with ``cum[j] > u * cum[hi - 1]`` (``u`` in ``[0, 1)``)."""
    target = u * cum[hi - 1]
    left = lo
    right = hi - 1
    while left < right:
        mid = (left + right) // 2
        if cum[mid] > target:
            right = mid
        else:
            left = mid + 1
    return left


@njit(cache=True)
def _next_states(rng, indptr, indices, cum, n_samples, out):  # pragma: no cover
    """Generative model: ``out[row, i]`` ``(S*A, n)`` is the ``i``-th draw from ``P[row]``."""
    n_rows = indptr.shape[0] - 1
    for row in range(n_rows):
        lo = indptr[row]
        hi = indptr[row + 1]
        for i in range(n_samples):
            out[row, i] = indices[_draw(cum, lo, hi, rng.random())]


@njit(cache=True)
def _rollout_returns(
    rng, indptr, indices, cum, rewards, pi_cum, n_actions, gamma, horizon, out
):  # pragma: no cover
    """Truncated discounted returns from every pair: ``out[row, i]`` ``(S*A, n)``.

    Rollout ``i`` from ``row = s*A + a``: ``s_0 = s, a_0 = a``, ``a_t ~ pi(.|s_t)`` for
    ``t >= 1``, ``s_{t+1} ~ P(.|s_t, a_t)``; the return is ``sum_{t<H} gamma^t r[s_t, a_t]``
    (``rewards`` flat ``(S*A,)``).  ``H - 1`` transitions are drawn per rollout.
    """
    n_rows = indptr.shape[0] - 1
    n_rollouts = out.shape[1]
    for row in range(n_rows):
        for i in range(n_rollouts):
            r_row = row
            total = rewards[r_row]
            discount = 1.0
            for _t in range(1, horizon):
                s = indices[_draw(cum, indptr[r_row], indptr[r_row + 1], rng.random())]
                base = s * n_actions
                a = _draw(pi_cum, base, base + n_actions, rng.random()) - base
                r_row = base + a
                discount *= gamma
                total += discount * rewards[r_row]
            out[row, i] = total


@njit(cache=True)
def _episodes(
    rng,
    indptr,
    indices,
    cum,
    rewards,
    pi_cum,
    rho_cum,
    n_actions,
    states_out,
    actions_out,
    rewards_out,
):  # pragma: no cover
    """Episodes of ``H = actions_out.shape[1]`` steps: ``s_0 ~ rho``, ``a_t ~ pi(.|s_t)``,
    ``r_t = r[s_t, a_t]``, ``s_{t+1} ~ P(.|s_t, a_t)``; writes ``(n, H+1)``, ``(n, H)``,
    ``(n, H)``."""
    n_states = rho_cum.shape[0]
    first = n_states - n_states  # an int64 zero (a literal 0 would compile a second signature)
    n_episodes = actions_out.shape[0]
    horizon = actions_out.shape[1]
    for i in range(n_episodes):
        s = _draw(rho_cum, first, n_states, rng.random())
        states_out[i, 0] = s
        for t in range(horizon):
            base = s * n_actions
            a = _draw(pi_cum, base, base + n_actions, rng.random()) - base
            row = base + a
            actions_out[i, t] = a
            rewards_out[i, t] = rewards[row]
            s = indices[_draw(cum, indptr[row], indptr[row + 1], rng.random())]
            states_out[i, t + 1] = s
