r"""Sampling from a tabular MDP: generative model, truncated rollouts, episodes, Q estimates.

The sampled variants of policy mirror descent and natural policy gradient draw their data here.
All functions are seeded (``seed``: int, :class:`numpy.random.SeedSequence`,
:class:`numpy.random.Generator` whose stream continues, or None): the same seed gives the same
numbers on every run.  The loops run in numba kernels (:mod:`theory_rl.kernels.rollouts`).

Rewards are deterministic: :class:`~theory_rl.mdps.tabular.TabularMDP` stores the expected
reward ``r[s, a]``, and a sampled step returns exactly that; the randomness is in the
transitions (and in the actions of stochastic policies).

Estimators of :math:`Q^\pi` ``(S, A)`` (:func:`estimate_q`), with ``n = n_rollouts``:

* ``method="rollout"`` -- truncated Monte-Carlo rollouts: from every pair ``(s, a)``, ``n``
  independent rollouts of ``H = horizon`` steps,
  :math:`G = \sum_{t=0}^{H-1}\gamma^t r(s_t, a_t)` with :math:`s_0 = s, a_0 = a`,
  :math:`a_t \sim \pi(\cdot|s_t)`; :math:`\hat Q(s,a)` is the mean of the ``n`` returns.  It is
  unbiased for the truncated value, so its bias is

  .. math:: |\mathbb E \hat Q(s,a) - Q^\pi(s,a)| = \Big|\mathbb E\sum_{t \ge H}\gamma^t
            r(s_t,a_t)\Big| \le \frac{\gamma^H \max|r|}{1-\gamma},

  and each return lies in an interval of width :math:`(1-\gamma^H)\,\mathrm{span}(r)/(1-\gamma)`
  (Hoeffding applies).  Samples used: ``S * A * n * (H - 1)`` transitions.  This is the
  estimator of Xiao (2022, §5.2) and Johnson et al. (2023, §5) (generative access to every
  pair; their analyses use a geometric random horizon or a truncation like this one).
* ``method="generative"`` -- model-based plug-in (Azar, Munos & Kappen 2013): draw ``n``
  next states of every pair from the generative model, form the empirical model
  :math:`\hat P(s'|s,a) = \#\{s'\}/n` and return the exact
  :math:`\hat Q = r + \gamma \hat P V^\pi_{\hat P}` of the empirical MDP (``horizon`` is
  ignored).  Biased for finite ``n`` (:math:`V` is non-linear in :math:`P`); the error is
  :math:`O(\sqrt{\log(SA/\delta)/n}/(1-\gamma)^{2})`.  Samples used: ``S * A * n``.

References:
    L. Xiao. On the convergence rates of policy gradient methods. JMLR 23, 2022.
    E. Johnson, C. Pike-Burke, P. Rebeschini. Optimal convergence rate for exact policy
    mirror descent in discounted Markov decision processes. NeurIPS 2023, arXiv:2302.11381.
    M. G. Azar, R. Munos, H. J. Kappen. Minimax PAC bounds on the sample complexity of
    reinforcement learning with a generative model. Machine Learning 91, 2013.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from theory_rl._checks import as_int
from theory_rl.backend import as_generator, to_numpy
from theory_rl.kernels import rollouts as _kr
from theory_rl.mdps.tabular import TabularMDP, _validated_rho, validate_policy

__all__ = [
    "estimate_q",
    "rollout_returns",
    "sample_next_states",
    "sample_trajectories",
]

Seed = int | np.random.SeedSequence | np.random.Generator | None


def _check_mdp(mdp: Any) -> TabularMDP:
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    return mdp


def _c(x: Any, dtype: Any) -> np.ndarray:
    """A fresh, writable, C-contiguous copy (kernels compile one signature: no read-only views)."""
    return np.array(x, dtype=dtype, order="C", copy=True)


def _model(mdp: TabularMDP) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, indices, cum, rewards_flat)``: CSR rows with per-row cumulative sums."""
    P = mdp.transition_matrix
    csr = sp.csr_array(P) if not sp.issparse(P) else P
    csr = sp.csr_array(csr)
    csr.sum_duplicates()
    indptr = _c(csr.indptr, np.int64)
    indices = _c(csr.indices, np.int64)
    data = np.asarray(csr.data, dtype=np.float64)
    lengths = np.diff(indptr)
    if lengths.size and np.all(lengths == lengths[0]) and lengths[0] > 0:
        cum = np.cumsum(data.reshape(lengths.size, lengths[0]), axis=1).ravel()  # exact per row
    else:  # ragged rows: one running sum, restarted at each row by subtracting its offset
        total = np.concatenate(([0.0], np.cumsum(data)))
        cum = total[1:] - np.repeat(total[indptr[:-1]], lengths)
    cum = _c(cum, np.float64)
    rewards = _c(mdp.rewards, np.float64).ravel()
    return indptr, indices, cum, rewards


def _policy_cum(mdp: TabularMDP, policy: Any) -> np.ndarray:
    pi = validate_policy(to_numpy(policy), mdp.n_states, mdp.n_actions)
    if pi.ndim != 2:
        raise ValueError(f"policy must be a single (S, A) policy or (S,) actions; got {pi.shape}")
    return _c(np.cumsum(pi, axis=1), np.float64).ravel()


def sample_next_states(mdp: TabularMDP, n_samples: int, *, seed: Seed = None) -> np.ndarray:
    r"""Generative model: ``n_samples`` independent next states of every pair.

    Args:
        mdp: the MDP (dense or sparse).
        n_samples: ``n >= 1`` draws per pair.
        seed: int, SeedSequence, Generator or None.

    Returns:
        ``(S, A, n)`` int64 array, ``out[s, a, i] ~ P(. | s, a)`` independently.

    Example:
        >>> from theory_rl.mdps.generators import chain
        >>> sample_next_states(chain(2), 3, seed=0)[0, 0]
        array([1, 1, 1])
    """
    mdp = _check_mdp(mdp)
    n = as_int("n_samples", n_samples)
    indptr, indices, cum, _ = _model(mdp)
    out = np.empty((mdp.n_states * mdp.n_actions, n), dtype=np.int64)
    _kr._next_states(as_generator(seed), indptr, indices, cum, np.int64(n), out)
    return out.reshape(mdp.n_states, mdp.n_actions, n)


def rollout_returns(
    mdp: TabularMDP, policy: Any, *, n_rollouts: int, horizon: int, seed: Seed = None
) -> np.ndarray:
    r"""Truncated discounted returns of ``n_rollouts`` rollouts from every pair.

    Rollout ``i`` from ``(s, a)``: :math:`\sum_{t=0}^{H-1}\gamma^t r(s_t, a_t)` with
    :math:`s_0 = s, a_0 = a` and :math:`a_t \sim \pi(\cdot | s_t)` for :math:`t \ge 1`.

    Args:
        mdp: the MDP.
        policy: ``(S, A)`` row-stochastic or ``(S,)`` integer actions.
        n_rollouts: ``n >= 1`` rollouts per pair.
        horizon: ``H >= 1`` rewards per rollout (``H - 1`` transitions).
        seed: int, SeedSequence, Generator or None.

    Returns:
        ``(S, A, n)`` float64 returns; their mean is :func:`estimate_q` with
        ``method="rollout"`` (same seed, same numbers).
    """
    mdp = _check_mdp(mdp)
    n = as_int("n_rollouts", n_rollouts)
    H = as_int("horizon", horizon)
    indptr, indices, cum, rewards = _model(mdp)
    pi_cum = _policy_cum(mdp, policy)
    out = np.empty((mdp.n_states * mdp.n_actions, n), dtype=np.float64)
    _kr._rollout_returns(
        as_generator(seed),
        indptr,
        indices,
        cum,
        rewards,
        pi_cum,
        np.int64(mdp.n_actions),
        float(mdp.gamma),
        np.int64(H),
        out,
    )
    return out.reshape(mdp.n_states, mdp.n_actions, n)


def _empirical_q(mdp: TabularMDP, policy: Any, next_states: np.ndarray) -> np.ndarray:
    """Exact Q of ``policy`` on the empirical model built from ``(S, A, n)`` next states."""
    S, A, n = next_states.shape
    rows = np.repeat(np.arange(S * A), n)
    counts = sp.csr_array(
        (np.full(rows.size, 1.0 / n), (rows, next_states.ravel())), shape=(S * A, S)
    )
    counts.sum_duplicates()
    pi = validate_policy(to_numpy(policy), S, A)
    W = sp.csr_array((pi.ravel(), np.arange(S * A), np.arange(0, S * A + 1, A)), (S, S * A))
    P_pi = (W @ counts).toarray()
    r_pi = (pi * mdp.rewards).sum(axis=1)
    v = np.linalg.solve(np.eye(S) - mdp.gamma * P_pi, r_pi)
    return mdp.rewards + mdp.gamma * (counts @ v).reshape(S, A)


def estimate_q(
    mdp: TabularMDP,
    policy: Any,
    *,
    n_rollouts: int,
    horizon: int | None = None,
    seed: Seed = None,
    method: str = "rollout",
) -> tuple[np.ndarray, int]:
    r"""Estimate :math:`Q^\pi` ``(S, A)`` from samples (see the module docstring).

    Args:
        mdp: the MDP.
        policy: ``(S, A)`` row-stochastic or ``(S,)`` integer actions.
        n_rollouts: ``n >= 1``: rollouts per pair (``"rollout"``) or next-state draws per pair
            (``"generative"``).
        horizon: ``H >= 1`` rewards per rollout; required for ``"rollout"``, ignored by
            ``"generative"``.  Truncation bias at most :math:`\gamma^H\max|r|/(1-\gamma)`.
        seed: int, SeedSequence, Generator or None.
        method: ``"rollout"`` (truncated Monte Carlo) or ``"generative"`` (model-based
            plug-in).

    Returns:
        ``(q_hat, n_samples_used)``: ``(S, A)`` estimate and the number of transitions drawn
        (``S*A*n*(H-1)`` for rollouts, ``S*A*n`` for the plug-in).

    Example:
        >>> from theory_rl.mdps.generators import chain
        >>> q, n = estimate_q(chain(2), [0, 0, 0, 0], n_rollouts=2, horizon=5, seed=0)
        >>> q.shape, n
        ((4, 4), 128)
    """
    mdp = _check_mdp(mdp)
    S, A = mdp.n_states, mdp.n_actions
    if method == "rollout":
        if horizon is None:
            raise ValueError('horizon must be given (an int >= 1) for method="rollout"')
        returns = rollout_returns(mdp, policy, n_rollouts=n_rollouts, horizon=horizon, seed=seed)
        return returns.mean(axis=-1), S * A * int(n_rollouts) * (int(horizon) - 1)
    if method == "generative":
        nxt = sample_next_states(mdp, n_rollouts, seed=seed)
        return _empirical_q(mdp, policy, nxt), S * A * int(n_rollouts)
    raise ValueError(f'method must be "rollout" or "generative", got {method!r}')


def sample_trajectories(
    mdp: TabularMDP,
    policy: Any,
    *,
    n_episodes: int,
    horizon: int,
    seed: Seed = None,
    initial_distribution: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``n_episodes`` on-policy episodes of ``horizon`` steps from ``s_0 ~ rho``.

    Args:
        mdp: the MDP.
        policy: ``(S, A)`` row-stochastic or ``(S,)`` integer actions.
        n_episodes: ``n >= 1``.
        horizon: ``H >= 1`` steps per episode.
        seed: int, SeedSequence, Generator or None.
        initial_distribution: ``(S,)`` law of ``s_0``; ``mdp.initial_distribution`` if omitted.

    Returns:
        ``(states (n, H+1) int64, actions (n, H) int64, rewards (n, H) float64)`` with
        ``rewards[i, t] = r[states[i, t], actions[i, t]]`` and
        ``states[i, t+1] ~ P(. | states[i, t], actions[i, t])``.
    """
    mdp = _check_mdp(mdp)
    n = as_int("n_episodes", n_episodes)
    H = as_int("horizon", horizon)
    rho = (
        mdp.initial_distribution
        if initial_distribution is None
        else _validated_rho(to_numpy(initial_distribution), mdp.n_states, "initial_distribution")
    )
    indptr, indices, cum, rewards = _model(mdp)
    pi_cum = _policy_cum(mdp, policy)
    rho_cum = _c(np.cumsum(rho), np.float64)
    states = np.empty((n, H + 1), dtype=np.int64)
    actions = np.empty((n, H), dtype=np.int64)
    rews = np.empty((n, H), dtype=np.float64)
    _kr._episodes(
        as_generator(seed),
        indptr,
        indices,
        cum,
        rewards,
        pi_cum,
        rho_cum,
        np.int64(mdp.n_actions),
        states,
        actions,
        rews,
    )
    return states, actions, rews
