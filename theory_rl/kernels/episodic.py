"""Private numba kernels for episodic exploration: whole episodes, batched over seeds.

Used by :mod:`theory_rl.algorithms.exploration` (UCBVI, LSVI-UCB, synchronous Q-learning) and
:mod:`theory_rl.algorithms.actor_critic` (the optimistic actor-critic and its variants), whose
public wrappers coerce dtypes so that each kernel compiles one signature.  No Python runs per
step: a call plays a block of episodes for every seed of the batch.

Representation (all C-contiguous ``int64`` / ``float64``):

* the true finite-horizon model as CSR rows ``row = (h*S + s)*A + a`` (``H*S*A`` rows):
  ``indptr`` ``(H*S*A + 1,)``, ``indices`` ``(nnz,)`` next states, ``prob`` ``(nnz,)`` their
  probabilities and ``cum`` ``(nnz,)`` running sums restarting at each row; ``rewards``
  ``(H, S, A)`` in ``[0, 1]``; ``rho`` and ``rho_cum`` ``(S,)``;
* randomness as pre-drawn uniforms ``uniforms[b, e, :]`` ``(B, E, 2H + 1)`` from seed ``b``'s
  own Generator: ``[0]`` draws ``s_0``, ``[1 + 2h]`` the action and ``[2 + 2h]`` the next state
  of step ``h`` (a greedy policy ignores its action uniform), so a run's numbers do not depend
  on the other seeds of the batch and a plain-Python loop over the same uniforms reproduces
  them exactly;
* data as sufficient statistics per seed: visit counts ``counts[b, h, s, a]``, next-state
  counts ``next_counts[b, h, s, a, s']`` and reward sums ``reward_sums[b, h, s, a]`` (offline
  trajectories are added to them before the first call);
* ``status[b] = (switches, pending)``: critic recomputations after the first, and whether one
  is due before the next episode.

A categorical draw is :func:`theory_rl.kernels.rollouts._draw`: the first ``j`` with
``cum[j] > u * cum[hi - 1]`` (inverse CDF; the row total replaces 1 so rounding cannot select
past the row).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from theory_rl.kernels.rollouts import _draw

__all__: list[str] = []

#: ``mode``: replan every episode and act greedily (UCBVI, LSVI-UCB) ...
MODE_GREEDY = 0
#: ... or replan at switch times only and act with the Hedge actor (the actor-critic).
MODE_ACTOR_CRITIC = 1

#: Tabular bonus kinds (``bonus_kind``): none, the notes' ``c H sqrt(L/n)``, UCBVI-CH
#: ``7 c H L sqrt(1/n)``, UCBVI's empirical-Bernstein part.
BONUS_NONE = 0
BONUS_COUNT = 1
BONUS_HOEFFDING = 2
BONUS_BERNSTEIN = 3


@njit(cache=True)
def _bonus(kind, scale, horizon, log_term, n, variance):  # pragma: no cover
    """The exploration bonus of a pair visited ``n >= 1`` times (kinds in the module)."""
    if kind == BONUS_COUNT:
        return scale * horizon * math.sqrt(log_term / n)
    if kind == BONUS_HOEFFDING:
        return scale * 7.0 * horizon * log_term * math.sqrt(1.0 / n)
    if kind == BONUS_BERNSTEIN:
        return scale * (
            math.sqrt(8.0 * log_term * variance / n) + 14.0 * horizon * log_term / (3.0 * n)
        )
    return 0.0


@njit(cache=True)
def _tabular_plan(
    counts, next_counts, reward_sums, bonus_kind, bonus_scale, log_term, q, v
):  # pragma: no cover
    """Optimistic value iteration on the empirical model (one seed): writes ``q`` ``(H, S, A)``
    and ``v`` ``(H + 1, S)``.

    ``Q_h(s, a) = min(H - h, r_hat + P_hat V_{h+1} + bonus)`` for visited pairs; an unvisited
    pair gets ``H - h`` when the bonus is on (``bonus_scale > 0``) and ``0`` when it is off.
    """
    H, S, A = counts.shape
    horizon = float(H)
    for s in range(S):
        v[H, s] = 0.0
    for h in range(H - 1, -1, -1):
        cap = float(H - h)
        for s in range(S):
            best = -np.inf
            for a in range(A):
                n = counts[h, s, a]
                if n == 0:
                    val = cap if bonus_scale > 0.0 else 0.0
                else:
                    mean = 0.0
                    second = 0.0
                    for s2 in range(S):
                        c = next_counts[h, s, a, s2]
                        if c > 0:
                            x = v[h + 1, s2]
                            mean += c * x
                            second += c * x * x
                    mean /= n
                    second /= n
                    variance = max(second - mean * mean, 0.0)
                    val = reward_sums[h, s, a] / n + mean
                    if bonus_scale > 0.0:
                        val += _bonus(bonus_kind, bonus_scale, horizon, log_term, n, variance)
                    if val > cap:
                        val = cap
                q[h, s, a] = val
                if val > best:
                    best = val
            v[h, s] = best


@njit(cache=True)
def _policy_value(indptr, indices, prob, rewards, rho, pi, v):  # pragma: no cover
    """Exact value of the ``(H, S, A)`` policy ``pi`` under the true model: fills ``v``
    ``(H + 1, S)`` and returns ``rho @ v[0]``."""
    H, S, A = pi.shape
    for s in range(S):
        v[H, s] = 0.0
    for h in range(H - 1, -1, -1):
        for s in range(S):
            total = 0.0
            for a in range(A):
                p = pi[h, s, a]
                if p > 0.0:
                    row = (h * S + s) * A + a
                    x = rewards[h, s, a]
                    for j in range(indptr[row], indptr[row + 1]):
                        x += prob[j] * v[h + 1, indices[j]]
                    total += p * x
            v[h, s] = total
    out = 0.0
    for s in range(S):
        out += rho[s] * v[0, s]
    return out


@njit(cache=True)
def _act_policy(mode, q, logits, pi):  # pragma: no cover
    """The played policy ``pi`` ``(H, S, A)``: greedy on ``q`` (lowest index on ties) in
    ``MODE_GREEDY``, ``softmax(logits)`` otherwise."""
    H, S, A = q.shape
    for h in range(H):
        for s in range(S):
            if mode == MODE_GREEDY:
                best = 0
                for a in range(1, A):
                    if q[h, s, a] > q[h, s, best]:
                        best = a
                for a in range(A):
                    pi[h, s, a] = 0.0
                pi[h, s, best] = 1.0
            else:
                m = logits[h, s, 0]
                for a in range(1, A):
                    m = max(m, logits[h, s, a])
                z = 0.0
                for a in range(A):
                    e = math.exp(logits[h, s, a] - m)
                    pi[h, s, a] = e
                    z += e
                for a in range(A):
                    pi[h, s, a] /= z


@njit(cache=True)
def _play(
    indptr, indices, cum, rewards, rho_cum, pi, u, counts, next_counts, reward_sums, visits
):  # pragma: no cover
    """One episode of ``pi`` driven by the uniforms ``u`` ``(2H + 1,)``: updates the counts;
    writes the visited ``(s_h, a_h)`` into ``visits`` ``(H, 2)``; returns 1 when a count reached
    a power of two (the tabular switch trigger), else 0."""
    H, S, A = pi.shape
    first = S - S
    s = _draw(rho_cum, first, S, u[0])
    doubled = 0
    for h in range(H):
        target = u[1 + 2 * h]
        a = A - 1
        c = 0.0
        for j in range(A):
            c += pi[h, s, j]
            if c > target:
                a = j
                break
        row = (h * S + s) * A + a
        s2 = indices[_draw(cum, indptr[row], indptr[row + 1], u[2 + 2 * h])]
        counts[h, s, a] += 1
        n = counts[h, s, a]
        if n & (n - 1) == 0:
            doubled = 1
        next_counts[h, s, a, s2] += 1
        reward_sums[h, s, a] += rewards[h, s, a]
        visits[h, 0] = s
        visits[h, 1] = a
        s = s2
    return doubled


@njit(cache=True)
def _episode(
    model, data, mode, eta, v_star_rho, q, logits, uniforms, b, e, pi, v, visits
):  # pragma: no cover
    """Episode ``e`` of seed ``b`` once its critic ``q[b]`` ``(H, S, A)`` is current: in
    actor-critic mode add ``eta * q[b]`` to ``logits[b]`` (Hedge); write the acting policy into
    ``pi``; play it with ``uniforms[b, e]`` (:func:`_play`).  ``model`` is ``(indptr, indices,
    cum, prob, rewards, rho, rho_cum)`` and ``data`` ``(counts, next_counts, reward_sums)``.
    Returns ``(v_star_rho - rho @ V^pi`` (exact), :func:`_play`'s power-of-two flag)``."""
    indptr, indices, cum, prob, rewards, rho, rho_cum = model
    counts, next_counts, reward_sums = data
    H, S, A = pi.shape
    if mode == MODE_ACTOR_CRITIC:
        for h in range(H):
            for s in range(S):
                for a in range(A):
                    logits[b, h, s, a] += eta * q[b, h, s, a]
    _act_policy(mode, q[b], logits[b], pi)
    regret = v_star_rho - _policy_value(indptr, indices, prob, rewards, rho, pi, v)
    doubled = _play(
        indptr,
        indices,
        cum,
        rewards,
        rho_cum,
        pi,
        uniforms[b, e],
        counts[b],
        next_counts[b],
        reward_sums[b],
        visits,
    )
    return regret, doubled


@njit(cache=True)
def _tabular_episodes(
    indptr,
    indices,
    cum,
    prob,
    rewards,
    rho,
    rho_cum,
    uniforms,
    mode,
    bonus_kind,
    bonus_scale,
    log_term,
    eta,
    v_star_rho,
    counts,
    next_counts,
    reward_sums,
    q,
    logits,
    status,
    regret_out,
    switches_out,
):  # pragma: no cover
    """Play ``E = uniforms.shape[1]`` episodes for each of the ``B`` seeds (tabular critic).

    Per episode: replan when ``mode`` is greedy, or when a switch is pending (then the actor's
    ``logits`` are reset to 0, i.e. uniform); in actor-critic mode add ``eta * q`` to the
    logits (Hedge); play the policy; ``regret_out[b, e] = v_star_rho - rho @ V^pi`` (exact);
    ``switches_out[b, e]`` the switches so far.
    """
    B, E = uniforms.shape[0], uniforms.shape[1]
    H, S, A = rewards.shape
    pi = np.empty((H, S, A))
    v = np.empty((H + 1, S))
    visits = np.empty((H, 2), np.int64)
    model = (indptr, indices, cum, prob, rewards, rho, rho_cum)
    data = (counts, next_counts, reward_sums)
    for b in range(B):
        for e in range(E):
            if mode == MODE_GREEDY or status[b, 1] == 1:
                _tabular_plan(
                    counts[b],
                    next_counts[b],
                    reward_sums[b],
                    bonus_kind,
                    bonus_scale,
                    log_term,
                    q[b],
                    v,
                )
                status[b, 0] += 1
                status[b, 1] = 0
                if mode == MODE_ACTOR_CRITIC:
                    logits[b] = 0.0
            regret, doubled = _episode(
                model, data, mode, eta, v_star_rho, q, logits, uniforms, b, e, pi, v, visits
            )
            regret_out[b, e] = regret
            if mode == MODE_ACTOR_CRITIC and doubled == 1:
                status[b, 1] = 1
            switches_out[b, e] = status[b, 0]


@njit(cache=True)
def _linear_plan(
    features, counts, next_counts, reward_sums, lam_inv, beta, q, v
):  # pragma: no cover
    """Ridge-regression value iteration with an elliptical bonus (one seed).

    ``w_h = lam_inv[h] @ sum phi(s, a) (r + V_{h+1}(s'))`` over the data (summed through the
    counts), ``Q_h = min(H - h, phi @ w_h + beta ||phi||_{lam_inv[h]})``, ``V_h = max_a Q_h``.
    """
    H, S, A = counts.shape
    d = features.shape[2]
    target = np.empty(d)
    w = np.empty(d)
    for s in range(S):
        v[H, s] = 0.0
    for h in range(H - 1, -1, -1):
        cap = float(H - h)
        for i in range(d):
            target[i] = 0.0
        for s in range(S):
            for a in range(A):
                n = counts[h, s, a]
                if n > 0:
                    y = reward_sums[h, s, a]
                    for s2 in range(S):
                        c = next_counts[h, s, a, s2]
                        if c > 0:
                            y += c * v[h + 1, s2]
                    for i in range(d):
                        target[i] += features[s, a, i] * y
        for i in range(d):
            acc = 0.0
            for j in range(d):
                acc += lam_inv[h, i, j] * target[j]
            w[i] = acc
        for s in range(S):
            best = -np.inf
            for a in range(A):
                val = 0.0
                for i in range(d):
                    val += features[s, a, i] * w[i]
                if beta > 0.0:
                    quad = 0.0
                    for i in range(d):
                        acc = 0.0
                        for j in range(d):
                            acc += lam_inv[h, i, j] * features[s, a, j]
                        quad += features[s, a, i] * acc
                    val += beta * math.sqrt(max(quad, 0.0))
                if val > cap:
                    val = cap
                q[h, s, a] = val
                if val > best:
                    best = val
            v[h, s] = best


@njit(cache=True)
def _gram_update(features, visits, lam_inv, logdet):  # pragma: no cover
    """Sherman-Morrison rank-one updates of ``lam_inv`` ``(H, d, d)`` for the episode's visits
    ``(H, 2)``, and the matrix-determinant-lemma update of ``logdet`` ``(H,)``."""
    H = visits.shape[0]
    d = features.shape[2]
    x = np.empty(d)
    for h in range(H):
        s = visits[h, 0]
        a = visits[h, 1]
        quad = 0.0
        for i in range(d):
            acc = 0.0
            for j in range(d):
                acc += lam_inv[h, i, j] * features[s, a, j]
            x[i] = acc
            quad += features[s, a, i] * acc
        denom = 1.0 + quad
        for i in range(d):
            for j in range(d):
                lam_inv[h, i, j] -= x[i] * x[j] / denom
        logdet[h] += math.log1p(quad)


@njit(cache=True)
def _linear_episodes(
    indptr,
    indices,
    cum,
    prob,
    rewards,
    rho,
    rho_cum,
    features,
    uniforms,
    mode,
    beta,
    eta,
    v_star_rho,
    counts,
    next_counts,
    reward_sums,
    lam_inv,
    logdet,
    logdet_ref,
    q,
    logits,
    status,
    regret_out,
    switches_out,
):  # pragma: no cover
    """:func:`_tabular_episodes` with the linear critic :func:`_linear_plan`; the actor-critic
    switches when some ``det Lambda_h`` has doubled since the last switch
    (``logdet[b, h] - logdet_ref[b, h] >= log 2``)."""
    B, E = uniforms.shape[0], uniforms.shape[1]
    H, S, A = rewards.shape
    pi = np.empty((H, S, A))
    v = np.empty((H + 1, S))
    visits = np.empty((H, 2), np.int64)
    model = (indptr, indices, cum, prob, rewards, rho, rho_cum)
    data = (counts, next_counts, reward_sums)
    log2 = math.log(2.0)
    for b in range(B):
        for e in range(E):
            if mode == MODE_GREEDY or status[b, 1] == 1:
                _linear_plan(
                    features, counts[b], next_counts[b], reward_sums[b], lam_inv[b], beta, q[b], v
                )
                status[b, 0] += 1
                status[b, 1] = 0
                if mode == MODE_ACTOR_CRITIC:
                    logits[b] = 0.0
                    for h in range(H):
                        logdet_ref[b, h] = logdet[b, h]
            regret, _ = _episode(
                model, data, mode, eta, v_star_rho, q, logits, uniforms, b, e, pi, v, visits
            )
            regret_out[b, e] = regret
            _gram_update(features, visits, lam_inv[b], logdet[b])
            if mode == MODE_ACTOR_CRITIC:
                for h in range(H):
                    if logdet[b, h] - logdet_ref[b, h] >= log2:
                        status[b, 1] = 1
            switches_out[b, e] = status[b, 0]


@njit(cache=True)
def _q_learning_sync(
    indptr, indices, cum, rewards, gamma, steps, uniforms, q, q_star, error_out
):  # pragma: no cover
    """Synchronous Q-learning, ``K = steps.shape[0]`` updates for each of ``B`` seeds.

    Update ``k`` draws one next state per pair (``uniforms[b, k, s*A + a]``) and sets
    ``q <- (1 - steps[k]) q + steps[k] (r + gamma max_a' q(s', a'))`` for every pair at once;
    ``error_out[b, k] = max |q - q_star|`` after it.  ``q`` ``(B, S, A)``, ``q_star`` and
    ``rewards`` ``(S, A)``; CSR rows ``s*A + a`` of the discounted model.
    """
    B, K = uniforms.shape[0], uniforms.shape[1]
    S, A = rewards.shape
    v = np.empty(S)
    for b in range(B):
        for k in range(K):
            for s in range(S):
                m = q[b, s, 0]
                for a in range(1, A):
                    m = max(m, q[b, s, a])
                v[s] = m
            alpha = steps[k]
            err = 0.0
            for s in range(S):
                for a in range(A):
                    row = s * A + a
                    s2 = indices[_draw(cum, indptr[row], indptr[row + 1], uniforms[b, k, row])]
                    x = (1.0 - alpha) * q[b, s, a] + alpha * (rewards[s, a] + gamma * v[s2])
                    q[b, s, a] = x
                    err = max(err, abs(x - q_star[s, a]))
            error_out[b, k] = err
